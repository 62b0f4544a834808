"""Training on two devices gives the results of training on one.

A model with a shared ``dt`` variable, a `.DtScheduler` and a range regularizer is
trained twice in one fresh Python process, first on one device and then spread over
two CPU devices: with ``tf.distribute.MirroredStrategy`` on TensorFlow, and with
``keras.distribution.DataParallel`` on JAX. The number of devices has to be set
before TensorFlow or JAX starts, hence the separate process.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

# Two trainings in a fresh Python process, which starts its backend anew: slow.
pytestmark = pytest.mark.slow

# The script run in the fresh process. It prints one line of JSON: for each run,
# the losses of each epoch, the final dt and weights, and predictions.
SCRIPT = r"""
import contextlib
import json
import sys

import numpy as np

backend, spiking_aware_training = sys.argv[1], sys.argv[2] == "True"
if backend == "tensorflow":
    import tensorflow as tf

    # two logical CPU devices, set up before TensorFlow starts
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

import keras

import keras_spiking


def distributed():
    # the scope that spreads training over two devices; returns it and their count
    if backend == "tensorflow":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        return strategy.scope(), strategy.num_replicas_in_sync
    devices = keras.distribution.list_devices("cpu")
    return keras.distribution.DataParallel(devices=devices).scope(), len(devices)


def train(on_two_devices):
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(16, 6, 3)).astype("float32")
    y = rng.uniform(0, 1, size=(16, 2)).astype("float32")
    kernel0 = rng.uniform(0, 20, size=(3, 8)).astype("float32")
    kernel1 = rng.uniform(-0.01, 0.01, size=(8, 2)).astype("float32")

    if on_two_devices:
        scope, n_devices = distributed()
    else:
        scope, n_devices = contextlib.nullcontext(), 1
    with scope:
        dt = keras.Variable(0.05, trainable=False, name="dt")
        inp = keras.Input((6, 3))
        constant = keras.initializers.Constant
        h = keras.layers.Dense(8, kernel_initializer=constant(kernel0))(inp)
        h = keras_spiking.SpikingActivation(
            "relu", dt=dt, seed=1, spiking_aware_training=spiking_aware_training
        )(h)
        h = keras_spiking.Lowpass(
            0.05,
            dt=dt,
            activity_regularizer=keras_spiking.regularizers.L2(1e-4, target=(5, 15)),
        )(h)
        h = keras.layers.GlobalAveragePooling1D()(h)
        out = keras.layers.Dense(2, kernel_initializer=constant(kernel1))(h)
        model = keras.Model(inp, out)
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
        schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.5)
        history = model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            shuffle=False,
            callbacks=[keras_spiking.callbacks.DtScheduler(dt, schedule)],
            verbose=0,
        )
        result = {
            "devices": n_devices,
            "loss": history.history["loss"],
            "dt": float(np.asarray(dt.numpy())),
            "weights": [np.asarray(w).tolist() for w in model.get_weights()],
            "predict": model.predict(x[:8], batch_size=8, verbose=0).tolist(),
        }
        if not on_two_devices:
            # the batch in two halves, as two replicas see it
            result["predict_halves"] = model.predict(
                x[:8], batch_size=4, verbose=0
            ).tolist()
    return result


print(json.dumps({"one": train(False), "two": train(True)}))
"""

# 4 training steps, ``dt = 0.05 * 0.5 ** (step / 2)``: step 3 is the last
EXPECTED_DT = 0.05 * 0.5 ** (3 / 2)


def run(backend, spiking_aware_training):
    """Run ``SCRIPT`` on ``backend`` with two CPU devices; return its results."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if backend == "jax":
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = " ".join(
            [env.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=2"]
        ).strip()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, str(spiking_aware_training)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    return results["one"], results["two"]


def assert_same_training(one, two):
    assert (one["devices"], two["devices"]) == (1, 2)
    # the schedule reached the same dt in both
    assert one["dt"] == pytest.approx(EXPECTED_DT, rel=1e-6)
    assert two["dt"] == pytest.approx(EXPECTED_DT, rel=1e-6)
    # the same losses (the regularizer's penalty included) and the same weights
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    assert len(two["weights"]) == len(one["weights"])
    for w_two, w_one in zip(two["weights"], one["weights"], strict=True):
        np.testing.assert_allclose(w_two, w_one, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
def test_mirrored_strategy():
    """Under ``MirroredStrategy`` each replica runs its part of the batch.

    Training on rates (``spiking_aware_training=False``) gives the same result. The
    seeded initial voltages are drawn per replica, for the replica's part of the
    batch, so spikes are those that one device gives for each part on its own.
    """
    one, two = run("tensorflow", spiking_aware_training=False)
    assert_same_training(one, two)
    np.testing.assert_allclose(two["predict"], one["predict_halves"], rtol=1e-5)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution runs on JAX")
def test_data_parallel():
    """Under ``DataParallel`` one program runs on the whole, sharded, batch.

    So even spiking-aware training, whose spikes depend on the seeded initial
    voltages, gives the same result as on one device, and so does ``predict``.
    """
    one, two = run("jax", spiking_aware_training=True)
    assert_same_training(one, two)
    np.testing.assert_allclose(two["predict"], one["predict"], rtol=1e-5, atol=1e-7)
