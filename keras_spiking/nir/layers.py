"""Layers that `~keras_spiking.nir.from_nir` needs and Keras does not have."""

import keras
from keras import ops

from keras_spiking._saving import register


@register
class Delay(keras.layers.Layer):
    """Delay a sequence by a whole number of time steps (NIR's ``Delay``).

    The output at step ``t`` is the input at step ``t - steps``; the first
    ``steps`` steps are 0.

    Parameters
    ----------
    steps : int
        The delay, in time steps (0 or more).
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> from keras_spiking.nir import Delay
    >>> x = np.arange(1.0, 5.0, dtype="float32").reshape(1, 4, 1)
    >>> keras.ops.convert_to_numpy(Delay(2)(x)).ravel().tolist()
    [0.0, 0.0, 1.0, 2.0]
    """

    def __init__(self, steps, **kwargs):
        super().__init__(**kwargs)
        if isinstance(steps, bool) or int(steps) != steps or steps < 0:
            raise ValueError(
                f"`steps` must be a whole number of time steps (0 or more); got "
                f"steps={steps!r}."
            )
        self.steps = int(steps)

    def call(self, inputs):
        """Shift ``(batch, time, ...)`` input along the time axis."""
        if self.steps == 0:
            return inputs
        zeros = ops.zeros_like(inputs)
        shifted = ops.concatenate([zeros[:, : self.steps], inputs], axis=1)
        return shifted[:, : ops.shape(inputs)[1]]

    def compute_output_shape(self, input_shape):
        """The input shape."""
        return input_shape

    def get_config(self):
        """Return the config of the layer."""
        config = super().get_config()
        config["steps"] = self.steps
        return config
