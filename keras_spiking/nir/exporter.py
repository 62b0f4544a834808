"""Write a Keras model as a NIR graph: `to_nir`, and the `Exporter` whose rules,
one per layer type, write each layer's nodes."""

import dataclasses
import json

import keras
import nir
import numpy as np
from keras import ops

from keras_spiking import _graph
from keras_spiking._activations import activation_name, is_linear
from keras_spiking.config import default
from keras_spiking.converter import FiringRateScale
from keras_spiking.layers import (
    LIF,
    AdaptiveLIF,
    Alpha,
    KerasSpikingLayer,
    Lowpass,
    SpikingActivation,
)
from keras_spiking.nir import layout
from keras_spiking.nir.conventions import (
    HUGE_TAU,
    exact_tau,
    get_convention,
    is_one,
    uniform,
)
from keras_spiking.nir.messages import warn
from keras_spiking.version import version

WRITER = "keras_spiking"
"""str: The ``writer`` entry of the metadata of the graphs this library writes."""

ALPHA_FORMS = ("li", "cubali")
"""tuple: How `to_nir` writes an `~keras_spiking.layers.Alpha` filter: two ``LI``
nodes in series (read by more simulators) or one ``CubaLI`` with equal time
constants."""


@dataclasses.dataclass(frozen=True)
class Signal:
    """A tensor of the Keras model, as the NIR graph has it.

    Parameters
    ----------
    sources : tuple of str
        The NIR nodes whose outputs add up to the tensor (NIR adds the edges into
        a node).
    order : numpy.ndarray
        Of the NIR shape: the index of each element in the Keras tensor's step,
        flattened (see the module ``keras_spiking.nir.layout``).
    keras_shape : tuple of int
        The Keras per-step shape (without batch and time axes).
    """

    sources: tuple
    order: np.ndarray
    keras_shape: tuple

    @property
    def shape(self):
        """tuple of int: The NIR shape."""
        return tuple(self.order.shape)


class Exporter:
    """Write Keras models as NIR graphs (see `to_nir`, the usual way to use it).

    Each layer is written by a *rule* registered for its type with
    `Exporter.register_layer`; the rules use the methods below to add nodes.

    Parameters
    ----------
    convention : str
        The convention the graph is written in (see
        `keras_spiking.nir.CONVENTIONS`).
    alpha : {"li", "cubali"}
        How an `~keras_spiking.layers.Alpha` filter is written.

    Attributes
    ----------
    rules : dict
        Class-level table of rules, by layer type.
    convention : `keras_spiking.nir.Convention`
        The convention.
    dt : float
        The time step of the model being written.
    """

    rules = {}

    def __init__(self, convention="continuous", alpha="li"):
        self.convention = get_convention(convention)
        if alpha not in ALPHA_FORMS:
            raise ValueError(
                f"`alpha` must be one of {', '.join(map(repr, ALPHA_FORMS))}; got "
                f"alpha={alpha!r}."
            )
        self.alpha = alpha
        self.dt = None
        self._nodes = self._edges = None
        self._outer = None

    # --- the rule registry -----------------------------------------------------------

    @classmethod
    def register_layer(cls, layer_class):
        """Decorator registering the rule that writes a layer type.

        The rule is called for each application of a layer of that type (or of a
        subclass without a rule of its own) as ``rule(exporter, layer, inputs)``:
        ``inputs`` is a list of `Signal` (one per input tensor); the rule adds
        nodes with `Exporter.add_node` and returns the `Signal` of the output.
        Registering a type that already has a rule replaces it.

        Parameters
        ----------
        layer_class : type
            The layer class.

        Returns
        -------
        callable
            A decorator that registers the rule and returns it unchanged.

        Examples
        --------
        A layer that doubles its input is a NIR ``Scale``:

        >>> import numpy as np
        >>> from keras_spiking.nir import Exporter
        >>> class Double(keras.layers.Layer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> @Exporter.register_layer(Double)
        ... def export_double(exporter, layer, inputs):
        ...     import nir
        ...     (x,) = inputs
        ...     node = nir.Scale(np.full(x.shape, 2.0, "float32"))
        ...     return exporter.add_node(layer, node, inputs)
        """

        def decorator(rule):
            cls.rules[layer_class] = rule
            return rule

        return decorator

    @classmethod
    def rule(cls, layer):
        """The rule for ``layer``, looked up along its class hierarchy."""
        for layer_type in type(layer).__mro__:
            if layer_type in cls.rules:
                return cls.rules[layer_type]
        raise ValueError(
            f"to_nir has no rule for layer '{layer.name}' of type "
            f"{type(layer).__name__}: NIR has no node for it here. Register one with "
            f"`@keras_spiking.nir.Exporter.register_layer({type(layer).__name__})`."
        )

    # --- writing a model --------------------------------------------------------------

    def export(self, model):
        """Write ``model`` as a ``nir.NIRGraph``."""
        inputs, nodes, outputs = _graph.ordered_nodes(model, "to_nir")
        self.dt = _model_dt(model)
        self._nodes, self._edges = {}, []
        signals = {}
        names = (
            ["input"]
            if len(inputs) == 1
            else [_graph.producer(t).operation.name for t in inputs]
        )
        for name, tensor in zip(names, inputs, strict=True):
            keras_shape = _step_shape(tensor, f"input '{name}'")
            order = layout.standard_order(keras_shape, layout.channels_last())
            self._nodes[name] = nir.Input(input_type=np.array(order.shape))
            signals[id(tensor)] = Signal((name,), order, keras_shape)
        for node in nodes:
            layer = node.operation
            try:
                ins = [signals[id(t)] for t in node.input_tensors]
            except KeyError:
                raise ValueError(
                    f"Layer '{layer.name}' takes a tensor that is not computed from "
                    f"the model's inputs; to_nir cannot write it."
                ) from None
            out = self.apply(layer, ins)
            outs = out if isinstance(out, (list, tuple)) else [out]
            if len(outs) != len(node.output_tensors):
                raise ValueError(
                    f"The rule for layer '{layer.name}' returned {len(outs)} outputs "
                    f"for {len(node.output_tensors)} tensors."
                )
            for tensor, signal in zip(node.output_tensors, outs, strict=True):
                signals[id(tensor)] = signal
        for i, tensor in enumerate(outputs):
            name = _unique("output" if len(outputs) == 1 else f"output{i}", self._nodes)
            signal = signals[id(tensor)]
            self._nodes[name] = nir.Output(output_type=np.array(signal.shape))
            self._edges += [(source, name) for source in signal.sources]
        return self._graph(model)

    def apply(self, layer, inputs):
        """Write ``layer`` applied to ``inputs`` (a list of `Signal`) with its
        rule, and return its output `Signal`."""
        return self.rule(layer)(self, layer, inputs)

    def apply_inner(self, wrapper, layer, inputs):
        """Write ``layer``, held by ``wrapper`` (e.g. a ``TimeDistributed``), with
        its rule; the nodes take the wrapper's name."""
        outer, self._outer = self._outer, self._outer or wrapper
        try:
            return self.apply(layer, inputs)
        finally:
            self._outer = outer

    def _graph(self, model):
        metadata = {
            "writer": WRITER,
            "version": version,
            "dt": float(self.dt),
            "time_unit": "s",
            "convention": self.convention.name,
            "model": model.name,
        }
        try:
            graph = nir.NIRGraph(
                nodes=dict(self._nodes), edges=list(self._edges), metadata=metadata
            )
            # what nir.read will check: the types it infers from the fields
            nir.dict2NIRNode(graph.to_dict())
            return graph
        except ValueError as error:
            # nir 1.0.8 gives a convolution with a non-square kernel the output
            # shape of a square one, so its type check fails on correct graphs
            warn(
                f"to_nir: nir's type check rejects the graph ({error}). The graph "
                f"is written without it; read it with "
                f"`nir.read(path, type_check=False)` (from_nir does)."
            )
            return nir.NIRGraph(
                nodes=self._nodes,
                edges=self._edges,
                metadata=metadata,
                type_check=False,
            )

    # --- building blocks for rules ----------------------------------------------------

    def node_name(self, layer, suffix=""):
        """A new node name for ``layer`` (its name, made unique)."""
        return _unique((self._outer or layer).name + suffix, self._nodes)

    def add_node(self, layer, node, inputs, order=None, keras_shape=None, suffix=""):
        """Add ``node`` to the graph, with edges from ``inputs``.

        Parameters
        ----------
        layer : ``keras.layers.Layer``
            The layer written (names the node).
        node : ``nir.NIRNode``
            The node (a nested ``nir.NIRGraph`` too).
        inputs : list of `Signal`
            The signals the node takes: an edge from each of their sources.
        order, keras_shape : optional
            The output's `Signal` layout; by default the input's (an elementwise
            node).
        suffix : str
            Added to the layer's name for the node's name.

        Returns
        -------
        Signal
            The node's output.
        """
        name = self.node_name(layer, suffix)
        self._nodes[name] = node
        for signal in inputs:
            self._edges += [(source, name) for source in signal.sources]
        if order is None:
            order, keras_shape = inputs[0].order, inputs[0].keras_shape
        return Signal((name,), order, tuple(keras_shape))

    def elementwise(self, values, signal, dtype="float32"):
        """Per-element values of the Keras layout (anything that broadcasts to
        the step shape of ``signal``) as a full array of the NIR shape."""
        values = np.asarray(values)
        if values.dtype.kind != "f":
            values = values.astype("float64")
        return layout.to_nir(values, signal.order, signal.keras_shape).astype(dtype)

    def warn(self, layer, message):
        """Warn about ``layer`` (or the layer that holds it): what is not exact,
        and why."""
        warn(f"to_nir: layer '{(self._outer or layer).name}': {message}")

    def fail(self, layer, message):
        """Raise the error that ``layer`` (or the layer that holds it) cannot be
        written, and why."""
        raise ValueError(
            f"to_nir: layer '{(self._outer or layer).name}' cannot be written: "
            f"{message}"
        )

    def one_input(self, layer, inputs):
        """The single input `Signal` of ``layer``."""
        if len(inputs) != 1:
            self.fail(layer, f"it takes {len(inputs)} inputs; NIR nodes take one.")
        return inputs[0]


def to_nir(model, convention="continuous", alpha="li"):
    """Write a Keras model as a NIR graph (the Neuromorphic Intermediate
    Representation, ``nir`` 1.0.8).

    The graph's shapes are channels-first and exclude the batch and time axes;
    every neuron parameter is a full array. Its metadata hold ``dt`` (from the
    model's layers, which must agree), the time unit (``"s"``), the convention,
    the writer (``"keras_spiking"``) and its version; each node written from one
    of this library's layers also holds the layer's class and config (so that
    `from_nir` gives the same layer back, with its reset, spike rule and
    training options). Readers do not need the metadata.

    Write the graph to a file with ``nir.write(path, graph)``.

    Parameters
    ----------
    model : ``keras.Model``
        A functional or ``Sequential`` model over ``(batch, time, ...)``.
    convention : {"continuous", "snntorch", "norse"}
        How the graph is meant (see the "NIR" page of the user guide): NIR's
        continuous-time equations (default), or the graph that snnTorch's or
        Norse's importer runs as this model.
    alpha : {"li", "cubali"}
        Write each `~keras_spiking.layers.Alpha` filter as two ``LI`` nodes in series
        (default) or as one ``CubaLI`` with equal time constants.

    Returns
    -------
    ``nir.NIRGraph``

    Raises
    ------
    ValueError
        For a layer that NIR cannot represent (the message names the layer and
        why), or layers whose ``dt`` differ.

    Warns
    -----
    UserWarning
        For each layer written as something that is not exactly the layer (what
        is not exact is named).

    Examples
    --------
    >>> import keras_spiking.nir
    >>> model = keras.Sequential([
    ...     keras.Input((None, 4)),
    ...     keras.layers.Dense(3),
    ...     keras_spiking.LIF(tau=0.02, dt=0.001),
    ... ])
    >>> graph = keras_spiking.nir.to_nir(model)
    >>> sorted(type(n).__name__ for n in graph.nodes.values())
    ['Affine', 'Input', 'LIF', 'Output']
    """
    return Exporter(convention=convention, alpha=alpha).export(model)


# --- helpers -----------------------------------------------------------------------


def _unique(base, taken):
    """``base``, or ``base_1``, ``base_2``, ... if it is taken."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def _step_shape(tensor, what):
    """The per-step shape of a ``(batch, time, ...)`` symbolic tensor."""
    shape = tuple(tensor.shape)
    if len(shape) < 3 or any(n is None for n in shape[2:]):
        raise ValueError(
            f"to_nir: {what} has shape {shape}; NIR needs input of shape (batch, "
            f"time, ...) with every axis after time known."
        )
    return tuple(int(n) for n in shape[2:])


def _layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.layers.TimeDistributed):
            yield layer.layer


def _model_dt(model):
    """The time step of the model's layers (they must agree)."""
    steps = {}
    for layer in _layers(model):
        if isinstance(layer, KerasSpikingLayer):
            steps.setdefault(layer.dt_value, []).append(layer.name)
    if len(steps) > 1:
        listing = "; ".join(
            f"dt={dt!r}: {', '.join(names)}" for dt, names in steps.items()
        )
        raise ValueError(
            f"to_nir: the layers of model '{model.name}' have different time steps "
            f"({listing}). A NIR graph has one dt: give every layer the same dt."
        )
    return next(iter(steps)) if steps else float(default.dt)


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _first(value):
    """One number for a config entry that the node's fields give per element."""
    array = np.asarray(value, dtype="float64")
    return float(array.ravel()[0]) if array.size else value


def layer_metadata(layer, **extra):
    """The node metadata that lets `from_nir` rebuild ``layer`` as it was: its
    class and its config (per-element weights, which the node's fields hold, are
    kept as one number)."""
    config = dict(layer.get_config())
    for key in ("tau", "tau_syn", "threshold"):
        if isinstance(config.get(key), list):
            config[key] = _first(config[key])
    for key in ("recurrent_initializer", "recurrent_bias_initializer"):
        config.pop(key, None)
    return {
        WRITER: {
            "layer": type(layer).__name__,
            "config": json.dumps(config, default=_json_default),
            **extra,
        }
    }


def _check_time_layer(exporter, layer):
    if layer.time_major:
        exporter.fail(layer, "time_major=True; use (batch, time, ...) input.")
    if not layer.return_sequences or layer.return_state:
        exporter.fail(
            layer,
            "a NIR node outputs every step: use return_sequences=True and "
            "return_state=False.",
        )


# --- rules: linear layers ------------------------------------------------------------


def _check_linear(exporter, layer):
    if not is_linear(getattr(layer, "activation", None)):
        exporter.fail(
            layer,
            f"its activation '{activation_name(layer.activation)}' has no NIR node; "
            f"use activation=None and a spiking layer after it.",
        )


@Exporter.register_layer(keras.layers.Dense)
def _export_dense(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _check_linear(exporter, layer)
    if len(x.shape) != 1:
        exporter.fail(
            layer,
            f"NIR's Affine takes vectors, and its input has shape {x.keras_shape} "
            f"at each step; flatten it first.",
        )
    kernel = _numpy(layer.kernel)
    weight = np.ascontiguousarray(kernel[x.order].T)
    if layer.use_bias:
        node = nir.Affine(weight=weight, bias=_numpy(layer.bias))
    else:
        node = nir.Linear(weight=weight)
    units = kernel.shape[1]
    return exporter.add_node(layer, node, [x], np.arange(units), (units,))


def _same_padding(exporter, layer, kernel_size, strides, dilation):
    """The symmetric padding of Keras's ``"same"`` (stride 1, odd span)."""
    pads = []
    for k, s, d in zip(kernel_size, strides, dilation, strict=True):
        span = d * (k - 1)
        if s != 1 or span % 2:
            exporter.fail(
                layer,
                f"Keras's padding='same' with strides={tuple(strides)} and kernel "
                f"{tuple(kernel_size)} (dilation {tuple(dilation)}) pads unequally "
                f"on the two sides, which NIR cannot state (its padding is the same "
                f"on both sides). Use padding='valid', stride 1 with an odd kernel, "
                f"or a ZeroPadding layer before a 'valid' convolution.",
            )
        pads.append(span // 2)
    return pads


@Exporter.register_layer(keras.layers.Conv1D)
@Exporter.register_layer(keras.layers.Conv2D)
def _export_conv(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _check_linear(exporter, layer)
    rank = layer.rank
    if rank not in (1, 2) or type(layer).__name__.endswith("Transpose"):
        exporter.fail(layer, "NIR has 1-D and 2-D convolutions only.")
    last = layout.channels_last(layer.data_format)
    if len(x.keras_shape) != rank + 1 or not np.array_equal(
        x.order, layout.standard_order(x.keras_shape, last)
    ):
        exporter.fail(
            layer,
            f"its input (step shape {x.keras_shape}) is not an image laid out as "
            f"data_format='{layer.data_format}'.",
        )
    kernel = _numpy(layer.kernel)
    weight = np.ascontiguousarray(
        kernel.transpose(2, 1, 0) if rank == 1 else kernel.transpose(3, 2, 0, 1)
    )
    bias = _numpy(layer.bias) if layer.use_bias else np.zeros(weight.shape[0], "f4")
    strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
    if layer.padding == "valid":
        padding = [0] * rank
    elif layer.padding == "same":
        padding = _same_padding(exporter, layer, layer.kernel_size, strides, dilation)
    else:
        exporter.fail(layer, f"NIR has no padding='{layer.padding}'.")
    spatial = x.shape[1:]
    out_keras = tuple(
        int(n) for n in layer.compute_output_shape((None, *x.keras_shape))[1:]
    )
    if rank == 1:
        node = nir.Conv1d(
            input_shape=int(spatial[0]),
            weight=weight,
            stride=int(strides[0]),
            padding=int(padding[0]),
            dilation=int(dilation[0]),
            groups=int(layer.groups),
            bias=bias,
        )
    else:
        node = nir.Conv2d(
            input_shape=tuple(int(n) for n in spatial),
            weight=weight,
            stride=strides,
            padding=tuple(padding),
            dilation=dilation,
            groups=int(layer.groups),
            bias=bias,
        )
    order = layout.standard_order(out_keras, last)
    # (nir 1.0.8 computes a non-square kernel's output shape as a square one's)
    node.output_type = {"output": np.array(order.shape)}
    return exporter.add_node(layer, node, [x], order, out_keras)


@Exporter.register_layer(keras.layers.AveragePooling2D)
def _export_average_pooling(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    last = layout.channels_last(layer.data_format)
    if len(x.keras_shape) != 3 or not np.array_equal(
        x.order, layout.standard_order(x.keras_shape, last)
    ):
        exporter.fail(layer, f"its input (step shape {x.keras_shape}) is no image.")
    if layer.padding != "valid":
        exporter.fail(
            layer,
            "Keras's padding='same' for pooling leaves the padding out of the "
            "average, which NIR's AvgPool2d cannot state; use padding='valid'.",
        )
    out_keras = tuple(
        int(n) for n in layer.compute_output_shape((None, *x.keras_shape))[1:]
    )
    node = nir.AvgPool2d(
        kernel_size=np.array(layer.pool_size),
        stride=np.array(layer.strides),
        padding=np.array([0, 0]),
    )
    order = layout.standard_order(out_keras, last)
    node.input_type = {"input": np.array(x.shape)}
    node.output_type = {"output": np.array(order.shape)}
    return exporter.add_node(layer, node, [x], order, out_keras)


def _export_flatten_signal(exporter, layer, x):
    if len(x.shape) == 1:
        return x
    node = nir.Flatten(input_type={"input": np.array(x.shape)}, start_dim=0, end_dim=-1)
    size = int(x.order.size)
    return exporter.add_node(layer, node, [x], x.order.reshape(-1), (size,))


@Exporter.register_layer(keras.layers.Flatten)
def _export_flatten(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    if exporter._outer is None:
        exporter.fail(
            layer,
            "a Flatten on (batch, time, ...) input flattens the time axis too; "
            "wrap it, keras_spiking.converter.BatchedTimeDistributed(Flatten()), "
            "or use Reshape((-1, n)).",
        )
    return _export_flatten_signal(exporter, layer, x)


@Exporter.register_layer(keras.layers.Reshape)
def _export_reshape(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    target = tuple(layer.target_shape)
    size = int(x.order.size)
    if exporter._outer is not None and target in ((size,), (-1,)):
        return _export_flatten_signal(exporter, layer, x)
    if len(target) == 2 and target[1] == size and target[0] in (-1, None):
        return _export_flatten_signal(exporter, layer, x)
    exporter.fail(
        layer,
        f"NIR writes a Reshape only as a Flatten of each step (target shape "
        f"(-1, {size})); got target_shape={target}.",
    )


@Exporter.register_layer(keras.layers.TimeDistributed)
def _export_time_distributed(exporter, layer, inputs):
    return exporter.apply_inner(layer, layer.layer, inputs)


def _export_identity(exporter, layer, inputs):
    return exporter.one_input(layer, inputs)


for _layer_type in (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
):
    Exporter.register_layer(_layer_type)(_export_identity)


@Exporter.register_layer(keras.layers.Activation)
def _export_activation(exporter, layer, inputs):
    _check_linear(exporter, layer)
    return exporter.one_input(layer, inputs)


@Exporter.register_layer(keras.layers.Add)
def _export_add(exporter, layer, inputs):
    first = inputs[0]
    sources = []
    for signal in inputs:
        if not np.array_equal(signal.order, first.order):
            exporter.fail(layer, "its inputs are laid out differently.")
        sources += signal.sources
    if len(set(sources)) != len(sources):
        exporter.fail(
            layer,
            "it adds a tensor to itself; NIR adds the edges into a node, and one "
            "edge cannot be there twice.",
        )
    return Signal(tuple(sources), first.order, first.keras_shape)


@Exporter.register_layer(keras.layers.Rescaling)
def _export_rescaling(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    if np.any(np.asarray(layer.offset) != 0):
        exporter.fail(layer, "NIR's Scale has no offset.")
    scale = exporter.elementwise(np.asarray(layer.scale, "float32"), x)
    return exporter.add_node(layer, nir.Scale(scale=scale), [x])


Exporter.register_layer(FiringRateScale)(_export_rescaling)


# --- rules: spiking layers and filters ------------------------------------------------


@Exporter.register_layer(SpikingActivation)
def _export_spiking_activation(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _check_time_layer(exporter, layer)
    name = activation_name(layer.activation)
    if name != "relu":
        exporter.fail(
            layer,
            f"NIR's neurons give the activation 'relu' (an IF neuron); "
            f"'{name}' has no NIR node.",
        )
    if exporter.convention.name != "continuous":
        exporter.fail(
            layer,
            f"SpikingActivation fires several spikes per step and keeps the rest of "
            f"its voltage; {exporter.convention.name}'s neurons fire at most once "
            f"per step. Write it with convention='continuous', or use an LIF layer "
            f"(tau=None, spike_rule='step') made for that convention.",
        )
    exporter.warn(
        layer,
        "written as NIR's IF (r=1, v_threshold=1, v_reset=0), which is exact, "
        "binned per step, for non-negative input only: a negative input takes the "
        "IF voltage below 0, where relu holds it at 0. The IF starts at 0, not at "
        "SpikingActivation's random initial voltage.",
    )
    ones = np.ones(x.shape, "float32")
    node = nir.IF(
        r=ones,
        v_threshold=ones.copy(),
        v_reset=np.zeros(x.shape, "float32"),
        metadata=layer_metadata(layer),
    )
    return exporter.add_node(layer, node, [x])


def _filter_taus(layer):
    cell = layer.cell
    return np.reshape(_numpy(cell.tau), cell.size).astype("float64")


def _li(exporter, layer, x, tau, metadata):
    """An LI node whose steps are the exact lowpass with time constant ``tau``."""
    c = exporter.convention
    if c.name == "continuous":
        tau_field = exporter.elementwise(tau.astype("float32"), x)
    else:
        # a forward-Euler step with the exact decay of each step
        decay = np.exp(-exporter.dt / tau)
        tau_field = exporter.elementwise(c.euler_dt(exporter.dt) / (1 - decay), x)
    return nir.LI(
        tau=tau_field,
        r=np.ones(x.shape, "float32"),
        v_leak=np.zeros(x.shape, "float32"),
        metadata=metadata,
    )


def _filter_checks(exporter, layer):
    _check_time_layer(exporter, layer)
    if np.any(_numpy(layer.cell.initial_level) != 0):
        exporter.warn(
            layer,
            "NIR's LI has no initial state and starts at 0: the initial level is "
            "left out (only this library reads it back, from the metadata).",
        )
    if exporter.convention.name != "continuous":
        exporter.warn(
            layer,
            f"written as NIR's LI, which {exporter.convention.name}'s importer does "
            f"not read (snnTorch's raises an error, Norse's drops the node without "
            f"a word). Each LI's forward-Euler step has the filter's exact decay.",
        )


@Exporter.register_layer(Lowpass)
def _export_lowpass(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _filter_checks(exporter, layer)
    node = _li(exporter, layer, x, _filter_taus(layer), layer_metadata(layer))
    return exporter.add_node(layer, node, [x])


@Exporter.register_layer(Alpha)
def _export_alpha(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _filter_checks(exporter, layer)
    tau = _filter_taus(layer)
    if exporter.alpha == "cubali":
        c = exporter.convention
        if c.name == "continuous":
            field = exporter.elementwise(tau.astype("float32"), x)
        else:
            field = exporter.elementwise(
                c.euler_dt(exporter.dt) / (1 - np.exp(-exporter.dt / tau)), x
            )
        node = nir.CubaLI(
            tau_syn=field,
            tau_mem=field.copy(),
            r=np.ones(x.shape, "float32"),
            v_leak=np.zeros(x.shape, "float32"),
            w_in=np.ones(x.shape, "float32"),
            metadata=layer_metadata(layer),
        )
        return exporter.add_node(layer, node, [x])
    first = _li(exporter, layer, x, tau, layer_metadata(layer, part=1))
    y = exporter.add_node(layer, first, [x])
    second = _li(exporter, layer, x, tau, {WRITER: {"part": 2}})
    return exporter.add_node(layer, second, [y], suffix="_2")


@Exporter.register_layer(AdaptiveLIF)
def _export_adaptive(exporter, layer, inputs):
    exporter.fail(
        layer,
        "NIR has no adaptive neuron (a threshold that rises with each spike).",
    )


def _per_step_factors(layer, dt):
    """The layer's update per step, ``v <- d v + g I`` (and with a synapse ``i <-
    d_s i + g_s I``), in float64, Keras layout: ``(d, g, d_s, g_s)``."""
    a, cell = layer.arguments, layer.cell
    size = tuple(cell.size)
    ones = np.ones(size)
    weight = None if cell.tau is None else _numpy(cell.tau).astype("float64")
    syn = None if cell.tau_syn is None else _numpy(cell.tau_syn).astype("float64")
    r, integrator = a["r"], a["integrator"]
    d_s = g_s = None
    if integrator == "exact":
        if weight is None:
            d, g = ones, r * dt * ones
        else:
            d = np.exp(-dt / weight)
            g = r * (1 - d)
        if syn is not None:
            d_s = np.exp(-dt / syn)
            g_s = 1 - d_s
    elif integrator == "snntorch":
        d = ones if weight is None else np.clip(weight, 0, 1)
        g = ones
        if syn is not None:
            d_s, g_s = np.clip(syn, 0, 1), ones
    else:
        if weight is None:
            d, g = ones, r * ones
        else:
            k = dt * weight
            d, g = 1 - k, k if syn is not None else r * k
        if syn is not None:
            d_s, g_s = 1 - dt * syn, ones
    return d, g, d_s, g_s


def _lif_warnings(exporter, layer, synapse):
    a, c = layer.arguments, exporter.convention
    peer = {"snntorch": "snnTorch", "norse": "Norse"}.get(c.name)
    notes = []
    rule, reset, delay = a["spike_rule"], a["reset"], a["reset_delay"]
    if reset == "subtract" and rule == "step":
        notes.append(
            "NIR resets to v_reset, and has no subtract reset: reset='subtract' is "
            "kept in the metadata (only this library reads it back); other readers "
            "reset to v_reset"
        )
    if reset == "none":
        notes.append(
            "NIR neurons always reset: reset='none' is kept in the metadata (only "
            "this library reads it back); other readers reset to v_reset"
        )
    equivalent_delay = (
        c.name == "snntorch" and reset == "zero" and not synapse and not a["recurrent"]
    )
    if delay and not equivalent_delay:
        notes.append(
            "NIR resets in the step of the spike: reset_delay=True is kept in the "
            "metadata (only this library reads it back)"
        )
    if c.name == "continuous" and rule == "step":
        if not synapse:
            notes.append(
                "spike_rule='step' (one threshold check per step) is not NIR's "
                "continuous-time neuron; the rule is kept in the metadata"
            )
    if c.name != "continuous" and rule == "exact":
        notes.append(
            f"spike_rule='exact' counts every crossing in a step; {peer}'s neurons "
            f"fire at most once per step"
        )
    if synapse and c.name == "continuous":
        notes.append(
            "NIR's CubaLIF couples current and voltage in continuous time; this "
            "layer holds each step's new current over the step, which is not exact"
        )
    if a["integrator"] != c.integrator:
        notes.append(
            f"its integrator '{a['integrator']}' steps differently from "
            f"{c.name}'s ('{c.integrator}'): the fields give the same decay and "
            f"input gain per step, up to float rounding, not bit for bit"
        )
    if a["initial_voltage"] != c.initial_voltage(
        "IF" if a["tau"] is None else "LIF", a["v_leak"], a["v_reset"]
    ):
        notes.append(
            f"NIR has no initial state: initial_voltage={a['initial_voltage']} is "
            f"kept in the metadata only"
        )
    if c.name == "snntorch":
        if a["v_leak"] != 0:
            notes.append("snnTorch's importer requires v_leak=0")
        if a["v_reset"] != 0:
            notes.append("snnTorch's importer resets to 0 whatever v_reset")
        if uniform(_numpy(layer.cell.threshold)) is None:
            notes.append("snnTorch's importer requires one threshold for all neurons")
        if a["recurrent"]:
            notes.append(
                "snnTorch 1.0.0's importer cannot import a recurrent LIF: from a "
                "file it fails (AttributeError in nirtorch 2.6), in memory it wires "
                "the input into the recurrent weights"
            )
    if c.name == "norse":
        if a["v_reset"] != 0:
            notes.append("Norse's importer resets to 0 whatever v_reset")
        if a["recurrent"]:
            notes.append("Norse's importer does not read recurrent subgraphs")
        if synapse:
            notes.append(
                "Norse's importer runs CubaLIF as a leaky-integrator synapse: the "
                "recursion of its LIFCell, with float32 rounding in another order"
            )
            if a["v_leak"] != 0:
                notes.append(
                    "Norse's importer lets the synaptic current leak toward v_leak"
                )
    for note in notes:
        exporter.warn(layer, note + ".")


def _lif_fields(exporter, layer, x):
    """The NIR node type and fields (Keras layout, float32/64) of an LIF layer."""
    a, c, dt = layer.arguments, exporter.convention, exporter.dt
    cell = layer.cell
    size = tuple(cell.size)
    synapse = cell.tau_syn is not None
    leaky = cell.tau is not None
    native = a["integrator"] == c.integrator
    fields = {
        "v_threshold": _numpy(cell.threshold).astype("float32"),
        "v_reset": np.full(size, a["v_reset"], "float32"),
        "v_leak": np.full(size, a["v_leak"], "float32"),
    }
    inexact = []
    d, g, d_s, g_s = _per_step_factors(layer, dt)
    if c.name == "continuous":
        if native:
            tau = _numpy(cell.tau).astype("float32") if leaky else None
            r = np.full(size, a["r"], "float32")
            tau_syn = _numpy(cell.tau_syn).astype("float32") if synapse else None
            w_in = np.ones(size, "float32")
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                tau = exact_tau(d, dt) if leaky else None
                r = g / (1 - d) if leaky else g / dt
                tau_syn = exact_tau(d_s, dt) if synapse else None
                w_in = g_s / (1 - d_s) if synapse else None
        kind = "CubaLIF" if synapse else ("LIF" if leaky else "IF")
        fields.update(tau=tau, r=r, tau_syn=tau_syn, w_in=w_in)
        return kind, fields, inexact
    h = c.euler_dt(dt)
    if c.name == "snntorch":
        # every node is a LIF (snnTorch's importer builds IF as a leaky neuron)
        if native:
            tau, ok = c.write_decay(d.astype("float32"), dt)
            r = (tau / np.float32(h)).astype("float32")
            inexact += [] if ok else ["beta"]
        else:
            with np.errstate(divide="ignore"):
                tau = np.where(d < 1, h / (1 - d), HUGE_TAU).astype("float32")
            r = (g * tau.astype("float64") / h).astype("float32")
        if synapse:
            if native:
                tau_syn, ok = c.write_decay(d_s.astype("float32"), dt)
                inexact += [] if ok else ["alpha"]
                w_in = (tau_syn / np.float32(h)).astype("float32")
            else:
                tau_syn = (h / (1 - d_s)).astype("float32")
                w_in = (g_s * g * tau_syn.astype("float64") / h).astype("float32")
                r = (tau / np.float32(h)).astype("float32")
            fields.update(tau_syn=tau_syn, w_in=w_in)
        if not is_one(g) and uniform(g) is None and not native:
            inexact.append("a per-neuron input gain")
        fields.update(tau=tau, r=r)
        return ("CubaLIF" if synapse else "LIF"), fields, inexact
    # norse: fields in seconds for its importer
    tau = None
    if native:
        if leaky:
            tau, ok = c.write_decay(_numpy(cell.tau), dt)
            inexact += [] if ok else ["tau_mem_inv"]
        r = np.full(size, a["r"], "float32")
        if synapse:
            tau_syn, ok = c.write_decay(_numpy(cell.tau_syn), dt)
            inexact += [] if ok else ["tau_syn_inv"]
            w_in = (tau_syn.astype("float64") / dt).astype("float32")
            r = np.ones(size, "float32")
    else:
        with np.errstate(divide="ignore"):
            tau = (h / (1 - d)).astype("float32") if leaky else None
            r = (g / (1 - d) if leaky else g).astype("float32")
        if synapse:
            tau_syn = (h / (1 - d_s)).astype("float32")
            w_in = (g_s * tau_syn.astype("float64") / h).astype("float32")
    if not is_one(r):
        inexact.append("r (Norse's importer ignores it)")
    if synapse:
        fields.update(tau=tau, r=r, tau_syn=tau_syn, w_in=w_in)
        return "CubaLIF", fields, inexact
    fields.update(tau=tau, r=r)
    return ("LIF" if leaky else "IF"), fields, inexact


@Exporter.register_layer(LIF)
def _export_lif(exporter, layer, inputs):
    x = exporter.one_input(layer, inputs)
    _check_time_layer(exporter, layer)
    a, c, dt = layer.arguments, exporter.convention, exporter.dt
    if a["tau_ref"] > 0:
        exporter.fail(layer, f"NIR has no refractory period (tau_ref={a['tau_ref']}).")
    recurrent = a["recurrent"]
    if recurrent and len(x.shape) != 1:
        exporter.fail(
            layer,
            f"its recurrent weights act on a step of shape {x.keras_shape}; NIR's "
            f"Affine takes vectors: flatten the input first.",
        )
    synapse = a["tau_syn"] is not None
    if synapse and a["tau"] is None and c.name != "snntorch":
        exporter.fail(
            layer,
            "NIR's CubaLIF has a leaky membrane; this layer's (tau=None) does not "
            "leak.",
        )
    _lif_warnings(exporter, layer, synapse)
    kind, fields, inexact = _lif_fields(exporter, layer, x)
    if inexact:
        exporter.warn(
            layer,
            f"{c.name}'s importer computes its factors in float32 and cannot give "
            f"back {', '.join(inexact)} exactly: its steps round differently.",
        )
    metadata = layer_metadata(
        layer,
        reset=a["reset"],
        spike_rule=a["spike_rule"],
        reset_delay=a["reset_delay"],
        integrator=a["integrator"],
    )
    nir_fields = {
        key: exporter.elementwise(
            value, x, "float32" if value.dtype == np.float32 else "float64"
        )
        for key, value in fields.items()
        if value is not None
    }
    if kind == "IF":
        node = nir.IF(
            r=nir_fields["r"],
            v_threshold=nir_fields["v_threshold"],
            v_reset=nir_fields["v_reset"],
            metadata=metadata,
        )
    elif kind == "LIF":
        node = nir.LIF(
            tau=nir_fields["tau"],
            r=nir_fields["r"],
            v_leak=nir_fields["v_leak"],
            v_threshold=nir_fields["v_threshold"],
            v_reset=nir_fields["v_reset"],
            metadata=metadata,
        )
    else:
        node = nir.CubaLIF(
            tau_syn=nir_fields["tau_syn"],
            tau_mem=nir_fields["tau"],
            r=nir_fields["r"],
            v_leak=nir_fields["v_leak"],
            v_threshold=nir_fields["v_threshold"],
            v_reset=nir_fields["v_reset"],
            w_in=nir_fields["w_in"],
            metadata=metadata,
        )
    if recurrent:
        y = _recurrent_subgraph(exporter, layer, x, node)
    else:
        y = exporter.add_node(layer, node, [x])
    ratio = a["amplitude"] / c.amplitude(dt)
    if ratio != 1:
        if c.name != "continuous":
            exporter.warn(
                layer,
                f"its spikes have area amplitude={a['amplitude']} ({c.name}'s "
                f"are {c.amplitude(dt)}): written as a Scale node after the "
                f"neurons, which {c.name}'s importer does not read.",
            )
        scale = nir.Scale(
            scale=np.full(x.shape, ratio, "float64"),
            metadata={WRITER: {"amplitude_of": layer.name}},
        )
        y = exporter.add_node(layer, scale, [y], suffix="_amplitude")
    return y


def _recurrent_subgraph(exporter, layer, x, neuron):
    """The neurons with their recurrent weights: a graph of four nodes (input,
    neurons, weights, output), the weights reading the previous step's spikes."""
    cell, c, dt = layer.cell, exporter.convention, exporter.dt
    kernel = _numpy(cell.recurrent_kernel)
    order = x.order.reshape(-1)
    # our recurrent input is counts @ kernel; NIR's is W @ (the neurons' output),
    # whose spikes are worth spike_value each
    value = c.spike_value(dt)
    weight = kernel[np.ix_(order, order)].T
    if value == 1:
        weight = weight.astype("float32")
    else:
        weight = weight.astype("float64") / value
    if cell.recurrent_bias is not None:
        bias = _numpy(cell.recurrent_bias)[order]
        w_rec = nir.Affine(weight=weight, bias=bias)
    else:
        w_rec = nir.Linear(weight=weight)
    shape = np.array(x.shape)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=shape),
            "lif": neuron,
            "w_rec": w_rec,
            "output": nir.Output(output_type=shape),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        metadata={WRITER: {"recurrent": layer.name}},
    )
    return exporter.add_node(layer, graph, [x])
