"""Where each element of a tensor is, in Keras and in NIR.

NIR's shapes are channels-first, ``(C, H, W)``, and exclude the batch and time
axes; a Keras model's per-step shapes are usually channels-last, ``(H, W, C)``. A
tensor is described on the NIR side by its *order*: an integer array of the NIR
shape holding, for each NIR element, the index of the same element in the Keras
tensor flattened (row-major). A channels-last image has the order of
`standard_order`; after a Keras ``Flatten`` the order is that array flattened, so
the weights of the next ``Dense`` layer are permuted rather than the activations.
"""

import math

import keras
import numpy as np


def channels_last(data_format=None):
    """Whether a layer's ``data_format`` (None: Keras's image data format) puts
    the channels last."""
    data_format = data_format or keras.config.image_data_format()
    return data_format == "channels_last"


def standard_order(keras_shape, last=True):
    """The order of a tensor of per-step shape ``keras_shape`` whose channels are
    last (``last=True``; moved first in NIR) or already first.

    Returns
    -------
    numpy.ndarray
        Integers, of the NIR shape.
    """
    keras_shape = tuple(int(n) for n in keras_shape)
    index = np.arange(math.prod(keras_shape), dtype=np.int64).reshape(keras_shape)
    if last and len(keras_shape) >= 2:
        index = np.moveaxis(index, -1, 0)
    return index


def to_nir(values, order, keras_shape):
    """Per-element values of the Keras layout (any array that broadcasts to
    ``keras_shape``), in the NIR layout of ``order``."""
    values = np.broadcast_to(np.asarray(values), tuple(keras_shape))
    return values.reshape(-1)[order]


def to_keras(values, order, keras_shape):
    """The inverse of `to_nir`: NIR-layout values (broadcast to ``order``'s shape)
    in the Keras layout ``keras_shape``."""
    values = np.broadcast_to(np.asarray(values), order.shape)
    result = np.empty(math.prod(keras_shape), dtype=values.dtype)
    result[order.reshape(-1)] = values.reshape(-1)
    return result.reshape(tuple(keras_shape))
