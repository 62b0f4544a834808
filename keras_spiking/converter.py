"""Convert a trained, non-spiking Keras model into a spiking one.

`convert` takes a built functional or ``Sequential`` model and returns a new model
whose input has a time axis, ``(batch, time, *input_shape)``: every layer is
applied at each time step and every nonlinearity becomes a `.SpikingActivation`
of the same function. `Converter` holds the options and the table of conversion
rules, one per layer type; `Converter.register_layer` adds a rule for a layer
type of your own.
"""

import difflib
import math

import keras
import numpy as np
from keras import ops

from keras_spiking import _graph
from keras_spiking._activations import activation_name, is_linear
from keras_spiking._arguments import check_flag
from keras_spiking._dt import checked_dt_value, dt_argument
from keras_spiking._saving import register
from keras_spiking.layers import KerasSpikingLayer, LIFRate, Lowpass, SpikingActivation
from keras_spiking.model_energy import ModelEnergy, global_average_stats

OUTPUT_MODES = ("mean", "last", "sequence")

# Activations that are not swapped by default: they normalise across units rather
# than acting on each unit alone, so they have no per-neuron spiking form.
NOT_ELEMENTWISE = ("softmax", "log_softmax")


@register
class FiringRateScale(keras.layers.Rescaling):
    """Multiply the input by a constant, to set the firing rates of spiking layers.

    `convert` puts one before a `.SpikingActivation` (multiplying by
    ``scale_firing_rates``) and, where the next layer has no weights to absorb it,
    one after (dividing by it). It is a ``keras.layers.Rescaling`` that
    `.ModelEnergy` counts as free: on a device a constant gain folds into the
    neurons' input gain or into the neighbouring synaptic weights.

    Parameters
    ----------
    scale : float
        The factor.
    kwargs : dict
        Passed on to ``keras.layers.Rescaling`` (whose ``get_config`` this
        layer uses).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(scale=scale, **kwargs)


@register
class TimeReadout(keras.layers.Layer):
    """Read a sequence out over its time axis: the mean over time, or the last step.

    Parameters
    ----------
    mode : str
        ``"mean"`` (the mean over the time axis) or ``"last"`` (the last step).
    kwargs : dict
        Passed on to ``keras.layers.Layer``.
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "last"):
            raise ValueError(f"`mode` must be 'mean' or 'last'; got mode={mode!r}.")
        self.mode = mode

    def call(self, inputs):
        """Reduce ``(batch, time, ...)`` to ``(batch, ...)``."""
        return ops.mean(inputs, axis=1) if self.mode == "mean" else inputs[:, -1]

    def compute_output_shape(self, input_shape):
        """The input shape without its time axis."""
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config["mode"] = self.mode
        return config


@register
class BatchedTimeDistributed(keras.layers.TimeDistributed):
    """Apply a layer to every time step, folding the time axis into the batch axis.

    This computes what ``keras.layers.TimeDistributed`` computes, with one call of
    the inner layer on input of shape ``(batch * time, ...)`` instead of one call
    per step: a model with many steps compiles as fast as a model with one step,
    on every backend. The per-step shape must be fully known.

    Parameters
    ----------
    layer : ``keras.layers.Layer``
        The layer to apply at every step.
    kwargs : dict
        Passed on to ``keras.layers.TimeDistributed``.
    """

    def call(self, inputs, training=None):
        """Apply the layer to ``(batch, time, ...)`` input, step by step."""
        shape = ops.shape(inputs)
        steps = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        if self.layer._call_has_training_arg:
            outputs = self.layer.call(steps, training=training)
        else:
            outputs = self.layer.call(steps)
        return ops.reshape(outputs, (shape[0], shape[1], *outputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        """The inner layer's output shape at each step, with the time axis."""
        step = keras.KerasTensor((input_shape[0], *input_shape[2:]), dtype=self.dtype)
        output = self.layer.compute_output_spec(step)
        return (input_shape[0], input_shape[1], *output.shape[1:])


@ModelEnergy.register_layer(FiringRateScale)
def _free_stats(node):
    """A constant gain: no synaptic operations, no neurons."""
    return {"connections": 0, "neurons": 0, "spiking": True}


@ModelEnergy.register_layer(TimeReadout)
def _readout_stats(node):
    """The mean over time is a global average (one connection per element of a
    step); reading the last step is free."""
    if node.operation.mode == "mean":
        return global_average_stats(node)
    return {"connections": 0, "neurons": 0, "spiking": True}


# Layers applied as they are to the whole sequence: they act on the last axis (or
# elementwise), so the time axis is just one more leading axis to them.
_NATIVE = (
    keras.layers.Dense,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Identity,
)

# Layers whose output, times any gain on their input, is their output on the input
# times that gain (they are linear and have no offset), so a gain can pass through.
_GAIN_TRANSPARENT = (
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Identity,
    keras.layers.RepeatVector,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.UpSampling1D,
    keras.layers.UpSampling2D,
    keras.layers.UpSampling3D,
)

# Layers with a kernel (their first weight) that a gain on the input can be folded
# into, and whose output channels are the last axis of that kernel.
_WEIGHTED = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)

# Layers that only act during training: the converted model leaves them out.
_TRAINING_ONLY = (
    keras.layers.Dropout,  # also SpatialDropout1D/2D/3D
    keras.layers.AlphaDropout,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.ActivityRegularization,
)

_MAX_POOLING = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)

_RECURRENT = (
    keras.layers.RNN,  # also SimpleRNN, LSTM, GRU and the spiking layers
    keras.layers.Bidirectional,
    keras.layers.TimeDistributed,
    keras.layers.ConvLSTM1D,
    keras.layers.ConvLSTM2D,
    keras.layers.ConvLSTM3D,
)


class Converter:
    """Convert trained Keras models into spiking models.

    The options are those of `convert`, which is the usual way to use this class:
    ``convert(model, **options)`` is ``Converter(**options).convert(model)``. A
    `Converter` is also what a conversion rule receives (see
    `Converter.register_layer`); its methods `Converter.per_step` and
    `Converter.nonlinearity` are the building blocks of rules.

    Parameters
    ----------
    dt : float or ``keras.Variable``, optional
        Length of a time step, in seconds, of the new `.SpikingActivation` and
        `.Lowpass` layers. If None, ``keras_spiking.default.dt`` when the layers
        are made (0.001 s unless changed).
    seed : int, optional
        Seed of the initial voltages. Each spiking layer gets its own seed,
        derived from this one, so that the converted model gives the same output
        every time. If None, the voltages are drawn afresh on every call.
    spiking_aware_training : bool
        Passed to every `.SpikingActivation`: if True, training the converted
        model uses spikes forward and the activation's gradient backward; if
        False, training uses the (non-spiking) activation.
    swap_activations : collection of str, optional
        Names of the activations to make spiking (e.g. ``{"relu"}``); the names
        are those Keras gives the functions (``"relu"``, ``"sigmoid"``, ...), with
        ``"relu"`` for a ``ReLU`` layer and ``"leaky_relu"`` for a ``LeakyReLU``
        layer. A name is looked up like ``keras.activations.get`` (so the alias
        ``"swish"`` swaps ``silu``); an activation function counts by its name. A
        name that is neither a Keras activation nor an activation in the model
        is an error (a typo would swap nothing). Other nonlinearities stay as
        they are, applied at each step. If None (default), every nonlinearity
        except ``"softmax"`` and
        ``"log_softmax"`` (which act across units, not on each unit) becomes
        spiking. An empty collection makes nothing spiking: the result is the
        original model applied at each step.
    scale_firing_rates : float, optional
        Factor by which the input of every spiking layer is multiplied; its
        output is divided by the same factor, so the neurons fire
        ``scale_firing_rates`` times faster and the output averages out in fewer
        steps. The division is folded into the kernel of the next ``Dense`` or
        ``Conv`` layer when the path to it only moves, pads or averages values,
        so that that layer receives whole spikes (and `.ModelEnergy` counts them
        correctly); otherwise a `FiringRateScale` layer does it. The rates are
        unchanged exactly for positively homogeneous activations, for which
        ``f(a * x) = a * f(x)`` when ``a > 0``: ``relu``, ``leaky_relu``, a
        ``ReLU`` layer without ``max_value`` or ``threshold``, a ``LeakyReLU``
        layer. For any other activation (``sigmoid``, ``tanh``, ``relu6``, ...)
        the layer computes ``f(a * x) / a``, a different function. If None
        (default), the factor is ``1 / dt`` for the positively homogeneous
        activations, so that an activation of 1 fires once per time step, and 1
        (no scaling) for the others.
    synapse : float, optional
        If given, a `.Lowpass` filter with this time constant (in seconds)
        follows every spiking layer, smoothing the spikes.
    output : str
        How each output of the model is read out over time: ``"mean"`` (default:
        the mean over the time steps, which approaches the original output as
        the number of steps grows, with no synapse needed), ``"last"`` (the last
        step, useful with a ``synapse``) or ``"sequence"`` (every step, shape
        ``(batch, time, ...)``).
    max_to_avg_pool : bool
        Max pooling has no exact spiking form (the maximum of spike trains is not
        the maximum of their rates). If True, ``MaxPooling*`` and
        ``GlobalMaxPooling*`` layers become the average pooling of the same
        size, which changes the function; if False (default), they are an error.
    fold_batch_norm : bool
        If True (default), a ``BatchNormalization`` layer that directly follows a
        ``Dense`` or ``Conv1D/2D/3D`` layer with a linear activation (and is the
        only user of its output) is folded into that layer's kernel and bias. Any
        other ``BatchNormalization`` layer (or all of them, if False) is kept,
        applied at each step with its moving statistics.
    neuron : `.KerasSpikingLayer`, optional
        The spiking neurons to use instead of `.SpikingActivation`: a layer (e.g.
        ``keras_spiking.LIF(tau=0.02)``) of which each swapped nonlinearity gets a
        copy (its config, with a new name, and the converter's ``dt`` if given).
        An `.LIFRate` activation becomes the neuron with the rate's parameters
        (``tau``, ``threshold``, ``amplitude``, ...), so a model trained with
        `.LIFRate` converts to `.LIF` neurons whose firing rate is the one it was
        trained with (exactly, with ``spike_rule="exact"``, as ``sigma`` goes to
        0); any other activation gets the neuron as it is, whose rate is then
        not that activation. ``scale_firing_rates`` defaults to 1 here.

    Notes
    -----
    **What each layer becomes.** ``Dense``, ``Activation``, ``ReLU`` and
    ``LeakyReLU`` layers and merge layers act on the whole sequence as they are
    (the time axis is one more leading axis to them); every other layer is
    wrapped in a `BatchedTimeDistributed` (a ``keras.layers.TimeDistributed``
    that folds the time axis into the batch axis). The converted layers are new
    layers whose weights are copies of the original ones: exact copies, except
    where a ``BatchNormalization`` or the division by ``scale_firing_rates`` is
    folded into them. Training the converted model leaves the original model
    unchanged. A layer used several times in the model (also inside a nested
    model used several times) is one layer used several times in the converted
    model, its weights tied: where the inputs of its applications carry
    different ``scale_firing_rates`` factors still to be divided out, a
    `FiringRateScale` before a later application makes up the difference.
    ``Dropout`` and the other layers that only act during training are left out.
    Nested models are converted layer by layer, in place, once for each
    application.

    **Spikes in, spikes out.** A spiking layer fed by another one sees input
    that jumps from step to step, and a ``relu`` clips the steps where it dips
    below zero, so its mean output is biased above its rate output unless each
    step carries many spikes (a larger ``scale_firing_rates`` or ``dt``) or a
    ``synapse`` smooths the spikes. Likewise an activation left non-spiking
    (``softmax`` by default) is applied to every step's jumpy input; with
    ``output="mean"``, a model whose output layer has no activation (logits)
    reads out most accurately.

    **What is an error.** Recurrent layers (which already have a time axis),
    max pooling without ``max_to_avg_pool=True``, layers of types without a rule
    (register one with `Converter.register_layer`), and operations that are not
    layers (e.g. ``keras.ops`` calls in a functional model) raise a
    ``ValueError`` that names the layer.
    """

    rules = {}

    def __init__(
        self,
        dt=None,
        seed=None,
        spiking_aware_training=True,
        swap_activations=None,
        scale_firing_rates=None,
        synapse=None,
        output="mean",
        max_to_avg_pool=False,
        fold_batch_norm=True,
        neuron=None,
    ):
        if neuron is not None and not isinstance(neuron, KerasSpikingLayer):
            raise ValueError(
                f"`neuron` must be None or a spiking layer to copy, such as "
                f"`keras_spiking.LIF()`; got neuron={neuron!r}."
            )
        if output not in OUTPUT_MODES:
            raise ValueError(
                f"`output` must be one of {', '.join(map(repr, OUTPUT_MODES))}; got "
                f"output={output!r}."
            )
        if scale_firing_rates is not None and not _positive(scale_firing_rates):
            raise ValueError(
                f"`scale_firing_rates` must be None or a positive, finite number; got "
                f"scale_firing_rates={scale_firing_rates!r}."
            )
        if synapse is not None and not _positive(synapse):
            raise ValueError(
                f"`synapse` must be None or a positive time constant in seconds; "
                f"got synapse={synapse!r}."
            )
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"`seed` must be None or an int; got seed={seed!r}.")
        if dt is not None:
            dt = dt_argument(dt)  # a clear error for 0, NaN, a string, ...
        self.dt = dt
        self.seed = seed
        self.spiking_aware_training = check_flag(
            spiking_aware_training, "spiking_aware_training"
        )
        self.swap_activations = _activation_names(swap_activations)
        self.scale_firing_rates = scale_firing_rates
        self.synapse = synapse
        self.output = output
        self.max_to_avg_pool = check_flag(max_to_avg_pool, "max_to_avg_pool")
        self.fold_batch_norm = check_flag(fold_batch_norm, "fold_batch_norm")
        self.neuron = neuron

    # --- the rule registry --------------------------------------------------------

    @classmethod
    def register_layer(cls, layer_class):
        """Decorator registering the rule that converts a layer type.

        The rule is called once for each application of a layer of that type (or
        of a subclass without a rule of its own) as ``rule(converter, layer,
        inputs)``: ``converter`` is the `Converter`, ``layer`` the original layer
        and ``inputs`` its converted input (a tensor of shape ``(batch, time,
        ...)``, or a list of them for a layer called on a list). It returns the
        converted output, with the same time axis. Registering a type that
        already has a rule replaces it.

        For a layer that acts on each time step separately and is linear (so
        that its output, averaged over time, is its output on the averaged
        input), ``Converter.per_step`` is the rule. A layer with a nonlinearity
        can apply its linear part with `Converter.per_step` and pass the result
        to `Converter.nonlinearity`.

        Parameters
        ----------
        layer_class : type
            The layer class (a subclass of ``keras.layers.Layer``).

        Returns
        -------
        callable
            A decorator that registers the rule and returns it unchanged.

        Examples
        --------
        A layer that doubles its input is linear, so it can be applied per step:

        >>> @keras.saving.register_keras_serializable("doctest")
        ... class Double(keras.layers.Layer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> _ = keras_spiking.Converter.register_layer(Double)(
        ...     keras_spiking.Converter.per_step
        ... )

        A dense layer with a fixed ``relu`` can keep its linear part per step and
        make its nonlinearity spiking:

        >>> class DenseRelu(keras.layers.Dense):
        ...     def call(self, x):
        ...         return keras.ops.relu(super().call(x))
        >>> @keras_spiking.Converter.register_layer(DenseRelu)
        ... def convert_dense_relu(converter, layer, inputs):
        ...     linear = keras.layers.Dense.from_config(layer.get_config())
        ...     x = converter.per_step(linear, inputs, weights=layer.get_weights())
        ...     return converter.nonlinearity(x, "relu", name=layer.name)
        """

        def decorator(rule):
            cls.rules[layer_class] = rule
            return rule

        return decorator

    @classmethod
    def _rule(cls, layer):
        """The rule for ``layer``, or a ValueError that says what to do."""
        for layer_type in type(layer).__mro__:
            if layer_type in cls.rules:
                return cls.rules[layer_type]
        if isinstance(layer, _RECURRENT):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) has a time axis of "
                f"its own, so it cannot be converted to act at each time step. "
                f"Convert the model without it, or register a rule for it with "
                f"`Converter.register_layer({type(layer).__name__})`."
            )
        raise ValueError(
            f"Converter has no rule for layer '{layer.name}' of type "
            f"{type(layer).__name__}. Register one with "
            f"`@keras_spiking.Converter.register_layer({type(layer).__name__})` "
            f"(if the layer is linear and acts on each time step separately, "
            f"`Converter.per_step` is the rule)."
        )

    # --- converting a model -------------------------------------------------------

    def convert(self, model):
        """Convert a model (see `convert`).

        Parameters
        ----------
        model : ``keras.Model``
            A built functional or ``Sequential`` model.

        Returns
        -------
        ``keras.Model``
            The converted model.
        """
        inputs, outputs = _graph.model_ends(model, "the converter")
        _check_swap_names(self.swap_activations, model)
        self._values = {}  # id of an original tensor -> its converted tensor
        self._gains = {}  # id of a converted tensor -> the factor it still needs
        self._clones = {}  # (id of an original layer, variant) -> converted layer
        self._folded_gains = {}  # the same keys -> the gain folded into that layer
        self._names = set()
        self._n_spiking = 0
        self._folds = {}

        new_inputs = []
        for tensor in inputs:
            name = _graph.producer(tensor).operation.name
            self._names.add(name)
            new = keras.Input((None, *tensor.shape[1:]), dtype=tensor.dtype, name=name)
            self._values[id(tensor)] = new
            new_inputs.append(new)
        new_outputs = self._convert_graph(inputs, outputs)
        if self.output != "sequence":
            new_outputs = [
                self._keep_gain(
                    TimeReadout(self.output, name=self._unique("readout"))(x), x
                )
                for x in new_outputs
            ]
        new_outputs = [self._true(x, "output") for x in new_outputs]
        return keras.Model(
            new_inputs if len(new_inputs) > 1 else new_inputs[0],
            new_outputs if len(new_outputs) > 1 else new_outputs[0],
            name=self._unique(f"{model.name}_spiking"),
        )

    def _convert_graph(self, inputs, outputs):
        """Convert the graph from ``inputs`` (already converted) to ``outputs``."""
        self._plan_folds(inputs, outputs)
        return [self._convert_tensor(tensor) for tensor in outputs]

    def _convert_tensor(self, tensor):
        if id(tensor) in self._values:
            return self._values[id(tensor)]
        node = _graph.producer(tensor)
        operation = node.operation
        if not isinstance(operation, keras.layers.Layer):
            raise ValueError(
                f"Operation '{operation.name}' ({type(operation).__name__}) is not a "
                f"layer, so the converter cannot follow it. Use the equivalent "
                f"keras.layers layer (e.g. keras.layers.Add for `x + y`) in the "
                f"model."
            )
        if node.is_input:
            raise ValueError(
                f"Input '{operation.name}' is not an input of the model being "
                f"converted, so the converter cannot follow this branch."
            )
        first = node.arguments.args[0] if node.arguments.args else None
        first_ids = {id(t) for t in keras.tree.flatten(first)}
        others = [t for t in node.arguments.keras_tensors if id(t) not in first_ids]
        if others:
            raise ValueError(
                f"Layer '{operation.name}' is called with tensors in arguments "
                f"other than its first one, so the converter cannot follow this "
                f"branch; pass every input in the first argument."
            )
        converted = {id(t): self._convert_tensor(t) for t in node.input_tensors}
        inputs = keras.tree.map_structure(
            lambda t: converted[id(t)] if id(t) in converted else t, first
        )
        results = self._convert_layer(operation, inputs)
        flat = [] if results is None else keras.tree.flatten(results)
        if len(flat) != len(node.output_tensors) or not all(
            isinstance(t, keras.KerasTensor) for t in flat
        ):
            rule = "conversion"
            if not isinstance(operation, keras.Model):
                name = getattr(self._rule(operation), "__name__", "?")
                rule = f"conversion rule ({name})"
            raise TypeError(
                f"The {rule} of layer '{operation.name}' ({type(operation).__name__}) "
                f"returned {results!r}, but must return the converted output: "
                f"{len(node.output_tensors)} symbolic tensor(s) with a time axis, "
                f"(batch, time, ...), e.g. `converter.per_step(layer, inputs)`. "
                f"(A function that only builds layers needs a `return`.)"
            )
        for original, new in zip(node.output_tensors, flat, strict=True):
            self._values[id(original)] = new
        return self._values[id(tensor)]

    def _convert_layer(self, layer, inputs):
        if isinstance(layer, keras.Model):
            # a nested model: convert its layers in place. Each application of
            # the model converts its graph afresh (its tensors stand for other
            # values each time), while its layers keep one converted copy each.
            inner_inputs, inner_outputs = _graph.model_ends(layer, "the converter")
            outer = self._values
            self._values = {
                id(original): new
                for original, new in zip(
                    inner_inputs, keras.tree.flatten(inputs), strict=True
                )
            }
            try:
                outputs = self._convert_graph(inner_inputs, inner_outputs)
            finally:
                self._values = outer
            return outputs if len(outputs) > 1 else outputs[0]
        rule = self._rule(layer)
        if rule not in _GAIN_AWARE_RULES:
            inputs = keras.tree.map_structure(
                lambda x: self._true(x, layer.name), inputs
            )
        return rule(self, layer, inputs)

    def _plan_folds(self, inputs, outputs):
        """Find the BatchNormalization layers to fold into the layer before them."""
        if not self.fold_batch_norm:
            return
        input_ids = {id(t) for t in inputs}
        users, applications, nodes = {}, {}, []
        stack, seen = list(outputs), set()
        for tensor in outputs:
            users[id(tensor)] = users.get(id(tensor), 0) + 1
        while stack:
            tensor = stack.pop()
            if id(tensor) in seen or id(tensor) in input_ids:
                continue
            seen.add(id(tensor))
            node = _graph.producer(tensor)
            operation = node.operation
            nodes.append(node)
            applications[id(operation)] = applications.get(id(operation), 0) + 1
            for t in node.input_tensors:
                users[id(t)] = users.get(id(t), 0) + 1
                stack.append(t)
        for node in nodes:
            norm = node.operation
            if not isinstance(norm, keras.layers.BatchNormalization):
                continue
            source = node.input_tensors[0]
            layer = _graph.producer(source).operation
            if (
                type(layer) in _WEIGHTED
                and is_linear(layer.activation)
                and applications[id(layer)] == 1
                and users[id(source)] == 1
                and _channel_axis(norm, len(source.shape))
                == _channel_axis(layer, len(source.shape))
            ):
                self._folds[id(layer)] = norm
                self._folds[id(norm)] = None

    # --- building blocks for rules ------------------------------------------------

    def per_step(self, layer, inputs, weights=None, **config):
        """Apply a copy of ``layer`` at every time step.

        Parameters
        ----------
        layer : ``keras.layers.Layer``
            The original layer. The copy is made from its config (updated with
            ``config``) and gets a copy of its weights.
        inputs : tensor or list of tensor
            Converted input, ``(batch, time, ...)``.
        weights : list of array, optional
            Weights for the copy, instead of ``layer.get_weights()``.
        config : dict
            Changes to the layer's config (e.g. ``activation="linear"``).

        Returns
        -------
        tensor
            The output at every step, ``(batch, time, ...)``.
        """
        # copies with the original weights are made once, so that a layer used
        # several times is one layer used several times in the converted model
        if weights is not None:
            return self._copy_per_step(layer, inputs, weights, config)(inputs)
        key = (id(layer), repr(sorted(config.items())))
        if key not in self._clones:
            self._clones[key] = self._copy_per_step(layer, inputs, None, config)
        return self._clones[key](inputs)

    def _copy_per_step(self, layer, inputs, weights, config):
        """A copy of ``layer`` (with ``config`` changes and ``weights``, or the
        layer's own), applied at every step; built, not yet called."""
        new_config = {**layer.get_config(), **config}
        new_config["name"] = self._unique(layer.name)
        copy = type(layer).from_config(new_config)
        wrapped = (
            copy
            if isinstance(copy, _NATIVE)
            else BatchedTimeDistributed(copy, name=new_config["name"])
        )
        wrapped.build(keras.tree.map_structure(lambda x: x.shape, inputs))
        copy.set_weights(layer.get_weights() if weights is None else weights)
        return wrapped

    def _per_step_folded(self, layer, inputs, norm, config):
        """``layer`` at every step, with the pending gain of ``inputs`` (and the
        BatchNormalization ``norm``, if given) folded into its kernel.

        A layer applied several times stays one layer in the converted model (its
        weights tied): its copy folds the gain of its first application, and a
        later application whose input has another gain gets a `FiringRateScale` by
        the ratio of the two.
        """
        gain = self._gain(inputs)
        key = (id(layer), repr(sorted(config.items())))
        if key in self._clones:
            folded = self._folded_gains[key]
            if gain != folded:
                inputs = FiringRateScale(
                    gain / folded, name=self._unique(f"{layer.name}_scale")
                )(inputs)
            return self._clones[key](inputs)
        weights = None if norm is None else _fold_batch_norm(layer, norm)
        if gain != 1:
            kernel, *rest = weights or layer.get_weights()
            weights = [(kernel * gain).astype(kernel.dtype), *rest]
        self._clones[key] = self._copy_per_step(layer, inputs, weights, config)
        self._folded_gains[key] = gain
        return self._clones[key](inputs)

    def nonlinearity(self, inputs, activation, name):
        """Apply an activation: spiking, if the options say to swap it.

        A swapped activation becomes (in order) a `FiringRateScale` by
        ``scale_firing_rates``, a `.SpikingActivation`, a `.Lowpass` if there is
        a ``synapse``, and the division by ``scale_firing_rates`` (folded into the
        next layer where possible). Any other activation is applied as it is, at
        each step.

        Parameters
        ----------
        inputs : tensor
            Converted input, ``(batch, time, ...)``.
        activation : str or callable
            The activation (anything that ``keras.activations.get`` accepts, or
            a ``ReLU`` or ``LeakyReLU`` layer).
        name : str
            Base of the names of the new layers.

        Returns
        -------
        tensor
            The output at every step, ``(batch, time, ...)``.
        """
        if not isinstance(activation, keras.layers.Layer):
            activation = keras.activations.get(activation)
        name_of_activation = activation_name(activation)
        if name_of_activation == "linear":
            return inputs
        if not self._swaps(name_of_activation):
            layer = _copy(activation, self._unique(name))
            return layer(self._true(inputs, name))

        scale = self._scale(activation)
        x = self._true(inputs, name, extra=scale)
        if self.neuron is not None:
            x = self._neuron(activation, self._unique(name))(x)
        else:
            x = SpikingActivation(
                _copy(activation)
                if isinstance(activation, keras.layers.Layer)
                else activation,
                dt=self.dt,
                seed=self._next_seed(),
                spiking_aware_training=self.spiking_aware_training,
                name=self._unique(name),
            )(x)
        if self.synapse is not None:
            x = Lowpass(self.synapse, dt=self.dt, name=self._unique(f"{name}_synapse"))(
                x
            )
        self._gains[id(x)] = 1 / scale
        return x

    # --- helpers ------------------------------------------------------------------

    def _swaps(self, name):
        if self.swap_activations is None:
            return name not in NOT_ELEMENTWISE
        return name in self.swap_activations

    def _neuron(self, activation, name):
        """A copy of the ``neuron`` layer, with the parameters of an `.LIFRate`."""
        config = {**self.neuron.get_config(), "name": name}
        if isinstance(activation, LIFRate):
            config.update(activation.neuron_arguments)
        if self.dt is not None:
            config["dt"] = self.dt
        return type(self.neuron).from_config(config)

    def _scale(self, activation):
        """The factor ``scale_firing_rates`` gives for this activation."""
        if self.scale_firing_rates is not None:
            return float(self.scale_firing_rates)
        if self.neuron is not None or not _is_homogeneous(activation):
            return 1.0
        return 1 / checked_dt_value(self.dt)

    def _next_seed(self):
        index = self._n_spiking
        self._n_spiking += 1
        if self.seed is None:
            return None
        # a distinct, reproducible 31-bit seed for each spiking layer
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0] >> 1)

    def _unique(self, name):
        """``name``, or ``name_1``, ``name_2``, ... if it is already used."""
        candidate, i = name, 0
        while candidate in self._names:
            i += 1
            candidate = f"{name}_{i}"
        self._names.add(candidate)
        return candidate

    def _gain(self, x):
        return self._gains.get(id(x), 1.0)

    def _keep_gain(self, new, old):
        """Give ``new`` the pending gain of ``old`` (for layers a gain passes)."""
        if self._gain(old) != 1:
            self._gains[id(new)] = self._gain(old)
        return new

    def _true(self, x, name, extra=1.0):
        """``x`` times its pending gain (and ``extra``), with a `FiringRateScale`."""
        factor = self._gain(x) * extra
        if factor == 1:
            return x
        return FiringRateScale(factor, name=self._unique(f"{name}_scale"))(x)


# Rules that handle the pending gains of their inputs themselves; every other rule
# receives inputs with the gains applied.
_GAIN_AWARE_RULES = set()


def _builtin(*layer_types, gain_aware=False):
    def decorator(rule):
        for layer_type in layer_types:
            Converter.register_layer(layer_type)(rule)
        if gain_aware:
            _GAIN_AWARE_RULES.add(rule)
        return rule

    return decorator


@_builtin(*_WEIGHTED, gain_aware=True)
def _convert_weighted(converter, layer, inputs):
    """Dense and Conv: the linear part per step, then the activation."""
    config = {"activation": "linear"}
    norm = converter._folds.get(id(layer))
    if norm is not None:
        config["use_bias"] = True
    x = converter._per_step_folded(layer, inputs, norm, config)
    return converter.nonlinearity(x, layer.activation, name=f"{layer.name}_activation")


@_builtin(keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, LIFRate)
def _convert_activation(converter, layer, inputs):
    activation = (
        layer.activation if isinstance(layer, keras.layers.Activation) else layer
    )
    return converter.nonlinearity(inputs, activation, name=layer.name)


@_builtin(*_GAIN_TRANSPARENT, gain_aware=True)
def _convert_transparent(converter, layer, inputs):
    return converter._keep_gain(converter.per_step(layer, inputs), inputs)


@_builtin(*_TRAINING_ONLY, gain_aware=True)
def _convert_training_only(converter, layer, inputs):
    return inputs


@_builtin(*_MAX_POOLING, gain_aware=True)
def _convert_max_pooling(converter, layer, inputs):
    average = type(layer).__name__.replace("Max", "Average")
    if not converter.max_to_avg_pool:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no exact spiking "
            f"form: the maximum of spike trains is not the maximum of their rates. "
            f"Pass max_to_avg_pool=True to convert it to {average} (a different "
            f"function), or use average pooling in the model."
        )
    pooling = getattr(keras.layers, average).from_config(layer.get_config())
    return converter._keep_gain(converter.per_step(pooling, inputs), inputs)


# elementwise affine layers without weights to fold into: applied as they are at
# each step
_builtin(keras.layers.Rescaling, keras.layers.Normalization)(Converter.per_step)


@_builtin(keras.layers.BatchNormalization)
def _convert_batch_norm(converter, layer, inputs):
    if id(layer) in converter._folds:
        return inputs  # folded into the layer before it
    return converter.per_step(layer, inputs)


@_builtin(
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Concatenate,
    gain_aware=True,
)
def _convert_merge(converter, layer, inputs):
    gains = {converter._gain(x) for x in inputs}
    if len(gains) > 1:
        inputs = [converter._true(x, layer.name) for x in inputs]
    config = {}
    if isinstance(layer, keras.layers.Concatenate) and layer.axis >= 0:
        config["axis"] = layer.axis + 1  # the new time axis comes before it
    copy = _copy(layer, converter._unique(layer.name), **config)
    return converter._keep_gain(copy(inputs), inputs[0])


# --- module helpers -----------------------------------------------------------------


def _copy(activation, name=None, **config):
    """A new layer with the config of ``activation`` (a layer) or applying it."""
    if not isinstance(activation, keras.layers.Layer):
        return keras.layers.Activation(activation, name=name)
    config = {**activation.get_config(), **config}
    if name is not None:
        config["name"] = name
    return type(activation).from_config(config)


def _activation_names(names):
    """The ``swap_activations`` option as a frozenset of the names that
    `activation_name` gives (or None).

    Names are looked up like ``keras.activations.get``, so an alias swaps the
    function it names (``"swish"`` is ``"silu"``); a name Keras does not know
    must be the name of an activation in the converted model (checked by
    `Converter.convert`).
    """
    if names is None:
        return None
    if isinstance(names, str):
        raise ValueError(
            f"`swap_activations` must be a collection of activation names, not a "
            f"string; e.g. swap_activations={[names]!r}."
        )
    if not isinstance(names, (set, frozenset, list, tuple)):
        raise TypeError(
            f"`swap_activations` must be a collection of activation names (a set, "
            f"list or tuple of strings), such as {{'relu'}}; got "
            f"swap_activations={names!r}."
        )
    result = set()
    for name in names:
        if callable(name):  # an activation function or layer, not its name
            result.add(activation_name(name))
            continue
        if not isinstance(name, str):
            raise TypeError(
                f"`swap_activations` must hold activation names (strings), such as "
                f"'relu', or activation functions; got {name!r} of type "
                f"{type(name).__name__}."
            )
        if name in ("relu", "leaky_relu", "linear"):
            result.add(name)
            continue
        try:
            result.add(activation_name(keras.activations.get(name)))
        except (TypeError, ValueError):
            result.add(name)  # perhaps a custom activation's name
    return frozenset(result)


def _model_activation_names(model):
    """The names of the activations of a model's layers (nested models too)."""
    names = set()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names |= _model_activation_names(layer)
        elif isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU)):
            names.add(activation_name(layer))
        elif getattr(layer, "activation", None) is not None:
            names.add(activation_name(layer.activation))
    return names


def _check_swap_names(names, model):
    """Raise if a ``swap_activations`` name is neither a Keras activation nor an
    activation of ``model``: a typo would otherwise swap nothing."""
    if names is None:
        return
    present = _model_activation_names(model)
    for name in sorted(names):
        try:
            keras.activations.get(name)
            known = True
        except (TypeError, ValueError):
            known = name in ("relu", "leaky_relu")
        if known or name in present:
            continue
        candidates = sorted(present | {"relu", "leaky_relu", "sigmoid", "tanh"})
        close = difflib.get_close_matches(name, candidates, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"`swap_activations` names {name!r}, which is neither an activation "
            f"Keras knows nor an activation in model '{model.name}' (whose "
            f"activations are {sorted(present) or 'none'}), so it would swap "
            f"nothing.{hint}"
        )


def _positive(value):
    return (
        isinstance(value, (int, float, np.number))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _is_homogeneous(activation):
    """Whether ``f(a * x) = a * f(x)`` for every ``a > 0``."""
    if isinstance(activation, keras.layers.ReLU):
        return activation.max_value is None and activation.threshold == 0
    return activation_name(activation) in ("relu", "leaky_relu", "linear")


def _channel_axis(layer, rank):
    """The (non-negative) axis of the channels of ``layer``'s output."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis % rank
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return 1
    return rank - 1


def _fold_batch_norm(layer, norm):
    """The weights of ``layer`` followed by the BatchNormalization ``norm``."""
    kernel = ops.convert_to_numpy(layer.kernel)
    bias = (
        ops.convert_to_numpy(layer.bias)
        if layer.use_bias
        else np.zeros(kernel.shape[-1], kernel.dtype)
    )
    variance = ops.convert_to_numpy(norm.moving_variance).astype(np.float64)
    gamma = ops.convert_to_numpy(norm.gamma) if norm.scale else 1.0
    beta = ops.convert_to_numpy(norm.beta) if norm.center else 0.0
    mean = ops.convert_to_numpy(norm.moving_mean)
    factor = gamma / np.sqrt(variance + norm.epsilon)
    return [
        (kernel * factor).astype(kernel.dtype),
        ((bias - mean) * factor + beta).astype(kernel.dtype),
    ]


def convert(
    model,
    dt=None,
    seed=None,
    spiking_aware_training=True,
    swap_activations=None,
    scale_firing_rates=None,
    synapse=None,
    output="mean",
    max_to_avg_pool=False,
    fold_batch_norm=True,
    neuron=None,
):
    """Convert a trained Keras model into a spiking model.

    The converted model takes input with a time axis, ``(batch, time,
    *input_shape)`` (repeat a static input over time, e.g. ``np.tile(x[:, None],
    (1, n_steps, 1))``), applies every layer at each time step and replaces every
    nonlinearity with a `.SpikingActivation` of the same function. As the number
    of steps grows, the mean of its output approaches the output of the original
    model.

    Parameters
    ----------
    model : ``keras.Model``
        A built functional or ``Sequential`` model.
    dt : float or ``keras.Variable``, optional
        Length of a time step, in seconds, of the spiking and filter layers
        (default: ``keras_spiking.default.dt``).
    seed : int, optional
        Seed of the initial voltages (each spiking layer gets its own seed,
        derived from this one). If None, they are drawn afresh on every call.
    spiking_aware_training : bool
        Passed to every `.SpikingActivation`.
    swap_activations : collection of str, optional
        Names of the activations to make spiking; by default all except
        ``softmax`` and ``log_softmax``.
    scale_firing_rates : float, optional
        Multiplies the input of every spiking layer (and divides its output), so
        the neurons fire faster; exact for ``relu``-like activations. By default
        ``1 / dt`` for ``relu``-like activations (an activation of 1 fires once per
        step) and 1 for others.
    synapse : float, optional
        Time constant of a `.Lowpass` filter after every spiking layer.
    output : str
        ``"mean"`` (the mean over time, default), ``"last"`` (the last step) or
        ``"sequence"`` (every step).
    max_to_avg_pool : bool
        Convert max pooling to average pooling (else max pooling is an error).
    fold_batch_norm : bool
        Fold ``BatchNormalization`` into the ``Dense`` or ``Conv`` layer before
        it, where possible (else keep it, applied at each step).
    neuron : `.KerasSpikingLayer`, optional
        Spiking neurons to use instead of `.SpikingActivation` (e.g.
        ``keras_spiking.LIF()``): each `.LIFRate` becomes one with the rate's
        parameters.

    Returns
    -------
    ``keras.Model``
        The spiking model. See `Converter` for the details of every option and
        of what each layer becomes.

    Examples
    --------
    >>> inp = keras.Input((4,))
    >>> x = keras.layers.Dense(8, activation="relu")(inp)
    >>> out = keras.layers.Dense(2)(x)
    >>> spiking = keras_spiking.convert(keras.Model(inp, out), dt=0.01, seed=0)
    >>> print(*(type(layer).__name__ for layer in spiking.layers))
    InputLayer Dense FiringRateScale SpikingActivation Dense TimeReadout
    >>> spiking.predict(np.ones((3, 100, 4)), verbose=0).shape
    (3, 2)
    """
    return Converter(
        dt=dt,
        seed=seed,
        spiking_aware_training=spiking_aware_training,
        swap_activations=swap_activations,
        scale_firing_rates=scale_firing_rates,
        synapse=synapse,
        output=output,
        max_to_avg_pool=max_to_avg_pool,
        fold_batch_norm=fold_batch_norm,
        neuron=neuron,
    ).convert(model)
