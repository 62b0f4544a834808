"""The arguments of the LIF neurons (`LIF`, `AdaptiveLIF` and their cells, and
`LIFRate`): defaults, checks, config, and the parameter documentation their
docstrings share."""

import math

import keras
import numpy as np

from keras_spiking import surrogates
from keras_spiking.functional.lif import (
    INTEGRATORS,
    RESETS,
    SPIKE_RULES,
    LIFOptions,
)

GRADIENTS = ("rate", "surrogate")
"""tuple: How a spiking LIF layer is trained: ``"rate"`` (spikes forward, the
SoftLIF rate's gradient backward) or ``"surrogate"`` (back-propagation through
time, with a surrogate gradient for the spikes)."""

# The weight that holds each time constant, by integrator: the exact integrator
# keeps the time constant in seconds, snnTorch's keeps its per-step decay factor
# (beta, alpha), Norse's the inverse time constant (tau_mem_inv, tau_syn_inv).
WEIGHT_NAMES = {
    "exact": ("tau", "tau_syn"),
    "snntorch": ("beta", "alpha"),
    "norse": ("tau_inv", "tau_syn_inv"),
}

LIF_DEFAULTS = {
    "tau": 0.02,
    "threshold": 1.0,
    "v_reset": 0.0,
    "v_leak": 0.0,
    "r": 1.0,
    "tau_ref": 0.0,
    "tau_syn": None,
    "reset": "zero",
    "reset_delay": False,
    "amplitude": 1.0,
    "initial_voltage": 0.0,
    "recurrent": False,
    "recurrent_bias": False,
    "recurrent_initializer": "orthogonal",
    "recurrent_bias_initializer": "zeros",
    "recurrent_regularizer": None,
    "recurrent_constraint": None,
    "spike_rule": "exact",
    "integrator": "exact",
    "surrogate": "atan",
    "gradient": "rate",
    "spiking_aware_training": True,
    "detach_reset": True,
    "sigma": 0.02,
    "trainable_parameters": True,
    "tau_constraint": None,
    "threshold_constraint": None,
    "tau_syn_constraint": None,
}
ADAPTIVE_DEFAULTS = {**LIF_DEFAULTS, "spike_rule": "step"}
ADAPTIVE_DEFAULTS.update({"tau_adapt": 0.2, "adaptation": 0.2})


def _number(value, name, low=None, strict=False, allow_none=False):
    """Check that ``value`` is a finite number (or None), optionally bounded."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise ValueError(
            f"`{name}` must be a finite number{' or None' if allow_none else ''}; "
            f"got {name}={value!r}."
        )
    if low is not None and (value <= low if strict else value < low):
        relation = "more than" if strict else "at least"
        raise ValueError(f"`{name}` must be {relation} {low}; got {name}={value!r}.")
    return float(value)


def _values(value, name, positive=False, allow_none=False):
    """Check a number or an array of numbers (one per neuron); return it as a
    float or a nested list (what a config holds)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a number or an array; got {value!r}.")
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        array = None
    if array is None or not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` must be a finite number or an array of them (one per "
            f"neuron){', or None' if allow_none else ''}; got {name}={value!r}."
        )
    if positive and not np.all(array > 0):
        raise ValueError(
            f"`{name}` must be positive (a time constant in seconds); got "
            f"{name}={value!r}."
        )
    return float(array) if array.ndim == 0 else array.tolist()


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}; got "
            f"{name}={value!r}."
        )
    return value


def check_arguments(owner, arguments, adaptive=False):
    """Check the neuron arguments of a cell or layer; return them normalised."""
    a = dict(arguments)
    a["tau"] = _values(a["tau"], "tau", positive=True, allow_none=True)
    a["tau_syn"] = _values(a["tau_syn"], "tau_syn", positive=True, allow_none=True)
    a["threshold"] = _values(a["threshold"], "threshold")
    for name in ("v_reset", "v_leak", "r", "initial_voltage"):
        a[name] = _number(a[name], name)
    a["tau_ref"] = _number(a["tau_ref"], "tau_ref", low=0)
    a["amplitude"] = _number(a["amplitude"], "amplitude", low=0, strict=True)
    a["sigma"] = _number(a["sigma"], "sigma", low=0)
    a["reset"] = check_choice(a["reset"], "reset", RESETS)
    a["spike_rule"] = check_choice(a["spike_rule"], "spike_rule", SPIKE_RULES)
    a["integrator"] = check_choice(a["integrator"], "integrator", INTEGRATORS)
    a["gradient"] = check_choice(a["gradient"], "gradient", GRADIENTS)
    a["surrogate"] = surrogates.get(a["surrogate"])
    for name in (
        "reset_delay",
        "recurrent",
        "recurrent_bias",
        "detach_reset",
        "trainable_parameters",
    ):
        a[name] = bool(a[name])
    a["spiking_aware_training"] = bool(a["spiking_aware_training"])
    for name in ("recurrent_initializer", "recurrent_bias_initializer"):
        a[name] = keras.initializers.get(a[name])
    a["recurrent_regularizer"] = keras.regularizers.get(a["recurrent_regularizer"])
    for name in (
        "recurrent_constraint",
        "tau_constraint",
        "threshold_constraint",
        "tau_syn_constraint",
    ):
        a[name] = keras.constraints.get(a[name])
    if adaptive:
        a["tau_adapt"] = _number(a["tau_adapt"], "tau_adapt", low=0, strict=True)
        a["adaptation"] = _number(a["adaptation"], "adaptation")

    def fail(message):
        raise ValueError(f"{owner}: {message}")

    spike_rule, integrator = a["spike_rule"], a["integrator"]
    if np.any(np.asarray(a["threshold"]) <= a["v_reset"]):
        fail(
            f"`threshold` must be above `v_reset`; got threshold={a['threshold']!r}, "
            f"v_reset={a['v_reset']!r}."
        )
    if spike_rule == "exact":
        if integrator != "exact":
            fail(
                f"spike_rule='exact' is the continuous-time neuron, computed with "
                f"integrator='exact'; got integrator={integrator!r}. Use "
                f"spike_rule='step' with the {integrator} integrator."
            )
        if a["reset_delay"]:
            fail("reset_delay=True needs spike_rule='step'.")
        if a["reset"] == "none":
            fail(
                "reset='none' needs spike_rule='step' (else a neuron above "
                "threshold would fire without end)."
            )
    if a["reset_delay"] and a["reset"] == "none":
        fail("reset_delay=True needs a reset ('zero' or 'subtract').")
    if integrator != "exact" and a["tau_ref"] > 0:
        fail(
            f"a refractory period (tau_ref > 0) needs integrator='exact'; got "
            f"integrator={integrator!r}, tau_ref={a['tau_ref']!r}."
        )
    if integrator == "snntorch":
        if a["r"] != 1 or a["v_leak"] != 0:
            fail(
                f"integrator='snntorch' adds the input unscaled and has no leak "
                f"level: it needs r=1 and v_leak=0; got r={a['r']!r}, "
                f"v_leak={a['v_leak']!r}."
            )
    if integrator == "norse" and a["reset_delay"]:
        fail("integrator='norse' resets in the step of the spike: reset_delay=False.")
    if a["recurrent_bias"] and not a["recurrent"]:
        fail("recurrent_bias=True needs recurrent=True.")
    if a["recurrent"] and not a["spiking_aware_training"]:
        fail(
            "a recurrent layer trains on its spikes: spiking_aware_training=False "
            "(the rate path, which has no spikes to feed back) needs "
            "recurrent=False."
        )
    if adaptive:
        if spike_rule != "step":
            fail("an adaptive neuron needs spike_rule='step'.")
        if integrator == "snntorch" or a["reset_delay"]:
            fail(
                "an adaptive neuron resets in the step of its spike: it needs "
                "reset_delay=False and integrator 'exact' or 'norse'."
            )
    return a


def arguments_config(arguments):
    """The config entries of the neuron arguments (serialising sub-objects)."""
    config = dict(arguments)
    config["surrogate"] = surrogates.serialize(arguments["surrogate"])
    for name in ("recurrent_initializer", "recurrent_bias_initializer"):
        config[name] = keras.initializers.serialize(arguments[name])
    config["recurrent_regularizer"] = (
        None
        if arguments["recurrent_regularizer"] is None
        else keras.regularizers.serialize(arguments["recurrent_regularizer"])
    )
    for name in (
        "recurrent_constraint",
        "tau_constraint",
        "threshold_constraint",
        "tau_syn_constraint",
    ):
        value = arguments[name]
        config[name] = None if value is None else keras.constraints.serialize(value)
    return config


def broadcast_parameter(values, size, name):
    """A number or an array of one per neuron, as an array of the per-step shape."""
    array = np.asarray(values, dtype="float64")
    try:
        return np.broadcast_to(array, size).copy()
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {array.shape} does not fit the per-step shape "
            f"{size}: give one value, or an array of shape {size} (or one that "
            f"broadcasts to it)."
        ) from None


def time_weight_values(values, integrator, dt, name):
    """The initial value of a time-constant weight, in the integrator's form."""
    if integrator == "exact":
        return values
    if integrator == "norse":
        return 1 / values
    if np.any(values < dt):
        raise ValueError(
            f"integrator='snntorch' steps with the factor 1 - dt/{name}, which is a "
            f"decay only for {name} >= dt; got {name} down to {values.min()!r} "
            f"with dt={dt!r}. Use a larger `{name}` or a smaller `dt`."
        )
    return 1 - dt / values


def lif_options(a, adaptive, surrogate=True):
    """The `LIFOptions` of checked neuron arguments."""
    return LIFOptions(
        spike_rule=a["spike_rule"],
        integrator=a["integrator"],
        reset=a["reset"],
        reset_delay=a["reset_delay"],
        leaky=a["tau"] is not None,
        synapse=a["tau_syn"] is not None,
        refractory=a["tau_ref"] > 0,
        recurrent=a["recurrent"],
        recurrent_bias=a["recurrent_bias"],
        adaptive=adaptive,
        surrogate=(
            a["surrogate"] if surrogate and a["gradient"] == "surrogate" else None
        ),
        detach_reset=a["detach_reset"],
    )


NEURON_PARAMETERS = """
    tau : float or array or None
        The membrane time constant, in seconds: one for all neurons or one per
        neuron (an array of the per-step shape, or one that broadcasts to it).
        None gives the integrate-and-fire neuron, ``dv/dt = r I``.
    threshold : float or array
        The threshold ``theta``: a neuron spikes when its voltage passes it.
    v_reset : float
        The voltage after a spike (``reset="zero"``); with ``reset="subtract"`` a
        spike takes ``threshold - v_reset`` off the voltage.
    v_leak : float
        The voltage the neuron leaks toward without input.
    r : float
        The input gain: the input ``I`` moves the voltage toward ``v_leak + r I``.
    tau_ref : float
        The refractory period, in seconds (``integrator="exact"`` only): after a
        spike the voltage stays at ``v_reset`` this long.
    tau_syn : float or array or None
        The time constant of a synaptic current that filters the input before it
        reaches the voltage (the current-based, "CubaLIF", neuron); None for none.
    reset : {"zero", "subtract", "none"}
        After a spike, set the voltage to ``v_reset`` (``"zero"``), take
        ``threshold - v_reset`` off it (``"subtract"``), or leave it
        (``"none"``, ``spike_rule="step"`` only).
    reset_delay : bool
        Apply the reset in the next step's update instead of at the spike (the
        voltage returned for the step of the spike is the one that passed the
        threshold), as snnTorch does by default (``spike_rule="step"`` only).
    amplitude : float
        The area of a spike: the output of a step with ``n`` spikes is ``n *
        amplitude / dt`` (1 gives unit-area events, like `SpikingActivation`;
        ``amplitude=dt`` gives a 1 for each spike, like snnTorch and Norse).
    initial_voltage : float
        The voltage each neuron starts from (other states start at zero).
    recurrent : bool
        Feed the spikes of each step back as input to the next, through a
        ``(N, N)`` weight matrix (``N`` neurons): the recurrent input is
        ``n_prev @ recurrent_kernel``, with ``n_prev`` the previous step's spike
        counts.
    recurrent_bias : bool
        Add a bias to the recurrent input (from the first step on, as snnTorch's
        ``RLeaky``).
    recurrent_initializer : str or ``keras.initializers.Initializer``
        Initializer of the recurrent kernel.
    recurrent_bias_initializer : str or ``keras.initializers.Initializer``
        Initializer of the recurrent bias.
    recurrent_regularizer : str or ``keras.regularizers.Regularizer``
        Regularizer of the recurrent kernel.
    recurrent_constraint : str or ``keras.constraints.Constraint``
        Constraint of the recurrent kernel.
    spike_rule : {"exact", "step"}
        ``"exact"``: the continuous-time neuron with the input held over each
        step, its spikes counted exactly (several may fall in one step);
        ``"step"``: one update per step, then one threshold check (``v >
        threshold``), at most one spike per step. See the notes.
    integrator : {"exact", "snntorch", "norse"}
        How a step's update is computed: the exact (zero-order-hold) solution, or
        the float32 order of operations of snnTorch or Norse (see the notes).
    surrogate : str or type or `keras_spiking.surrogates.Surrogate`
        The surrogate gradient of a spike, for ``gradient="surrogate"`` (see
        `keras_spiking.surrogates.get`).
    gradient : {"rate", "surrogate"}
        How spiking training (``spiking_aware_training=True``) computes
        gradients: ``"rate"`` passes the gradient of the SoftLIF rate of each
        step's input straight through the spikes (nothing flows through the
        voltage, as in `SpikingActivation`); ``"surrogate"`` back-propagates
        through time through the states, with the surrogate's gradient for each
        spike.
    spiking_aware_training : bool
        If True (default), training runs the spiking neurons (with the
        ``gradient`` above); if False, training computes the SoftLIF rate of each
        step's input (no spikes, states unchanged): train a rate network, then
        run it spiking.
    detach_reset : bool
        With ``gradient="surrogate"``, whether the reset carries no gradient
        (True, as snnTorch), or the gradient of the spike flows through it too.
    sigma : float
        The smoothing of the SoftLIF rate, in units of voltage (0: the exact
        rate, whose gradient is infinite at the threshold).
    trainable_parameters : bool
        Whether ``tau``, ``tau_syn`` and ``threshold`` are trainable weights
        (the recurrent weights always are). An optimizer's step is a step in
        their own units (seconds, for ``tau``): with a learning rate that is
        large next to ``tau`` (e.g. Adam at 0.01 and ``tau=0.02``), freeze them
        or constrain them.
    tau_constraint : ``keras.constraints.Constraint``
        Constraint of the ``tau`` weight.
    threshold_constraint : ``keras.constraints.Constraint``
        Constraint of the ``threshold`` weight.
    tau_syn_constraint : ``keras.constraints.Constraint``
        Constraint of the ``tau_syn`` weight."""

ADAPTIVE_PARAMETERS = """
    tau_adapt : float
        The time constant of the adaptation, in seconds.
    adaptation : float
        ``beta``: how much one unit of adaptation raises the threshold."""

LAYER_PARAMETERS = """
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    return_sequences : bool
        Whether to return the full sequence of output spikes (default), or just the
        spikes on the last timestep.
    return_state : bool
        Whether to return the states (in the order of `state_names`) in addition
        to the output.
    stateful : bool
        If False (default), each time the layer is called it will begin from the
        same initial conditions. If True, each call will resume from the terminal
        state of the previous call (``my_layer.reset_states()`` can be called to
        reset the state to initial conditions).
    unroll : bool
        If True, the network will be unrolled, else a symbolic loop will be used.
    time_major : bool
        The shape format of the input and output tensors. If True, the inputs and
        outputs will be in shape ``(timesteps, batch, ...)``, whereas in the False
        case, it will be ``(batch, timesteps, ...)``.
    step_loop : bool or None
        True runs the cell one step at a time in a ``keras.layers.RNN``, False
        computes the whole sequence at once (`keras_spiking.sequence.neuron_sequence`),
        None (default) takes whichever is faster: the whole sequence on
        TensorFlow without a GPU (an XLA-compiled loop), else the step loop.
    kwargs : dict
        Passed on to ``keras.layers.Layer``."""

NEURON_NOTES = """
    **The neuron.** Each neuron's voltage follows ``tau dv/dt = (v_leak - v) + r
    I`` (NIR's LIF), with ``I`` the input (or, with ``tau_syn``, a synaptic
    current, ``tau_syn di/dt = -i + I_in``). The voltage starts at
    ``initial_voltage``. The weights are ``tau``, ``tau_syn`` and ``threshold``
    (trainable, unless the layer is made with ``trainable=False``) and the
    recurrent kernel and bias.

    **Spike rules.** With ``spike_rule="exact"`` each step holds its input over
    the step and solves the neuron exactly: the voltage goes ``v <- v_inf + (v -
    v_inf) exp(-dt/tau)`` toward ``v_inf = v_leak + r I``, it reaches the
    threshold after ``tau ln((v_inf - v)/(v_inf - threshold))``, and fires
    again every ``tau_ref + tau ln((v_inf - v_reset)/(v_inf - threshold))``;
    all the spikes that fall in the step are counted (a crossing at the step's
    end in that step), and the refractory time left carries over to the next
    step. At a crossing the voltage is exactly the threshold, so ``"zero"`` and
    ``"subtract"`` resets are the same. Over a long run the rate is exactly the
    LIF rate (`keras_spiking.functional.lif_rate` with ``sigma=0``), whatever
    ``dt``. Without ``tau``, and with ``tau_ref=0``, ``threshold=1`` and
    ``v_reset=0``, it is `SpikingActivation`'s rule. With ``spike_rule="step"``
    the voltage takes the same exact decay once per step, then fires if it is
    above the threshold (``v > threshold``; at most one spike) and resets: the
    discrete neuron of snnTorch and Norse.

    **Integrators.** ``integrator="exact"`` computes the update as above (with a
    synapse, the current decays exactly toward the input, ``i <- i e + (1 - e)
    I_in``, ``e = exp(-dt/tau_syn)``, and the voltage then takes the new current
    as held over the step, which is exact for the current but not for the
    coupling). ``"snntorch"`` computes ``v <- beta v + I`` (with a synapse ``i <-
    alpha i + I``, then ``v <- beta v + i``), with ``beta = 1 - dt/tau`` and
    ``alpha = 1 - dt/tau_syn`` the weights (named ``beta``, ``alpha``), and the
    reset of the previous step's spike inside the update (snnTorch's
    ``reset_delay=False`` is its own variant of this); it needs ``r=1`` and
    ``v_leak=0``. ``"norse"`` computes ``v <- v + dt/tau ((r I + v_leak) - v)``
    (Norse's ``LIFBoxCell``; with a synapse its ``LIFCell``: the current jumps by
    the input, drives the voltage, then decays by ``dt/tau_syn``; without
    ``tau``, ``v <- v + r I`` with no ``dt``, its ``IAFCell``), with the inverse
    time constants as the weights (``tau_inv``, ``tau_syn_inv``). Each keeps
    that library's float32 order of operations, so that the classmethods
    (`LIF.from_snntorch_leaky`, `LIF.from_norse_lif`, ...) give its spikes bit
    for bit. A forward-Euler factor ``1 - dt/tau`` is the exact decay of
    ``tau' = -dt / log1p(-dt/tau)`` (`keras_spiking.functional.euler_tau`).

    **Training.** Three ways: ``spiking_aware_training=False`` trains the
    SoftLIF rate (NengoDL's way: ``amplitude / (tau_ref + tau log1p((threshold -
    v_reset)/z))`` with ``z = sigma softplus((v_inf - threshold)/sigma)``), and
    inference runs the spikes; the default trains on the spikes with the rate's
    gradient; ``gradient="surrogate"`` back-propagates through time with a
    surrogate gradient (the reset detached, unless ``detach_reset=False``; with
    ``spike_rule="exact"`` the backward pass is that of the step rule).

    This layer is equivalent to ``keras.layers.RNN`` of its cell; it takes care
    of the time axis, ``time_major``, masking and the initial state."""


def document(cls, parameters):
    """Fill in the shared parts of the docstring of ``cls``: the neuron's
    ``parameters``, the layer's (where it has them) and the notes."""
    cls.__doc__ = (
        cls.__doc__.replace("{parameters}", parameters)
        .replace("{layer_parameters}", LAYER_PARAMETERS)
        .replace("{notes}", NEURON_NOTES)
    )
    return cls
