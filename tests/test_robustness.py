"""Unusual inputs and uses of the layers and tools (issue 18, items 2, 3 and 6-9):
each behaves as a careful user expects, or fails with an error that says what is
wrong and what to do, on every backend."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_spiking
from keras_spiking import sequence
from keras_spiking.callbacks import DtScheduler
from keras_spiking.constraints import Mean

LAYERS = {
    "SpikingActivation": lambda **kw: keras_spiking.SpikingActivation(
        "relu", seed=0, **kw
    ),
    "Lowpass": lambda **kw: keras_spiking.Lowpass(0.01, **kw),
    "Alpha": lambda **kw: keras_spiking.Alpha(0.01, **kw),
}


def to_numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.stop_gradient(x))


def compiled(function):
    """``function`` traced by the backend's compiler (PyTorch runs it eagerly)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    return function


# --- item 2: stateful layers and batch sizes ------------------------------------------


def stateful_model(name, batch=4, **kwargs):
    inp = keras.Input((3, 2), batch_size=batch)
    return keras.Model(inp, LAYERS[name](stateful=True, **kwargs)(inp))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("batch", [1, 8])
def test_stateful_layer_called_with_another_batch_size_is_an_error(name, batch):
    model = stateful_model(name)
    with pytest.raises(
        ValueError, match=r"built for batch size 4.* batch of " + str(batch)
    ):
        model(np.ones((batch, 3, 2), "float32"))
    # the batch it was built for still works, and carries the state
    model(np.ones((4, 3, 2), "float32"))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("batch_size", [2, 4])
def test_stateful_predict_with_a_batch_size_that_does_not_fit_is_an_error(
    name, batch_size
):
    """The last batch is smaller. The other backends trace each size and raise a
    ValueError. TensorFlow traces it with a batch of unknown size, so the error
    comes when it runs (an InvalidArgumentError): the layer's check, or, where XLA
    compiles the function (it drops checks), the reshape of the input to the
    state's batch size, which cannot hold a batch of another size."""
    model = stateful_model(name)
    message = "stateful and was built for batch size 4"
    if keras.backend.backend() == "tensorflow":
        message = f"({message}|Input to reshape is a tensor with 6 values, but the "
        message += "requested shape has 24)"
    with pytest.raises(Exception, match=message):
        model.predict(np.ones((5, 3, 2)), batch_size=batch_size, verbose=0)
    # a number of samples that the batch size divides works, and carries the
    # state from batch to batch: after two batches it is not that after one (a
    # new model: after an error in predict, Keras's JAX trainer has not put the
    # variables back)
    model = stateful_model(name)
    layer = model.layers[-1]
    after = []
    for samples in (4, 8):
        layer.reset_states()
        model.predict(np.ones((samples, 3, 2)), batch_size=4, verbose=0)
        after.append(keras.ops.convert_to_numpy(layer.states[0]))
    assert np.all(after[0] != after[1])


def test_stateful_error_says_how_to_fix_it():
    model = stateful_model("Lowpass")
    with pytest.raises(ValueError) as info:
        model(np.ones((2, 3, 2), "float32"))
    message = str(info.value)
    assert "batch_size=4" in message
    assert "set_weights" in message
    assert "reset_states()" in message


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # initial_level: unused
@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_stateful_filters_train(name):
    """The state is read into a copy, so assigning it after the call does not
    change a tensor that the gradient needs (PyTorch's autograd rejects that)."""
    model = stateful_model(name)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(8, 3, 2)), rng.uniform(size=(8, 3, 2))
    tau0 = np.array(model.layers[1].cell.tau.numpy())
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(model.layers[1].cell.tau.numpy(), tau0)
    # the state moved on from its initial value
    assert np.any(np.asarray(model.layers[1].states[-1].numpy()) != 0)


# --- item 3: the converter ------------------------------------------------------------


def repeat(x, steps):
    return np.repeat(np.asarray(x)[:, None], steps, axis=1)


def test_converter_converts_each_application_of_a_nested_model():
    rng = np.random.default_rng(0)
    inner_input = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="relu")(inner_input)
    inner = keras.Model(inner_input, keras.layers.Dense(3)(hidden))
    a, b = keras.Input((4,)), keras.Input((4,))
    siamese = keras.Model([a, b], keras.layers.Subtract()([inner(a), inner(b)]))
    xa, xb = rng.uniform(size=(3, 4)), rng.uniform(size=(3, 4))
    expected = siamese.predict([xa, xb], verbose=0)
    assert np.abs(expected).max() > 0.1

    spiking = keras_spiking.convert(siamese, dt=0.001, seed=0)
    actual = spiking.predict([repeat(xa, 1000), repeat(xb, 1000)], verbose=0)
    np.testing.assert_allclose(actual, expected, atol=0.02)
    # the inner layers are converted once each, and used twice (tied weights)
    dense = [layer for layer in spiking.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 2


@pytest.mark.parametrize("fold_batch_norm", [True, False])
def test_converter_keeps_a_shared_layer_one_layer_when_gains_fold(fold_batch_norm):
    rng = np.random.default_rng(1)
    dense = keras.layers.Dense(4)
    inp = keras.Input((4,))
    x = keras.layers.Activation("relu")(dense(inp))
    model = keras.Model(inp, dense(x))
    for weight in dense.weights:
        weight.assign(rng.uniform(-1, 1, size=weight.shape))
    data = rng.uniform(size=(3, 4))

    spiking = keras_spiking.convert(model, dt=0.001, fold_batch_norm=fold_batch_norm)
    copies = [
        layer for layer in spiking.layers if isinstance(layer, keras.layers.Dense)
    ]
    assert len(copies) == 1
    np.testing.assert_allclose(
        spiking.predict(repeat(data, 1000), verbose=0),
        model.predict(data, verbose=0),
        atol=0.02,
    )
    # training the converted model trains the one shared kernel
    assert len(spiking.trainable_weights) == 2


def small_model():
    inp = keras.Input((4,))
    x = keras.layers.Dense(5, activation="relu")(inp)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))


def test_converter_rejects_an_activation_name_that_matches_nothing():
    with pytest.raises(ValueError, match=r"'rleu'.*swap nothing.*Did you mean 'relu'"):
        keras_spiking.convert(small_model(), swap_activations={"rleu"})
    with pytest.raises(ValueError, match="not a string"):
        keras_spiking.convert(small_model(), swap_activations="relu")
    with pytest.raises(TypeError, match="collection of activation names"):
        keras_spiking.convert(small_model(), swap_activations=0.5)
    with pytest.raises(TypeError, match="activation names"):
        keras_spiking.convert(small_model(), swap_activations={3})


def test_converter_swap_activations_accepts_aliases_and_functions():
    # a Keras alias names the function it looks up; a function counts by its name
    assert keras_spiking.Converter(swap_activations={"swish"}).swap_activations == {
        "silu"
    }
    spiking = keras_spiking.convert(
        small_model(), swap_activations=[keras.activations.relu]
    )
    names = [type(layer).__name__ for layer in spiking.layers]
    assert names.count("SpikingActivation") == 1
    # a Keras activation absent from the model is fine (a converter for many models)
    keras_spiking.convert(small_model(), swap_activations={"relu", "tanh"})


@pytest.mark.parametrize("dt", [0, -0.1, float("nan"), "0.1"])
def test_converter_checks_dt(dt):
    error = TypeError if isinstance(dt, str) else ValueError
    with pytest.raises(error, match="`dt`"):
        keras_spiking.convert(small_model(), dt=dt)


@pytest.mark.parametrize(
    "option", ["spiking_aware_training", "max_to_avg_pool", "fold_batch_norm"]
)
def test_converter_flags_must_be_bools(option):
    with pytest.raises(TypeError, match=f"`{option}` must be True or False"):
        keras_spiking.convert(small_model(), **{option: "False"})


def test_converter_checks_the_value_of_a_dt_variable_it_scales_by():
    with pytest.raises(ValueError, match="`dt` must be a number of seconds"):
        keras_spiking.convert(small_model(), dt=keras.Variable(0.0))


def test_conversion_rule_that_returns_nothing_is_a_clear_error():
    @keras.saving.register_keras_serializable("test_robustness")
    class Triple(keras.layers.Layer):
        def call(self, x):
            return 3 * x

    @keras_spiking.Converter.register_layer(Triple)
    def forgetful_rule(converter, layer, inputs):
        converter.per_step(keras.layers.Identity(), inputs)  # no return

    inp = keras.Input((4,))
    model = keras.Model(inp, Triple()(inp))
    try:
        with pytest.raises(
            TypeError, match=r"rule \(forgetful_rule\) of layer .* returned None"
        ):
            keras_spiking.convert(model)
    finally:
        del keras_spiking.Converter.rules[Triple]


# --- item 6: checks however a layer is first built ------------------------------------


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
@pytest.mark.parametrize("first_call", ["eager", "compiled"])
def test_invalid_constant_tau_is_an_error_however_first_built(name, first_call):
    layer = getattr(keras_spiking, name)(keras.initializers.Constant(-1.0))
    call = layer if first_call == "eager" else compiled(lambda x: layer(x))
    with pytest.raises(ValueError, match="positive and finite"):
        call(np.ones((2, 3, 4), "float32"))


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_invalid_tau_from_a_random_initializer_is_never_a_plausible_output(name):
    """An error where the initial values are known; NaN where the first build is
    traced and they are not, never the input passed through."""
    initializer = keras.initializers.RandomUniform(-2.0, -1.0, seed=0)
    eager = getattr(keras_spiking, name)(initializer)
    with pytest.raises(ValueError, match="positive and finite"):
        eager(np.ones((2, 3, 4), "float32"))

    layer = getattr(keras_spiking, name)(initializer)
    try:
        output = compiled(lambda x: layer(x))(np.ones((2, 3, 4), "float32"))
    except Exception as error:  # noqa: BLE001 (the message is checked)
        assert "positive and finite" in str(error)
    else:
        assert np.all(np.isnan(keras.ops.convert_to_numpy(output)))


# --- item 7: shared dt variables ------------------------------------------------------


def shared_dt_model(dt):
    inp = keras.Input((None, 3))
    x = keras_spiking.SpikingActivation("relu", dt=dt, seed=0, name="spikes")(inp)
    x = keras_spiking.Lowpass(0.1, dt=dt, name="filter")(x)
    return keras.Model(inp, x)


def recreate(model, how, tmp_path):
    if how == "clone_model":
        return keras.models.clone_model(model)
    if how == "from_config":
        return keras.Model.from_config(model.get_config())
    path = tmp_path / f"model.{how}"
    model.save(path)
    return keras.saving.load_model(path)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("how", ["clone_model", "from_config", "h5", "keras"])
def test_shared_dt_stays_shared_when_a_model_is_recreated(how, tmp_path):
    dt = keras.Variable(0.002, trainable=False, name="dt")
    model = shared_dt_model(dt)
    first, second = recreate(model, how, tmp_path), recreate(model, how, tmp_path)
    for copy in (first, second):
        spikes, filter_ = copy.get_layer("spikes"), copy.get_layer("filter")
        assert spikes.dt is filter_.dt  # one variable for the layers that shared one
        assert spikes.cell.dt is spikes.dt and filter_.cell.dt is spikes.dt
        assert spikes.dt is not dt  # a new variable, holding the saved value
        assert float(keras.ops.convert_to_numpy(spikes.dt)) == pytest.approx(0.002)
    # each recreated model has its own
    assert first.get_layer("spikes").dt is not second.get_layer("spikes").dt

    # assigning to the recreated variable changes both of its layers
    first.get_layer("spikes").dt.assign(0.004)
    assert first.get_layer("filter").dt_value == pytest.approx(0.004)
    assert second.get_layer("filter").dt_value == pytest.approx(0.002)


def test_shared_dt_is_a_variable_of_the_model_not_a_weight():
    """What the user guide says: ``dt`` is not in ``model.weights`` (a setting,
    stored in the configs), but it is among ``model.variables``."""
    dt = keras.Variable(0.001, trainable=False)
    model = shared_dt_model(dt)
    assert not any(weight is dt for weight in model.weights)
    assert len(model.get_weights()) == 2  # the filter's initial level and tau
    assert any(variable is dt for variable in model.variables)


# --- item 8: declared intent is honoured, or refused ----------------------------------


@pytest.mark.skipif(
    BACKEND == "torch", reason="Keras allows only steps_per_execution=1 on PyTorch"
)
def test_dt_scheduler_refuses_steps_per_execution_above_one():
    dt = keras.Variable(0.001, trainable=False)
    inp = keras.Input((None, 1))
    model = keras.Model(inp, keras_spiking.Lowpass(0.1, dt=dt)(inp))
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    scheduler = DtScheduler(dt, lambda step: 0.001 * (step + 1))
    with pytest.raises(ValueError, match="steps_per_execution=2"):
        model.fit(
            np.ones((8, 1, 1)), np.ones((8, 1, 1)), batch_size=2, callbacks=[scheduler]
        )
    assert float(keras.ops.convert_to_numpy(dt)) == pytest.approx(0.001)


@pytest.mark.parametrize(
    "variable, message",
    [
        (lambda: keras.Variable(1, dtype="int32", trainable=False), "dtype int32"),
        (lambda: keras.Variable(np.ones(3, "float32")), r"shape \(3,\)"),
    ],
)
def test_dt_scheduler_needs_a_variable_of_one_float(variable, message):
    with pytest.raises(ValueError, match=f"one floating-point number.*{message}"):
        DtScheduler(variable(), lambda step: 0.5)


@pytest.mark.parametrize("value", [1e-9, 1e5])
def test_dt_scheduler_checks_the_range_of_the_variables_dtype(value):
    """1e-9 is 0 in float16 and 1e5 is infinite: both are errors, before fit runs
    a step with them, and dt keeps its value."""
    dt = keras.Variable(0.001, dtype="float16", trainable=False)
    inp = keras.Input((None, 1))
    model = keras.Model(inp, keras_spiking.Lowpass(0.1, dt=dt)(inp))
    model.compile(optimizer="sgd", loss="mse")
    scheduler = DtScheduler(dt, lambda step: value)
    with pytest.raises(ValueError, match="float16 variable `dt` stores as"):
        model.fit(np.ones((2, 1, 1)), np.ones((2, 1, 1)), callbacks=[scheduler])
    assert float(keras.ops.convert_to_numpy(dt)) == np.float16(0.001)


@pytest.mark.parametrize(
    "layer, message",
    [
        (lambda: keras_spiking.Lowpass(keras.initializers.Constant(-1.0)), "tau"),
        (lambda: keras_spiking.Alpha(keras.initializers.Constant(-1.0)), "tau"),
        (lambda: keras_spiking.Lowpass(0.1, level_initializer=[1, 2]), "level"),
    ],
)
def test_a_layer_whose_build_failed_fails_the_same_way_again(layer, message):
    """Keras builds a layer again after its build raised (e.g. in a subclassed
    model's predict); the error is the same each time, not a half-built cell's."""
    layer = layer()
    for _ in range(2):
        with pytest.raises(ValueError, match=message):
            layer(np.ones((1, 3, 4), "float32"))
    assert layer.cell is None


TAUS = np.arange(1, 7, dtype="float32").reshape(2, 3) / 10


@pytest.mark.parametrize(
    "axis, expected",
    [
        (None, np.full((2, 3), 0.35)),
        (-1, [[0.2, 0.2, 0.2], [0.5, 0.5, 0.5]]),
        (1, [[0.25, 0.35, 0.45], [0.25, 0.35, 0.45]]),
        ((1, 2), np.full((2, 3), 0.35)),
        (0, TAUS),
    ],
)
def test_mean_constraint_acts_the_same_on_both_filters(axis, expected):
    """A filter's constraint sees its weight as ``(1, *size)``; ``Mean()`` shares
    one time constant whatever the per-step shape."""
    for name in ("Lowpass", "Alpha"):
        layer = getattr(keras_spiking, name)(TAUS, tau_constraint=Mean(axis=axis))
        layer(np.ones((1, 2, 2, 3), "float32"))
        tau = layer.cell.tau
        constrained = keras.ops.convert_to_numpy(tau.constraint(tau))
        np.testing.assert_allclose(
            np.reshape(constrained, (2, 3)), expected, rtol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_mean_constraint_trains_one_shared_tau(name):
    inp = keras.Input((None, 2, 3))
    layer = getattr(keras_spiking, name)(TAUS, tau_constraint=Mean(), dt=0.01)
    model = keras.Model(inp, layer(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.uniform(size=(4, 5, 2, 3)), rng.uniform(size=(4, 5, 2, 3)), verbose=0)
    tau = np.asarray(layer.cell.tau.numpy())
    np.testing.assert_allclose(tau, tau.flat[0], rtol=1e-6)


@pytest.mark.parametrize(
    "shape, what", [((0, 5, 3), "no examples"), ((4, 0, 3), "no time steps")]
)
def test_model_energy_refuses_example_data_without_values(shape, what):
    inp = keras.Input((None, 3))
    x = keras_spiking.SpikingActivation("relu")(keras.layers.Dense(3)(inp))
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match=f"no values .*{what}"):
        keras_spiking.ModelEnergy(model, example_data=np.ones(shape))


@pytest.mark.parametrize(
    "argument",
    [
        "return_sequences",
        "return_state",
        "stateful",
        "unroll",
        "time_major",
        "go_backwards",
    ],
)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_flags_must_be_bools(name, argument):
    with pytest.raises(TypeError, match=f"`{argument}` must be True or False"):
        LAYERS[name](**{argument: "False"})
    LAYERS[name](**{argument: np.bool_(False)})  # numpy bools are bools


def test_step_loop_must_be_true_false_or_none():
    with pytest.raises(TypeError, match="`step_loop` must be True"):
        keras_spiking.Lowpass(0.1, step_loop="auto")


def test_training_flags_must_be_bools():
    with pytest.raises(TypeError, match="`spiking_aware_training`"):
        keras_spiking.SpikingActivation("relu", spiking_aware_training="yes")
    with pytest.raises(TypeError, match="`spiking_aware_training`"):
        keras_spiking.SpikingActivationCell(3, "relu", spiking_aware_training=1)
    with pytest.raises(TypeError, match="`apply_during_training`"):
        keras_spiking.Alpha(0.1, apply_during_training="no")
    with pytest.raises(TypeError, match="`apply_during_training`"):
        keras_spiking.LowpassCell(3, 0.1, apply_during_training=0)


@pytest.mark.parametrize(
    "cell, n_states",
    [
        (lambda: keras_spiking.SpikingActivationCell(4, "relu"), 1),
        (lambda: keras_spiking.LowpassCell(4, 0.1), 1),
        (lambda: keras_spiking.AlphaCell(4, 0.1), 2),
    ],
)
def test_cell_checks_its_states(cell, n_states):
    cell = cell()
    x = np.ones((3, 4), "float32")
    state = np.zeros((3, 4), "float32")
    for wrong in (n_states - 1, n_states + 1):
        with pytest.raises(ValueError, match=f"takes {n_states} state tensor"):
            cell(x, [state] * wrong)
    with pytest.raises(ValueError, match=r"State 0 .* must have shape \(3, 4\)"):
        cell(x, [np.zeros((3, 5), "float32")] * n_states)
    output, states = cell(x, [state] * n_states)
    assert tuple(output.shape) == (3, 4) and len(states) == n_states


# --- item 9: clear errors -------------------------------------------------------------


X = np.ones((2, 3, 4), "float32")


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_tau_as_a_backend_tensor_works_like_its_array(name):
    layer = getattr(keras_spiking, name)
    for values in (np.linspace(0.01, 0.04, 4).astype("float32"), np.float32(0.02)):
        expected = to_numpy(layer(values)(X))
        actual = to_numpy(layer(keras.ops.convert_to_tensor(values))(X))
        np.testing.assert_allclose(actual, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "tau, error, message",
    [
        ("0.1", ValueError, r"`tau` must be a time constant.*pass the number itself"),
        ("fast", ValueError, r"`tau` must be a time constant.*got tau='fast'"),
        (lambda: keras.Variable(0.1), TypeError, "`tau` cannot be a variable"),
        ([[0.1, 0.2], [0.1]], ValueError, r"`tau` must be .* regular shape"),
        (["a", "b"], ValueError, r"`tau` must be .* regular shape"),
        (object(), ValueError, "`tau` must be a time constant"),
    ],
)
def test_tau_of_the_wrong_kind_is_a_clear_error(tau, error, message):
    tau = tau() if callable(tau) else tau
    with pytest.raises(error, match=message):
        keras_spiking.Lowpass(tau)
    with pytest.raises(error, match=message):
        keras_spiking.AlphaCell(4, tau)


@pytest.mark.parametrize("step_loop", [True, False])
def test_activation_that_changes_the_shape_is_a_clear_error(step_loop):
    layer = keras_spiking.SpikingActivation(lambda x: x[..., :2], step_loop=step_loop)
    with pytest.raises(
        ValueError,
        match=r"changed the shape of its input from \(\d+, 4\) to \(\d+, 2\)",
    ):
        layer(X)


@pytest.mark.parametrize("step_loop", [True, False])
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_activation_that_returns_integers_gives_rates(step_loop, dtype):
    x = np.repeat(np.arange(4, dtype="float32")[None, None] * 100, 20, axis=1)

    def integer_rates(z):
        return keras.ops.cast(z, dtype)

    def float_rates(z):
        return keras.ops.cast(keras.ops.cast(z, dtype), "float32")

    kwargs = {"dt": 0.1, "seed": 0, "step_loop": step_loop}
    actual = to_numpy(keras_spiking.SpikingActivation(integer_rates, **kwargs)(x))
    expected = to_numpy(keras_spiking.SpikingActivation(float_rates, **kwargs)(x))
    np.testing.assert_array_equal(actual, expected)
    assert np.sum(actual) > 0


@pytest.mark.parametrize("name", ["Lowpass", "Alpha"])
def test_level_initializer_values_are_checked_against_the_step_shape(name):
    layer = getattr(keras_spiking, name)(
        0.1, level_initializer=keras.initializers.Constant([1.0, 2.0])
    )
    with pytest.raises(
        ValueError, match=r"`level_initializer` of shape \(2,\) does not fit .*\(4,\)"
    ):
        layer(X)
    with pytest.raises(ValueError, match=r"`level_initializer` must be .*'zerosx'"):
        getattr(keras_spiking, name)(0.1, level_initializer="zerosx")
    # an array gives one initial level per unit, like `tau`
    levels = np.arange(4, dtype="float32")
    layer = getattr(keras_spiking, name)(
        0.1, level_initializer=levels, return_state=True
    )
    _, *states = layer(np.zeros((1, 0, 4), "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(states[-1])[0], levels)


@pytest.mark.parametrize("name", LAYERS)
def test_bidirectional_wraps_the_layers(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 7, 3)).astype("float32")
    if name == "SpikingActivation":
        x = x * 1000
    wrapped = keras.layers.Bidirectional(LAYERS[name](), merge_mode=None)
    forward, backward = (keras.ops.convert_to_numpy(y) for y in wrapped(x))
    np.testing.assert_allclose(forward, keras.ops.convert_to_numpy(LAYERS[name]()(x)))
    # backwards in time: the layer on the reversed sequence, put back in order
    reference = keras.ops.convert_to_numpy(LAYERS[name]()(x[:, ::-1]))[:, ::-1]
    np.testing.assert_allclose(backward, reference, rtol=1e-6)

    config = wrapped.backward_layer.get_config()
    assert config["go_backwards"] is True
    assert type(wrapped.backward_layer).from_config(config).go_backwards


def test_go_backwards_needs_batch_major_input():
    with pytest.raises(ValueError, match="go_backwards=True needs time_major=False"):
        keras_spiking.Lowpass(0.1, go_backwards=True, time_major=True)


STEPS = np.ones((5, 3, 4), "float32")  # (time, batch, size)
STATE = np.zeros((3, 4), "float32")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: sequence.spiking_sequence(STEPS, STATE, 0.001, time_axis=2),
            ValueError,
            r"`time_axis` must be 0 .* or 1",
        ),
        (
            lambda: sequence.lowpass_sequence(STEPS, STATE, 0.5, time_axis=-1),
            ValueError,
            "`time_axis` must be 0",
        ),
        (
            lambda: sequence.alpha_sequence(
                STEPS, [STATE, STATE], ((1, 0), (0, 1)), (0, 1), time_axis="1"
            ),
            TypeError,
            "`time_axis` must be 0",
        ),
        (
            lambda: sequence.spiking_sequence(STEPS, STATE, 0.001, time_axis=1),
            ValueError,
            r"State 0 of `spiking_sequence` must have shape \(5, 4\)",
        ),
        (
            lambda: sequence.spiking_sequence(STEPS, STATE, np.ones(4)),
            ValueError,
            "`dt` of `spiking_sequence` must be a scalar",
        ),
        (
            lambda: sequence.lowpass_sequence(STEPS, STATE, np.full(5, 0.5)),
            ValueError,
            r"coefficient of `lowpass_sequence` has shape \(5,\)",
        ),
        (
            lambda: sequence.linear_sequence(STEPS, (STATE,), ((np.ones(7),),), (0.5,)),
            ValueError,
            r"coefficient of `linear_sequence` has shape \(7,\)",
        ),
        (
            lambda: sequence.alpha_sequence(STEPS, [STATE], ((1, 0), (0, 1)), (0, 1)),
            ValueError,
            r"`alpha_sequence` takes 2 state tensor\(s\)",
        ),
        (
            lambda: sequence.linear_sequence(STEPS, (STATE, STATE), ((0.5,),), (0.5,)),
            ValueError,
            r"has 2 state\(s\), so it needs a 2 x 2 matrix",
        ),
        (
            lambda: sequence.linear_sequence(STEPS, (STATE,), ((0.5,),), (0.5, 0.5)),
            ValueError,
            r"needs 1 input coefficient",
        ),
    ],
)
def test_sequence_functions_check_their_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sequence_functions_still_take_what_they_document():
    outputs, state = sequence.lowpass_sequence(
        np.swapaxes(STEPS, 0, 1), STATE, np.full(4, 0.5, "float32"), time_axis=1
    )
    assert tuple(outputs.shape) == (3, 5, 4) and tuple(state.shape) == (3, 4)
    outputs, states = sequence.alpha_sequence(
        STEPS, [STATE, STATE], ((0.5, 0.0), (0.1, 0.5)), (0.1, 0.0)
    )
    assert tuple(outputs.shape) == (5, 3, 4) and len(states) == 2
