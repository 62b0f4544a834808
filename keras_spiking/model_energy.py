"""Estimate the energy a Keras model would use on CPUs, GPUs and neuromorphic chips.

`ModelEnergy` reads a built Keras model, counts the synaptic operations and neuron
updates of each of its layers, measures firing rates on example data, and turns
those figures into energy per inference for a table of devices.
"""

import io
import math
import numbers
import warnings
from collections.abc import Mapping

import keras
import numpy as np
import rich.box
import rich.console
import rich.table
import rich.text

from keras_spiking import _graph
from keras_spiking import layers as spiking_layers
from keras_spiking._activations import is_linear
from keras_spiking._dt import checked_dt_value

SUMMARY_COLUMNS = (
    "name",
    "output_shape",
    "params",
    "connections",
    "neurons",
    "energy cpu",
)
"""tuple of str: The columns of `ModelEnergy.summary` by default."""


class ModelEnergy:
    """Compute statistics and device energy estimates for a Keras model.

    For every layer of the model this counts

    - ``connections``: synaptic operations per time step if every input fires
      once;
    - ``neurons``: neuron updates per time step;
    - ``spiking``: whether the layer could run as it is on a spiking device
      (``SpikingActivation`` and linear layers can; a layer with a non-spiking
      nonlinearity, such as a ``Dense`` layer with ``activation="relu"``,
      cannot);

    and, when ``example_data`` is given, the firing rate of the layer's input.
    From those it estimates the energy one inference would take on each device
    in ``ModelEnergy.devices``.

    Parameters
    ----------
    model : ``keras.Model``
        A built functional or ``Sequential`` model (its layers must have been
        applied to symbolic inputs, e.g. starting from ``keras.Input``). A layer
        applied several times counts once per application.
    example_data : array_like or list or dict of array_like, optional
        Input for the model, used to measure the firing rate of each layer's
        input. It is passed to the model in a single batch (in inference
        mode), so a few hundred examples are plenty. Energy
        estimates on event-based devices need it; on the others it changes
        nothing. For models with temporal layers (``SpikingActivation``) it
        should have a time axis with several steps, so that the rates are
        averaged over time. Its shape must match the model's input, and it must
        not contain NaN or infinite values.

    Attributes
    ----------
    layer_stats : dict
        Maps each layer of the model to its statistics (see
        `ModelEnergy.compute_layer_stats`), summed over its applications in the
        model.
    layer_rates : dict
        Maps each layer of the model to the mean absolute value of its input
        (the input firing rate, in Hz, when the input is spikes). Empty when no
        ``example_data`` was given.
    layer_stats_computers : dict
        Class-level registry mapping layer types to the functions that compute
        their statistics (see `ModelEnergy.register_layer`).
    devices : dict
        Class-level table of devices (see `ModelEnergy.register_device`). Each
        entry maps a name to a dict with ``energy_per_synop`` (J per synaptic
        operation), ``energy_per_neuron`` (J per neuron update) and ``spiking``
        (whether the device is event-based).

    Raises
    ------
    ValueError
        If the model has no graph of layers, or if ``example_data`` does not
        match the model's inputs or contains NaN or infinite values.

    Notes
    -----
    **How energy is computed.** On a device that is not event-based (``cpu``,
    ``gpu``, ``arm``), the model runs as an ordinary network, one step per
    inference::

        synop_energy = energy_per_synop * connections
        neuron_energy = energy_per_neuron * neurons

    On an event-based device (``loihi``, ``spinnaker``, ``spinnaker2``) synaptic
    operations happen only when an input spikes. A spike has height ``1 / dt``,
    so the mean absolute input (the rate, in Hz) times ``dt`` is the number of
    spikes per input per time step, and::

        synop_energy = (energy_per_synop * connections * rate * dt
                        * timesteps_per_inference)
        neuron_energy = energy_per_neuron * neurons * timesteps_per_inference

    **Counting rules.** A ``Dense`` layer makes ``in * units`` connections at
    each position of its output (each element along the axes between batch and
    units); a ``Conv1D``/``Conv2D``/``Conv3D`` layer makes, for each element of
    its actual output (so strides and padding are accounted for), as many
    connections as one output channel's kernel has elements (the spatial kernel
    times input channels / groups); an ``AveragePooling1D``/``2D``/``3D`` layer
    makes, for each element of its actual output, as many connections as its
    pool window has elements (``prod(pool_size)``: each output is the scaled sum
    of one window of its own channel, like a convolution with one input channel
    per output channel; as for convolutions, a window that ``"same"`` padding
    cuts short at an edge counts in full); a ``TimeDistributed`` layer counts
    what its inner layer does in one time step. Neurons are the output elements
    of a ``Dense`` or convolution whose activation is not linear, of an
    ``Activation``, ``ReLU``, ``LeakyReLU`` or ``LIFRate`` layer, and the per-step
    input elements of a ``SpikingActivation``, ``LIF`` or ``AdaptiveLIF`` (a
    recurrent ``LIF`` of ``N`` neurons also makes ``N * N`` connections, costed
    at its input's rate). An axis of unknown length right after
    the batch axis is taken to be time and counted once (a per-step figure);
    any other axis of unknown length is an error. Layers that only move data
    (``InputLayer``, ``Reshape``, ``Flatten``, ``Dropout``, ``Add`` and
    similar) count zero. A ``GlobalAveragePooling1D``/``2D``/``3D`` layer is
    average pooling with one window that covers all positions of a channel, so it
    makes one connection per input element; so does the converter's
    ``TimeReadout`` in ``"mean"`` mode, which sums each step's input into a
    running mean (``"last"`` mode only reads the last step and counts zero). Any
    other layer type counts zero with a warning, until a function for it is
    registered with `ModelEnergy.register_layer`.

    **Elementwise affine layers.** ``BatchNormalization`` (when it is kept
    rather than folded into the layer before it, e.g. by
    ``keras_spiking.convert(model, fold_batch_norm=False)``), ``Rescaling`` and
    ``Normalization`` count zero connections and zero neurons. Each multiplies
    every element by a constant and adds another (one per channel or feature,
    or one for the whole layer): one multiply-add per element per step, the
    same kind of operation as adding a bias, which no layer counts. On a device
    the gain and offset fold into the weights of the layer before or into the
    gain and bias of the receiving neurons.

    **Synaptic filters.** ``Lowpass`` and ``Alpha`` count zero connections and
    zero neurons. On neuromorphic hardware a synaptic filter is part of the
    receiving neuron's update (the input current decays within that neuron's
    state), so it adds no operation of its own. On a CPU or GPU it is one
    elementwise update per element per step (a multiply-add or two; twice that
    for ``Alpha``, which has two states): the same kind of operation as adding
    a bias, which no layer counts either, and negligible next to the
    connections of the layers around it.

    **Caveats.** These are rough, first-order estimates, meant to compare
    devices and find the layers that dominate, not to predict measured power:

    - only synaptic operations and neuron updates are counted; no overheads are
      included (static/idle power, memory access and data movement, host
      communication, chip-to-chip traffic, input encoding, ...);
    - on event-based devices, the whole model is assumed to be converted to
      spiking neurons; layers with non-spiking nonlinearities are costed as if
      they were spiking (`ModelEnergy.summary` warns about them);
    - the energies per operation are single published figures for particular
      chips; actual figures depend on the neuron model, precision, network
      layout and how well the model fits the hardware.

    **Sources** of the default devices:

    - ``cpu`` (Intel i7-4960X): 8.6 nJ per operation; ``gpu`` (Nvidia GTX Titan
      Black): 0.3 nJ; ``arm`` (ARM Cortex-A): 0.9 nJ. Degnan, Marr and Hasler,
      "Assessing trends in performance per Watt for signal processing
      applications", IEEE Transactions on Very Large Scale Integration (VLSI)
      Systems, 24(1), 2015.
    - ``loihi``: 23.6 pJ per synaptic spike operation plus 3.5 pJ of spike
      energy across tiles, 81 pJ per (active) neuron update. Davies et al.,
      "Loihi: a neuromorphic manycore processor with on-chip learning", IEEE
      Micro, 38(1), 2018.
    - ``spinnaker``: 13.3 nJ per synaptic operation, 26 nJ per neuron update;
      ``spinnaker2``: 450 pJ per synaptic operation, 2.19 nJ per neuron update.
      Höppner et al., "Dynamic power management for neuromorphic many-core
      systems", IEEE Transactions on Circuits and Systems I, 66(8), 2019.

    Examples
    --------
    >>> inp = keras.Input((784,))
    >>> x = keras.layers.Dense(128, activation="relu")(inp)
    >>> out = keras.layers.Dense(10)(x)
    >>> energy = keras_spiking.ModelEnergy(keras.Model(inp, out))
    >>> energy.layer_stats[energy.model.layers[1]]
    {'connections': 100352, 'neurons': 128, 'spiking': False}
    >>> print(f"{energy.total_energy('cpu'):.5e} J")  # (100352 + 128 + 1280) * 8.6 nJ
    8.75136e-04 J
    """

    layer_stats_computers = {}

    devices = {
        # Degnan, Marr, Hasler, IEEE TVLSI 24(1), 2015: Intel i7-4960X
        "cpu": {
            "energy_per_synop": 8.6e-9,
            "energy_per_neuron": 8.6e-9,
            "spiking": False,
        },
        # same source: Nvidia GTX Titan Black
        "gpu": {
            "energy_per_synop": 0.3e-9,
            "energy_per_neuron": 0.3e-9,
            "spiking": False,
        },
        # same source: ARM Cortex-A
        "arm": {
            "energy_per_synop": 0.9e-9,
            "energy_per_neuron": 0.9e-9,
            "spiking": False,
        },
        # Davies et al., IEEE Micro 38(1), 2018: synaptic op + across-tile spike
        "loihi": {
            "energy_per_synop": (23.6 + 3.5) * 1e-12,
            "energy_per_neuron": 81e-12,
            "spiking": True,
        },
        # Höppner et al., IEEE TCAS-I 66(8), 2019
        "spinnaker": {
            "energy_per_synop": 13.3e-9,
            "energy_per_neuron": 26e-9,
            "spiking": True,
        },
        "spinnaker2": {
            "energy_per_synop": 450e-12,
            "energy_per_neuron": 2.19e-9,
            "spiking": True,
        },
    }

    def __init__(self, model, example_data=None):
        self.model = model
        self.example_data = example_data
        self._nodes = _graph.nodes_in_model(model, "ModelEnergy")
        if example_data is not None:
            _check_example_data(model, example_data)

        # statistics of each application of each layer, then their sum per layer
        self._node_stats = {}
        self.layer_stats = {}
        for layer in model.layers:
            nodes = self._nodes.get(layer, [])
            self._node_stats[layer] = self._stats_of_nodes(layer, nodes)
            self.layer_stats[layer] = _sum_stats(
                stats for _, stats in self._node_stats[layer]
            )

        self._node_rates = {}
        self.layer_rates = {}
        self._single_step_layers = []
        if example_data is not None:
            self._compute_rates(example_data)

    # --- registries ---------------------------------------------------------------

    @classmethod
    def register_layer(cls, layer_class):
        """Decorator registering the function that computes a layer type's stats.

        The decorated function is called once for each application of a layer
        of that type (or of a subclass without a registration of its own) as
        ``func(node)``. ``node`` records the application: ``node.operation`` is
        the layer, and ``node.input_tensors`` and ``node.output_tensors`` are
        lists of symbolic tensors whose ``.shape`` (batch axis first) gives the
        shapes. The function returns a dict with ``connections`` (synaptic
        operations per time step if every input fires once), ``neurons``
        (neuron updates per time step) and ``spiking`` (whether the layer can
        run as it is on a spiking device); missing entries count as 0, 0 and
        True.

        Registering a type that already has a function replaces it, with a
        warning.

        Parameters
        ----------
        layer_class : type
            The layer class (a subclass of ``keras.layers.Layer``).

        Returns
        -------
        callable
            A decorator that registers the function and returns it unchanged.

        Examples
        --------
        >>> class Scale(keras.layers.Layer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> @keras_spiking.ModelEnergy.register_layer(Scale)
        ... def scale_stats(node):
        ...     size = np.prod(node.output_tensors[0].shape[1:])
        ...     return {"connections": size, "neurons": 0, "spiking": True}
        """

        def register(func):
            if layer_class in cls.layer_stats_computers:
                warnings.warn(
                    f"Layer type {layer_class.__name__} already has a stats "
                    f"function registered with ModelEnergy; replacing it with "
                    f"{getattr(func, '__name__', func)!r}.",
                    stacklevel=2,
                )
            cls.layer_stats_computers[layer_class] = func
            return func

        return register

    @classmethod
    def register_device(cls, name, energy_per_synop, energy_per_neuron, spiking):
        """Add a device to the table of devices (or replace one).

        Replacing an existing device warns.

        Parameters
        ----------
        name : str
            The name of the device, used as the ``device`` argument of the other
            methods and in ``summary`` columns (e.g. ``"energy mychip"``).
        energy_per_synop : float
            Energy (in joules) of one synaptic operation.
        energy_per_neuron : float
            Energy (in joules) of one neuron update.
        spiking : bool
            Whether the device is event-based (synaptic operations happen only
            when an input spikes) rather than running the model as an ordinary
            network.

        Examples
        --------
        >>> keras_spiking.ModelEnergy.register_device(
        ...     "mychip", energy_per_synop=1e-12, energy_per_neuron=2e-12, spiking=True
        ... )

        Raises
        ------
        TypeError
            If ``name`` is not a string, an energy is not a number or ``spiking``
            is not a bool.
        ValueError
            If an energy is negative, infinite or NaN.
        """
        if not isinstance(name, str) or not name.strip():
            raise TypeError(
                f"`name` must be a non-empty string (the device name used in "
                f"summary columns such as 'energy <name>'), got {name!r}."
            )
        energies = {
            "energy_per_synop": _check_energy("energy_per_synop", energy_per_synop),
            "energy_per_neuron": _check_energy("energy_per_neuron", energy_per_neuron),
        }
        if not isinstance(spiking, (bool, np.bool_)):
            raise TypeError(
                f"`spiking` must be True (an event-based device) or False (one that "
                f"runs the model as an ordinary network), got {spiking!r} of type "
                f"{type(spiking).__name__}."
            )
        if name in cls.devices:
            warnings.warn(
                f"Device {name!r} is already registered with ModelEnergy; "
                f"replacing it.",
                stacklevel=2,
            )
        cls.devices[name] = {**energies, "spiking": bool(spiking)}

    # --- statistics ---------------------------------------------------------------

    @classmethod
    def compute_layer_stats(cls, layer, node=None):
        """Compute the statistics of a layer.

        Parameters
        ----------
        layer : ``keras.layers.Layer``
            The layer.
        node : object, optional
            One application of the layer: the ``node`` a function registered
            with `ModelEnergy.register_layer` receives, or any object with the
            same attributes (``operation``, the layer; ``input_tensors`` and
            ``output_tensors``, lists of tensors whose ``.shape`` starts with the
            batch axis), e.g. to count a layer that another layer wraps. If
            None, the statistics are summed over every application of the
            layer, in any model (an instance of `ModelEnergy` only counts the
            applications within its model).

        Returns
        -------
        dict
            ``connections`` (int, synaptic operations per time step if every
            input fires once), ``neurons`` (int, neuron updates per time step)
            and ``spiking`` (bool, whether every application can run as it is on
            a spiking device).

        Raises
        ------
        ValueError
            If ``layer`` is not a Keras layer, if it has never been applied (so
            its shapes are unknown), if the shapes the statistics need have
            undefined elements, or if its registered function returns a
            statistic other than ``connections``, ``neurons`` and ``spiking``.

        Examples
        --------
        >>> dense = keras.layers.Dense(3, activation="relu")
        >>> _ = dense(keras.Input((5,)))
        >>> keras_spiking.ModelEnergy.compute_layer_stats(dense)
        {'connections': 15, 'neurons': 3, 'spiking': False}
        """
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"`layer` is a {type(layer).__name__}, which is not a Keras layer: "
                f"compute_layer_stats needs a keras.layers.Layer that has been "
                f"applied to an input."
            )
        nodes = _graph.applications(layer) if node is None else [node]
        return _sum_stats(stats for _, stats in cls._stats_of_nodes(layer, nodes))

    @classmethod
    def _stats_of_nodes(cls, layer, nodes):
        """Return ``[(node, stats), ...]`` for the given applications of a layer."""
        if not nodes:
            raise ValueError(
                f"Layer '{layer.name}' has never been applied, so its input and "
                f"output shapes are unknown. ModelEnergy needs a functional or "
                f"Sequential model whose layers have been called on symbolic "
                f"inputs (e.g. starting from keras.Input)."
            )
        func = cls._stats_function(layer)
        results = []
        for node in nodes:
            stats = {"connections": 0, "neurons": 0, "spiking": True}
            if func is not None:
                stats.update(_checked_stats(func, func(node), layer))
            stats["connections"] = int(stats["connections"])
            stats["neurons"] = int(stats["neurons"])
            stats["spiking"] = bool(stats["spiking"])
            results.append((node, stats))
        return results

    @classmethod
    def _stats_function(cls, layer):
        """The registered stats function for ``layer`` (None, with a warning)."""
        for layer_type in type(layer).__mro__:
            if layer_type in cls.layer_stats_computers:
                return cls.layer_stats_computers[layer_type]
        name = type(layer).__name__
        warnings.warn(
            f"ModelEnergy does not know layer type {name} (layer '{layer.name}'), "
            f"so it counts 0 connections and 0 neurons for it. To estimate it, "
            f"register a function computing its statistics with "
            f"`@ModelEnergy.register_layer({name})`.",
            stacklevel=2,
        )
        return None

    # --- firing rates -------------------------------------------------------------

    def _compute_rates(self, example_data):
        """Measure the mean absolute input of every layer application."""
        tensors, index = [], {}
        for nodes in self._nodes.values():
            for node in nodes:
                # an InputLayer has no input; its "input" is the data it provides
                for tensor in node.input_tensors or node.output_tensors:
                    if id(tensor) not in index:
                        index[id(tensor)] = len(tensors)
                        tensors.append(tensor)

        try:
            model_inputs = self.model.input
        except AttributeError:  # Sequential models only offer the list
            model_inputs = self.model.inputs
        probe = keras.Model(model_inputs, tensors)
        values = probe(example_data, training=False)
        values = [
            np.abs(keras.ops.convert_to_numpy(value).astype(np.float64))
            for value in values
        ]

        for layer, nodes in self._nodes.items():
            total = count = 0.0
            for node in nodes:
                node_values = [
                    values[index[id(tensor)]]
                    for tensor in node.input_tensors or node.output_tensors
                ]
                node_total = sum(float(value.sum()) for value in node_values)
                node_count = sum(value.size for value in node_values)
                self._node_rates[id(node)] = node_total / max(node_count, 1)
                total += node_total
                count += node_count
                if isinstance(layer, spiking_layers.KerasSpikingLayer):
                    self._check_time_axis(layer, node_values[0].shape)
            self.layer_rates[layer] = total / max(count, 1)

    def _check_time_axis(self, layer, shape):
        """Note a temporal layer that saw only one time step of the example data."""
        time_axis = 0 if layer.time_major else 1
        if len(shape) > time_axis and shape[time_axis] == 1:
            self._single_step_layers.append(f"'{layer.name}' (input shape {shape})")

    # --- energy -------------------------------------------------------------------

    @classmethod
    def _device(cls, device):
        """The table entry of a device, or a ValueError listing the known ones."""
        if device not in cls.devices:
            raise ValueError(
                f"Unknown device {device!r}. Known devices: "
                f"{', '.join(sorted(cls.devices))} (add others with "
                f"ModelEnergy.register_device)."
            )
        return cls.devices[device]

    def _layer(self, layer):
        """The model's layer, given the layer or its name."""
        if isinstance(layer, str):
            return self.model.get_layer(layer)
        if layer not in self.layer_stats:
            raise ValueError(f"Layer '{layer.name}' is not part of the model.")
        return layer

    def layer_energy(self, layer, device, timesteps_per_inference=1, dt=None):
        """Estimate the energy one layer uses for one inference on a device.

        Parameters
        ----------
        layer : ``keras.layers.Layer`` or str
            A layer of the model, or its name.
        device : str
            A device of ``ModelEnergy.devices``.
        timesteps_per_inference : int
            Number of time steps (at least 1) an event-based device runs for one
            inference (e.g. how long each image is presented). Ignored for other
            devices, which run the model once per inference.
        dt : float, optional
            Length of a time step, in seconds (positive and finite), on an
            event-based device; an input firing at ``rate`` Hz spikes
            ``rate * dt`` times per step. Defaults to
            ``keras_spiking.default.dt``. Ignored for other devices.

        Returns
        -------
        synop_energy : float
            Energy (J) of the layer's synaptic operations.
        neuron_energy : float
            Energy (J) of the layer's neuron updates.

        Raises
        ------
        TypeError
            If ``timesteps_per_inference`` is not an int or ``dt`` is not a
            number.
        ValueError
            If the device is unknown, if it is event-based and no
            ``example_data`` was given, if ``timesteps_per_inference`` is less
            than 1, or if ``dt`` is not positive and finite.
        """
        timesteps_per_inference = _check_timesteps(timesteps_per_inference)
        dt = checked_dt_value(dt)
        spec = self._device(device)
        layer = self._layer(layer)
        stats = self.layer_stats[layer]
        if not spec["spiking"]:
            return (
                spec["energy_per_synop"] * stats["connections"],
                spec["energy_per_neuron"] * stats["neurons"],
            )

        if self.example_data is None:
            raise ValueError(
                f"Device {device!r} is event-based: its energy depends on firing "
                f"rates, which ModelEnergy measures on example data. Pass "
                f"example_data to ModelEnergy."
            )
        synops = sum(
            stats["connections"] * self._node_rates[id(node)]
            for node, stats in self._node_stats[layer]
        )
        return (
            spec["energy_per_synop"] * synops * dt * timesteps_per_inference,
            spec["energy_per_neuron"] * stats["neurons"] * timesteps_per_inference,
        )

    def total_energy(self, device, timesteps_per_inference=1, dt=None):
        """Estimate the energy of one inference of the whole model on a device.

        This is the sum over all layers of both parts of
        `ModelEnergy.layer_energy`.

        Parameters
        ----------
        device : str
            A device of ``ModelEnergy.devices``.
        timesteps_per_inference : int
            Number of time steps (at least 1) an event-based device runs for one
            inference. Ignored for other devices.
        dt : float, optional
            Length of a time step, in seconds (positive and finite), on an
            event-based device. Defaults to ``keras_spiking.default.dt``.
            Ignored for other devices.

        Returns
        -------
        float
            Energy (J) of one inference.

        Raises
        ------
        TypeError
            If ``timesteps_per_inference`` is not an int or ``dt`` is not a
            number.
        ValueError
            As `ModelEnergy.layer_energy`.
        """
        timesteps_per_inference = _check_timesteps(timesteps_per_inference)
        dt = checked_dt_value(dt)
        self._device(device)
        return sum(
            sum(self.layer_energy(layer, device, timesteps_per_inference, dt))
            for layer in self.model.layers
        )

    # --- summary ------------------------------------------------------------------

    def summary(
        self,
        columns=SUMMARY_COLUMNS,
        timesteps_per_inference=1,
        dt=None,
        line_length=None,
        print_warnings=True,
    ):
        """Print a per-layer table of statistics and energy estimates.

        The table is laid out by ``rich`` (as Keras's ``model.summary()`` is):
        it fits the width of the terminal or notebook, wrapping long cells and
        headers. `ModelEnergy.summary_string` returns the same text, without
        colour.

        Parameters
        ----------
        columns : list of str
            The columns of the table, any of ``"name"``, ``"output_shape"``,
            ``"params"``, ``"connections"``, ``"neurons"``, ``"rate"`` (the mean
            absolute input of the layer, in Hz for spikes; needs
            ``example_data``), ``"synop_energy <device>"``,
            ``"neuron_energy <device>"`` and ``"energy <device>"`` (their sum),
            where ``<device>`` is a device of ``ModelEnergy.devices``. The total
            energy per inference is printed below the table for every device
            named.
        timesteps_per_inference : int
            Passed to `ModelEnergy.layer_energy`.
        dt : float, optional
            Passed to `ModelEnergy.layer_energy`.
        line_length : int, optional
            Width of the output, in characters. Defaults to the width of the
            terminal (or notebook) that it is printed to.
        print_warnings : bool
            Whether to print warnings about the estimate below the table: layers
            with non-spiking nonlinearities estimated on a spiking device, and
            example data that looks like it lacks a time axis.

        Raises
        ------
        TypeError
            If ``timesteps_per_inference`` or ``line_length`` is not an int, or
            ``dt`` is not a number.
        ValueError
            If a column or device is unknown, if ``line_length`` is less than 1,
            or as `ModelEnergy.layer_energy`.
        """
        report = self._summary(columns, timesteps_per_inference, dt, print_warnings)
        console = rich.console.Console(
            width=_check_line_length(line_length), **_CONSOLE_OPTIONS
        )
        console.print(report)

    def summary_string(
        self,
        columns=SUMMARY_COLUMNS,
        timesteps_per_inference=1,
        dt=None,
        line_length=None,
        print_warnings=True,
    ):
        """Return the text that `ModelEnergy.summary` prints, as plain text.

        Parameters
        ----------
        columns, timesteps_per_inference, dt, line_length, print_warnings
            As `ModelEnergy.summary`. When ``line_length`` is None, the text is
            as wide as ``summary`` would print it.

        Returns
        -------
        str
            The table, totals and warnings, without colour or other terminal
            codes, and without a newline at the end.

        Raises
        ------
        TypeError, ValueError
            As `ModelEnergy.summary`.

        Examples
        --------
        >>> inp = keras.Input((4,), name="pixels")
        >>> out = keras.layers.Dense(2, name="out")(inp)
        >>> energy = keras_spiking.ModelEnergy(keras.Model(inp, out, name="tiny"))
        >>> print(energy.summary_string(line_length=80))
        Model energy: "tiny"
                                                                           Energy
        Layer (type)         Output shape  Params  Connections  Neurons   cpu (J)
        ─────────────────────────────────────────────────────────────────────────
        pixels (InputLayer)  (None, 4)          0            0        0  0.00e+00
        out (Dense)          (None, 2)         10            8        0  6.88e-08
        Total energy per inference on cpu: 6.88e-08 J
        """
        report = self._summary(columns, timesteps_per_inference, dt, print_warnings)
        text = io.StringIO()
        console = rich.console.Console(
            file=text,
            width=_check_line_length(line_length) or rich.console.Console().width,
            color_system=None,
            force_terminal=False,
            force_jupyter=False,
            **_CONSOLE_OPTIONS,
        )
        console.print(report)
        return "\n".join(line.rstrip() for line in text.getvalue().splitlines())

    def _summary(self, columns, timesteps_per_inference, dt, print_warnings):
        """The ``rich`` renderable that `summary` prints."""
        specs = [_parse_column(column) for column in columns]
        timesteps_per_inference = _check_timesteps(timesteps_per_inference)
        dt = checked_dt_value(dt)
        devices = []
        for _, device in specs:
            if device is not None and device not in devices:
                self._device(device)
                devices.append(device)

        rows = [
            [
                self._cell(layer, kind, device, timesteps_per_inference, dt)
                for kind, device in specs
            ]
            for layer in self.model.layers
        ]
        # columns two spaces apart, the header underlined
        table = rich.table.Table(
            box=rich.box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        numeric = [kind not in ("name", "output_shape") for kind, _ in specs]
        for i, (kind, device) in enumerate(specs):
            header = _column_header(kind, device)
            if not numeric[i]:
                # rich narrows these first when the table is too wide
                table.add_column(header, overflow="fold")
                continue
            # numbers keep their width (unless nothing else is left to narrow);
            # the header wraps to that width
            width = max(len(text) for text in header.split() + [r[i] for r in rows])
            table.add_column(
                rich.text.Text(header, no_wrap=False, overflow="fold"),
                justify="right",
                no_wrap=True,
                max_width=width,
            )
        for row in rows:
            # a cell of a number folds rather than losing digits to an ellipsis
            table.add_row(
                *(
                    rich.text.Text(text, no_wrap=False, overflow="fold")
                    if is_number
                    else text
                    for text, is_number in zip(row, numeric, strict=True)
                )
            )

        parts = [rich.text.Text(f'Model energy: "{self.model.name}"', style="bold")]
        parts.append(table)
        for device in devices:
            total = self.total_energy(device, timesteps_per_inference, dt)
            parts.append(f"Total energy per inference on {device}: {total:.2e} J")

        messages = self._summary_warnings(devices) if print_warnings else []
        if messages:
            warning_list = rich.table.Table.grid(padding=(0, 1))
            for message in messages:
                warning_list.add_row("-", message)
            parts += ["", rich.text.Text("Warnings:", style="bold"), warning_list]
        return rich.console.Group(*parts)

    def _cell(self, layer, kind, device, timesteps_per_inference, dt):
        """The text of one cell of the summary table."""
        stats = self.layer_stats[layer]
        if kind == "name":
            return f"{layer.name} ({type(layer).__name__})"
        if kind == "output_shape":
            shapes = []
            for node in self._nodes[layer]:
                shape = [tuple(t.shape) for t in node.output_tensors]
                shape = str(shape[0]) if len(shape) == 1 else str(shape)
                if shape not in shapes:
                    shapes.append(shape)
            return "\n".join(shapes)
        if kind == "params":
            return f"{layer.count_params():,}"
        if kind in ("connections", "neurons"):
            return f"{stats[kind]:,}"
        if kind == "rate":
            return (
                f"{self.layer_rates[layer]:.3g}" if layer in self.layer_rates else "-"
            )
        synop, neuron = self.layer_energy(layer, device, timesteps_per_inference, dt)
        value = {
            "synop_energy": synop,
            "neuron_energy": neuron,
            "energy": synop + neuron,
        }
        return f"{value[kind]:.2e}"

    def _summary_warnings(self, devices):
        """Warnings about the estimates for the given devices."""
        messages = []
        spiking_devices = [d for d in devices if self.devices[d]["spiking"]]
        non_spiking = [
            f"'{layer.name}' ({type(layer).__name__})"
            for layer in self.model.layers
            if not self.layer_stats[layer]["spiking"]
        ]
        if spiking_devices and non_spiking:
            messages.append(
                f"Layer(s) {', '.join(non_spiking)} have non-spiking "
                f"nonlinearities, but energy is estimated on spiking device(s) "
                f"{', '.join(spiking_devices)}. The estimate assumes they are "
                f"converted to spiking neurons (e.g. with SpikingActivation); as "
                f"they are, they could not run on those devices."
            )
        if self._single_step_layers:
            messages.append(
                f"Temporal layer(s) {', '.join(self._single_step_layers)} saw a "
                f"single time step of example_data: the data looks like it lacks a "
                f"time axis, so the firing rates of these layers and the layers "
                f"after them come from one step and may be far from their long-run "
                f"values. Give example_data a time axis with several steps (e.g. "
                f"repeat each example over time)."
            )
        return messages


# --- helpers --------------------------------------------------------------------


# the options of every console that renders a summary: text is taken literally
_CONSOLE_OPTIONS = {"highlight": False, "markup": False, "emoji": False}

_SIMPLE_COLUMNS = {
    "name": "Layer (type)",
    "output_shape": "Output shape",
    "params": "Params",
    "connections": "Connections",
    "neurons": "Neurons",
    "rate": "Rate (Hz)",
}
_ENERGY_COLUMNS = {
    "synop_energy": "Synop energy",
    "neuron_energy": "Neuron energy",
    "energy": "Energy",
}


def _parse_column(column):
    """Split a summary column into ``(kind, device)``; device is None if unused."""
    if column in _SIMPLE_COLUMNS:
        return column, None
    kind, _, device = column.partition(" ")
    device = device.strip()
    if kind in _ENERGY_COLUMNS and device:
        return kind, device
    raise ValueError(
        f"Unknown summary column {column!r}. Columns are "
        f"{', '.join(repr(c) for c in _SIMPLE_COLUMNS)}, 'synop_energy <device>', "
        f"'neuron_energy <device>' and 'energy <device>'."
    )


def _column_header(kind, device):
    """The header of a summary column."""
    if kind in _SIMPLE_COLUMNS:
        return _SIMPLE_COLUMNS[kind]
    return f"{_ENERGY_COLUMNS[kind]} {device} (J)"


_STAT_NAMES = ("connections", "neurons", "spiking")


def _checked_stats(func, stats, layer):
    """The statistics a registered function returned, checked."""
    name = getattr(func, "__name__", repr(func))
    if not isinstance(stats, Mapping):
        raise TypeError(
            f"The stats function {name} registered with ModelEnergy for "
            f"{type(layer).__name__} returned {type(stats).__name__} for layer "
            f"'{layer.name}'; it must return a dict with any of "
            f"{', '.join(_STAT_NAMES)}."
        )
    unknown = [key for key in stats if key not in _STAT_NAMES]
    if unknown:
        raise ValueError(
            f"The stats function {name} registered with ModelEnergy for "
            f"{type(layer).__name__} returned unknown statistic(s) "
            f"{', '.join(repr(key) for key in unknown)} for layer '{layer.name}'. "
            f"Valid statistics are {', '.join(repr(key) for key in _STAT_NAMES)}."
        )
    return stats


def _check_energy(argument, value):
    """An energy per operation as a float, checked to be non-negative and finite."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{argument}` must be a number (joules per operation, e.g. 1e-12), got "
            f"{value!r} of type {type(value).__name__}."
        )
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"`{argument}` must be a non-negative finite number of joules per "
            f"operation (e.g. 1e-12), got {value!r}."
        )
    return float(value)


def _check_timesteps(timesteps_per_inference):
    """``timesteps_per_inference`` as an int, checked to be at least 1."""
    value = timesteps_per_inference
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`timesteps_per_inference` must be an int (the number of time steps an "
            f"event-based device runs for one inference), got {value!r} of type "
            f"{type(value).__name__}."
        )
    if value < 1:
        raise ValueError(
            f"`timesteps_per_inference` must be at least 1 (the number of time steps "
            f"an event-based device runs for one inference), got {value!r}."
        )
    return int(value)


def _check_line_length(line_length):
    """``line_length``, checked to be None or a positive int."""
    if line_length is None:
        return None
    if isinstance(line_length, (bool, np.bool_)) or not isinstance(
        line_length, numbers.Integral
    ):
        raise TypeError(
            f"`line_length` must be an int (characters per line), or None for the "
            f"width of the terminal; got {line_length!r} of type "
            f"{type(line_length).__name__}."
        )
    if line_length < 1:
        raise ValueError(
            f"`line_length` must be a positive number of characters per line, or "
            f"None for the width of the terminal; got {line_length!r}."
        )
    return int(line_length)


def _check_example_data(model, example_data):
    """Check that ``example_data`` fits the model's inputs and is finite."""
    inputs = list(model.inputs)
    if isinstance(example_data, Mapping):
        by_name = model.input if isinstance(model.input, Mapping) else {}
        by_name = {**{tensor.name: tensor for tensor in inputs}, **by_name}
        # keys that name no input are left for Keras to report
        pairs = [
            (str(key), by_name[key], data)
            for key, data in example_data.items()
            if key in by_name
        ]
    else:
        # a list of arrays holds one per input; a nested list of numbers is one
        if isinstance(example_data, (list, tuple)) and all(
            hasattr(data, "shape") for data in example_data
        ):
            datas = list(example_data)
        else:
            datas = [example_data]
        if len(datas) != len(inputs):
            raise ValueError(
                f"Model '{model.name}' has {len(inputs)} input(s), but example_data "
                f"has {len(datas)}. Pass one array per model input, in a list (in "
                f"the order of model.inputs) or a dict keyed by input name."
            )
        pairs = [
            (tensor.name, tensor, data)
            for tensor, data in zip(inputs, datas, strict=True)
        ]

    for name, tensor, data in pairs:
        array = np.asarray(data)
        expected = tuple(tensor.shape)
        fits = array.ndim == len(expected) and all(
            size is None or size == actual
            for size, actual in zip(expected[1:], array.shape[1:], strict=True)
        )
        if not fits:
            fix = "Pass an array of that shape."
            no_time = expected[:1] + expected[2:]
            # an axis of unknown length after the batch is time (see _count)
            if (
                len(expected) > 2
                and expected[1] is None
                and array.ndim == len(no_time)
                and all(
                    size is None or size == actual
                    for size, actual in zip(no_time[1:], array.shape[1:], strict=True)
                )
            ):
                fix = (
                    "It looks like it lacks the time axis (axis 1, of any length): "
                    "give each example several time steps, e.g. "
                    "`np.repeat(x[:, None], n_steps, axis=1)`."
                )
            raise ValueError(
                f"example_data for input '{name}' of model '{model.name}' has shape "
                f"{array.shape}, but the model expects shape {expected} (batch "
                f"first; None is any length). {fix}"
            )
        if array.size == 0:
            empty = [i for i, n in enumerate(array.shape) if n == 0]
            what = {0: "examples"}
            if len(expected) > 2 and expected[1] is None:  # the time axis
                what[1] = "time steps"
            raise ValueError(
                f"example_data for input '{name}' of model '{model.name}' has shape "
                f"{array.shape}: no values (axis {empty[0]} has length 0"
                f"{', no ' + what[empty[0]] if empty[0] in what else ''}), so there "
                f"are no firing rates to measure. Give at least one example with at "
                f"least one time step (or leave out example_data)."
            )
        if np.issubdtype(array.dtype, np.inexact):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            if bad:
                raise ValueError(
                    f"example_data for input '{name}' of model '{model.name}' has "
                    f"{bad} NaN or infinite value(s) (of {array.size}); the firing "
                    f"rates measured on it would be meaningless. Remove or replace "
                    f"them (e.g. with np.nan_to_num)."
                )


def _sum_stats(all_stats):
    """Sum the statistics of several applications of a layer."""
    total = {"connections": 0, "neurons": 0, "spiking": True}
    for stats in all_stats:
        total["connections"] += stats["connections"]
        total["neurons"] += stats["neurons"]
        total["spiking"] = total["spiking"] and stats["spiking"]
    return total


def _count(shape, layer, what):
    """Number of elements per time step of a shape that starts with the batch axis.

    An axis of unknown length right after the batch axis is taken to be time and
    counted once; any other unknown axis is an error.
    """
    shape = tuple(shape)
    axes = shape[1:]
    if axes and axes[0] is None:
        axes = axes[1:]
    if any(size is None for size in axes):
        raise ValueError(
            f"Layer '{layer.name}' has an undefined {what} shape {shape}; "
            f"ModelEnergy needs to know every axis except batch (and time, right "
            f"after batch). Give keras.Input the full shape."
        )
    return math.prod(axes)


class _StepNode:
    """One time step of a layer's application, shaped like a Keras ``Node``."""

    def __init__(self, operation, input_shapes, output_shapes):
        self.operation = operation
        self.input_tensors = [keras.KerasTensor(shape) for shape in input_shapes]
        self.output_tensors = [keras.KerasTensor(shape) for shape in output_shapes]


def _drop_time(shape):
    """Shape of one time step of a ``(batch, time, ...)`` shape."""
    shape = tuple(shape)
    return (shape[0],) + shape[2:]


# --- stats of the built-in layer types ------------------------------------------------


def _zero_stats(node):
    """Layers that count no connections and no neurons."""
    return {"connections": 0, "neurons": 0, "spiking": True}


for _layer_type in (
    keras.layers.InputLayer,
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Permute,
    keras.layers.Identity,
    keras.layers.Dropout,  # also covers SpatialDropout1D/2D/3D
    keras.layers.Add,
    keras.layers.Concatenate,
):
    ModelEnergy.register_layer(_layer_type)(_zero_stats)


@ModelEnergy.register_layer(keras.layers.Dense)
def _dense_stats(node):
    layer = node.operation
    in_shape = tuple(node.input_tensors[0].shape)
    out_shape = tuple(node.output_tensors[0].shape)
    positions = _count(out_shape[:-1], layer, "output")
    nonlinear = not is_linear(layer.activation)
    return {
        "connections": positions * in_shape[-1] * layer.units,
        "neurons": positions * layer.units if nonlinear else 0,
        "spiking": not nonlinear,
    }


def _conv_stats(node):
    layer = node.operation
    in_shape = tuple(node.input_tensors[0].shape)
    out_shape = tuple(node.output_tensors[0].shape)
    outputs = _count(out_shape, layer, "output")
    channels_axis = 1 if layer.data_format == "channels_first" else -1
    kernel = math.prod(layer.kernel_size) * in_shape[channels_axis] // layer.groups
    nonlinear = not is_linear(layer.activation)
    return {
        "connections": outputs * kernel,
        "neurons": outputs if nonlinear else 0,
        "spiking": not nonlinear,
    }


for _layer_type in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D):
    ModelEnergy.register_layer(_layer_type)(_conv_stats)


def _activation_stats(node):
    layer = node.operation
    if isinstance(layer, keras.layers.Activation) and is_linear(layer.activation):
        return {"connections": 0, "neurons": 0, "spiking": True}
    outputs = _count(node.output_tensors[0].shape, layer, "output")
    return {"connections": 0, "neurons": outputs, "spiking": False}


def _average_pooling_stats(node):
    layer = node.operation
    outputs = _count(node.output_tensors[0].shape, layer, "output")
    return {
        "connections": outputs * math.prod(layer.pool_size),
        "neurons": 0,
        "spiking": True,
    }


for _layer_type in (
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
):
    ModelEnergy.register_layer(_layer_type)(_average_pooling_stats)


def global_average_stats(node):
    """Stats of a layer whose every output is the mean of a whole group of its
    inputs (global average pooling; a mean over time): the average-pooling rule
    with one window that covers the group, so one connection per input element.
    """
    layer = node.operation
    inputs = _count(node.input_tensors[0].shape, layer, "input")
    return {"connections": inputs, "neurons": 0, "spiking": True}


for _layer_type in (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
):
    ModelEnergy.register_layer(_layer_type)(global_average_stats)


# see "Elementwise affine layers" in ModelEnergy's docstring
for _layer_type in (
    keras.layers.BatchNormalization,
    keras.layers.Rescaling,
    keras.layers.Normalization,
):
    ModelEnergy.register_layer(_layer_type)(_zero_stats)


for _layer_type in (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
):
    ModelEnergy.register_layer(_layer_type)(_activation_stats)


@ModelEnergy.register_layer(keras.layers.TimeDistributed)
def _time_distributed_stats(node):
    step = _StepNode(
        node.operation.layer,
        [_drop_time(t.shape) for t in node.input_tensors],
        [_drop_time(t.shape) for t in node.output_tensors],
    )
    return ModelEnergy.compute_layer_stats(step.operation, node=step)


@ModelEnergy.register_layer(spiking_layers.SpikingActivation)
def _spiking_activation_stats(node):
    layer = node.operation
    # input (batch, time, *size) or (time, batch, *size): neurons are the *size
    shape = tuple(node.input_tensors[0].shape)
    size = shape[2:]
    if any(n is None for n in size):
        raise ValueError(
            f"Layer '{layer.name}' has an undefined input shape {shape}; "
            f"ModelEnergy needs to know every axis except batch and time. Give "
            f"keras.Input the full shape."
        )
    return {"connections": 0, "neurons": math.prod(size), "spiking": True}


# see "Synaptic filters" in ModelEnergy's docstring
for _layer_type in (spiking_layers.Lowpass, spiking_layers.Alpha):
    ModelEnergy.register_layer(_layer_type)(_zero_stats)


@ModelEnergy.register_layer(spiking_layers.LIF)
@ModelEnergy.register_layer(spiking_layers.AdaptiveLIF)
def _lif_stats(node):
    """LIF neurons: one neuron update per neuron per step; a recurrent layer also
    makes ``N * N`` connections, from its ``N`` neurons' spikes to each other
    (costed, like every connection of a layer, at the layer's input rate)."""
    stats = _spiking_activation_stats(node)
    if node.operation.arguments["recurrent"]:
        stats["connections"] = stats["neurons"] ** 2
    return stats


# the firing rate of LIF neurons, as an activation: non-spiking neurons
ModelEnergy.register_layer(spiking_layers.LIFRate)(_activation_stats)
