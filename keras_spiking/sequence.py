"""Whole-sequence forms of the cells' maths.

The cells in `keras_spiking.layers` compute one time step per call; the functions
here compute a whole sequence in one call, with the same numbers. They are written
with ``keras.ops``, so they run on every backend, in eager mode and in compiled
graphs (``tf.function``, ``jax.jit``), also with an unknown number of steps.
Sequences are ``(time, batch, *size)`` (or ``(batch, time, *size)`` with
``time_axis=1``), states ``(batch, *size)``. The computation is in the inputs'
float dtype: float32 in the layers (also under mixed precision), float64 under a
float64 policy.

All three functions share one structure. The sequence is cut into blocks of
``BLOCK`` steps (``FILTER_BLOCK`` for the filters), the last one padded with zero
input. Within a block the steps are computed one after another, as the cell
computes them, but for all blocks at once; the state entering each block follows
from the blocks before it, in a short pass over the blocks. A sequence of up to
``BLOCK`` steps is one block: its spikes are the step loop's, bit for bit.

One backend has a faster form: on TensorFlow without a GPU, the functions run
XLA-compiled loops over the steps instead (`time_loop_kernels`).
"""

import functools
import operator

import keras
from keras import ops

BLOCK = 128
"""int: Steps per block of the spiking function. Sequences up to this long give
exactly the step loop's spikes; longer ones are cut into blocks of this many steps."""

FILTER_BLOCK = 64
"""int: Steps per block of the filters (fewer steps per block means fewer, larger
operations in the loop over a block)."""

# The spike counter splits each step's increment ``rates * dt`` into a part on a grid
# of ``2**-_GRID_BITS`` and a small remainder. The grid parts of a block add up
# exactly in float32 while a block's total stays below ``2**(24 - _GRID_BITS)``
# (128 steps of 16 spikes each), and their fractions add up exactly over fewer than
# ``2**(24 - _GRID_BITS)`` blocks (262,144 steps). Beyond that the entering
# voltages round, gradually.
_GRID_BITS = 13
# The largest float32 below 1: a voltage carried into a block stays below 1.
_BELOW_ONE = 1 - 2.0**-24


def _blocks(x, size):
    """Cut ``x`` (time, ...) into blocks of ``size`` steps, padding the end with zeros.

    Returns ``(blocks, time)``: ``blocks`` of shape ``(n_blocks, size, ...)``, and
    the number of steps (an int, or a scalar tensor when it is unknown while
    tracing).
    """
    time = ops.shape(x)[0]
    pad = -time % size
    rest = tuple(ops.shape(x)[1:])
    if not isinstance(pad, int) or pad > 0:
        x = ops.concatenate([x, ops.zeros((pad, *rest), dtype=x.dtype)], axis=0)
    return ops.reshape(x, (-1, size, *rest)), time


def _unblock(blocks, time):
    """Undo `_blocks`: ``(n_blocks, size, ...)`` back to ``(time, ...)``."""
    rest = tuple(ops.shape(blocks)[2:])
    return ops.reshape(blocks, (-1, *rest))[:time]


def _along_blocks(step, carry, xs):
    """Run ``carry, y = step(carry, x)`` over the steps of all blocks at once.

    ``xs`` has shape ``(n_blocks, size, ...)`` (a tensor or a tuple of them);
    returns the final carry and the stacked ``y``, of shape ``(n_blocks, size,
    ...)``. The loop is unrolled (fastest on TensorFlow and PyTorch), except on JAX.
    """
    if keras.backend.backend() == "jax":
        # JAX-only: XLA fuses an unrolled loop into one kernel that recomputes the
        # earlier steps of every output (15x slower on W2); a scan keeps each step
        # one small kernel.
        return _scanned(step, carry, xs)
    return _unrolled(step, carry, xs)


def _unrolled(step, carry, xs):
    """`_along_blocks` as a Python loop over the steps."""
    ys = []
    for k in range(ops.shape(xs[0] if isinstance(xs, tuple) else xs)[1]):
        carry, y = step(carry, _map(lambda x, k=k: x[:, k], xs))
        ys.append(y)
    if isinstance(ys[0], tuple):
        return carry, tuple(ops.stack(y, axis=1) for y in zip(*ys, strict=True))
    return carry, ops.stack(ys, axis=1)


def _scanned(step, carry, xs):
    """`_along_blocks` as a ``keras.ops.scan`` over the steps."""
    carry, ys = ops.scan(step, carry, _map(lambda x: ops.swapaxes(x, 0, 1), xs))
    return carry, _map(lambda y: ops.swapaxes(y, 0, 1), ys)


def _map(f, xs):
    return tuple(f(x) for x in xs) if isinstance(xs, tuple) else f(xs)


def time_loop_kernels():
    """The backend's compiled time loops, if it has faster ones than the blocks.

    Backend-specific: on TensorFlow, when it sees no GPU, the XLA-compiled loops of
    `keras_spiking.tensorflow_kernels` (measured 3-17x the numpy floor where the
    blocks take 10-60x, see ``benchmarks/README.md``). Elsewhere None, and the
    functions here use their blocked ``keras.ops`` forms: on a GPU a loop pays a
    kernel launch per step; on JAX running on a CPU, the same loops measured no
    faster than the layers' step loop, which JAX compiles alike.

    Returns
    -------
    module or None
        A module with ``spiking_sequence`` and ``linear_sequence``.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return None
    from keras_spiking import tensorflow_kernels

    return tensorflow_kernels


def _swap_time(x, time_axis):
    """Move the time axis of ``x`` between ``time_axis`` and 0 (either way)."""
    return x if time_axis == 0 else ops.swapaxes(x, 0, time_axis)


def _last_or(initial, values):
    """``values[-1]``, or ``initial`` when ``values`` is empty (no steps)."""
    return ops.concatenate([initial[None], values[-1:]], axis=0)[-1]


def _split(x):
    """Split ``x`` into a part on the ``2**-_GRID_BITS`` grid and a small rest."""
    scale = 2.0**_GRID_BITS
    coarse = ops.round(x * scale) * (1 / scale)
    return coarse, x - coarse


def _frac(x):
    return x - ops.floor(x)


def _exclusive_cumsum(x):
    """The sum over the blocks before each block (axis 0); exact for exact sums."""
    return ops.cumsum(x, axis=0) - x


def spiking_sequence(inputs, voltage, dt, activation=None, time_axis=0):
    """Spikes of a whole sequence, as `.SpikingActivationCell` emits them.

    With rates ``r_t = activation(x_t)``, each step is ``v = v + r_t * dt;
    n_t = floor(v); v = v - n_t``, in the dtype of ``inputs`` (float32 in the
    layers).

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
    voltage is within its own rounding error of a whole number.

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
    inputs = ops.convert_to_tensor(inputs)
    voltage = ops.convert_to_tensor(voltage, dtype=inputs.dtype)
    dt = ops.cast(dt, inputs.dtype)
    activation = activation or keras.activations.linear
    kernels = time_loop_kernels()
    if kernels is not None:
        return kernels.spiking_sequence(inputs, voltage, dt, activation, time_axis)
    rates = per_step(activation, inputs)
    spikes, voltage = _spiking_blocks(
        _swap_time(ops.stop_gradient(rates), time_axis),
        ops.stop_gradient(voltage),
        dt,
    )
    return straight_through(_swap_time(spikes, time_axis), rates), voltage


def per_step(function, inputs):
    """``function`` of each step of a sequence, for all steps at once.

    The steps are stacked along the batch axis, so that ``function`` sees the shape
    of one step, ``(batch, *size)``, as in a cell: a layer used as an activation
    (e.g. ``keras.layers.PReLU``) gets the weights of the step loop's.

    Parameters
    ----------
    function : callable
        Takes and returns a tensor ``(batch, *size)``.
    inputs : tensor
        A sequence, ``(time, batch, *size)`` or ``(batch, time, *size)``.

    Returns
    -------
    tensor
        ``function`` of every step, shaped like ``inputs``.
    """
    shape = ops.shape(inputs)
    return ops.reshape(function(ops.reshape(inputs, (-1, *shape[2:]))), shape)


def straight_through(spikes, rates):
    """``spikes`` forward, the gradient of ``rates`` backward.

    The bracket is exactly zero in the forward pass (so the output is exactly the
    spikes) and has the gradient of the rates in the backward pass.
    """
    return ops.stop_gradient(spikes) + (rates - ops.stop_gradient(rates))


def _spiking_blocks(rates, voltage, dt):
    """`spiking_sequence` of time-major rates in blocks, with no gradient."""
    increments, time = _blocks(rates * dt, BLOCK)

    # The voltage entering each block after the first, from the exact totals of
    # the blocks before it: the grid parts modulo 1 and the remainders separately.
    coarse, fine = _split(increments)
    coarse_v, fine_v = _split(voltage)
    entering = _frac(coarse_v + _exclusive_cumsum(_frac(ops.sum(coarse, axis=1))))
    entering = entering + (fine_v + _exclusive_cumsum(ops.sum(fine, axis=1)))
    # A value just below a whole number can round up to it; keep it below 1.
    entering = ops.minimum(_frac(entering), _BELOW_ONE)
    # The first block (if any) starts from the given voltage itself.
    n_blocks = ops.shape(increments)[0]
    entering = ops.concatenate([voltage[None], entering[1:]], axis=0)[:n_blocks]

    def step(v, increment):
        v = v + increment
        n = ops.floor(v)
        # Divided here, as the cell divides: on JAX, the same division of the
        # whole sequence at once is not always correctly rounded (5 / 0.001 gave
        # 4999.9995), though it is 4x faster there.
        return v - n, n / dt

    v, spikes = _along_blocks(step, entering, increments)
    # Zero increments after the last step leave the voltage as it is.
    return _unblock(spikes, time), _last_or(voltage, v)


def _coefficient(value, state):
    """``value`` as a tensor of the state's dtype and rank, for broadcasting."""
    value = ops.cast(value, state.dtype)
    missing = len(state.shape) - len(value.shape)
    return ops.reshape(value, (1,) * missing + tuple(ops.shape(value)))


def _dot(row, column):
    return functools.reduce(
        operator.add, (r * c for r, c in zip(row, column, strict=True))
    )


def _matmul(a, b):
    """The product of two square matrices held as nested tuples of tensors."""
    columns = tuple(zip(*b, strict=True))
    return tuple(tuple(_dot(row, column) for column in columns) for row in a)


def _matvec(a, v):
    return tuple(_dot(row, v) for row in a)


def _powers(a, size):
    """``A**1`` to ``A**size`` of a matrix of coefficients, each entry stacked.

    Entry ``[i][j]`` of the result has shape ``(size, *coefficient shape)``; row
    ``k`` holds ``A**(k + 1)``. Computed by doubling, in ``log2(size)`` products.
    """
    table = tuple(tuple(entry[None] for entry in row) for row in a)
    while ops.shape(table[0][0])[0] < size:
        last = tuple(tuple(entry[-1:] for entry in row) for row in table)
        more = _matmul(table, last)
        table = tuple(
            tuple(ops.concatenate(pair, axis=0) for pair in zip(*rows, strict=True))
            for rows in zip(table, more, strict=True)
        )
    return table


def _inclusive_scan(combine, elems, fills):
    """Inclusive scan of ``elems`` (a tuple of tensors) along axis 0.

    ``combine(earlier, later)`` is associative; ``fills`` holds, for each tensor,
    the value of its identity element (used to pad). Takes ``log2(n)`` rounds of
    whole-array operations (Hillis and Steele), a loop in the graph when ``n`` is
    unknown while tracing.
    """
    n = ops.shape(elems[0])[0]

    def round_(shift, elems):
        earlier = tuple(
            ops.concatenate(
                [
                    ops.full((shift, *ops.shape(x)[1:]), fill, dtype=x.dtype),
                    x[: n - shift],
                ],
                axis=0,
            )
            for x, fill in zip(elems, fills, strict=True)
        )
        return shift * 2, combine(earlier, elems)

    if isinstance(n, int):
        shift = 1
        while shift < n:
            shift, elems = round_(shift, elems)
        return elems
    _, elems = ops.while_loop(lambda shift, _: shift < n, round_, (1, elems))
    return elems


def _linear_sequence(inputs, states, a, b, time_axis=0):
    """Run ``s = A @ s + b * x_t`` over a whole sequence; output the last state.

    ``states`` is a tuple of ``n`` tensors ``(batch, *size)``, ``a`` an ``n x n``
    nested tuple and ``b`` an ``n``-tuple of coefficients, broadcastable to the
    states. Returns the outputs (the last state at every step, with time on
    ``time_axis``) and the final states.
    """
    inputs = ops.convert_to_tensor(inputs)
    states = tuple(ops.convert_to_tensor(s, dtype=inputs.dtype) for s in states)
    a = tuple(tuple(_coefficient(c, states[0]) for c in row) for row in a)
    b = tuple(_coefficient(c, states[0]) for c in b)
    kernels = time_loop_kernels()
    if kernels is not None:
        return kernels.linear_sequence(inputs, states, a, b, time_axis)
    outputs, final = _linear_blocks(_swap_time(inputs, time_axis), states, a, b)
    return _swap_time(outputs, time_axis), final


def _linear_blocks(inputs, states, a, b):
    """`_linear_sequence` of a time-major sequence, in blocks."""
    n = len(states)
    xs, time = _blocks(inputs, FILTER_BLOCK)
    n_blocks = ops.shape(xs)[0]

    # Each block on its own, from a zero state.
    def step(s, bx):
        s = tuple(a_s + bx_i for a_s, bx_i in zip(_matvec(a, s), bx, strict=True))
        return s, s

    driven = tuple(b_i[None] * xs for b_i in b)
    exits, local = _along_blocks(step, (ops.zeros_like(xs[:, 0]),) * n, driven)

    # The state entering each block: a whole block maps ``s`` to
    # ``A**FILTER_BLOCK @ s + exit``.
    powers = _powers(a, FILTER_BLOCK)
    across = tuple(
        ops.broadcast_to(entry[-1:], (n_blocks, *ops.shape(entry)[1:]))
        for entry in _flatten(powers)
    )
    n_entries = n * n

    def combine(earlier, later):
        a_late = _unflatten(later[:n_entries], n)
        shifted = _matvec(a_late, earlier[n_entries:])
        a_early = _unflatten(earlier[:n_entries], n)
        return _flatten(_matmul(a_late, a_early)) + tuple(
            s + e for s, e in zip(shifted, later[n_entries:], strict=True)
        )

    identity = tuple(float(i == j) for i in range(n) for j in range(n))
    scanned = _inclusive_scan(combine, across + exits, identity + (0.0,) * n)
    through = _unflatten(scanned[:n_entries], n)
    shifted = _matvec(through, tuple(s[None] for s in states))
    after = tuple(s + e for s, e in zip(shifted, scanned[n_entries:], strict=True))
    entering = tuple(
        ops.concatenate([s[None], s_after], axis=0)[:-1]
        for s, s_after in zip(states, after, strict=True)
    )

    # Add the response to the entering state, ``A**(k + 1) @ s`` at step ``k``.
    def response(row, entering, index=slice(None)):
        return _dot((entry[index][None] for entry in row), entering)

    last = powers[-1]
    outputs = _unblock(local[-1] + response(last, (s[:, None] for s in entering)), time)
    # The final states: the last output, and the other states at the last step.
    k_last = (time - 1) % FILTER_BLOCK
    final = []
    for local_i, row in zip(local[:-1], powers[:-1], strict=True):
        at_last = _unblock(local_i, time)[-1:]
        final.append(at_last + response(row, (s[-1:] for s in entering), k_last))
    final.append(outputs[-1:])
    return outputs, [_last_or(s, f) for s, f in zip(states, final, strict=True)]


def _flatten(matrix):
    return tuple(entry for row in matrix for entry in row)


def _unflatten(entries, n):
    return tuple(tuple(entries[i * n : (i + 1) * n]) for i in range(n))


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
    decay = ops.convert_to_tensor(decay, dtype=ops.convert_to_tensor(inputs).dtype)
    outputs, (state,) = _linear_sequence(
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
    return _linear_sequence(inputs, tuple(states), ad, bd, time_axis)
