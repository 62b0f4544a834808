"""Leaky integrate-and-fire neurons: `LIFCell` and `AdaptiveLIFCell`, each beside
its layer (`LIF`, `AdaptiveLIF`), and `LIFRate`, their firing rate as a layer
without a time axis (for training a rate model to convert)."""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import sequence, surrogates
from keras_spiking._dt import dt_value
from keras_spiking._saving import register
from keras_spiking.config import default
from keras_spiking.functional.filters import floor_tau
from keras_spiking.functional.lif import (
    INTEGRATORS,
    RESETS,
    SPIKE_RULES,
    LIFOptions,
    lif_rate,
    lif_step,
    recurrent_input,
)
from keras_spiking.layers.base import KerasSpikingCell, KerasSpikingLayer, as_shape

GRADIENTS = ("rate", "surrogate")
"""tuple: How a spiking LIF layer is trained: ``"rate"`` (spikes forward, the
SoftLIF rate's gradient backward) or ``"surrogate"`` (back-propagation through
time, with a surrogate gradient for the spikes)."""

# The weight that holds each time constant, by integrator: the exact integrator
# keeps the time constant in seconds, snnTorch's keeps its per-step decay factor
# (beta, alpha), Norse's the inverse time constant (tau_mem_inv, tau_syn_inv).
_WEIGHT_NAMES = {
    "exact": ("tau", "tau_syn"),
    "snntorch": ("beta", "alpha"),
    "norse": ("tau_inv", "tau_syn_inv"),
}

_LIF_DEFAULTS = {
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
_ADAPTIVE_DEFAULTS = {**_LIF_DEFAULTS, "spike_rule": "step"}
_ADAPTIVE_DEFAULTS.update({"tau_adapt": 0.2, "adaptation": 0.2})


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


def _choice(value, name, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}; got "
            f"{name}={value!r}."
        )
    return value


def _check_arguments(owner, arguments, adaptive=False):
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
    a["reset"] = _choice(a["reset"], "reset", RESETS)
    a["spike_rule"] = _choice(a["spike_rule"], "spike_rule", SPIKE_RULES)
    a["integrator"] = _choice(a["integrator"], "integrator", INTEGRATORS)
    a["gradient"] = _choice(a["gradient"], "gradient", GRADIENTS)
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


def _arguments_config(arguments):
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


def _broadcast(values, size, name):
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


def _time_weight_values(values, integrator, dt, name):
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


class _LIFCellBase(KerasSpikingCell):
    """The cell of `LIF` and `AdaptiveLIF`."""

    adaptive = False
    defaults = _LIF_DEFAULTS

    def __init__(self, size, dt=None, **arguments):
        unknown = set(arguments) - set(self.defaults)
        # (anything else goes to keras.layers.Layer)
        kwargs = {k: arguments.pop(k) for k in unknown}
        self.arguments = _check_arguments(
            type(self).__name__, {**self.defaults, **arguments}, self.adaptive
        )
        self.options = _options(self.arguments, self.adaptive)
        size = as_shape(size)
        super().__init__(
            size=size,
            state_size=[size] * len(self.options.state_names),
            dt=dt,
            always_use_inference=self.arguments["spiking_aware_training"],
            **kwargs,
        )

    @property
    def state_names(self):
        """list of str: The names of the states, in order: ``"v"`` (voltage),
        then, where the neuron has them, ``"i"`` (synaptic current), ``"ref"``
        (refractory time left, in seconds), ``"a"`` (adaptation) and ``"n"`` (the
        previous step's spike counts)."""
        return self.options.state_names

    def build(self, input_shape):
        """Create the weights: ``tau`` (named by integrator: ``tau``, ``beta`` or
        ``tau_inv``), ``tau_syn`` (``tau_syn``, ``alpha``, ``tau_syn_inv``),
        ``threshold``, and the recurrent kernel and bias, those the neuron has, in
        that order."""
        super().build(input_shape)
        a = self.arguments
        integrator = a["integrator"]
        dt = dt_value(self.dt)
        names = _WEIGHT_NAMES[integrator]
        self.tau = self.tau_syn = None
        for attribute, name, constraint in (
            ("tau", names[0], a["tau_constraint"]),
            ("tau_syn", names[1], a["tau_syn_constraint"]),
        ):
            if a[attribute] is None:
                continue
            values = _time_weight_values(
                _broadcast(a[attribute], self.size, attribute),
                integrator,
                dt,
                attribute,
            )
            setattr(
                self,
                attribute,
                self.add_weight(
                    name=name,
                    shape=self.size,
                    initializer=keras.initializers.Constant(
                        np.asarray(values, "float32")
                    ),
                    constraint=constraint,
                    trainable=a["trainable_parameters"],
                ),
            )
        self.threshold = self.add_weight(
            name="threshold",
            shape=self.size,
            initializer=keras.initializers.Constant(
                _broadcast(a["threshold"], self.size, "threshold").astype("float32")
            ),
            constraint=a["threshold_constraint"],
            trainable=a["trainable_parameters"],
        )
        self.recurrent_kernel = self.recurrent_bias = None
        if a["recurrent"]:
            units = math.prod(self.size)
            self.recurrent_kernel = self.add_weight(
                name="recurrent_kernel",
                shape=(units, units),
                initializer=a["recurrent_initializer"],
                regularizer=a["recurrent_regularizer"],
                constraint=a["recurrent_constraint"],
            )
            if a["recurrent_bias"]:
                self.recurrent_bias = self.add_weight(
                    name="recurrent_bias",
                    shape=(units,),
                    initializer=a["recurrent_bias_initializer"],
                )

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The voltage starts at ``initial_voltage``, every other state at zero.

        Parameters
        ----------
        inputs : tensor, optional
            A tensor whose first axis gives the batch size.
        batch_size : int or tensor, optional
            The batch size, when ``inputs`` is not given.
        dtype : str, optional
            The dtype of the state (default: the cell's compute dtype).
        """
        states = super().get_initial_state(inputs, batch_size, dtype)
        states[0] = states[0] + self.arguments["initial_voltage"]
        return states

    # --- the numbers of a step -------------------------------------------------

    def _weight(self, weight):
        return ops.cast(weight, self.compute_dtype)

    def _constant(self, value):
        return ops.convert_to_tensor(value, dtype=self.compute_dtype)

    def step_params(self):
        """The numbers of one step, from the weights and ``dt``: the ``params`` of
        `keras_spiking.functional.lif_step`."""
        a, o = self.arguments, self.options
        dt = self._dt()
        params = {
            "dt": dt,
            "threshold": self._weight(self.threshold),
            "v_reset": self._constant(a["v_reset"]),
            "v_leak": self._constant(a["v_leak"]),
            "r": self._constant(a["r"]),
            "tau_ref": self._constant(a["tau_ref"]),
        }
        if o.leaky:
            weight = self._weight(self.tau)
            if o.integrator == "exact":
                params["tau"] = floor_tau(weight)
                params["decay"] = ops.exp(-dt / params["tau"])
            elif o.integrator == "snntorch":
                params["decay"] = ops.clip(weight, 0.0, 1.0)
            else:
                params["decay"] = dt * weight
        if o.synapse:
            weight = self._weight(self.tau_syn)
            if o.integrator == "exact":
                params["syn_decay"] = ops.exp(-dt / floor_tau(weight))
            elif o.integrator == "snntorch":
                params["syn_decay"] = ops.clip(weight, 0.0, 1.0)
            else:
                params["syn_decay"] = -dt * weight
        if o.recurrent:
            params["kernel"] = self._weight(self.recurrent_kernel)
            if o.recurrent_bias:
                params["bias"] = self._weight(self.recurrent_bias)
        if o.adaptive:
            params["adapt_decay"] = ops.exp(-dt / a["tau_adapt"])
            params["adaptation"] = self._constant(a["adaptation"])
        return params

    def rate(self, inputs):
        """The SoftLIF rate of the neurons for a constant input, times
        ``amplitude`` (`keras_spiking.functional.lif_rate` with the neuron's
        parameters and ``sigma``).

        For the snnTorch and Norse integrators the rate is that of the exact
        neuron with the same decay per step and the same steady voltage; an
        adaptive neuron's rate leaves out the adaptation.
        """
        function, tensors = self._rate_function()
        return function(inputs, *tensors)

    def _rate_function(self):
        """The rate as a function of ``(current, *tensors)``, and the tensors
        (weights and ``dt``) it needs besides the current."""
        a, o = self.arguments, self.options
        leaky = o.leaky
        synapse = o.synapse and o.integrator != "exact"
        tensors = [self._dt(), self._weight(self.threshold)]
        tensors += [self._weight(self.tau)] if leaky else []
        tensors += [self._weight(self.tau_syn)] if synapse else []

        def rate(current, dt, threshold, *weights):
            tau, r = None, a["r"]
            if leaky:
                weight = weights[0]
                if o.integrator == "exact":
                    tau = floor_tau(weight)
                elif o.integrator == "snntorch":
                    beta = ops.clip(weight, 1e-7, 1 - 1e-7)
                    tau, r = -dt / ops.log(beta), 1 / (1 - beta)
                else:
                    tau = -dt / ops.log1p(-ops.clip(dt * weight, 1e-7, 1 - 1e-7))
            elif o.integrator != "exact":
                r = r / dt  # a step adds r * I, whatever dt
            if synapse:
                # the steady current of the peers' synapses, for a constant input
                weight = weights[-1]
                if o.integrator == "snntorch":
                    r = r / (1 - ops.clip(weight, 0.0, 1 - 1e-7))
                else:
                    r = r / ops.clip(dt * weight, 1e-7, None)
            return lif_rate(
                current,
                tau,
                threshold=threshold,
                v_reset=a["v_reset"],
                v_leak=a["v_leak"],
                r=r,
                tau_ref=a["tau_ref"],
                amplitude=a["amplitude"],
                sigma=a["sigma"],
            )

        return rate, tensors

    # --- the two paths ---------------------------------------------------------

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``
        (``spiking_aware_training=False``): the SoftLIF `rate`, with the states
        left unchanged."""
        return self.rate(inputs), states

    def _spikes(self, counts):
        return counts * (self.arguments["amplitude"] / self._dt())

    def call_inference(self, inputs, states):
        """Compute the spikes of one step (`keras_spiking.functional.lif_step`).

        Parameters
        ----------
        inputs : tensor
            The input current of this step.
        states : list of tensor
            The states, in the order of `state_names`.

        Returns
        -------
        spikes : tensor
            ``n * amplitude / dt``, with ``n`` the number of spikes of each neuron
            in the step. With ``gradient="rate"`` its gradient is that of the
            SoftLIF `rate` of the input (nothing flows into the states); with
            ``gradient="surrogate"`` it is back-propagated through the states,
            with the surrogate gradient for each spike.
        states : list of tensor
            The new states.
        """
        state = dict(zip(self.state_names, states, strict=True))
        params = self.step_params()
        if self.arguments["gradient"] == "surrogate":
            counts, state = lif_step(self.options, inputs, state, params)
            return self._spikes(counts), [state[k] for k in self.state_names]
        counts, new = lif_step(self._rate_options, inputs, state, params)
        spikes = self._spikes(counts)
        current = inputs
        if self.options.recurrent:
            current = current + recurrent_input(
                state["n"], params["kernel"], params.get("bias")
            )
        rates = self.rate(current)
        return (
            ops.stop_gradient(spikes) + (rates - ops.stop_gradient(rates)),
            [new[k] for k in self.state_names],
        )

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`),
        with `keras_spiking.sequence.neuron_sequence`: on TensorFlow without a GPU
        an XLA-compiled loop of the same step, elsewhere ``keras.ops.scan``."""
        time_axis = 0 if time_major else 1
        state = dict(zip(self.state_names, states, strict=True))
        params = self.step_params()
        surrogate = self.arguments["gradient"] == "surrogate"
        options = self.options if surrogate else self._rate_options
        counts, final = sequence.neuron_sequence(
            lif_step, options, inputs, state, params, time_axis
        )
        spikes = self._spikes(counts)
        final = [final[k] for k in self.state_names]
        if surrogate:
            return spikes, final
        current = inputs
        if self.options.recurrent:
            # the spikes of the step before each step
            first = ops.expand_dims(state["n"], time_axis)
            before = ops.concatenate(
                [first, counts[:-1] if time_major else counts[:, :-1]], axis=time_axis
            )
            current = current + recurrent_input(
                before, params["kernel"], params.get("bias")
            )
        function, tensors = self._rate_function()
        return sequence.straight_through_of(spikes, function, current, *tensors), final

    @property
    def _rate_options(self):
        """The options of a step with no gradient (for ``gradient="rate"``)."""
        return _options(self.arguments, self.adaptive, surrogate=False)

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        for base_only in ("state_size", "always_use_inference"):
            config.pop(base_only)
        config.update(_arguments_config(self.arguments))
        return config


def _options(a, adaptive, surrogate=True):
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


class _LIFLayerBase(KerasSpikingLayer):
    """The layer of `LIFCell` or `AdaptiveLIFCell` (``cell_class``)."""

    cell_class = None

    def __init__(
        self,
        dt=None,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        step_loop=None,
        **arguments,
    ):
        defaults = self.cell_class.defaults
        kwargs = {k: arguments.pop(k) for k in set(arguments) - set(defaults)}
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            step_loop=step_loop,
            **kwargs,
        )
        self.arguments = _check_arguments(
            type(self).__name__, {**defaults, **arguments}, self.cell_class.adaptive
        )

    @property
    def state_names(self):
        """list of str: The names of the states (see `LIFCell.state_names`), in
        the order ``return_state=True`` returns them and ``initial_state`` takes
        them."""
        return _options(self.arguments, self.cell_class.adaptive).state_names

    def build_cell(self, input_shapes):
        """Create the cell for per-step shape ``input_shapes``."""
        return self.cell_class(
            size=input_shapes,
            dt=self.dt,
            dtype=self.cell_dtype,
            trainable=self.trainable,
            **self.arguments,
        )

    def _use_step_loop(self, inputs, mask):
        """Whether to run the step loop (`keras_spiking.sequence.layer_path`; these
        neurons have no blocked form)."""
        return sequence.layer_path(
            self.step_loop,
            None,
            unroll=self.unroll,
            masked=mask is not None,
            blocked=False,
        )

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(_arguments_config(self.arguments))
        return config


_NEURON_PARAMETERS = """
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

_ADAPTIVE_PARAMETERS = """
    tau_adapt : float
        The time constant of the adaptation, in seconds.
    adaptation : float
        ``beta``: how much one unit of adaptation raises the threshold."""

_LAYER_PARAMETERS = """
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

_NEURON_NOTES = """
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


def _document(cls, parameters):
    cls.__doc__ = cls.__doc__.replace("{parameters}", parameters).replace(
        "{notes}", _NEURON_NOTES
    )
    return cls


@register
class LIFCell(_LIFCellBase):
    """RNN cell of leaky integrate-and-fire neurons (see `LIF`).

    Parameters
    ----------
    size : int or tuple of int
        Input/output shape of the layer (without batch and time axes).{parameters}
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt``. With ``integrator="snntorch"`` the weights
        hold per-step factors computed with its value when the cell is built.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----{notes}
    """

    def __init__(
        self,
        size,
        tau=0.02,
        threshold=1.0,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        tau_syn=None,
        reset="zero",
        reset_delay=False,
        amplitude=1.0,
        initial_voltage=0.0,
        recurrent=False,
        recurrent_bias=False,
        recurrent_initializer="orthogonal",
        recurrent_bias_initializer="zeros",
        recurrent_regularizer=None,
        recurrent_constraint=None,
        spike_rule="exact",
        integrator="exact",
        surrogate="atan",
        gradient="rate",
        spiking_aware_training=True,
        detach_reset=True,
        sigma=0.02,
        trainable_parameters=True,
        tau_constraint=None,
        threshold_constraint=None,
        tau_syn_constraint=None,
        dt=None,
        **kwargs,
    ):
        arguments = {k: v for k, v in locals().items() if k in _LIF_DEFAULTS}
        super().__init__(size, dt=dt, **arguments, **kwargs)


@register
class AdaptiveLIFCell(_LIFCellBase):
    """RNN cell of adaptive leaky integrate-and-fire neurons (see
    `AdaptiveLIF`).

    Parameters
    ----------
    size : int or tuple of int
        Input/output shape of the layer (without batch and time axes).{parameters}
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt``.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.
    """

    adaptive = True
    defaults = _ADAPTIVE_DEFAULTS

    def __init__(
        self,
        size,
        tau=0.02,
        threshold=1.0,
        tau_adapt=0.2,
        adaptation=0.2,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        tau_syn=None,
        reset="zero",
        reset_delay=False,
        amplitude=1.0,
        initial_voltage=0.0,
        recurrent=False,
        recurrent_bias=False,
        recurrent_initializer="orthogonal",
        recurrent_bias_initializer="zeros",
        recurrent_regularizer=None,
        recurrent_constraint=None,
        spike_rule="step",
        integrator="exact",
        surrogate="atan",
        gradient="rate",
        spiking_aware_training=True,
        detach_reset=True,
        sigma=0.02,
        trainable_parameters=True,
        tau_constraint=None,
        threshold_constraint=None,
        tau_syn_constraint=None,
        dt=None,
        **kwargs,
    ):
        arguments = {k: v for k, v in locals().items() if k in _ADAPTIVE_DEFAULTS}
        super().__init__(size, dt=dt, **arguments, **kwargs)


@register
class LIF(_LIFLayerBase):
    """Layer of leaky integrate-and-fire neurons.

    Each element of a step's input is the input current of one neuron; the
    output is its spikes, ``n * amplitude / dt`` for ``n`` spikes in the step.
    The neurons can be trained on their rates and run spiking, or trained on
    their spikes, with the rate's gradient or with surrogate gradients through
    time; the classmethods build the neurons of snnTorch and Norse, spike for
    spike.

    The input needs a time axis (before the batch axis when ``time_major=True``,
    after it otherwise).

    Parameters
    ----------{parameters}{layer_parameters}

    Notes
    -----{notes}

    Examples
    --------
    >>> import numpy as np
    >>> layer = keras_spiking.LIF(tau=0.02, dt=0.001, amplitude=0.001)
    >>> spikes = layer(np.full((1, 1000, 1), 2.0, dtype="float32"))
    >>> int(keras.ops.sum(spikes))  # 1 s at the rate 1 / (0.02 ln 2)
    72
    """

    cell_class = LIFCell

    def __init__(
        self,
        tau=0.02,
        threshold=1.0,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        tau_syn=None,
        reset="zero",
        reset_delay=False,
        amplitude=1.0,
        initial_voltage=0.0,
        recurrent=False,
        recurrent_bias=False,
        recurrent_initializer="orthogonal",
        recurrent_bias_initializer="zeros",
        recurrent_regularizer=None,
        recurrent_constraint=None,
        spike_rule="exact",
        integrator="exact",
        surrogate="atan",
        gradient="rate",
        spiking_aware_training=True,
        detach_reset=True,
        sigma=0.02,
        trainable_parameters=True,
        tau_constraint=None,
        threshold_constraint=None,
        tau_syn_constraint=None,
        dt=None,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        step_loop=None,
        **kwargs,
    ):
        arguments = {k: v for k, v in locals().items() if k in _LIF_DEFAULTS}
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            step_loop=step_loop,
            **arguments,
            **kwargs,
        )

    # --- recipes: the peers' neurons -------------------------------------------

    @classmethod
    def from_snntorch_leaky(
        cls,
        beta,
        threshold=1.0,
        reset_mechanism="subtract",
        reset_delay=True,
        dt=None,
        **kwargs,
    ):
        """The neurons of snnTorch's ``Leaky(beta, threshold, reset_mechanism,
        reset_delay)``, spike for spike.

        ``v <- beta v + I``; a spike (1) when ``v > threshold``; the reset
        (``"subtract"`` the threshold, ``"zero"``, or ``"none"``) in the next
        step's update when ``reset_delay=True`` (snnTorch's default). The output
        is 1 per spike (``amplitude=dt``), the voltage starts at 0, and training
        back-propagates through time with snnTorch's default surrogate,
        `keras_spiking.surrogates.ATan` (``alpha=2``), the reset detached when
        snnTorch detaches it (``reset_delay=True``).

        Parameters
        ----------
        beta : float
            The decay factor per step (``0 <= beta <= 1``).
        threshold : float
            The threshold.
        reset_mechanism : {"subtract", "zero", "none"}
            snnTorch's reset.
        reset_delay : bool
            snnTorch's ``reset_delay``.
        dt : float, optional
            The time step the layer states (snnTorch has none; the spikes do not
            depend on it); default ``keras_spiking.default.dt``.
        kwargs : dict
            Any other `LIF` arguments (e.g. ``surrogate``, ``return_state``).

        Returns
        -------
        LIF
        """
        return cls(
            **_snntorch_arguments(
                beta, None, threshold, reset_mechanism, reset_delay, dt
            ),
            **kwargs,
        )

    @classmethod
    def from_snntorch_synaptic(
        cls,
        alpha,
        beta,
        threshold=1.0,
        reset_mechanism="subtract",
        reset_delay=True,
        dt=None,
        **kwargs,
    ):
        """The neurons of snnTorch's ``Synaptic(alpha, beta, threshold,
        reset_mechanism, reset_delay)``, spike for spike.

        The current first, ``i <- alpha i + I``, then the voltage, ``v <- beta v +
        i``; otherwise as `from_snntorch_leaky` (a delayed ``"zero"`` reset sets
        the whole update, input included, to 0, as snnTorch does).

        Parameters
        ----------
        alpha : float
            The decay factor of the current per step.
        beta : float
            The decay factor of the voltage per step.
        threshold, reset_mechanism, reset_delay, dt, kwargs
            As for `from_snntorch_leaky`.

        Returns
        -------
        LIF
        """
        return cls(
            **_snntorch_arguments(
                beta, alpha, threshold, reset_mechanism, reset_delay, dt
            ),
            **kwargs,
        )

    @classmethod
    def from_snntorch_rleaky(
        cls,
        beta,
        threshold=1.0,
        reset_mechanism="subtract",
        reset_delay=True,
        weight=None,
        bias=None,
        dt=None,
        **kwargs,
    ):
        """The neurons of snnTorch's ``RLeaky(beta, linear_features=N, threshold,
        reset_mechanism, reset_delay)`` (``all_to_all=True``), spike for spike.

        ``v <- (beta v + I) + (s_prev @ W.T + b)``: the previous step's spikes
        through a biased ``torch.nn.Linear(N, N)``, whose bias acts from the first
        step on; otherwise as `from_snntorch_leaky`. The layer's recurrent kernel
        is ``W.T`` (torch stores ``(out, in)``): pass ``weight`` and ``bias``
        here, or assign them after building, e.g.
        ``layer.cell.recurrent_kernel.assign(W.T)``.

        Parameters
        ----------
        beta, threshold, reset_mechanism, reset_delay, dt
            As for `from_snntorch_leaky`.
        weight : array, optional
            The ``Linear``'s weight, ``(N, N)`` in torch's ``(out, in)`` order.
        bias : array, optional
            The ``Linear``'s bias, ``(N,)``.
        kwargs : dict
            Any other `LIF` arguments.

        Returns
        -------
        LIF

        Notes
        -----
        The recurrent input is a sum over ``N`` products, which torch and Keras
        may add in different orders: the voltages are equal bit for bit when
        every partial sum is exact in float32 (e.g. weights on a grid of
        ``2**-k``), and within float32 rounding otherwise.
        """
        arguments = _snntorch_arguments(
            beta, None, threshold, reset_mechanism, reset_delay, dt
        )
        arguments.update(recurrent=True, recurrent_bias=True)
        if weight is not None:
            kernel = np.asarray(weight, "float32").T
            arguments["recurrent_initializer"] = keras.initializers.Constant(kernel)
        if bias is not None:
            arguments["recurrent_bias_initializer"] = keras.initializers.Constant(
                np.asarray(bias, "float32")
            )
        return cls(**arguments, **kwargs)

    @classmethod
    def from_norse_lif(
        cls,
        tau_syn_inv=200.0,
        tau_mem_inv=100.0,
        v_leak=0.0,
        v_th=1.0,
        v_reset=0.0,
        dt=0.001,
        **kwargs,
    ):
        """The neurons of Norse's ``LIFCell(LIFParameters(...), dt)``, spike for
        spike.

        The current jumps by the input, ``j = i + I``; the voltage steps ``v <- v
        + dt tau_mem_inv ((v_leak - v) + j)``; the current decays, ``i <- j - dt
        tau_syn_inv j``; a spike (1) when ``v > v_th``, and the voltage resets to
        ``v_reset`` in the same step. The voltage starts at ``v_leak``, the
        current at 0. Training back-propagates through time with the gradient of
        Norse's default ``method="super"``, `keras_spiking.surrogates.SuperSpike`
        (``alpha=1``), through the reset as Norse does.

        Parameters
        ----------
        tau_syn_inv, tau_mem_inv, v_leak, v_th, v_reset : float
            The fields of Norse's ``LIFParameters``.
        dt : float
            The time step, in seconds.
        kwargs : dict
            Any other `LIF` arguments.

        Returns
        -------
        LIF
        """
        return cls(
            **_norse_arguments(tau_mem_inv, tau_syn_inv, v_leak, v_th, v_reset, dt),
            **kwargs,
        )

    @classmethod
    def from_norse_lif_box(
        cls,
        tau_mem_inv=100.0,
        v_leak=0.0,
        v_th=1.0,
        v_reset=0.0,
        reset_method="value",
        dt=0.001,
        **kwargs,
    ):
        """The neurons of Norse's ``LIFBoxCell(LIFBoxParameters(...), dt)``, spike
        for spike.

        ``v <- v + dt tau_mem_inv ((I + v_leak) - v)``; a spike (1) when ``v >
        v_th``; then ``v`` resets to ``v_reset`` (``reset_method="value"``, Norse's
        ``reset_value``) or loses ``v_th`` (``"subtract"``, ``reset_subtract``) in
        the same step. The voltage starts at ``v_leak``. Training as
        `from_norse_lif`.

        Parameters
        ----------
        tau_mem_inv, v_leak, v_th, v_reset : float
            The fields of Norse's ``LIFBoxParameters`` (given as tensors, as its
            defaults are).
        reset_method : {"value", "subtract"}
            Norse's ``reset_value`` or ``reset_subtract``.
        dt : float
            The time step, in seconds.
        kwargs : dict
            Any other `LIF` arguments.

        Returns
        -------
        LIF
        """
        _choice(reset_method, "reset_method", ("value", "subtract"))
        arguments = _norse_arguments(tau_mem_inv, None, v_leak, v_th, v_reset, dt)
        if reset_method == "subtract":
            # Norse subtracts v_th whatever v_reset
            arguments.update(reset="subtract", v_reset=0.0)
        return cls(**arguments, **kwargs)

    @classmethod
    def from_norse_iaf(cls, v_th=1.0, v_reset=0.0, dt=0.001, **kwargs):
        """The neurons of Norse's ``IAFCell(IAFParameters(...))``, spike for spike.

        ``v <- v + I`` (no ``dt``); a spike (1) when ``v > v_th``, and the voltage
        resets to ``v_reset`` in the same step; it starts at ``v_reset``. Training
        as `from_norse_lif`.

        Parameters
        ----------
        v_th, v_reset : float
            The fields of Norse's ``IAFParameters``.
        dt : float
            The time step the layer states (Norse's ``IAFCell`` ignores it).
        kwargs : dict
            Any other `LIF` arguments.

        Returns
        -------
        LIF
        """
        arguments = _norse_arguments(None, None, 0.0, v_th, v_reset, dt)
        arguments["initial_voltage"] = arguments["v_reset"]
        return cls(**arguments, **kwargs)


def _f32(value):
    """A peer's parameter, as torch holds it (float32), as a Python float."""
    return float(np.float32(value))


def _snntorch_arguments(beta, alpha, threshold, reset_mechanism, reset_delay, dt):
    """The `LIF` arguments of an snnTorch neuron."""
    _choice(reset_mechanism, "reset_mechanism", ("subtract", "zero", "none"))
    dt = dt_value(default.dt if dt is None else dt)

    def tau(factor, name):
        # the time constant whose Euler factor 1 - dt/tau is `factor` (snnTorch
        # clamps it to [0, 1]); rounds back to the same float32 factor
        factor = min(max(_f32(factor), 0.0), 1.0)
        if factor == 1:
            return None
        value = dt / (1 - factor)
        if np.float32(1 - dt / value) != np.float32(factor):  # pragma: no cover
            raise ValueError(f"`{name}`={factor!r} does not round-trip; use another.")
        return value

    arguments = dict(
        tau=tau(beta, "beta"),
        threshold=_f32(threshold),
        reset=reset_mechanism,
        # (without a reset there is nothing to delay)
        reset_delay=reset_delay and reset_mechanism != "none",
        integrator="snntorch",
        spike_rule="step",
        amplitude=dt,
        gradient="surrogate",
        surrogate=surrogates.ATan(2.0),
        detach_reset=reset_delay,
        dt=dt,
    )
    if alpha is not None:
        arguments["tau_syn"] = tau(alpha, "alpha") or 1e30
    return arguments


def _norse_arguments(tau_mem_inv, tau_syn_inv, v_leak, v_th, v_reset, dt):
    """The `LIF` arguments of a Norse neuron (its parameters are float32
    tensors)."""
    dt = dt_value(dt)
    arguments = dict(
        tau=None if tau_mem_inv is None else 1 / _f32(tau_mem_inv),
        v_leak=_f32(v_leak),
        threshold=_f32(v_th),
        v_reset=_f32(v_reset),
        reset="zero",
        integrator="norse",
        spike_rule="step",
        amplitude=dt,
        initial_voltage=_f32(v_leak),
        gradient="surrogate",
        surrogate=surrogates.SuperSpike(1.0),
        detach_reset=False,
        dt=dt,
    )
    if tau_syn_inv is not None:
        arguments["tau_syn"] = 1 / _f32(tau_syn_inv)
    return arguments


@register
class AdaptiveLIF(_LIFLayerBase):
    """Layer of adaptive leaky integrate-and-fire neurons (Bellec et al., "Long
    short-term memory and learning-to-learn in networks of spiking neurons",
    2018; Norse's ``LSNN``, Sinabs' ``ALIF``).

    A `LIF` whose threshold rises with each spike and relaxes back: the
    threshold of a step is ``threshold + adaptation * a``, where ``a`` decays
    exactly with ``tau_adapt`` (``a <- a exp(-dt/tau_adapt)``, before the step's
    threshold check) and rises by 1 for each spike. The adaptation is a state
    (``"a"`` in `state_names`). It needs ``spike_rule="step"`` (the default here).

    Sinabs' ``ALIF`` raises its adaptation by ``1 - rho`` per spike (``rho =
    exp(-dt/tau_adapt)``) and scales it by ``adapt_scale``: that is this layer
    with ``adaptation = adapt_scale * (1 - rho)``.

    Parameters
    ----------{parameters}{layer_parameters}

    Notes
    -----
    The rate (``spiking_aware_training=False`` and ``gradient="rate"``) leaves
    the adaptation out: it is that of a `LIF` with the same parameters. Train
    adaptive networks with ``gradient="surrogate"``.
    """

    cell_class = AdaptiveLIFCell

    def __init__(
        self,
        tau=0.02,
        threshold=1.0,
        tau_adapt=0.2,
        adaptation=0.2,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        tau_syn=None,
        reset="zero",
        reset_delay=False,
        amplitude=1.0,
        initial_voltage=0.0,
        recurrent=False,
        recurrent_bias=False,
        recurrent_initializer="orthogonal",
        recurrent_bias_initializer="zeros",
        recurrent_regularizer=None,
        recurrent_constraint=None,
        spike_rule="step",
        integrator="exact",
        surrogate="atan",
        gradient="rate",
        spiking_aware_training=True,
        detach_reset=True,
        sigma=0.02,
        trainable_parameters=True,
        tau_constraint=None,
        threshold_constraint=None,
        tau_syn_constraint=None,
        dt=None,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        step_loop=None,
        **kwargs,
    ):
        arguments = {k: v for k, v in locals().items() if k in _ADAPTIVE_DEFAULTS}
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            step_loop=step_loop,
            **arguments,
            **kwargs,
        )


_document(LIFCell, _NEURON_PARAMETERS)
_document(AdaptiveLIFCell, _NEURON_PARAMETERS + _ADAPTIVE_PARAMETERS)
for _layer, _parameters in (
    (LIF, _NEURON_PARAMETERS),
    (AdaptiveLIF, _NEURON_PARAMETERS + _ADAPTIVE_PARAMETERS),
):
    _layer.__doc__ = _layer.__doc__.replace("{layer_parameters}", _LAYER_PARAMETERS)
    _document(_layer, _parameters)


@register
class LIFRate(keras.layers.Layer):
    """The firing rate of `LIF` neurons as an activation layer, with no time axis.

    Computes `keras_spiking.functional.lif_rate` of its input, elementwise: the
    SoftLIF rate (smoothed by ``sigma``) times ``amplitude``. Train a rate model
    with it as the nonlinearity; ``keras_spiking.convert(model,
    neuron=keras_spiking.LIF())`` then makes each ``LIFRate`` a `LIF` layer with
    the same parameters, whose spikes (``spike_rule="exact"``) average to the
    exact rate (``sigma=0``).

    Parameters
    ----------
    tau, threshold, v_reset, v_leak, r, tau_ref, amplitude, sigma
        As for `LIF` (``tau`` may be None: integrate-and-fire).
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> rate = keras_spiking.LIFRate(tau=0.02, amplitude=0.001, sigma=0.0)
    >>> np.round(keras.ops.convert_to_numpy(rate(np.array([[2.0]]))), 4).tolist()
    [[0.0721]]
    """

    def __init__(
        self,
        tau=0.02,
        threshold=1.0,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        amplitude=1.0,
        sigma=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        arguments = _check_arguments(
            type(self).__name__,
            {
                **_LIF_DEFAULTS,
                "tau": tau,
                "threshold": threshold,
                "v_reset": v_reset,
                "v_leak": v_leak,
                "r": r,
                "tau_ref": tau_ref,
                "amplitude": amplitude,
                "sigma": sigma,
            },
        )
        self.neuron_arguments = {
            k: arguments[k]
            for k in (
                "tau",
                "threshold",
                "v_reset",
                "v_leak",
                "r",
                "tau_ref",
                "amplitude",
                "sigma",
            )
        }

    def call(self, inputs):
        """The rate of each element of ``inputs``."""
        a = {
            name: np.asarray(value, "float32") if isinstance(value, list) else value
            for name, value in self.neuron_arguments.items()
        }
        return lif_rate(
            inputs,
            a["tau"],
            threshold=a["threshold"],
            v_reset=a["v_reset"],
            v_leak=a["v_leak"],
            r=a["r"],
            tau_ref=a["tau_ref"],
            amplitude=a["amplitude"],
            sigma=a["sigma"],
        )

    def compute_output_shape(self, input_shape):
        """The input shape."""
        return input_shape

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(self.neuron_arguments)
        return config
