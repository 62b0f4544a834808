"""Tests for keras_spiking.backends: every backend module has the same functions,
and the layers give the same numbers with the plain-Keras module
(``backends.default``, which NumPy and OpenVINO use, and which CI runs on no
backend of its own) as with the running backend's."""

import importlib

import keras
import numpy as np
import pytest

import keras_spiking
from keras_spiking import backends
from keras_spiking.backends import default

# the dispatchers of keras_spiking.backends that call current().<name>
FUNCTIONS = [
    "is_variable",
    "seeded_uniform",
    "generator_uniform",
    "is_traced",
    "step_loop_is_faster",
    "scans_blocks",
    "time_loop_kernels",
    "under_python_compiler",
    "outside_python_compiler",
    "with_batch_size",
    "check_litert_export",
    "litert_from_saved_model",
]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_backend_module_has_every_function(name):
    """The running backend's module, and the default one, define each function
    that `keras_spiking.backends` dispatches to (the others need their library)."""
    assert callable(getattr(backends.current(), name))
    assert callable(getattr(default, name))


@pytest.fixture
def plain_keras(monkeypatch):
    """Run with the functions of ``backends.default`` on this backend."""
    monkeypatch.setattr(backends, "current", lambda: default)


LAYERS = {
    "SpikingActivation": lambda **kw: keras_spiking.SpikingActivation(
        "relu", seed=3, **kw
    ),
    "Lowpass": lambda **kw: keras_spiking.Lowpass(0.01, **kw),
    "Alpha": lambda **kw: keras_spiking.Alpha(0.01, **kw),
    "LIF": lambda **kw: keras_spiking.LIF(tau=0.02, amplitude=0.001, **kw),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layers_give_the_same_numbers_with_plain_keras_functions(name, plain_keras):
    """The default module's paths (blocked forms, Keras's seeded draw) against
    the step loop, on inputs whose spikes are not near ties."""
    x = np.random.default_rng(0).uniform(0, 80, size=(2, 40, 3)).astype("float32")
    fast, loop = LAYERS[name](step_loop=False), LAYERS[name](step_loop=True)
    expected = loop(x)
    fast.build(x.shape)
    fast.set_weights(loop.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fast(x)),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
        atol=1e-3,
    )


def test_seeded_draws_repeat_and_differ_by_seed():
    first = keras.ops.convert_to_numpy(default.seeded_uniform((1000,), 2**32 + 5))
    again = keras.ops.convert_to_numpy(default.seeded_uniform((1000,), 5))
    other = keras.ops.convert_to_numpy(default.seeded_uniform((1000,), 6))
    np.testing.assert_array_equal(first, again)  # Keras seeds with 32 bits
    assert np.all((first >= 0) & (first < 1)) and abs(first.mean() - 0.5) < 0.05
    assert not np.array_equal(first, other)
    generator = keras.random.SeedGenerator(0)
    draws = [
        keras.ops.convert_to_numpy(default.generator_uniform((100,), generator))
        for _ in range(2)
    ]
    assert not np.array_equal(*draws)  # fresh from a generator


def test_plain_keras_answers():
    assert default.is_variable(keras.Variable(1.0))
    assert not default.is_variable(keras.ops.ones(()))
    assert not default.is_traced(keras.ops.ones(()))
    assert not default.step_loop_is_faster()
    assert not default.scans_blocks()
    assert default.time_loop_kernels() is None
    assert not default.under_python_compiler()
    assert default.outside_python_compiler(len) is len
    x = keras.ops.reshape(keras.ops.arange(12, dtype="float32"), (3, 4, 1))
    y = default.with_batch_size(x, 1, 4, "message")
    assert tuple(y.shape) == (3, 4, 1)
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        default.litert_from_saved_model("directory", ["serving_default"], {})


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's module"
)
def test_tensorflow_batch_check_names_the_fix():
    """Run eagerly (no XLA), TensorFlow's check raises the layer's message."""
    tensorflow = importlib.import_module("keras_spiking.backends.tensorflow")
    x = keras.ops.ones((2, 3, 1))
    assert tuple(tensorflow.with_batch_size(x, 0, 2, "message").shape) == (2, 3, 1)
    with pytest.raises(Exception, match="batch_size=4 please"):
        tensorflow.with_batch_size(x, 0, 4, "batch_size=4 please")


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's module"
)
def test_tensorflow_loop_runs_keras_activations_inside():
    """The cell hands the loop its activation wrapped (checked for shape and
    dtype); a Keras activation still runs inside the compiled loop (run before
    it, it costs a pass over the sequence: 1.7x the time on W1), and as itself
    (each wrapper would trace the loop again), a layer with weights before it."""
    loops = importlib.import_module("keras_spiking.backends.tensorflow_loops")
    relu = keras_spiking.SpikingActivation("relu")
    prelu = keras_spiking.SpikingActivation(keras.layers.PReLU())
    for layer in (relu, prelu):
        layer.build((1, 2, 3))
    assert loops._in_loop(relu.cell._rates) is keras.activations.relu
    assert loops._in_loop(prelu.cell._rates) is None


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's module"
)
def test_tensorflow_loop_is_traced_once_for_many_layers():
    """Layers with the same activation share one trace of the compiled loop."""
    loops = importlib.import_module("keras_spiking.backends.tensorflow_loops")
    x = np.random.default_rng(1).uniform(size=(2, 20, 3)).astype("float32")
    keras_spiking.SpikingActivation("relu")(x)
    before = loops._spiking_loop.experimental_get_tracing_count()
    for _ in range(6):
        keras_spiking.SpikingActivation("relu")(x)
    assert loops._spiking_loop.experimental_get_tracing_count() == before
