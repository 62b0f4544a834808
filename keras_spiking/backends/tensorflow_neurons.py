"""TensorFlow only: neurons with a reset (`.LIF`) as XLA-compiled time loops.

`keras_spiking.sequence.neuron_sequence` uses this on TensorFlow when TensorFlow
sees no GPU (see `keras_spiking.backends.neuron_kernels`). A neuron's reset is not
linear, so its steps have no blocked form; without XLA each TensorFlow operation
of a step costs a few microseconds. The loop here calls the neuron's own step
function (e.g. `keras_spiking.functional.lif_step`) once per step, traced by XLA
into one program, so the spikes are the step loop's.

Gradients: TensorFlow cannot differentiate through an XLA-compiled loop, so the
gradient is back-propagation through time in a second compiled loop, which runs
backwards over the states entering each step (computed again by the forward
loop, only when a gradient is asked for), and takes the gradient of one step at
a time (the same step function, differentiated by TensorFlow inside the loop).
A neuron trained with its rate's gradient has no gradient through its steps;
``straight_through`` gives it the rate's, computing the rates only for the
gradient.

The loop and the reads and writes of one step are those of
`keras_spiking.backends.tensorflow_loops`.
"""

import dataclasses

import tensorflow as tf

from keras_spiking.backends.tensorflow_loops import loop, read_step, write_step


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _forward(step, options, inputs, state, params, time_axis, keep):
    """The counts and final states; with ``keep``, also the states entering each
    step (each shaped like ``inputs``)."""
    names = sorted(state)

    def body(t, carry):
        state, counts, kept = carry
        if keep:
            kept = {k: write_step(kept[k], t, state[k], time_axis) for k in names}
        n, state = step(options, read_step(inputs, t, time_axis), state, params)
        return state, write_step(counts, t, n, time_axis), kept

    kept = {k: tf.zeros_like(inputs) for k in names} if keep else {}
    carry = (state, tf.zeros_like(inputs), kept)
    return loop(body, carry, tf.shape(inputs)[time_axis])


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _backward(step, options, inputs, kept, params, d_counts, d_final, time_axis):
    """Back-propagation through time: the gradients of the inputs, of the initial
    states and of the params, given those of the counts (``d_counts``) and of
    the final states (``d_final``)."""
    names, keys = sorted(kept), sorted(params)
    time = tf.shape(inputs)[time_axis]

    def body(k, carry):
        d_state, d_inputs, d_params = carry
        t = time - 1 - k
        x = read_step(inputs, t, time_axis)
        before = {name: read_step(kept[name], t, time_axis) for name in names}
        with tf.GradientTape() as tape:
            tape.watch([x, before, params])
            n, after = step(options, x, before, params)
        grads = tape.gradient(
            [n] + [after[name] for name in names],
            [x] + [before[name] for name in names] + [params[key] for key in keys],
            output_gradients=[read_step(d_counts, t, time_axis)]
            + [d_state[name] for name in names],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        d_x, grads = grads[0], grads[1:]
        d_state = dict(zip(names, grads[: len(names)], strict=True))
        d_params = {
            key: d_params[key] + g
            for key, g in zip(keys, grads[len(names) :], strict=True)
        }
        return d_state, write_step(d_inputs, t, d_x, time_axis), d_params

    carry = (
        d_final,
        tf.zeros_like(inputs),
        {key: tf.zeros_like(params[key]) for key in keys},
    )
    return loop(body, carry, time)


def _shaped_like(tensors, like):
    """``tensors`` with the static shapes of ``like`` (a function traced for
    several shapes loses them)."""
    for tensor, model in zip(
        tf.nest.flatten(tensors), tf.nest.flatten(like), strict=True
    ):
        tensor.set_shape(model.shape)
    return tensors


def neuron_sequence(step, options, inputs, state, params, time_axis):
    """`keras_spiking.sequence.neuron_sequence` as a compiled loop of ``step``,
    with a compiled backward loop for its gradient.

    ``options`` is a dataclass whose ``surrogate`` field is None for a step
    without a gradient (`keras_spiking.functional.LIFOptions`).
    """
    names, keys = sorted(state), sorted(params)
    dtype = inputs.dtype
    state = {k: tf.convert_to_tensor(state[k], dtype) for k in names}
    params = {k: tf.convert_to_tensor(params[k], dtype) for k in keys}
    empty = inputs.shape[time_axis] == 0
    if empty:
        return tf.zeros_like(inputs), state
    if getattr(options, "surrogate", None) is None:
        # no gradient through the steps
        final, counts, _ = _forward(
            step,
            options,
            *tf.nest.map_structure(tf.stop_gradient, (inputs, state, params)),
            time_axis,
            False,
        )
        return _shaped_like((counts, final), (inputs, state))

    @tf.custom_gradient
    def run(inputs, *flat):
        state = dict(zip(names, flat[: len(names)], strict=True))
        params = dict(zip(keys, flat[len(names) :], strict=True))
        unwatched = tf.nest.map_structure(tf.stop_gradient, (inputs, state, params))
        # forward, the surrogate's value is the spike's: leave out its gradient
        plain = dataclasses.replace(options, surrogate=None)
        final, counts, _ = _forward(step, plain, *unwatched, time_axis, False)

        def gradient(d_counts, *d_final):
            # the states entering each step, computed again (a forward pass
            # costs less than keeping them in every call, gradient or not)
            _, _, kept = _forward(step, options, *unwatched, time_axis, True)
            d_final = {
                name: tf.zeros_like(state[name]) if d is None else d
                for name, d in zip(names, d_final, strict=True)
            }
            if d_counts is None:
                d_counts = tf.zeros_like(inputs)
            d_state, d_inputs, d_params = _backward(
                step,
                options,
                unwatched[0],
                kept,
                unwatched[2],
                d_counts,
                d_final,
                time_axis,
            )
            d_inputs, d_state = _shaped_like((d_inputs, d_state), (inputs, state))
            return (
                d_inputs,
                *(d_state[name] for name in names),
                *(d_params[key] for key in keys),
            )

        counts, final = _shaped_like((counts, final), (inputs, state))
        return (counts, *(final[name] for name in names)), gradient

    counts, *final = run(inputs, *(state[k] for k in names), *(params[k] for k in keys))
    return counts, dict(zip(names, final, strict=True))


def straight_through(spikes, rate, arguments):
    """``spikes`` forward, the gradient of ``rate(*arguments)`` backward, the
    rates computed only for the gradient
    (`keras_spiking.sequence.straight_through_of`)."""

    @tf.custom_gradient
    def attach(*arguments):
        def gradient(d_spikes):
            with tf.GradientTape() as tape:
                tape.watch(arguments)
                rates = rate(*arguments)
            grads = tape.gradient(
                rates,
                list(arguments),
                output_gradients=d_spikes,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            return tuple(grads)

        return tf.identity(tf.stop_gradient(spikes)), gradient

    return attach(*(tf.convert_to_tensor(a) for a in arguments))
