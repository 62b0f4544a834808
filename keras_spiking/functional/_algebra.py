"""The algebra shared by the step functions and their blocked whole-sequence
forms: cutting a sequence into blocks, loops over the steps of all blocks at once,
scans, and small matrices held as nested tuples of tensors.

Pure ``keras.ops``; sequences here are time-major, ``(time, batch, *size)``.
"""

import functools
import operator

from keras import ops


def separate(a, b):
    """``a * b``, kept apart from an addition that follows it.

    A compiler (XLA, under TensorFlow's ``jit_compile`` or ``jax.jit``) may fuse a
    product and the sum it feeds into one fused multiply-add, with one rounding
    instead of two, so that compiled and eager steps differ in the last bit. The
    select below stands between them: it is a no-op on numbers (a NaN product
    takes ``a + b``, NaN or infinite itself). Every step function whose product
    feeds a sum uses it (`~keras_spiking.functional.spike_increment`, the LIF
    integrators).
    """
    product = a * b
    return ops.where(product == product, product, a + b)


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
    # (the sizes spelled out: PyTorch cannot infer a -1 when there are no elements)
    steps = ops.reshape(inputs, (shape[0] * shape[1], *shape[2:]))
    return ops.reshape(function(steps), shape)


def straight_through(spikes, rates):
    """``spikes`` forward, the gradient of ``rates`` backward.

    The bracket is exactly zero in the forward pass (so the output is exactly the
    spikes) and has the gradient of the rates in the backward pass.
    """
    return ops.stop_gradient(spikes) + (rates - ops.stop_gradient(rates))


def blocks(x, size):
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
    # (the sizes spelled out: PyTorch cannot infer a -1 when there are no elements)
    return ops.reshape(x, ((time + pad) // size, size, *rest)), time


def unblock(blocked, time):
    """Undo `blocks`: ``(n_blocks, size, ...)`` back to ``(time, ...)``."""
    shape = ops.shape(blocked)
    return ops.reshape(blocked, (shape[0] * shape[1], *shape[2:]))[:time]


def along_blocks(step, carry, xs, scan):
    """Run ``carry, y = step(carry, x)`` over the steps of all blocks at once.

    ``xs`` has shape ``(n_blocks, size, ...)`` (a tensor or a tuple of them);
    returns the final carry and the stacked ``y``, of shape ``(n_blocks, size,
    ...)``. The loop is a ``keras.ops.scan`` if ``scan`` is true, else unrolled
    (see `keras_spiking.backends`: which is faster depends on the backend).
    """
    if scan:
        carry, ys = ops.scan(step, carry, _map(lambda x: ops.swapaxes(x, 0, 1), xs))
        return carry, _map(lambda y: ops.swapaxes(y, 0, 1), ys)
    ys = []
    for k in range(ops.shape(xs[0] if isinstance(xs, tuple) else xs)[1]):
        carry, y = step(carry, _map(lambda x, k=k: x[:, k], xs))
        ys.append(y)
    if isinstance(ys[0], tuple):
        return carry, tuple(ops.stack(y, axis=1) for y in zip(*ys, strict=True))
    return carry, ops.stack(ys, axis=1)


def _map(f, xs):
    return tuple(f(x) for x in xs) if isinstance(xs, tuple) else f(xs)


def swap_time(x, time_axis):
    """Move the time axis of ``x`` between ``time_axis`` and 0 (either way)."""
    return x if time_axis == 0 else ops.swapaxes(x, 0, time_axis)


def last_or(initial, values):
    """``values[-1]``, or ``initial`` when ``values`` is empty (no steps)."""
    return ops.concatenate([initial[None], values[-1:]], axis=0)[-1]


def exclusive_cumsum(x):
    """The sum over the blocks before each block (axis 0); exact for exact sums.

    Each sum adds only the blocks before its own (not ``cumsum(x) - x``, which a
    NaN or infinity in a block would make NaN in that block too).
    """
    earlier = ops.cumsum(x[:-1], axis=0)
    return ops.concatenate([ops.zeros_like(x[:1]), earlier], axis=0)


def dot(row, column):
    """The dot product of two tuples of tensors (elementwise products, summed)."""
    return functools.reduce(
        operator.add, (r * c for r, c in zip(row, column, strict=True))
    )


def matmul(a, b):
    """The product of two square matrices held as nested tuples of tensors."""
    columns = tuple(zip(*b, strict=True))
    return tuple(tuple(dot(row, column) for column in columns) for row in a)


def matvec(a, v):
    """The product of a matrix (nested tuples) and a vector (a tuple)."""
    return tuple(dot(row, v) for row in a)


def flatten(matrix):
    """The entries of a nested-tuple matrix, row by row."""
    return tuple(entry for row in matrix for entry in row)


def unflatten(entries, n):
    """Undo `flatten` for an ``n x n`` matrix."""
    return tuple(tuple(entries[i * n : (i + 1) * n]) for i in range(n))


def powers(a, size):
    """``A**1`` to ``A**size`` of a matrix of coefficients, each entry stacked.

    Entry ``[i][j]`` of the result has shape ``(size, *coefficient shape)``; row
    ``k`` holds ``A**(k + 1)``. Computed by doubling, in ``log2(size)`` products.
    """
    table = tuple(tuple(entry[None] for entry in row) for row in a)
    while ops.shape(table[0][0])[0] < size:
        last = tuple(tuple(entry[-1:] for entry in row) for row in table)
        more = matmul(table, last)
        table = tuple(
            tuple(ops.concatenate(pair, axis=0) for pair in zip(*rows, strict=True))
            for rows in zip(table, more, strict=True)
        )
    return table


def compose_affine(earlier, later):
    """The map ``x -> a * x + b`` of two such maps applied one after the other.

    Each is ``(a, b)``; associative, so `inclusive_scan` with it (and identity
    ``(1, 0)``) computes the linear recurrence ``x_k = a_k * x_{k-1} + b_k`` from
    ``x_{-1} = 0``: the second entry of the result.
    """
    a_early, b_early = earlier
    a_late, b_late = later
    return a_early * a_late, a_late * b_early + b_late


def inclusive_scan(combine, elems, fills):
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
