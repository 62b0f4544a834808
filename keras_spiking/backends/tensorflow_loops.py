"""TensorFlow only: the whole-sequence functions as XLA-compiled time loops.

`keras_spiking.sequence` uses these in place of the blocked ``keras.ops`` forms on
the TensorFlow backend when TensorFlow sees no GPU (see
`keras_spiking.backends.time_loop_kernels`). Without XLA every TensorFlow
operation costs a few microseconds and a pass over memory, so the blocked forms
pay a fixed cost per step of a block; XLA compiles a loop over the steps into one
program that reads each input step once, keeps the state in cache and writes each
output step in place.

Each loop calls the cell's own step function (`keras_spiking.functional`) once per
step: on TensorFlow, ``keras.ops`` are TensorFlow ops, so XLA traces the very
function the cell calls, and the spikes equal the step loop's bit for bit at any
length. The loops read the
time axis where it is (first or second) and write the outputs in the same layout,
so a layer's batch-major input is never transposed. XLA compiles each loop once
per input shape.

Gradients: the spikes pass the gradient of the activation straight through; the
filters' gradients come from their adjoint recurrence, run backwards in time in a
second compiled loop.
"""

import functools

import keras
import tensorflow as tf
from keras import ops

from keras_spiking._activations import RateFunction
from keras_spiking.functional import _algebra
from keras_spiking.functional.filters import drive, linear_step
from keras_spiking.functional.spiking import spiking_step


def read_step(x, t, time_axis):
    """Step ``t`` of the sequence ``x``."""
    return x[t] if time_axis == 0 else x[:, t]


def write_step(steps, t, value, time_axis):
    """The sequence ``steps`` with step ``t`` replaced by ``value`` (in place,
    under XLA)."""
    # (the rank may be unknown while tracing for several shapes at once)
    after = tf.rank(steps) - time_axis - 1
    start = tf.concat(
        [tf.zeros([time_axis], "int32"), [t], tf.zeros([after], "int32")], 0
    )
    # Keras's slice_update is XLA's dynamic-update-slice on TensorFlow, written in
    # place: 1.3-3.5x faster here than a scatter (tf.tensor_scatter_nd_update)
    # into a batch-major sequence. (TensorFlow's public strided-slice update needs
    # a begin known when compiling, so it cannot write step t of a loop.)
    return ops.slice_update(steps, start, tf.expand_dims(value, time_axis))


def loop(step, carry, time):
    """Run ``carry = step(t, carry)`` for ``t = 0 .. time - 1``."""
    _, carry = tf.while_loop(
        lambda t, _: t < time,
        lambda t, carry: (t + 1, step(t, carry)),
        (0, carry),
        maximum_iterations=time,
    )
    return carry


def _unless_empty(inputs, time_axis, run, empty):
    """``run()``, or ``empty()`` when ``inputs`` has no steps.

    XLA cannot compile the loop's slice of an empty sequence, so the loop must not
    run then.
    """
    time = inputs.shape[time_axis]
    if time is not None:
        return run() if time > 0 else empty()
    return tf.cond(tf.shape(inputs)[time_axis] > 0, run, empty)


def _shaped_like(tensors, like):
    """``tensors`` with the static shapes of ``like`` (same structure), which a
    compiled function traced for several shapes (``reduce_retracing``) loses."""
    for tensor, model in zip(
        tf.nest.flatten(tensors), tf.nest.flatten(like), strict=True
    ):
        tensor.set_shape(model.shape)
    return tensors


def _unwatched(*tensors):
    """``tensors`` cut off from any gradient tape.

    A tape that sees a compiled function's inputs asks for a form of it that
    exposes its loop's intermediate values, which XLA cannot give; the gradients
    here are defined with ``tf.custom_gradient`` instead.
    """
    return tf.nest.map_structure(tf.stop_gradient, tensors)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _spiking_loop(inputs, voltage, dt, activation, time_axis):
    def step(t, carry):
        v, spikes = carry
        rates = activation(read_step(inputs, t, time_axis))
        spikes_t, v = spiking_step(v, rates, dt)
        return v, write_step(spikes, t, spikes_t, time_axis)

    return loop(step, (voltage, tf.zeros_like(inputs)), tf.shape(inputs)[time_axis])


def _in_loop(activation):
    """The function to run inside the compiled loop for ``activation``, or None
    if it must run before the loop.

    Keras's own activation functions (pure functions of their input, keeping its
    shape and dtype) and the identity run inside, also when a cell hands one over
    as its ``RateFunction`` (the function itself, then: the loop is traced for
    each different Python object it is given).
    """
    if isinstance(activation, RateFunction):
        activation = activation.activation
    if activation is tf.identity or any(activation is f for f in _keras_activations()):
        return activation
    return None


@functools.cache
def _keras_activations():
    names = set(dir(keras.activations)) - {"get", "serialize", "deserialize"}
    return tuple(
        getattr(keras.activations, name)
        for name in sorted(names)
        if not name.startswith("_") and callable(getattr(keras.activations, name))
    )


def spiking_sequence(inputs, voltage, dt, activation, time_axis):
    """`keras_spiking.sequence.spiking_sequence` as a compiled loop of
    `keras_spiking.functional.spiking_step`."""
    inside = _in_loop(activation)
    if inside is None:
        # Any other activation runs before the loop, where it may read variables
        # (a layer's weights, e.g. PReLU, or a keras.Variable it closes over: a
        # gradient tape must see them, and XLA's in-place update of the loop has
        # no gradient) or draw random numbers (a seed generator's state cannot
        # live in the compiled loop).
        rates = _algebra.per_step(activation, inputs)
        spikes, voltage = spiking_sequence(
            tf.stop_gradient(rates), voltage, dt, tf.identity, time_axis
        )
        return _algebra.straight_through(spikes, rates), voltage
    activation = inside

    @tf.custom_gradient
    def spikes_of(inputs):
        voltage_out, spikes = _unless_empty(
            inputs,
            time_axis,
            lambda: _spiking_loop(
                *_unwatched(inputs, voltage, dt), activation, time_axis
            ),
            lambda: (voltage, tf.zeros_like(inputs)),
        )

        def straight_through(d_spikes, _):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                rates = _algebra.per_step(activation, inputs)
            return tape.gradient(rates, inputs, output_gradients=d_spikes)

        outputs = _shaped_like((spikes, voltage_out), (inputs, voltage))
        return outputs, straight_through

    return spikes_of(inputs)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _linear_loop(inputs, states, a, b, time_axis):
    def step(t, carry):
        states, outputs = carry
        states = linear_step(a, states, drive(b, read_step(inputs, t, time_axis)))
        return states, write_step(outputs, t, states[-1], time_axis)

    carry = (states, tf.zeros_like(inputs))
    states, outputs = loop(step, carry, tf.shape(inputs)[time_axis])
    return outputs, states


def _sum_to(gradient, coefficient):
    """Sum ``gradient`` (shaped like the states) over the axes along which
    ``coefficient`` (of the same rank) broadcasts."""
    axes = [i for i, size in enumerate(coefficient.shape) if size == 1]
    return tf.reduce_sum(gradient, axis=axes, keepdims=True)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _linear_adjoint(inputs, states, a, b, d_outputs, d_states, time_axis):
    """The gradients of `_linear_loop` for the upstream gradients ``d_outputs`` (of
    the outputs) and ``d_states`` (of the final states); those of ``a`` and ``b``
    before summing over the axes along which they broadcast."""
    time = tf.shape(inputs)[time_axis]
    n = len(states)

    # The states entering each step, from the step loop once more.
    def forward(t, carry):
        states, entering = carry
        x = read_step(inputs, t, time_axis)
        entering = tuple(
            write_step(e, t, s, time_axis)
            for e, s in zip(entering, states, strict=True)
        )
        return linear_step(a, states, drive(b, x)), entering

    entering = tuple(tf.zeros_like(inputs) for _ in states)
    _, entering = loop(forward, (states, entering), time)

    # Backwards in time: ``adjoint`` is the gradient of the states after step t,
    # ``A.T @ adjoint`` the gradient of those before it.
    def backward(k, carry):
        after, d_xs, d_a, d_b = carry
        t = time - 1 - k
        d_y = read_step(d_outputs, t, time_axis)
        adjoint = (*after[:-1], after[-1] + d_y)
        d_xs = write_step(d_xs, t, _algebra.dot(b, adjoint), time_axis)
        before = tuple(read_step(e, t, time_axis) for e in entering)
        d_a = tuple(
            tuple(d + adjoint[i] * before[j] for j, d in enumerate(row))
            for i, row in enumerate(d_a)
        )
        x = read_step(inputs, t, time_axis)
        d_b = tuple(d + adj * x for d, adj in zip(d_b, adjoint, strict=True))
        after = tuple(
            _algebra.dot([a[i][j] for i in range(n)], adjoint) for j in range(n)
        )
        return after, d_xs, d_a, d_b

    zeros = tf.zeros_like(states[0])
    d_a = tuple(tuple(zeros for _ in range(n)) for _ in range(n))
    d_b = tuple(zeros for _ in range(n))
    carry = (d_states, tf.zeros_like(inputs), d_a, d_b)
    d_initial, d_xs, d_a, d_b = loop(backward, carry, time)
    return d_xs, d_initial, d_a, d_b


def linear_sequence(inputs, states, a, b, time_axis):
    """A linear filter over a whole sequence as a compiled loop of
    `keras_spiking.functional.linear_step`.

    ``a`` and ``b`` must have the rank of the states.
    """
    n = len(states)

    def unpack(flat):
        states = tuple(flat[:n])
        a = _algebra.unflatten(flat[n : n + n * n], n)
        return states, a, tuple(flat[n + n * n :])

    @tf.custom_gradient
    def run(inputs, *flat):
        states, a, b = unpack(flat)
        outputs, final = _unless_empty(
            inputs,
            time_axis,
            lambda: _linear_loop(*_unwatched(inputs, states, a, b), time_axis),
            lambda: (tf.zeros_like(inputs), states),
        )

        def gradient(d_outputs, *d_final):
            d_final = tuple(
                tf.zeros_like(s) if d is None else d
                for s, d in zip(states, d_final, strict=True)
            )
            if d_outputs is None:
                d_outputs = tf.zeros_like(outputs)
            d_inputs, d_states, d_a, d_b = _unless_empty(
                inputs,
                time_axis,
                lambda: _linear_adjoint(
                    *_unwatched(inputs, states, a, b, d_outputs, d_final), time_axis
                ),
                lambda: (
                    tf.zeros_like(inputs),
                    d_final,
                    *tf.nest.map_structure(tf.zeros_like, (a, b)),
                ),
            )
            d_coefficients = [
                _sum_to(d, c)
                for d, c in zip(
                    _algebra.flatten(d_a) + d_b,
                    _algebra.flatten(a) + b,
                    strict=True,
                )
            ]
            d_inputs, d_states = _shaped_like((d_inputs, d_states), (inputs, states))
            return (d_inputs, *d_states, *d_coefficients)

        return _shaped_like((outputs, *final), (inputs, *states)), gradient

    outputs, *final = run(inputs, *states, *_algebra.flatten(a), *b)
    return outputs, final
