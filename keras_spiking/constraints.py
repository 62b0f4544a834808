"""Constraints for the parameters of KerasSpiking layers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_spiking")
class Mean(keras.constraints.Constraint):
    """Constrains a weight to have the same value everywhere along an axis.

    After each update the weight is replaced by its mean along ``axis``, repeated
    to the weight's full shape. For example, ``tau_constraint=Mean()`` on a
    `.Lowpass` or `.Alpha` layer makes all of its units share one trainable time
    constant.

    Parameters
    ----------
    axis : int or tuple of int
        Axis or axes along which the weight is averaged (and then repeated).

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
        # a tuple comes back from a JSON config as a list
        self.axis = tuple(axis) if isinstance(axis, list) else axis

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.broadcast_to(
            ops.mean(w, axis=self.axis, keepdims=True), ops.shape(w)
        )

    def get_config(self):
        return {"axis": self.axis}
