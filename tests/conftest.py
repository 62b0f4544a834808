"""Shared fixtures and helpers for the keras_spiking tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import keras_spiking  # noqa: E402

BACKEND = keras.backend.backend()

# Marks for a test parameter that compiles a model with ``jit_compile=True``: on
# PyTorch that is torch.compile, which takes about half a minute, so slow there.
TORCH_COMPILE_IS_SLOW = [pytest.mark.slow] if BACKEND == "torch" else []


@pytest.fixture(autouse=True)
def _isolate_defaults():
    """Give every test a fresh ``keras_spiking.default``, Keras session and policy."""
    saved_dt = keras_spiking.default.dt
    saved_policy = keras.config.dtype_policy()
    keras.utils.set_random_seed(0)
    yield
    keras_spiking.default.dt = saved_dt
    keras.config.set_dtype_policy(saved_policy)
    # Without Keras's forced full garbage collection: over TensorFlow's hundreds of
    # thousands of objects it took about 0.4 s a test, half the suite's time.
    # Python's own collector still frees what tests leave behind.
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # Keras releases without the argument
        keras.backend.clear_session()


def gradients(fn, *args):
    """The gradients of the scalar ``fn(*args)`` with respect to each of ``args``.

    ``args`` are numpy arrays; ``fn`` takes backend tensors. Each backend has its
    own way of differentiating, so this is the one backend-specific helper.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
    elif BACKEND == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(args))))(*args)
    else:
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        fn(*tensors).backward()
        grads = [t.grad for t in tensors]
    return [None if g is None else keras.ops.convert_to_numpy(g) for g in grads]
