"""Whole-sequence forms of the cells' maths, and the one place that chooses how a
sequence is computed.

The cells in `keras_spiking.layers` compute one time step per call; the functions
here compute a whole sequence in one call, with the same numbers. They run on
every backend, in eager mode and in compiled graphs (``tf.function``,
``jax.jit``), also with an unknown number of steps. Sequences are ``(time, batch,
*size)`` (or ``(batch, time, *size)`` with ``time_axis=1``), states ``(batch,
*size)``. The computation is in the inputs' float dtype: float32 in the layers
(also under mixed precision), float64 under a float64 policy.

A sequence is computed in one of three ways, all from the step functions of
`keras_spiking.functional`:

- the *step loop*: a layer runs its cell one step at a time in a
  ``keras.layers.RNN`` (the reference definition);
- a *kernel*: a backend's compiled loop over the steps, calling the step
  function once per step (`time_loop_kernels`; on TensorFlow without a GPU);
- the *blocked form*: the sequence is cut into blocks, whose steps are computed
  for all blocks at once, and the state entering each block follows from the
  blocks before it (``keras.ops`` only, on every backend).

`layer_path` decides between the step loop and the whole-sequence functions for a
layer, and the functions here between a kernel and the blocked form.
"""

import contextlib

import keras
from keras import ops

from keras_spiking import _arguments, backends
from keras_spiking.functional import _algebra
from keras_spiking.functional._algebra import per_step, straight_through
from keras_spiking.functional.filters import FILTER_BLOCK, linear_blocks
from keras_spiking.functional.spiking import BLOCK, spiking_blocks

__all__ = [
    "BLOCK",
    "FILTER_BLOCK",
    "SEQUENCE_MAX_STEP_SIZE",
    "alpha_sequence",
    "layer_path",
    "linear_sequence",
    "lowpass_sequence",
    "neuron_sequence",
    "per_step",
    "spiking_sequence",
    "straight_through",
    "straight_through_of",
    "time_loop_kernels",
    "use_kernels",
]

SEQUENCE_MAX_STEP_SIZE = 2048
"""int: With ``step_loop=None``, layers on backends without kernels compute the
whole sequence at once when a step has at most this many elements (batch
included): measured on CPUs, the whole sequence is 6-100x faster than a step loop
at 128 elements per step (a step loop's fixed cost per step dominates), and up to
3x slower at 8,192 or more (see ``benchmarks/README.md``)."""

_kernels_enabled = True


@contextlib.contextmanager
def use_kernels(enabled):
    """Allow or forbid the backends' compiled kernels within a ``with`` block.

    With ``use_kernels(False)``, every whole-sequence function (and so every layer
    that computes a whole sequence at once) takes the blocked form, on every
    backend: this is how tests and benchmarks compare the two. It applies to
    functions traced or run inside the block.

    Parameters
    ----------
    enabled : bool
        Whether kernels may be used.

    Examples
    --------
    >>> import numpy as np
    >>> from keras_spiking import sequence
    >>> with sequence.use_kernels(False):
    ...     print(sequence.time_loop_kernels())
    None
    """
    global _kernels_enabled
    previous, _kernels_enabled = _kernels_enabled, bool(enabled)
    try:
        yield
    finally:
        _kernels_enabled = previous


def time_loop_kernels():
    """The backend's compiled time loops, if it has faster ones than the blocks.

    On TensorFlow, when it sees no GPU, the XLA-compiled loops of
    `keras_spiking.backends.tensorflow_loops` (measured 3-17x the numpy floor
    where the blocks take 10-60x, see ``benchmarks/README.md``). Elsewhere None,
    and the functions here use their blocked ``keras.ops`` forms: on a GPU a loop
    pays a kernel launch per step; on JAX running on a CPU, the same loops measured
    no faster than the layers' step loop, which JAX compiles alike. Also None
    inside ``use_kernels(False)``.

    Returns
    -------
    module or None
        A module with ``spiking_sequence`` and ``linear_sequence``.
    """
    return backends.time_loop_kernels() if _kernels_enabled else None


def layer_path(step_loop, step_elements, unroll=False, masked=False, blocked=True):
    """Whether a layer runs its cell in a step loop or on the whole sequence.

    Parameters
    ----------
    step_loop : bool or None
        The layer's option: True for the step loop, False for the whole sequence,
        None for whichever is faster (the whole sequence while ``torch.compile``
        traces the layer: see `spiking_sequence`).
    step_elements : int or None
        Elements of one step, batch included (None if the batch is unknown).
    unroll : bool
        Whether the layer unrolls its loop (only the step loop can).
    masked : bool
        Whether the input is masked (only the step loop holds masked steps).
    blocked : bool
        Whether the cell has a blocked whole-sequence form. Neurons with a reset
        (`.LIF`) have none: their whole sequence is `neuron_sequence` (a backend's
        compiled loop, or ``keras.ops.scan``), or the step loop where the backend's
        step loop is the faster.

    Returns
    -------
    bool
        True for the step loop, False for the whole-sequence functions (which then
        choose a kernel or the blocked form).
    """
    if unroll or masked:
        return True
    if step_loop is not None:
        return bool(step_loop)
    if backends.under_python_compiler():
        # (torch.compile would unroll the step loop over time; the whole-sequence
        # functions run as they are, see `spiking_sequence`)
        return False
    if time_loop_kernels() is not None:
        return False
    if not blocked:
        # `neuron_sequence`'s ops.scan, or the step loop if that is the faster
        # (PyTorch: the scan, 1.2-3.6x faster for LIF; JAX on a CPU: about even,
        # the step loop faster in training; see benchmarks/README.md)
        return backends.step_loop_is_faster()
    if backends.step_loop_is_faster():
        return True
    return (step_elements or 1) > SEQUENCE_MAX_STEP_SIZE


def spiking_sequence(inputs, voltage, dt, activation=None, time_axis=0):
    """Spikes of a whole sequence, as `.SpikingActivationCell` emits them.

    With rates ``r_t = activation(x_t)``, each step is
    `keras_spiking.functional.spiking_step`: ``v = v + r_t * dt; n_t = floor(v);
    v = v - n_t``, in the dtype of ``inputs`` (float32 in the layers).

    Parameters
    ----------
    inputs : tensor
        The input sequence ``x_t``, shape ``(time, batch, *size)`` (or ``(batch,
        time, *size)`` with ``time_axis=1``).
    voltage : tensor
        The initial voltage, shape ``(batch, *size)``, values in ``[0, 1)``.
    dt : float or tensor
        The time step (a scalar; may be read from a variable).
    activation : callable, optional
        The function giving the rates from one step, ``(batch, *size)``, as in the
        cell (default: the identity); see `per_step`.
    time_axis : {0, 1}
        The time axis of ``inputs`` and of the returned spikes.

    Returns
    -------
    spikes : tensor
        ``n_t / dt`` for each step, shaped like ``inputs``. Its gradient is that of
        ``activation(inputs)`` (straight-through).
    voltage : tensor
        The voltage after the last step (``voltage`` itself when there are no
        steps). No gradient flows into the voltage or ``dt``.

    Notes
    -----
    On TensorFlow without a GPU the steps run one after another in a compiled
    loop (see `time_loop_kernels`), and the spikes are the step loop's bit for bit.

    Elsewhere the sequence is cut into blocks of ``BLOCK`` steps. Within a block
    the steps are exactly the cell's float32 steps. The voltage entering each
    later block is computed from exact block totals (a part on a grid that float32
    adds without rounding, plus a small remainder), so it is closer to the exact
    value than the step loop's own voltage, which gathers rounding errors step
    after step. Sequences of up to ``BLOCK`` steps give the step loop's spikes bit
    for bit; on longer ones a spike can move by one step where the step loop's
    voltage is within its own rounding error of a whole number. Where a block's own
    steps and the exact sums end on either side of a whole number, the spike they
    disagree on is carried to the first later step that can take it, so that none
    is lost or emitted twice: each neuron's spike total is the whole part of the
    exact sum of its voltage and increments. A NaN rate makes its neuron's spikes
    NaN from its step on, and leaves the earlier steps as they were.

    On PyTorch, ``torch.compile`` (a model compiled with ``jit_compile=True``) does
    not trace this function: it runs as it is, between the compiled parts of the
    model. Traced, the loops of the blocked form would unroll into a graph that
    takes minutes to compile.

    Examples
    --------
    >>> import numpy as np
    >>> inputs = np.full((6, 1, 1), 2.0, dtype="float32")
    >>> voltage = np.zeros((1, 1), dtype="float32")
    >>> from keras_spiking.sequence import spiking_sequence
    >>> spikes, voltage = spiking_sequence(inputs, voltage, 0.25)
    >>> keras.ops.convert_to_numpy(spikes).ravel().tolist()
    [0.0, 4.0, 0.0, 4.0, 0.0, 4.0]
    """
    _arguments.check_sequence("spiking_sequence", inputs, [voltage], time_axis)
    _arguments.check_scalar(dt, "dt", "spiking_sequence")
    return backends.outside_python_compiler(_spiking_sequence)(
        inputs, voltage, dt, activation, time_axis
    )


def _spiking_sequence(inputs, voltage, dt, activation, time_axis):
    inputs = ops.convert_to_tensor(inputs)
    voltage = ops.convert_to_tensor(voltage, dtype=inputs.dtype)
    dt = ops.cast(dt, inputs.dtype)
    activation = activation or keras.activations.linear
    kernels = time_loop_kernels()
    if kernels is not None:
        return kernels.spiking_sequence(inputs, voltage, dt, activation, time_axis)
    rates = per_step(activation, inputs)
    spikes, voltage = spiking_blocks(
        _algebra.swap_time(ops.stop_gradient(rates), time_axis),
        ops.stop_gradient(voltage),
        dt,
        scan=backends.scans_blocks(),
    )
    return straight_through(_algebra.swap_time(spikes, time_axis), rates), voltage


def _coefficient(value, state):
    """``value`` as a tensor of the state's dtype and rank, for broadcasting."""
    value = ops.cast(value, state.dtype)
    missing = len(state.shape) - len(value.shape)
    return ops.reshape(value, (1,) * missing + tuple(ops.shape(value)))


def linear_sequence(inputs, states, a, b, time_axis=0):
    """A linear filter over a whole sequence: `keras_spiking.functional.linear_step`
    at every step, ``s = A @ s + b * x_t``, with output the last state.

    Parameters
    ----------
    inputs : tensor
        The input ``x_t``, shape ``(time, batch, *size)`` (or ``(batch, time,
        *size)`` with ``time_axis=1``).
    states : tuple of tensor
        The ``n`` initial states, each of shape ``(batch, *size)``.
    a : tuple of tuple of tensor
        The ``n x n`` matrix ``A``, each entry broadcastable to ``(batch,
        *size)``.
    b : tuple of tensor
        The ``n`` entries of ``b``, each broadcastable to ``(batch, *size)``.
    time_axis : {0, 1}
        The time axis of ``inputs`` and of the returned outputs.

    Returns
    -------
    outputs : tensor
        The last state after every step, shaped like ``inputs``.
    states : list of tensor
        The states after the last step (``states`` when there are no steps).

    Notes
    -----
    Differentiable with respect to ``inputs``, ``states`` and the coefficients. On
    PyTorch, ``torch.compile`` does not trace this function (see
    `spiking_sequence`).
    """
    step = _arguments.check_sequence("linear_sequence", inputs, states, time_axis)
    _arguments.check_coefficients(a, b, len(states), step, "linear_sequence")
    return backends.outside_python_compiler(_linear_sequence)(
        inputs, states, a, b, time_axis
    )


def _linear_sequence(inputs, states, a, b, time_axis):
    inputs = ops.convert_to_tensor(inputs)
    states = tuple(ops.convert_to_tensor(s, dtype=inputs.dtype) for s in states)
    a = tuple(tuple(_coefficient(c, states[0]) for c in row) for row in a)
    b = tuple(_coefficient(c, states[0]) for c in b)
    kernels = time_loop_kernels()
    if kernels is not None:
        return kernels.linear_sequence(inputs, states, a, b, time_axis)
    outputs, final = linear_blocks(
        _algebra.swap_time(inputs, time_axis),
        states,
        a,
        b,
        scan=backends.scans_blocks(),
    )
    return _algebra.swap_time(outputs, time_axis), final


def lowpass_sequence(inputs, state, decay, time_axis=0):
    """A lowpass filter over a whole sequence, as `.LowpassCell` computes it.

    Each step is ``y_t = (1 - decay) * x_t + decay * y_{t-1}``.

    Parameters
    ----------
    inputs : tensor
        The input ``x_t``, shape ``(time, batch, *size)`` (or ``(batch, time,
        *size)`` with ``time_axis=1``).
    state : tensor
        The initial ``y``, shape ``(batch, *size)``.
    decay : tensor
        ``exp(-dt / tau)``, broadcastable to ``(batch, *size)``, in ``(0, 1)``.
    time_axis : {0, 1}
        The time axis of ``inputs`` and of the returned outputs.

    Returns
    -------
    outputs : tensor
        ``y_t`` for each step, shaped like ``inputs``.
    state : tensor
        ``y`` after the last step (``state`` itself when there are no steps).

    Notes
    -----
    Differentiable with respect to ``inputs``, ``state`` and ``decay``.

    Examples
    --------
    >>> import numpy as np
    >>> inputs = np.ones((3, 1, 1), dtype="float32")
    >>> from keras_spiking.sequence import lowpass_sequence
    >>> outputs, state = lowpass_sequence(inputs, np.zeros((1, 1), "float32"), 0.5)
    >>> keras.ops.convert_to_numpy(outputs).ravel().tolist()
    [0.5, 0.75, 0.875]
    """
    step = _arguments.check_sequence("lowpass_sequence", inputs, [state], time_axis)
    _arguments.check_coefficients(((decay,),), (decay,), 1, step, "lowpass_sequence")
    decay = ops.convert_to_tensor(decay, dtype=ops.convert_to_tensor(inputs).dtype)
    outputs, (state,) = linear_sequence(
        inputs, (state,), ((decay,),), (1 - decay,), time_axis
    )
    return outputs, state


def alpha_sequence(inputs, states, ad, bd, time_axis=0):
    """An alpha filter over a whole sequence, as `.AlphaCell` computes it.

    Each step is ``(z, y) = Ad @ (z, y) + Bd * x_t``, with output ``y``.

    Parameters
    ----------
    inputs : tensor
        The input ``x_t``, shape ``(time, batch, *size)`` (or ``(batch, time,
        *size)`` with ``time_axis=1``).
    states : list of tensor
        The initial ``[z, y]``, each of shape ``(batch, *size)``.
    ad : tuple of tuple of tensor
        ``((a11, a12), (a21, a22))``, each broadcastable to ``(batch, *size)``.
    bd : tuple of tensor
        ``(b1, b2)``, each broadcastable to ``(batch, *size)``.
    time_axis : {0, 1}
        The time axis of ``inputs`` and of the returned outputs.

    Returns
    -------
    outputs : tensor
        ``y_t`` for each step, shaped like ``inputs``.
    states : list of tensor
        ``[z, y]`` after the last step.

    Notes
    -----
    Differentiable with respect to ``inputs``, ``states`` and the coefficients.
    """
    step = _arguments.check_sequence("alpha_sequence", inputs, states, time_axis, 2)
    _arguments.check_coefficients(ad, bd, 2, step, "alpha_sequence")
    return linear_sequence(inputs, tuple(states), ad, bd, time_axis)


def neuron_sequence(step, options, inputs, state, params, time_axis=0):
    """Neurons with a reset (`.LIF`) over a whole sequence: ``step`` at every step.

    There is no blocked form (the reset is not linear), so the steps run one after
    another: in a compiled loop on TensorFlow without a GPU
    (`keras_spiking.backends.tensorflow_neurons`, also inside
    ``use_kernels(True)`` only), else in ``keras.ops.scan``.

    Parameters
    ----------
    step : callable
        ``step(options, x, state, params) -> (counts, state)``, e.g.
        `keras_spiking.functional.lif_step`.
    options : hashable
        Passed to ``step`` (e.g. a `keras_spiking.functional.LIFOptions`).
    inputs : tensor
        ``(time, batch, *size)`` (or ``(batch, time, *size)`` with
        ``time_axis=1``).
    state : dict of tensor
        The states before the first step, each ``(batch, *size)``.
    params : dict of tensor
        Passed to ``step``.
    time_axis : {0, 1}
        The time axis of ``inputs`` and of the returned counts.

    Returns
    -------
    counts : tensor
        The first output of ``step`` at every step, shaped like ``inputs``.
    state : dict of tensor
        The states after the last step.

    Notes
    -----
    Gradients are those of the step, back-propagated through time (on
    TensorFlow's compiled loop, by a second compiled loop that runs backwards).
    """
    inputs = ops.convert_to_tensor(inputs)
    kernels = backends.neuron_kernels() if _kernels_enabled else None
    if kernels is not None:
        return kernels.neuron_sequence(step, options, inputs, state, params, time_axis)
    if inputs.shape[time_axis] == 0:
        return inputs, state

    inputs = _algebra.swap_time(inputs, time_axis)

    def one_step(carry, x):
        counts, state = step(options, x, carry[0], params)
        # (the output has the carry's structure: TensorFlow's scan requires it;
        # the states of every step that it also returns are not used)
        return (state, counts), (state, counts)

    (final, _), (_, counts) = ops.scan(
        one_step, (state, ops.zeros_like(inputs[0])), inputs
    )
    return _algebra.swap_time(counts, time_axis), final


def straight_through_of(spikes, rate, *arguments):
    """``spikes`` forward, the gradient of ``rate(*arguments)`` backward.

    The value of `straight_through` with ``rates = rate(*arguments)``; on
    TensorFlow without a GPU (and within ``use_kernels(True)``), the rates are
    computed only when a gradient is asked for, so that inference does not pay
    for them. ``rate`` must depend on nothing but its arguments (tensors).

    Parameters
    ----------
    spikes : tensor
        The forward value.
    rate : callable
        The function whose gradient passes through.
    arguments : tensor
        Its arguments.

    Returns
    -------
    tensor
    """
    kernels = backends.neuron_kernels() if _kernels_enabled else None
    if kernels is not None:
        return kernels.straight_through(spikes, rate, arguments)
    return straight_through(spikes, rate(*arguments))
