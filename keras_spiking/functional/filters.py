"""The maths of the linear filters, `~keras_spiking.LowpassCell` and
`~keras_spiking.AlphaCell`: their coefficients, one step, and the same steps over
a whole sequence in blocks.

A filter with ``n`` states per unit steps as ``s = A @ s + b * x`` (`linear_step`
after `drive`), with output the last state; ``A`` is an ``n x n`` matrix and ``b``
an ``n``-vector of coefficients per unit, held as nested tuples of tensors. The
cells' steps, the blocked form below and the compiled loops of
`keras_spiking.backends` all call these.
"""

import math

from keras import ops

from keras_spiking.functional import _algebra

MIN_TAU = 1e-8
"""float: The time constant of a filter is floored at this value in the forward
pass, so that a ``tau`` trained down to (or below) zero never divides by zero."""

FILTER_BLOCK = 64
"""int: Steps per block of the blocked filter form (fewer steps per block means
fewer, larger operations in the loop over a block)."""


def floor_tau(tau):
    """``tau`` floored at `MIN_TAU`."""
    # (not ops.maximum: on PyTorch, Keras 3.15's gives float32 for float64)
    return ops.where(tau > MIN_TAU, tau, MIN_TAU)


def lowpass_coefficients(tau, dt):
    """``A`` and ``b`` of the zero-order-hold discretisation of ``1/(tau*s + 1)``.

    With ``a = exp(-dt / tau)`` (``tau`` floored at `MIN_TAU`), ``A = ((a,),)`` and
    ``b = (1 - a,)``: one step is ``y = a * y + (1 - a) * x``. ``1 - a`` is computed
    as ``-expm1(-dt / tau)``, which keeps its digits where ``a`` is close to 1 (in
    float32, ``1 - a`` itself is 1.3 % off at ``dt / tau = 1e-6``).
    """
    ratio = dt / floor_tau(tau)
    return ((ops.exp(-ratio),),), (-ops.expm1(-ratio),)


def alpha_coefficients(tau, dt):
    """``A`` and ``b`` of the zero-order-hold discretisation of
    ``1/(tau*s + 1)**2``.

    The states are ``(z, y)``, output ``y``. With ``tau`` floored at `MIN_TAU`,
    ``r = dt / tau`` and ``e = exp(-r)``: ``A = e * ((1 - r, -r / tau), (dt, 1 +
    r))`` and ``b = (e * r / tau, 1 - e * (1 + r))``. ``1 - e * (1 + r)`` is
    computed so that it keeps its digits for small ``r`` (``_alpha_input_gain``), and
    where ``e`` is 0 its products are 0 (also when ``r`` overflows to infinity, so
    that the filter then passes its input through, as the lowpass does).
    """
    tau = floor_tau(tau)
    r = dt / tau
    decay = ops.exp(-r)

    def decayed(value):
        # (0 * inf would be NaN; a NaN decay, from a NaN dt, stays NaN)
        return ops.where(decay == 0, 0, value)

    a = (
        (decayed(decay * (1 - r)), decayed(-decay * r / tau)),
        (decayed(decay * dt), decayed(decay * (1 + r))),
    )
    b = (decayed(decay * r / tau), _alpha_input_gain(r, decayed(decay * (1 + r))))
    return a, b


# Below this ``r``, ``_alpha_input_gain`` sums its series (to float64 precision).
_SERIES_BELOW = 1.0
_SERIES_TERMS = 17


def _alpha_input_gain(r, decay_times_one_plus_r):
    """``1 - exp(-r) * (1 + r)``, to the precision of its dtype for every ``r``.

    The difference of two numbers close to 1 loses the digits of a result of about
    ``r**2 / 2`` for small ``r`` (all of them in float32 for ``r < 3e-4``). Below
    `_SERIES_BELOW` it is computed as ``r * (-expm1(-r) - r * phi(r))``, with
    ``phi(r) = (exp(-r) - 1 + r) / r**2 = sum((-r)**n / (n + 2)!)`` summed as a
    series; above, as the difference itself.
    """
    small = r < _SERIES_BELOW
    r_small = ops.where(small, r, 0)
    phi = ops.zeros_like(r_small)
    for n in range(_SERIES_TERMS - 1, -1, -1):
        phi = phi * -r_small + 1 / math.factorial(n + 2)
    series = r_small * (-ops.expm1(-r_small) - r_small * phi)
    return ops.where(small, series, 1 - decay_times_one_plus_r)


def drive(b, x):
    """The input term of one step, ``b * x``, one tensor per state."""
    return tuple(b_i * x for b_i in b)


def linear_step(a, states, driven):
    """One step of a linear filter: ``A @ states + driven``.

    Parameters
    ----------
    a : tuple of tuple of tensor
        The ``n x n`` matrix ``A``, each entry broadcastable to the states.
    states : tuple of tensor
        The ``n`` states before the step.
    driven : tuple of tensor
        ``b * x`` for this step (`drive`).

    Returns
    -------
    tuple of tensor
        The states after the step; the last is the filter's output.
    """
    return tuple(s + d for s, d in zip(_algebra.matvec(a, states), driven, strict=True))


def linear_blocks(inputs, states, a, b, scan=False):
    """`linear_step` over a whole time-major sequence, in blocks.

    Each block of `~keras_spiking.sequence.FILTER_BLOCK` steps is run from a zero
    state, for all blocks at once; the state entering each block follows from the
    blocks before it in a scan over the blocks, and its response is added.

    Parameters
    ----------
    inputs : tensor
        ``(time, batch, *size)``.
    states : tuple of tensor
        The states before the first step.
    a, b : tuple
        The coefficients, with the rank of the states.
    scan : bool
        Loop over a block's steps with ``keras.ops.scan`` rather than unrolled.

    Returns
    -------
    outputs : tensor
        The last state after every step, ``(time, batch, *size)``.
    states : list of tensor
        The states after the last step (``states`` when there are no steps).
    """
    n = len(states)
    xs, time = _algebra.blocks(inputs, FILTER_BLOCK)
    n_blocks = ops.shape(xs)[0]

    # Each block on its own, from a zero state.
    def step(s, driven):
        s = linear_step(a, s, driven)
        return s, s

    driven = drive(tuple(b_i[None] for b_i in b), xs)
    exits, local = _algebra.along_blocks(
        step, (ops.zeros_like(xs[:, 0]),) * n, driven, scan
    )

    # The state entering each block: a whole block maps ``s`` to
    # ``A**FILTER_BLOCK @ s + exit``.
    powers = _algebra.powers(a, FILTER_BLOCK)
    across = tuple(
        ops.broadcast_to(entry[-1:], (n_blocks, *ops.shape(entry)[1:]))
        for entry in _algebra.flatten(powers)
    )
    n_entries = n * n

    def combine(earlier, later):
        a_late = _algebra.unflatten(later[:n_entries], n)
        shifted = _algebra.matvec(a_late, earlier[n_entries:])
        a_early = _algebra.unflatten(earlier[:n_entries], n)
        return _algebra.flatten(_algebra.matmul(a_late, a_early)) + tuple(
            s + e for s, e in zip(shifted, later[n_entries:], strict=True)
        )

    identity = tuple(float(i == j) for i in range(n) for j in range(n))
    scanned = _algebra.inclusive_scan(combine, across + exits, identity + (0.0,) * n)
    through = _algebra.unflatten(scanned[:n_entries], n)
    shifted = _algebra.matvec(through, tuple(s[None] for s in states))
    after = tuple(s + e for s, e in zip(shifted, scanned[n_entries:], strict=True))
    entering = tuple(
        ops.concatenate([s[None], s_after], axis=0)[:-1]
        for s, s_after in zip(states, after, strict=True)
    )

    # Add the response to the entering state, ``A**(k + 1) @ s`` at step ``k``.
    def response(row, entering, index=slice(None)):
        return _algebra.dot((entry[index][None] for entry in row), entering)

    last = powers[-1]
    outputs = _algebra.unblock(
        local[-1] + response(last, (s[:, None] for s in entering)), time
    )
    # The final states: the last output, and the other states at the last step.
    k_last = (time - 1) % FILTER_BLOCK
    final = []
    for local_i, row in zip(local[:-1], powers[:-1], strict=True):
        at_last = _algebra.unblock(local_i, time)[-1:]
        final.append(at_last + response(row, (s[-1:] for s in entering), k_last))
    final.append(outputs[-1:])
    return outputs, [_algebra.last_or(s, f) for s, f in zip(states, final, strict=True)]
