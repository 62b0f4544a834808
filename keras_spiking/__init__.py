"""Spiking neuron and filter layers for Keras."""

from keras_spiking import (
    callbacks,
    constraints,
    converter,
    functional,
    litert,
    regularizers,
    sequence,
    surrogates,
)
from keras_spiking.config import default
from keras_spiking.converter import Converter, convert
from keras_spiking.layers import (
    LIF,
    AdaptiveLIF,
    AdaptiveLIFCell,
    Alpha,
    AlphaCell,
    KerasSpikingCell,
    KerasSpikingLayer,
    LIFCell,
    LIFRate,
    Lowpass,
    LowpassCell,
    SpikingActivation,
    SpikingActivationCell,
)
from keras_spiking.litert import export_litert
from keras_spiking.model_energy import ModelEnergy
from keras_spiking.version import version as __version__
