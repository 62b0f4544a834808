"""Adaptive leaky integrate-and-fire neurons: `AdaptiveLIFCell` beside its
layer, `AdaptiveLIF`."""

from keras_spiking._saving import register
from keras_spiking.layers._lif_base import LIFCellBase, LIFLayerBase
from keras_spiking.layers._lif_parameters import (
    ADAPTIVE_DEFAULTS,
    ADAPTIVE_PARAMETERS,
    NEURON_PARAMETERS,
    document,
)


@register
class AdaptiveLIFCell(LIFCellBase):
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
    defaults = ADAPTIVE_DEFAULTS

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
        arguments = {k: v for k, v in locals().items() if k in ADAPTIVE_DEFAULTS}
        super().__init__(size, dt=dt, **arguments, **kwargs)


@register
class AdaptiveLIF(LIFLayerBase):
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
        arguments = {k: v for k, v in locals().items() if k in ADAPTIVE_DEFAULTS}
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


document(AdaptiveLIFCell, NEURON_PARAMETERS + ADAPTIVE_PARAMETERS)
document(AdaptiveLIF, NEURON_PARAMETERS + ADAPTIVE_PARAMETERS)
