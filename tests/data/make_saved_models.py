"""Write the ``.keras`` files that ``test_layers.py`` loads on every backend.

Run once per backend, from the repository root::

    KERAS_BACKEND=tensorflow python tests/data/make_saved_models.py
    KERAS_BACKEND=jax python tests/data/make_saved_models.py
    KERAS_BACKEND=torch python tests/data/make_saved_models.py
"""

import pathlib

import keras
import numpy as np

import keras_spiking

inp = keras.Input((None, 3))
x = keras.layers.Dense(3, kernel_initializer="ones", use_bias=False)(inp)
x = keras_spiking.SpikingActivation("relu", seed=4, dt=0.01)(x)
x = keras_spiking.Alpha([0.02, 0.03, 0.05], dt=0.01)(x)
model = keras.Model(inp, keras_spiking.Lowpass(0.05, dt=0.01)(x))
model.layers[-1].cell.initial_level.assign(np.full((1, 3), 0.5))
backend = keras.backend.backend()
model.save(pathlib.Path(__file__).parent / f"saved-on-{backend}.keras")
