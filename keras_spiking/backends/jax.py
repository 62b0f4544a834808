"""JAX-specific functions. See `keras_spiking.backends` for what each means."""

import jax

from keras_spiking.backends.default import (  # noqa: F401 (the same on JAX)
    check_litert_export,
    generator_uniform,
    is_variable,
    litert_from_saved_model,
    outside_python_compiler,
    seeded_uniform,
    time_loop_kernels,
    under_python_compiler,
    with_batch_size,
)


def is_traced(tensor):
    """Whether ``tensor`` (or a variable's value) is a JAX tracer."""
    value = getattr(tensor, "value", tensor)
    return isinstance(value, jax.core.Tracer)


def step_loop_is_faster():
    """On a CPU, yes: JAX compiles the step loop into a tight loop, at 0.1-0.8 us
    a step, faster there than the blocked forms."""
    return jax.default_backend() == "cpu"


def scans_blocks():
    """Yes: XLA fuses an unrolled loop into one kernel that recomputes the earlier
    steps of every output (15x slower on W2); a scan keeps each step one small
    kernel."""
    return True
