"""The one place for backend-specific code.

Everything else in the package is written with ``keras`` and ``keras.ops`` and
runs on every backend; what must differ between backends lives here, one module
per backend, each with the same names (the layout of Keras's own
``keras/src/backend/<name>/``):

- ``is_variable(value)``: whether ``value`` is a variable to read live (on
  TensorFlow a raw ``tf.Variable`` counts too);
- ``seeded_uniform(shape, seed)``: float32 values uniform on ``[0, 1)`` from an int
  seed, the same every time (on TensorFlow exactly
  ``tf.random.stateless_uniform(shape, seed=(seed, seed))``, also in an exported
  LiteRT model: see `keras_spiking.backends.tensorflow_random`);
- ``generator_uniform(shape, generator)``: the same, fresh every time from a
  ``keras.random.SeedGenerator`` (``keras.random.uniform``);
- ``is_traced(tensor)``: whether a tensor is symbolic, being traced into a
  compiled function, so that its value is not known;
- ``step_loop_is_faster()``: whether the backend's compiled step loop beats the
  blocked whole-sequence forms at every shape (and, for neurons with a reset,
  ``keras.ops.scan``);
- ``scans_blocks()``: whether the blocked forms should loop over the steps of a
  block with ``keras.ops.scan`` rather than an unrolled loop;
- ``time_loop_kernels()``: a module of compiled whole-sequence loops
  (``spiking_sequence``, ``linear_sequence``) where the backend has faster ones
  than the blocked forms, else None;
- ``under_python_compiler()``: whether a compiler that traces Python code
  (``torch.compile``, in a PyTorch model compiled with ``jit_compile=True``) is
  tracing the running code;
- ``outside_python_compiler(function)``: ``function``, made to run as it is where
  such a compiler traces its caller (elsewhere ``function`` itself).
- ``neuron_kernels()`` (here only): a module with ``neuron_sequence``, the
  compiled loop of a neuron with a reset, where the backend has one.
- ``with_batch_size(tensor, axis, size, message)``: ``tensor``, whose batch is
  of unknown size in a trace (TensorFlow's), reshaped to ``size``, with a check
  that raises ``message`` at run time where the backend can;
- ``check_litert_export()`` and ``litert_from_saved_model(directory,
  signature_keys, options)``: the LiteRT conversion of `keras_spiking.litert`
  (TensorFlow only; elsewhere a ``ValueError`` that says what to do).

The module for the running backend is imported on first use, so TensorFlow,
JAX and PyTorch are each imported only on their own backend. Backends without a
module of their own (NumPy, OpenVINO) use ``keras_spiking.backends.default``.
"""

import importlib

import keras

_OWN_MODULES = ("tensorflow", "jax", "torch")


def current():
    """The module of backend-specific functions for Keras's running backend."""
    name = keras.backend.backend()
    name = name if name in _OWN_MODULES else "default"
    return importlib.import_module(f"{__name__}.{name}")


def is_variable(value):
    """Whether ``value`` is a variable whose value a layer should read live."""
    return current().is_variable(value)


def seeded_uniform(shape, seed):
    """Float32 values uniform on ``[0, 1)``, the same every time for an int
    ``seed``; fresh every time for a ``keras.random.SeedGenerator``."""
    if not isinstance(seed, int):
        return current().generator_uniform(shape, seed)
    return current().seeded_uniform(shape, seed)


def known_value(tensor):
    """``tensor`` (or a variable) as a numpy array, or None while it is traced."""
    if current().is_traced(tensor):
        return None
    return keras.ops.convert_to_numpy(tensor)


def step_loop_is_faster():
    """Whether the compiled step loop beats the blocked forms at every shape."""
    return current().step_loop_is_faster()


def scans_blocks():
    """Whether the blocked forms loop over a block's steps with ``ops.scan``."""
    return current().scans_blocks()


def time_loop_kernels():
    """The backend's compiled whole-sequence loops, or None."""
    return current().time_loop_kernels()


def under_python_compiler():
    """Whether a compiler that traces Python code is tracing the running code."""
    return current().under_python_compiler()


def outside_python_compiler(function):
    """``function``, run as it is where a compiler traces its caller's Python."""
    return current().outside_python_compiler(function)


def neuron_kernels():
    """The backend's compiled loop for neurons with a reset (`.LIF`), or None.

    On TensorFlow, where it has time-loop kernels (no GPU),
    `keras_spiking.backends.tensorflow_neurons`; elsewhere None.
    """
    if keras.backend.backend() != "tensorflow" or time_loop_kernels() is None:
        return None
    return importlib.import_module(f"{__name__}.tensorflow_neurons")


def with_batch_size(tensor, axis, size, message):
    """``tensor``, whose batch axis ``axis`` is of unknown length in a trace, given
    the length ``size``, with a check at run time that raises ``message`` where
    the backend can."""
    return current().with_batch_size(tensor, axis, size, message)


def check_litert_export():
    """Raise a ``ValueError`` unless the backend can export to LiteRT."""
    current().check_litert_export()


def litert_from_saved_model(directory, signature_keys, options):
    """Convert the signatures ``signature_keys`` of the SavedModel in ``directory``
    to a LiteRT flatbuffer (bytes), LiteRT builtin ops only unless ``options``
    (converter attributes; ``target_spec`` as a dict) say otherwise."""
    return current().litert_from_saved_model(directory, signature_keys, options)
