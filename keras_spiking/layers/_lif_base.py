"""What `LIFCell` and `AdaptiveLIFCell` share (`LIFCellBase`), and what their
layers share (`LIFLayerBase`)."""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import sequence
from keras_spiking._dt import dt_value
from keras_spiking.functional.filters import floor_tau
from keras_spiking.functional.lif import (
    lif_rate,
    lif_step,
    recurrent_input,
)
from keras_spiking.layers._lif_parameters import (
    LIF_DEFAULTS,
    WEIGHT_NAMES,
    arguments_config,
    broadcast_parameter,
    check_arguments,
    lif_options,
    time_weight_values,
)
from keras_spiking.layers.base import KerasSpikingCell, KerasSpikingLayer, as_shape


class LIFCellBase(KerasSpikingCell):
    """The cell of `LIF` and `AdaptiveLIF`."""

    adaptive = False
    defaults = LIF_DEFAULTS

    def __init__(self, size, dt=None, **arguments):
        unknown = set(arguments) - set(self.defaults)
        # (anything else goes to keras.layers.Layer)
        kwargs = {k: arguments.pop(k) for k in unknown}
        self.arguments = check_arguments(
            type(self).__name__, {**self.defaults, **arguments}, self.adaptive
        )
        self.options = lif_options(self.arguments, self.adaptive)
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
        names = WEIGHT_NAMES[integrator]
        self.tau = self.tau_syn = None
        for attribute, name, constraint in (
            ("tau", names[0], a["tau_constraint"]),
            ("tau_syn", names[1], a["tau_syn_constraint"]),
        ):
            if a[attribute] is None:
                continue
            values = time_weight_values(
                broadcast_parameter(a[attribute], self.size, attribute),
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
                broadcast_parameter(a["threshold"], self.size, "threshold").astype(
                    "float32"
                )
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
        return lif_options(self.arguments, self.adaptive, surrogate=False)

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        for base_only in ("state_size", "always_use_inference"):
            config.pop(base_only)
        config.update(arguments_config(self.arguments))
        return config


class LIFLayerBase(KerasSpikingLayer):
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
        self.arguments = check_arguments(
            type(self).__name__, {**defaults, **arguments}, self.cell_class.adaptive
        )

    @property
    def state_names(self):
        """list of str: The names of the states (see `LIFCell.state_names`), in
        the order ``return_state=True`` returns them and ``initial_state`` takes
        them."""
        return lif_options(self.arguments, self.cell_class.adaptive).state_names

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
        config.update(arguments_config(self.arguments))
        return config
