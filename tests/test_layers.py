"""Tests for keras_spiking.layers, against numpy re-derivations of BEHAVIOUR.md."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spiking
from keras_spiking import layers

RNG = np.random.default_rng(0)


def relu(x):
    return np.maximum(x, 0)


def numpy_spikes(x, v0, dt, activation=relu):
    """The spiking step of BEHAVIOUR.md, looped over time, in float32."""
    dt = np.float32(dt)
    voltage = v0.astype(np.float32)
    out = []
    for t in range(x.shape[1]):
        voltage = voltage + activation(x[:, t]).astype(np.float32) * dt
        n_spikes = np.floor(voltage)
        voltage = voltage - n_spikes
        out.append(n_spikes / dt)
    return np.stack(out, axis=1), voltage


def numpy_lowpass(x, tau, dt, y0=0.0):
    return numpy_lowpass_states(x, tau, dt, y0)[0]


def numpy_lowpass_states(x, tau, dt, y0=0.0):
    a = np.exp(-dt / tau)
    y = np.zeros_like(x[:, 0]) + y0
    out = []
    for t in range(x.shape[1]):
        y = (1 - a) * x[:, t] + a * y
        out.append(y)
    return np.stack(out, axis=1), [y]


def numpy_alpha(x, tau, dt, y0=0.0):
    return numpy_alpha_states(x, tau, dt, y0)[0]


def numpy_alpha_states(x, tau, dt, y0=0.0):
    """The alpha filter as two state updates with the matrices of BEHAVIOUR.md."""
    r = dt / tau
    e = np.exp(-r)
    z, y = np.zeros_like(x[:, 0]), np.zeros_like(x[:, 0]) + y0
    out = []
    for t in range(x.shape[1]):
        z, y = (
            e * (1 - r) * z - e * r / tau * y + e * r / tau * x[:, t],
            e * dt * z + e * (1 + r) * y + (1 - e * (1 + r)) * x[:, t],
        )
        out.append(y)
    return np.stack(out, axis=1), [z, y]


def initial_voltage(batch, size, seed):
    return tf.random.stateless_uniform((batch, *size), seed=(seed, seed)).numpy()


def make_layer(name, **kwargs):
    if name == "SpikingActivation":
        return keras_spiking.SpikingActivation("relu", seed=1, **kwargs)
    return getattr(keras_spiking, name)(0.01, **kwargs)


def expected_output(name, x, dt=0.001):
    """Batch-major sequence output and final states, from the numpy references."""
    if name == "SpikingActivation":
        out, voltage = numpy_spikes(x, initial_voltage(x.shape[0], x.shape[2:], 1), dt)
        return out, [voltage]
    states = numpy_lowpass_states if name == "Lowpass" else numpy_alpha_states
    return states(x.astype(np.float64), 0.01, dt)


ALL_LAYERS = ["SpikingActivation", "Lowpass", "Alpha"]

# Relative tolerance of each float32 layer against its float64 numpy reference. The
# alpha filter's input gain 1 - e(1 + r) cancels in float32 (BEHAVIOUR.md's formula),
# which costs it about 1e-5 relative accuracy at dt/tau = 0.1.
RTOL = {"SpikingActivation": 0, "Lowpass": 1e-5, "Alpha": 5e-5}


@pytest.mark.parametrize("name", ALL_LAYERS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("return_state", [True, False])
@pytest.mark.parametrize("time_major", [True, False])
@pytest.mark.parametrize("size", [(5,), (4, 3)])
def test_layer_options(
    name, return_sequences, return_state, time_major, size, tmp_path
):
    """Every layer, every layout option: values, functional model, config, save."""
    x = RNG.uniform(-10, 1500, size=(2, 6, *size)).astype(np.float32)
    x_in = np.swapaxes(x, 0, 1) if time_major else x
    kwargs = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        time_major=time_major,
    )
    want_seq, want_states = expected_output(name, x)
    want = want_seq if return_sequences else want_seq[:, -1]
    if time_major and return_sequences:
        want = np.swapaxes(want, 0, 1)

    layer = make_layer(name, **kwargs)
    result = layer(x_in)
    outputs = result if return_state else [result]
    n_states = 2 if name == "Alpha" else 1
    assert len(outputs) == 1 + (n_states if return_state else 0)
    np.testing.assert_allclose(outputs[0], want, rtol=RTOL[name], atol=1e-6)
    for state, want_state in zip(outputs[1:], want_states, strict=return_state):
        assert tuple(state.shape) == (2, *size)
        np.testing.assert_allclose(state, want_state, rtol=RTOL[name], atol=1e-6)

    # functional model with an unknown number of steps, saved and loaded
    inp = keras.Input(batch_shape=(None, None, *size))
    model_out = make_layer(name, **kwargs)(inp)
    model = keras.Model(inp, model_out)
    predicted = model.predict(x_in, verbose=0)
    predicted = predicted if return_state else [predicted]
    for got, symbolic in zip(predicted, model.outputs, strict=True):
        assert len(got.shape) == len(symbolic.shape)
    np.testing.assert_allclose(predicted[0], want, rtol=RTOL[name], atol=1e-6)

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    reloaded = loaded.predict(x_in, verbose=0)
    reloaded = reloaded if return_state else [reloaded]
    for a, b in zip(predicted, reloaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_spikes_match_numpy_exactly():
    x = RNG.uniform(-100, 3000, size=(4, 200, 7)).astype(np.float32)
    out = keras_spiking.SpikingActivation("relu", seed=5)(x)
    want, _ = numpy_spikes(x, initial_voltage(4, (7,), 5), 0.001)
    np.testing.assert_array_equal(out, want)


def test_seeded_initial_voltage_is_tensorflows_stateless_draw():
    _, voltage = keras_spiking.SpikingActivation("relu", seed=7, return_state=True)(
        np.zeros((3, 1, 2, 5), np.float32)
    )
    np.testing.assert_array_equal(voltage, initial_voltage(3, (2, 5), 7))
    assert np.all((voltage >= 0) & (voltage < 1))


def test_unseeded_initial_voltage_is_fresh_each_time():
    layer = keras_spiking.SpikingActivation("relu", return_state=True)
    x = np.zeros((3, 1, 50), np.float32)
    first, second = layer(x)[1], layer(x)[1]
    assert not np.array_equal(first, second)
    assert np.all((first >= 0) & (first < 1))


def test_spike_count_is_floor_of_integrated_rate():
    rates = RNG.uniform(0, 400, size=(5, 300, 6)).astype(np.float32)
    dt = 0.001
    out = keras_spiking.SpikingActivation("relu", seed=3, dt=dt)(rates).numpy()
    v0 = initial_voltage(5, (6,), 3).astype(np.float64)
    want = np.floor(v0 + dt * rates.astype(np.float64).sum(axis=1))
    np.testing.assert_array_equal(np.round(out.sum(axis=1) * dt), want)
    # the mean output approaches the mean rate
    np.testing.assert_allclose(
        out.mean(axis=1), rates.mean(axis=1), atol=1 / (300 * dt)
    )


def test_negative_and_multiple_spikes():
    dt = 0.01
    x = np.array([[[-250.0, 250.0, 1234.0]] * 4], np.float32)  # rates times dt: -2.5..
    out = keras_spiking.SpikingActivation(None, dt=dt, seed=0)(x).numpy()
    want, _ = numpy_spikes(x, initial_voltage(1, (3,), 0), dt, activation=lambda v: v)
    np.testing.assert_array_equal(out, want)
    assert np.all(out[..., 0] < 0) and np.all(out[..., 2] >= 12 / dt)
    # spikes are whole multiples of 1/dt
    np.testing.assert_allclose(out * dt, np.round(out * dt), atol=1e-4)


@pytest.mark.parametrize("name, impulse_integral", [("Lowpass", 1), ("Alpha", 1)])
def test_filter_impulse_response_is_analytic(name, impulse_integral):
    tau, dt, steps = 0.02, 0.001, 400
    x = np.zeros((1, steps, 1), np.float32)
    x[0, 0, 0] = 1 / dt
    out = getattr(keras_spiking, name)(tau, dt=dt)(x).numpy()[0, :, 0]

    # The input is a box of height 1/dt on [0, dt), so the output after step k is
    # (H((k+1)dt) - H(k dt)) / dt, with H the integral of the impulse response h.
    t = np.arange(steps + 1) * dt
    if name == "Lowpass":
        step_response = 1 - np.exp(-t / tau)
    else:
        step_response = 1 - np.exp(-t / tau) * (1 + t / tau)
    np.testing.assert_allclose(out, np.diff(step_response) / dt, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.sum() * dt, impulse_integral, atol=1e-4)


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filter_step_response_and_initial_level(name):
    tau, dt = 0.05, 0.002
    x = np.full((2, 100, 3), 2.0, np.float32)
    level = keras.initializers.Constant(0.5)
    out = getattr(keras_spiking, name)(tau, dt=dt, level_initializer=level)(x)
    ref = numpy_lowpass if name == "Lowpass" else numpy_alpha
    np.testing.assert_allclose(
        out, ref(x.astype(np.float64), tau, dt, 0.5), rtol=RTOL[name], atol=1e-6
    )


def test_tau_is_floored_in_forward_pass():
    layer = keras_spiking.Lowpass(0.01)
    x = RNG.uniform(size=(1, 5, 2)).astype(np.float32)
    layer(x)
    layer.cell.tau.assign(np.array([[-1.0, 0.0]], np.float32))
    np.testing.assert_allclose(layer(x), x, atol=1e-7)


def test_training_paths():
    x = np.full((1, 10, 2), 0.5, np.float32)
    spiking = keras_spiking.SpikingActivation(
        "relu", dt=1, spiking_aware_training=False
    )
    np.testing.assert_array_equal(spiking(x, training=True), x)
    assert set(np.unique(spiking(x, training=False))) <= {0.0, 1.0}
    aware = keras_spiking.SpikingActivation("relu", dt=1, seed=0)
    np.testing.assert_array_equal(aware(x, training=True), aware(x, training=False))

    lowpass = keras_spiking.Lowpass(0.1, apply_during_training=False)
    np.testing.assert_array_equal(lowpass(x, training=True), x)
    assert lowpass.trainable_weights == []
    assert not np.allclose(lowpass(x), x)


def test_fit_trains_and_predict_infers():
    """``training`` reaches the cell as a bool: fit trains, evaluate/predict infer."""
    inp = keras.Input((None, 1))
    out = keras_spiking.SpikingActivation("linear", dt=1, spiking_aware_training=False)(
        inp
    )
    model = keras.Model(inp, out)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.0))
    x = np.full((4, 4, 1), 0.5, np.float32)
    history = model.fit(x, x, epochs=1, batch_size=4, verbose=0)
    assert history.history["loss"][0] == 0  # rates, exactly the target
    assert model.evaluate(x, x, verbose=0) == pytest.approx(0.25)  # 0/1 spikes


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_spiking_aware_gradient_is_rate_gradient(activation):
    x = tf.constant(RNG.uniform(-3, 3, size=(3, 20, 4)).astype(np.float32))
    upstream = tf.constant(RNG.uniform(-1, 1, size=(3, 20, 4)).astype(np.float32))
    state = tf.constant(RNG.uniform(size=(3, 4)).astype(np.float32))
    dt = keras.Variable(0.01)
    layer = keras_spiking.SpikingActivation(activation, dt=dt)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, state])
        loss = tf.reduce_sum(layer(x, training=True, initial_state=state) * upstream)
    if activation == "relu":
        derivative = (x.numpy() > 0).astype(np.float32)
    else:
        derivative = 1 - np.tanh(x.numpy()) ** 2
    want = derivative * upstream
    np.testing.assert_allclose(tape.gradient(loss, x), want, rtol=1e-6, atol=1e-6)
    # a persistent tape gives the same gradient again
    np.testing.assert_allclose(tape.gradient(loss, x), want, rtol=1e-6, atol=1e-6)
    assert tape.gradient(loss, state) is None
    assert tape.gradient(loss, dt.value) is None


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filter_gradients_match_finite_differences(name):
    tau0, dt, steps = 0.03, 0.005, 12
    x0 = RNG.uniform(-1, 1, size=(2, steps, 3))
    level0 = RNG.uniform(-1, 1, size=(1, 3))
    upstream = RNG.uniform(-1, 1, size=(2, steps, 3))
    ref = numpy_lowpass if name == "Lowpass" else numpy_alpha

    def numpy_loss(x, tau, level):
        return np.sum(ref(x, tau, dt, level) * upstream)

    layer = getattr(keras_spiking, name)(tau0, dt=dt, dtype="float64")
    x = tf.constant(x0)
    layer(x)
    layer.cell.initial_level.assign(level0)
    taus = np.array([[tau0, tau0 * 1.5, tau0 * 0.7]])
    layer.cell.tau.assign(taus)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=True) * upstream)
    grads = tape.gradient(loss, [x, layer.cell.tau, layer.cell.initial_level])

    eps = 1e-6

    def central(f, value):
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[idx] += eps
            minus[idx] -= eps
            grad[idx] = (f(plus) - f(minus)) / (2 * eps)
        return grad

    want_x = central(lambda v: numpy_loss(v, taus, level0), x0)
    want_tau = central(lambda v: numpy_loss(x0, v, level0), taus)
    want_level = central(lambda v: numpy_loss(x0, taus, v), level0)
    np.testing.assert_allclose(grads[0], want_x, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grads[1], want_tau, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grads[2], want_level, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_stateful_chunks_equal_one_call(name):
    x = RNG.uniform(0, 300, size=(2, 30, 3)).astype(np.float32)
    inp = keras.Input((None, 3), batch_size=2)
    layer = make_layer(name, stateful=True)
    model = keras.Model(inp, layer(inp))
    whole = model.predict(x, verbose=0)
    layer.reset_states()
    chunks = [model.predict(x[:, i : i + 10], verbose=0) for i in range(0, 30, 10)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, rtol=1e-6)
    want, _ = expected_output(name, x)
    np.testing.assert_allclose(whole, want, rtol=RTOL[name], atol=1e-6)


def test_reset_states_returns_to_seeded_state_or_given_state():
    inp = keras.Input((None, 3), batch_size=2)
    layer = keras_spiking.SpikingActivation("relu", seed=2, stateful=True)
    keras.Model(inp, layer(inp))
    layer(np.full((2, 5, 3), 700.0, np.float32))
    layer.reset_states()
    np.testing.assert_array_equal(layer.layer.states[0], initial_voltage(2, (3,), 2))
    given = np.full((2, 3), 0.25, np.float32)
    layer.reset_state(given)
    np.testing.assert_array_equal(layer.layer.states[0], given)

    lowpass = keras_spiking.Lowpass(
        0.01, stateful=True, level_initializer=keras.initializers.Constant(3.0)
    )
    lowpass(np.ones((2, 4, 3), np.float32))
    lowpass.reset_states()
    np.testing.assert_array_equal(lowpass.layer.states[0], np.full((2, 3), 3.0))


def test_initial_state_tensor_or_list():
    x = RNG.uniform(size=(2, 5, 3)).astype(np.float32)
    y0 = RNG.uniform(size=(2, 3)).astype(np.float32)
    lowpass = keras_spiking.Lowpass(0.01)
    a = lowpass(x, initial_state=y0)
    b = lowpass(x, initial_state=[y0])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, numpy_lowpass(x, 0.01, 0.001, y0), atol=1e-6)
    alpha = keras_spiking.Alpha(0.01)
    np.testing.assert_allclose(
        alpha(x, initial_state=[np.zeros_like(y0), y0]),
        numpy_alpha(x.astype(np.float64), 0.01, 0.001, y0),
        atol=1e-6,
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_dt_variable_changes_steps_inside_fit(jit_compile):
    dt = keras.Variable(0.01)
    inp = keras.Input((None, 1))
    model = keras.Model(inp, keras_spiking.Lowpass(0.1, dt=dt)(inp))
    model.compile(
        loss="mse", optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile
    )
    assert not dt.trainable
    assert model.trainable_weights == [
        model.layers[1].cell.tau,
        model.layers[1].cell.initial_level,
    ]
    assert model.layers[1].get_config()["dt"] == pytest.approx(0.01)

    class SetDt(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model  # noqa: B018 (syncs the JAX state before assigning)
            dt.assign(0.01 * (batch + 1))

    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(logs["loss"])
    )
    model.fit(
        np.ones((4, 1, 1)),
        np.zeros((4, 1, 1)),
        batch_size=1,
        callbacks=[SetDt(), record],
        verbose=0,
    )
    # one step of a lowpass from 0 on input 1 gives 1 - exp(-dt / tau)
    per_batch = [(1 - np.exp(-0.01 * (b + 1) / 0.1)) ** 2 for b in range(4)]
    running_mean = np.cumsum(per_batch) / np.arange(1, 5)
    np.testing.assert_allclose(losses, running_mean, rtol=1e-5)
    assert float(dt.numpy()) == pytest.approx(0.04)


def test_tf_variable_dt_is_read_live():
    dt = tf.Variable(0.5)
    layer = keras_spiking.SpikingActivation("linear", dt=dt, seed=0)
    x = np.ones((1, 3, 4), np.float32)
    v0 = initial_voltage(1, (4,), 0)
    np.testing.assert_array_equal(layer(x), numpy_spikes(x, v0, 0.5, np.copy)[0])
    dt.assign(0.25)
    np.testing.assert_array_equal(layer(x), numpy_spikes(x, v0, 0.25, np.copy)[0])
    assert layer.trainable_weights == []


def test_default_dt_is_read_at_construction():
    keras_spiking.default.dt = 0.05
    layer = keras_spiking.Lowpass(0.1)
    cell = keras_spiking.LowpassCell(3, tau=0.1)
    keras_spiking.default.dt = 0.001
    assert layer.dt == 0.05 and cell.dt == 0.05
    x = np.ones((1, 2, 3), np.float32)
    np.testing.assert_allclose(layer(x), numpy_lowpass(x, 0.1, 0.05), atol=1e-6)


def test_cells_in_plain_keras_rnn():
    x = RNG.uniform(0, 500, size=(2, 8, 4)).astype(np.float32)
    rnn = keras.layers.RNN(
        keras_spiking.SpikingActivationCell(4, "relu", seed=1), return_sequences=True
    )
    want, _ = numpy_spikes(x, initial_voltage(2, (4,), 1), 0.001)
    np.testing.assert_array_equal(rnn(x), want)
    rnn = keras.layers.RNN(keras_spiking.AlphaCell(size=4, tau_initializer=0.01))
    np.testing.assert_allclose(
        rnn(x), numpy_alpha(x.astype(np.float64), 0.01, 0.001)[:, -1], rtol=1e-5
    )


def test_sequential_timedistributed_conv():
    model = keras.Sequential(
        [
            keras.Input((None, 6, 6, 1)),
            keras.layers.TimeDistributed(keras.layers.Conv2D(2, 3)),
            keras_spiking.SpikingActivation("relu", seed=0),
            keras_spiking.Alpha(0.01),
            keras.layers.TimeDistributed(keras.layers.Flatten()),
        ]
    )
    x = RNG.uniform(size=(3, 4, 6, 6, 1)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (3, 4, 32)
    assert model.layers[1].cell.size == (4, 4, 2)


def test_tau_alias_constraints_and_config():
    constraint = keras.constraints.NonNeg()
    layer = keras_spiking.Lowpass(
        tau_initializer=keras.initializers.Constant(0.02),
        tau_constraint=constraint,
        initial_level_constraint=keras.constraints.MaxNorm(1.0),
    )
    layer(np.ones((1, 2, 3), np.float32))
    assert layer.cell.tau.constraint is constraint
    np.testing.assert_allclose(layer.cell.tau, np.full((1, 3), 0.02))
    config = layer.get_config()
    clone = keras_spiking.Lowpass.from_config(config)
    assert isinstance(clone.tau_constraint, keras.constraints.NonNeg)
    assert isinstance(clone.initial_level_constraint, keras.constraints.MaxNorm)

    cell = keras_spiking.SpikingActivationCell((2, 3), "tanh", dt=0.002, seed=4)
    clone = keras_spiking.SpikingActivationCell.from_config(cell.get_config())
    assert (clone.size, clone.dt, clone.seed) == ((2, 3), 0.002, 4)
    assert clone.activation is keras.activations.tanh


def test_shared_dt_variable_model_saves_and_exports(tmp_path):
    dt = keras.Variable(0.002)
    inp = keras.Input((None, 3))
    x = keras_spiking.SpikingActivation("relu", dt=dt, seed=0)(inp)
    model = keras.Model(inp, keras_spiking.Lowpass(0.01, dt=dt)(x))
    data = RNG.uniform(0, 400, size=(2, 9, 3)).astype(np.float32)
    want = model.predict(data, verbose=0)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        keras.models.load_model(tmp_path / "m.keras").predict(data, verbose=0), want
    )

    model.export(tmp_path / "exported", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    np.testing.assert_allclose(served.serve(data), want, rtol=1e-6)
    longer = RNG.uniform(0, 400, size=(2, 17, 3)).astype(np.float32)
    np.testing.assert_allclose(
        served.serve(longer), model.predict(longer, verbose=0), rtol=1e-6
    )


class TestErrors:
    def test_missing_time_axis(self):
        with pytest.raises(ValueError, match="time axis"):
            keras_spiking.SpikingActivation("relu")(np.ones((2, 3), np.float32))

    @pytest.mark.parametrize("dt", [0, -0.1, float("nan"), float("inf")])
    def test_bad_dt(self, dt):
        with pytest.raises(ValueError, match="`dt` must be a positive, finite"):
            keras_spiking.Lowpass(0.1, dt=dt)
        with pytest.raises(ValueError, match="`dt`"):
            keras_spiking.SpikingActivationCell(3, "relu", dt=dt)

    @pytest.mark.parametrize("tau", [0, -0.01, float("nan")])
    def test_bad_tau(self, tau):
        with pytest.raises(ValueError, match="`tau` must be a positive"):
            keras_spiking.Alpha(tau)
        with pytest.raises(ValueError, match="`tau`"):
            keras_spiking.LowpassCell(3, tau)

    def test_tau_given_twice_or_never(self):
        with pytest.raises(ValueError, match="exactly once"):
            keras_spiking.Lowpass(0.1, tau_initializer=0.2)
        with pytest.raises(ValueError, match="exactly once"):
            keras_spiking.LowpassCell(3)

    def test_unknown_activation(self):
        with pytest.raises(ValueError, match="Unknown `activation`: 'rellu'"):
            keras_spiking.SpikingActivation("rellu")

    def test_initial_state_count_and_shape(self):
        x = np.ones((2, 4, 3), np.float32)
        with pytest.raises(ValueError, match="has 2 state tensor"):
            keras_spiking.Alpha(0.01)(x, initial_state=np.zeros((2, 3), np.float32))
        with pytest.raises(ValueError, match=r"must have shape \(2, 3\)"):
            keras_spiking.Lowpass(0.01)(x, initial_state=np.zeros((2, 4), np.float32))
        with pytest.raises(ValueError, match="must have shape"):
            keras_spiking.SpikingActivation("relu")(
                x, initial_state=np.zeros((3, 3), np.float32)
            )

    def test_size_mismatch(self):
        with pytest.raises(ValueError, match="size"):
            keras.layers.RNN(keras_spiking.LowpassCell(4, 0.01))(np.ones((1, 2, 3)))
        layer = keras_spiking.Lowpass(0.01)
        layer(np.ones((1, 2, 3), np.float32))
        with pytest.raises(ValueError, match="built for per-step shape"):
            layer(np.ones((1, 2, 4), np.float32))

    def test_stateful_needs_batch_size(self):
        with pytest.raises(ValueError, match="fixed batch size"):
            keras_spiking.SpikingActivation("relu", stateful=True)(
                keras.Input((None, 3))
            )
        with pytest.raises(ValueError, match="stateful=True"):
            keras_spiking.Lowpass(0.01).reset_states()

    def test_bad_size(self):
        with pytest.raises(ValueError, match="`size` must be"):
            keras_spiking.SpikingActivationCell((3, 0), "relu")

    def test_constants_not_supported(self):
        with pytest.raises(ValueError, match="constants"):
            keras_spiking.Lowpass(0.01)(np.ones((1, 2, 3)), constants=[1.0])


def test_public_names_are_registered():
    for cls in (
        layers.KerasSpikingCell,
        layers.KerasSpikingLayer,
        layers.SpikingActivationCell,
        layers.SpikingActivation,
        layers.LowpassCell,
        layers.Lowpass,
        layers.AlphaCell,
        layers.Alpha,
    ):
        name = keras.saving.get_registered_name(cls)
        assert name == f"keras_spiking>{cls.__name__}"
        assert keras.saving.get_registered_object(name) is cls


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_unrolled_loop_gives_the_same_outputs(name):
    x = RNG.uniform(0, 900, size=(2, 12, 3)).astype(np.float32)
    inp = keras.Input((12, 3))
    unrolled = keras.Model(inp, make_layer(name, unroll=True)(inp))
    np.testing.assert_array_equal(
        unrolled.predict(x, verbose=0), make_layer(name)(x).numpy()
    )
