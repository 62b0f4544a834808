"""Backend-specific functions for backends without a module of their own
(NumPy, OpenVINO), and for PyTorch beside its own few: plain Keras.

See `keras_spiking.backends` for what each function means.
"""

import keras


def is_variable(value):
    """Whether ``value`` is a ``keras.Variable``."""
    return isinstance(value, keras.Variable)


def seeded_uniform(shape, seed):
    """``keras.random.uniform`` with an int seed (Keras seeds with 32 bits)."""
    return keras.random.uniform(shape, dtype="float32", seed=seed % 2**32)


def generator_uniform(shape, generator):
    """``keras.random.uniform`` from a ``keras.random.SeedGenerator``."""
    return keras.random.uniform(shape, dtype="float32", seed=generator)


def is_traced(tensor):
    """Never: these backends run eagerly when a layer is built."""
    return False


def step_loop_is_faster():
    """No: a step loop pays a fixed cost per step here."""
    return False


def scans_blocks():
    """No: an unrolled loop over a block's steps is the faster here."""
    return False


def time_loop_kernels():
    """None: no compiled loops; the blocked forms are used."""
    return None


def under_python_compiler():
    """Never: no compiler traces Python code on these backends."""
    return False


def outside_python_compiler(function):
    """``function`` itself."""
    return function


def with_batch_size(tensor, axis, size, message):
    """``tensor`` with a batch axis of unknown length given the length ``size``.

    Only TensorFlow traces functions with a batch of unknown size; elsewhere the
    reshape is all there is to do.
    """
    shape = keras.ops.shape(tensor)
    return keras.ops.reshape(tensor, (*shape[:axis], size, *shape[axis + 1 :]))


def check_litert_export():
    """LiteRT export traces the model with TensorFlow: raise a clear error."""
    raise ValueError(
        f"keras_spiking.export_litert needs the TensorFlow backend "
        f"(KERAS_BACKEND=tensorflow); this is {keras.backend.backend()}. Save the "
        f"model (model.save('model.keras')), load it with TensorFlow as the backend "
        f"and export it there (see the 'Deploying' page of the documentation)."
    )


def litert_from_saved_model(directory, signature_keys, options):
    """See `check_litert_export`: TensorFlow only."""
    check_litert_export()
