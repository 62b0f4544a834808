"""snnTorch and Norse networks for the NIR tests: built, run and exchanged with the
peers' own code (snnTorch 1.0.0, Norse 1.1.0, nirtorch 2.6).

Importing this module needs ``torch``, ``snntorch``, ``norse`` and ``nirtorch``.
Every network takes spikes (0 or 1) and has weights on a grid of 1/64, so that
every sum of a layer is exact in float32 and the result does not depend on the
order in which torch and Keras add (only the neurons' own arithmetic matters).

Shapes follow the peers: inputs and spikes are ``(time, batch, ...)``,
channels-first.
"""

import contextlib
import io
import logging
import warnings

import nir
import norse.torch as norse
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

STEPS, BATCH = 500, 4
NORSE_DT = 1e-3

torch.set_num_threads(1)
logging.getLogger().setLevel(logging.ERROR)  # Norse's importer logs about r


def spike_input(shape, p=0.2, seed=1, steps=STEPS, batch=BATCH):
    """Bernoulli spikes, ``(time, batch, *shape)``, float32."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((steps, batch, *shape), generator=generator) < p).float()


def _grid(shape, generator, low, high):
    return torch.randint(low, high + 1, shape, generator=generator).float() / 64


def linear(n_in, n_out, generator, low=-16, high=32, bias=True):
    """A ``torch.nn.Linear`` with weights (and bias) on a grid of 1/64."""
    layer = torch.nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(_grid((n_out, n_in), generator, low, high))
        if bias:
            layer.bias.copy_(_grid((n_out,), generator, -8, 8))
    return layer


def full(shape, value):
    """A per-neuron parameter (snnTorch exports only those)."""
    return torch.full(shape if isinstance(shape, tuple) else (shape,), float(value))


# --- snnTorch -------------------------------------------------------------------------


def leaky(n, beta=0.9, threshold=1.0, **kwargs):
    return snn.Leaky(
        beta=full(n, beta), threshold=full(n, threshold), init_hidden=True, **kwargs
    )


def synaptic(n, alpha=0.8, beta=0.9, threshold=1.0, **kwargs):
    return snn.Synaptic(
        alpha=full(n, alpha),
        beta=full(n, beta),
        threshold=full(n, threshold),
        init_hidden=True,
        **kwargs,
    )


def snntorch_network(case, seed=0):
    """An snnTorch network, and its network as the graph states it (zero reset
    in the step of the spike: what snnTorch's importer builds, and what a NIR
    graph can say), with the same weights; and its input."""
    generator = torch.Generator().manual_seed(seed)

    def mlp(make, first_range, second_range):
        first = linear(16, 32, generator, *first_range)
        second = linear(32, 32, generator, *second_range)
        return lambda **kw: torch.nn.Sequential(
            first, make(32, **kw), second, make(32, **kw)
        )

    if case in ("leaky", "leaky_zero"):
        build = mlp(leaky, (-16, 32), (-24, 32))
    elif case in ("synaptic", "synaptic_zero"):
        build = mlp(synaptic, (-10, 10), (-12, 10))
    elif case == "rleaky":
        first = linear(16, 32, generator)
        recurrent = linear(32, 32, generator, -8, 8)

        def build(**kw):
            neuron = snn.RLeaky(
                beta=full(32, 0.9),
                threshold=full(32, 1.0),
                linear_features=32,
                init_hidden=True,
                **kw,
            )
            neuron.recurrent.load_state_dict(recurrent.state_dict())
            return torch.nn.Sequential(first, neuron)

    elif case == "convnet":
        conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(_grid(conv.weight.shape, generator, -24, 48))
            conv.bias.copy_(_grid(conv.bias.shape, generator, -8, 8))
        dense = linear(64, 32, generator, -32, 32)

        def build(**kw):
            return torch.nn.Sequential(
                conv,
                leaky((4, 8, 8), **kw),
                torch.nn.AvgPool2d((2, 2)),
                torch.nn.Flatten(),
                dense,
                leaky(32, **kw),
            )

    else:
        raise ValueError(case)
    meaning = {"reset_mechanism": "zero", "reset_delay": False}
    if case in ("leaky", "synaptic"):
        original = build()  # snnTorch's default: subtract, one step late
    elif case == "leaky_zero":
        # zero reset one step late: for Leaky, the same as in the step itself
        original = build(reset_mechanism="zero")
    else:
        original = build(**meaning)
    shape = (1, 8, 8) if case == "convnet" else (16,)
    p = 0.3 if case == "convnet" else 0.2
    return original, build(**meaning), spike_input(shape, p=p)


def _reset(module):
    for m in module.modules():
        if isinstance(m, snn.SpikingNeuron):
            for name in ("mem", "syn", "spk"):
                if isinstance(getattr(m, name, None), torch.Tensor):
                    setattr(m, name, torch.zeros(0))


def run_snntorch(module, x, imported=False):
    """Spikes of every neuron layer (in order) of an snnTorch network (or of what
    snnTorch's importer built), stepped over ``x``."""
    _reset(module)
    calls = []

    def hook(m, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        calls.append((id(m), out.detach().clone()))

    hooks = [
        m.register_forward_hook(hook)
        for m in module.modules()
        if isinstance(m, (snn.Leaky, snn.Synaptic, snn.RLeaky))
    ]
    state = None
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        for t in range(x.shape[0]):
            if imported:
                _, state = module(x[t], state)
            else:
                module(x[t])
    for h in hooks:
        h.remove()
    order = list(dict.fromkeys(i for i, _ in calls))
    return [np.stack([s.numpy() for i, s in calls if i == k]) for k in order]


def snntorch_export(module, x):
    """snnTorch's exporter (a batch-free sample, as its type check needs)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(module, x[0], ignore_dims=[0])
    _reset(module)
    return graph


def snntorch_import(graph):
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_from_nir(graph)


# --- Norse -------------------------------------------------------------------------


NORSE_RANGES = {
    "lif_box": ((-16, 64), (0, 96)),
    "lif": ((-8, 16), (0, 40)),
    "iaf": ((-16, 24), (-16, 24)),
}
"""dict: The ranges (in 1/64) of the weights of each Norse network's layers."""


def norse_network(case, seed=0):
    """A two-layer Norse network with per-neuron parameters (its default scalar
    parameters cannot be written to a file with nir 1.0.8), and its input."""
    generator = torch.Generator().manual_seed(seed)

    def cell():
        f = lambda v: full(32, v)  # noqa: E731
        if case == "lif_box":
            p = norse.LIFBoxParameters(
                tau_mem_inv=f(100), v_leak=f(0), v_th=f(1), v_reset=f(0)
            )
            return norse.LIFBoxCell(p, dt=NORSE_DT)
        if case == "lif":
            p = norse.LIFParameters(
                tau_syn_inv=f(200),
                tau_mem_inv=f(100),
                v_leak=f(0),
                v_th=f(1),
                v_reset=f(0),
            )
            return norse.LIFCell(p, dt=NORSE_DT)
        if case == "iaf":
            return norse.IAFCell(
                norse.IAFParameters(v_th=f(1), v_reset=f(0)), dt=NORSE_DT
            )
        raise ValueError(case)

    first, second = NORSE_RANGES[case]
    net = norse.SequentialState(
        linear(16, 32, generator, *first),
        cell(),
        linear(32, 32, generator, *second),
        cell(),
    )
    return net, spike_input((16,))


def run_norse(module, x):
    """Spikes of every neuron layer of a Norse network (or of what Norse's
    importer built), stepped over ``x``."""
    from norse.torch.utils.import_nir import CubaLIF

    cells = (norse.LIFBoxCell, norse.LIFCell, norse.IAFCell, CubaLIF)
    calls = []

    def hook(m, inputs, output):
        calls.append((id(m), output[0].detach().clone()))

    hooks = [
        m.register_forward_hook(hook)
        for name, m in module.named_modules()
        if isinstance(m, cells) and not name.endswith((".lif", ".synapse"))
    ]
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = module(x[t], state)
    for h in hooks:
        h.remove()
    order = list(dict.fromkeys(i for i, _ in calls))
    return [np.stack([s.numpy() for i, s in calls if i == k]) for k in order]


def norse_export(module, x):
    """Norse's exporter, with a batched sample (as its docs do): the Input node
    then has the batch in its shape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch's own API
        return norse.to_nir(module, x[0], dt=NORSE_DT)


def norse_import(graph, dt=NORSE_DT):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return norse.from_nir(graph, dt=dt)


def read(path):
    """``nir.read``, without the type check when it fails (the peers' importers
    take the graph object)."""
    try:
        return nir.read(path)
    except ValueError:
        return nir.read(path, type_check=False)
