"""Read a NIR graph as a Keras model: `from_nir`, and the `Importer` whose rules,
one per node type, build each node's layers."""

import dataclasses
import json
import math
import os

import h5py
import keras
import nir
import numpy as np

from keras_spiking._dt import check_dt
from keras_spiking.converter import BatchedTimeDistributed
from keras_spiking.layers import LIF, Alpha, Lowpass, SpikingActivation
from keras_spiking.nir import layout
from keras_spiking.nir.conventions import (
    CONVENTIONS,
    exact_tau,
    get_convention,
    is_one,
    uniform,
)
from keras_spiking.nir.exporter import WRITER
from keras_spiking.nir.layers import Delay
from keras_spiking.nir.messages import warn

NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)
"""tuple: The NIR node types read as ``LIF`` layers."""

_OWN_LAYERS = {"LIF": LIF, "SpikingActivation": SpikingActivation}


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A node's output, as the Keras model has it.

    Parameters
    ----------
    tensor : ``KerasTensor``
        ``(batch, time, *keras_shape)``.
    order : numpy.ndarray
        Of the NIR shape: the index of each element in the Keras step,
        flattened (see the module ``keras_spiking.nir.layout``).
    keras_shape : tuple of int
        The Keras per-step shape.
    source : str or None
        The NIR node whose layer computed it (for folding gains into weights).
    """

    tensor: object
    order: np.ndarray
    keras_shape: tuple
    source: str = None

    @property
    def shape(self):
        """tuple of int: The NIR shape."""
        return tuple(self.order.shape)


def read_graph(path):
    """Read a NIR file; a graph that fails ``nir.read``'s type check is read again
    without it (nested graphs too), with a warning."""
    try:
        return nir.read(path)
    except (ValueError, AssertionError, TypeError) as error:
        warn(
            f"from_nir: nir.read fails the type check of '{os.fspath(path)}' "
            f"({error}); read again without the type check (files written by "
            f"snnTorch and Norse often fail it: an input shape with the batch, "
            f"or nir's own shape rules)."
        )
    with h5py.File(path, "r") as file:
        data = nir.serialization.hdf2dict(file["node"])
    _without_type_check(data)
    return nir.dict2NIRNode(data)


def _without_type_check(data):
    if data.get("type") == "NIRGraph":
        data["type_check"] = False
        for node in data.get("nodes", {}).values():
            _without_type_check(node)


def _pair(value, rank=2):
    values = np.atleast_1d(np.asarray(value)).astype(int).tolist()
    return tuple(values * rank if len(values) == 1 else values)


def _inline(graph, prefix=""):
    """The nodes and edges of a graph with its nested graphs inlined (their Input
    and Output nodes stay, as pass-through nodes); and each nested graph's
    metadata."""
    nodes, edges, meta, ends = {}, [], {}, {}
    for key, node in graph.nodes.items():
        name = prefix + key
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_meta = _inline(node, name + ".")
            ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(
                    f"from_nir: nested graph '{name}' has {len(ins)} Input and "
                    f"{len(outs)} Output nodes; one of each is supported."
                )
            nodes.update(sub_nodes)
            edges += sub_edges
            meta.update(sub_meta)
            meta[name] = dict(node.metadata or {})
            ends[name] = (f"{name}.{ins[0]}", f"{name}.{outs[0]}")
            inner = [k for k in node.nodes if k not in (ins[0], outs[0])]
            neurons = [k for k in inner if isinstance(node.nodes[k], NEURONS)]
            if len(inner) == 2 and len(neurons) == 1:
                # a recurrent neuron layer: named after its graph
                meta[f"{name}.{neurons[0]}"] = {"layer_name": name}
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        a = ends[a][1] if a in ends else a
        b = ends[b][0] if b in ends else b
        edges.append((a, b))
    return nodes, edges, meta


class Importer:
    """Read NIR graphs as Keras models (see `from_nir`, the usual way to use it).

    Each node is read by a *rule* registered for its type with
    `Importer.register_node`; the rules use the methods below.

    Parameters
    ----------
    dt : float
        The time step of the model.
    convention : str or None
        See `from_nir`.

    Attributes
    ----------
    rules : dict
        Class-level table of rules, by NIR node type.
    convention : `keras_spiking.nir.Convention`
        The convention the graph is read in.
    dt : float
        The time step.
    own : bool
        Whether this library wrote the graph in this convention (its metadata is
        then used to rebuild each layer as it was).
    """

    rules = {}

    def __init__(self, dt, convention=None):
        self.dt = check_dt(dt)
        self.requested = convention
        if convention is not None:
            get_convention(convention)
        self.convention = None
        self.own = False

    # --- the rule registry -----------------------------------------------------------

    @classmethod
    def register_node(cls, node_class):
        """Decorator registering the rule that reads a NIR node type.

        The rule is called for each node of that type (or of a subclass without a
        rule of its own) as ``rule(importer, name, node, x)``: ``x`` is the
        node's input, a `Tensor` (the sum of the edges into the node); the rule
        applies Keras layers to ``x.tensor`` (set their weights with
        `Importer.set_weights`) and returns the output `Tensor`. Registering a
        type that already has a rule replaces it.

        Parameters
        ----------
        node_class : type
            The NIR node class.

        Returns
        -------
        callable
            A decorator that registers the rule and returns it unchanged.
        """

        def decorator(rule):
            cls.rules[node_class] = rule
            return rule

        return decorator

    @classmethod
    def rule(cls, name, node):
        """The rule for ``node``, looked up along its class hierarchy."""
        for node_type in type(node).__mro__:
            if node_type in cls.rules:
                return cls.rules[node_type]
        raise ValueError(
            f"from_nir: node '{name}' of type {type(node).__name__} has no Keras "
            f"equivalent here. Register a rule with "
            f"`@keras_spiking.nir.Importer.register_node(nir.{type(node).__name__})`."
        )

    # --- reading a graph --------------------------------------------------------------

    def read(self, graph):
        """The Keras model of ``graph`` (a ``nir.NIRGraph`` or a path)."""
        if not isinstance(graph, nir.NIRGraph):
            graph = read_graph(graph)
        self._choose_convention(graph.metadata or {})
        self.nodes, edges, self.graph_meta = _inline(graph)
        top_inputs = sorted(
            k for k, n in graph.nodes.items() if isinstance(n, nir.Input)
        )
        top_outputs = sorted(
            k for k, n in graph.nodes.items() if isinstance(n, nir.Output)
        )
        if not top_inputs or not top_outputs:
            raise ValueError(
                "from_nir: the graph needs Input and Output nodes (it has "
                f"{len(top_inputs)} and {len(top_outputs)})."
            )
        self.edges = list(dict.fromkeys(edges))
        self._structure(top_inputs)
        self._weights, self._layers_of = [], {}
        self.tensors = {}
        inputs = []
        for name in top_inputs:
            shape = self._input_shape(name)
            keras_shape = _keras_shape(shape)
            tensor = keras.Input((None, *keras_shape), name=_layer_name(name))
            inputs.append(tensor)
            self.tensors[name] = Tensor(
                tensor,
                layout.standard_order(keras_shape, layout.channels_last()),
                keras_shape,
            )
        for name in self.order:
            if name in self.tensors:
                continue
            x = self._input_of(name)
            node = self.nodes[name]
            self.tensors[name] = self.rule(name, node)(self, name, node, x)
        outputs = []
        for name in top_outputs:
            if name not in self.tensors:
                raise ValueError(
                    f"from_nir: output '{name}' is not reached from the inputs."
                )
            outputs.append(self.tensors[name].tensor)
        model = keras.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            outputs[0] if len(outputs) == 1 else outputs,
        )
        for assign in self._weights:
            assign()
        return model

    def _choose_convention(self, metadata):
        file_convention = None
        if str(metadata.get("writer", "")) == WRITER:
            file_convention = str(metadata.get("convention", "continuous"))
            if file_convention not in CONVENTIONS:
                file_convention = None
        name = self.requested or file_convention or "continuous"
        if self.requested and file_convention and self.requested != file_convention:
            warn(
                f"from_nir: the graph says it was written by this library under "
                f"convention '{file_convention}'; reading it as "
                f"convention='{self.requested}' (as asked), without its metadata."
            )
        self.convention = get_convention(name)
        self.own = file_convention is not None and file_convention == name
        if "dt" in metadata:
            try:
                graph_dt = float(metadata["dt"])
            except (TypeError, ValueError):
                graph_dt = None
            if graph_dt is not None and not np.isclose(graph_dt, self.dt, rtol=1e-9):
                warn(
                    f"from_nir: the graph's metadata say dt={graph_dt!r}; the model "
                    f"runs at dt={self.dt!r}, as passed."
                )

    def _structure(self, inputs):
        """Feedback edges, recurrent weight nodes and an execution order."""
        preds = {k: [] for k in self.nodes}
        succs = {k: [] for k in self.nodes}
        for a, b in self.edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise ValueError(f"from_nir: an edge names a missing node '{end}'.")
            succs[a].append(b)
            preds[b].append(a)
        # feedback edges: those that close a cycle in a depth-first walk
        back, state = set(), {}
        for root in inputs:
            if root in state:
                continue
            stack = [(root, iter(succs[root]))]
            state[root] = 1
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(succs[child])))
        self.recurrent = {}
        absorbed = set()
        for a, b in back:
            weights, neuron = self.nodes[a], self.nodes[b]
            if (
                isinstance(neuron, NEURONS)
                and isinstance(weights, (nir.Affine, nir.Linear))
                and preds[a] == [b]
                and succs[a] == [b]
            ):
                self.recurrent[b] = a
                absorbed.add(a)
            else:
                raise ValueError(
                    f"from_nir: the edge '{a}' -> '{b}' feeds back to an earlier "
                    f"node; only a neuron's own recurrent weights (LIF/CubaLIF/IF "
                    f"-> Affine/Linear -> the same neurons) can feed back here."
                )
        self.preds = {
            k: [p for p in v if p not in absorbed]
            for k, v in preds.items()
            if k not in absorbed
        }
        self.succs = {
            k: [s for s in v if s not in absorbed]
            for k, v in succs.items()
            if k not in absorbed
        }
        reached = [k for k in self.nodes if state.get(k) and k not in absorbed]
        indegree = {k: len([p for p in self.preds[k] if p in state]) for k in reached}
        ready = [k for k in inputs]
        self.order = []
        while ready:
            name = ready.pop(0)
            self.order.append(name)
            for child in self.succs[name]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        self.aliases = {}

    def _input_shape(self, name):
        shape = tuple(
            int(n) for n in np.atleast_1d(self.nodes[name].output_type["output"])
        )
        # Norse writes the batch axis into the Input's shape
        expected = set()
        for child in self.succs[name]:
            child_type = (self.nodes[child].input_type or {}).get("input")
            if child_type is not None:
                expected.add(tuple(int(n) for n in np.atleast_1d(child_type)))
        if len(shape) > 1 and expected == {shape[1:]}:
            return shape[1:]
        return shape

    def _input_of(self, name):
        parents = [self.aliases.get(p, p) for p in self.preds[name]]
        if not parents:
            raise ValueError(f"from_nir: node '{name}' has no input.")
        xs = [self.tensors[p] for p in parents]
        if len(xs) == 1:
            return xs[0]
        first = xs[0]
        for x in xs[1:]:
            if not np.array_equal(x.order, first.order):
                raise ValueError(
                    f"from_nir: the edges into node '{name}' carry differently laid "
                    f"out tensors."
                )
        tensor = keras.layers.Add(name=_layer_name(name + "_sum"))(
            [x.tensor for x in xs]
        )
        return Tensor(tensor, first.order, first.keras_shape)

    # --- building blocks for rules ----------------------------------------------------

    def set_weights(self, assign):
        """Run ``assign`` (a function of no arguments) once the model is built."""
        self._weights.append(assign)

    def layer(self, name, layer, x, order=None, keras_shape=None, weights=None):
        """Apply ``layer`` to ``x`` and return the output `Tensor`, whose layout
        is ``order``/``keras_shape`` (by default ``x``'s). ``weights`` (a list of
        arrays) are set with ``layer.set_weights`` once the model is built;
        `Importer.input_gain` may still scale them."""
        tensor = layer(x.tensor)
        if order is None:
            order, keras_shape = x.order, x.keras_shape
        if weights is not None:
            self._layers_of[name] = (layer, weights)
            self.set_weights(lambda: layer.set_weights(weights))
        return Tensor(tensor, order, tuple(keras_shape), name)

    def consumers(self, name):
        """The nodes that take ``name``'s output."""
        return self.succs.get(name, [])

    def layer_name(self, name):
        """The Keras layer name for node ``name``."""
        return _layer_name(self.graph_meta.get(name, {}).get("layer_name", name))

    def own_metadata(self, name, node):
        """What this library wrote about ``node`` (None for other graphs)."""
        if not self.own:
            return None
        return (node.metadata or {}).get(WRITER)

    def input_gain(self, name, x, gain=None, offset=None):
        """``x * gain + offset`` (NIR-layout arrays), folded into the weights of the
        layer that computed ``x`` when ``name`` is its only consumer, else a
        ``keras.layers.Rescaling``."""
        shape = x.shape
        gain = np.ones(shape) if gain is None else np.broadcast_to(gain, shape)
        offset = np.zeros(shape) if offset is None else np.broadcast_to(offset, shape)
        if np.all(gain == 1) and np.all(offset == 0):
            return x
        source = x.source
        if source in self._layers_of and self.consumers(source) == [name]:
            layer, weights = self._layers_of[source]
            node = self.nodes[source]
            if _fold(node, weights, x, gain, offset):
                return x
        tensor = keras.layers.Rescaling(
            scale=layout.to_keras(gain, x.order, x.keras_shape).astype("float32"),
            offset=layout.to_keras(offset, x.order, x.keras_shape).astype("float32"),
            name=_layer_name(name + "_input"),
        )(x.tensor)
        return Tensor(tensor, x.order, x.keras_shape)

    def keras_values(self, values, x):
        """NIR-layout values as an array of the Keras layout of ``x``."""
        return layout.to_keras(np.asarray(values), x.order, x.keras_shape)

    def warn(self, name, message):
        """Warn about node ``name``: what is not exact, and why."""
        warn(f"from_nir: node '{name}': {message}")

    @staticmethod
    def fail(name, message):
        """Raise the error that node ``name`` cannot be read, and why."""
        raise ValueError(f"from_nir: node '{name}' cannot be read: {message}")


def _fold(node, weights, x, gain, offset):
    """Fold an elementwise gain and offset into the weights of a Dense or
    convolution (``weights``: kernel and bias, changed in place); False if they
    cannot take it."""
    has_bias = len(weights) == 2
    if np.any(offset != 0) and not has_bias:
        return False
    if isinstance(node, (nir.Affine, nir.Linear)):
        keras_gain = layout.to_keras(gain, x.order, x.keras_shape)
        keras_offset = layout.to_keras(offset, x.order, x.keras_shape)
    else:
        # a convolution: one gain and one offset per channel (NIR axis 0)
        flat_gain = gain.reshape(gain.shape[0], -1)
        flat_offset = offset.reshape(offset.shape[0], -1)
        if np.any(flat_gain != flat_gain[:, :1]) or np.any(
            flat_offset != flat_offset[:, :1]
        ):
            return False
        keras_gain, keras_offset = flat_gain[:, 0], flat_offset[:, 0]
    weights[0] = (weights[0] * keras_gain).astype(weights[0].dtype)
    if has_bias:
        weights[1] = (weights[1] * keras_gain + keras_offset).astype(weights[1].dtype)
    return True


def _keras_shape(nir_shape):
    """The channels-last Keras shape of a NIR (channels-first) shape."""
    nir_shape = tuple(int(n) for n in nir_shape)
    if len(nir_shape) >= 2 and layout.channels_last():
        return (*nir_shape[1:], nir_shape[0])
    return nir_shape


def _layer_name(name):
    """A Keras layer name for a node name (PyTorch's module names take no "." or
    "/")."""
    return str(name).replace("/", "_").replace(".", "_")


def from_nir(graph_or_path, dt, convention=None):
    """Read a NIR graph (the Neuromorphic Intermediate Representation, ``nir``
    1.0.8) as a Keras model.

    The model takes and gives ``(batch, time, ...)`` tensors, channels-last; it
    runs at the ``dt`` passed. Execution follows the edges (a file's node order
    is alphabetical); several edges into a node add up; an edge that closes a
    cycle, from a neuron's recurrent weights, carries the previous step's spikes
    (a recurrent ``LIF``). An input gain (``r``, ``w_in``) is folded
    into the weights of the layer before when that layer feeds only the
    neurons, else applied by a ``keras.layers.Rescaling``.

    Parameters
    ----------
    graph_or_path : ``nir.NIRGraph`` or str or path
        The graph, or a file written by ``nir.write``. A file that fails
        ``nir.read``'s type check (as many written by snnTorch and Norse do) is
        read again without it, with a warning.
    dt : float
        The time step, in seconds. It is required: the peers' own defaults (1e-4
        in snnTorch, 1e-3 in Norse, 1 elsewhere) are not in their files. A
        different ``dt`` in the graph's metadata gives a warning.
    convention : {"continuous", "snntorch", "norse"} or None
        How the graph is meant (see the "NIR" page of the user guide). None: the
        convention this library wrote the graph in (from its metadata), else
        ``"continuous"``. ``"snntorch"`` and ``"norse"`` give the network that
        library's exporter wrote, step for step (spikes of 1); where the file
        cannot tell (snnTorch writes every reset as a reset to 0), what the graph
        states.

    Returns
    -------
    ``keras.Model``

    Raises
    ------
    ValueError
        For a node or a structure with no Keras equivalent here (the message
        names the node and why).

    Warns
    -----
    UserWarning
        For what is read in a way that is not exact (named), and for metadata that
        disagree with the arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import nir
    >>> import keras_spiking.nir
    >>> graph = nir.NIRGraph.from_list(
    ...     nir.Affine(np.eye(2, dtype="float32"), np.zeros(2, "float32")),
    ...     nir.LIF(
    ...         tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2),
    ...         v_threshold=np.ones(2), v_reset=np.zeros(2),
    ...     ),
    ... )
    >>> model = keras_spiking.nir.from_nir(graph, dt=0.001)
    >>> [type(layer).__name__ for layer in model.layers]
    ['InputLayer', 'Dense', 'LIF']
    """
    return Importer(dt, convention).read(graph_or_path)


# --- rules: structure and linear nodes -----------------------------------------------


@Importer.register_node(nir.Input)
@Importer.register_node(nir.Output)
def _read_identity(importer, name, node, x):
    return x


@Importer.register_node(nir.Affine)
@Importer.register_node(nir.Linear)
def _read_affine(importer, name, node, x):
    weight = np.asarray(node.weight)
    if weight.ndim != 2 or len(x.shape) != 1 or weight.shape[1] != x.shape[0]:
        importer.fail(
            name, f"weight of shape {weight.shape} on an input of shape {x.shape}."
        )
    kernel = np.empty((weight.shape[1], weight.shape[0]), _float(weight))
    kernel[x.order] = weight.T
    weights = [kernel]
    bias = isinstance(node, nir.Affine) and node.bias is not None
    if bias:
        weights.append(np.asarray(node.bias, _float(node.bias)).reshape(-1))
    units = weight.shape[0]
    layer = keras.layers.Dense(units, use_bias=bias, name=_layer_name(name))
    return importer.layer(name, layer, x, np.arange(units), (units,), weights)


def _float(array):
    return np.float32 if np.asarray(array).dtype != np.float64 else np.float64


def _image_input(importer, name, x, rank):
    if len(x.shape) != rank + 1 or not np.array_equal(
        x.order, layout.standard_order(x.keras_shape, layout.channels_last())
    ):
        importer.fail(name, f"it takes an image, and its input has shape {x.shape}.")


def _zero_padding(name, x, padding, rank):
    layer_type = keras.layers.ZeroPadding1D if rank == 1 else keras.layers.ZeroPadding2D
    inner = layer_type(padding[0] if rank == 1 else tuple(padding))
    wrapped = BatchedTimeDistributed(inner, name=_layer_name(name + "_padding"))
    tensor = wrapped(x.tensor)
    keras_shape = tuple(int(n) for n in tensor.shape[2:])
    return Tensor(
        tensor, layout.standard_order(keras_shape, layout.channels_last()), keras_shape
    )


def _read_conv(importer, name, node, x, rank):
    _image_input(importer, name, x, rank)
    weight = np.asarray(node.weight)
    kernel = weight.transpose(2, 1, 0) if rank == 1 else weight.transpose(2, 3, 1, 0)
    kernel_size = weight.shape[2:]
    stride = _pair(node.stride, rank)
    dilation = _pair(node.dilation, rank)
    groups = int(np.asarray(node.groups))
    if isinstance(node.padding, str):
        padding = node.padding
        if padding == "same" and any(s != 1 for s in stride):
            importer.fail(name, "NIR's padding='same' is defined for stride 1 only.")
    else:
        pads = _pair(node.padding, rank)
        same = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
        if not any(pads):
            padding = "valid"
        elif all(s == 1 for s in stride) and all(
            s % 2 == 0 and p == s // 2 for s, p in zip(same, pads, strict=True)
        ):
            padding = "same"
        else:
            x = _zero_padding(name, x, pads, rank)
            padding = "valid"
    layer_type = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    inner = layer_type(
        weight.shape[0],
        kernel_size,
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
        groups=groups,
        name=_layer_name(name),
    )
    layer = BatchedTimeDistributed(inner, name=_layer_name(name))
    bias = np.zeros(weight.shape[0]) if node.bias is None else np.asarray(node.bias)
    weights = [kernel.astype(_float(weight)), bias.astype(_float(weight))]
    tensor = layer(x.tensor)
    keras_shape = tuple(int(n) for n in tensor.shape[2:])
    importer._layers_of[name] = (layer, weights)
    importer.set_weights(lambda: layer.set_weights(weights))
    return Tensor(
        tensor,
        layout.standard_order(keras_shape, layout.channels_last()),
        keras_shape,
        name,
    )


@Importer.register_node(nir.Conv1d)
def _read_conv1d(importer, name, node, x):
    return _read_conv(importer, name, node, x, 1)


@Importer.register_node(nir.Conv2d)
def _read_conv2d(importer, name, node, x):
    return _read_conv(importer, name, node, x, 2)


def _read_pool(importer, name, node, x, total):
    _image_input(importer, name, x, 2)
    kernel = _pair(node.kernel_size)
    stride = _pair(kernel if node.stride is None else node.stride)
    padding = (0, 0) if node.padding is None else _pair(node.padding)
    if any(padding):
        # PyTorch's (and NIR's) average counts the zero padding
        x = _zero_padding(name, x, padding, 2)
    inner = keras.layers.AveragePooling2D(kernel, stride, padding="valid")
    tensor = BatchedTimeDistributed(inner, name=_layer_name(name))(x.tensor)
    if total:
        tensor = keras.layers.Rescaling(
            float(kernel[0] * kernel[1]), name=_layer_name(name + "_sum")
        )(tensor)
    keras_shape = tuple(int(n) for n in tensor.shape[2:])
    return Tensor(
        tensor, layout.standard_order(keras_shape, layout.channels_last()), keras_shape
    )


@Importer.register_node(nir.AvgPool2d)
def _read_avg_pool(importer, name, node, x):
    return _read_pool(importer, name, node, x, total=False)


@Importer.register_node(nir.SumPool2d)
def _read_sum_pool(importer, name, node, x):
    return _read_pool(importer, name, node, x, total=True)


@Importer.register_node(nir.Flatten)
def _read_flatten(importer, name, node, x):
    shape = x.shape
    rank = len(shape)
    start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
    start, end = start % rank if rank else 0, end % rank if rank else 0
    if start > end:
        importer.fail(name, f"start_dim={start} is after end_dim={end}.")
    out_shape = (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    if out_shape == shape:
        return x
    order = x.order.reshape(out_shape)
    keras_shape = (out_shape[0],) if len(out_shape) == 1 else _keras_shape(out_shape)
    tensor = keras.layers.Reshape((-1, *keras_shape), name=_layer_name(name))(x.tensor)
    return Tensor(tensor, order, keras_shape)


@Importer.register_node(nir.Scale)
def _read_scale(importer, name, node, x):
    scale = np.broadcast_to(np.asarray(node.scale, "float32"), x.shape)
    tensor = keras.layers.Rescaling(
        scale=importer.keras_values(scale, x), name=_layer_name(name)
    )(x.tensor)
    return Tensor(tensor, x.order, x.keras_shape)


@Importer.register_node(nir.Delay)
def _read_delay(importer, name, node, x):
    step = importer.convention.euler_dt(importer.dt) or importer.dt
    delay = uniform(node.delay)
    steps = None if delay is None else delay / step
    if steps is None or steps < 0 or abs(steps - round(steps)) > 1e-6 * max(1, steps):
        importer.fail(
            name,
            f"a delay must be one whole number of time steps of {step!r} s for all "
            f"elements; got {np.asarray(node.delay).ravel()[:4]}.",
        )
    tensor = Delay(int(round(steps)), name=_layer_name(name))(x.tensor)
    return Tensor(tensor, x.order, x.keras_shape)


@Importer.register_node(nir.I)
@Importer.register_node(nir.Threshold)
def _read_unsupported(importer, name, node, x):
    importer.fail(
        name,
        f"a {type(node).__name__} node has no Keras layer here (NIR's I integrates "
        f"without end, Threshold has no neuron around it).",
    )


# --- rules: filters -----------------------------------------------------------------


def _li_stage(importer, name, tau, r, v_leak, x, label):
    """A lowpass stage ``tau dv/dt = (v_leak - v) + r I`` as the convention steps
    it: ``(time constant of the exact Lowpass, gain, offset, initial level)``."""
    c, dt = importer.convention, importer.dt
    tau = np.broadcast_to(np.asarray(tau, "float64"), x.shape)
    step = c.euler_dt(dt)
    if step is not None:
        decay = 1 - step / tau
        if np.any(decay <= 0):
            importer.fail(
                name,
                f"the forward-Euler step of {label} (1 - {step!r}/tau) is not a "
                f"decay for tau <= {step!r}.",
            )
        tau = exact_tau(decay, dt)
    level = v_leak if c.name == "norse" else 0.0
    return tau, r, v_leak, level


def _lowpass(importer, name, x, tau, gain, offset, level, cls=Lowpass, suffix=""):
    x = importer.input_gain(name + suffix, x, gain, offset)
    tau = np.broadcast_to(tau, x.shape)
    keras_tau = importer.keras_values(tau, x)
    level = np.broadcast_to(np.asarray(level, "float64"), x.shape)
    keras_level = importer.keras_values(level, x).astype("float32")
    layer = cls(
        tau=float(keras_tau.ravel()[0]),
        dt=importer.dt,
        level_initializer=keras.initializers.Constant(_one_or_array(keras_level)),
        name=_layer_name(name + suffix),
    )
    tensor = layer(x.tensor)

    def assign():
        weight = layer.cell.tau
        weight.assign(np.reshape(keras_tau, weight.shape).astype("float32"))

    importer.set_weights(assign)
    return Tensor(tensor, x.order, x.keras_shape, name + suffix)


def _one_or_array(values):
    one = uniform(values)
    return one if one is not None else values.tolist()


def _own_filter(importer, name, node, x, cls_name):
    meta = importer.own_metadata(name, node)
    if not meta or meta.get("layer") != cls_name:
        return None
    config = json.loads(meta["config"])
    config["dt"] = importer.dt
    layer = {"Lowpass": Lowpass, "Alpha": Alpha}[cls_name].from_config(config)
    tau = node.tau_syn if isinstance(node, nir.CubaLI) else node.tau
    keras_tau = importer.keras_values(np.asarray(tau, "float64"), x)
    if importer.convention.euler_dt(importer.dt) is not None:
        keras_tau = exact_tau(
            1 - importer.convention.euler_dt(importer.dt) / keras_tau, importer.dt
        )
    tensor = layer(x.tensor)

    def assign():
        weight = layer.cell.tau
        weight.assign(np.reshape(keras_tau, weight.shape).astype("float32"))

    importer.set_weights(assign)
    return Tensor(tensor, x.order, x.keras_shape, name)


def _plain_li(node):
    return is_one(node.r, 0) and not np.any(np.asarray(node.v_leak))


@Importer.register_node(nir.LI)
def _read_li(importer, name, node, x):
    own = _own_filter(importer, name, node, x, "Alpha")
    if own is not None:
        (second,) = importer.consumers(name)
        importer.aliases[second] = name
        importer.tensors[second] = own
        return own
    own = _own_filter(importer, name, node, x, "Lowpass")
    if own is not None:
        return own
    c = importer.convention
    # under "continuous", LI -> LI with one time constant is an Alpha filter
    consumers = importer.consumers(name)
    if c.name == "continuous" and len(consumers) == 1:
        second_name = consumers[0]
        second = importer.nodes[second_name]
        if (
            isinstance(second, nir.LI)
            and importer.preds[second_name] == [name]
            and _plain_li(node)
            and _plain_li(second)
            and np.array_equal(np.asarray(node.tau), np.asarray(second.tau))
        ):
            y = _lowpass(
                importer,
                name,
                x,
                np.asarray(node.tau, "float64"),
                None,
                None,
                0.0,
                Alpha,
            )
            importer.tensors[second_name] = y
            importer.aliases[second_name] = name
            return y
    if c.name != "continuous":
        importer.warn(
            name,
            f"LI is read as a Lowpass with the exact decay equal to "
            f"{c.name}'s forward-Euler factor: equal up to float32 rounding.",
        )
    tau, r, v_leak, level = _li_stage(
        importer, name, node.tau, node.r, node.v_leak, x, "tau"
    )
    gain = np.broadcast_to(np.asarray(r, "float64"), x.shape)
    offset = np.broadcast_to(np.asarray(v_leak, "float64"), x.shape)
    return _lowpass(importer, name, x, tau, gain, offset, level)


@Importer.register_node(nir.CubaLI)
def _read_cuba_li(importer, name, node, x):
    own = _own_filter(importer, name, node, x, "Alpha")
    if own is not None:
        return own
    c = importer.convention
    if (
        c.name == "continuous"
        and _plain_li(node)
        and is_one(node.w_in, 0)
        and np.array_equal(np.asarray(node.tau_syn), np.asarray(node.tau_mem))
    ):
        return _lowpass(
            importer,
            name,
            x,
            np.asarray(node.tau_syn, "float64"),
            None,
            None,
            0.0,
            Alpha,
        )
    if c.name != "continuous":
        importer.warn(
            name,
            f"CubaLI is read as two Lowpass filters with the exact decays equal to "
            f"{c.name}'s forward-Euler factors: equal up to float32 rounding.",
        )
    tau_s, _, _, _ = _li_stage(importer, name, node.tau_syn, 1, 0, x, "tau_syn")
    y = _lowpass(importer, name, x, tau_s, np.asarray(node.w_in, "float64"), None, 0.0)
    tau_m, r, v_leak, level = _li_stage(
        importer, name, node.tau_mem, node.r, node.v_leak, y, "tau_mem"
    )
    return _lowpass(
        importer,
        name,
        y,
        tau_m,
        np.asarray(r, "float64"),
        np.asarray(v_leak, "float64"),
        level,
        suffix="_membrane",
    )


# --- rules: neurons -------------------------------------------------------------------


def _one(importer, name, values, field):
    value = uniform(values)
    if value is None:
        importer.fail(
            name,
            f"its {field} differs between neurons; the LIF layer has one {field}.",
        )
    return value


def _amplitude(importer, name):
    """``(scale, name)`` of a Scale node with one factor that takes only these
    spikes, or ``(1, None)``."""
    consumers = importer.consumers(name)
    if len(consumers) == 1:
        scale_name = consumers[0]
        scale = importer.nodes[scale_name]
        if isinstance(scale, nir.Scale) and importer.preds[scale_name] == [name]:
            value = uniform(scale.scale)
            if value is not None and value > 0:
                importer.aliases[scale_name] = name
                return value, scale_name
    return 1.0, None


def _recurrent_weights(importer, name, x):
    """The recurrent kernel and bias (Keras order) of neuron ``name``, or None."""
    weights_name = importer.recurrent.get(name)
    if weights_name is None:
        return None
    if len(x.shape) != 1:
        importer.fail(name, "recurrent weights need neurons in a vector.")
    node = importer.nodes[weights_name]
    weight = np.asarray(node.weight, "float64")
    n = x.shape[0]
    if weight.shape != (n, n):
        importer.fail(
            name, f"its recurrent weights have shape {weight.shape}, not ({n}, {n})."
        )
    value = importer.convention.spike_value(importer.dt)
    order = x.order
    kernel = np.empty((n, n))
    kernel[np.ix_(order, order)] = weight.T * value if value != 1 else weight.T
    bias = None
    if isinstance(node, nir.Affine) and node.bias is not None:
        bias = np.empty(n)
        bias[order] = np.asarray(node.bias, "float64").reshape(-1)
    return kernel, bias


def _neuron_fields(importer, name, node, x):
    """The node's fields as float64 NIR-layout arrays, by our names."""
    shape = x.shape

    def field(value):
        return np.broadcast_to(np.asarray(value, "float64"), shape)

    if isinstance(node, nir.IF):
        return {
            "kind": "IF",
            "tau": None,
            "r": field(node.r),
            "v_leak": field(0.0),
            "threshold": field(node.v_threshold),
            "v_reset": field(0.0 if node.v_reset is None else node.v_reset),
        }
    fields = {
        "kind": type(node).__name__,
        "r": field(node.r),
        "v_leak": field(node.v_leak),
        "threshold": field(node.v_threshold),
        "v_reset": field(0.0 if node.v_reset is None else node.v_reset),
        "raw_tau": np.broadcast_to(
            np.asarray(node.tau if isinstance(node, nir.LIF) else node.tau_mem), shape
        ),
    }
    if isinstance(node, nir.CubaLIF):
        fields["raw_tau_syn"] = np.broadcast_to(np.asarray(node.tau_syn), shape)
        fields["w_in"] = field(node.w_in)
    return fields


@Importer.register_node(nir.LIF)
@Importer.register_node(nir.CubaLIF)
@Importer.register_node(nir.IF)
def _read_neurons(importer, name, node, x):
    f = _neuron_fields(importer, name, node, x)
    meta = importer.own_metadata(name, node)
    recurrent = _recurrent_weights(importer, name, x)
    if meta and meta.get("layer") in _OWN_LAYERS:
        return _read_own_neurons(importer, name, node, x, f, meta, recurrent)
    c = importer.convention
    read = {
        "continuous": _continuous_lif,
        "snntorch": _snntorch_lif,
        "norse": _norse_lif,
    }
    return read[c.name](importer, name, x, f, recurrent)


def _with(layer, **changes):
    """A copy of a layer made from its config with ``changes``."""
    return type(layer).from_config({**layer.get_config(), **changes})


def _build_lif(importer, name, x, layer, weights, recurrent, gain, own=False):
    """Apply an LIF layer to ``x`` (after the input gain) and set its weights
    (NIR-layout arrays, by cell attribute) once built. A Scale node that only
    scales these spikes is taken into the layer's amplitude (for this library's
    own graphs, the config holds it already)."""
    scale, absorbed = _amplitude(importer, name)
    if absorbed is not None and not own:
        layer = _with(layer, amplitude=layer.arguments["amplitude"] * scale)
    if gain is not None and np.all(gain == 1):
        gain = None
    if gain is not None and recurrent is not None:
        kernel, bias = recurrent
        keras_gain = layout.to_keras(gain, x.order, x.keras_shape).reshape(-1)
        recurrent = (
            kernel * keras_gain[None],
            None if bias is None else bias * keras_gain,
        )
    x = importer.input_gain(name, x, gain)
    keras_weights = {
        key: importer.keras_values(value, x).astype("float32")
        for key, value in weights.items()
        if value is not None
    }
    if recurrent is not None:
        kernel, bias = recurrent
        keras_weights["recurrent_kernel"] = kernel.astype("float32")
        if bias is not None:
            keras_weights["recurrent_bias"] = bias.astype("float32")
    tensor = layer(x.tensor)

    def assign():
        for key, value in keras_weights.items():
            weight = getattr(layer.cell, key)
            weight.assign(np.reshape(value, weight.shape))

    importer.set_weights(assign)
    y = Tensor(tensor, x.order, x.keras_shape, name)
    if absorbed is not None:
        importer.tensors[absorbed] = y
    return y


def _recurrent_kwargs(recurrent):
    if recurrent is None:
        return {}
    return {"recurrent": True, "recurrent_bias": recurrent[1] is not None}


def _gain_and_leak(importer, name, f, scalar_r=True):
    """``(r, v_leak, gain, offset)``: the layer's scalars, and what is folded into
    its input where the fields differ between neurons."""
    r, v_leak = uniform(f["r"]), uniform(f["v_leak"])
    if r is not None and v_leak is not None and scalar_r:
        return r, v_leak, None, None
    if v_leak is not None:
        return 1.0, v_leak, f["r"], None
    return 1.0, 0.0, f["r"], f["v_leak"]


def _continuous_lif(importer, name, x, f, recurrent):
    kind = f["kind"]
    v_reset = _one(importer, name, f["v_reset"], "v_reset")
    kwargs = dict(
        threshold=float(f["threshold"].ravel()[0]),
        v_reset=v_reset,
        spike_rule="exact",
        integrator="exact",
        amplitude=1.0,
        dt=importer.dt,
        name=importer.layer_name(name),
        **_recurrent_kwargs(recurrent),
    )
    weights = {"threshold": f["threshold"]}
    gain = None
    if kind == "IF":
        r = uniform(f["r"])
        if r is None:
            r, gain = 1.0, f["r"]
        layer = LIF(tau=None, r=r, **kwargs)
    else:
        r, v_leak, gain, offset = _gain_and_leak(importer, name, f)
        if offset is not None:
            importer.fail(name, "its v_leak and r both differ between neurons.")
        tau = np.asarray(f["raw_tau"], "float64")
        weights["tau"] = tau
        if kind == "CubaLIF":
            importer.warn(
                name,
                "CubaLIF is read with exact decays and one threshold check per "
                "step (spike_rule='step'), the new current held over each step: the "
                "coupling of current and voltage is not exact.",
            )
            kwargs["spike_rule"] = "step"
            w_in = f["w_in"]
            gain = w_in if gain is None else gain * w_in
            weights["tau_syn"] = np.asarray(f["raw_tau_syn"], "float64")
            kwargs["tau_syn"] = float(weights["tau_syn"].ravel()[0])
        layer = LIF(tau=float(tau.ravel()[0]), r=r, v_leak=v_leak, **kwargs)
    return _build_lif(importer, name, x, layer, weights, recurrent, gain)


def _snntorch_lif(importer, name, x, f, recurrent):
    c, dt, kind = importer.convention, importer.dt, f["kind"]
    h = c.time_step
    if np.any(f["v_leak"] != 0):
        importer.fail(
            name,
            "snnTorch's neurons leak toward 0 (its importer asserts v_leak = 0); "
            "read the graph with convention='continuous' or 'norse'.",
        )
    v_reset = _one(importer, name, f["v_reset"], "v_reset")
    common = dict(
        threshold=float(f["threshold"].ravel()[0]),
        reset_mechanism="zero",
        reset_delay=False,
        dt=dt,
        v_reset=v_reset,
        name=importer.layer_name(name),
        **_recurrent_kwargs(recurrent),
    )
    weights = {"threshold": f["threshold"]}
    if kind == "IF":
        gain = f["r"]
        layer = LIF.from_snntorch_leaky(beta=1.0, **common)
        return _build_lif(importer, name, x, layer, weights, recurrent, gain)
    raw_tau = f["raw_tau"]
    beta = c.read_decay(raw_tau, dt)
    gain = f["r"] * h / np.asarray(raw_tau, "float64")
    if kind == "CubaLIF":
        raw_syn = f["raw_tau_syn"]
        alpha = c.read_decay(raw_syn, dt)
        gain = gain * f["w_in"] * h / np.asarray(raw_syn, "float64")
        weights["tau_syn"] = alpha
        layer = LIF.from_snntorch_synaptic(
            alpha=float(alpha.ravel()[0]), beta=float(beta.ravel()[0]), **common
        )
    else:
        layer = LIF.from_snntorch_leaky(beta=float(beta.ravel()[0]), **common)
    if layer.arguments["tau"] is not None:
        weights["tau"] = beta
    elif np.any(beta != 1):
        # the first neuron does not leak but others do
        layer = _with(layer, tau=dt / (1 - float(beta[beta != 1][0])))
        weights["tau"] = beta
    if is_one(gain):
        gain = None
    return _build_lif(importer, name, x, layer, weights, recurrent, gain)


def _norse_lif(importer, name, x, f, recurrent):
    c, dt, kind = importer.convention, importer.dt, f["kind"]
    v_reset = _one(importer, name, f["v_reset"], "v_reset")
    threshold = float(f["threshold"].ravel()[0])
    weights = {"threshold": f["threshold"]}
    extra = dict(name=importer.layer_name(name), **_recurrent_kwargs(recurrent))
    if kind == "IF":
        r = uniform(f["r"])
        gain = None
        if r is None:
            r, gain = 1.0, f["r"]
        layer = LIF.from_norse_iaf(v_th=threshold, v_reset=v_reset, dt=dt, r=r, **extra)
        return _build_lif(importer, name, x, layer, weights, recurrent, gain)
    r, v_leak, gain, offset = _gain_and_leak(importer, name, f)
    if offset is not None:
        importer.fail(name, "its v_leak and r both differ between neurons.")
    inverse = c.read_decay(f["raw_tau"], dt, own=False)
    weights["tau"] = inverse
    if kind == "CubaLIF":
        syn_inverse = c.read_decay(f["raw_tau_syn"], dt, own=False)
        weights["tau_syn"] = syn_inverse
        # Norse's LIFCell adds the input to its current unscaled, and the current
        # to the voltage without r: both are gains on the input
        gain = f["w_in"] * f["r"]
        gain = None if np.all(gain == 1) else gain
        layer = LIF.from_norse_lif(
            tau_syn_inv=float(syn_inverse.ravel()[0]),
            tau_mem_inv=float(inverse.ravel()[0]),
            v_leak=v_leak,
            v_th=threshold,
            v_reset=v_reset,
            dt=dt,
            **extra,
        )
    else:
        layer = LIF.from_norse_lif_box(
            tau_mem_inv=float(inverse.ravel()[0]),
            v_leak=v_leak,
            v_th=threshold,
            v_reset=v_reset,
            dt=dt,
            r=r,
            **extra,
        )
    return _build_lif(importer, name, x, layer, weights, recurrent, gain)


def _read_own_neurons(importer, name, node, x, f, meta, recurrent):
    """A neuron layer this library wrote: its config from the metadata, its
    weights from the fields."""
    c, dt = importer.convention, importer.dt
    config = json.loads(meta["config"])
    config["dt"] = dt
    cls = _OWN_LAYERS[meta["layer"]]
    layer = cls.from_config(config)
    if cls is SpikingActivation:
        tensor = layer(x.tensor)
        return Tensor(tensor, x.order, x.keras_shape, name)
    integrator = layer.arguments["integrator"]
    weights = {"threshold": f["threshold"]}
    if layer.arguments["tau"] is not None:
        weights["tau"] = _own_decay(c, integrator, f["raw_tau"], dt)
    if layer.arguments["tau_syn"] is not None:
        weights["tau_syn"] = _own_decay(c, integrator, f["raw_tau_syn"], dt)
    return _build_lif(importer, name, x, layer, weights, recurrent, None, own=True)


def _own_decay(c, integrator, raw, dt):
    """The weight of ``integrator`` for a time constant this library wrote under
    convention ``c`` (the inverse of the exporter)."""
    if integrator == c.integrator:
        return c.read_decay(raw, dt, own=True).astype("float64")
    raw = np.asarray(raw, "float64")
    step = c.euler_dt(dt)
    with np.errstate(divide="ignore"):
        decay = np.exp(-dt / raw) if step is None else 1 - step / raw
    if integrator == "exact":
        return exact_tau(decay, dt)
    if integrator == "snntorch":
        return decay
    return -np.expm1(-dt / raw) / dt if step is None else (1 - decay) / dt
