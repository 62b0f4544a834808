"""TensorFlow-specific functions. See `keras_spiking.backends` for what each
means; the compiled time loops are in `keras_spiking.backends.tensorflow_loops`."""

import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_spiking.backends import tensorflow_random
from keras_spiking.backends.default import (  # noqa: F401 (the same on TensorFlow)
    outside_python_compiler,
    scans_blocks,
    step_loop_is_faster,
    under_python_compiler,
)


def is_variable(value):
    """Whether ``value`` is a ``keras.Variable`` or a raw ``tf.Variable``."""
    return isinstance(value, (keras.Variable, tf.Variable))


def seeded_uniform(shape, seed):
    """Exactly ``tf.random.stateless_uniform(shape, seed=(seed, seed))``.

    The original KerasSpiking drew seeded voltages with this call (its default
    algorithm is Philox on a CPU). Naming the algorithm keeps the draw the same
    under XLA, which would otherwise pick another.

    In a graph whose shape is not fully known (e.g. a dynamic batch, as
    ``model.export(path, format="litert")`` traces it), the same numbers come from
    `keras_spiking.backends.tensorflow_random`, in ops that LiteRT has built in:
    TensorFlow's random ops would need the Flex delegate there. (A fully known
    shape the LiteRT converter folds into a constant.)
    """
    if not tf.executing_eagerly() and not all(
        isinstance(d, (int, np.integer)) for d in shape
    ):
        return tensorflow_random.stateless_uniform(shape, (seed, seed))
    return tf.random.stateless_uniform(
        shape, seed=(seed, seed), dtype="float32", alg="philox"
    )


def generator_uniform(shape, generator):
    """``keras.random.uniform(shape, seed=generator)``, float32.

    In a graph, the same numbers (Keras's TensorFlow backend draws
    ``tf.random.stateless_uniform(shape, seed=generator.next() % (2**31 - 2))``)
    come from `keras_spiking.backends.tensorflow_random`, in ops that LiteRT has
    built in, and the generator's state advances in the graph: an exported model
    draws fresh numbers at every run, continuing from the generator's state at
    export.
    """
    if tf.executing_eagerly():
        return keras.random.uniform(shape, dtype="float32", seed=generator)
    # As keras/src/backend/tensorflow/random.py casts the generator's int64 state.
    seed = tf.math.floormod(generator.next(), tf.int32.max - 1)
    return tensorflow_random.stateless_uniform_tensor_seed(shape, seed)


def is_traced(tensor):
    """Whether TensorFlow is tracing a graph (not running eagerly)."""
    return not tf.executing_eagerly()


def time_loop_kernels():
    """The XLA-compiled loops of `keras_spiking.backends.tensorflow_loops`, when
    TensorFlow sees no GPU (on a GPU a loop pays a kernel launch per step)."""
    if tf.config.list_logical_devices("GPU"):
        return None
    from keras_spiking.backends import tensorflow_loops

    return tensorflow_loops


def with_batch_size(tensor, axis, size, message):
    """``tensor``, reshaped to a batch of ``size`` along ``axis``, after a check
    that raises ``tf.errors.InvalidArgumentError`` with ``message`` when it runs on
    a batch of another size. Where nothing checks (XLA compiles checks to nothing;
    LiteRT's converter drops them), the reshape fails instead, with the sizes: a
    batch of another size never fits, whatever the number of steps."""
    check = tf.debugging.assert_equal(tf.shape(tensor)[axis], size, message=message)
    with tf.control_dependencies([check]):
        shape = tf.unstack(tf.shape(tensor))
        shape[axis] = size
        return tf.reshape(tensor, tf.stack(shape))


def check_litert_export():
    """TensorFlow exports to LiteRT: nothing to check."""


# The ops of the neurons' and filters' steps, kept in float32 when a model is
# quantised with a representative dataset: int8 would round the voltage and filter
# states (to 256 levels of the calibrated range), which breaks their integration.
FLOAT_OPS = (
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "EXP",
    "FLOOR",
    "RELU",
    "EQUAL",
    "SELECT",
    "SELECT_V2",
    "WHILE",
)


def litert_from_saved_model(directory, signature_keys, options):
    """Convert a SavedModel's signatures with ``tf.lite.TFLiteConverter``.

    LiteRT builtin ops only by default (``model.export`` also allows the Flex
    delegate's TensorFlow ops), resource variables on (the states of stateful
    layers); ``options`` are set on the converter as ``model.export`` sets its
    keyword arguments. With a ``representative_dataset``, the model is quantised
    to int8 except for the ops in `FLOAT_OPS` (with TensorFlow's
    ``QuantizationDebugger``, whose ``denylisted_ops`` is the one public way to
    keep ops out of the quantiser).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        directory, signature_keys=list(signature_keys)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = True
    for name, value in options.items():
        if name == "target_spec" and isinstance(value, dict):
            for spec_name, spec_value in value.items():
                if not hasattr(converter.target_spec, spec_name):
                    raise ValueError(f"Unknown target_spec attribute '{spec_name}'.")
                setattr(converter.target_spec, spec_name, spec_value)
        elif hasattr(converter, name):
            setattr(converter, name, value)
        else:
            raise ValueError(f"Unknown LiteRT converter attribute '{name}'.")
    if converter.representative_dataset is None:
        return converter.convert()
    if not converter.optimizations:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        # The debugger runs TensorFlow's own (deprecated) interpreter, which warns.
        warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter is deprecated")
        try:
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter,
                debug_dataset=converter.representative_dataset,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_ops=list(FLOAT_OPS)
                ),
            )
            return debugger.get_nondebug_quantized_model()
        except RuntimeError as error:
            raise RuntimeError(
                "TensorFlow's int8 quantiser failed. It fails on the layers' "
                "compiled loops once this process has run them on inputs of other "
                "shapes (their traces then keep shapes unknown, which the quantiser "
                "cannot match): quantise in a new Python process, before anything "
                "else runs the model's layers (e.g. save the model with "
                "model.save('model.keras'), then load and export it there)."
            ) from error
