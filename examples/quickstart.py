"""Train a small network on handwritten digits, then run it as a spiking network.

The digits (8x8 images, 1797 of them) ship with scikit-learn, so nothing is
downloaded. The network is trained as an ordinary rate network on one time step;
the same weights then run as spiking neurons over many time steps, with a lowpass
filter smoothing the output spikes.
"""

import os

# Hide TensorFlow's C++ log messages (level 3: errors too, such as "failed call to
# cuInit" on a machine without a GPU). A few lines that TensorFlow 2.21 logs while it
# is being imported, before its logging reads this setting (about oneDNN and
# missing CUDA drivers), still reach stderr: no setting hides them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_spiking  # noqa: E402

N_STEPS = 50  # time steps that each test image is shown for
DT = 0.01  # seconds per time step, so spikes have height 1 / DT = 100
SCALE = 100  # firing-rate gain for the spiking run (see below)

keras.utils.set_random_seed(0)
digits = load_digits()
images = (digits.data / 16).astype("float32")
x_train, x_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.25, random_state=0
)


def build_model(filter_output):
    """Dense -> SpikingActivation -> Dense (-> Lowpass), on (batch, time, 64)."""
    inp = keras.Input((None, 64))
    x = keras.layers.Dense(128)(inp)
    x = keras_spiking.SpikingActivation(
        "relu", dt=DT, spiking_aware_training=False, seed=0, name="spikes"
    )(x)
    x = keras.layers.Dense(10)(x)
    if filter_output:
        x = keras_spiking.Lowpass(0.05, dt=DT, apply_during_training=False)(x)
    return keras.Model(inp, x)


# Train on one time step: with spiking_aware_training=False the spiking layer acts
# as a plain relu while training.
model = build_model(filter_output=False)
model.compile(
    optimizer=keras.optimizers.Adam(0.003),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
model.fit(x_train[:, None], y_train[:, None], epochs=30, batch_size=32, verbose=0)


def accuracy(outputs):
    return np.mean(np.argmax(outputs, axis=-1) == y_test)


# Rate version: the relu network on one step, i.e. the training path.
rate_output = keras.ops.convert_to_numpy(model(x_test[:, None], training=True))[:, -1]
print(f"rate network test accuracy:             {accuracy(rate_output):.3f}")

# Spiking version: the same network, each test image repeated over N_STEPS steps,
# classified from the lowpass-filtered output at the last step. The trained relu
# rates are around 1 Hz, too few spikes in N_STEPS * DT = 0.5 s; since
# relu(SCALE * x) = SCALE * relu(x), scaling the first layer up by SCALE and the
# second kernel down by SCALE computes the same function at SCALE times the rate.
kernel_1, bias_1, kernel_2, bias_2 = model.get_weights()
spiking_model = build_model(filter_output=True)
spiking_model.set_weights(
    [kernel_1 * SCALE, bias_1 * SCALE, kernel_2 / SCALE, bias_2]
    + spiking_model.get_weights()[4:]
)
spiking_input = np.tile(x_test[:, None], (1, N_STEPS, 1))
spiking_output = spiking_model.predict(spiking_input, verbose=0)
spiking_accuracy = accuracy(spiking_output[:, -1])
print(f"spiking network test accuracy ({N_STEPS} steps): {spiking_accuracy:.3f}")

# Firing rates: spikes have height 1/DT, so the mean spike output is in Hz.
spikes = keras.Model(spiking_model.input, spiking_model.get_layer("spikes").output)
rates = spikes.predict(spiking_input, verbose=0).mean(axis=1)
busiest = rates.mean(axis=0).max()
print(f"mean firing rate: {rates.mean():.1f} Hz (busiest neuron {busiest:.1f} Hz)")
