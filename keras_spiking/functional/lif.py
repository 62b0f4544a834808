"""The maths of the leaky integrate-and-fire neurons,
`~keras_spiking.layers.LIFCell` and `~keras_spiking.layers.AdaptiveLIFCell`: one
step (`lif_step`), and their firing rate (`lif_rate`).

The neuron is NIR's LIF, ``tau dv/dt = (v_leak - v) + r I``, which spikes when
``v`` passes ``threshold`` and is then reset; with ``tau_syn`` the input first
passes a synapse, ``tau_syn di/dt = -i + I_in``, and ``i`` drives the voltage
(NIR's CubaLIF). Without ``tau`` it is the integrate-and-fire neuron, ``dv/dt =
r I``. One step computes, for every neuron, the number of spikes ``n`` in the step
(the cells output ``n * amplitude / dt``) and the new state.

`LIFOptions` holds what selects the code of a step (the spike rule, the
integrator, the reset, which states exist); the numbers are tensors in a dict
(see `lif_step`). The cells call `lif_step` once per step, and the compiled loops
of `keras_spiking.backends` call the same function.

Products that an addition follows are computed apart from it (`separate`), so
that a compiler (XLA) does not fuse the two into one rounding: a step then gives
the same bits eagerly and compiled, and the peers' own float32 order of
operations (``integrator="snntorch"``, ``"norse"``) is kept exactly.
"""

import dataclasses
import math

import keras
from keras import ops

from keras_spiking.functional._algebra import separate
from keras_spiking.surrogates import Surrogate, heaviside

SPIKE_RULES = ("exact", "step")
"""tuple: The spike rules: ``"exact"`` (the continuous-time neuron, spikes counted
exactly in each step) and ``"step"`` (one threshold check per step)."""

INTEGRATORS = ("exact", "snntorch", "norse")
"""tuple: How one step's update is computed: ``"exact"`` (zero-order hold), or in
the float32 order of operations of snnTorch or of Norse."""

RESETS = ("zero", "subtract", "none")
"""tuple: The resets: to ``v_reset``, by ``threshold - v_reset``, or none."""


@dataclasses.dataclass(frozen=True)
class LIFOptions:
    """What selects the code of one step of `lif_step`.

    Hashable, so that a compiled loop is traced once per set of options.

    Parameters
    ----------
    spike_rule : str
        ``"exact"`` or ``"step"`` (see `keras_spiking.layers.LIF`).
    integrator : str
        ``"exact"``, ``"snntorch"`` or ``"norse"``.
    reset : str
        ``"zero"``, ``"subtract"`` or ``"none"``.
    reset_delay : bool
        Apply the reset in the next step's update, as snnTorch does.
    leaky : bool
        False for the integrate-and-fire form (no ``tau``).
    synapse : bool
        Whether there is a synaptic current (``tau_syn``).
    refractory : bool
        Whether there is a refractory period (``tau_ref > 0``).
    recurrent : bool
        Whether the previous step's spikes feed back through recurrent weights.
    recurrent_bias : bool
        Whether the recurrent input has a bias.
    adaptive : bool
        Whether the threshold adapts (`keras_spiking.layers.AdaptiveLIF`).
    surrogate : `keras_spiking.surrogates.Surrogate` or None
        The surrogate gradient of the spikes, or None for none (the spikes and
        the new states then carry no gradient at all).
    detach_reset : bool
        Whether the reset carries no gradient (with a surrogate).
    """

    spike_rule: str = "exact"
    integrator: str = "exact"
    reset: str = "zero"
    reset_delay: bool = False
    leaky: bool = True
    synapse: bool = False
    refractory: bool = False
    recurrent: bool = False
    recurrent_bias: bool = False
    adaptive: bool = False
    surrogate: Surrogate = None
    detach_reset: bool = True

    @property
    def state_names(self):
        """list of str: The states of a step, in order: ``"v"`` (voltage), ``"i"``
        (synaptic current), ``"ref"`` (refractory time left, in seconds), ``"a"``
        (adaptation), ``"n"`` (the previous step's spike counts)."""
        names = ["v"]
        names += ["i"] if self.synapse else []
        names += ["ref"] if self.refractory else []
        names += ["a"] if self.adaptive else []
        names += ["n"] if self.recurrent else []
        return names


def _select(condition, x, y):
    return ops.where(condition > 0, x, y)


def euler_tau(tau, dt):
    """The time constant whose exact decay over ``dt`` is the forward-Euler factor
    ``1 - dt/tau``: ``tau' = -dt / log1p(-dt / tau)``.

    A neuron stepped as ``v <- v + dt/tau (v_inf - v)`` (Norse's ``LIFBoxCell``,
    snnTorch's ``beta = 1 - dt/tau``) is the exact (zero-order-hold) neuron with
    time constant ``tau'`` (``tau' > tau``).

    Parameters
    ----------
    tau : float
        The time constant of the Euler step, in seconds; must be more than ``dt``.
    dt : float
        The time step, in seconds.

    Returns
    -------
    float

    Examples
    --------
    >>> from keras_spiking.functional import euler_tau
    >>> round(euler_tau(0.01, 0.001), 6)
    0.009491
    """
    if not tau > dt > 0:
        raise ValueError(
            f"The forward-Euler factor 1 - dt/tau is a decay only for tau > dt > 0; "
            f"got tau={tau!r}, dt={dt!r}. Use a smaller `dt` (or a larger `tau`)."
        )
    return -dt / math.log1p(-dt / tau)


def lif_rate(
    current,
    tau,
    threshold=1.0,
    v_reset=0.0,
    v_leak=0.0,
    r=1.0,
    tau_ref=0.0,
    amplitude=1.0,
    sigma=0.0,
):
    """The firing rate of the neuron driven by a constant input, times
    ``amplitude``: the "SoftLIF" rate when ``sigma > 0``.

    With ``v_inf = v_leak + r * current`` and ``z = sigma * softplus((v_inf -
    threshold) / sigma)`` (``z = max(v_inf - threshold, 0)`` when ``sigma=0``),

    .. code-block:: text

        rate = amplitude / (tau_ref + tau * log1p((threshold - v_reset) / z))

    and 0 where ``z = 0``. With ``sigma=0`` this is the exact rate of the
    continuous-time neuron, ``1 / (tau_ref + tau * ln(1 + (threshold - v_reset) /
    (v_inf - threshold)))``; with ``sigma > 0`` it is smooth (Hunsberger and
    Eliasmith, "Spiking deep networks with LIF neurons", 2015, as NengoDL trains
    LIF neurons), and approaches the exact rate as ``sigma`` goes to 0. With
    ``tau=None`` (integrate-and-fire) ``z`` smooths ``r * current`` alike and the
    rate is ``amplitude / (tau_ref + (threshold - v_reset) / z)``.

    Parameters
    ----------
    current : tensor
        The input current ``I``.
    tau : float or tensor or None
        The membrane time constant, in seconds; None for integrate-and-fire.
    threshold, v_reset, v_leak, r : float or tensor
        As for `keras_spiking.layers.LIF`.
    tau_ref : float or tensor
        The refractory period, in seconds.
    amplitude : float or tensor
        The area of a spike: the result is ``amplitude`` times the rate in Hz.
    sigma : float
        The smoothing, in units of voltage; 0 for the exact rate.

    Returns
    -------
    tensor
        The rate times ``amplitude``, shaped like ``current``.

    Examples
    --------
    >>> import numpy as np
    >>> from keras_spiking.functional import lif_rate
    >>> rate = lif_rate(np.array([0.5, 2.0], "float32"), tau=0.02)
    >>> [round(float(r), 3) for r in keras.ops.convert_to_numpy(rate)]
    [0.0, 72.135]
    """
    current = ops.convert_to_tensor(current)
    if not keras.backend.standardize_dtype(current.dtype).startswith("float"):
        current = ops.cast(current, "float32")
    gap = threshold - v_reset
    if tau is None:
        # integrate-and-fire: the voltage rises at r * I; rate = z / gap
        z = sigma * ops.softplus(r * current / sigma) if sigma > 0 else None
        z = ops.relu(r * current) if z is None else z
        return amplitude * z / (tau_ref * z + gap)
    drive = (v_leak + r * current) - threshold
    if sigma == 0:
        z = ops.relu(drive)
        active = z > 0
        safe = ops.where(active, z, 1.0)
        period = tau_ref + tau * ops.log1p(gap / safe)
        return ops.where(active, amplitude / period, 0.0)
    # log1p(gap / z), computed so that neither it nor its gradient overflows where
    # z underflows (far below the threshold, where softplus(u) ~ exp(u))
    u = drive / sigma
    above = u > 0
    z_above = sigma * ops.softplus(ops.where(above, u, 0.0))
    u_below = ops.where(above, 0.0, u)
    log_softplus = ops.where(
        u_below > -30, ops.log(ops.softplus(ops.maximum(u_below, -30.0))), u_below
    )
    z_below = sigma * ops.exp(log_softplus)
    log_term = ops.where(
        above,
        ops.log1p(gap / z_above),
        ops.log(z_below + gap) - (math.log(sigma) + log_softplus),
    )
    return amplitude / (tau_ref + tau * log_term)


# --- the exact spike rule ----------------------------------------------------------


def _exact_counts(v, v_free, ref, v_inf, tau, tau_ref, theta, v_reset, span, dt):
    """The exact spike rule: the spikes of the continuous-time neuron in one step.

    The input is held over the step. With ``tau`` the voltage goes toward
    ``v_inf``; with ``tau=None`` (integrate-and-fire) it rises at the rate
    ``v_inf``. ``v_free`` is the voltage the step reaches without spiking, after
    the ``span`` of the step that is not refractory (``ref`` is the refractory
    time left, or None without a refractory period). Returns ``(n, v, ref)``: the
    number of spikes, the voltage and the refractory time after the step.
    """
    if tau is None:
        rises = v_inf > 0
        safe_rate = ops.where(rises, v_inf, 1.0)

        def duration(start, end):  # the time to go from `start` to `end`
            return (end - start) / safe_rate

        def advance(start, time):
            return start + separate(v_inf, time)

    else:
        rises = v_inf > theta
        safe_gap = ops.where(rises, v_inf - theta, 1.0)

        def duration(start, end):
            return tau * ops.log1p((end - start) / safe_gap)

        def advance(start, time):
            return v_inf + separate(start - v_inf, ops.exp(-time / tau))

    if tau is None and ref is None:
        # Integrate-and-fire without a refractory period: whole crossings, as
        # SpikingActivation counts them (a crossing at the step's end counts, and
        # the voltage keeps what is left over).
        height = theta - v_reset
        n = ops.maximum(ops.floor((v_free - v_reset) / height), 0.0)
        return n, v_free - n * height, ref

    above = v >= theta  # (only from an initial state) a spike at the step's start
    first = ops.where(above, 0.0, duration(ops.minimum(v, theta), theta))
    fires = ops.logical_or(above, ops.logical_and(rises, first <= span))
    period = tau_ref + duration(v_reset, theta)
    more = ops.where(
        ops.logical_and(fires, rises),
        ops.floor(ops.maximum(span - first, 0.0) / period),
        0.0,
    )
    n = ops.cast(ops.where(fires, 1.0 + more, 0.0), v.dtype)
    # the time from the last spike to the step's end
    rest = ops.maximum(span - (first + more * period), 0.0)
    after_spike = advance(v_reset, ops.maximum(rest - tau_ref, 0.0))
    v_new = ops.where(fires, after_spike, v_free)
    if ref is not None:
        ref = ops.where(
            fires, ops.maximum(tau_ref - rest, 0.0), ops.maximum(ref - dt, 0.0)
        )
    return n, v_new, ref


# --- one step ----------------------------------------------------------------------


def recurrent_input(counts, kernel, bias=None):
    """The recurrent input ``counts @ kernel (+ bias)``, of the shape of
    ``counts`` (``(..., *size)``, any leading axes; the kernel is ``(prod(size),
    prod(size))``)."""
    shape = ops.shape(counts)
    flat = ops.reshape(counts, (-1, ops.shape(kernel)[0]))
    result = ops.matmul(flat, kernel)
    if bias is not None:
        result = result + bias
    return ops.reshape(result, shape)


def _synapse(options, x, current, params):
    """The synaptic current of this step: ``(drive, current)``, the current that
    drives the voltage and the one carried to the next step."""
    decay = params["syn_decay"]
    if options.integrator == "exact":
        # exact decay toward the input, which is held over the step
        current = separate(current, decay) + separate(1 - decay, x)
        return current, current
    if options.integrator == "snntorch":
        current = separate(decay, current) + x
        return current, current
    # Norse's LIFCell: jump by the input, drive with the jumped current, then
    # decay it (decay = -dt / tau_syn)
    jumped = current + x
    return jumped, jumped + separate(decay, jumped)


def _update(options, v, drive, late, params, span):
    """The voltage after one step without spiking (and without the reset)."""
    r, v_leak = params["r"], params["v_leak"]
    decay = params.get("decay")
    if options.integrator == "snntorch":
        v = separate(decay, v) + drive if options.leaky else v + drive
        return v if late is None else v + late
    if options.integrator == "norse":
        if not options.leaky:
            return v + separate(r, drive)
        if options.synapse:
            return v + separate(decay, (v_leak - v) + drive)
        return v + separate(decay, (separate(r, drive) + v_leak) - v)
    # exact (zero-order hold)
    if not options.leaky:
        return v + separate(separate(r, drive), span)
    v_inf = v_leak + separate(r, drive)
    if options.refractory:
        decay = ops.exp(-span / params["tau"])
    return v_inf + separate(v - v_inf, decay)


def lif_step(options, inputs, state, params):
    """One step of the LIF (or adaptive LIF) neurons.

    Parameters
    ----------
    options : LIFOptions
        What selects the code.
    inputs : tensor
        This step's input current, ``(batch, *size)``.
    state : dict of tensor
        The states before the step (keys `LIFOptions.state_names`), each
        ``(batch, *size)``.
    params : dict of tensor
        The numbers, each broadcastable to ``(batch, *size)`` (the recurrent
        kernel is ``(N, N)`` and its bias ``(N,)``, ``N = prod(size)``):
        ``dt``, ``threshold``, ``v_reset``, ``v_leak``, ``r``, ``tau_ref``; by
        integrator, ``decay`` (``"exact"``: ``exp(-dt/tau)``; ``"snntorch"``:
        ``beta``; ``"norse"``: ``dt / tau``) and ``tau`` (``"exact"``), and with a
        synapse ``syn_decay`` (``exp(-dt/tau_syn)``, ``alpha``, or ``-dt /
        tau_syn``); ``kernel`` (and ``bias``) when recurrent; ``adapt_decay``
        (``exp(-dt/tau_adapt)``) and ``adaptation`` when adaptive.

    Returns
    -------
    counts : tensor
        The number of spikes of each neuron in the step (0 or 1 with the step
        rule). With a surrogate, its gradient is the surrogate's.
    state : dict of tensor
        The states after the step.
    """
    o = options
    dt, v_reset = params["dt"], params["v_reset"]
    theta = params["threshold"]
    new = {}
    if o.adaptive:
        # the adaptation decays, then sets this step's threshold
        adaptation = separate(state["a"], params["adapt_decay"])
        theta = theta + separate(params["adaptation"], adaptation)

    # the input current and the recurrent input (snnTorch adds the latter last)
    x, late = inputs, None
    if o.recurrent:
        recurrent = recurrent_input(state["n"], params["kernel"], params.get("bias"))
        if o.integrator == "snntorch":
            late = recurrent
        else:
            x = x + recurrent
    if o.synapse:
        drive, new["i"] = _synapse(o, x, state["i"], params)
        if late is not None:
            # snnTorch adds the recurrent input to the current after its decay
            drive = new["i"] = drive + late
            late = None
    else:
        drive = x

    # the reset of the previous step's spike, applied now (snnTorch), from the
    # stored voltage, which was not reset
    v = state["v"]
    delayed = o.spike_rule == "step" and o.reset != "none"
    delayed = delayed and (o.reset_delay or o.integrator == "snntorch")
    wipe = delayed and o.reset == "zero" and o.integrator == "snntorch"
    wipe = wipe and (o.synapse or o.recurrent)
    if delayed:
        previous = ops.stop_gradient(heaviside(v - params["threshold"]))
        if o.reset == "zero" and not wipe:
            v = _select(previous, v_reset, v)
    span = ops.maximum(dt - state["ref"], 0.0) if o.refractory else dt
    v_free = _update(o, v, drive, late, params, span)
    if delayed and o.reset == "subtract":
        v_free = v_free - previous * (params["threshold"] - v_reset)
    elif wipe:
        v_free = _select(previous, v_reset, v_free)

    if o.spike_rule == "exact":
        n, v_exact, ref = _exact_counts(
            state["v"],
            v_free,
            state["ref"] if o.refractory else None,
            _level(o, drive, params),
            params["tau"] if o.leaky else None,
            params["tau_ref"],
            theta,
            v_reset,
            span,
            dt,
        )
        if o.refractory:
            new["ref"] = ref
        if o.surrogate is not None:
            # backward: the gradient of the step rule, with a spike where n > 0
            smooth = o.surrogate.antiderivative(v_free - theta)
            spikes = heaviside(n) + (smooth - ops.stop_gradient(smooth))
            n = n + (smooth - ops.stop_gradient(smooth))
            v_grad = _reset(o, v_free, spikes, theta, v_reset)
            v_new = ops.stop_gradient(v_exact) + (v_grad - ops.stop_gradient(v_grad))
        else:
            v_new = v_exact
    else:
        gap = v_free - theta
        n = o.surrogate(gap) if o.surrogate is not None else heaviside(gap)
        if not delayed:
            v_new = _reset(o, v_free, n, theta, v_reset)
        elif o.integrator == "snntorch" and not o.reset_delay:
            # snnTorch's same-step reset corrects the delayed one it also applied:
            # v - (s - previous) * (threshold or v)
            v_new = _snntorch_late_reset(o, v_free, n, previous, params)
        else:
            v_new = v_free
        if o.refractory:
            new["ref"] = _select(
                ops.stop_gradient(n),
                params["tau_ref"],
                ops.maximum(state["ref"] - dt, 0.0),
            )

    new["v"] = v_new
    if o.adaptive:
        new["a"] = adaptation + n
    if o.recurrent:
        new["n"] = n
    if o.surrogate is None:
        new = {k: ops.stop_gradient(value) for k, value in new.items()}
        n = ops.stop_gradient(n)
    return n, {name: new[name] for name in o.state_names}


def _level(options, drive, params):
    """What the exact spike rule needs of the drive: ``v_inf = v_leak + r I``
    (leaky), or the rate of rise ``r I`` (integrate-and-fire)."""
    if options.leaky:
        return params["v_leak"] + separate(params["r"], drive)
    return separate(params["r"], drive)


def _reset(options, v, spikes, theta, v_reset):
    """The reset in the step of the spike, with its gradient as the options say."""
    if options.reset == "none":
        return v
    detached = ops.stop_gradient(spikes)
    if options.reset == "subtract":
        amount = spikes if not options.detach_reset else detached
        return v - amount * (theta - v_reset)
    reset = _select(detached, v_reset, v)
    if options.surrogate is not None and not options.detach_reset:
        # the gradient of v * (1 - s) + s * v_reset with respect to s
        reset = reset + (spikes - detached) * ops.stop_gradient(v_reset - v)
    return reset


def _snntorch_late_reset(options, v, spikes, previous, params):
    """snnTorch's reset with ``reset_delay=False``, after its delayed one."""
    spikes_r = ops.stop_gradient(spikes) if options.detach_reset else spikes
    change = spikes_r - previous
    if options.reset == "subtract":
        return v - change * params["threshold"]
    return v - change * v
