"""Constraints for the parameters of KerasSpiking layers."""

import keras
from keras import ops

from keras_spiking._axes import check_axis, standardize_axis
from keras_spiking._saving import register


@register
class Mean(keras.constraints.Constraint):
    """Constrains a weight to have the same value everywhere, or along some axes.

    After each update the weight is replaced by its mean (over all of it, or along
    ``axis``), repeated to the weight's full shape. The default,
    ``tau_constraint=Mean()`` on a `.Lowpass` or `.Alpha` layer, makes all of its
    units share one trainable time constant, whatever the per-step shape.

    Parameters
    ----------
    axis : int or tuple of int or None
        Axis or axes along which the weight is averaged (and then repeated); None
        (default) for all of them, so that the whole weight holds one value. The
        axes must exist in the weight the constraint is applied to (a
        ``ValueError`` says so when it is first applied).

    Notes
    -----
    On a filter (`.Lowpass`, `.Alpha`, and their cells), a constraint sees
    ``tau`` and the initial level in the shape ``(1, *size)``, where ``size`` is
    the per-step shape: axis 0 is a leading axis of length 1, and axis ``i + 1``
    (or ``i - len(size)``) is axis ``i`` of a step. This is how `.Lowpass`
    stores them; `.Alpha` stores them flat, ``(prod(size),)``, and reshapes them
    for its constraints, so that a constraint acts the same way on both. For
    example, with steps of shape ``(height, width, channels)``,
    ``Mean(axis=(1, 2))`` gives each channel one time constant.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_spiking
    >>> w = np.array([[1.0, 2.0, 6.0], [0.0, 0.5, 1.0]], dtype="float32")
    >>> np.asarray(keras_spiking.constraints.Mean()(w))
    array([[1.75, 1.75, 1.75],
           [1.75, 1.75, 1.75]], dtype=float32)
    >>> np.asarray(keras_spiking.constraints.Mean(axis=-1)(w))
    array([[3. , 3. , 3. ],
           [0.5, 0.5, 0.5]], dtype=float32)
    >>> np.asarray(keras_spiking.constraints.Mean(axis=0)(w))
    array([[0.5 , 1.25, 3.5 ],
           [0.5 , 1.25, 3.5 ]], dtype=float32)
    """

    def __init__(self, axis=None):
        self.axis = None if axis is None else standardize_axis(axis)

    def __call__(self, w):
        """Return ``w`` averaged over ``axis`` (all axes if None) and repeated to
        its shape."""
        w = ops.convert_to_tensor(w)
        if self.axis is not None:
            check_axis(self.axis, w)
        return ops.broadcast_to(
            ops.mean(w, axis=self.axis, keepdims=True), ops.shape(w)
        )

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"axis": self.axis}
