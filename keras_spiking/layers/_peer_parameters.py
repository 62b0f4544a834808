"""snnTorch's and Norse's neurons as `LIF` arguments (for the ``LIF.from_*``
recipes)."""

import numpy as np

from keras_spiking import surrogates
from keras_spiking._dt import dt_value
from keras_spiking.config import default
from keras_spiking.layers._lif_parameters import check_choice


def _f32(value):
    """A peer's parameter, as torch holds it (float32), as a Python float."""
    return float(np.float32(value))


def snntorch_arguments(beta, alpha, threshold, reset_mechanism, reset_delay, dt):
    """The `LIF` arguments of an snnTorch neuron."""
    check_choice(reset_mechanism, "reset_mechanism", ("subtract", "zero", "none"))
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


def norse_arguments(tau_mem_inv, tau_syn_inv, v_leak, v_th, v_reset, dt):
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
