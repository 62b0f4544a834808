"""Tests for keras_spiking.callbacks."""

import doctest

import keras
import numpy as np
import pytest
from conftest import TORCH_COMPILE_IS_SLOW

import keras_spiking
from keras_spiking.callbacks import DtScheduler


class Record(keras.layers.Layer):
    """Passes its input through, keeping its mean in a variable for a callback."""

    def build(self, input_shape):
        self.last = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="last"
        )

    def call(self, inputs):
        self.last.assign(keras.ops.mean(inputs))
        return inputs


class Watch(keras.callbacks.Callback):
    """Records ``dt`` before each batch, and the recorded layer output after it."""

    def __init__(self, dt, record=None):
        super().__init__()
        self.dt, self.record = dt, record
        self.dts, self.outputs = [], []

    def on_train_batch_begin(self, batch, logs=None):
        _ = self.model  # sync the state on JAX, as DtScheduler does
        self.dts.append(float(self.dt.numpy()))

    def on_train_batch_end(self, batch, logs=None):
        if self.record is not None:
            self.outputs.append(float(self.model.get_layer("record").last.numpy()))


def fit(dt, callbacks, n=100, batch_size=20, epochs=3, **kwargs):
    """Train a small filter model sharing ``dt``; nothing is learnt (zero rate)."""
    inp = keras.Input((None, 1))
    x = keras_spiking.Lowpass(0.1, dt=dt)(inp)
    model = keras.Model(inp, Record(name="record")(x))
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="mse",
        jit_compile=kwargs.pop("jit_compile", "auto"),
    )
    model.fit(
        np.ones((n, 1, 1)),
        np.zeros((n, 1, 1)),
        batch_size=batch_size,
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
        **kwargs,
    )
    return model


@pytest.mark.parametrize(
    "n, batch_size, epochs, initial_epoch, steps",
    [
        (100, 20, 3, 0, 5),  # 5 full batches per epoch
        (90, 20, 2, 0, 5),  # the last batch of each epoch is partial
        (40, 40, 4, 0, 1),
        (60, 20, 4, 2, 3),  # resuming at epoch 2 resumes the step count
    ],
)
def test_step_counting(n, batch_size, epochs, initial_epoch, steps):
    dt = keras.Variable(0.001, trainable=False)
    calls = []

    def scheduler(step):
        calls.append(step)
        return 0.001 * (step + 1)

    watch = Watch(dt)
    fit(
        dt,
        [DtScheduler(dt, scheduler), watch],
        n=n,
        batch_size=batch_size,
        epochs=epochs,
        initial_epoch=initial_epoch,
    )
    expected = list(range(initial_epoch * steps, epochs * steps))
    assert calls == expected  # once per batch, step = epoch * steps + batch
    np.testing.assert_allclose(watch.dts, 0.001 * (np.array(expected) + 1), rtol=1e-6)
    # the variable keeps its last value
    assert float(dt.numpy()) == pytest.approx(0.001 * epochs * steps, rel=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.data with unknown length"
)
def test_step_counting_unknown_length():
    """With data of unknown length, the steps keep counting across epochs."""
    import tensorflow as tf

    def keep(x, y):
        return True

    data = tf.data.Dataset.from_tensor_slices(
        (np.ones((50, 1, 1), "float32"), np.zeros((50, 1, 1), "float32"))
    )
    data = data.filter(keep).batch(10)  # cardinality unknown
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY

    dt = keras.Variable(0.001, trainable=False)
    used = []

    class AfterBatch(keras.callbacks.Callback):
        # Keras also begins a sixth batch that finds the data exhausted and never
        # runs; so look at the dt of the batches that ran
        def on_train_batch_end(self, batch, logs=None):
            used.append(float(dt.numpy()))

    scheduler = DtScheduler(dt, lambda step: 0.001 * (step + 1))
    inp = keras.Input((None, 1))
    model = keras.Model(inp, keras_spiking.Lowpass(0.1, dt=dt)(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    with pytest.warns(UserWarning):  # Keras: "Your input ran out of data"
        model.fit(data, epochs=3, callbacks=[scheduler, AfterBatch()], verbose=0)
    np.testing.assert_allclose(used, 0.001 * np.arange(1, 16), rtol=1e-6)


@pytest.mark.parametrize(
    "jit_compile", [False, pytest.param(True, marks=TORCH_COMPILE_IS_SLOW)]
)
def test_exponential_decay_reaches_the_layers(jit_compile):
    """Inside compiled ``fit`` every batch's output uses that batch's ``dt``."""
    dt = keras.Variable(1.0, trainable=False)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.05, decay_steps=5, decay_rate=0.5
    )
    watch = Watch(dt, record=True)
    model = fit(
        dt, [DtScheduler(dt, schedule), watch], epochs=4, jit_compile=jit_compile
    )

    steps = np.arange(20)
    expected_dt = 0.05 * 0.5 ** (steps / 5)
    np.testing.assert_allclose(watch.dts, expected_dt, rtol=1e-6)
    # one step of a lowpass filter (tau=0.1) from rest on a constant input of 1
    np.testing.assert_allclose(watch.outputs, 1 - np.exp(-expected_dt / 0.1), rtol=1e-5)

    # after fit, dt keeps the last value, and predict uses it
    assert float(dt.numpy()) == pytest.approx(expected_dt[-1], rel=1e-6)
    out = model.predict(np.ones((2, 1, 1)), verbose=0)
    np.testing.assert_allclose(out, 1 - np.exp(-expected_dt[-1] / 0.1), rtol=1e-5)


def test_shared_by_several_layers():
    """One ``dt`` variable drives a spiking layer and a filter alike."""
    dt = keras.Variable(0.001, trainable=False)
    inp = keras.Input((None, 1))
    x = keras_spiking.SpikingActivation("relu", dt=dt)(inp)
    x = keras_spiking.Lowpass(1.0, dt=dt)(x)
    model = keras.Model(inp, Record(name="record")(x))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")

    watch = Watch(dt, record=True)
    dts = np.array([0.1, 0.2, 0.5, 1.0])
    model.fit(
        np.full((4, 1, 1), 10.0),
        np.zeros((4, 1, 1)),
        batch_size=2,
        epochs=2,
        callbacks=[DtScheduler(dt, lambda step: dts[step]), watch],
        verbose=0,
    )
    np.testing.assert_allclose(watch.dts, dts, rtol=1e-6)
    # At 10 Hz, a step of dt holds 10 * dt spikes, a whole number here whatever the
    # initial voltage, so the spiking output is exactly 10 (it would be almost
    # always 0 with the initial dt of 0.001); one step of the filter from rest
    # scales it by 1 - exp(-dt / tau).
    np.testing.assert_allclose(watch.outputs, 10 * (1 - np.exp(-dts / 1.0)), rtol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.Variable needs TensorFlow"
)
def test_tf_variable():
    import tensorflow as tf

    dt = tf.Variable(0.001)
    watch = Watch(dt)
    fit(dt, [DtScheduler(dt, lambda step: 0.01 * (step + 1)), watch], epochs=1)
    np.testing.assert_allclose(watch.dts, [0.01, 0.02, 0.03, 0.04, 0.05], rtol=1e-6)


@pytest.mark.parametrize(
    "dt", [0.001, 1, np.float32(0.001), np.array(0.001), "0.001", None]
)
def test_not_a_variable(dt):
    with pytest.raises(TypeError, match=r"keras\.Variable\(0\.001, trainable=False\)"):
        DtScheduler(dt, lambda step: 0.001)


def test_tensor_is_not_a_variable():
    with pytest.raises(TypeError, match="must be a variable"):
        DtScheduler(keras.ops.convert_to_tensor(0.001), lambda step: 0.001)


class PrintFirstBatch(keras.callbacks.Callback):
    """Prints the ``dt`` that the first batch of each epoch begins with."""

    def __init__(self, dt):
        super().__init__()
        self.dt = dt

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            print(f"first batch: {float(self.dt.numpy()):.6g}")


def test_verbose(capsys):
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: 0.25 * 0.5**step, verbose=True)
    fit(dt, [scheduler, PrintFirstBatch(dt)], epochs=3)
    lines = capsys.readouterr().out.strip().splitlines()
    # printed at the start of each epoch (5 batches each), before its first batch:
    # the dt of the epoch's first step, which that batch then runs with
    assert lines == [
        "DtScheduler: epoch 1 starts with dt = 0.25",
        "first batch: 0.25",
        "DtScheduler: epoch 2 starts with dt = 0.0078125",
        "first batch: 0.0078125",
        "DtScheduler: epoch 3 starts with dt = 0.000244141",
        "first batch: 0.000244141",
    ]


def test_verbose_at_epoch_begin(capsys):
    """The report comes when the epoch begins, with the value then in force."""
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: 0.01 * (step + 1), verbose=True)
    scheduler.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    scheduler.set_params({"epochs": 3, "steps": 4})
    scheduler.on_train_begin()
    scheduler.on_epoch_begin(2)
    assert capsys.readouterr().out == "DtScheduler: epoch 3 starts with dt = 0.09\n"
    assert float(dt.numpy()) == pytest.approx(0.09)  # step 2 * 4 + 0


def test_not_verbose(capsys):
    dt = keras.Variable(0.001, trainable=False)
    fit(dt, [DtScheduler(dt, lambda step: 0.002)], epochs=2)
    assert capsys.readouterr().out == ""


def test_scheduler_not_callable():
    dt = keras.Variable(0.001, trainable=False)
    with pytest.raises(
        TypeError,
        match=r"`scheduler` must be .*LearningRateSchedule.*"
        r"got 0\.5",
    ):
        DtScheduler(dt, 0.5)


def start(scheduler, steps=4):
    """Set ``scheduler`` up as ``fit`` would, for ``steps`` batches an epoch."""
    scheduler.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    scheduler.set_params({"epochs": 3, "steps": steps})
    scheduler.on_train_begin()


BAD_DTS = [0.0, -0.001, np.nan, np.inf, -np.inf, 1e-46, 3e-39, 1e39]


@pytest.mark.parametrize("bad", BAD_DTS)
def test_bad_dt_at_epoch_begin(bad):
    """Zero, negative, non-finite, or out of float32's range for dt or 1/dt."""
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: bad)
    start(scheduler)
    with pytest.raises(ValueError) as info:
        scheduler.on_epoch_begin(1)
    message = str(info.value)
    assert "`dt`" in message and "step 4" in message and repr(bad) in message
    assert "1.18e-38 to 3.4e+38" in message
    assert float(dt.numpy()) == np.float32(0.001)  # nothing assigned


def test_bad_dt_mid_epoch():
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: 0.01 if step < 6 else 0.0)
    start(scheduler)
    scheduler.on_epoch_begin(1)
    scheduler.on_train_batch_begin(1)  # step 5
    with pytest.raises(ValueError, match=r"`dt` = 0\.0 for step 6"):
        scheduler.on_train_batch_begin(2)
    assert float(dt.numpy()) == np.float32(0.01)


@pytest.mark.parametrize("good", [1.2e-38, 1e-30, 1e-5, 1.0, 3e38])
def test_extreme_but_usable_dt(good):
    """Values whose dt and 1/dt are finite and non-zero in float32 are assigned."""
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: good)
    start(scheduler)
    scheduler.on_epoch_begin(0)
    assert float(dt.numpy()) == np.float32(good)
    assert np.isfinite(1 / np.float32(dt.numpy()))


def test_bad_dt_stops_fit():
    """In ``fit`` the error comes before the step that would use the value."""
    dt = keras.Variable(0.001, trainable=False)
    watch = Watch(dt)
    with pytest.raises(ValueError, match=r"`dt` = nan for step 7"):
        fit(
            dt,
            [DtScheduler(dt, lambda step: np.nan if step == 7 else 0.01), watch],
            epochs=2,
        )
    # steps 0 to 6 ran with their dt
    np.testing.assert_allclose(watch.dts, [0.01] * 7, rtol=1e-6)
    assert float(dt.numpy()) == np.float32(0.01)


@pytest.mark.parametrize("value", [np.array([0.1, 0.2]), "0.1", None, True])
def test_scheduler_returns_not_a_number(value):
    dt = keras.Variable(0.001, trainable=False)
    scheduler = DtScheduler(dt, lambda step: value)
    start(scheduler)
    with pytest.raises(TypeError, match=r"`scheduler\(0\)` must return one number"):
        scheduler.on_epoch_begin(0)


def test_docstring_example():
    (test,) = doctest.DocTestFinder(recurse=False).find(DtScheduler, globs={})
    result = doctest.DocTestRunner().run(test, clear_globs=False)
    assert result.attempted > 0
    assert result.failed == 0, "docstring example failed (report above)"

    # 5 batches in each of 10 epochs: the last one is step 49
    assert float(test.globs["dt"].numpy()) == pytest.approx(0.9 ** (49 / 5), rel=1e-6)
