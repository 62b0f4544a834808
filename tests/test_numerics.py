"""The numerics at their edges: spike totals across the blocks of the whole-sequence
form, NaNs, extreme rates and time constants, empty batches, activations that read
variables or draw random numbers, and layers under compilers.

Expectations come from numpy re-derivations of BEHAVIOUR.md (the spiking step in
float32, sums in float64) and from analytic results (the filters' step responses).
"""

import math

import keras
import numpy as np
import pytest
from conftest import BACKEND, gradients
from keras import ops

import keras_spiking
from keras_spiking import sequence
from keras_spiking.functional import alpha_coefficients, lowpass_coefficients
from keras_spiking.functional.spiking import spike_increment
from keras_spiking.sequence import BLOCK, spiking_sequence

FORMS = ["blocks"]
if sequence.time_loop_kernels() is not None:
    FORMS.append("time loop")


@pytest.fixture(params=FORMS)
def form(request):
    """The whole-sequence forms this backend has: the blocked ``keras.ops`` form,
    and the compiled time loops where the backend has them."""
    with sequence.use_kernels(request.param != "blocks"):
        yield request.param


def step_loop(increments, voltage):
    """The cell's steps in float32 numpy: counts, final voltage, and the voltage
    before each floor."""
    v = np.asarray(voltage, "float32").copy()
    counts = np.empty_like(increments)
    before = np.empty_like(increments)
    for t in range(increments.shape[0]):
        v = v + increments[t]
        before[t] = v
        counts[t] = np.floor(v)
        v = v - counts[t]
    return counts, v, before


def rounding_bound(steps):
    """How far the float32 step loop's voltage can be from the exact sum after
    ``steps`` steps: half an ulp of a voltage below 2, ``2**-24``, per step."""
    return steps * 2.0**-24


def distance_to_whole(x):
    return np.abs(x - np.round(x))


def counts_of(spikes, dt):
    return np.round(ops.convert_to_numpy(spikes).astype("float64") * np.float32(dt))


def assert_moves_only_at_near_ties(counts, reference, before, near_tie):
    """Each spike that differs from the step loop's is moved, by one spike, to
    steps where the step loop's voltage is within ``near_tie`` of a whole number
    (one step, or several where the voltage stays there: a silence after it)."""
    running = np.cumsum(counts - reference, axis=0)
    assert np.all(np.abs(running) <= 1), "a spike lost or emitted twice"
    moved = running != 0
    if moved.any():
        assert distance_to_whole(before[moved]).max() < near_tie


def assert_totals_rule(counts, reference, before, near_tie):
    """Per-neuron totals equal the step loop's, or differ by one where the step loop
    is at a near-tie on the last step."""
    difference = counts.sum(axis=0) - reference.sum(axis=0)
    assert np.all(np.abs(difference) <= 1)
    at_tie = distance_to_whole(before[-1]) < near_tie
    assert np.all((difference == 0) | at_tie), (
        f"totals differ by one away from a near-tie: {np.argwhere(difference != 0)}"
    )


DT = 0.001
# The rates people use, and rates with ``rate * dt = 1 / k``.
ROUND_RATES = [10, 12.5, 20, 25, 50, 100] + [
    1 / (k * DT) for k in (2, 3, 7, 9, 11, 13, 30, 64, 128, 256)
]


@pytest.mark.parametrize("start", ["zero", "random"])
@pytest.mark.parametrize("dt", [DT, 0.0002])
def test_spike_totals_equal_the_step_loop_at_round_rates(form, start, dt):
    steps = 10_000
    rates = np.array(ROUND_RATES, "float32") * np.float32(DT / dt)
    rates = np.broadcast_to(rates, (steps, 2, len(rates))).copy()
    voltage = np.zeros(rates.shape[1:], "float32")
    if start == "random":
        voltage = np.random.default_rng(0).uniform(0, 1, voltage.shape)
        voltage = voltage.astype("float32")
    increments = rates * np.float32(dt)
    reference, _, before = step_loop(increments, voltage)

    spikes, _ = spiking_sequence(rates, voltage, np.float32(dt))
    counts = counts_of(spikes, dt)
    if form == "time loop":
        np.testing.assert_array_equal(counts, reference)
        return
    near_tie = rounding_bound(steps)
    assert_totals_rule(counts, reference, before, near_tie)
    assert_moves_only_at_near_ties(counts, reference, before, near_tie)
    assert np.all(counts >= 0)
    # Against the exact sums: the blocks' totals are their whole part, but where a
    # last block's own float32 steps are within their rounding of a whole number.
    exact = voltage + np.sum(increments, axis=0, dtype="float64")
    ties = distance_to_whole(exact) < rounding_bound(BLOCK)
    assert np.all((counts.sum(axis=0) == np.floor(exact)) | ties)


def stimulus_then_silence(steps, neurons):
    """Round rates that stop (and for some neurons start again) at and around
    block boundaries, where a spike carried across a boundary meets steps that
    cannot take it."""
    rates = np.zeros((steps, 1, neurons), "float32")
    rng = np.random.default_rng(1)
    for i in range(neurons):
        rate = (10, 12.5, 20, 25)[i % 4]
        stop = BLOCK * rng.integers(2, 8) + (i % 5) - 2
        rates[:stop, 0, i] = rate
        if i % 3 == 0:
            rates[stop + BLOCK * (1 + i % 2) + 7 :, 0, i] = rate
    return rates


CASES = {
    "random 0-1000 Hz": lambda rng: rng.uniform(0, 1000, (10_000, 2, 32)),
    "-3 to 5 spikes a step": lambda rng: rng.uniform(-3000, 5000, (10_000, 2, 32)),
    "sparse": lambda rng: (
        rng.uniform(0, 300, (10_000, 2, 32)) * (rng.uniform(size=(10_000, 2, 32)) < 0.3)
    ),
    "stimulus then silence": lambda rng: stimulus_then_silence(2_000, 64),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_spike_is_lost_or_emitted_twice(form, case):
    """Every spike of the exact sums is emitted once: per neuron, the spike total
    and the final voltage make up the initial voltage and the sum of the
    increments; no step emits a spike against the sign of its own increment."""
    rng = np.random.default_rng(2)
    rates = np.asarray(CASES[case](rng), "float32")
    voltage = rng.uniform(0, 1, rates.shape[1:]).astype("float32")
    increments = rates * np.float32(DT)
    reference, _, before = step_loop(increments, voltage)

    spikes, voltage_out = spiking_sequence(rates, voltage, np.float32(DT))
    counts = counts_of(spikes, DT)
    voltage_out = ops.convert_to_numpy(voltage_out).astype("float64")
    exact = voltage + np.sum(increments, axis=0, dtype="float64")
    # (the float32 step loop's voltage is itself this far from the exact sum)
    np.testing.assert_allclose(
        counts.sum(axis=0) + voltage_out, exact, rtol=0, atol=1e-3
    )
    assert np.all(voltage_out >= 0) and np.all(voltage_out < 1)
    assert np.all(counts * np.sign(increments) >= 0)
    assert np.all(counts[increments == 0] == 0)
    near_tie = rounding_bound(len(rates))
    assert_totals_rule(counts, reference, before, near_tie)
    assert_moves_only_at_near_ties(counts, reference, before, near_tie)


@pytest.mark.parametrize("nan_step", [BLOCK - 1, BLOCK, 150, 2 * BLOCK])
def test_steps_before_a_nan_are_untouched(form, nan_step):
    rng = np.random.default_rng(3)
    rates = rng.uniform(0, 300, (3 * BLOCK + 40, 2, 3)).astype("float32")
    voltage = rng.uniform(0, 1, (2, 3)).astype("float32")
    poisoned = rates.copy()
    poisoned[nan_step, 0, 1] = np.nan

    clean, _ = spiking_sequence(rates, voltage, DT)
    spikes, voltage_out = spiking_sequence(poisoned, voltage, DT)
    before_nan, _ = spiking_sequence(rates[:nan_step], voltage, DT)
    clean, spikes = ops.convert_to_numpy(clean), ops.convert_to_numpy(spikes)
    # Every step before the NaN is as without it, and as if the run ended there.
    np.testing.assert_array_equal(spikes[:nan_step], clean[:nan_step])
    np.testing.assert_array_equal(spikes[:nan_step], ops.convert_to_numpy(before_nan))
    # The NaN stays in its own neuron, from its step on (as in the step loop).
    assert np.all(np.isnan(spikes[nan_step:, 0, 1]))
    others = np.ones((2, 3), bool)
    others[0, 1] = False
    np.testing.assert_array_equal(spikes[:, others], clean[:, others])
    voltage_out = ops.convert_to_numpy(voltage_out)
    assert np.isnan(voltage_out[0, 1]) and np.all(np.isfinite(voltage_out[others]))


def huge_rate_inputs():
    rng = np.random.default_rng(4)
    rates = rng.uniform(0, 300, (3 * BLOCK, 1, 4)).astype("float32")
    rates[200, 0, 0] = 3e38  # the largest float32s
    rates[BLOCK + 5 : BLOCK + 7, 0, 1] = 1e38  # two in one block
    rates[20, 0, 2] = -3e38
    return rates


@pytest.mark.parametrize("step_loop_option", [True, False])
def test_a_huge_finite_rate_leaves_the_voltage_finite(step_loop_option):
    """A rate whose increment float32 holds (but not its fraction) spikes once, and
    the voltage goes on from a value in [0, 1) (the step loop: from 0)."""
    rates = huge_rate_inputs()
    layer = keras_spiking.SpikingActivation(
        None, dt=DT, step_loop=step_loop_option, return_state=True, time_major=True
    )
    voltage = np.zeros((1, 4), "float32")
    spikes, voltage_out = layer(rates, initial_state=[voltage])
    spikes, voltage_out = (
        ops.convert_to_numpy(spikes),
        ops.convert_to_numpy(voltage_out),
    )
    assert np.all(np.isfinite(voltage_out)) and np.all(voltage_out >= 0)
    assert not np.any(np.isnan(spikes))
    reference, _, before = step_loop(rates * np.float32(DT), voltage)
    if step_loop_option or sequence.time_loop_kernels() is not None:
        np.testing.assert_array_equal(spikes, reference / np.float32(DT))
        return
    # The blocks follow the exact sums, which keep the fraction that the float32
    # step drops: after the huge step the counts stay within a spike of them.
    counts = counts_of(spikes, DT)
    for neuron, start in [(0, 201), (1, BLOCK + 7), (2, 21)]:
        after = counts[start:, 0, neuron].sum()
        exact = np.sum(rates[start:, 0, neuron] * np.float32(DT), dtype="float64")
        assert abs(after - exact) <= 2
    np.testing.assert_array_equal(counts[:20], reference[:20])
    assert_moves_only_at_near_ties(
        counts[:, :, 3], reference[:, :, 3], before[:, :, 3], rounding_bound(len(rates))
    )


def exact_alpha_step(n):
    """``1 - exp(-n) * (1 + n)`` in float64, by its series where the difference
    cancels: ``sum((-1)**k * (k - 1) * n**k / k!)`` from ``k = 2``."""
    n = np.asarray(n, "float64")
    series = sum((-1) ** k * (k - 1) * n**k / math.factorial(k) for k in range(2, 16))
    return np.where(n < 0.1, series, 1 - np.exp(-n) * (1 + n))


@pytest.mark.parametrize("ratio", [1e-7, 1e-6, 1e-3, 0.1])
@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
@pytest.mark.parametrize("step_loop_option", [True, False])
def test_filter_step_response_keeps_its_digits_at_small_dt_over_tau(
    name, ratio, step_loop_option
):
    """The first 100 steps of each filter's step response are within float32
    rounding of the exact response, however small ``dt / tau``.

    (``1 - exp(-dt/tau)`` computed as a difference was 1.3 % off at 1e-6, 19 % at
    1e-7; the alpha filter's ``1 - e * (1 + r)`` was off by 4.6 % at 1e-3 and all
    digits below 3e-4.)
    """
    steps = 100
    layer = getattr(keras_spiking, name)(1.0, dt=ratio, step_loop=step_loop_option)
    outputs = ops.convert_to_numpy(layer(np.ones((1, steps, 1), "float32")))[0, :, 0]
    n = np.arange(1, steps + 1) * np.float64(np.float32(ratio))
    exact = -np.expm1(-n) if name == "Lowpass" else exact_alpha_step(n)
    np.testing.assert_allclose(outputs, exact, rtol=1e-5)
    # (a few float32 ulps: XLA may fuse the coefficients' products and sums)
    np.testing.assert_allclose(outputs[0], exact[0], rtol=6e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_filter_input_gains_are_accurate_to_their_dtype(dtype):
    """``b`` of each filter against its float64 value, for ``dt/tau`` from 1e-9 to
    1e3 (the lowpass ``1 - exp(-r)``, the alpha ``1 - exp(-r) * (1 + r)``)."""
    ratios = np.geomspace(1e-9, 1e3, 97)
    tau = ops.convert_to_tensor(np.ones_like(ratios), dtype)
    dt = ops.convert_to_tensor(ratios, dtype)
    if keras.backend.standardize_dtype(dt.dtype) != dtype:
        pytest.skip(f"no {dtype} on this backend (JAX without x64)")
    ratios = ops.convert_to_numpy(dt).astype("float64")
    _, (low,) = lowpass_coefficients(tau, dt)
    _, (_, alpha) = alpha_coefficients(tau, dt)
    # (a few ulps: XLA may fuse the products and sums of the series)
    rtol = {"float32": 6e-7, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(ops.convert_to_numpy(low), -np.expm1(-ratios), rtol=rtol)
    np.testing.assert_allclose(
        ops.convert_to_numpy(alpha), exact_alpha_step(ratios), rtol=rtol
    )


@pytest.mark.parametrize("step_loop_option", [True, False])
def test_filters_pass_the_input_through_when_dt_over_tau_overflows(step_loop_option):
    """``dt / tau`` beyond the largest float32: the exact filters' limit, the input
    itself (``A = 0``, ``b`` all on the output), for both filters."""
    x = np.random.default_rng(5).normal(size=(2, 5, 3)).astype("float32")
    for name in ("Lowpass", "Alpha"):
        layer = getattr(keras_spiking, name)(1e-9, dt=1e31, step_loop=step_loop_option)
        np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)
    a, b = alpha_coefficients(np.float32(1e-8), np.float32(np.inf))
    np.testing.assert_array_equal([[float(e) for e in row] for row in a], [[0, 0]] * 2)
    np.testing.assert_array_equal([float(e) for e in b], [0, 1])


def test_spike_increment_keeps_the_order_of_its_products():
    """``(c * x) * dt`` as written, also compiled (XLA would compute ``x * (c *
    dt)`` for a constant ``c``), where the two orders round differently."""
    c, dt = np.float32(-1e6), np.float32(DT)
    x = (-np.arange(1, 50_000) * 1e-3).astype("float32")
    x = np.concatenate([x, np.nextafter(x, np.float32(0))])
    x = x[np.floor((c * x) * dt) != np.floor(x * (c * dt))][:64]
    assert len(x) == 64

    def increment(x):
        return spike_increment(-1e6 * x, DT)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        increment = tf.function(increment, jit_compile=True)
    elif BACKEND == "jax":
        import jax

        increment = jax.jit(increment)
    result = increment(ops.convert_to_tensor(x))
    np.testing.assert_array_equal(ops.convert_to_numpy(result), (c * x) * dt)


@pytest.mark.parametrize("step_loop_option", [True, False])
def test_activation_reading_a_variable_passes_its_gradient(step_loop_option):
    """An activation that closes over a ``keras.Variable``: the spikes of its rates,
    and its derivative passed straight through."""
    scale = keras.Variable(2.0)
    layer = keras_spiking.SpikingActivation(
        lambda x: scale * x, dt=DT, step_loop=step_loop_option
    )
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 300, (2, 50, 3)).astype("float32")
    weights = rng.normal(size=x.shape).astype("float32")
    voltage = np.zeros((2, 3), "float32")

    def loss(x):
        spikes = layer(x, initial_state=[voltage])
        return ops.sum(spikes * ops.convert_to_tensor(weights))

    (gradient,) = gradients(loss, x)
    np.testing.assert_allclose(gradient, 2 * weights, rtol=1e-6)
    reference, _, _ = step_loop((2 * x * np.float32(DT)).swapaxes(0, 1), voltage)
    spikes = layer(x, initial_state=[voltage])
    np.testing.assert_array_equal(counts_of(spikes, DT).swapaxes(0, 1), reference)


@pytest.mark.parametrize("step_loop_option", [True, False])
def test_activation_drawing_random_numbers_runs_after_another_layer(
    step_loop_option,
):
    """An activation that calls ``keras.random`` (here adding noise of deviation 0)
    works also after another spiking layer has run, eagerly and (where Keras can
    trace it: not with JAX's unseeded draws) in a compiled model."""
    if BACKEND == "jax" and step_loop_option:
        pytest.skip("Keras allows only seeded draws in a traced JAX loop")
    x = np.random.default_rng(7).uniform(0, 300, (2, 40, 3)).astype("float32")
    keras_spiking.SpikingActivation("relu", step_loop=False)(x)

    def noisy(v):
        return v + keras.random.normal(ops.shape(v), stddev=0.0)

    voltage = np.zeros((2, 3), "float32")
    layer = keras_spiking.SpikingActivation(
        noisy, dt=DT, step_loop=step_loop_option, seed=3
    )
    reference, _, _ = step_loop((x * np.float32(DT)).swapaxes(0, 1), voltage)
    spikes = layer(x, initial_state=[voltage])
    np.testing.assert_array_equal(counts_of(spikes, DT).swapaxes(0, 1), reference)
    if BACKEND != "jax":
        inputs = keras.Input((None, 3))
        model = keras.Model(inputs, layer(inputs))
        relu = keras_spiking.SpikingActivation("relu", dt=DT, seed=3)
        np.testing.assert_array_equal(
            model.predict(x, verbose=0), ops.convert_to_numpy(relu(x))
        )


LAYERS = {
    "SpikingActivation": lambda **kw: keras_spiking.SpikingActivation("relu", **kw),
    "Lowpass": lambda **kw: keras_spiking.Lowpass(0.01, **kw),
    "Alpha": lambda **kw: keras_spiking.Alpha(0.01, **kw),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("step_loop_option", [None, True, False])
def test_batch_of_zero_gives_empty_outputs(name, step_loop_option):
    x = np.zeros((0, 7, 2, 3), "float32")
    layer = LAYERS[name](step_loop=step_loop_option, return_state=True)
    outputs, *states = layer(x)
    assert tuple(outputs.shape) == (0, 7, 2, 3)
    assert all(tuple(s.shape) == (0, 2, 3) for s in states)
    last = LAYERS[name](step_loop=step_loop_option, return_sequences=False)(x)
    assert tuple(last.shape) == (0, 2, 3)


def test_models_compiled_with_jit_compile_give_the_eager_outputs():
    """``jit_compile=True`` (XLA; on PyTorch ``torch.compile``, which runs the
    whole-sequence functions as they are rather than unrolling their loops): the
    outputs of the model run without it, and a training step runs."""
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 100, (4, 30, 3)).astype("float32")

    def model(jit_compile):
        inputs = keras.Input((None, 3))
        hidden = keras_spiking.SpikingActivation("relu", seed=1)(inputs)
        hidden = keras_spiking.Alpha(0.01, apply_during_training=True)(hidden)
        outputs = keras_spiking.Lowpass(0.02)(hidden)
        built = keras.Model(inputs, outputs)
        built.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
        return built

    compiled, plain = model(True), model(False)
    compiled.set_weights(plain.get_weights())
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0),
        plain.predict(x, verbose=0),
        rtol=1e-6,
        atol=1e-6,
    )
    losses = [
        m.fit(x, np.zeros_like(x), epochs=1, shuffle=False, verbose=0).history["loss"][
            0
        ]
        for m in (compiled, plain)
    ]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
