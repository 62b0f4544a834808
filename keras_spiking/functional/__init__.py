"""The maths of the cells, as pure functions of tensors (``keras.ops`` only).

Each model's step is defined once here. A cell's ``call_inference`` calls its
step function; the whole-sequence forms of `keras_spiking.sequence` call the same
function in a loop (the compiled loops of `keras_spiking.backends`) or its blocked
form (which computes the same steps for many blocks of a sequence at once).
Nothing here depends on the backend, on layers or on weights: the functions take
tensors and return tensors.
"""

from keras_spiking.functional._algebra import per_step, separate, straight_through
from keras_spiking.functional.filters import (
    FILTER_BLOCK,
    MIN_TAU,
    alpha_coefficients,
    drive,
    floor_tau,
    linear_blocks,
    linear_step,
    lowpass_coefficients,
)
from keras_spiking.functional.lif import (
    INTEGRATORS,
    RESETS,
    SPIKE_RULES,
    LIFOptions,
    euler_tau,
    lif_rate,
    lif_step,
    recurrent_input,
)
from keras_spiking.functional.spiking import (
    BLOCK,
    integrate,
    spike_increment,
    spiking_blocks,
    spiking_step,
)

__all__ = [
    "BLOCK",
    "FILTER_BLOCK",
    "INTEGRATORS",
    "MIN_TAU",
    "RESETS",
    "SPIKE_RULES",
    "LIFOptions",
    "alpha_coefficients",
    "drive",
    "euler_tau",
    "floor_tau",
    "integrate",
    "lif_rate",
    "lif_step",
    "linear_blocks",
    "linear_step",
    "lowpass_coefficients",
    "per_step",
    "recurrent_input",
    "separate",
    "spike_increment",
    "spiking_blocks",
    "spiking_step",
    "straight_through",
]
