"""PyTorch-specific functions. See `keras_spiking.backends` for what each means."""

import torch

# Everything else is plain Keras here (the functions of the backends without a
# module of their own).
from keras_spiking.backends.default import *  # noqa: F403


def under_python_compiler():
    """Whether ``torch.compile`` (TorchDynamo) is tracing the running code, as it
    does in a model compiled with ``jit_compile=True``."""
    return torch.compiler.is_compiling()


def outside_python_compiler(function):
    """``function`` run as it is where ``torch.compile`` traces the caller.

    TorchDynamo traces Python code: it would unroll the loops of the blocked forms
    (128 steps of a block, and the doubling scans) into a graph of thousands of
    operations, which takes minutes to compile (measured: two epochs of a small
    model took 5-6 minutes, most of it compiling). Run as is, the function breaks
    the graph there; the rest of the model is compiled, and gradients flow through
    as usual.
    """
    return torch.compiler.disable(function)
