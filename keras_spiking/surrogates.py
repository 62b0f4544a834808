"""Surrogate gradients: spikes forward, a smooth derivative backward.

A spiking neuron emits a spike when its voltage ``v`` passes its threshold
``theta``: the spike is the step function ``H(x) = 1 if x > 0 else 0`` of ``x = v -
theta``, whose derivative is zero almost everywhere. A surrogate keeps ``H`` in the
forward pass and replaces its derivative by a smooth bump ``f'(x)`` in the backward
pass, so that gradients reach the voltage (Neftci, Mostafa and Zenke, "Surrogate
gradient learning in spiking neural networks", IEEE Signal Processing Magazine,
2019).

Each surrogate here is one line of ``keras.ops``,

.. code-block:: python

    H(x) + (f(x) - stop_gradient(f(x)))

with ``f`` the antiderivative of the surrogate derivative ``f'``. The bracket is
exactly zero in the forward pass, so the output is exactly ``H(x)``; its gradient
is ``f'(x)``. It runs on every backend, under XLA and inside loops, with no custom
gradient.

``x`` is ``v - theta`` unscaled, as snnTorch and Norse define it. The layers of
`keras_spiking.layers` take a surrogate as ``surrogate="atan"`` (a name), a class
or an instance, and save it in their config; `get`, `serialize` and `deserialize`
work like their ``keras.activations`` namesakes.
"""

import math

import keras
from keras import ops

from keras_spiking._saving import register


def heaviside(x):
    """The spike of a neuron: ``1`` where ``x > 0`` (strictly), else ``0``, in the
    dtype of ``x``, with no gradient."""
    return ops.cast(ops.greater(x, 0), x.dtype)


class Surrogate:
    """Base class of the surrogate gradients.

    Calling a surrogate on ``x = v - theta`` gives the spike `heaviside` ``H(x)``
    forward and ``derivative(x)`` backward. A subclass defines `antiderivative`
    (``f``, whose derivative is the surrogate ``f'``) and `derivative` (``f'``
    itself, for plots and tests), and `get_config`.

    Surrogates compare equal (and hash alike) when they are of the same class with
    the same config.
    """

    def __call__(self, x):
        """``H(x)`` forward, ``f'(x)`` backward."""
        smooth = self.antiderivative(x)
        return heaviside(x) + (smooth - ops.stop_gradient(smooth))

    def antiderivative(self, x):
        """``f(x)``, whose derivative is the surrogate gradient."""
        raise NotImplementedError("Subclasses must implement `antiderivative`.")

    def derivative(self, x):
        """The surrogate gradient ``f'(x)`` itself."""
        raise NotImplementedError("Subclasses must implement `derivative`.")

    def get_config(self):
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Make a surrogate from its config."""
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def _positive(value, name, owner):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"`{name}` of {owner} must be a positive, finite number; got "
            f"{name}={value!r}."
        )
    return float(value)


@register
class StraightThrough(Surrogate):
    """The straight-through estimator: ``f'(x) = 1`` (``f(x) = x``).

    The gradient of the spike is that of ``x`` itself, everywhere. snnTorch's
    ``surrogate.straight_through_estimator()`` is the same.
    """

    def antiderivative(self, x):
        """``f(x) = x``."""
        return x

    def derivative(self, x):
        """``f'(x) = 1``."""
        return ops.ones_like(x)


@register
class SuperSpike(Surrogate):
    """SuperSpike (Zenke and Ganguli, 2018): ``f'(x) = 1 / (1 + alpha |x|)**2``.

    Its antiderivative is the "fast sigmoid" ``f(x) = x / (1 + alpha |x|)``; the
    peak is 1 at ``x = 0``.

    Parameters
    ----------
    alpha : float
        The steepness. The default, 1, is the gradient Norse computes for its
        default ``method="super"`` (whose own ``alpha`` parameter is not used by
        that code); snnTorch's ``surrogate.fast_sigmoid(slope=k)`` is
        ``SuperSpike(alpha=k)`` (see `FastSigmoid`).
    """

    def __init__(self, alpha=1.0):
        self.alpha = _positive(alpha, "alpha", type(self).__name__)

    def antiderivative(self, x):
        """``f(x) = x / (1 + alpha |x|)``."""
        return x / (1 + self.alpha * ops.abs(x))

    def derivative(self, x):
        """``f'(x) = 1 / (1 + alpha |x|)**2``."""
        return 1 / ops.square(1 + self.alpha * ops.abs(x))

    def get_config(self):
        """The constructor arguments."""
        return {"alpha": self.alpha}


@register
class FastSigmoid(SuperSpike):
    """`SuperSpike` with snnTorch's default steepness: ``f'(x) = 1 / (1 + 25
    |x|)**2``, as ``snntorch.surrogate.fast_sigmoid(slope=25)``.

    Parameters
    ----------
    alpha : float
        The steepness (snnTorch's ``slope``).
    """

    def __init__(self, alpha=25.0):
        super().__init__(alpha)


@register
class ATan(Surrogate):
    """The arctangent surrogate: ``f'(x) = (alpha / 2) / (1 + (pi alpha x / 2)**2)``.

    Its antiderivative is ``f(x) = atan(pi alpha x / 2) / pi``: a step smoothed
    over a width of about ``1 / alpha``, with a peak gradient of ``alpha / 2``.
    With the default ``alpha=2`` it is the default surrogate of every snnTorch
    neuron (``snntorch.surrogate.atan(alpha=2.0)``), peak 1.

    Parameters
    ----------
    alpha : float
        The steepness.
    """

    def __init__(self, alpha=2.0):
        self.alpha = _positive(alpha, "alpha", type(self).__name__)

    def antiderivative(self, x):
        """``f(x) = atan(pi alpha x / 2) / pi``."""
        return ops.arctan((math.pi / 2 * self.alpha) * x) * (1 / math.pi)

    def derivative(self, x):
        """``f'(x) = (alpha / 2) / (1 + (pi alpha x / 2)**2)``."""
        return (self.alpha / 2) / (1 + ops.square((math.pi / 2 * self.alpha) * x))

    def get_config(self):
        """The constructor arguments."""
        return {"alpha": self.alpha}


@register
class Triangle(Surrogate):
    """The triangle (piecewise linear) surrogate: ``f'(x) = max(0, 1 - |x| / width)
    / width``.

    A triangle of unit area, zero for ``|x| >= width``, peak ``1 / width``. Its
    antiderivative is ``f(x) = y / width - y |y| / (2 width**2)`` with ``y =
    clip(x, -width, width)``. Norse's ``method="triangle"`` computes ``alpha *
    max(0, 1 - |x|)`` with the neuron's ``alpha`` (100 by default), which is
    ``alpha`` times ``Triangle(width=1)``.

    Parameters
    ----------
    width : float
        Half the width of the triangle's base.
    """

    def __init__(self, width=1.0):
        self.width = _positive(width, "width", type(self).__name__)

    def antiderivative(self, x):
        """``f(x) = y / width - y |y| / (2 width**2)``, ``y = clip(x, -width,
        width)``."""
        y = ops.clip(x, -self.width, self.width)
        return y * (1 / self.width) - y * ops.abs(y) * (0.5 / self.width**2)

    def derivative(self, x):
        """``f'(x) = max(0, 1 - |x| / width) / width``."""
        return ops.relu(1 - ops.abs(x) * (1 / self.width)) * (1 / self.width)

    def get_config(self):
        """The constructor arguments."""
        return {"width": self.width}


ALL_SURROGATES = {
    "straight_through": StraightThrough,
    "super_spike": SuperSpike,
    "superspike": SuperSpike,
    "fast_sigmoid": FastSigmoid,
    "atan": ATan,
    "triangle": Triangle,
}
"""dict: The surrogates `get` knows by name."""


def serialize(surrogate):
    """The config of a surrogate (a dict, as ``keras.saving`` writes it)."""
    return keras.saving.serialize_keras_object(surrogate)


def deserialize(config):
    """A surrogate from its config (`serialize`) or its name."""
    if isinstance(config, str):
        return get(config)
    return keras.saving.deserialize_keras_object(
        config,
        module_objects={cls.__name__: cls for cls in ALL_SURROGATES.values()},
    )


def get(identifier):
    """Look up a surrogate.

    Parameters
    ----------
    identifier : str or type or Surrogate or dict
        A name (``"atan"``, ``"super_spike"``, ``"fast_sigmoid"``, ``"triangle"``,
        ``"straight_through"``; case and hyphens do not matter), a `Surrogate`
        class (made with its defaults), an instance (returned as it is) or a
        config from `serialize`.

    Returns
    -------
    Surrogate

    Examples
    --------
    >>> from keras_spiking import surrogates
    >>> surrogates.get("atan")
    ATan(alpha=2.0)
    >>> surrogates.get(surrogates.Triangle)
    Triangle(width=1.0)
    """
    if isinstance(identifier, Surrogate):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Surrogate):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "_")
        if key in ALL_SURROGATES:
            return ALL_SURROGATES[key]()
    raise ValueError(
        f"Unknown `surrogate`: {identifier!r}. Pass one of the names "
        f"{', '.join(map(repr, ALL_SURROGATES))}, a class or an instance from "
        f"`keras_spiking.surrogates`."
    )
