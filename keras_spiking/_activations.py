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
