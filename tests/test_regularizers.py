"""Tests for keras_spiking.regularizers.

Values and gradients are checked against numpy re-derivations written from the
definitions (BEHAVIOUR.md): the Keras penalties ``l1 * sum|d| + l2 * sum d**2``
of the departure ``d`` from the target, and ``numpy.percentile`` with
``method="linear"``.
"""

import doctest
import inspect
import json

import keras
import numpy as np
import pytest

import keras_spiking
from keras_spiking import regularizers

# ---------------------------------------------------------------- helpers


def value_and_grad(fn, x):
    """Value of the scalar ``fn(x)`` and its gradient with respect to ``x``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return np.asarray(y), np.asarray(tape.gradient(y, x))
    if backend == "jax":
        import jax

        y, grad = jax.value_and_grad(fn)(x)
        return np.asarray(y), np.asarray(grad)
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        y = fn(x)
        y.backward()
        return y.detach().cpu().numpy(), x.grad.cpu().numpy()
    pytest.skip(f"no gradients on the {backend} backend")


def departure(x, target):
    """How far ``x`` lies from ``target``, and d(departure)/dx."""
    if isinstance(target, tuple):
        low, high = target
        d = np.maximum(low - x, 0) + np.maximum(x - high, 0)
        dd_dx = np.where(x < low, -1.0, np.where(x > high, 1.0, 0.0))
        return d, dd_dx
    return x - target, np.ones_like(x)


def penalty(d, l1, l2):
    """Keras's L1/L2 penalty of ``d`` and its derivative with respect to ``d``."""
    value = l1 * np.sum(np.abs(d)) + l2 * np.sum(d**2)
    return value, l1 * np.sign(d) + 2 * l2 * d


def ranged_expected(x, target, l1, l2):
    d, dd_dx = departure(x, target)
    value, dp_dd = penalty(d, l1, l2)
    return value, dp_dd * dd_dx


def percentile_expected(x, q, axis, target, l1, l2):
    """Penalty of the linearly interpolated percentiles, and its gradient.

    Each percentile is ``(1 - f) * s[k] + f * s[k + 1]`` of the sorted values
    ``s`` along the reduced axes, with ``k + f = q / 100 * (n - 1)``; so its
    gradient is ``1 - f`` on the element of rank ``k`` and ``f`` on the one of
    rank ``k + 1``.
    """
    axes = tuple(a % x.ndim for a in np.atleast_1d(axis))
    kept = [a for a in range(x.ndim) if a not in axes]
    perm = kept + list(axes)
    moved = np.transpose(x, perm)
    rows = moved.reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    n = rows.shape[1]

    position = q / 100 * (n - 1)
    k = int(np.floor(position))
    f = position - k
    order = np.argsort(rows, axis=1)
    lower = np.take_along_axis(rows, order[:, [k]], axis=1)[:, 0]
    upper = np.take_along_axis(rows, order[:, [min(k + 1, n - 1)]], axis=1)[:, 0]
    percentiles = (1 - f) * lower + f * upper

    # the interpolation agrees with numpy's own
    np.testing.assert_allclose(
        percentiles.reshape(moved.shape[: len(kept)]),
        np.percentile(x, q, axis=axes, method="linear"),
        rtol=1e-12,
    )

    value, dvalue = ranged_expected(percentiles, target, l1, l2)
    grad_rows = np.zeros_like(rows)
    index = np.arange(rows.shape[0])
    grad_rows[index, order[:, k]] += (1 - f) * dvalue
    if f > 0:
        grad_rows[index, order[:, k + 1]] += f * dvalue
    grad = np.transpose(grad_rows.reshape(moved.shape), np.argsort(perm))
    return value, grad


def run_docstring_example(obj):
    """Run the ``>>>`` examples in ``obj``'s docstring; return their namespace."""
    (test,) = doctest.DocTestFinder(recurse=False).find(obj, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, clear_globs=False)
    assert result.attempted > 0
    assert result.failed == 0, "docstring example failed (report above)"
    return test.globs


@pytest.fixture(name="x")
def fixture_x():
    # values spread either side of the targets used below, and no ties
    return np.random.default_rng(3).uniform(-1, 1, size=(7, 4, 6))


TARGETS = [0, 0.3, (-0.2, 0.4)]

# Keras turns the penalty weights and the quantile into float32 tensors before
# casting them to the dtype of the input, so even for float64 input they are only
# float32-accurate. Some backends (JAX by default) compute float64 input in float32.
FLOAT64 = (
    keras.backend.standardize_dtype(keras.ops.convert_to_tensor(np.zeros(1)).dtype)
    == "float64"
)
RTOL = 1e-6 if FLOAT64 else 1e-5
ATOL = 1e-15 if FLOAT64 else 1e-7

# ----------------------------------------------------------- L1L2, L1, L2


@pytest.mark.parametrize(
    "make, l1, l2",
    [
        (lambda t: regularizers.L1L2(l1=0.2, l2=0.05, target=t), 0.2, 0.05),
        (lambda t: regularizers.L1L2(l1=0.3, target=t), 0.3, 0),
        (lambda t: regularizers.L1L2(l2=0.7, target=t), 0, 0.7),
        (lambda t: regularizers.L1(target=t), 0.01, 0),
        (lambda t: regularizers.L1(0.4, target=t), 0.4, 0),
        (lambda t: regularizers.L2(target=t), 0, 0.01),
        (lambda t: regularizers.L2(0.4, target=t), 0, 0.4),
        (lambda t: regularizers.RangedRegularizer(target=t), 0, 0.01),
        (
            lambda t: regularizers.RangedRegularizer(
                t, keras.regularizers.L1L2(l1=0.1, l2=0.2)
            ),
            0.1,
            0.2,
        ),
    ],
)
def test_ranged_value_and_gradient(make, l1, l2, x):
    for target in TARGETS:
        value, grad = value_and_grad(make(target), x)
        expected_value, expected_grad = ranged_expected(x, target, l1, l2)
        np.testing.assert_allclose(value, expected_value, rtol=RTOL, err_msg=target)
        np.testing.assert_allclose(
            grad, expected_grad, rtol=RTOL, atol=ATOL, err_msg=target
        )


def test_range_target_ignores_values_inside(x):
    inside = np.clip(x, -0.2, 0.4)
    value, grad = value_and_grad(
        regularizers.L1L2(1.0, 1.0, target=(-0.2, 0.4)), inside
    )
    assert value == 0
    np.testing.assert_array_equal(grad, 0)


def test_float32_value():
    x = np.random.default_rng(1).normal(size=(16, 10)).astype("float32")
    value = regularizers.L1L2(0.1, 0.2, target=(-0.5, 0.5))(x)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    expected, _ = ranged_expected(x.astype("float64"), (-0.5, 0.5), 0.1, 0.2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected, rtol=1e-5)


def test_wrapped_regularizer_can_be_ours():
    """A RangedRegularizer of a RangedRegularizer penalises departures twice over."""
    reg = regularizers.RangedRegularizer(
        target=1.0, regularizer=regularizers.L1(0.5, target=0.25)
    )
    x = np.array([0.0, 1.0, 3.0])
    # departures from 1 are [-1, 0, 2]; their departures from 0.25 [-1.25, -0.25, 1.75]
    assert float(reg(x)) == pytest.approx(0.5 * (1.25 + 0.25 + 1.75))


def test_defaults():
    x = np.array([-2.0, 1.0, 3.0])
    assert float(regularizers.RangedRegularizer()(x)) == pytest.approx(0.14)
    assert float(regularizers.L1()(x)) == pytest.approx(0.06)
    assert float(regularizers.L2()(x)) == pytest.approx(0.14)
    assert float(regularizers.L1L2()(x)) == 0
    assert regularizers.L1L2().target == 0

    # each default regularizer is its own object
    a, b = regularizers.RangedRegularizer(), regularizers.RangedRegularizer()
    assert a.regularizer is not b.regularizer

    # None, the documented default, is the same L1L2(l2=0.01)
    reg = regularizers.RangedRegularizer(target=1.0, regularizer=None)
    assert isinstance(reg.regularizer, keras.regularizers.L1L2)
    assert (float(reg.regularizer.l1), float(reg.regularizer.l2)) == (0, 0.01)
    assert float(reg(x)) == pytest.approx(0.01 * (9 + 0 + 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda: (-0.2, 0.4),
        lambda: [-0.2, 0.4],
        lambda: np.array([-0.2, 0.4]),
        lambda: np.array([-0.2, 0.4], dtype="float32"),
        lambda: keras.ops.convert_to_tensor(np.array([-0.2, 0.4])),
        lambda: (np.float32(-0.2), keras.ops.convert_to_tensor(0.4)),
    ],
    ids=["tuple", "list", "array", "array32", "tensor", "mixed"],
)
def test_any_pair_is_a_range(make, x):
    """A pair in any form is a (low, high) range, not two per-feature targets."""
    reg = regularizers.L2(0.5, target=make())
    low, high = reg.target
    assert isinstance(reg.target, tuple)
    assert all(isinstance(v, (int, float)) for v in reg.target)  # JSON-friendly
    np.testing.assert_allclose([low, high], [-0.2, 0.4], rtol=1e-6)
    value, grad = value_and_grad(reg, x)
    expected_value, expected_grad = ranged_expected(x, (low, high), 0, 0.5)
    np.testing.assert_allclose(value, expected_value, rtol=RTOL)
    np.testing.assert_allclose(grad, expected_grad, rtol=RTOL, atol=ATOL)


def test_array_range_on_two_features():
    """The case that used to be read as one target per feature."""
    x = np.array([[0.0, 60.0], [20.0, 2.0]])
    reg = regularizers.L2(1.0, target=np.array([5, 50]))
    # departures from [5, 50]: 5 and 10 above/below, 0 inside, 3 below
    assert float(reg(x)) == pytest.approx(5**2 + 10**2 + 0 + 3**2)


@pytest.mark.parametrize(
    "target", [np.array(0.3), np.float64(0.3), keras.ops.convert_to_tensor(0.3)]
)
def test_scalar_array_is_a_number(target, x):
    reg = regularizers.L1(0.1, target=target)
    assert isinstance(reg.target, float)
    assert reg.target == pytest.approx(0.3)
    expected, _ = ranged_expected(x, reg.target, 0.1, 0)
    np.testing.assert_allclose(float(reg(x)), expected, rtol=RTOL)


@pytest.mark.parametrize(
    "target",
    [
        (1,),
        (1, 2, 3),
        (2, 1),
        np.array([2, 1]),
        np.array([1, 2, 3]),
        np.zeros((2, 2)),
        np.zeros((1, 2)),
        (0, np.nan),
        np.nan,
    ],
)
def test_bad_range(target):
    with pytest.raises(ValueError, match="target"):
        regularizers.L1L2(l1=0.1, target=target)


@pytest.mark.parametrize("target", ["0.5", None, ("a", 1), (0, None), True])
def test_target_not_a_number(target):
    with pytest.raises(TypeError, match="`target` must be a number"):
        regularizers.L2(target=target)


def test_keras_validates_weights():
    with pytest.raises(ValueError, match="l1"):
        regularizers.L1L2(l1=-1.0)
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(l2=-1.0)


# ------------------------------------------------------------- Percentile


@pytest.mark.parametrize("q", [0, 37.5, 50, 95, 100])
@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (1, 2)])
def test_percentile_value_and_gradient(q, axis, x):
    for target in TARGETS:
        reg = regularizers.Percentile(
            percentile=q, axis=axis, target=target, l1=0.3, l2=0.8
        )
        value, grad = value_and_grad(reg, x)
        expected_value, expected_grad = percentile_expected(
            x, q, axis, target, 0.3, 0.8
        )
        np.testing.assert_allclose(value, expected_value, rtol=RTOL, err_msg=target)
        # Keras's quantile on PyTorch computes in float32 even for float64 input: for
        # gradients of order 1 that is accurate to about 1e-6 (not relative to the
        # smaller share of an interpolation)
        np.testing.assert_allclose(
            grad, expected_grad, rtol=RTOL, atol=2e-6, err_msg=target
        )


@pytest.mark.parametrize("q", [0, 37.5, 50, 95, 100])
def test_percentile_float32(q):
    x = np.random.default_rng(2).uniform(0, 20, size=(32, 5, 10)).astype("float32")
    reg = regularizers.Percentile(percentile=q, target=(5, 10), l2=0.01)
    expected, _ = percentile_expected(x.astype("float64"), q, 0, (5, 10), 0, 0.01)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reg(x)), expected, rtol=1e-5)


def test_percentile_defaults(x):
    with pytest.warns(UserWarning, match="no effect"):
        reg = regularizers.Percentile()
    assert (reg.percentile, reg.axis, reg.target, reg.l1, reg.l2) == (100, 0, 0, 0, 0)
    assert float(reg(x)) == 0

    # the default percentile is the maximum over the batch axis
    reg = regularizers.Percentile(l1=1.0)
    assert float(reg(x)) == pytest.approx(np.sum(np.abs(np.max(x, axis=0))))


def test_percentile_of_maximum_splits_gradient_between_ties():
    x = np.array([[1.0, 0.0], [3.0, 2.0], [3.0, -1.0]])
    _, grad = value_and_grad(regularizers.Percentile(l1=1.0), x)
    np.testing.assert_allclose(grad, [[0, 0], [0.5, 1], [0.5, 0]])


@pytest.mark.parametrize("q", [-1, 100.5, 1000, np.nan])
def test_percentile_out_of_range(q):
    with pytest.raises(ValueError, match="percentile"):
        regularizers.Percentile(percentile=q, l2=0.01)


@pytest.mark.parametrize("q", ["50", None, [50], True])
def test_percentile_not_a_number(q):
    with pytest.raises(TypeError, match="`percentile` must be a number"):
        regularizers.Percentile(percentile=q, l2=0.01)


def test_percentile_numpy_number(x):
    reg = regularizers.Percentile(percentile=np.float32(50), l2=0.5)
    assert reg.percentile == 50 and isinstance(reg.percentile, float)
    expected, _ = percentile_expected(x, 50, 0, 0, 0, 0.5)
    np.testing.assert_allclose(float(reg(x)), expected, rtol=RTOL)


@pytest.mark.parametrize("axis", ["0", 1.0, None, (), (0, "1"), (0, 1.5), True])
def test_percentile_axis_type(axis):
    with pytest.raises(TypeError, match="`axis` must be an int or a non-empty tuple"):
        regularizers.Percentile(axis=axis, l2=0.01)


def test_percentile_numpy_axis(x):
    reg = regularizers.Percentile(axis=(np.int64(0), 2), l2=0.5)
    assert reg.axis == (0, 2) and all(type(a) is int for a in reg.axis)
    reg = regularizers.Percentile(axis=np.int32(1), l2=0.5)
    assert reg.axis == 1 and type(reg.axis) is int


@pytest.mark.parametrize(
    "axis, message",
    [
        (3, "out of range"),
        (-4, "out of range"),
        ((0, 5), "out of range"),
        ((0, -3), "more than once"),
    ],
)
def test_percentile_axis_not_in_input(axis, message, x):
    """Known only once the input is seen: a clear error when it is."""
    reg = regularizers.Percentile(axis=axis, l2=0.01)  # no error yet
    with pytest.raises(ValueError, match=rf"`axis`=.*{message}.*rank 3"):
        reg(x)


def test_percentile_no_weights_warns():
    with pytest.warns(UserWarning, match="no effect"):
        regularizers.Percentile(percentile=50, target=(1, 2))
    with pytest.warns(UserWarning, match="no effect"):
        regularizers.Percentile(l1=0.0, l2=0)


# ---------------------------------------------------------- serialization

SERIALIZABLE = {
    "ranged": lambda: regularizers.RangedRegularizer(),
    "ranged_range": lambda: regularizers.RangedRegularizer(
        target=(-1, 2.5), regularizer=keras.regularizers.L1L2(l1=0.1, l2=0.3)
    ),
    "ranged_nested_ours": lambda: regularizers.RangedRegularizer(
        target=0.5, regularizer=regularizers.Percentile(50, axis=1, l1=0.2)
    ),
    "l1l2": lambda: regularizers.L1L2(l1=0.1, l2=0.2, target=(0.1, 0.2)),
    "l1": lambda: regularizers.L1(l1=0.3, target=0.4),
    "l2": lambda: regularizers.L2(l2=0.3, target=(1, 2)),
    "percentile": lambda: regularizers.Percentile(
        percentile=37.5, axis=(0, 2), target=(0.1, 0.3), l1=0.1, l2=0.2
    ),
}


@pytest.mark.parametrize("name", sorted(SERIALIZABLE))
def test_get_config_round_trip(name, x):
    reg = SERIALIZABLE[name]()
    config = reg.get_config()
    clone = type(reg).from_config(config)
    assert type(clone) is type(reg)
    assert clone.get_config() == config
    np.testing.assert_allclose(float(clone(x)), float(reg(x)), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SERIALIZABLE))
def test_json_round_trip(name, x):
    """Through JSON (tuples may come back as lists) and the registered name."""
    reg = SERIALIZABLE[name]()
    config = json.loads(json.dumps(keras.regularizers.serialize(reg)))
    clone = keras.regularizers.deserialize(config)
    assert type(clone) is type(reg)
    assert clone.get_config() == reg.get_config()
    np.testing.assert_allclose(float(clone(x)), float(reg(x)), rtol=1e-12)

    # a list target or axis is read as the tuple it was
    raw = reg.get_config()
    for key in ("target", "axis"):
        if isinstance(raw.get(key), tuple):
            raw[key] = list(raw[key])
    assert type(reg).from_config(raw).get_config() == reg.get_config()


def test_registered_names():
    for cls in (
        regularizers.RangedRegularizer,
        regularizers.L1L2,
        regularizers.L1,
        regularizers.L2,
        regularizers.Percentile,
    ):
        assert issubclass(cls, keras.regularizers.Regularizer)
        name = f"keras_spiking>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls


def test_nested_config_is_serialized():
    config = regularizers.RangedRegularizer(
        regularizer=regularizers.L2(0.5, target=1)
    ).get_config()
    assert config["regularizer"]["registered_name"] == "keras_spiking>L2"
    assert config["regularizer"]["config"] == {"l2": 0.5, "target": 1}


def test_save_load_model(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(8, 5, 3)).astype("float32")

    inp = keras.Input((None, 3))
    h = keras.layers.Dense(
        6,
        kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.02, target=0.1),
        activity_regularizer=regularizers.Percentile(
            percentile=95, axis=(0, 1), target=(0.1, 0.5), l2=0.3
        ),
    )(inp)
    h = keras_spiking.Lowpass(
        0.01,
        dt=0.001,
        activity_regularizer=regularizers.RangedRegularizer(
            target=0.2, regularizer=regularizers.L1(0.3, target=(0, 0.1))
        ),
    )(h)
    out = keras_spiking.SpikingActivation(
        "relu", seed=1, activity_regularizer=regularizers.L2(0.01, target=(1, 5))
    )(h)
    model = keras.Model(inp, out)
    model(x)
    losses = [float(loss) for loss in model.losses]
    assert len(losses) == 4 and all(loss > 0 for loss in losses)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed

    for layer, loaded_layer in zip(model.layers[1:], loaded.layers[1:], strict=True):
        assert type(loaded_layer.activity_regularizer) is type(
            layer.activity_regularizer
        )
        assert (
            loaded_layer.activity_regularizer.get_config()
            == layer.activity_regularizer.get_config()
        )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )
    np.testing.assert_allclose([float(loss) for loss in loaded.losses], losses)


# ---------------------------------------------------------- dtype policies

POLICIES = ["float32", "mixed_float16", "mixed_bfloat16", "float64"]

# each with its penalty in numpy
REGULARIZERS = {
    "ranged": (
        lambda: regularizers.RangedRegularizer(target=(0.1, 0.5)),
        lambda x: ranged_expected(x, (0.1, 0.5), 0, 0.01)[0],
    ),
    "ranged_keras_l1": (
        lambda: regularizers.RangedRegularizer(
            target=0.2, regularizer=keras.regularizers.L1(0.1)
        ),
        lambda x: ranged_expected(x, 0.2, 0.1, 0)[0],
    ),
    "l1l2": (
        lambda: regularizers.L1L2(l1=0.01, l2=0.02, target=0.3),
        lambda x: ranged_expected(x, 0.3, 0.01, 0.02)[0],
    ),
    "l1": (
        lambda: regularizers.L1(target=(0, 0.2)),
        lambda x: ranged_expected(x, (0, 0.2), 0.01, 0)[0],
    ),
    "l2": (
        lambda: regularizers.L2(target=(0.1, 0.5)),
        lambda x: ranged_expected(x, (0.1, 0.5), 0, 0.01)[0],
    ),
    "percentile": (
        lambda: regularizers.Percentile(50, target=(0.1, 0.3), l2=0.1),
        lambda x: percentile_expected(x, 50, 0, (0.1, 0.3), 0, 0.1)[0],
    ),
}


@pytest.fixture(name="policy", params=POLICIES)
def fixture_policy(request):
    """Run the test under a global dtype policy, then restore the previous one."""
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(saved)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_penalty_is_float32(name, dtype):
    """Whatever the input dtype, the penalty is computed and returned in float32.

    The values are large enough for a sum of squares to overflow float16, and the
    tolerance is tighter than float16 or bfloat16 sums could meet.
    """
    make, penalty_of = REGULARIZERS[name]
    x = np.random.default_rng(4).uniform(-300, 300, size=(16, 8))
    x_in = keras.ops.cast(keras.ops.convert_to_tensor(x), dtype)
    value = make()(x_in)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    # the expectation uses the values as the input dtype holds them
    held = keras.ops.convert_to_numpy(keras.ops.cast(x_in, "float32"))
    expected = penalty_of(held.astype("float64"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_fit_under_dtype_policy(name, policy):
    """An activity regularizer adds its penalty to the loss under every policy.

    With a learning rate of 0 the loss of the one batch is known in advance: the
    mean squared error plus the penalty on the Dense output, divided by the batch
    size (as Keras does for activity regularizers).
    """
    make, penalty_of = REGULARIZERS[name]
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(8, 3)).astype("float32")
    y = rng.uniform(-1, 1, size=(8, 1)).astype("float32")
    kernel = rng.uniform(-1, 1, size=(3, 4)).astype("float32")

    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                4,
                kernel_initializer=keras.initializers.Constant(kernel),
                activity_regularizer=make(),
            ),
            keras.layers.Dense(1, kernel_initializer="ones"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)

    hidden = x.astype("float64") @ kernel
    mse = np.mean((hidden.sum(axis=1, keepdims=True) - y) ** 2)
    expected = mse + penalty_of(hidden) / 8
    # the layers compute in float16 or bfloat16 under the mixed policies
    rtol = {"mixed_float16": 5e-3, "mixed_bfloat16": 3e-2}.get(policy, 1e-5)
    np.testing.assert_allclose(history.history["loss"], [expected] * 2, rtol=rtol)


# ------------------------------------------------- spiking-aware training


@pytest.mark.parametrize("spiking_aware_training", [True, False])
def test_penalty_on_spikes_grows_as_dt_shrinks(spiking_aware_training):
    """What the docstrings say: the penalty sees spikes of height 1/dt.

    With spiking-aware training the regularizer sees the spikes (0 or 1/dt), so
    the same rates give a penalty that grows as dt shrinks; without it, the
    regularizer sees the rates, and dt does not matter.
    """
    rates = np.linspace(5, 50, 12).reshape(1, 1, 12).astype("float32")
    x = np.tile(rates, (2, 50, 1))
    penalties = []
    for dt in (0.01, 0.001):
        layer = keras_spiking.SpikingActivation(
            "relu",
            dt=dt,
            seed=0,
            spiking_aware_training=spiking_aware_training,
            activity_regularizer=regularizers.L2(1e-3, target=(10, 40)),
        )
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        (loss,) = layer.losses
        expected, _ = ranged_expected(out.astype("float64"), (10, 40), 0, 1e-3)
        np.testing.assert_allclose(float(loss), expected / 2, rtol=1e-5)
        penalties.append(float(loss))
    if spiking_aware_training:
        assert penalties[1] > 10 * penalties[0]  # spikes of 1000 rather than 100
    else:
        expected, _ = ranged_expected(x.astype("float64"), (10, 40), 0, 1e-3)
        np.testing.assert_allclose(penalties, [expected / 2] * 2, rtol=1e-5)


# ----------------------------------------------------------- the API's face


@pytest.mark.parametrize(
    "cls",
    [
        regularizers.RangedRegularizer,
        regularizers.L1L2,
        regularizers.L1,
        regularizers.L2,
        regularizers.Percentile,
    ],
)
def test_public_face(cls):
    """No private placeholder in the signature; our own docstrings."""
    signature = inspect.signature(cls)
    for parameter in signature.parameters.values():
        default = parameter.default
        assert default is inspect.Parameter.empty or isinstance(
            default, (int, float, type(None))
        ), (parameter.name, default)
    if cls is regularizers.RangedRegularizer:
        assert signature.parameters["regularizer"].default is None

    for method in ("__call__", "get_config"):
        own = getattr(cls, method).__doc__
        assert own and "model_to_estimator" not in own, method
    assert "model_to_estimator" not in inspect.getdoc(cls.from_config)
    # the spiking-aware-training caveat, and where to go about it
    assert "1/dt" in cls.__doc__ and "spiking_aware_training" in cls.__doc__


# --------------------------------------------------- the docstring example


@pytest.mark.slow  # trains a network for a while
def test_percentile_example():
    """The example trains a network whose peak rates end up in the target range."""
    ns = run_docstring_example(regularizers.Percentile)
    max_rates, error = ns["max_rates"], ns["error"]
    assert max_rates.shape == (50,)

    # target (5, 10) Hz, with a margin of 1 Hz for the spike-count noise of
    # 1-step training and 10-step rate estimates (a rate resolution of 0.1 Hz)
    assert np.all(max_rates >= 4) and np.all(max_rates <= 11), max_rates
    assert 4.75 <= np.mean(max_rates) <= 10, max_rates
    # the products are in [-1, 1], with mean magnitude 0.25
    assert error < 0.06
