"""The maths of `~keras_spiking.SpikingActivationCell`: one step, and the same
steps over a whole sequence in blocks.

One step, with rates ``r = activation(x)``: ``v = v + r * dt; n = floor(v);
v = v - n``, output ``n / dt`` (``n`` spikes of height ``1/dt``). It is written
once, as `spike_increment` followed by `integrate`, and `spiking_step` is the
two; the cell's step, the blocked form below and the compiled loops of
`keras_spiking.backends` all call these.
"""

from keras import ops

from keras_spiking.functional import _algebra

BLOCK = 128
"""int: Steps per block of the blocked spiking form. Sequences up to this long give
exactly the step loop's spikes; longer ones are cut into blocks of this many steps."""

# The voltage entering each block is computed from exact sums: each step's increment
# ``rates * dt`` is split into a part on a grid of ``2**-_GRID_BITS`` and a small
# remainder. The grid parts are summed modulo 1, step by step, which float32 does
# without rounding at any rate; the sums over the blocks add up exactly over fewer
# than ``2**(24 - _GRID_BITS)`` blocks (262,144 steps). Beyond that the entering
# voltages round, gradually.
_GRID_BITS = 13
# Increments at least this large are already on the grid in float32 (and would
# overflow when scaled to it, near the largest float32).
_ON_GRID = 2.0 ** (23 - _GRID_BITS)
# The largest float32 below 1: a voltage carried into a block stays below 1.
_BELOW_ONE = 1 - 2.0**-24


def spike_increment(rates, dt):
    """The voltage increment of one step, ``rates * dt``.

    The product is kept apart from what comes before and after it, so that a
    compiler (XLA) computes it as written, with the step loop's rounding. Before:
    a constant factor of the activation would otherwise be folded into ``dt``
    (``(-1e6 * x) * dt`` computed as ``x * (-1e6 * dt)``). After: the sum that
    follows in `integrate` would otherwise be fused with it into one rounding (a
    fused multiply-add). A select stands between the operations each time:
    before, one that is a no-op on numbers (a NaN rate stays NaN); after,
    `~keras_spiking.functional.separate`.
    """
    rates = ops.where(rates == rates, rates, -rates)
    return _algebra.separate(rates, dt)


def integrate(voltage, increment, dt):
    """Add one step's increment to the voltage and emit the whole spikes.

    Returns
    -------
    spikes : tensor
        ``n / dt``, with ``n = floor(voltage + increment)`` (may be 0, several or
        negative).
    voltage : tensor
        The voltage after the step, ``voltage + increment - n``, in ``[0, 1)``.
    """
    voltage = voltage + increment
    n_spikes = ops.floor(voltage)
    return n_spikes / dt, voltage - n_spikes


def spiking_step(voltage, rates, dt):
    """One step of the spiking neurons: `spike_increment`, then `integrate`.

    Parameters
    ----------
    voltage : tensor
        The voltage before the step, ``(batch, *size)``, in ``[0, 1)``.
    rates : tensor
        The firing rates of this step, ``activation(x)``, shaped like
        ``voltage``.
    dt : tensor
        The time step, a scalar.

    Returns
    -------
    spikes : tensor
        The output of the step, ``n / dt``.
    voltage : tensor
        The voltage after the step.

    Notes
    -----
    No gradient is defined here: callers make it straight-through
    (`keras_spiking.sequence.straight_through`).
    """
    return integrate(voltage, spike_increment(rates, dt), dt)


def _split(x):
    """Split ``x`` into a part on the ``2**-_GRID_BITS`` grid and a small rest.

    Finite values give finite parts, however large (a value too large to scale is
    on the grid already); an infinite or NaN value gives NaN.
    """
    scale = 2.0**_GRID_BITS
    small = ops.abs(x) < _ON_GRID
    coarse = ops.round(ops.where(small, x, 0) * scale) * (1 / scale)
    coarse = ops.where(small, coarse, x)
    return coarse, x - coarse


def _frac(x):
    return x - ops.floor(x)


def spiking_blocks(rates, voltage, dt, scan=False):
    """`spiking_step` over a whole time-major sequence of rates, in blocks.

    The sequence is cut into blocks of `~keras_spiking.sequence.BLOCK` steps. Within
    a block the steps are `integrate`'s, for all blocks at once. The voltage
    entering each later block is computed from the exact sums of the increments
    before it (a part on a grid that float32 adds without rounding, plus a small
    remainder). Where a block's own float32 steps end on the other side of a whole
    number from the exact sums (a spike one of them emits and the other does not, at
    a near-tie), the spike is carried across the boundary (``_carry_across``), so that
    no spike is lost or emitted twice: each neuron's spike total and final voltage
    add up to its initial voltage and the exact sum of its increments.

    Parameters
    ----------
    rates : tensor
        ``(time, batch, *size)``, with no gradient.
    voltage : tensor
        The voltage before the first step, ``(batch, *size)``.
    dt : tensor
        The time step.
    scan : bool
        Loop over a block's steps with ``keras.ops.scan`` rather than unrolled.

    Returns
    -------
    spikes : tensor
        ``(time, batch, *size)``.
    voltage : tensor
        The voltage after the last step (``voltage`` when there are none).
    """
    increments, time = _algebra.blocks(spike_increment(rates, dt), BLOCK)
    entering = _entering(increments, voltage)

    def step(v, increment):
        # (the spike counts, ``n / 1``; divided by ``dt`` below, as `integrate` does)
        counts, v = integrate(v, increment, 1)
        return v, counts

    exits, counts = _algebra.along_blocks(step, entering, increments, scan)
    counts, held = _carry_across(counts, increments, entering, exits)
    spikes = _per_dt(_algebra.unblock(counts, time), dt)
    # Zero increments after the last step leave the voltage as it is.
    voltage = _algebra.last_or(voltage, exits)
    # A spike still carried at the end stays in the voltage (just below 1 for one
    # not yet emitted, 0 for one emitted early).
    held = ops.where(held != 0, ops.clip(voltage + held, 0, _BELOW_ONE), voltage)
    return spikes, held


def _per_dt(counts, dt):
    """``counts / dt``, a true division as `integrate`'s in a loop.

    XLA on a CPU turns the division of a whole array by one number into a
    multiplication by its reciprocal, which can round differently (1 ulp); the
    select (a no-op on numbers) hides that the divisor is one number.
    """
    return counts / ops.where(counts == counts, dt, counts)


def _entering(increments, voltage):
    """The voltage entering each block, ``(n_blocks, batch, *size)``.

    The first block starts from ``voltage`` itself; each later one from the
    fractional part of the exact sum of ``voltage`` and every increment before it:
    the grid parts modulo 1 and the remainders separately. Each block's sums use
    only the blocks before it, so a NaN or infinity reaches only the blocks after
    its own.
    """
    coarse, fine = _split(increments)
    coarse_v, fine_v = _split(voltage)
    whole = _frac(ops.sum(_frac(coarse), axis=1))
    entering = _frac(coarse_v + _algebra.exclusive_cumsum(whole))
    entering = entering + (fine_v + _algebra.exclusive_cumsum(ops.sum(fine, axis=1)))
    # A value just below a whole number can round up to it; keep it below 1.
    entering = ops.minimum(_frac(entering), _BELOW_ONE)
    n_blocks = ops.shape(increments)[0]
    return ops.concatenate([voltage[None], entering[1:]], axis=0)[:n_blocks]


def _carry_across(counts, increments, entering, exits):
    """Carry the spikes that block ends and the exact sums disagree on.

    A block's float32 steps can stop just below a whole number that the exact sum
    of its increments reaches (the next block then starts above it, and neither
    block would emit that spike), or pass one that the exact sum stops just below
    (both would emit it). ``round(exit - next entering)`` is +1 for such a lost
    spike, -1 for such a twice-emitted one, 0 otherwise (the two differ by far
    less than half a spike). The correction is carried to the first later step
    where the step loop could make it: one that emits a spike of the other sign
    (which it cancels) or whose increment has the correction's sign (where the
    step loop's voltage, just short of the whole number, crosses it). No spike
    moves to an earlier step, so each step depends only on the steps up to it, and
    none takes a sign against its increment.

    Parameters
    ----------
    counts : tensor
        The spike counts of each block's steps, ``(n_blocks, BLOCK, batch,
        *size)``.
    increments : tensor
        The increments, shaped like ``counts``.
    entering, exits : tensor
        The voltage entering and leaving each block, ``(n_blocks, batch,
        *size)``.

    Returns
    -------
    counts : tensor
        ``counts`` with the corrections added.
    held : tensor
        The corrections that no step took by the end, ``(batch, *size)``.
    """
    correction = ops.round(exits[:-1] - entering[1:])
    # (a NaN or infinite voltage is already in every later step)
    correction = ops.where(ops.isfinite(correction), correction, 0)
    # (zeros shaped like one block's voltage, also when there are no blocks)
    none_held = ops.sum(exits[:0], axis=0)

    def carried():
        held = none_held
        fixed = counts
        steps = ops.reshape(
            ops.arange(BLOCK, dtype=counts.dtype),
            (1, BLOCK) + (1,) * (len(counts.shape) - 2),
        )
        for sign in (1.0, -1.0):
            takes = ops.logical_or(increments * sign > 0, counts * sign < 0)
            # The first step of each block that takes it (BLOCK if none).
            first = ops.sum(ops.cumprod(ops.where(takes, 0, 1), axis=1), axis=1)
            taken = ops.cast(first < BLOCK, counts.dtype)
            # What reaches block m: its boundary's correction, and what block m - 1
            # did not take (a linear recurrence, as a scan over the blocks).
            own = ops.where(correction * sign > 0, correction, 0)
            through = ops.concatenate([ops.ones_like(taken[:1]), 1 - taken[:-1]])
            own = ops.concatenate([ops.zeros_like(taken[:1]), own])
            _, arriving = _algebra.inclusive_scan(
                _algebra.compose_affine, (through, own), (1.0, 0.0)
            )
            fixed = fixed + ops.where(
                steps == ops.cast(first, counts.dtype)[:, None], arriving[:, None], 0
            )
            held = held + _algebra.last_or(none_held, arriving * (1 - taken))
        return fixed, held

    return ops.cond(ops.any(correction != 0), carried, lambda: (counts, none_held))
