"""LiteRT export (issue 21): every layer exports with ``model.export(path,
format="litert")`` and runs in the ``ai-edge-litert`` interpreter, without the
Flex delegate, with Keras's outputs; whole sequences and streaming.

The op set of every exported model is read from its flatbuffer (`op_names`, all
subgraphs, so also the bodies of loops) and checked for custom ops: a Flex op
(TensorFlow's own op, which needs the Flex delegate) is a custom op.

Spikes must equal Keras's exactly; filter outputs within 1e-6 of the largest
output (Keras's compiled filter loop lets XLA fuse multiply-adds, which round once
where LiteRT rounds twice).

TensorFlow only (the LiteRT export traces the model with TensorFlow); the other
backends' behaviour is tested at the end.
"""

import collections
import os
import pathlib
import runpy

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_spiking

try:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # not installed: pip install keras-spiking[litert]
    schema = Interpreter = None

if BACKEND != "tensorflow":
    WHY_NOT = (
        "LiteRT export traces the model with TensorFlow (what the other backends "
        "do is tested at the end of this file)"
    )
elif Interpreter is None:
    WHY_NOT = "ai-edge-litert is not installed (pip install keras-spiking[litert])"
else:
    WHY_NOT = None
needs_litert = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")

T = 20  # steps of the test sequences
DT = 0.01
ROOT = pathlib.Path(__file__).resolve().parent.parent


# --- the op lister -----------------------------------------------------------------


def op_names(content):
    """A ``Counter`` of the op names of a LiteRT flatbuffer, over every subgraph.

    Builtin ops by their ``BuiltinOperator`` name; custom ops (Flex ops among them,
    ``Flex<TensorFlow op>``) by their custom code. Read from the flatbuffer itself:
    the interpreter's own op list covers the first subgraph only, and cannot load a
    model with Flex ops.
    """
    builtin_names = {
        code: name
        for name, code in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    model = schema.Model.GetRootAsModel(content, 0)
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # builtin_code (int32) supersedes deprecated_builtin_code (int8), which
        # holds codes below 127 only.
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if number == schema.BuiltinOperator.CUSTOM:
            names.append(code.CustomCode().decode())
        else:
            names.append(builtin_names[number])
    counts = collections.Counter()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            counts[names[subgraph.Operators(o).OpcodeIndex()]] += 1
    return counts


def custom_ops(content):
    """The names of the ops that are not LiteRT builtins (e.g. Flex ops)."""
    builtins = set(vars(schema.BuiltinOperator))
    return sorted(name for name in op_names(content) if name not in builtins)


def assert_builtin_only(content):
    """Check that a model has builtin ops only; return its op counts."""
    assert not custom_ops(content), "ops that are not LiteRT builtins"
    return op_names(content)


# --- export and run ----------------------------------------------------------------


def export(model, tmp_path, name="model", **options):
    """``model.export(path, format="litert")``; the file's content."""
    path = tmp_path / f"{name}.tflite"
    model.export(str(path), format="litert", verbose=False, **options)
    return path.read_bytes()


def runner(content, signature="serving_default"):
    """A signature runner of a fresh interpreter (which resizes its inputs)."""
    return Interpreter(model_content=content).get_signature_runner(signature)


def run(signature, x):
    """Run a one-input, one-output signature runner on ``x``."""
    (name,) = signature.get_input_details()
    (output,) = signature(**{name: np.asarray(x, np.float32)}).values()
    return output.copy()


def stream(signature, x):
    """Run ``x`` through a streaming model, one step per call; the steps' outputs
    along the time axis."""
    return np.concatenate(
        [run(signature, x[:, t : t + 1]) for t in range(x.shape[1])], 1
    )


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def assert_matches(actual, desired, exact):
    """Equal (spikes), or within 1e-6 of the largest output (filters)."""
    assert actual.shape == desired.shape
    if exact:
        np.testing.assert_array_equal(actual, desired)
    else:
        np.testing.assert_allclose(
            actual, desired, rtol=0, atol=1e-6 * np.max(np.abs(desired))
        )


# --- the layers --------------------------------------------------------------------

# name: (layer factory, whether the output is spikes, compared exactly). The LIF
# neurons of the LIF issue join here when they exist, e.g.
# "LIF": (lambda **kwargs: keras_spiking.LIF(seed=0, **kwargs), True).
LAYERS = {
    "SpikingActivation": (
        lambda **kwargs: keras_spiking.SpikingActivation("relu", seed=0, **kwargs),
        True,
    ),
    "Lowpass": (lambda **kwargs: keras_spiking.Lowpass(0.05, **kwargs), False),
    "Alpha": (lambda **kwargs: keras_spiking.Alpha(0.05, **kwargs), False),
}


def build(layer, time=None, batch=None, stateful=False, **kwargs):
    """``Input -> Dense(16) -> layer``, with the same weights every time."""
    inp = keras.Input((time, 8), batch_size=batch)
    x = keras.layers.Dense(
        16, kernel_initializer=keras.initializers.RandomUniform(-1, 2, seed=1)
    )(inp)
    return keras.Model(inp, layer(dt=DT, stateful=stateful, **kwargs)(x))


def inputs(batch, time=T, seed=0):
    """Inputs that make relu neurons fire at up to a few spikes per step."""
    return np.random.default_rng(seed).uniform(0, 30, (batch, time, 8)).astype("f4")


# --- whole sequences ---------------------------------------------------------------


@needs_litert
@pytest.mark.parametrize("name", LAYERS)
def test_whole_sequence(name, tmp_path):
    """Any number of steps, any batch (the shapes of the quick start)."""
    layer, exact = LAYERS[name]
    model = build(layer)
    content = export(model, tmp_path)
    ops = assert_builtin_only(content)
    assert "WHILE" in ops  # a loop over the steps
    signature = runner(content)
    for batch, time in [(3, T), (1, 7)]:
        x = inputs(batch, time)
        assert_matches(run(signature, x), to_numpy(model(x)), exact)


@needs_litert
def test_fixed_length_layers_together_builtins_only(tmp_path):
    """A fixed number of steps; the converter itself allowed builtin ops only."""
    import tensorflow as tf

    inp = keras.Input((T, 8))
    x = keras.layers.Dense(16)(inp)
    x = keras_spiking.SpikingActivation("relu", dt=DT, seed=3)(x)
    x = keras_spiking.Lowpass(0.05, dt=DT)(x)
    x = keras_spiking.Alpha(0.02, dt=DT)(x)
    model = keras.Model(inp, x)
    content = export(
        model,
        tmp_path,
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
    )
    assert_builtin_only(content)
    x = inputs(4)
    assert_matches(run(runner(content), x), to_numpy(model(x)), exact=False)


# --- streaming ---------------------------------------------------------------------


def build_stream(layer, batch=2, **kwargs):
    """The streaming form of `build`: stateful, one step per call, fixed batch."""
    return build(layer, time=1, batch=batch, stateful=True, **kwargs)


@needs_litert
@pytest.mark.parametrize("name", LAYERS)
def test_streaming_equals_the_whole_sequence(name, tmp_path):
    """T calls of one step give Keras's whole sequence (the same initial state);
    the state lives in the model's variables."""
    layer, exact = LAYERS[name]
    content = export(build_stream(layer), tmp_path)
    ops = assert_builtin_only(content)
    assert "ASSIGN_VARIABLE" in ops  # the state, carried between calls
    assert "WHILE" not in ops  # one step runs without a loop
    x = inputs(2)
    assert_matches(stream(runner(content), x), to_numpy(build(layer)(x)), exact)
    with pytest.raises(RuntimeError):  # the batch size is that of the state
        run(runner(content), inputs(3, time=1))


@needs_litert
@pytest.mark.parametrize("step_loop", [None, True])
def test_stateful_export_with_the_default_options(step_loop, tmp_path):
    """The issue's failure: a stateful model did not export (``voltage:0 enters the
    loop with shape (1, 16), but has shape (None, 16)``), because ``model.export``
    traces it with a batch of None (with a batch size of 1, which broadcasts with
    None to None). Here with chunks of 4 steps per call, which run in loops (one
    step per call runs no loop), Keras's RNN loop included."""
    layer, _ = LAYERS["SpikingActivation"]
    model = build(layer, time=4, batch=1, stateful=True, step_loop=step_loop)
    content = export(model, tmp_path)
    assert_builtin_only(content)
    x = inputs(1)
    signature = runner(content)
    chunks = [run(signature, x[:, t : t + 4]) for t in range(0, T, 4)]
    np.testing.assert_array_equal(np.concatenate(chunks, 1), to_numpy(build(layer)(x)))


@needs_litert
def test_streaming_state_carries_over_and_a_new_interpreter_resets_it(tmp_path):
    layer, _ = LAYERS["SpikingActivation"]
    content = export(build_stream(layer), tmp_path)
    x = inputs(2)
    interpreter = Interpreter(model_content=content)
    signature = interpreter.get_signature_runner()
    first = stream(signature, x)
    # The second stream starts where the first ended, also after the interpreter's
    # reset_all_variables (which resets other variables: the docs say so)...
    assert not np.array_equal(stream(signature, x), first)
    interpreter.reset_all_variables()
    assert not np.array_equal(stream(signature, x), first)
    # ...and a new interpreter starts from the state at export.
    np.testing.assert_array_equal(stream(runner(content), x), first)


@needs_litert
def test_export_litert_reset_signature(tmp_path):
    """`keras_spiking.export_litert` adds a ``reset`` signature."""
    layer, _ = LAYERS["SpikingActivation"]
    model = build_stream(layer)
    path = tmp_path / "model.tflite"
    keras_spiking.export_litert(model, path)
    content = path.read_bytes()
    assert_builtin_only(content)
    interpreter = Interpreter(model_content=content)
    assert set(interpreter.get_signature_list()) == {"serving_default", "reset"}
    signature = interpreter.get_signature_runner("serving_default")
    x = inputs(2)
    first = stream(signature, x)
    np.testing.assert_array_equal(first, to_numpy(build(layer)(x)))
    assert not np.array_equal(stream(signature, x), first)
    assert interpreter.get_signature_runner("reset")() == {"reset": 1}
    np.testing.assert_array_equal(stream(signature, x), first)


# --- unseeded spiking layers -------------------------------------------------------


@needs_litert
def test_unseeded_whole_sequence_continues_the_seed_generator(tmp_path):
    """Without a seed, every call draws fresh initial voltages; the exported model
    too, from its copy of the layer's seed generator: its i-th call draws what the
    i-th Keras call after the export draws."""
    model = build(lambda **kwargs: keras_spiking.SpikingActivation("relu", **kwargs))
    content = export(model, tmp_path)
    ops = assert_builtin_only(content)
    assert "ASSIGN_VARIABLE" in ops  # the generator's state
    x = inputs(2)
    signature = runner(content)
    exported = [run(signature, x) for _ in range(3)]
    for out in exported:
        np.testing.assert_array_equal(out, to_numpy(model(x)))
    assert not np.array_equal(exported[0], exported[1])


@needs_litert
def test_unseeded_streaming_and_reset(tmp_path):
    """A stateful unseeded layer streams from its state at export; ``reset`` draws
    a fresh initial voltage, as ``reset_states`` does in Keras."""
    model = build_stream(
        lambda **kwargs: keras_spiking.SpikingActivation("relu", **kwargs)
    )
    path = tmp_path / "model.tflite"
    keras_spiking.export_litert(model, path)
    content = path.read_bytes()
    assert_builtin_only(content)
    interpreter = Interpreter(model_content=content)
    signature = interpreter.get_signature_runner("serving_default")
    x = inputs(2)
    first = stream(signature, x)
    np.testing.assert_array_equal(
        first, np.concatenate([to_numpy(model(x[:, t : t + 1])) for t in range(T)], 1)
    )
    interpreter.get_signature_runner("reset")()
    model.layers[-1].reset_states()
    second = stream(signature, x)
    assert not np.array_equal(second, first)
    np.testing.assert_array_equal(
        second,
        np.concatenate([to_numpy(model(x[:, t : t + 1])) for t in range(T)], 1),
    )


# --- dt ----------------------------------------------------------------------------


def build_dt(dt, **kwargs):
    """Spikes then a lowpass filter, both with the ``dt`` variable ``dt``."""
    inp = keras.Input((T, 8), batch_size=kwargs.pop("batch", None))
    x = keras.layers.Dense(16, kernel_initializer="ones")(inp)
    x = keras_spiking.SpikingActivation("relu", dt=dt, seed=0, **kwargs)(x)
    return keras.Model(inp, keras_spiking.Lowpass(0.05, dt=dt, **kwargs)(x))


@needs_litert
def test_dt_variable_is_frozen_at_export(tmp_path):
    dt = keras.Variable(DT, trainable=False)
    model = build_dt(dt)
    x = inputs(2)
    before = to_numpy(model(x))
    content = export(model, tmp_path)
    assert "VAR_HANDLE" not in assert_builtin_only(content)  # no variable left
    dt.assign(2 * DT)
    after = to_numpy(model(x))
    exported = run(runner(content), x)
    assert_matches(exported, before, exact=False)
    assert not np.allclose(exported, after)


@needs_litert
def test_export_litert_keeps_dt_a_variable(tmp_path):
    dt = keras.Variable(DT, trainable=False)
    model = build_dt(dt)
    path = tmp_path / "model.tflite"
    keras_spiking.export_litert(model, path)
    content = path.read_bytes()
    assert_builtin_only(content)
    interpreter = Interpreter(model_content=content)
    assert set(interpreter.get_signature_list()) == {"serving_default", "set_dt"}
    signature = interpreter.get_signature_runner("serving_default")
    x = inputs(2)
    assert_matches(run(signature, x), to_numpy(model(x)), exact=False)
    interpreter.get_signature_runner("set_dt")(dt=np.float32(2 * DT))
    dt.assign(2 * DT)
    assert_matches(run(signature, x), to_numpy(model(x)), exact=False)


# --- other paths and models --------------------------------------------------------


@needs_litert
def test_step_loop_needs_a_fixed_batch(tmp_path):
    """``step_loop=True`` (and masks, which take the step loop) runs Keras's RNN,
    whose TensorList ops LiteRT lowers to builtins only with a fixed batch: with a
    dynamic batch they stay Flex ops (what the docs say; this test shows the op
    lister finds Flex ops)."""
    import tensorflow as tf

    layer, _ = LAYERS["SpikingActivation"]
    model = build(layer, time=T, step_loop=True)
    assert any(name.startswith("Flex") for name in custom_ops(export(model, tmp_path)))
    signature = [tf.TensorSpec((2, T, 8), tf.float32)]
    content = export(model, tmp_path, input_signature=signature)
    assert_builtin_only(content)
    x = inputs(2)
    np.testing.assert_array_equal(run(runner(content), x), to_numpy(model(x)))


@needs_litert
@pytest.mark.parametrize("output", ["sequence", "mean"])
def test_converted_model(output, tmp_path):
    """The output of `keras_spiking.convert`: spikes equal; the mean over time
    within float32 rounding (LiteRT sums in another order)."""
    inp = keras.Input((8,))
    x = keras.layers.Dense(16, activation="relu")(inp)
    x = keras.layers.Dense(4)(x)
    converted = keras_spiking.convert(keras.Model(inp, x), seed=0, output=output)
    content = export(converted, tmp_path)
    assert_builtin_only(content)
    x = inputs(3) / 30
    assert_matches(
        run(runner(content), x), to_numpy(converted(x)), exact=output == "sequence"
    )


# --- the quick start's digits model ------------------------------------------------


@pytest.fixture(scope="module")
def quickstart():
    """The globals of ``examples/quickstart.py`` after it ran: the trained spiking
    model (``spiking_model``, input ``(batch, None, 64)``), its test input of
    ``N_STEPS`` steps (``spiking_input``) and labels (``y_test``)."""
    if WHY_NOT is not None:
        pytest.skip(WHY_NOT)
    pytest.importorskip("sklearn")
    return runpy.run_path(str(ROOT / "examples" / "quickstart.py"))


def digits_accuracy(outputs, quickstart):
    return np.mean(np.argmax(outputs[:, -1], axis=-1) == quickstart["y_test"])


@needs_litert
@pytest.mark.slow
def test_quickstart_float(quickstart, tmp_path):
    """The exported digits model classifies the test set as Keras does."""
    model, x = quickstart["spiking_model"], quickstart["spiking_input"]
    content = export(model, tmp_path)
    assert_builtin_only(content)
    exported = run(runner(content), x)
    # One call on the whole test set, as one invoke: a seeded voltage depends on
    # its row in the batch, so `predict` (batches of 32) draws others.
    keras_output = to_numpy(model(x))
    assert_matches(exported, keras_output, exact=False)
    np.testing.assert_array_equal(
        np.argmax(exported[:, -1], -1), np.argmax(keras_output[:, -1], -1)
    )
    assert digits_accuracy(keras_output, quickstart) > 0.95


INT8_EXPORT = """
import sys

import keras
import numpy as np
import tensorflow as tf

import keras_spiking

model = keras.saving.load_model(sys.argv[1])
x_train, n_steps = np.load(sys.argv[2]), int(sys.argv[3])


def representative_dataset():
    for i in range(0, 200, 20):
        yield [np.tile(x_train[i : i + 20, None], (1, n_steps, 1))]


keras_spiking.export_litert(
    model,
    sys.argv[4],
    # TensorFlow's calibrator needs a fixed number of steps.
    input_signature=[keras.InputSpec(shape=(None, n_steps, 64), dtype="float32")],
    optimizations=[tf.lite.Optimize.DEFAULT],
    representative_dataset=representative_dataset,
)
"""


@needs_litert
@pytest.mark.slow
def test_quickstart_int8(quickstart, tmp_path):
    """int8, at the quick start's number of steps: the Dense layers quantised with
    a representative dataset (the neurons in float), and weights-only.

    The quantiser fails on the layers' compiled loops once a process has traced
    them for several shapes (as this test session has), so the int8 export runs
    in a new process, from the saved model, as the docs advise."""
    import subprocess
    import sys

    import tensorflow as tf

    model, x = quickstart["spiking_model"], quickstart["spiking_input"]
    float_accuracy = digits_accuracy(to_numpy(model(x)), quickstart)
    model.save(tmp_path / "digits.keras")
    np.save(tmp_path / "x_train.npy", quickstart["x_train"])
    (tmp_path / "export.py").write_text(INT8_EXPORT)
    path = tmp_path / "int8.tflite"
    subprocess.run(
        [
            sys.executable,
            str(tmp_path / "export.py"),
            str(tmp_path / "digits.keras"),
            str(tmp_path / "x_train.npy"),
            str(quickstart["N_STEPS"]),
            str(path),
        ],
        check=True,
        # This checkout's keras_spiking, as in this process.
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    content = path.read_bytes()
    assert "QUANTIZE" in assert_builtin_only(content)
    assert digits_accuracy(run(runner(content), x), quickstart) >= float_accuracy - 0.02

    weights_only = export(model, tmp_path, optimizations=[tf.lite.Optimize.DEFAULT])
    assert_builtin_only(weights_only)
    assert len(weights_only) < 0.8 * len(export(model, tmp_path, "float"))
    accuracy = digits_accuracy(run(runner(weights_only), x), quickstart)
    assert accuracy >= float_accuracy - 0.01


# --- the other backends ------------------------------------------------------------


def small_model():
    inp = keras.Input((T, 8))
    return keras.Model(inp, keras_spiking.SpikingActivation("relu", seed=0)(inp))


@pytest.mark.skipif(BACKEND != "jax", reason="what JAX does")
def test_jax_has_no_litert_export(tmp_path):
    """Keras refuses (the docs say: save to .keras, export on TensorFlow)."""
    model = small_model()
    with pytest.raises(ValueError, match="LiteRT export"):
        model.export(str(tmp_path / "model.tflite"), format="litert")
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        keras_spiking.export_litert(model, tmp_path / "model.tflite")


@pytest.mark.skipif(BACKEND != "torch", reason="what PyTorch does")
def test_torch_litert_export_needs_litert_torch(tmp_path):
    """Keras converts with litert-torch (not one of our dependencies)."""
    model = small_model()
    try:
        import litert_torch  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="litert-torch"):
            model.export(str(tmp_path / "model.tflite"), format="litert")
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        keras_spiking.export_litert(model, tmp_path / "model.tflite")


def test_export_litert_needs_a_tflite_name(tmp_path):
    with pytest.raises(ValueError, match="must end with '.tflite'"):
        keras_spiking.export_litert(small_model(), tmp_path / "model.lite")


@needs_litert
def test_export_litert_refuses_calibrating_a_stateful_model(tmp_path):
    layer, _ = LAYERS["SpikingActivation"]
    with pytest.raises(ValueError, match="representative dataset is for models of"):
        keras_spiking.export_litert(
            build_stream(layer),
            tmp_path / "model.tflite",
            representative_dataset=lambda: iter([]),
        )
