"""Tests for keras_spiking.config."""

import numpy as np
import pytest

import keras_spiking
from keras_spiking.config import DefaultManager


def test_default_dt():
    assert DefaultManager().dt == 0.001
    assert DefaultManager(dt=0.02).dt == 0.02
    assert isinstance(keras_spiking.default, DefaultManager)
    assert keras_spiking.default is keras_spiking.config.default


@pytest.mark.parametrize("dt", [0.002, 0.5])
def test_layers_made_while_a_default_holds_use_it(dt):
    keras_spiking.default.dt = dt
    layer = keras_spiking.SpikingActivation("linear", seed=0)
    keras_spiking.default.dt = 0.001
    # a constant input of 1/dt gives exactly one spike, of height 1/dt, per step
    out = layer(np.full((1, 4, 2), 1 / dt, np.float32))
    np.testing.assert_allclose(out, 1 / dt, rtol=1e-6)
    assert layer.get_config()["dt"] == dt
