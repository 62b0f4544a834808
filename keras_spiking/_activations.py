"""Activation functions: looking them up, and naming them.

Shared by the layers (which look up an ``activation`` argument), the converter
(which swaps activations by name) and `~keras_spiking.ModelEnergy` (which counts a
layer with a nonlinear activation as neurons).
"""

import keras


def get_activation(activation):
    """Look up an activation like ``keras.activations.get``, with a clearer error."""
    try:
        return keras.activations.get(activation)
    except ValueError as error:
        raise ValueError(
            f"Unknown `activation`: {activation!r}. Pass a callable, None (linear) "
            f"or a name that `keras.activations.get` knows, such as 'relu'."
        ) from error


def activation_name(activation):
    """The name of an activation function, or of a ``ReLU``/``LeakyReLU`` layer
    (``"relu"``, ``"leaky_relu"``); ``"linear"`` for None."""
    if isinstance(activation, keras.layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(activation, keras.layers.ReLU):
        return "relu"
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", type(activation).__name__)


def is_linear(activation):
    """Whether an activation is the identity (``"linear"`` or None)."""
    return activation_name(activation) == "linear"


def rate_function(activation, owner):
    """``activation`` as the rate function of spiking neurons (a `RateFunction`).

    Parameters
    ----------
    activation : callable
        The activation, as ``keras.activations.get`` returns it.
    owner : str
        The layer or cell, for the error message.
    """
    return RateFunction(activation, owner)


class RateFunction:
    """A callable that returns ``activation(x)`` in the dtype of ``x``, checked to
    keep its shape.

    Spiking neurons integrate one rate per input element, so an activation that
    changes the shape (e.g. a slice, or a reshape) cannot be made spiking: that is
    an error naming the activation and both shapes. One that returns integers or
    bools gives rates as numbers (cast, as Keras's layers cast integer inputs).

    Every other attribute is the activation's (e.g. the ``variables`` of a layer
    used as the activation), so code that inspects the activation sees it.
    """

    def __init__(self, activation, owner):
        self.activation = activation
        self.owner = owner

    def __getattr__(self, name):
        if name in ("activation", "owner"):  # not yet set (e.g. while copying)
            raise AttributeError(name)
        return getattr(self.activation, name)

    def __call__(self, x):
        r = self.activation(x)
        if not keras.ops.is_tensor(r):
            r = keras.ops.convert_to_tensor(r)
        in_shape, out_shape = tuple(x.shape), tuple(r.shape)
        if len(in_shape) != len(out_shape) or any(
            a is not None and b is not None and a != b
            for a, b in zip(in_shape, out_shape, strict=True)
        ):
            raise ValueError(
                f"The activation of {self.owner} "
                f"({activation_name(self.activation)}) changed the shape of its "
                f"input from {in_shape} to {out_shape}. A spiking neuron integrates "
                f"one rate per input element, so the activation must return a "
                f"tensor of the shape it is given; apply a layer that changes the "
                f"shape before or after the spiking layer instead."
            )
        dtype = keras.backend.standardize_dtype(x.dtype)
        if keras.backend.standardize_dtype(r.dtype) != dtype:
            r = keras.ops.cast(r, dtype)
        return r
