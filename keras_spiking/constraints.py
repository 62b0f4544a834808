"""Constraints for the parameters of KerasSpiking layers."""

import numbers

import keras
from keras import ops


def _standardize_axis(axis):
    """Return ``axis`` as an int or a tuple of ints, or raise a clear error.

    Lists are accepted too, because a tuple comes back from a JSON config as a
    list. Whether the axes exist can only be known once the input is seen (see
    `_check_axis`).
    """
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if not axes or any(
        isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes
    ):
        raise TypeError(
            "`axis` must be an int or a non-empty tuple of ints, such as `0` or "
            f"`(0, 1)`; got {axis!r}"
        )
    axes = tuple(int(a) for a in axes)
    return axes if isinstance(axis, (tuple, list)) else axes[0]


def _check_axis(axis, x):
    """Raise a clear error if ``axis`` does not name distinct axes of ``x``."""
    rank = x.ndim
    if rank is None:  # unknown until run time; let the backend check it then
        return
    axes = axis if isinstance(axis, tuple) else (axis,)
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(
            f"`axis`={axis!r} is out of range for an input of rank {rank} (valid "
            f"axes are {-rank} to {rank - 1}); choose `axis` to fit the input"
        )
    if len({a % rank for a in axes}) < len(axes):
        raise ValueError(
            f"`axis`={axis!r} names the same axis more than once for an input of "
            f"rank {rank}; list each axis once"
        )


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
        self.axis = _standardize_axis(axis)

    def __call__(self, w):
        """Return ``w`` averaged over ``axis`` and repeated to its shape."""
        w = ops.convert_to_tensor(w)
        _check_axis(self.axis, w)
        return ops.broadcast_to(
            ops.mean(w, axis=self.axis, keepdims=True), ops.shape(w)
        )

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"axis": self.axis}
