"""Components for building spiking models in Keras.

Each computation comes in two parts. A *cell* holds the maths of one time step
(``SpikingActivationCell``, ``LowpassCell``, ``AlphaCell``), calling the step
functions of `keras_spiking.functional`; a *layer* runs its cell along the time
axis of its input (``SpikingActivation``, ``Lowpass``, ``Alpha``): with the
whole-sequence forms of `keras_spiking.sequence`, or step by step in a
``keras.layers.RNN``.

The package has one module per family, each cell beside its layer:
``base`` (`KerasSpikingCell`, `KerasSpikingLayer`), ``spiking``
(`SpikingActivationCell`, `SpikingActivation`), ``filters`` (`LowpassCell`,
`Lowpass`, `AlphaCell`, `Alpha`), ``lif`` (`LIFCell`, `LIF`), ``adaptive_lif``
(`AdaptiveLIFCell`, `AdaptiveLIF`) and ``lif_rate`` (`LIFRate`); the LIF neurons'
shared parts are in private modules (``_lif_base``, ``_lif_parameters``,
``_peer_parameters``). Every public name is importable from
``keras_spiking.layers`` itself.
"""

from keras_spiking._dt import MAX_DT, MIN_DT, check_dt, is_variable
from keras_spiking.functional.filters import MIN_TAU
from keras_spiking.layers.adaptive_lif import AdaptiveLIF, AdaptiveLIFCell
from keras_spiking.layers.base import KerasSpikingCell, KerasSpikingLayer
from keras_spiking.layers.filters import Alpha, AlphaCell, Lowpass, LowpassCell
from keras_spiking.layers.lif import LIF, LIFCell
from keras_spiking.layers.lif_rate import LIFRate
from keras_spiking.layers.spiking import (
    SEED_RANGE,
    SpikingActivation,
    SpikingActivationCell,
)
from keras_spiking.sequence import SEQUENCE_MAX_STEP_SIZE

__all__ = [
    "MAX_DT",
    "MIN_DT",
    "MIN_TAU",
    "SEED_RANGE",
    "SEQUENCE_MAX_STEP_SIZE",
    "LIF",
    "AdaptiveLIF",
    "AdaptiveLIFCell",
    "Alpha",
    "AlphaCell",
    "KerasSpikingCell",
    "KerasSpikingLayer",
    "LIFCell",
    "LIFRate",
    "Lowpass",
    "LowpassCell",
    "SpikingActivation",
    "SpikingActivationCell",
    "check_dt",
    "is_variable",
]
