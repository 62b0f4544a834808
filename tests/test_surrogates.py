"""Tests for keras_spiking.surrogates: spikes forward, the surrogate gradient
backward, on every backend, eagerly, compiled and inside ``keras.ops.scan``.

The expected gradients are the formulas of the peers' documentation and code
(snnTorch 1.0.0 ``surrogate.py``, Norse 1.1.0 ``threshold.py``; see the docs),
written here in numpy.
"""

import keras
import numpy as np
import pytest
from conftest import BACKEND, gradients

from keras_spiking import surrogates

X = np.array(
    [-3.0, -1.0, -0.5, -0.05, -1e-3, 0.0, 1e-3, 0.05, 0.5, 1.0, 3.0], "float32"
)

# surrogate -> its derivative, in numpy (float64)
EXPECTED = {
    "straight_through": (surrogates.StraightThrough(), lambda x: np.ones_like(x)),
    # Norse's default "super" (alpha unused by its code)
    "super_spike": (surrogates.SuperSpike(), lambda x: 1 / (np.abs(x) + 1) ** 2),
    "super_spike_10": (
        surrogates.SuperSpike(10.0),
        lambda x: 1 / (10 * np.abs(x) + 1) ** 2,
    ),
    # snnTorch's fast_sigmoid(slope=25)
    "fast_sigmoid": (
        surrogates.FastSigmoid(),
        lambda x: 1 / (25 * np.abs(x) + 1) ** 2,
    ),
    # snnTorch's atan(alpha=2): alpha/2 / (1 + (pi/2 alpha x)**2)
    "atan": (surrogates.ATan(), lambda x: 1 / (1 + (np.pi * x) ** 2)),
    "atan_5": (
        surrogates.ATan(5.0),
        lambda x: 2.5 / (1 + (np.pi / 2 * 5 * x) ** 2),
    ),
    "triangle": (surrogates.Triangle(), lambda x: np.maximum(1 - np.abs(x), 0)),
    "triangle_half": (
        surrogates.Triangle(0.5),
        lambda x: np.maximum(1 - np.abs(x) / 0.5, 0) / 0.5,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_is_the_step_and_backward_the_surrogate(name):
    surrogate, derivative = EXPECTED[name]
    forward = keras.ops.convert_to_numpy(surrogate(keras.ops.convert_to_tensor(X)))
    np.testing.assert_array_equal(forward, (X > 0).astype("float32"))

    (grad,) = gradients(lambda x: keras.ops.sum(surrogate(x)), X)
    want = derivative(X.astype("float64"))
    np.testing.assert_allclose(grad, want, rtol=2e-6, atol=1e-7)
    # the derivative method says the same
    method = keras.ops.convert_to_numpy(surrogate.derivative(X))
    np.testing.assert_allclose(method, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_antiderivative_integrates_the_derivative(name):
    """The central difference of f, in float64 numpy, gives f'."""
    surrogate, derivative = EXPECTED[name]
    x = np.linspace(-2, 2, 41)[1:-1] + 0.013  # avoid the kinks of the triangle
    h = 1e-3
    f_plus = keras.ops.convert_to_numpy(
        surrogate.antiderivative(keras.ops.convert_to_tensor(x + h, "float32"))
    )
    f_minus = keras.ops.convert_to_numpy(
        surrogate.antiderivative(keras.ops.convert_to_tensor(x - h, "float32"))
    )
    difference = (f_plus.astype("float64") - f_minus) / (2 * h)
    np.testing.assert_allclose(difference, derivative(x), rtol=2e-2, atol=2e-3)


def _compiled(fn):
    """``fn`` compiled the way the backend compiles a model's step."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


@pytest.mark.parametrize("name", ["atan", "super_spike", "triangle"])
def test_inside_scan_and_compiled(name):
    """In a scan (as a compiled loop runs it), compiled: the same forward, and
    the gradient of a sum over steps is the sum of the derivatives."""
    surrogate, derivative = EXPECTED[name]
    xs = np.stack([X, X * 0.5, X - 0.2])

    def total(xs):
        def step(carry, x):
            y = surrogate(x)
            return carry + y, y

        counts, ys = keras.ops.scan(step, keras.ops.zeros(X.shape, "float32"), xs)
        return keras.ops.sum(counts), ys

    result, ys = _compiled(total)(keras.ops.convert_to_tensor(xs))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ys), (xs > 0).astype("float32")
    )
    assert float(keras.ops.convert_to_numpy(result)) == np.sum(xs > 0)
    (grad,) = gradients(lambda xs: total(xs)[0], xs)
    np.testing.assert_allclose(grad, derivative(xs.astype("float64")), rtol=2e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialize_round_trip(name):
    surrogate, _ = EXPECTED[name]
    config = surrogates.serialize(surrogate)
    again = surrogates.deserialize(config)
    assert again == surrogate and type(again) is type(surrogate)
    assert hash(again) == hash(surrogate)
    assert surrogates.get(config) == surrogate
    assert keras.saving.deserialize_keras_object(config) == surrogate


def test_get():
    assert surrogates.get("atan") == surrogates.ATan(2.0)
    assert surrogates.get("ATan") == surrogates.ATan()
    assert surrogates.get("fast-sigmoid") == surrogates.FastSigmoid(25.0)
    assert surrogates.get("superspike") == surrogates.SuperSpike(1.0)
    assert surrogates.get(surrogates.Triangle) == surrogates.Triangle(1.0)
    instance = surrogates.ATan(3.0)
    assert surrogates.get(instance) is instance
    assert surrogates.deserialize("triangle") == surrogates.Triangle()
    assert surrogates.ATan(2.0) != surrogates.ATan(3.0)
    assert surrogates.ATan(2.0) != surrogates.SuperSpike(2.0)
    assert repr(surrogates.ATan()) == "ATan(alpha=2.0)"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: surrogates.get("sigmoidish"), "Unknown `surrogate`"),
        (lambda: surrogates.get(3), "Unknown `surrogate`"),
        (lambda: surrogates.ATan(0), "`alpha` of ATan must be a positive"),
        (lambda: surrogates.SuperSpike(float("nan")), "`alpha` of SuperSpike"),
        (lambda: surrogates.Triangle(-1), "`width` of Triangle"),
    ],
)
def test_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
