"""Tests for keras_spiking.layers, against numpy re-derivations of BEHAVIOUR.md.

Every test runs on the TensorFlow, JAX and PyTorch backends; expectations are
computed in numpy, and the few TensorFlow-only checks say so.
"""

import pathlib

import keras
import numpy as np
import pytest
from conftest import BACKEND, TORCH_COMPILE_IS_SLOW, gradients
from pairwise import pairwise, shape_ids

import keras_spiking
from keras_spiking import layers
from keras_spiking._dt import dt_from_config

RNG = np.random.default_rng(0)

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="a TensorFlow-only behaviour"
)

# JAX computes in float64 only with its x64 mode on; then float64 policies work.
FLOAT64 = (
    "float64"
    if BACKEND != "jax" or __import__("jax").config.read("jax_enable_x64")
    else None
)


def to_numpy(x):
    """Backend tensors (or lists of them) as numpy arrays (detached on PyTorch)."""
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return keras.ops.convert_to_numpy(x)


def assert_allclose(actual, desired, **kwargs):
    np.testing.assert_allclose(to_numpy(actual), to_numpy(desired), **kwargs)


def assert_array_equal(actual, desired):
    np.testing.assert_array_equal(to_numpy(actual), to_numpy(desired))


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
    """The seeded initial voltage, as the cell draws it (checked separately)."""
    cell = keras_spiking.SpikingActivationCell(size, "relu", seed=seed)
    return keras.ops.convert_to_numpy(cell.get_initial_state(batch_size=batch)[0])


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


@pytest.mark.parametrize(
    "name, return_sequences, return_state, time_major, size",
    pairwise(ALL_LAYERS, [True, False], [True, False], [True, False], [(5,), (4, 3)]),
    ids=shape_ids,
)
@pytest.mark.parametrize("step_loop", [False, True])
def test_layer_options(
    name, return_sequences, return_state, time_major, size, step_loop, tmp_path
):
    """Every layer, every layout option, both loops: values, model, config, save.

    The layer and layout options come in all pairs (`pairwise`), on each loop:
    every value of each option meets every value of every other option.
    """
    x = RNG.uniform(-10, 1500, size=(2, 6, *size)).astype(np.float32)
    x_in = np.swapaxes(x, 0, 1) if time_major else x
    kwargs = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        time_major=time_major,
        step_loop=step_loop,
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
    assert_allclose(outputs[0], want, rtol=RTOL[name], atol=1e-6)
    for state, want_state in zip(outputs[1:], want_states, strict=return_state):
        assert tuple(state.shape) == (2, *size)
        assert_allclose(state, want_state, rtol=RTOL[name], atol=1e-6)

    if step_loop:
        return  # the rest concerns the layer, not the loop inside it

    # functional model with an unknown number of steps, saved and loaded
    inp = keras.Input(batch_shape=(None, None, *size))
    model_out = make_layer(name, **kwargs)(inp)
    model = keras.Model(inp, model_out)
    predicted = model.predict(x_in, verbose=0)
    predicted = predicted if return_state else [predicted]
    for got, symbolic in zip(predicted, model.outputs, strict=True):
        assert len(got.shape) == len(symbolic.shape)
    assert_allclose(predicted[0], want, rtol=RTOL[name], atol=1e-6)

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    reloaded = loaded.predict(x_in, verbose=0)
    reloaded = reloaded if return_state else [reloaded]
    for a, b in zip(predicted, reloaded, strict=True):
        assert_array_equal(a, b)


def test_spikes_match_numpy_exactly():
    x = RNG.uniform(-100, 3000, size=(4, 100, 7)).astype(np.float32)
    want, _ = numpy_spikes(x, initial_voltage(4, (7,), 5), 0.001)
    for step_loop in (False, True):
        out = keras_spiking.SpikingActivation("relu", seed=5, step_loop=step_loop)(x)
        assert_array_equal(out, want)


@tensorflow_only
@pytest.mark.parametrize("jit_compile", [False, True])
def test_seeded_initial_voltage_is_tensorflows_stateless_draw(jit_compile):
    """Eager, in a model's predict and under XLA: the original library's draw."""
    import tensorflow as tf

    want = tf.random.stateless_uniform((3, 2, 5), seed=(7, 7)).numpy()
    layer = keras_spiking.SpikingActivation("relu", seed=7, return_state=True)
    _, voltage = layer(np.zeros((3, 1, 2, 5), np.float32))
    assert_array_equal(voltage, want)

    inp = keras.Input((None, 2, 5))
    model = keras.Model(inp, layer(inp)[1])
    model.compile(jit_compile=jit_compile)
    assert_array_equal(
        model.predict(np.zeros((3, 1, 2, 5), np.float32), verbose=0), want
    )
    traced = tf.function(lambda x: layer(x)[1], jit_compile=jit_compile)
    assert_array_equal(traced(np.zeros((3, 1, 2, 5), np.float32)), want)


@tensorflow_only
@pytest.mark.parametrize("jit_compile", [False, True])
def test_seeded_initial_voltage_with_an_unknown_batch(jit_compile):
    """Traced with a batch of None (as ``model.export`` traces), the draw is made
    with LiteRT builtin ops (`keras_spiking.backends.tensorflow_random`): still
    TensorFlow's stateless draw bit for bit, for any seed and any number of
    values (here 21 per row, not a multiple of Philox's 4)."""
    import tensorflow as tf

    for seed in [0, 7, -3, 2**40 + 3, -(2**63), 2**63 - 1]:
        layer = keras_spiking.SpikingActivation("relu", seed=seed, return_state=True)
        traced = tf.function(
            lambda x, layer=layer: layer(x)[1],
            input_signature=[tf.TensorSpec((None, 1, 3, 7))],
            jit_compile=jit_compile,
        )
        for batch in (1, 2, 5):
            want = tf.random.stateless_uniform((batch, 3, 7), seed=(seed, seed))
            assert_array_equal(traced(np.zeros((batch, 1, 3, 7), np.float32)), want)


@tensorflow_only
def test_unseeded_initial_voltage_in_a_graph_is_kerass_draw():
    """Without a seed, a graph draws what Keras draws eagerly from the same seed
    generator state (in LiteRT builtin ops), and advances the generator."""
    import tensorflow as tf

    cell = keras_spiking.SpikingActivationCell(5, "relu")
    start = keras.ops.convert_to_numpy(cell.seed_generator.state)
    eager = [to_numpy(cell.get_initial_state(batch_size=3)[0]) for _ in range(2)]
    cell.seed_generator.state.assign(start)
    traced = tf.function(
        lambda x: cell.get_initial_state(batch_size=tf.shape(x)[0])[0],
        input_signature=[tf.TensorSpec((None,))],
    )
    graph = [traced(tf.zeros(3)) for _ in range(2)]
    for a, b in zip(eager, graph, strict=True):
        assert_array_equal(b, a)
    assert not np.array_equal(eager[0], eager[1])


def test_seeded_initial_voltage_is_the_same_every_time():
    layer = keras_spiking.SpikingActivation("relu", seed=7, return_state=True)
    x = np.zeros((3, 1, 2, 5), np.float32)
    first = keras.ops.convert_to_numpy(layer(x)[1])
    assert_array_equal(first, layer(x)[1])
    inp = keras.Input((None, 2, 5))
    model = keras.Model(inp, layer(inp)[1])
    assert_array_equal(model.predict(x, verbose=0), first)
    assert np.all((first >= 0) & (first < 1)) and len(np.unique(first)) == first.size
    other = keras_spiking.SpikingActivation("relu", seed=8, return_state=True)
    assert not np.array_equal(to_numpy(other(x)[1]), first)


def test_unseeded_initial_voltage_is_fresh_each_time():
    layer = keras_spiking.SpikingActivation("relu", return_state=True)
    x = np.zeros((3, 1, 50), np.float32)
    first, second = layer(x)[1], layer(x)[1]
    assert not np.array_equal(to_numpy(first), to_numpy(second))
    first = keras.ops.convert_to_numpy(first)
    assert np.all((first >= 0) & (first < 1))


def test_spike_count_is_floor_of_integrated_rate():
    rates = RNG.uniform(0, 400, size=(5, 300, 6)).astype(np.float32)
    dt = 0.001
    out = keras.ops.convert_to_numpy(
        keras_spiking.SpikingActivation("relu", seed=3, dt=dt)(rates)
    )
    v0 = initial_voltage(5, (6,), 3).astype(np.float64)
    want = np.floor(v0 + dt * rates.astype(np.float64).sum(axis=1))
    assert_array_equal(np.round(out.sum(axis=1) * dt), want)
    # the mean output approaches the mean rate
    assert_allclose(out.mean(axis=1), rates.mean(axis=1), atol=1 / (300 * dt))


@pytest.mark.parametrize("step_loop", [False, True])
def test_negative_and_multiple_spikes(step_loop):
    dt = 0.01
    x = np.array([[[-250.0, 250.0, 1234.0]] * 4], np.float32)  # rates times dt: -2.5..
    layer = keras_spiking.SpikingActivation(None, dt=dt, seed=0, step_loop=step_loop)
    out = keras.ops.convert_to_numpy(layer(x))
    want, _ = numpy_spikes(x, initial_voltage(1, (3,), 0), dt, activation=lambda v: v)
    assert_array_equal(out, want)
    assert np.all(out[..., 0] < 0) and np.all(out[..., 2] >= 12 / dt)
    # spikes are whole multiples of 1/dt
    assert_allclose(out * dt, np.round(out * dt), atol=1e-4)


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filter_impulse_response_is_analytic(name, step_loop):
    tau, dt, steps = 0.02, 0.001, 400
    x = np.zeros((1, steps, 1), np.float32)
    x[0, 0, 0] = 1 / dt
    layer = getattr(keras_spiking, name)(tau, dt=dt, step_loop=step_loop)
    out = keras.ops.convert_to_numpy(layer(x))[0, :, 0]

    # The input is a box of height 1/dt on [0, dt), so the output after step k is
    # (H((k+1)dt) - H(k dt)) / dt, with H the integral of the impulse response h.
    t = np.arange(steps + 1) * dt
    if name == "Lowpass":
        step_response = 1 - np.exp(-t / tau)
    else:
        step_response = 1 - np.exp(-t / tau) * (1 + t / tau)
    assert_allclose(out, np.diff(step_response) / dt, rtol=1e-4, atol=1e-6)
    assert_allclose(out.sum() * dt, 1, atol=1e-4)


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filter_step_response_and_initial_level(name):
    tau, dt = 0.05, 0.002
    x = np.full((2, 100, 3), 2.0, np.float32)
    level = keras.initializers.Constant(0.5)
    out = getattr(keras_spiking, name)(tau, dt=dt, level_initializer=level)(x)
    ref = numpy_lowpass if name == "Lowpass" else numpy_alpha
    assert_allclose(
        out, ref(x.astype(np.float64), tau, dt, 0.5), rtol=RTOL[name], atol=1e-6
    )


@pytest.mark.parametrize("step_loop", [False, True])
def test_tau_is_floored_in_forward_pass(step_loop):
    layer = keras_spiking.Lowpass(0.01, step_loop=step_loop)
    x = RNG.uniform(size=(1, 5, 2)).astype(np.float32)
    layer(x)
    layer.cell.tau.assign(np.array([[-1.0, 0.0]], np.float32))
    assert_allclose(layer(x), x, atol=1e-7)


@pytest.mark.parametrize("step_loop", [False, True])
def test_training_paths(step_loop):
    x = np.full((1, 10, 2), 0.5, np.float32)
    spiking = keras_spiking.SpikingActivation(
        "relu", dt=1, spiking_aware_training=False, step_loop=step_loop
    )
    assert_array_equal(spiking(x, training=True), x)
    spikes = keras.ops.convert_to_numpy(spiking(x, training=False))
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    aware = keras_spiking.SpikingActivation("relu", dt=1, seed=0, step_loop=step_loop)
    assert_array_equal(aware(x, training=True), aware(x, training=False))

    lowpass = keras_spiking.Lowpass(
        0.1, apply_during_training=False, step_loop=step_loop
    )
    assert_array_equal(lowpass(x, training=True), x)
    assert lowpass.trainable_weights == []
    assert not np.allclose(to_numpy(lowpass(x)), x)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
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


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_spiking_aware_gradient_is_rate_gradient(activation, step_loop):
    x = RNG.uniform(-3, 3, size=(3, 20, 4)).astype(np.float32)
    upstream = RNG.uniform(-1, 1, size=(3, 20, 4)).astype(np.float32)
    state = RNG.uniform(size=(3, 4)).astype(np.float32)
    dt = keras.Variable(0.01)
    layer = keras_spiking.SpikingActivation(activation, dt=dt, step_loop=step_loop)

    def loss(x, state):
        out = layer(x, training=True, initial_state=state)
        return keras.ops.sum(keras.ops.multiply(out, upstream))

    grad_x, grad_state = gradients(loss, x, state)
    if activation == "relu":
        derivative = (x > 0).astype(np.float32)
    else:
        derivative = 1 - np.tanh(x) ** 2
    assert_allclose(grad_x, derivative * upstream, rtol=1e-6, atol=1e-6)
    # nothing flows into the voltage
    assert grad_state is None or not np.any(grad_state)


def _filter_loss(layer, upstream):
    """The loss as a function of the input and the filter's two weights."""

    def loss(x, level, tau):
        fixed = [keras.ops.convert_to_tensor(v) for v in layer.non_trainable_variables]
        out, _ = layer.stateless_call([level, tau], fixed, x, training=True)
        out = out[0] if layer.return_state else out
        # (PyTorch would turn a float64 numpy array into float32)
        upstream_tensor = keras.ops.convert_to_tensor(upstream, dtype=out.dtype)
        return keras.ops.sum(keras.ops.multiply(out, upstream_tensor))

    return loss


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_filter_gradients_match_finite_differences(name, step_loop):
    tau0, dt, steps = 0.03, 0.005, 12
    x0 = RNG.uniform(-1, 1, size=(2, steps, 3))
    level0 = RNG.uniform(-1, 1, size=(1, 3))
    taus = np.array([[tau0, tau0 * 1.5, tau0 * 0.7]])
    upstream = RNG.uniform(-1, 1, size=(2, steps, 3))
    ref = numpy_lowpass if name == "Lowpass" else numpy_alpha

    def numpy_loss(x, tau, level):
        return np.sum(ref(x, tau, dt, level) * upstream)

    layer = getattr(keras_spiking, name)(
        tau0, dt=dt, dtype=FLOAT64 or "float32", step_loop=step_loop
    )
    layer(x0)
    assert [w.name for w in layer.trainable_weights] == ["initial_level", "tau"]
    shape = layer.cell.weight_shape
    grads = gradients(
        _filter_loss(layer, upstream), x0, level0.reshape(shape), taus.reshape(shape)
    )

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
    rtol = 1e-5 if FLOAT64 else 2e-4
    assert_allclose(grads[0], want_x, rtol=rtol, atol=1e-8)
    assert_allclose(grads[1], want_level.reshape(shape), rtol=rtol)
    assert_allclose(grads[2], want_tau.reshape(shape), rtol=rtol)


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_sequence_path_equals_step_loop(name):
    """The default whole-sequence path against the step loop: outputs, final
    states and gradients, with a dt variable, in training and inference."""
    x = RNG.uniform(-5, 60, size=(3, 50, 2, 2)).astype(np.float32)
    upstream = RNG.uniform(-1, 1, size=x.shape).astype(np.float32)
    dt = keras.Variable(0.01)
    fast = make_layer(name, dt=dt, return_state=True, step_loop=False)
    loop = make_layer(name, dt=dt, return_state=True, step_loop=True)
    fast(x)
    loop(x)
    loop.set_weights(fast.get_weights())
    for training in (False, True):
        for a, b in zip(
            fast(x, training=training), loop(x, training=training), strict=True
        ):
            assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    def loss(layer):
        return lambda x: keras.ops.sum(
            keras.ops.multiply(layer(x, training=True)[0], upstream)
        )

    assert_allclose(
        gradients(loss(fast), x)[0], gradients(loss(loop), x)[0], rtol=1e-5, atol=1e-6
    )
    if name != "SpikingActivation":
        level, tau = (np.asarray(w, np.float32) for w in fast.get_weights())
        args = (x, level, tau)
        fast_grads = gradients(_filter_loss(fast, upstream), *args)
        loop_grads = gradients(_filter_loss(loop, upstream), *args)
        for a, b in zip(fast_grads, loop_grads, strict=True):
            # each sums the steps' terms (up to ~1e4 here) in another order: an
            # element that they cancel down to ~10 keeps float32 rounding of the
            # largest elements, not of itself
            scale = np.abs(to_numpy(b)).max()
            assert_allclose(a, b, rtol=1e-4, atol=max(1e-4, 1e-6 * scale))


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("name", ALL_LAYERS)
def test_stateful_chunks_equal_one_call(name, step_loop):
    x = RNG.uniform(0, 300, size=(2, 30, 3)).astype(np.float32)
    inp = keras.Input((None, 3), batch_size=2)
    layer = make_layer(name, stateful=True, step_loop=step_loop)
    model = keras.Model(inp, layer(inp))
    whole = model.predict(x, verbose=0)
    layer.reset_states()
    chunks = [model.predict(x[:, i : i + 10], verbose=0) for i in range(0, 30, 10)]
    assert_allclose(np.concatenate(chunks, axis=1), whole, rtol=1e-6)
    want, _ = expected_output(name, x)
    assert_allclose(whole, want, rtol=RTOL[name], atol=1e-6)
    # eager calls carry the state too, and the two paths continue each other
    layer.reset_states()
    other = make_layer(name, stateful=True, step_loop=not step_loop)
    other(x[:, :1])
    first = layer(x[:, :15])
    other.reset_states([keras.ops.convert_to_tensor(s) for s in layer.states])
    assert_allclose(
        np.concatenate(to_numpy([first, other(x[:, 15:])]), axis=1),
        want,
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_streaming_one_step_per_call(name):
    """A stateful layer called on one step at a time (which runs its cell once,
    without a loop) gives the output of one call on the whole sequence."""
    x = RNG.uniform(0, 300, size=(2, 12, 3)).astype(np.float32)
    layer = make_layer(name, stateful=True)
    steps = np.concatenate([to_numpy(layer(x[:, t : t + 1])) for t in range(12)], 1)
    want, _ = expected_output(name, x)
    assert_allclose(steps, want, rtol=RTOL[name], atol=1e-6)
    assert_allclose(steps, make_layer(name)(x), rtol=1e-6, atol=1e-6)


@tensorflow_only
@pytest.mark.parametrize("name", ALL_LAYERS)
def test_stateful_layer_traced_with_an_unknown_batch(name):
    """``model.export`` traces a model with a batch of None: a stateful layer then
    takes its states' batch size (its states did not fit its loops, issue 21: a
    batch size of 1 broadcasts with None to None)."""
    import tensorflow as tf

    x = RNG.uniform(0, 300, size=(1, 6, 3)).astype(np.float32)
    inp = keras.Input((None, 3), batch_size=1)
    layer = make_layer(name, stateful=True)
    model = keras.Model(inp, layer(inp))
    for steps in (1, 3):
        traced = tf.function(
            model, input_signature=[tf.TensorSpec((None, steps, 3), tf.float32)]
        )
        layer.reset_states()
        out = np.concatenate(
            [to_numpy(traced(x[:, t : t + steps])) for t in range(0, 6, steps)], 1
        )
        assert_allclose(out, expected_output(name, x)[0], rtol=RTOL[name], atol=1e-6)


def test_reset_states_returns_to_seeded_state_or_given_state():
    inp = keras.Input((None, 3), batch_size=2)
    layer = keras_spiking.SpikingActivation("relu", seed=2, stateful=True)
    keras.Model(inp, layer(inp))
    layer(np.full((2, 5, 3), 700.0, np.float32))
    layer.reset_states()
    assert_array_equal(layer.states[0], initial_voltage(2, (3,), 2))
    given = np.full((2, 3), 0.25, np.float32)
    layer.reset_state(given)
    assert_array_equal(layer.states[0], given)

    lowpass = keras_spiking.Lowpass(
        0.01, stateful=True, level_initializer=keras.initializers.Constant(3.0)
    )
    lowpass(np.ones((2, 4, 3), np.float32))
    lowpass.reset_states()
    assert_array_equal(lowpass.states[0], np.full((2, 3), 3.0))


def test_initial_state_tensor_or_list():
    x = RNG.uniform(size=(2, 5, 3)).astype(np.float32)
    y0 = RNG.uniform(size=(2, 3)).astype(np.float32)
    lowpass = keras_spiking.Lowpass(0.01)
    a = lowpass(x, initial_state=y0)
    b = lowpass(x, initial_state=[y0])
    assert_array_equal(a, b)
    assert_allclose(a, numpy_lowpass(x, 0.01, 0.001, y0), atol=1e-6)
    alpha = keras_spiking.Alpha(0.01)
    assert_allclose(
        alpha(x, initial_state=[np.zeros_like(y0), y0]),
        numpy_alpha(x.astype(np.float64), 0.01, 0.001, y0),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "jit_compile", [False, pytest.param(True, marks=TORCH_COMPILE_IS_SLOW)]
)
def test_dt_variable_changes_steps_inside_fit(jit_compile):
    dt = keras.Variable(0.01)
    inp = keras.Input((None, 1))
    model = keras.Model(inp, keras_spiking.Lowpass(0.1, dt=dt)(inp))
    model.compile(
        loss="mse", optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile
    )
    assert not dt.trainable
    assert model.trainable_weights == [
        model.layers[1].cell.initial_level,
        model.layers[1].cell.tau,
    ]
    assert_allclose(model.get_weights()[1], [[0.1]])  # dt is no weight
    dt_config = model.layers[1].get_config()["dt"]
    assert to_numpy(dt_from_config(dt_config)) == pytest.approx(0.01)

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
    assert_allclose(losses, running_mean, rtol=1e-5)
    assert float(keras.ops.convert_to_numpy(dt)) == pytest.approx(0.04)


@tensorflow_only
def test_tf_variable_dt_is_read_live():
    import tensorflow as tf

    dt = tf.Variable(0.5)
    layer = keras_spiking.SpikingActivation("linear", dt=dt, seed=0)
    x = np.ones((1, 3, 4), np.float32)
    v0 = initial_voltage(1, (4,), 0)
    assert_array_equal(layer(x), numpy_spikes(x, v0, 0.5, np.copy)[0])
    dt.assign(0.25)
    assert_array_equal(layer(x), numpy_spikes(x, v0, 0.25, np.copy)[0])
    assert layer.trainable_weights == []


def test_default_dt_is_read_at_construction():
    keras_spiking.default.dt = 0.05
    layer = keras_spiking.Lowpass(0.1)
    cell = keras_spiking.LowpassCell(3, tau=0.1)
    keras_spiking.default.dt = 0.001
    assert layer.dt == 0.05 and cell.dt == 0.05
    x = np.ones((1, 2, 3), np.float32)
    assert_allclose(layer(x), numpy_lowpass(x, 0.1, 0.05), atol=1e-6)


def test_cells_in_plain_keras_rnn():
    x = RNG.uniform(0, 500, size=(2, 8, 4)).astype(np.float32)
    rnn = keras.layers.RNN(
        keras_spiking.SpikingActivationCell(4, "relu", seed=1), return_sequences=True
    )
    want, _ = numpy_spikes(x, initial_voltage(2, (4,), 1), 0.001)
    assert_array_equal(rnn(x), want)
    rnn = keras.layers.RNN(keras_spiking.AlphaCell(size=4, tau_initializer=0.01))
    assert_allclose(
        rnn(x), numpy_alpha(x.astype(np.float64), 0.01, 0.001)[:, -1], rtol=1e-5
    )


def test_cell_call_sequence_equals_its_steps():
    """A cell's whole-sequence form against its own step, called in a numpy loop."""
    x = RNG.uniform(-10, 400, size=(20, 2, 3)).astype(np.float32)  # time-major
    for cell in (
        keras_spiking.SpikingActivationCell(3, "relu", seed=2),
        keras_spiking.LowpassCell(3, tau=0.01),
        keras_spiking.AlphaCell(3, tau=0.02),
    ):
        cell.build((2, 3))
        states = cell.get_initial_state(batch_size=2)
        outputs, final = cell.call_sequence(x, states)
        step_states, step_outputs = states, []
        for t in range(x.shape[0]):
            out, step_states = cell(x[t], step_states)
            step_outputs.append(keras.ops.convert_to_numpy(out))
        assert_allclose(outputs, np.stack(step_outputs), rtol=1e-5)
        for a, b in zip(final, step_states, strict=True):
            assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spiking_aware_training", [True, False])
def test_layer_as_activation_trains_alike_on_both_paths(spiking_aware_training):
    """A layer used as the activation (PReLU) sees one step's shape on both paths,
    so it gets the same weights, and training changes them alike."""
    x = RNG.uniform(-1, 1, size=(4, 20, 3)).astype(np.float32) * 300
    target = RNG.uniform(0, 300, size=(4, 20, 3)).astype(np.float32)
    trained = []
    for step_loop in (True, False):
        activation = keras.layers.PReLU(alpha_initializer="ones")
        model = keras.Sequential(
            [
                keras.Input((20, 3)),
                keras_spiking.SpikingActivation(
                    activation,
                    seed=0,
                    spiking_aware_training=spiking_aware_training,
                    step_loop=step_loop,
                ),
            ]
        )
        model.compile(keras.optimizers.SGD(1e-7), "mse")
        model.fit(x, target, epochs=2, batch_size=4, shuffle=False, verbose=0)
        assert activation.alpha.shape == (3,)
        trained.append(to_numpy(activation.alpha))
    assert not np.allclose(trained[0], 1)
    assert_allclose(trained[1], trained[0], rtol=1e-5)


@tensorflow_only
@pytest.mark.parametrize("name", ["SpikingActivation", "Lowpass", "Alpha"])
def test_new_shapes_do_not_retrace(name, caplog):
    """Calls with ever new shapes and ranks reuse one trace of the compiled loops
    (TensorFlow warns of retracing from the fifth new trace on), and the results
    keep their static shapes, which that general trace does not know: a stateful
    layer in a compiled ``predict`` can store its states."""
    for steps, size in [(3, (4,)), (4, (2, 3)), (5, (4,)), (6, (2, 2, 2)), (7, (3,))]:
        make_layer(name, step_loop=False)(np.ones((2, steps, *size), np.float32))
    assert "retracing" not in caplog.text

    x = RNG.uniform(size=(2, 8, 3)).astype(np.float32)
    results = []
    for step_loop in (True, False):
        layer = make_layer(name, step_loop=step_loop, stateful=True)
        model = keras.Sequential([keras.Input((None, 3), batch_size=2), layer])
        results.append([model.predict(x, verbose=0), *map(to_numpy, layer.states)])
    for fast, reference in zip(results[1], results[0], strict=True):
        assert_allclose(fast, reference, rtol=1e-5, atol=1e-6)


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
    assert [w.shape for w in model.layers[2].weights] == [(32,), (32,)]


def test_tau_alias_constraints_and_config():
    constraint = keras.constraints.NonNeg()
    layer = keras_spiking.Lowpass(
        tau_initializer=keras.initializers.Constant(0.02),
        tau_constraint=constraint,
        initial_level_constraint=keras.constraints.MaxNorm(1.0),
    )
    layer(np.ones((1, 2, 3), np.float32))
    assert layer.cell.tau.constraint is constraint
    assert_allclose(layer.cell.tau, np.full((1, 3), 0.02))
    config = layer.get_config()
    clone = keras_spiking.Lowpass.from_config(config)
    assert isinstance(clone.tau_constraint, keras.constraints.NonNeg)
    assert isinstance(clone.initial_level_constraint, keras.constraints.MaxNorm)

    cell = keras_spiking.SpikingActivationCell((2, 3), "tanh", dt=0.002, seed=4)
    clone = keras_spiking.SpikingActivationCell.from_config(cell.get_config())
    assert (clone.size, clone.dt, clone.seed) == ((2, 3), 0.002, 4)
    assert clone.activation is keras.activations.tanh


@pytest.mark.parametrize(
    "tau, size, want",
    [
        ([0.01, 0.02, 0.03], (3,), [0.01, 0.02, 0.03]),
        (np.array([0.01, 0.02, 0.03]), (3,), [0.01, 0.02, 0.03]),
        (np.array([[0.01, 0.02, 0.03]]), (3,), [0.01, 0.02, 0.03]),
        ([0.01, 0.02], (2, 2), [[0.01, 0.02], [0.01, 0.02]]),
    ],
)
@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_tau_per_unit(name, tau, size, want):
    x = RNG.uniform(size=(2, 7, *size)).astype(np.float32)
    layer = getattr(keras_spiking, name)(tau)
    out = layer(x)
    ref = numpy_lowpass if name == "Lowpass" else numpy_alpha
    assert_allclose(
        out, ref(x.astype(np.float64), np.array(want), 0.001), rtol=1e-4, atol=1e-6
    )
    assert_allclose(
        np.reshape(layer.cell.tau, size), np.broadcast_to(want, size), rtol=1e-7
    )
    clone = type(layer).from_config(layer.get_config())
    assert_allclose(clone(x), out, rtol=1e-6)


class TestOriginalLayout:
    """Weights in the original library's order and shapes (issue 8)."""

    @pytest.mark.parametrize(
        "name, size, shape",
        [
            ("Lowpass", (3,), (1, 3)),
            ("Lowpass", (2, 3), (1, 2, 3)),
            ("Alpha", (3,), (3,)),
            ("Alpha", (2, 3), (6,)),
        ],
    )
    def test_order_and_shapes(self, name, size, shape):
        layer = getattr(keras_spiking, name)(0.1)
        layer(np.ones((1, 2, *size), np.float32))
        assert [w.name for w in layer.weights] == ["initial_level", "tau"]
        assert [tuple(w.shape) for w in layer.weights] == [shape, shape]
        cell = getattr(keras_spiking, f"{name}Cell")(size, 0.1)
        cell.build((1, *size))
        assert [w.name for w in cell.weights] == ["initial_level", "tau"]
        assert [tuple(w.shape) for w in cell.weights] == [shape, shape]

    @pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
    @pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
    def test_trainable_false_freezes_filter(self, name):
        inp = keras.Input((None, 3))
        layer = getattr(keras_spiking, name)(0.1, trainable=False)
        model = keras.Model(inp, layer(inp))
        assert model.trainable_weights == []
        assert len(model.non_trainable_weights) == 2
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(1.0))
        x = RNG.uniform(size=(8, 5, 3)).astype(np.float32)
        model.fit(x, x + 1, epochs=2, verbose=0)
        assert_allclose(np.ravel(to_numpy(layer.cell.tau)), 0.1, rtol=1e-7)

        # a trainable filter in the same setting does move
        trained = getattr(keras_spiking, name)(0.1)
        model = keras.Model(inp, trained(inp))
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(1.0))
        model.fit(x, x + 1, epochs=2, verbose=0)
        assert not np.allclose(np.ravel(to_numpy(trained.cell.tau)), 0.1)

    def test_set_weights_from_original_weight_lists(self):
        """A model's get_weights list in the original's order and shapes loads."""
        inp = keras.Input((None, 2, 3))
        x = keras_spiking.Lowpass(0.1)(inp)
        model = keras.Model(inp, keras_spiking.Alpha(0.1)(x))
        original = [
            np.full((1, 2, 3), 0.5, np.float32),  # lowpass initial_level
            np.full((1, 2, 3), 0.02, np.float32),  # lowpass tau
            np.full((6,), -0.5, np.float32),  # alpha initial_level
            np.full((6,), 0.03, np.float32),  # alpha tau
        ]
        model.set_weights(original)
        for got, want in zip(model.get_weights(), original, strict=True):
            assert_array_equal(got, want)

    def test_legacy_h5_weights_from_original(self, tmp_path):
        """An .h5 file in the layout KerasSpiking 0.3.0's ``save_weights`` wrote."""
        h5py = pytest.importorskip("h5py")
        rng = np.random.default_rng(3)
        weights = {
            "time_distributed": [
                ("time_distributed/kernel:0", rng.uniform(-1, 1, (4, 6)).astype("f4")),
                ("time_distributed/bias:0", rng.uniform(0, 1, (6,)).astype("f4")),
            ],
            "lowpass": [
                ("lowpass/lowpass_cell/initial_level:0", np.zeros((1, 6), "f4")),
                ("lowpass/lowpass_cell/tau:0", np.full((1, 6), 0.02, "f4")),
            ],
            "alpha": [
                ("alpha/alpha_cell/initial_level:0", np.zeros((6,), "f4")),
                ("alpha/alpha_cell/tau:0", rng.uniform(0.01, 0.05, (6,)).astype("f4")),
            ],
            "lowpass_1": [
                (
                    "lowpass_1/lowpass_cell_1/initial_level:0",
                    rng.uniform(-1, 1, (1, 6)).astype("f4"),
                ),
                ("lowpass_1/lowpass_cell_1/tau:0", np.full((1, 6), 0.05, "f4")),
            ],
        }
        names = [
            "input_1",
            "time_distributed",
            "spiking_activation",
            "lowpass",
            "reshape",
            "alpha",
            "reshape_1",
            "lowpass_1",
        ]
        path = tmp_path / "weights.h5"
        with h5py.File(path, "w") as f:
            f.attrs["layer_names"] = [n.encode() for n in names]
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.11.0"
            for name in names:
                group = f.create_group(name)
                entries = weights.get(name, [])
                group.attrs["weight_names"] = [n.encode() for n, _ in entries]
                for weight_name, value in entries:
                    group.create_dataset(weight_name, data=value)

        inp = keras.Input((None, 4))
        x = keras.layers.TimeDistributed(keras.layers.Dense(6))(inp)
        x = keras_spiking.SpikingActivation("relu", seed=0, dt=0.01)(x)
        x = keras_spiking.Lowpass(0.1, dt=0.01)(x)
        x = keras.layers.Reshape((-1, 2, 3))(x)
        x = keras_spiking.Alpha(0.1, dt=0.01)(x)
        x = keras.layers.Reshape((-1, 6))(x)
        out = keras_spiking.Lowpass(0.1, dt=0.01)(x)
        model = keras.Model(inp, out)
        model.load_weights(path)

        data = rng.uniform(-1, 5, (2, 30, 4)).astype(np.float32)
        kernel, bias = (w for _, w in weights["time_distributed"])
        dense = data @ kernel + bias
        spikes, _ = numpy_spikes(dense, initial_voltage(2, (6,), 0), 0.01)
        want = numpy_lowpass(spikes.astype(np.float64), 0.02, 0.01)
        want = numpy_alpha(want, weights["alpha"][1][1].astype(np.float64), 0.01)
        level = weights["lowpass_1"][0][1].astype(np.float64)
        want = numpy_lowpass(want, 0.05, 0.01, level)
        assert_allclose(model.predict(data, verbose=0), want, rtol=2e-4, atol=2e-4)


class TestMasking:
    """A masked step outputs 0 and leaves every state unchanged."""

    @pytest.mark.parametrize("time_major", [False, True])
    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_masked_steps(self, name, time_major):
        x = RNG.uniform(200, 900, size=(2, 12, 3)).astype(np.float32)
        mask = np.ones((2, 12), bool)
        mask[0, 8:] = False  # padding at the end
        mask[1, 3:5] = False  # a gap in the middle
        layer = make_layer(name, return_state=True, time_major=time_major)
        x_in = np.swapaxes(x, 0, 1) if time_major else x
        mask_in = mask.T if time_major else mask
        out, *states = layer(x_in, mask=mask_in)
        out = keras.ops.convert_to_numpy(out)
        if time_major:
            out = np.swapaxes(out, 0, 1)

        # the reference: run the unmasked steps only, with zeros for masked steps
        v0 = initial_voltage(2, (3,), 1)
        for b in range(2):
            kept = x[b : b + 1, mask[b]]
            if name == "SpikingActivation":
                want, voltage = numpy_spikes(kept, v0[b : b + 1], 0.001)
                want_states = [voltage]
            else:
                want, want_states = expected_output(name, kept)
            assert_allclose(out[b, mask[b]], want[0], rtol=1e-5, atol=1e-5)
            assert np.all(out[b, ~mask[b]] == 0)
            for state, want_state in zip(states, want_states, strict=True):
                assert_allclose(
                    keras.ops.convert_to_numpy(state)[b],
                    want_state[0],
                    rtol=1e-5,
                    atol=1e-5,
                )

    def test_masking_layer_and_mask_propagation(self):
        x = RNG.uniform(200, 900, size=(2, 10, 3)).astype(np.float32)
        x[0, 6:] = 0.0
        inp = keras.Input((None, 3))
        masked = keras.layers.Masking(0.0)(inp)
        spikes = keras_spiking.SpikingActivation("relu", seed=1, dt=0.01)(masked)
        filtered = keras_spiking.Lowpass(0.05, dt=0.01)(spikes)
        model = keras.Model(inp, [spikes, filtered])
        spikes, filtered = model.predict(x, verbose=0)
        assert np.all(spikes[0, 6:] == 0) and np.all(filtered[0, 6:] == 0)
        assert np.any(spikes[0, :6] != 0) and np.all(filtered[0, :6] != 0)
        assert np.any(spikes[1, 6:] != 0)

    def test_layers_declare_mask_support(self):
        for name in ALL_LAYERS:
            layer = make_layer(name)
            assert layer.supports_masking
            mask = np.ones((2, 4), bool)
            assert layer.compute_mask(None, mask) is mask
            assert (
                make_layer(name, return_sequences=False).compute_mask(None, mask)
                is None
            )


class TestDtVariable:
    """A ``dt`` variable may hold anything until used, and is built anywhere."""

    def test_variable_holding_zero_is_accepted(self):
        dt = keras.Variable(0.0, trainable=False)
        layer = keras_spiking.SpikingActivation("relu", dt=dt)
        inp = keras.Input((None, 3))
        model = keras.Model(inp, keras_spiking.Alpha(0.1, dt=dt)(layer(inp)))
        dt.assign(0.01)
        assert model.predict(np.ones((1, 4, 3)), verbose=0).shape == (1, 4, 3)

    @pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), 1e-45])
    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_bad_value_gives_nan_output(self, name, value):
        dt = keras.Variable(0.01, trainable=False)
        layer = make_layer(name, dt=dt)
        x = np.ones((1, 4, 3), np.float32)
        assert np.all(np.isfinite(to_numpy(layer(x))))
        dt.assign(value)
        assert np.all(np.isnan(to_numpy(layer(x))))

    @pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_built_in_sequential_without_input(self, name):
        dt = keras.Variable(0.01, trainable=False)
        model = keras.Sequential([make_layer(name, dt=dt)])
        model.compile(loss="mse", optimizer="sgd")
        x = RNG.uniform(size=(4, 3, 2)).astype(np.float32)
        model.fit(x, x, epochs=1, verbose=0)
        assert model.predict(x, verbose=0).shape == (4, 3, 2)
        # built once: one cell, whose weights are the model's
        assert len(model.weights) == (0 if name == "SpikingActivation" else 2)

    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_built_in_subclassed_model(self, name):
        dt = keras.Variable(0.01, trainable=False)

        class Model(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(2)
                self.spiking = make_layer(name, dt=dt)

            def call(self, x):
                return self.spiking(self.dense(x))

        model = Model()
        model.compile(loss="mse", optimizer="sgd")
        x = RNG.uniform(size=(4, 3, 2)).astype(np.float32)
        model.fit(x, x, epochs=1, verbose=0)
        assert model.predict(x, verbose=0).shape == (4, 3, 2)

    @tensorflow_only
    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_first_call_inside_tf_function(self, name):
        import tensorflow as tf

        dt = keras.Variable(0.01, trainable=False)
        layer = make_layer(name, dt=dt)
        x = RNG.uniform(0, 500, size=(2, 5, 3)).astype(np.float32)
        traced = tf.function(layer)(x)
        assert_allclose(traced, layer(x), rtol=1e-6)

    def test_shared_variable_survives_save_and_load(self, tmp_path):
        dt = keras.Variable(0.002, trainable=False)
        inp = keras.Input((None, 3))
        x = keras_spiking.SpikingActivation("relu", dt=dt, seed=0)(inp)
        x = keras_spiking.Alpha(0.01, dt=dt)(x)
        model = keras.Model(inp, keras_spiking.Lowpass(0.01, dt=dt)(x))
        data = RNG.uniform(0, 400, size=(2, 9, 3)).astype(np.float32)
        want = model.predict(data, verbose=0)
        model.save(tmp_path / "m.keras")

        loaded = keras.models.load_model(tmp_path / "m.keras")
        assert_array_equal(loaded.predict(data, verbose=0), want)
        shared = loaded.layers[1].dt
        assert layers.is_variable(shared) and not shared.trainable
        assert all(layer.dt is shared for layer in loaded.layers[1:])
        assert all(layer.cell.dt is shared for layer in loaded.layers[1:])
        # one assignment changes every layer, as before saving
        dt.assign(0.004)
        shared.assign(0.004)
        assert_array_equal(
            loaded.predict(data, verbose=0), model.predict(data, verbose=0)
        )

    def test_float_dt_config_stays_a_float(self):
        layer = keras_spiking.Lowpass(0.1, dt=0.002)
        assert layer.get_config()["dt"] == 0.002


class TestDtypes:
    """Inputs and outputs follow the dtype policy; the cell computes in float32."""

    @pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
    def test_mixed_precision_keeps_float32_spikes(self, policy):
        x = RNG.uniform(0, 40, size=(2, 400, 8)).astype(np.float32)
        x[:, :, 0] = 0.5  # a neuron at 0.5 Hz
        x[:, :, 1] = 1.0
        v0 = initial_voltage(2, (8,), 1)
        keras.config.set_dtype_policy(policy)
        dt = 0.001
        # the input in the policy's dtype, as the previous layer would give it
        rounded = keras.ops.convert_to_numpy(
            keras.ops.cast(keras.ops.cast(x, policy[6:]), "float32")
        )
        want, _ = numpy_spikes(rounded, v0, dt)
        layer = make_layer("SpikingActivation", dt=dt)
        out = layer(x)
        assert keras.backend.standardize_dtype(out.dtype) == policy[6:]
        out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
        # the float32 spikes, cast to the output dtype: height 1000, not 999.5
        want = keras.ops.convert_to_numpy(
            keras.ops.cast(keras.ops.cast(want, policy[6:]), "float32")
        )
        assert_array_equal(out, want)
        assert set(np.unique(out)) == {0, 1000}

    def test_mixed_precision_filters_keep_float32_state(self):
        x = RNG.uniform(size=(2, 300, 4)).astype(np.float32)
        keras.config.set_dtype_policy("mixed_float16")
        layer = keras_spiking.Lowpass(0.1, return_state=True)
        out, state = layer(x)
        assert keras.backend.standardize_dtype(state.dtype) == "float32"
        rounded = x.astype(np.float16).astype(np.float64)
        want, [want_state] = numpy_lowpass_states(rounded, 0.1, 0.001)
        # float32 accuracy (float16 state would be off by ~1e-3)
        assert_allclose(state, want_state, rtol=1e-4)
        assert_allclose(
            keras.ops.convert_to_numpy(out).astype(np.float64),
            want,
            rtol=1e-3,
            atol=1e-6,
        )

    def test_float16_spike_height_error(self):
        keras.config.set_dtype_policy("mixed_float16")
        layer = keras_spiking.SpikingActivation("relu", dt=1e-5)
        with pytest.raises(ValueError, match=r"1/dt.*float16.*dt >= 1\.5"):
            layer(np.ones((1, 2, 3), np.float32))

    @pytest.mark.skipif(FLOAT64 is None, reason="JAX without x64 has no float64")
    def test_float64_end_to_end(self):
        keras.config.set_dtype_policy("float64")
        x = RNG.uniform(0, 300, size=(2, 20, 3))
        layer = keras_spiking.Lowpass(0.01, return_state=True)
        # a tensor: PyTorch would turn a float64 numpy array into float32
        out, state = layer(keras.ops.convert_to_tensor(x, "float64"))
        assert keras.backend.standardize_dtype(out.dtype) == "float64"
        assert keras.backend.standardize_dtype(state.dtype) == "float64"
        assert_allclose(out, numpy_lowpass(x, 0.01, 0.001), rtol=1e-12)
        spikes = make_layer("SpikingActivation")(x)
        assert keras.backend.standardize_dtype(spikes.dtype) == "float64"

    @pytest.mark.parametrize("dtype", ["int32", "bool"])
    @pytest.mark.parametrize("name", ALL_LAYERS)
    def test_integer_and_bool_inputs_are_cast(self, name, dtype):
        x = RNG.integers(0, 2, size=(2, 6, 3)).astype(dtype)
        out = make_layer(name)(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert_allclose(out, make_layer(name)(x.astype(np.float32)), rtol=1e-6)


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("name", ALL_LAYERS)
def test_zero_time_steps(name, step_loop):
    layer = make_layer(name, return_state=True, step_loop=step_loop)
    out, *states = layer(np.zeros((2, 0, 3), np.float32))
    assert tuple(out.shape) == (2, 0, 3)
    initial = layer.cell.get_initial_state(batch_size=2)
    for state, want in zip(states, initial, strict=True):
        assert_array_equal(state, want)
    with pytest.raises(ValueError, match="0 time steps"):
        make_layer(name, return_sequences=False)(np.zeros((2, 0, 3), np.float32))


@pytest.mark.parametrize("step_loop", [False, True])
@pytest.mark.parametrize("name", ALL_LAYERS)
def test_stateful_on_every_backend(name, step_loop):
    """Stateful layers carry their state across eager calls and predict calls."""
    x = RNG.uniform(0, 300, size=(2, 12, 3)).astype(np.float32)
    want, _ = expected_output(name, x)
    layer = make_layer(name, stateful=True, step_loop=step_loop)
    eager = np.concatenate(to_numpy([layer(x[:, :6]), layer(x[:, 6:])]), axis=1)
    assert_allclose(eager, want, rtol=RTOL[name], atol=1e-6)

    inp = keras.Input((None, 3), batch_size=2)
    layer = make_layer(name, stateful=True, step_loop=step_loop)
    model = keras.Model(inp, layer(inp))
    predicted = np.concatenate(
        [model.predict(x[:, :6], verbose=0), model.predict(x[:, 6:], verbose=0)],
        axis=1,
    )
    assert_allclose(predicted, want, rtol=RTOL[name], atol=1e-6)


def test_shared_dt_variable_model_saves_and_exports(tmp_path):
    dt = keras.Variable(0.002)
    inp = keras.Input((None, 3))
    x = keras_spiking.SpikingActivation("relu", dt=dt, seed=0)(inp)
    model = keras.Model(inp, keras_spiking.Lowpass(0.01, dt=dt)(x))
    data = RNG.uniform(0, 400, size=(2, 9, 3)).astype(np.float32)
    want = model.predict(data, verbose=0)
    model.save(tmp_path / "m.keras")
    assert_array_equal(
        keras.models.load_model(tmp_path / "m.keras").predict(data, verbose=0), want
    )
    if BACKEND != "tensorflow":
        return
    import tensorflow as tf

    model.export(tmp_path / "exported", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    assert_allclose(served.serve(data), want, rtol=1e-6)
    longer = RNG.uniform(0, 400, size=(2, 17, 3)).astype(np.float32)
    assert_allclose(served.serve(longer), model.predict(longer, verbose=0), rtol=1e-6)


class TestErrors:
    def test_missing_time_axis(self):
        with pytest.raises(ValueError, match="time axis"):
            keras_spiking.SpikingActivation("relu")(np.ones((2, 3), np.float32))

    @pytest.mark.parametrize("dt", [0, -0.1, float("nan"), float("inf"), 1e-300, 1e39])
    def test_bad_dt(self, dt):
        with pytest.raises(ValueError, match="`dt` must be a number of seconds from"):
            keras_spiking.Lowpass(0.1, dt=dt)
        with pytest.raises(ValueError, match="`dt`"):
            keras_spiking.SpikingActivationCell(3, "relu", dt=dt)

    @pytest.mark.parametrize("dt", [True, "0.1", [0.1]])
    def test_dt_of_wrong_type(self, dt):
        with pytest.raises(TypeError, match="`dt` must be a number"):
            keras_spiking.SpikingActivation("relu", dt=dt)

    def test_vector_dt_variable(self):
        with pytest.raises(ValueError, match="one floating-point number"):
            keras_spiking.Lowpass(0.1, dt=keras.Variable([0.1, 0.2]))

    @pytest.mark.parametrize("tau", [0, -0.01, float("nan"), [0.1, -0.1]])
    def test_bad_tau(self, tau):
        with pytest.raises(ValueError, match="`tau` must hold positive"):
            keras_spiking.Alpha(tau)
        with pytest.raises(ValueError, match="`tau`"):
            keras_spiking.LowpassCell(3, tau)

    def test_bool_tau(self):
        with pytest.raises(TypeError, match="`tau`"):
            keras_spiking.Lowpass(True)

    @pytest.mark.parametrize("value", [-1.0, 0.0, float("nan")])
    @pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
    def test_bad_tau_from_initializer(self, name, value):
        layer = getattr(keras_spiking, name)(keras.initializers.Constant(value))
        with pytest.raises(ValueError, match="positive and finite"):
            layer(np.ones((1, 2, 3), np.float32))

    def test_tau_shape_mismatch(self):
        with pytest.raises(ValueError, match=r"does not fit the per-step shape \(3,\)"):
            keras_spiking.Lowpass([0.1, 0.2, 0.3, 0.4])(np.ones((1, 2, 3), np.float32))

    def test_tau_given_twice_or_never(self):
        with pytest.raises(ValueError, match="exactly once"):
            keras_spiking.Lowpass(0.1, tau_initializer=0.2)
        with pytest.raises(ValueError, match="exactly once"):
            keras_spiking.LowpassCell(3)

    def test_unknown_activation(self):
        with pytest.raises(ValueError, match="Unknown `activation`: 'rellu'"):
            keras_spiking.SpikingActivation("rellu")

    def test_numpy_integer_seed_works(self):
        x = np.ones((1, 3, 4), np.float32)
        a = keras_spiking.SpikingActivation("relu", seed=np.int64(3), return_state=True)
        b = keras_spiking.SpikingActivation("relu", seed=3, return_state=True)
        assert_array_equal(a(x)[1], b(x)[1])
        assert a.get_config()["seed"] == 3

    @pytest.mark.parametrize(
        "seed, error",
        [(1.5, TypeError), ("abc", TypeError), (True, TypeError), (2**63, ValueError)],
    )
    def test_bad_seed(self, seed, error):
        with pytest.raises(error, match="`seed`"):
            keras_spiking.SpikingActivation("relu", seed=seed)
        with pytest.raises(error, match="`seed`"):
            keras_spiking.SpikingActivationCell(3, "relu", seed=seed)

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

    @pytest.mark.parametrize("size", [(3, 0), 2.5, "abc", (2.0, 3)])
    def test_bad_size(self, size):
        with pytest.raises(ValueError, match="`size` must be"):
            keras_spiking.SpikingActivationCell(size, "relu")

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
    assert_allclose(
        unrolled.predict(x, verbose=0),
        make_layer(name, step_loop=True)(x),
        rtol=RTOL[name],
        atol=1e-6,
    )


DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize("saved_on", ["tensorflow", "jax", "torch"])
def test_saved_on_one_backend_loads_on_another(saved_on):
    """A ``.keras`` file written on each backend (by ``data/make_saved_models.py``)
    loads on this one, with the outputs that follow from its weights."""
    loaded = keras.models.load_model(DATA / f"saved-on-{saved_on}.keras")
    x = RNG.uniform(0, 60, size=(2, 40, 3)).astype(np.float32)
    dense = x.sum(axis=-1, keepdims=True).repeat(3, axis=-1)
    spikes, _ = numpy_spikes(dense, initial_voltage(2, (3,), 4), 0.01)
    taus = np.array([0.02, 0.03, 0.05])
    want = numpy_lowpass(
        numpy_alpha(spikes.astype(np.float64), taus, 0.01), 0.05, 0.01, 0.5
    )
    assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-4, atol=1e-3)
