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

# The spike counter splits each step's increment ``rates * dt`` into a part on a grid
# of ``2**-_GRID_BITS`` and a small remainder. The grid parts of a block add up
# exactly in float32 while a block's total stays below ``2**(24 - _GRID_BITS)``
# (128 steps of 16 spikes each), and their fractions add up exactly over fewer than
# ``2**(24 - _GRID_BITS)`` blocks (262,144 steps). Beyond that the entering
# voltages round, gradually.
_GRID_BITS = 13
# The largest float32 below 1: a voltage carried into a block stays below 1.
_BELOW_ONE = 1 - 2.0**-24


def spike_increment(rates, dt):
    """The voltage increment of one step, ``rates * dt``.

    The product is kept apart from the sum that follows it in `integrate`: a
    compiler (XLA) would otherwise fuse the two into one rounding (a fused
    multiply-add), and the voltage would drift from the step loop's by an ulp
    now and then, moving spikes. The select below does that: it is a no-op on
    numbers (a NaN product takes the rate, itself NaN or infinite) but stands
    between the product and the sum.
    """
    increment = rates * dt
    return ops.where(increment == increment, increment, rates)


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
    """Split ``x`` into a part on the ``2**-_GRID_BITS`` grid and a small rest."""
    scale = 2.0**_GRID_BITS
    coarse = ops.round(x * scale) * (1 / scale)
    return coarse, x - coarse


def _frac(x):
    return x - ops.floor(x)


def spiking_blocks(rates, voltage, dt, scan=False):
    """`spiking_step` over a whole time-major sequence of rates, in blocks.

    The sequence is cut into blocks of `~keras_spiking.sequence.BLOCK` steps.
    Within a block the steps are `integrate`'s, for all blocks at once. The
    voltage entering each later block is computed from exact block totals (a part
    on a grid that float32 adds without rounding, plus a small remainder).

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

    # The voltage entering each block after the first, from the exact totals of
    # the blocks before it: the grid parts modulo 1 and the remainders separately.
    coarse, fine = _split(increments)
    coarse_v, fine_v = _split(voltage)
    entering = _frac(
        coarse_v + _algebra.exclusive_cumsum(_frac(ops.sum(coarse, axis=1)))
    )
    entering = entering + (fine_v + _algebra.exclusive_cumsum(ops.sum(fine, axis=1)))
    # A value just below a whole number can round up to it; keep it below 1.
    entering = ops.minimum(_frac(entering), _BELOW_ONE)
    # The first block (if any) starts from the given voltage itself.
    n_blocks = ops.shape(increments)[0]
    entering = ops.concatenate([voltage[None], entering[1:]], axis=0)[:n_blocks]

    def step(v, increment):
        spikes, v = integrate(v, increment, dt)
        return v, spikes

    v, spikes = _algebra.along_blocks(step, entering, increments, scan)
    # Zero increments after the last step leave the voltage as it is.
    return _algebra.unblock(spikes, time), _algebra.last_or(voltage, v)
