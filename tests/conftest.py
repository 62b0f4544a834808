"""Shared fixtures for the keras_spiking tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import keras_spiking  # noqa: E402


@pytest.fixture(autouse=True)
def _isolate_defaults():
    """Give every test a fresh ``keras_spiking.default`` and Keras session."""
    saved_dt = keras_spiking.default.dt
    keras.utils.set_random_seed(0)
    yield
    keras_spiking.default.dt = saved_dt
    keras.backend.clear_session()
