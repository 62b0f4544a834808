"""TensorFlow-specific functions. See `keras_spiking.backends` for what each
means; the compiled time loops are in `keras_spiking.backends.tensorflow_loops`."""

import keras
import tensorflow as tf

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
    """
    return tf.random.stateless_uniform(
        shape, seed=(seed, seed), dtype="float32", alg="philox"
    )


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
