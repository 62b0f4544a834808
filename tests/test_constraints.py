"""Tests for keras_spiking.constraints."""

import json

import keras
import numpy as np
import pytest

import keras_spiking
from keras_spiking import constraints


def apply(constraint, w):
    return keras.ops.convert_to_numpy(constraint(np.asarray(w, dtype="float32")))


def test_mean_1d():
    np.testing.assert_allclose(apply(constraints.Mean(), [1, 2, 3, 6]), [3, 3, 3, 3])
    np.testing.assert_allclose(apply(constraints.Mean(axis=0), [-1, 2]), [0.5, 0.5])


def test_mean_2d():
    w = [[1.0, 2.0, 6.0], [0.0, 0.5, 1.0]]
    # the default averages over every axis: one value for the whole weight
    np.testing.assert_allclose(apply(constraints.Mean(), w), np.full((2, 3), 1.75))
    np.testing.assert_allclose(
        apply(constraints.Mean(axis=-1), w), [[3, 3, 3], [0.5, 0.5, 0.5]]
    )
    np.testing.assert_allclose(
        apply(constraints.Mean(axis=0), w), [[0.5, 1.25, 3.5], [0.5, 1.25, 3.5]]
    )
    np.testing.assert_allclose(
        apply(constraints.Mean(axis=(0, 1)), w), np.full((2, 3), 1.75)
    )


def test_mean_keeps_shape_and_dtype():
    w = np.random.default_rng(0).normal(size=(1, 4, 5)).astype("float32")
    out = constraints.Mean(axis=-1)(keras.ops.convert_to_tensor(w))
    assert tuple(out.shape) == w.shape
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out),
        np.repeat(w.mean(axis=-1, keepdims=True), 5, axis=-1),
        rtol=1e-6,
    )


def test_mean_of_a_variable():
    """Keras applies constraints to the variables themselves."""
    w = keras.Variable(np.array([[1.0, 3.0]], dtype="float32"))
    w.assign(constraints.Mean()(w))
    np.testing.assert_allclose(w.numpy(), [[2.0, 2.0]])


@pytest.mark.parametrize("axis", [None, -1, 0, (0, 1)])
def test_serialization(axis):
    constraint = constraints.Mean(axis=axis)
    assert constraint.get_config() == {"axis": axis}
    assert constraints.Mean.from_config(constraint.get_config()).axis == axis

    config = json.loads(json.dumps(keras.constraints.serialize(constraint)))
    assert config["registered_name"] == "keras_spiking>Mean"
    clone = keras.constraints.deserialize(config)
    assert isinstance(clone, constraints.Mean)
    assert clone.axis == axis  # a tuple even if it came back as a list
    assert isinstance(constraint, keras.constraints.Constraint)


@pytest.mark.parametrize("axis", ["0", 1.0, (), [0, "1"], (0, 1.5), True])
def test_axis_type(axis):
    with pytest.raises(TypeError, match="`axis` must be an int or a non-empty tuple"):
        constraints.Mean(axis=axis)


def test_numpy_axis():
    assert constraints.Mean(axis=np.int64(0)).axis == 0
    assert type(constraints.Mean(axis=np.int64(0)).axis) is int
    assert constraints.Mean(axis=[np.int32(0), 1]).axis == (0, 1)


@pytest.mark.parametrize(
    "axis, message",
    [
        (2, "out of range"),
        (-3, "out of range"),
        ((0, 2), "out of range"),
        ((1, -1), "more than once"),
    ],
)
def test_axis_not_in_weight(axis, message):
    """Known only once the weight is seen: a clear error when it is."""
    constraint = constraints.Mean(axis=axis)  # no error yet
    with pytest.raises(ValueError, match=rf"`axis`=.*{message}.*rank 2"):
        apply(constraint, np.ones((2, 3)))


def test_axis_not_in_layer_weight():
    """On a layer, the error comes when the constraint is first applied."""
    inp = keras.Input((None, 4))
    layer = keras_spiking.Lowpass(0.01, tau_constraint=constraints.Mean(axis=3))
    model = keras.Model(inp, layer(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    with pytest.raises(ValueError, match=r"`axis`=3 is out of range .* rank 2"):
        model.fit(np.ones((2, 3, 4)), np.zeros((2, 3, 4)), epochs=1, verbose=0)


def test_own_docstrings():
    for method in ("__call__", "get_config"):
        own = getattr(constraints.Mean, method).__doc__
        assert own and "Keras" not in own and "model_to_estimator" not in own


def test_shared_tau(tmp_path):
    """``tau_constraint=Mean()`` gives every unit of a filter one shared ``tau``."""
    inp = keras.Input((None, 4))
    layer = keras_spiking.Lowpass(
        tau_initializer=keras.initializers.RandomUniform(0.01, 0.1, seed=0),
        tau_constraint=constraints.Mean(),
        dt=0.01,
    )
    model = keras.Model(inp, layer(inp))
    tau0 = _tau(layer)
    assert np.ptp(tau0) > 0.01  # starts out different for each unit

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(
        rng.uniform(size=(8, 5, 4)), rng.uniform(size=(8, 5, 4)), epochs=1, verbose=0
    )
    tau1 = _tau(layer)
    np.testing.assert_allclose(tau1, np.mean(tau1), rtol=1e-6)
    # the gradient step moved the average only a little from the initial one
    assert np.mean(tau1) == pytest.approx(np.mean(tau0), rel=0.2)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_layer = loaded.layers[-1]
    assert isinstance(loaded_layer.tau_constraint, constraints.Mean)
    np.testing.assert_allclose(_tau(loaded_layer), tau1)


def _tau(layer):
    (tau,) = [w for w in layer.weights if "tau" in w.path]
    return np.asarray(tau.numpy())


def test_docstring_examples():
    import doctest

    (test,) = doctest.DocTestFinder(recurse=False).find(constraints.Mean, globs={})
    result = doctest.DocTestRunner().run(test, clear_globs=False)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filters_show_weights_to_constraints_in_one_shape(name):
    """A filter's constraint sees ``(1, *size)``: ``Mean(axis=1)`` averages over
    the first per-step axis of both filters (Alpha stores its weights flat)."""
    taus = np.arange(1, 7, dtype="float32").reshape(2, 3)
    layer = getattr(keras_spiking, name)(taus, tau_constraint=constraints.Mean(axis=1))
    layer(np.ones((1, 2, 2, 3), "float32"))
    tau = layer.cell.tau
    constrained = keras.ops.convert_to_numpy(tau.constraint(tau))
    assert constrained.shape == tuple(tau.shape)
    np.testing.assert_allclose(np.reshape(constrained, (2, 3)), [[2.5, 3.5, 4.5]] * 2)
