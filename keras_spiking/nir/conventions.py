"""The conventions: how a NIR graph's equations become time steps, one table used
by `~keras_spiking.nir.to_nir` and `~keras_spiking.nir.from_nir` alike.

NIR fixes each neuron's differential equation, not how a simulator steps it. A
convention says what a spike is (a unit-area event, ``1/dt`` high for one step, or
a ``1`` per step), how time constants are stepped (exactly, or by forward Euler at
a time step of the simulator's own) and, for a library's graphs, how that
library's exporter and importer turn its parameters into NIR fields. Each
`Convention` holds both directions:

- reading (``from_nir``): the network that the library's *exporter* wrote, step
  for step;
- writing (``to_nir``): fields that the library's *importer* runs as the Keras
  network, even where that library's exporter writes something else.

The per-step factors of the peers are matched bit for bit: their float32
formulas are reproduced here with numpy, and a field is searched among its
float32 neighbours until the peer's formula gives back the factor the Keras layer
holds.
"""

import dataclasses

import numpy as np

SNNTORCH_DT = 1e-4
"""float: The time step that snnTorch 1.0.0's exporter and importer assume
(hard-coded in ``snntorch/export_nir.py`` and ``snntorch/import_nir.py``)."""

HUGE_TAU = 1e30
"""float: The time constant written for a neuron that does not leak where a
convention has no integrate-and-fire node that its importer reads (snnTorch's
importer builds ``IF`` as a leaky neuron): ``1 - 1e-4 / 1e30`` is 1 in float32."""

_SEARCH_ULPS = 64


@dataclasses.dataclass(frozen=True)
class Convention:
    """How one library means a NIR graph: both directions of the exchange.

    Parameters
    ----------
    name : str
        The name passed as ``convention=``.
    integrator : str
        The ``keras_spiking.LIF`` integrator that computes its steps
        (``"exact"``, ``"snntorch"``, ``"norse"``).
    spike_rule : str
        The ``keras_spiking.LIF`` spike rule of its neurons.
    time_step : float or None
        A time step fixed by the library (snnTorch's 1e-4 s), or None when it is
        the ``dt`` of the model.
    spikes : str
        What one spike is: ``"event"`` (a unit-area event: ``1/dt`` for one
        step, ``keras_spiking.LIF`` with ``amplitude=1``) or ``"one"`` (a 1 for
        one step, ``amplitude=dt``).
    reads_tau : str
        How a time constant of the graph is read, for the docs.
    writes_tau : str
        How a time constant is written, for the docs.
    steps : str
        The per-step update of its neurons, for the docs.
    reset : str
        When and how its neurons reset, for the docs.
    start : str
        The initial states of its neurons, for the docs.
    sources : str
        Where the facts come from, for the docs.
    """

    name: str
    integrator: str
    spike_rule: str
    time_step: float
    spikes: str
    reads_tau: str
    writes_tau: str
    steps: str
    reset: str
    start: str
    sources: str

    # --- spikes and time ---------------------------------------------------------

    def amplitude(self, dt):
        """The area of one spike of a layer that follows this convention."""
        return 1.0 if self.spikes == "event" else float(dt)

    def spike_value(self, dt):
        """The value one spike has for one step (what feedback weights see)."""
        return 1.0 / dt if self.spikes == "event" else 1.0

    def euler_dt(self, dt):
        """The time step of the forward-Euler reading (peers), or None (exact)."""
        if self.integrator == "exact":
            return None
        return self.time_step if self.time_step is not None else float(dt)

    def initial_voltage(self, kind, v_leak, v_reset):
        """The voltage a neuron of ``kind`` (``"LIF"``, ``"CubaLIF"``, ``"IF"``)
        starts from."""
        if self.name != "norse":
            return 0.0
        return v_reset if kind == "IF" else v_leak

    # --- time constants, bit for bit ---------------------------------------------

    def read_decay(self, tau, dt, own=False):
        """The layer weight that holds a time constant of the graph, in the form
        of this convention's integrator: seconds (``"exact"``), the factor per
        step ``beta`` (``"snntorch"``) or the inverse time constant (``"norse"``).

        Parameters
        ----------
        tau : array
            The graph's field.
        dt : float
            The model's time step.
        own : bool
            Whether this library wrote the graph (with `write_decay`), rather than
            the peer's exporter.

        Returns
        -------
        numpy.ndarray
            float32.
        """
        tau = np.asarray(tau)
        if self.name == "snntorch":
            if own:
                return _snntorch_import_beta(tau)
            return _invert(
                _snntorch_import_beta(tau).astype("float64"),
                lambda beta: _snntorch_export_tau(beta, tau.dtype.type),
                tau,
                shortest=True,
            )
        if self.name == "norse":
            if own:
                return _norse_import_inverse(tau)
            tau32 = tau.astype("float32")
            return _invert(
                float(dt) / tau32.astype("float64"),
                lambda inverse: _norse_export_tau(inverse, dt),
                tau32,
                shortest=True,
            )
        return tau.astype("float32")

    def write_decay(self, weight, dt):
        """The graph field for a layer weight of this convention's integrator:
        the inverse of `read_decay` with ``own=True``, and what the peer's
        importer turns back into that weight exactly.

        Returns
        -------
        fields : numpy.ndarray
            float32.
        exact : bool
            Whether the peer's formula gives back every weight exactly.
        """
        weight = np.asarray(weight, "float32")
        if self.name == "snntorch":
            start = _snntorch_export_tau(weight, np.float32)
            # a factor of 1 (no leak) has no finite time constant
            start = np.where(np.isfinite(start), start, np.float32(HUGE_TAU))
            return _search(start, _snntorch_import_beta, weight)
        if self.name == "norse":
            start = (1.0 / weight.astype("float64")).astype("float32")
            return _search(start, _norse_import_inverse, weight)
        return weight, True


def _snntorch_export_tau(beta, dtype):
    """snnTorch's exporter: ``tau = dt / (1 - beta)``, numpy in the file's dtype."""
    beta = np.asarray(beta).astype(dtype)
    with np.errstate(divide="ignore"):
        return np.asarray(dtype(SNNTORCH_DT) / (dtype(1) - beta))


def _snntorch_import_beta(tau):
    """snnTorch's importer: ``beta = 1 - dt / tau`` (in the field's dtype), as
    float32 (what its neuron holds)."""
    tau = np.asarray(tau)
    dtype = tau.dtype.type if tau.dtype.kind == "f" else np.float64
    return (dtype(1) - dtype(SNNTORCH_DT) / tau.astype(dtype)).astype("float32")


def _norse_export_tau(inverse, dt):
    """Norse's exporter: ``dt / tau_inv`` on a float32 tensor, which torch computes
    as ``reciprocal(tau_inv) * dt``."""
    inverse = np.asarray(inverse, "float32")
    return (np.float32(1) / inverse) * np.float32(dt)


def _norse_import_inverse(tau):
    """Norse's importer: ``tau_inv = 1 / tau`` on a float32 tensor."""
    return np.float32(1) / np.asarray(tau).astype("float32")


def _steps(values, k):
    """float32 ``values`` moved by ``k`` units in the last place."""
    ints = np.asarray(values, "float32").view(np.int32).astype(np.int64) + k
    return np.clip(ints, 1, 0x7F7FFFFF).astype(np.int32).view(np.float32)


def _offsets():
    yield 0
    for k in range(1, _SEARCH_ULPS + 1):
        yield -k
        yield k


def _search(start, forward, target):
    """float32 fields near ``start`` (positive) for which ``forward`` gives
    ``target`` exactly, element by element; ``(fields, all found)``."""
    start = np.asarray(start, "float32")
    target = np.asarray(target)
    result, found = start.copy(), np.zeros(start.shape, bool)
    for k in _offsets():
        candidate = _steps(start, k)
        ok = ~found & (forward(candidate) == target)
        result[ok] = candidate[ok]
        found |= ok
        if found.all():
            break
    return result, bool(found.all())


def _invert(start, forward, target, shortest=False):
    """float32 parameters near ``start`` that ``forward`` (a peer's exporter) maps
    to the fields ``target``; among several, the one with the shortest decimal
    form (what a person types), else the nearest; without one, ``start``."""
    shape = np.shape(target)
    start = np.asarray(start, "float64").astype("float32").ravel()
    target = np.asarray(target).ravel()
    offsets = list(_offsets())
    candidates = np.stack([_steps(start, k) for k in offsets])
    matches = forward(candidates) == target[None]
    result = start.copy()
    for index in np.flatnonzero(matches.any(axis=0)):
        found = candidates[matches[:, index], index]
        if shortest and len(found) > 1:
            result[index] = min(found, key=lambda c: len(repr(float(c))))
        else:
            result[index] = found[0]
    return result.reshape(shape)


# --- per-step factors: any integrator to any convention ------------------------------


def log_decay(decay):
    """``-log(decay)`` in float64, for a decay factor per step in (0, 1]."""
    return -np.log(np.asarray(decay, "float64"))


def exact_tau(decay, dt):
    """The time constant whose exact decay over ``dt`` is ``decay`` (inf for 1)."""
    with np.errstate(divide="ignore"):
        return float(dt) / log_decay(decay)


CONVENTIONS = {
    "continuous": Convention(
        name="continuous",
        integrator="exact",
        spike_rule="exact",
        time_step=None,
        spikes="event",
        reads_tau="seconds",
        writes_tau="seconds",
        steps=(
            "the continuous-time equations with each step's input held over the "
            "step: exact decays, every crossing counted (``spike_rule='exact'``); "
            "CubaLIF: exact decays, one threshold check per step"
        ),
        reset="to v_reset at the crossing",
        start="0",
        sources="NIR's equations (Pedersen et al., Nat. Commun. 15:8122, 2024)",
    ),
    "snntorch": Convention(
        name="snntorch",
        integrator="snntorch",
        spike_rule="step",
        time_step=SNNTORCH_DT,
        spikes="one",
        reads_tau="beta = 1 - 1e-4/tau (the beta snnTorch's exporter started from)",
        writes_tau="tau = 1e-4/(1 - beta), r = tau/1e-4, w_in = tau_syn/1e-4",
        steps=(
            "Leaky: v <- beta v + I; Synaptic: i <- alpha i + I, v <- beta v + i; "
            "the input scale r 1e-4/tau (w_in 1e-4/tau_syn) on the input"
        ),
        reset="to v_reset in the step of the spike (v > threshold)",
        start="0",
        sources=(
            "snnTorch 1.0.0: snntorch/export_nir.py, snntorch/import_nir.py, "
            "snntorch/_neurons/leaky.py, synaptic.py, rleaky.py"
        ),
    ),
    "norse": Convention(
        name="norse",
        integrator="norse",
        spike_rule="step",
        time_step=None,
        spikes="one",
        reads_tau=(
            "tau_inv = dt/tau (Norse's exporter writes dt/tau_inv, i.e. dt times "
            "the time constant)"
        ),
        writes_tau="tau in seconds (its importer's 1/tau); CubaLIF w_in = tau_syn/dt",
        steps=(
            "forward Euler at dt: LIFBoxCell v <- v + dt/tau ((I + v_leak) - v); "
            "LIFCell: the current jumps by the input, drives v, then decays; "
            "IAFCell v <- v + I"
        ),
        reset="to v_reset in the step of the spike (v > threshold)",
        start="v_leak (IF: v_reset)",
        sources=(
            "Norse 1.1.0: norse/torch/utils/export_nir.py, import_nir.py, "
            "norse/torch/functional/lif_box.py, lif.py, iaf.py"
        ),
    ),
}
"""dict: The conventions by name (see `Convention`)."""


def get_convention(convention):
    """The `Convention` named ``convention`` (or ``convention`` itself)."""
    if isinstance(convention, Convention):
        return convention
    if convention not in CONVENTIONS:
        raise ValueError(
            f"`convention` must be one of {', '.join(map(repr, CONVENTIONS))}; got "
            f"convention={convention!r}."
        )
    return CONVENTIONS[convention]


def is_one(values, rtol=1e-5):
    """Whether every value is 1 up to ``rtol`` (as the peers' ``np.allclose``)."""
    return bool(np.all(np.abs(np.asarray(values, "float64") - 1) <= rtol))


def uniform(values):
    """The one value of an array whose elements are all equal, else None."""
    array = np.asarray(values)
    if array.size == 0:
        return None
    first = array.ravel()[0]
    return float(first) if np.all(array == first) else None
