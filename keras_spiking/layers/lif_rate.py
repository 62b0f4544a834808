"""`LIFRate`: the firing rate of LIF neurons as an activation layer, without a
time axis (for training a rate model to convert)."""

import keras
import numpy as np

from keras_spiking._saving import register
from keras_spiking.functional.lif import (
    lif_rate,
)
from keras_spiking.layers._lif_parameters import LIF_DEFAULTS, check_arguments


@register
class LIFRate(keras.layers.Layer):
    """The firing rate of `LIF` neurons as an activation layer, with no time axis.

    Computes `keras_spiking.functional.lif_rate` of its input, elementwise: the
    SoftLIF rate (smoothed by ``sigma``) times ``amplitude``. Train a rate model
    with it as the nonlinearity; ``keras_spiking.convert(model,
    neuron=keras_spiking.LIF())`` then makes each ``LIFRate`` a `LIF` layer with
    the same parameters, whose spikes (``spike_rule="exact"``) average to the
    exact rate (``sigma=0``).

    Parameters
    ----------
    tau, threshold, v_reset, v_leak, r, tau_ref, amplitude, sigma
        As for `LIF` (``tau`` may be None: integrate-and-fire).
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> rate = keras_spiking.LIFRate(tau=0.02, amplitude=0.001, sigma=0.0)
    >>> out = keras.ops.convert_to_numpy(rate(np.array([[2.0]])))
    >>> round(float(out[0, 0]), 4)
    0.0721
    """

    def __init__(
        self,
        tau=0.02,
        threshold=1.0,
        v_reset=0.0,
        v_leak=0.0,
        r=1.0,
        tau_ref=0.0,
        amplitude=1.0,
        sigma=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        arguments = check_arguments(
            type(self).__name__,
            {
                **LIF_DEFAULTS,
                "tau": tau,
                "threshold": threshold,
                "v_reset": v_reset,
                "v_leak": v_leak,
                "r": r,
                "tau_ref": tau_ref,
                "amplitude": amplitude,
                "sigma": sigma,
            },
        )
        self.neuron_arguments = {
            k: arguments[k]
            for k in (
                "tau",
                "threshold",
                "v_reset",
                "v_leak",
                "r",
                "tau_ref",
                "amplitude",
                "sigma",
            )
        }

    def call(self, inputs):
        """The rate of each element of ``inputs``."""
        a = {
            name: np.asarray(value, "float32") if isinstance(value, list) else value
            for name, value in self.neuron_arguments.items()
        }
        return lif_rate(
            inputs,
            a["tau"],
            threshold=a["threshold"],
            v_reset=a["v_reset"],
            v_leak=a["v_leak"],
            r=a["r"],
            tau_ref=a["tau_ref"],
            amplitude=a["amplitude"],
            sigma=a["sigma"],
        )

    def compute_output_shape(self, input_shape):
        """The input shape."""
        return input_shape

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(self.neuron_arguments)
        return config
