"""Tests for keras_spiking.sequence: the whole-sequence forms of the cells' maths.

Expectations come from numpy step loops written from BEHAVIOUR.md: the spiking
step in float32 (the reference the spikes must match), the filters in float64.
Gradients are compared with the backend's autodiff through a plain step loop.
"""

import keras
import numpy as np
import pytest
from conftest import gradients
from keras import ops
from pairwise import pairwise, shape_ids

from keras_spiking import sequence
from keras_spiking.functional._algebra import along_blocks
from keras_spiking.sequence import (
    BLOCK,
    alpha_sequence,
    lowpass_sequence,
    spiking_sequence,
)

FORMS = ["blocks"]
if sequence.time_loop_kernels() is not None:
    FORMS.append("time loop")


@pytest.fixture(autouse=True, params=FORMS)
def form(request):
    """Run each test with every form this backend has: the blocked ``keras.ops``
    form, and the compiled time loops where the backend has them."""
    with sequence.use_kernels(request.param != "blocks"):
        yield request.param


# How close to a whole number the step loop's float32 voltage must be where a
# spike of the whole-sequence form is allowed to differ (the rule).
NEAR_TIE = 1e-5


def spiking_loop(rates, voltage, dt):
    """The cell's step in float32 numpy: counts, final voltage, pre-floor voltages."""
    rates, v, dt = rates.astype("float32"), voltage.astype("float32"), np.float32(dt)
    counts = np.empty_like(rates)
    before = np.empty_like(rates)
    for t in range(rates.shape[0]):
        v = v + rates[t] * dt
        before[t] = v
        counts[t] = np.floor(v)
        v = v - counts[t]
    return counts, v, before


def check_displaced(counts, reference, before):
    """Assert the issue's rule for spikes that differ from the step loop's.

    Each difference is a spike moved by exactly one step (the running difference
    of the spike counts is -1, 0 or 1, and never nonzero two steps in a row), at a
    step where the step loop's voltage is within `NEAR_TIE` of a whole number. A
    running difference left at the last step (per-neuron totals differing by one)
    must also be at such a near-tie. Returns the number of moved spikes.
    """
    running = np.cumsum(counts - reference, axis=0)
    assert np.all(np.abs(running) <= 1), "a spike moved by more than one spike"
    moved = running != 0
    assert not np.any(moved[1:] & moved[:-1]), "a spike moved by more than one step"
    distance = np.abs(before - np.round(before))
    assert np.all(distance[moved] < NEAR_TIE), (
        f"spikes moved where the step loop's voltage is {distance[moved].max()} "
        f"from a whole number"
    )
    return int(moved.sum())


def mod_one_distance(a, b):
    gap = np.asarray(a, "float64") - b
    return np.abs(gap - np.round(gap))


def counts_of(spikes, dt):
    return np.round(ops.convert_to_numpy(spikes) * np.float32(dt))


def random_rates(rng, shape, dt, low=-3, high=5):
    """Rates of ``low`` to ``high`` spikes per step (negative rates included)."""
    return rng.uniform(low / dt, high / dt, shape).astype("float32")


@pytest.mark.parametrize(
    "steps, size, dt",
    # all pairs (12 of the 36 combinations): each size and each dt at each length
    pairwise([1, 7, 100, BLOCK], [(5,), (2, 3), (1,)], [0.001, 0.0137, 0.5]),
    ids=shape_ids,
)
def test_spiking_short_equals_step_loop(size, steps, dt):
    rng = np.random.default_rng(steps)
    rates = random_rates(rng, (steps, 4, *size), dt)
    # Typical firing rates too, and exact zeros (no input at all).
    rates[:, 0] = rng.uniform(0, 200, (steps, *size))
    rates[:, 1] = 0
    voltage = rng.uniform(0, 1, (4, *size)).astype("float32")
    counts, final, _ = spiking_loop(rates, voltage, dt)

    spikes, voltage_out = spiking_sequence(rates, voltage, np.float32(dt))
    assert tuple(spikes.shape) == rates.shape
    np.testing.assert_array_equal(ops.convert_to_numpy(spikes), counts / np.float32(dt))
    np.testing.assert_array_equal(ops.convert_to_numpy(voltage_out), final)


@pytest.mark.parametrize(
    "steps, size, dt, low, high",
    [
        (BLOCK + 1, (3, 5), 0.001, -3, 5),
        (1000, (64,), 0.001, 0, 1),
        (1000, (4, 8), 0.0137, -3, 5),
        (10000, (32,), 0.001, 0, 1),
        (10000, (16,), 0.002, -3, 5),
        (10000, (2, 8), 0.1, 0, 0.3),
    ],
)
def test_spiking_long_moves_only_near_ties(form, steps, size, dt, low, high):
    rng = np.random.default_rng(steps + len(size))
    rates = random_rates(rng, (steps, 2, *size), dt, low, high)
    voltage = rng.uniform(0, 1, (2, *size)).astype("float32")
    counts, final, before = spiking_loop(rates, voltage, dt)

    spikes, voltage_out = spiking_sequence(rates, voltage, np.float32(dt))
    ours = counts_of(spikes, dt)
    moved = check_displaced(ours, counts, before)
    assert moved <= 5e-6 * rates.size + 1
    # The final voltage is as close to the exact (float64) sum as the step loop's,
    # modulo whole numbers (a total can be off by one); the blocks' is closer.
    exact = voltage + np.sum(rates * np.float32(dt), axis=0, dtype="float64")
    ours_error = mod_one_distance(ops.convert_to_numpy(voltage_out), exact)
    if form == "blocks":
        assert ours_error.max() < NEAR_TIE
    assert ours_error.max() <= mod_one_distance(final, exact).max() + 1e-6
    # The spikes are whole numbers over dt.
    np.testing.assert_array_equal(ours / np.float32(dt), ops.convert_to_numpy(spikes))


@pytest.mark.parametrize("dt, low, high", [(0.001, 0, 1), (0.0137, -3, 5)])
def test_time_loop_spikes_exact_at_any_length(form, dt, low, high):
    """The compiled time loops run the cell's float32 steps themselves: their
    spikes and voltage are the step loop's, bit for bit, however long the run."""
    if form != "time loop":
        pytest.skip("only the time loops are exact beyond BLOCK steps")
    rng = np.random.default_rng(11)
    rates = random_rates(rng, (10000, 2, 16), dt, low, high)
    voltage = rng.uniform(0, 1, (2, 16)).astype("float32")
    counts, final, _ = spiking_loop(rates, voltage, dt)
    spikes, voltage_out = spiking_sequence(rates, voltage, np.float32(dt))
    np.testing.assert_array_equal(ops.convert_to_numpy(spikes), counts / np.float32(dt))
    np.testing.assert_array_equal(ops.convert_to_numpy(voltage_out), final)


def test_spiking_checker_rejects_far_moves():
    """The rule's checker fails on a spike moved far from a near-tie."""
    rates = np.full((6, 1), 300.0, dtype="float32")
    counts, _, before = spiking_loop(rates, np.zeros(1, "float32"), 0.001)
    moved = counts.copy()
    moved[[3, 4]] = moved[[4, 3]]
    assert not np.array_equal(moved, counts)
    with pytest.raises(AssertionError):
        check_displaced(moved, counts, before)


def test_spiking_totals_follow_rates():
    """Over a long run, the spike total is ``floor(v0 + dt * sum(r))``."""
    rng = np.random.default_rng(3)
    dt = 0.001
    rates = rng.uniform(0, 100, (5000, 3, 4)).astype("float32")
    voltage = rng.uniform(0, 1, (3, 4)).astype("float32")
    spikes, _ = spiking_sequence(rates, voltage, dt)
    total = voltage + np.sum(rates.astype("float64") * np.float32(dt), axis=0)
    np.testing.assert_array_equal(counts_of(spikes, dt).sum(axis=0), np.floor(total))


def test_spiking_dt_variable():
    """``dt`` may be a variable, read when the function runs."""
    rng = np.random.default_rng(4)
    rates = rng.uniform(0, 500, (300, 2, 3)).astype("float32")
    voltage = rng.uniform(0, 1, (2, 3)).astype("float32")
    dt = keras.Variable(0.001, trainable=False)
    for value in (0.001, 0.004):
        dt.assign(value)
        spikes, _ = spiking_sequence(rates, voltage, dt)
        counts, _, before = spiking_loop(rates, voltage, value)
        check_displaced(counts_of(spikes, value), counts, before)


def test_spiking_activation_batch_major_and_gradient():
    """With an activation and ``time_axis=1``: the spikes of the activation's
    rates, batch-major, and the activation's gradient passed straight through."""
    rng = np.random.default_rng(5)
    dt = np.float32(0.002)
    inputs = rng.uniform(-1500, 2500, (3, 700, 4)).astype("float32")
    voltage = rng.uniform(0, 1, (3, 4)).astype("float32")
    weights = rng.normal(size=inputs.shape).astype("float32")
    rates = np.maximum(inputs, 0).swapaxes(0, 1)
    counts, final, before = spiking_loop(rates, voltage, dt)

    relu = keras.activations.get("relu")
    spikes, voltage_out = spiking_sequence(inputs, voltage, dt, relu, time_axis=1)
    ours = counts_of(spikes, dt).swapaxes(0, 1)
    check_displaced(ours, counts, before)
    assert mod_one_distance(ops.convert_to_numpy(voltage_out), final).max() < 1e-4

    def loss(x):
        spikes, _ = spiking_sequence(x, voltage, dt, relu, time_axis=1)
        return ops.sum(spikes * ops.convert_to_tensor(weights))

    (gradient,) = gradients(loss, inputs)
    np.testing.assert_array_equal(gradient, weights * (inputs > 0))


def lowpass_loop(inputs, state, decay):
    y, outputs = state.astype("float64"), []
    for x in inputs.astype("float64"):
        y = (1 - decay) * x + decay * y
        outputs.append(y)
    return np.reshape(outputs, inputs.shape), y


def alpha_coefficients(tau, dt):
    """``Ad`` and ``Bd`` of BEHAVIOUR.md, float64."""
    r = dt / tau
    e = np.exp(-r)
    ad = ((e * (1 - r), -e * r / tau), (e * dt, e * (1 + r)))
    return ad, (e * r / tau, 1 - e * (1 + r))


def alpha_loop(inputs, states, ad, bd):
    z, y = (s.astype("float64") for s in states)
    outputs = []
    for x in inputs.astype("float64"):
        z, y = (
            ad[0][0] * z + ad[0][1] * y + bd[0] * x,
            ad[1][0] * z + ad[1][1] * y + bd[1] * x,
        )
        outputs.append(y)
    return np.reshape(outputs, inputs.shape), [z, y]


def as32(nested):
    if isinstance(nested, tuple):
        return tuple(as32(x) for x in nested)
    return np.asarray(nested, dtype="float32")


def assert_close(actual, expected):
    """rtol 1e-5, with an absolute floor of 1e-5 of the largest value."""
    actual, expected = ops.convert_to_numpy(actual), np.asarray(expected)
    scale = np.abs(expected).max() if expected.size else 0
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("size", [(5,), (2, 3)])
@pytest.mark.parametrize("steps", [1, 50, BLOCK, BLOCK + 1, 1000])
def test_filters_match_float64(size, steps):
    rng = np.random.default_rng(steps)
    inputs = rng.normal(size=(steps, 3, *size)).astype("float32")
    state = rng.normal(size=(3, *size)).astype("float32")
    tau = rng.uniform(0.002, 0.1, (1, *size))
    dt = 0.001

    decay = np.exp(-dt / tau)
    outputs, final = lowpass_sequence(inputs, state, as32(decay))
    expected, expected_final = lowpass_loop(inputs, state, as32(decay))
    assert_close(outputs, expected)
    assert_close(final, expected_final)

    ad, bd = alpha_coefficients(tau, dt)
    z = rng.normal(size=(3, *size)).astype("float32") / tau.astype("float32")
    outputs, finals = alpha_sequence(inputs, [z, state], as32(ad), as32(bd))
    expected, expected_finals = alpha_loop(inputs, [z, state], as32(ad), as32(bd))
    assert_close(outputs, expected)
    for actual, wanted in zip(finals, expected_finals, strict=True):
        assert_close(actual, wanted)


def test_filters_scalar_coefficients():
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(300, 2, 4)).astype("float32")
    state = rng.normal(size=(2, 4)).astype("float32")
    outputs, final = lowpass_sequence(inputs, state, np.float32(0.9))
    expected, expected_final = lowpass_loop(inputs, state, np.float32(0.9))
    assert_close(outputs, expected)
    assert_close(final, expected_final)


def test_lowpass_impulse_response():
    """A unit impulse gives ``(1 - a) * a**t``, which sums to 1."""
    decay = np.float32(np.exp(-0.001 / 0.02))
    inputs = np.zeros((2000, 1, 1), "float32")
    inputs[0] = 1
    outputs, _ = lowpass_sequence(inputs, np.zeros((1, 1), "float32"), decay)
    outputs = ops.convert_to_numpy(outputs).ravel()
    expected = (1 - np.float64(decay)) * np.float64(decay) ** np.arange(2000)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(outputs.sum(), 1, rtol=1e-4)


def test_chunks_continue_seamlessly():
    """A sequence cut in two continues from the first part's final states."""
    rng = np.random.default_rng(6)
    rates = rng.uniform(0, 300, (500, 2, 3)).astype("float32")
    voltage = rng.uniform(0, 1, (2, 3)).astype("float32")
    whole, _ = spiking_sequence(rates, voltage, 0.001)
    first, middle = spiking_sequence(rates[:100], voltage, 0.001)
    second, _ = spiking_sequence(rates[100:], middle, 0.001)
    counts, _, before = spiking_loop(rates, voltage, 0.001)
    np.testing.assert_array_equal(counts_of(first, 0.001), counts[:100])
    check_displaced(counts_of(ops.concatenate([first, second]), 0.001), counts, before)
    check_displaced(counts_of(whole, 0.001), counts, before)

    inputs = rng.normal(size=(500, 2, 3)).astype("float32")
    ad, bd = as32(alpha_coefficients(0.01, 0.001))
    states = [np.zeros((2, 3), "float32")] * 2
    whole, _ = alpha_sequence(inputs, states, ad, bd)
    first, middle = alpha_sequence(inputs[:170], states, ad, bd)
    second, _ = alpha_sequence(inputs[170:], middle, ad, bd)
    assert_close(ops.concatenate([first, second]), ops.convert_to_numpy(whole))


@pytest.mark.parametrize("size", [(3,), (2, 2)])
def test_empty_sequence(size):
    """No steps: an empty output, and the initial states unchanged."""
    inputs = np.zeros((0, 2, *size), "float32")
    state = np.random.default_rng(7).uniform(0, 1, (2, *size)).astype("float32")
    spikes, voltage = spiking_sequence(inputs, state, 0.001)
    assert tuple(spikes.shape) == inputs.shape
    np.testing.assert_array_equal(ops.convert_to_numpy(voltage), state)

    outputs, final = lowpass_sequence(inputs, state, np.float32(0.5))
    assert tuple(outputs.shape) == inputs.shape
    np.testing.assert_array_equal(ops.convert_to_numpy(final), state)

    ad, bd = as32(alpha_coefficients(0.01, 0.001))
    outputs, finals = alpha_sequence(inputs, [state * 2, state], ad, bd)
    assert tuple(outputs.shape) == inputs.shape
    np.testing.assert_array_equal(ops.convert_to_numpy(finals[0]), state * 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(finals[1]), state)


def compiled(fn, n_inputs, units):
    """``fn`` compiled as a layer's call would be on this backend.

    TensorFlow: one ``tf.function`` whose inputs have an unknown number of steps
    and batch size; JAX: ``jax.jit``; PyTorch: eager.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec((None, None, units), "float32")]
        signature += [tf.TensorSpec((None, units), "float32")] * (n_inputs - 1)
        return tf.function(fn, input_signature=signature)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def test_compiled_any_number_of_steps():
    """One compiled function of each form runs 0, 3, BLOCK and 300 steps, with the
    eager results (on TensorFlow one trace serves every number of steps)."""
    dt = np.float32(0.001)
    spiking = compiled(lambda r, v: spiking_sequence(r, v, dt), 2, 5)
    decay = np.float32(0.95)
    ad, bd = as32(alpha_coefficients(0.01, 0.001))
    filters = compiled(
        lambda x, s: (
            lowpass_sequence(x, s, decay),
            alpha_sequence(x, [s, s], ad, bd),
        ),
        2,
        5,
    )
    for steps in [0, 3, BLOCK, 300]:
        rng = np.random.default_rng(steps)
        rates = rng.uniform(-1000, 3000, (steps, 2, 5)).astype("float32")
        voltage = rng.uniform(0, 1, (2, 5)).astype("float32")
        spikes, final = spiking(rates, voltage)
        eager_spikes, eager_final = spiking_sequence(rates, voltage, dt)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(spikes), ops.convert_to_numpy(eager_spikes)
        )
        np.testing.assert_array_equal(
            ops.convert_to_numpy(final), ops.convert_to_numpy(eager_final)
        )

        (low, low_final), (alpha, alpha_finals) = filters(rates, voltage)
        expected, expected_final = lowpass_loop(rates, voltage, decay)
        assert_close(low, expected)
        assert_close(low_final, expected_final)
        expected, expected_finals = alpha_loop(rates, [voltage, voltage], ad, bd)
        assert_close(alpha, expected)
        for actual, wanted in zip(alpha_finals, expected_finals, strict=True):
            assert_close(actual, wanted)


def step_lowpass(inputs, state, decay):
    """A plain keras.ops step loop (the reference for autodiff)."""
    outputs = []
    for t in range(inputs.shape[0]):
        state = (1 - decay) * inputs[t] + decay * state
        outputs.append(state)
    return ops.stack(outputs), state


def step_alpha(inputs, states, ad, bd):
    z, y = states
    outputs = []
    for t in range(inputs.shape[0]):
        z, y = (
            ad[0][0] * z + ad[0][1] * y + bd[0] * inputs[t],
            ad[1][0] * z + ad[1][1] * y + bd[1] * inputs[t],
        )
        outputs.append(y)
    return ops.stack(outputs), [z, y]


def batch_major(filter_fn):
    """``filter_fn`` on time-major sequences, computed with ``time_axis=1``."""

    def fn(x, *args):
        outputs, final = filter_fn(ops.swapaxes(x, 0, 1), *args, time_axis=1)
        return ops.swapaxes(outputs, 0, 1), final

    return fn


@pytest.fixture(scope="module")
def reference_gradients():
    """`gradients`, cached by a key that names the case: the plain step loops'
    gradients serve as the reference of every form and layout."""
    cache = {}

    def reference(key, fn, *args):
        if key not in cache:
            cache[key] = gradients(fn, *args)
        return cache[key]

    return reference


@pytest.mark.parametrize("layout", [lambda f: f, batch_major])
@pytest.mark.parametrize("steps", [5, BLOCK + 40])
def test_filter_gradients_match_step_loop(steps, layout, reference_gradients):
    rng = np.random.default_rng(8)
    inputs = rng.normal(size=(steps, 2, 3)).astype("float32")
    state = rng.normal(size=(2, 3)).astype("float32")
    weights = ops.convert_to_tensor(rng.normal(size=(steps, 2, 3)), "float32")
    final_weights = ops.convert_to_tensor(rng.normal(size=(2, 3)), "float32")
    decay = np.exp(-0.001 / rng.uniform(0.005, 0.05, (1, 3))).astype("float32")

    def loss(filter_fn):
        def fn(x, s, a):
            outputs, final = filter_fn(x, s, a)
            return ops.sum(outputs * weights) + ops.sum(final * final_weights)

        return fn

    ours = gradients(loss(layout(lowpass_sequence)), inputs, state, decay)
    reference = reference_gradients(
        ("lowpass", steps), loss(step_lowpass), inputs, state, decay
    )
    for actual, expected in zip(ours, reference, strict=True):
        assert_close(actual, expected)

    tau = rng.uniform(0.005, 0.05, (1, 3))
    coefficients = [as32(c) for c in np.broadcast_arrays(*_flat_alpha(tau, 0.001))]

    def alpha_loss(filter_fn):
        def fn(x, z, y, *c):
            outputs, (z_final, y_final) = filter_fn(
                x, [z, y], ((c[0], c[1]), (c[2], c[3])), (c[4], c[5])
            )
            return (
                ops.sum(outputs * weights)
                + ops.sum(z_final * final_weights) * 1e-3
                + ops.sum(y_final * final_weights)
            )

        return fn

    z = (state / tau).astype("float32")
    args = [inputs, z, state, *coefficients]
    ours = gradients(alpha_loss(layout(alpha_sequence)), *args)
    reference = reference_gradients(("alpha", steps), alpha_loss(step_alpha), *args)
    for actual, expected in zip(ours, reference, strict=True):
        assert_close(actual, expected)


def _flat_alpha(tau, dt):
    ad, bd = alpha_coefficients(tau, dt)
    return (*ad[0], *ad[1], *bd)


def test_loop_forms_agree():
    """The two forms of the loop over a block (unrolled, and scanned for JAX) give
    the same numbers: exactly for the spiking step, to rounding for a filter (XLA
    may fuse a multiply and an add)."""
    rng = np.random.default_rng(9)
    xs = ops.convert_to_tensor(rng.uniform(-2, 3, size=(3, 16, 2, 4)), "float32")
    carry = ops.convert_to_tensor(rng.uniform(0, 1, size=(3, 2, 4)), "float32")

    def spiking_step(v, x):
        v = v + x
        n = ops.floor(v)
        return v - n, n

    def filter_step(state, x):
        z, y = state
        z, y = 0.9 * z - 0.2 * y + x, 0.1 * z + 0.8 * y + 0.5 * x
        return (z, y), (z, y)

    for step, start, compare in [
        (spiking_step, carry, np.testing.assert_array_equal),
        (filter_step, (carry, carry), assert_close),
    ]:
        unrolled = keras.tree.flatten(along_blocks(step, start, xs, scan=False))
        scanned = keras.tree.flatten(along_blocks(step, start, xs, scan=True))
        for a, b in zip(unrolled, scanned, strict=True):
            compare(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
