"""Tests for keras_spiking.converter, against numpy re-derivations of the models."""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

import keras_spiking
from keras_spiking.converter import Converter, FiringRateScale, TimeReadout, convert
from keras_spiking.model_energy import ModelEnergy


def relu(x):
    return np.maximum(x, 0)


def tile(x, steps):
    """Present each example for ``steps`` time steps."""
    return np.repeat(x[:, None], steps, axis=1)


def run(model, x):
    return keras.ops.convert_to_numpy(model(x))


def layers_of(model, layer_type):
    return [layer for layer in model.layers if type(layer) is layer_type]


@pytest.fixture
def mlp():
    """A two-hidden-layer relu MLP and its numpy forward pass."""
    inp = keras.Input((6,))
    x = keras.layers.Dense(16, activation="relu")(inp)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(12)(x)
    x = keras.layers.ReLU()(x)
    out = keras.layers.Dense(3)(x)
    model = keras.Model(inp, out)
    w1, b1, w2, b2, w3, b3 = model.get_weights()

    def numpy_model(x):
        return relu(relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3

    return model, numpy_model


@pytest.fixture
def cnn():
    """A small CNN with BatchNormalization whose moving statistics are not trivial."""
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(6, 2, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)  # after a nonlinearity: kept per step
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3)(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    for layer in layers_of(model, keras.layers.BatchNormalization):
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights(
            [
                rng.uniform(0.5, 2, gamma.shape),
                rng.normal(0, 0.3, beta.shape),
                rng.normal(0, 0.3, mean.shape),
                rng.uniform(0.5, 2, variance.shape),
            ]
        )
    return model


def test_mlp_approaches_the_rate_model_as_steps_grow(mlp):
    model, numpy_model = mlp
    x = np.random.default_rng(0).uniform(-1, 1, (32, 6)).astype("float32")
    expected = numpy_model(x)
    # an activation of 1 fires 20 spikes per step: enough that the spikes a layer
    # receives hardly ever dip below zero input, where its relu would clip them
    spiking = convert(model, dt=1, seed=0, scale_firing_rates=20)
    errors = [np.abs(run(spiking, tile(x, n)) - expected).max() for n in (1, 10, 100)]
    scale = np.abs(expected).max()
    # the mean of the spikes is off by at most one spike per neuron over the run
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01 * scale

    # the rate limit: with 100 spikes per step for an activation of 1, 10 steps
    # are within a thousandth of a unit of each neuron's rate
    dense = convert(model, seed=0, scale_firing_rates=1e5)
    np.testing.assert_allclose(run(dense, tile(x, 10)), expected, atol=0.01 * scale)


def test_weights_are_exact_copies(mlp, cnn):
    for model in mlp[0], cnn:
        spiking = convert(model, scale_firing_rates=1, fold_batch_norm=False)
        for layer in model.layers:
            if not layer.weights or isinstance(layer, keras.layers.Dropout):
                continue
            copy = spiking.get_layer(layer.name)
            copy = getattr(copy, "layer", copy)  # unwrap BatchedTimeDistributed
            assert type(copy) is type(layer)
            for original, new in zip(layer.weights, copy.weights, strict=True):
                assert new is not original
                np.testing.assert_array_equal(
                    keras.ops.convert_to_numpy(new),
                    keras.ops.convert_to_numpy(original),
                )


def test_converted_model_trains_without_changing_the_original(mlp):
    model, _ = mlp
    before = [w.copy() for w in model.get_weights()]
    spiking = convert(model, dt=0.01, seed=0)
    assert not layers_of(spiking, keras.layers.Dropout)  # training-only: left out
    spiking.compile(keras.optimizers.SGD(0.1), "mse")
    rng = np.random.default_rng(0)
    spiking.fit(rng.uniform(size=(8, 5, 6)), rng.normal(size=(8, 3)), verbose=0)
    for original, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(now, original)
    # spiking aware training: the gradient of the relu reaches the first kernel
    first = keras.ops.convert_to_numpy(spiking.get_layer(model.layers[1].name).kernel)
    assert np.abs(first - before[0]).max() > 1e-4


@pytest.mark.parametrize("fold_batch_norm", [True, False])
def test_cnn_rate_model_is_the_original(cnn, fold_batch_norm):
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 2)).astype("float32")
    expected = run(cnn, x)
    rate = convert(cnn, swap_activations=(), fold_batch_norm=fold_batch_norm)
    assert not layers_of(rate, keras_spiking.SpikingActivation)
    np.testing.assert_allclose(run(rate, tile(x, 3)), expected, atol=1e-5)

    norms = [
        layer
        for layer in rate.layers
        if isinstance(getattr(layer, "layer", None), keras.layers.BatchNormalization)
    ]
    # only the BatchNormalization right after the linear Conv2D is folded
    assert len(norms) == (1 if fold_batch_norm else 2)


def test_batch_norm_folding_formula(cnn):
    conv, norm = cnn.layers[1], cnn.layers[2]
    gamma, beta, mean, variance = norm.get_weights()
    factor = gamma / np.sqrt(variance + norm.epsilon)
    folded = convert(cnn).get_layer(conv.name).layer
    kernel, bias = folded.get_weights()
    np.testing.assert_allclose(kernel, conv.get_weights()[0] * factor, rtol=1e-6)
    np.testing.assert_allclose(bias, beta - mean * factor, rtol=1e-6, atol=1e-7)


def test_cnn_approaches_the_original_as_steps_grow(cnn):
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 2)).astype("float32")
    expected = run(cnn, x)
    spiking = convert(cnn, dt=1, seed=0, scale_firing_rates=20)
    errors = [np.abs(run(spiking, tile(x, n)) - expected).max() for n in (1, 10, 60)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01 * np.abs(expected).max()


def test_scale_firing_rates_raises_rates_and_keeps_outputs(mlp):
    model, numpy_model = mlp
    x = np.random.default_rng(0).uniform(-1, 1, (32, 6)).astype("float32")
    steps, dt = 50, 0.001
    first = relu(x @ model.get_weights()[0] + model.get_weights()[1])
    for scale in (100, 1000):
        spiking = convert(model, dt=dt, seed=0, scale_firing_rates=scale)
        spikes_layer = layers_of(spiking, keras_spiking.SpikingActivation)[0]
        probe = keras.Model(spiking.input, spikes_layer.output)
        counts = run(probe, tile(x, steps)).sum(axis=1) * dt
        # a neuron driven at rate r for T steps spikes floor(v0 + r * dt * T) times,
        # with v0 in [0, 1)
        expected = first * scale * dt * steps
        assert np.all(counts >= np.floor(expected) - 1e-3)
        assert np.all(counts <= np.floor(expected) + 1 + 1e-3)
        # the output is the original's either way (to within one spike per run)
        error = np.abs(run(spiking, tile(x, steps)) - numpy_model(x)).max()
        assert error < 20 / (scale * dt * steps) * np.abs(numpy_model(x)).max()


def test_default_scale_is_one_spike_per_unit_activation_per_step():
    inp = keras.Input((3,))
    a = keras.layers.Dense(3, activation="relu")(inp)
    b = keras.layers.Dense(3, activation="sigmoid")(inp)
    model = keras.Model(inp, keras.layers.Concatenate()([a, b]))
    spiking = convert(model, dt=0.01, output="sequence")
    scales = sorted(layer.scale for layer in layers_of(spiking, FiringRateScale))
    # relu is scaled by 1 / dt (and back, before it meets the unscaled sigmoid
    # branch); sigmoid (not homogeneous) is not scaled
    np.testing.assert_allclose(scales, [0.01, 100.0])
    assert len(layers_of(spiking, keras_spiking.SpikingActivation)) == 2


@pytest.mark.parametrize("output", ["mean", "last", "sequence"])
def test_output_modes(mlp, output):
    model, _ = mlp
    x = np.random.default_rng(0).uniform(-1, 1, (4, 7, 6)).astype("float32")
    sequence = run(convert(model, seed=1, output="sequence"), x)
    assert sequence.shape == (4, 7, 3)
    result = run(convert(model, seed=1, output=output), x)
    expected = {"mean": sequence.mean(axis=1), "last": sequence[:, -1]}
    np.testing.assert_allclose(result, expected.get(output, sequence), atol=1e-5)


def test_synapse_adds_a_lowpass_after_each_spiking_layer(mlp):
    spiking = convert(mlp[0], synapse=0.02, dt=0.002)
    kinds = [
        type(layer).__name__
        for layer in spiking.layers
        if isinstance(layer, (keras_spiking.SpikingActivation, keras_spiking.Lowpass))
    ]
    assert kinds == ["SpikingActivation", "Lowpass"] * 2
    for layer in layers_of(spiking, keras_spiking.Lowpass):
        assert layer.get_config()["tau"]["config"]["value"] == 0.02
        assert layer.dt == 0.002


def test_options_reach_every_spiking_layer(mlp):
    spiking = convert(mlp[0], dt=0.005, seed=3, spiking_aware_training=False)
    layers = layers_of(spiking, keras_spiking.SpikingActivation)
    assert [layer.dt for layer in layers] == [0.005, 0.005]
    assert not any(layer.spiking_aware_training for layer in layers)
    seeds = [layer.seed for layer in layers]
    assert len(set(seeds)) == 2
    assert seeds == [
        layer.seed
        for layer in layers_of(convert(mlp[0], seed=3), keras_spiking.SpikingActivation)
    ]


def test_swap_activations_chooses_which_become_spiking():
    inp = keras.Input((4,))
    x = keras.layers.Dense(5, activation="tanh")(inp)
    x = keras.layers.Dense(5)(x)
    x = keras.layers.LeakyReLU(negative_slope=0.1)(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inp, out)

    def activations(spiking):
        found = []
        for layer in spiking.layers:
            if isinstance(layer, keras_spiking.SpikingActivation):
                found.append(("spiking", layer.activation))
            elif isinstance(layer, (keras.layers.Activation, keras.layers.LeakyReLU)):
                found.append(("rate", getattr(layer, "activation", layer)))
        return [(kind, getattr(f, "__name__", type(f).__name__)) for kind, f in found]

    assert activations(convert(model)) == [
        ("spiking", "tanh"),
        ("spiking", "LeakyReLU"),
        ("rate", "softmax"),
    ]
    assert activations(convert(model, swap_activations={"leaky_relu"})) == [
        ("rate", "tanh"),
        ("spiking", "LeakyReLU"),
        ("rate", "softmax"),
    ]
    leaky = layers_of(convert(model), keras_spiking.SpikingActivation)[1].activation
    assert leaky.negative_slope == pytest.approx(0.1)


def test_branches_nested_and_shared_layers():
    shared = keras.layers.Dense(4, activation="relu")
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    inp = keras.Input((5,))
    a = shared(keras.layers.Dense(4)(inp))
    b = shared(keras.layers.Dense(4)(inp))
    x = keras.layers.Add()([a, inner(b)])
    x = keras.layers.Concatenate(axis=1)([x, a])
    model = keras.Model(inp, x)
    x_in = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")

    rate = convert(model, swap_activations=())
    np.testing.assert_allclose(run(rate, tile(x_in, 2)), run(model, x_in), atol=1e-5)
    # the shared layer is one layer, applied twice
    assert len([layer for layer in rate.layers if layer.name == shared.name]) == 1

    spiking = convert(model, dt=1, seed=0, scale_firing_rates=1000)
    np.testing.assert_allclose(run(spiking, tile(x_in, 3)), run(model, x_in), atol=1e-2)


def test_rescaling_is_applied_per_step():
    data = np.random.default_rng(0).uniform(0, 255, (6, 4)).astype("float32")
    inp = keras.Input((4,))
    x = keras.layers.Rescaling(1 / 255, offset=-0.5)(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    expected = (data / 255 - 0.5) @ model.get_weights()[0]
    np.testing.assert_allclose(
        run(convert(model), tile(data, 2)), expected, rtol=1e-5, atol=1e-6
    )


def test_max_pooling_needs_max_to_avg_pool():
    inp = keras.Input((4, 4, 1))
    out = keras.layers.Flatten()(keras.layers.MaxPooling2D(2, name="pool")(inp))
    model = keras.Model(inp, out)
    with pytest.raises(ValueError, match="'pool'.*max_to_avg_pool=True"):
        convert(model)
    converted = convert(model, max_to_avg_pool=True)
    pooling = converted.get_layer("pool").layer
    assert type(pooling) is keras.layers.AveragePooling2D
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    expected = x.reshape(2, 2, 2, 2).mean(axis=(1, 3)).reshape(1, 4)
    np.testing.assert_allclose(run(converted, tile(x, 2)), expected)


def test_recurrent_layer_is_an_error():
    inp = keras.Input((3, 2))
    model = keras.Model(inp, keras.layers.LSTM(4, name="memory")(inp))
    with pytest.raises(ValueError, match="'memory' \\(LSTM\\) has a time axis"):
        convert(model)


class Double(keras.layers.Layer):
    def call(self, x):
        return 2 * x


@pytest.fixture
def restore_rules():
    rules = dict(Converter.rules)
    yield
    Converter.rules.clear()
    Converter.rules.update(rules)


def test_custom_layer_needs_a_rule(restore_rules):
    inp = keras.Input((3,))
    model = keras.Model(inp, Double(name="twice")(keras.layers.Dense(3)(inp)))
    with pytest.raises(ValueError, match="'twice' of type Double.*register_layer"):
        convert(model)

    Converter.register_layer(Double)(Converter.per_step)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    np.testing.assert_allclose(
        run(convert(model), tile(x, 2)), run(model, x), rtol=1e-6
    )


def test_custom_rule_with_a_nonlinearity(restore_rules):
    class DenseRelu(keras.layers.Dense):
        def call(self, x):
            return keras.ops.relu(super().call(x))

    @Converter.register_layer(DenseRelu)
    def convert_dense_relu(converter, layer, inputs):
        linear = keras.layers.Dense.from_config(layer.get_config())
        x = converter.per_step(linear, inputs, weights=layer.get_weights())
        return converter.nonlinearity(x, "relu", name=layer.name)

    inp = keras.Input((3,))
    model = keras.Model(inp, DenseRelu(4)(inp))
    spiking = convert(model, dt=1, seed=0, scale_firing_rates=1e4)
    assert len(layers_of(spiking, keras_spiking.SpikingActivation)) == 1
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(run(spiking, tile(x, 2)), run(model, x), atol=1e-3)


def test_graph_errors():
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.ops.exp(keras.layers.Dense(3)(inp)))
    with pytest.raises(ValueError, match="is not a layer"):
        convert(model)

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="no graph of layers"):
        convert(Subclassed())


@pytest.mark.parametrize(
    "options, match",
    [
        ({"output": "max"}, "`output` must be one of"),
        ({"scale_firing_rates": 0}, "`scale_firing_rates` must be"),
        ({"synapse": -0.1}, "`synapse` must be"),
        ({"swap_activations": "relu"}, "not a string"),
        ({"seed": 1.5}, "`seed` must be"),
    ],
)
def test_option_errors(mlp, options, match):
    with pytest.raises(ValueError, match=match):
        convert(mlp[0], **options)


def test_model_energy_knows_every_converted_layer():
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(3)(pooled)
    model = keras.Model(inp, out)
    spiking = convert(model, dt=0.05, synapse=0.01, scale_firing_rates=400)
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        energy = ModelEnergy(spiking, example_data=tile(images, 20))
    assert not [w for w in caught if "does not know" in str(w.message)]
    for layer in layers_of(spiking, FiringRateScale):
        assert energy.layer_stats[layer] == {
            "connections": 0,
            "neurons": 0,
            "spiking": True,
        }
    # the mean over time sums each step's 3 outputs: one connection each, as the
    # global average pooling sums each channel's 2 x 2 positions
    (readout,) = layers_of(spiking, TimeReadout)
    assert energy.layer_stats[readout]["connections"] == 3
    (pooling,) = [
        layer
        for layer in spiking.layers
        if type(getattr(layer, "layer", None)) is keras.layers.GlobalAveragePooling2D
    ]
    assert energy.layer_stats[pooling]["connections"] == 2 * 2 * 4
    assert all(stats["spiking"] for stats in energy.layer_stats.values())
    # the division by scale_firing_rates is folded into the Dense kernel, so the
    # Dense layer reads whole (filtered) spikes: its input rate is 400 times the
    # activation it had in the original model
    original = np.abs(run(keras.Model(inp, pooled), images)).mean()
    dense = layers_of(spiking, keras.layers.Dense)[0]
    # (not 1/400 of it, as it would be without the folding)
    assert energy.layer_rates[dense] == pytest.approx(400 * original, rel=0.1)


def test_converted_model_config_round_trips(cnn):
    """The converter's layers give their whole configs (as saving needs): a model
    rebuilt from the converted model's config computes the same outputs."""
    spiking = convert(cnn, seed=0, synapse=0.005, scale_firing_rates=300)
    clone = keras.Model.from_config(spiking.get_config())
    assert [type(layer) for layer in clone.layers] == [
        type(layer) for layer in spiking.layers
    ]
    clone.set_weights(spiking.get_weights())
    x = tile(np.random.default_rng(0).uniform(size=(4, 8, 8, 2)), 5)
    np.testing.assert_allclose(run(clone, x), run(spiking, x), atol=1e-5)


@pytest.mark.slow  # a fresh Python process, which starts its backend anew
def test_save_and_load_in_a_fresh_process(mlp, cnn, tmp_path):
    spiking = convert(cnn, seed=0, synapse=0.005, scale_firing_rates=300)
    x = tile(np.random.default_rng(0).uniform(size=(4, 8, 8, 2)), 5)
    path = tmp_path / "spiking.keras"
    spiking.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import keras, numpy as np
        import keras_spiking.converter  # registers the converter's layers
        model = keras.models.load_model({str(path)!r})
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "y.npy")!r}, keras.ops.convert_to_numpy(model(x)))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), run(spiking, x), atol=1e-5)


@pytest.mark.slow  # trains a CNN for 8 epochs
def test_digits_cnn_reaches_its_accuracy_with_default_options():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = (images / 16).reshape(-1, 8, 8, 1).astype("float32")
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1300], order[1300:]

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.1)(x)
    out = keras.layers.Dense(10)(x)
    model = keras.Model(inp, out)
    model.compile(
        keras.optimizers.Adam(0.003),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images[train], labels[train], epochs=8, batch_size=32, verbose=0)

    def accuracy(outputs):
        return np.mean(np.argmax(outputs, axis=-1) == labels[test])

    rate_accuracy = accuracy(run(model, images[test]))
    assert rate_accuracy > 0.85  # it has learned something
    spiking = convert(model, seed=0)
    # measured: 97.4% rate, 97.4-97.6% spiking at 5 to 50 steps (TensorFlow); the
    # issue asks for 2 points at most, this asserts 1
    assert accuracy(run(spiking, tile(images[test], 10))) >= rate_accuracy - 0.01


def test_normalization_is_applied_at_each_step():
    mean, variance = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])
    inp = keras.Input((3,))
    x = keras.layers.Normalization(mean=mean, variance=variance)(inp)
    model = keras.Model(inp, keras.layers.Dense(2, activation="relu")(x))
    w, b = model.layers[-1].get_weights()
    spiking = convert(model, swap_activations=(), output="sequence")
    data = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    # (no spiking layers: the converted model is the original one at every step)
    want = relu(((data - mean) / np.sqrt(variance)) @ w + b)
    np.testing.assert_allclose(run(spiking, tile(data, 5)), tile(want, 5), rtol=1e-5)


def test_time_readout_counts_connections_only_when_averaging(mlp):
    counts = {}
    for output in ("mean", "last"):
        spiking = convert(mlp[0], output=output, seed=0)
        energy = ModelEnergy(spiking)
        (readout,) = layers_of(spiking, TimeReadout)
        counts[output] = energy.layer_stats[readout]["connections"]
    assert counts == {"mean": 3, "last": 0}
