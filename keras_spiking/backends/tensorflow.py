"""TensorFlow-specific functions. See `keras_spiking.backends` for what each
means; the compiled time loops are in `keras_spiking.backends.tensorflow_loops`."""

import keras
import numpy as np
import tensorflow as tf

from keras_spiking.backends import tensorflow_random
from keras_spiking.backends.default import (  # noqa: F401 (the same on TensorFlow)
    scans_blocks,
    step_loop_is_faster,
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
