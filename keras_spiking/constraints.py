"""Constraints for the parameters of KerasSpiking layers."""

import keras
from keras import ops

from keras_spiking._axes import check_axis, standardize_axis
from keras_spiking._saving import register


@register
class Mean(keras.constraints.Constraint):
    """Constrains a weight to have the same value everywhere along an axis.

    After each update the weight is replaced by its mean along ``axis``, repeated
    to the weight's full shape. For example, ``tau_constraint=Mean()`` on a
    `.Lowpass` or `.Alpha` layer makes all of its units share one trainable time
    constant.

    Parameters
    ----------
    axis : int or tuple of int
        Axis or axes along which the weight is averaged (and then repeated). They
        must exist in the weight the constraint is applied to (a ``ValueError``
        says so when it is first applied).

    Examples
    --------
    >>> import numpy as np
    >>> import keras_spiking
    >>> w = np.array([[1.0, 2.0, 6.0], [0.0, 0.5, 1.0]], dtype="float32")
    >>> np.asarray(keras_spiking.constraints.Mean()(w))
    array([[3. , 3. , 3. ],
           [0.5, 0.5, 0.5]], dtype=float32)
    >>> np.asarray(keras_spiking.constraints.Mean(axis=0)(w))
    array([[0.5 , 1.25, 3.5 ],
           [0.5 , 1.25, 3.5 ]], dtype=float32)
    """

    def __init__(self, axis=-1):
        self.axis = standardize_axis(axis)

    def __call__(self, w):
        """Return ``w`` averaged over ``axis`` and repeated to its shape."""
        w = ops.convert_to_tensor(w)
        check_axis(self.axis, w)
        return ops.broadcast_to(
            ops.mean(w, axis=self.axis, keepdims=True), ops.shape(w)
        )

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"axis": self.axis}
