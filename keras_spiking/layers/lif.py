"""Leaky integrate-and-fire neurons: `LIFCell` beside its layer, `LIF`, with
the recipes that build snnTorch's and Norse's neurons."""

import keras
import numpy as np

from keras_spiking._saving import register
from keras_spiking.layers._lif_base import LIFCellBase, LIFLayerBase
from keras_spiking.layers._lif_parameters import (
    LIF_DEFAULTS,
    NEURON_PARAMETERS,
    check_choice,
    document,
)
from keras_spiking.layers._peer_parameters import norse_arguments, snntorch_arguments


@register
class LIFCell(LIFCellBase):
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
        arguments = {k: v for k, v in locals().items() if k in LIF_DEFAULTS}
        super().__init__(size, dt=dt, **arguments, **kwargs)


@register
class LIF(LIFLayerBase):
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
        arguments = {k: v for k, v in locals().items() if k in LIF_DEFAULTS}
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
            **snntorch_arguments(
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
            **snntorch_arguments(
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
        arguments = snntorch_arguments(
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
            **norse_arguments(tau_mem_inv, tau_syn_inv, v_leak, v_th, v_reset, dt),
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
        check_choice(reset_method, "reset_method", ("value", "subtract"))
        arguments = norse_arguments(tau_mem_inv, None, v_leak, v_th, v_reset, dt)
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
        arguments = norse_arguments(None, None, 0.0, v_th, v_reset, dt)
        arguments["initial_voltage"] = arguments["v_reset"]
        return cls(**arguments, **kwargs)


document(LIFCell, NEURON_PARAMETERS)
document(LIF, NEURON_PARAMETERS)
