"""Tests for keras_spiking.model_energy, against hand-computed figures."""

import copy
import warnings

import keras
import numpy as np
import pytest

import keras_spiking
from keras_spiking.model_energy import ModelEnergy

# The device table of the issue, written out independently of the implementation:
# (J per synaptic operation, J per neuron update, event-based).
DEVICES = {
    "cpu": (8.6e-9, 8.6e-9, False),
    "gpu": (0.3e-9, 0.3e-9, False),
    "arm": (0.9e-9, 0.9e-9, False),
    "loihi": (27.1e-12, 81e-12, True),
    "spinnaker": (13.3e-9, 26e-9, True),
    "spinnaker2": (450e-12, 2.19e-9, True),
}


@pytest.fixture
def restore_registries():
    """Undo any change a test makes to the class-level registries."""
    devices = copy.deepcopy(ModelEnergy.devices)
    computers = dict(ModelEnergy.layer_stats_computers)
    yield
    ModelEnergy.devices.clear()
    ModelEnergy.devices.update(devices)
    ModelEnergy.layer_stats_computers.clear()
    ModelEnergy.layer_stats_computers.update(computers)


def stats_of(input_shape, layer):
    """Statistics of ``layer`` applied once to ``keras.Input(input_shape)``."""
    layer(keras.Input(input_shape))
    return ModelEnergy.compute_layer_stats(layer)


def stats(connections, neurons, spiking):
    return {"connections": connections, "neurons": neurons, "spiking": spiking}


# --- per-layer statistics -------------------------------------------------------------


@pytest.mark.parametrize(
    "input_shape, layer, expected",
    [
        # in * out connections; neurons only with a nonlinearity
        ((5,), keras.layers.Dense(3), stats(5 * 3, 0, True)),
        ((5,), keras.layers.Dense(3, activation="relu"), stats(5 * 3, 3, False)),
        # a time axis of unknown length counts once: per-step figures
        ((None, 5), keras.layers.Dense(3, activation="tanh"), stats(15, 3, False)),
        # every other axis before the units is a position with its own kernel
        ((4, 5), keras.layers.Dense(3, activation="relu"), stats(4 * 15, 4 * 3, False)),
        ((2, 3, 5), keras.layers.Dense(3), stats(2 * 3 * 15, 0, True)),
        ((None, 2, 5), keras.layers.Dense(3), stats(2 * 15, 0, True)),
    ],
)
def test_dense(input_shape, layer, expected):
    assert stats_of(input_shape, layer) == expected


@pytest.mark.parametrize(
    "input_shape, layer, expected",
    [
        # length 10 - 3 + 1 = 8 outputs x 4 filters, each from 3 x 2 inputs
        ((10, 2), keras.layers.Conv1D(4, 3), stats(8 * 4 * 3 * 2, 0, True)),
        # strides 2, same padding: ceil(10 / 2) = 5 outputs
        (
            (10, 2),
            keras.layers.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
            stats(5 * 4 * 3 * 2, 5 * 4, False),
        ),
        # causal padding keeps the length
        (
            (10, 2),
            keras.layers.Conv1D(4, 3, padding="causal"),
            stats(10 * 4 * 6, 0, True),
        ),
        # (9 - 3) // 2 + 1 = 4 per side, 6 filters, kernel 3 x 3 x 4
        (
            (9, 9, 4),
            keras.layers.Conv2D(6, 3, strides=2),
            stats(4 * 4 * 6 * 3 * 3 * 4, 0, True),
        ),
        # groups=2: each output channel sees 4 / 2 input channels
        (
            (9, 9, 4),
            keras.layers.Conv2D(6, 3, strides=2, groups=2),
            stats(4 * 4 * 6 * 3 * 3 * 2, 0, True),
        ),
        # same padding keeps 8 x 8
        (
            (8, 8, 3),
            keras.layers.Conv2D(5, 3, padding="same", activation="relu"),
            stats(8 * 8 * 5 * 3 * 3 * 3, 8 * 8 * 5, False),
        ),
        # rectangular kernel and strides: (7 - 2) // 1 + 1 = 6, (11 - 3) // 3 + 1 = 3
        (
            (7, 11, 2),
            keras.layers.Conv2D(3, (2, 3), strides=(1, 3)),
            stats(6 * 3 * 3 * 2 * 3 * 2, 0, True),
        ),
        # channels first: input (3, 8, 8) -> output (4, 6, 6)
        (
            (3, 8, 8),
            keras.layers.Conv2D(4, 3, data_format="channels_first"),
            stats(4 * 6 * 6 * 3 * 3 * 3, 0, True),
        ),
        # output (3, 3, 3, 2), kernel 2 x 3 x 3 x 3
        (
            (4, 7, 7, 3),
            keras.layers.Conv3D(2, (2, 3, 3), strides=(1, 2, 2)),
            stats(3 * 3 * 3 * 2 * 2 * 3 * 3 * 3, 0, True),
        ),
        # groups in 3D: 4 input channels in 4 groups, 8 filters
        (
            (3, 3, 3, 4),
            keras.layers.Conv3D(8, 3, padding="same", groups=4, activation="sigmoid"),
            stats(27 * 8 * 27 * 1, 27 * 8, False),
        ),
    ],
)
def test_conv(input_shape, layer, expected):
    assert stats_of(input_shape, layer) == expected


@pytest.mark.parametrize(
    "input_shape, layer, expected",
    [
        # one step of Conv2D on 8 x 8 x 1: 6 x 6 x 4 outputs, 3 x 3 kernel
        (
            (None, 8, 8, 1),
            keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3)),
            stats(6 * 6 * 4 * 9, 0, True),
        ),
        # also when the number of steps is known
        (
            (7, 8, 8, 1),
            keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3, activation="relu")),
            stats(6 * 6 * 4 * 9, 6 * 6 * 4, False),
        ),
        (
            (None, 5),
            keras.layers.TimeDistributed(keras.layers.Dense(7, activation="relu")),
            stats(35, 7, False),
        ),
        (
            (None, 4, 3),
            keras.layers.TimeDistributed(keras.layers.Flatten()),
            stats(0, 0, True),
        ),
    ],
)
def test_time_distributed(input_shape, layer, expected):
    assert stats_of(input_shape, layer) == expected


@pytest.mark.parametrize(
    "input_shape, layer, expected",
    [
        ((4, 5), keras.layers.Activation("relu"), stats(0, 20, False)),
        ((4, 5), keras.layers.Activation("linear"), stats(0, 0, True)),
        ((3, 4), keras.layers.ReLU(), stats(0, 12, False)),
        ((3, 4), keras.layers.LeakyReLU(), stats(0, 12, False)),
        ((None, 6), keras.layers.ReLU(), stats(0, 6, False)),
        # neurons are the per-step input elements (batch and time excluded)
        ((None, 4, 5), keras_spiking.SpikingActivation("relu"), stats(0, 20, True)),
        ((10, 4, 5), keras_spiking.SpikingActivation("relu"), stats(0, 20, True)),
        # time major: (time, batch, size); Input's "batch" axis is the time here
        (
            (3, 6),
            keras_spiking.SpikingActivation("relu", time_major=True),
            stats(0, 6, True),
        ),
    ],
)
def test_activations(input_shape, layer, expected):
    assert stats_of(input_shape, layer) == expected


@pytest.mark.parametrize(
    "input_shape, layer",
    [
        ((6,), keras.layers.Reshape((2, 3))),
        ((2, 3), keras.layers.Flatten()),
        ((6,), keras.layers.Dropout(0.5)),
        ((4, 4, 2), keras.layers.GlobalAveragePooling2D()),
        ((5, 2), keras.layers.GlobalAveragePooling1D()),
    ],
)
def test_data_moving_layers_count_zero_silently(input_shape, layer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats_of(input_shape, layer) == stats(0, 0, True)


def test_add_and_input_layer_count_zero_silently():
    a, b = keras.Input((3,)), keras.Input((3,))
    out = keras.layers.Add()([a, b])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        energy = ModelEnergy(keras.Model([a, b], out))
    assert len(energy.model.layers) == 3
    for layer in energy.model.layers:
        assert energy.layer_stats[layer] == stats(0, 0, True)


def test_unknown_layer_warns():
    layer = keras.layers.BatchNormalization(name="bn")
    with pytest.warns(UserWarning, match=r"BatchNormalization.*'bn'.*register_layer"):
        assert stats_of((4,), layer) == stats(0, 0, True)


def test_unknown_layer_inside_time_distributed_warns():
    layer = keras.layers.TimeDistributed(keras.layers.BatchNormalization())
    with pytest.warns(UserWarning, match="BatchNormalization"):
        assert stats_of((None, 4), layer) == stats(0, 0, True)


def test_never_applied_layer():
    with pytest.raises(ValueError, match="never been applied"):
        ModelEnergy.compute_layer_stats(keras.layers.Dense(3, name="lonely"))


@pytest.mark.parametrize(
    "input_shape, layer",
    [
        ((None, None, 3), keras.layers.Conv2D(2, 3)),
        ((None, None, 4), keras.layers.Dense(2)),
        ((3, None), keras.layers.ReLU()),
    ],
)
def test_undefined_shape(input_shape, layer):
    with pytest.raises(ValueError, match="undefined"):
        stats_of(input_shape, layer)


def test_model_without_graph():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.ones((1, 3)))
    with pytest.raises(ValueError, match="functional or Sequential"):
        ModelEnergy(model)


def test_shared_layer_sums_over_applications():
    shared = keras.layers.Dense(4, activation="relu")
    inp = keras.Input((4,))
    out = shared(shared(inp))
    model = keras.Model(inp, out)
    # also applied in a second model, which the first model's energy ignores
    other = keras.Input((4,))
    keras.Model(other, shared(other))

    energy = ModelEnergy(model)
    assert energy.layer_stats[shared] == stats(2 * 16, 2 * 4, False)
    # the class method counts every application of the layer
    assert ModelEnergy.compute_layer_stats(shared) == stats(3 * 16, 3 * 4, False)
    node = shared._inbound_nodes[0]
    assert ModelEnergy.compute_layer_stats(shared, node=node) == stats(16, 4, False)


def test_sequential():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
        ]
    )
    energy = ModelEnergy(model)
    conv, flatten, dense = model.layers
    assert energy.layer_stats[conv] == stats(4 * 4 * 3 * 18, 48, False)
    assert energy.layer_stats[flatten] == stats(0, 0, True)
    assert energy.layer_stats[dense] == stats(48 * 5, 0, True)


# --- firing rates ---------------------------------------------------------------------


def test_rates():
    inp = keras.Input((3,))
    first = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    second = keras.layers.Dense(1)
    model = keras.Model(inp, second(first(inp)))
    x = np.array([[1.0, -2.0, 3.0], [0.0, 4.0, -5.0]])

    energy = ModelEnergy(model, example_data=x)
    # mean |x| = 15 / 6; first's output is the row sums (2, -1), twice each
    assert energy.layer_rates[model.layers[0]] == pytest.approx(2.5, rel=1e-6)
    assert energy.layer_rates[first] == pytest.approx(2.5, rel=1e-6)
    assert energy.layer_rates[second] == pytest.approx(1.5, rel=1e-6)


def test_rates_over_time_and_inputs():
    a, b = keras.Input((None, 2)), keras.Input((None, 2))
    add = keras.layers.Add()
    model = keras.Model([a, b], add([a, b]))
    x = np.arange(2 * 3 * 2, dtype="float32").reshape((2, 3, 2)) - 5
    y = np.full((2, 3, 2), -4.0)

    energy = ModelEnergy(model, example_data=[x, y])
    # both inputs of the Add, over batch, time and units
    expected = (np.abs(x).sum() + np.abs(y).sum()) / (2 * x.size)
    assert energy.layer_rates[add] == pytest.approx(expected, rel=1e-6)


def test_rates_of_spikes():
    # input 10 Hz at dt = 0.1: v gains exactly 1 per step, so one spike (height
    # 1 / dt = 10) every step whatever the initial voltage
    inp = keras.Input((None, 3))
    spikes = keras_spiking.SpikingActivation("relu", dt=0.1)
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(spikes(inp)))

    energy = ModelEnergy(model, example_data=np.full((4, 5, 3), 10.0))
    assert energy.layer_rates[spikes] == pytest.approx(10.0, rel=1e-6)
    assert energy.layer_rates[dense] == pytest.approx(10.0, rel=1e-5)


# --- energy ---------------------------------------------------------------------------


@pytest.fixture
def relu_model():
    """4 inputs -> Dense(3, relu) -> Dense(2): 12 + 6 connections, 3 neurons.

    With inputs of 2, the first layer's outputs are all 0.5 * 4 * 2 = 4.
    """
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(
        3, activation="relu", kernel_initializer=keras.initializers.Constant(0.5)
    )
    out = keras.layers.Dense(2)
    model = keras.Model(inp, out(hidden(inp)))
    return model, hidden, out


@pytest.mark.parametrize("device", ["cpu", "gpu", "arm"])
def test_energy_non_event_devices(relu_model, device):
    model, hidden, out = relu_model
    synop, neuron, _ = DEVICES[device]
    energy = ModelEnergy(model)

    assert energy.layer_energy(hidden, device) == pytest.approx(
        (synop * 12, neuron * 3), rel=1e-12
    )
    assert energy.layer_energy(out.name, device) == pytest.approx(
        (synop * 6, 0.0), rel=1e-12
    )
    # one step per inference: timesteps and dt change nothing
    expected = synop * 18 + neuron * 3
    assert energy.total_energy(device) == pytest.approx(expected, rel=1e-12)
    assert energy.total_energy(
        device, timesteps_per_inference=10, dt=0.5
    ) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("device", ["loihi", "spinnaker", "spinnaker2"])
def test_energy_event_devices(relu_model, device):
    model, hidden, out = relu_model
    synop, neuron, _ = DEVICES[device]
    energy = ModelEnergy(model, example_data=np.full((5, 4), 2.0))
    # input rates: 2 for the hidden layer, 4 for the output layer

    # default dt (0.001) and one time step
    assert energy.layer_energy(hidden, device) == pytest.approx(
        (synop * 12 * 2 * 0.001, neuron * 3), rel=1e-6
    )
    assert energy.layer_energy(out, device) == pytest.approx(
        (synop * 6 * 4 * 0.001, 0.0), rel=1e-6
    )

    # 10 steps of 0.01 s
    expected_hidden = (synop * 12 * 2 * 0.01 * 10, neuron * 3 * 10)
    expected_out = (synop * 6 * 4 * 0.01 * 10, 0.0)
    assert energy.layer_energy(
        hidden, device, timesteps_per_inference=10, dt=0.01
    ) == pytest.approx(expected_hidden, rel=1e-6)
    assert energy.total_energy(
        device, timesteps_per_inference=10, dt=0.01
    ) == pytest.approx(sum(expected_hidden) + sum(expected_out), rel=1e-6)

    # dt=None follows keras_spiking.default.dt at the time of the call
    keras_spiking.default.dt = 0.002
    assert energy.layer_energy(out, device)[0] == pytest.approx(
        synop * 6 * 4 * 0.002, rel=1e-6
    )


def test_energy_of_shared_layer_uses_each_applications_rate():
    shared = keras.layers.Dense(2, kernel_initializer="ones")
    inp = keras.Input((2,))
    model = keras.Model(inp, shared(shared(inp)))
    # input 1 -> first application's output 2 -> second application's input 2
    energy = ModelEnergy(model, example_data=np.ones((3, 2)))
    assert energy.layer_rates[shared] == pytest.approx((1 + 2) / 2, rel=1e-6)
    synop, neuron = energy.layer_energy(shared, "loihi", dt=0.01)
    assert synop == pytest.approx(27.1e-12 * (4 * 1 + 4 * 2) * 0.01, rel=1e-6)
    assert neuron == 0


def test_layer_not_in_model(relu_model):
    energy = ModelEnergy(relu_model[0])
    with pytest.raises(ValueError, match="not part of the model"):
        energy.layer_energy(keras.layers.Dense(2, name="stranger"), "cpu")


def test_event_device_needs_example_data(relu_model):
    energy = ModelEnergy(relu_model[0])
    with pytest.raises(ValueError, match="example_data"):
        energy.total_energy("loihi")
    with pytest.raises(ValueError, match="example_data"):
        energy.summary(columns=("name", "energy loihi"))


def test_unknown_device(relu_model):
    energy = ModelEnergy(relu_model[0])
    with pytest.raises(ValueError, match="'tpu'") as info:
        energy.total_energy("tpu")
    for name in DEVICES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="'tpu'"):
        energy.summary(columns=("name", "energy tpu"))


def test_default_device_table():
    assert set(ModelEnergy.devices) == set(DEVICES)
    for name, (synop, neuron, spiking) in DEVICES.items():
        device = ModelEnergy.devices[name]
        assert device["energy_per_synop"] == pytest.approx(synop, rel=1e-12)
        assert device["energy_per_neuron"] == pytest.approx(neuron, rel=1e-12)
        assert device["spiking"] is spiking


# --- registries -----------------------------------------------------------------------


def test_register_device(restore_registries, relu_model):
    model, hidden, _ = relu_model
    ModelEnergy.register_device("mychip", 1e-12, 2e-12, spiking=True)
    energy = ModelEnergy(model, example_data=np.full((2, 4), 2.0))
    assert energy.layer_energy(hidden, "mychip", dt=0.1) == pytest.approx(
        (1e-12 * 12 * 2 * 0.1, 2e-12 * 3), rel=1e-6
    )

    with pytest.warns(UserWarning, match="'cpu' is already registered"):
        ModelEnergy.register_device("cpu", 1.0, 2.0, spiking=False)
    assert energy.layer_energy(hidden, "cpu") == pytest.approx((12.0, 6.0))


def test_register_layer(restore_registries):
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

        def compute_output_shape(self, input_shape):
            return input_shape

    @ModelEnergy.register_layer(Scale)
    def scale_stats(node):
        size = np.prod(node.output_tensors[0].shape[1:])
        return {"connections": size, "neurons": 1, "spiking": False}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats_of((2, 3), Scale()) == stats(6, 1, False)
        # applies to one step inside TimeDistributed too
        layer = keras.layers.TimeDistributed(Scale())
        assert stats_of((None, 5), layer) == stats(5, 1, False)

    with pytest.warns(UserWarning, match="Scale already has"):
        ModelEnergy.register_layer(Scale)(lambda node: {"connections": 7})
    # missing entries count as no neurons, spiking
    assert stats_of((2, 3), Scale()) == stats(7, 0, True)


def test_register_layer_subclasses(restore_registries):
    class MyDense(keras.layers.Dense):
        pass

    # a subclass uses its parent's function until it has its own
    assert stats_of((5,), MyDense(3)) == stats(15, 0, True)
    ModelEnergy.register_layer(MyDense)(lambda node: {"connections": 1})
    assert stats_of((5,), MyDense(3)) == stats(1, 0, True)
    assert stats_of((5,), keras.layers.Dense(3)) == stats(15, 0, True)


# --- summary --------------------------------------------------------------------------


@pytest.fixture
def mnist_model():
    inp = keras.Input((784,), name="pixels")
    hidden = keras.layers.Dense(128, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(10, name="out")(hidden)
    return keras.Model(inp, out, name="mnist")


def test_summary_default(mnist_model, capsys):
    ModelEnergy(mnist_model).summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "mnist" in lines[0]
    assert all(len(line) <= 98 for line in lines)

    hidden = next(line for line in lines if line.startswith("hidden"))
    # shape, params (784 * 128 + 128), connections, neurons, cpu energy
    # (8.6e-9 * (100352 + 128) = 8.64e-4)
    assert hidden.split()[2:] == [
        "(None,",
        "128)",
        "100,480",
        "100,352",
        "128",
        "8.64e-04",
    ]
    out = next(line for line in lines if line.startswith("out"))
    assert out.split()[4:] == ["1,290", "1,280", "0", "1.10e-05"]
    # total: 8.6e-9 * (100352 + 128 + 1280) = 8.75136e-4
    assert "Total energy per inference on cpu: 8.75e-04 J" in text
    assert "Warnings" not in text


def test_summary_columns_and_warnings(mnist_model, capsys):
    energy = ModelEnergy(mnist_model, example_data=np.full((3, 784), 0.5))
    columns = (
        "name",
        "rate",
        "synop_energy loihi",
        "neuron_energy loihi",
        "energy gpu",
    )
    energy.summary(columns=columns, timesteps_per_inference=10, dt=0.01)
    text = capsys.readouterr().out

    # hidden: rate 0.5; synops 27.1e-12 * 100352 * 0.5 * 0.01 * 10 = 1.36e-7;
    # neurons 81e-12 * 128 * 10 = 1.04e-7; gpu 0.3e-9 * 100480 = 3.01e-5
    hidden = next(line for line in text.splitlines() if line.startswith("hidden"))
    assert hidden.split()[2:] == ["0.5", "1.36e-07", "1.04e-07", "3.01e-05"]
    # the output layer's input rate depends on the random weights, so only the
    # gpu total is checked exactly: 0.3e-9 * (100352 + 128 + 1280) = 3.05e-5
    assert "Total energy per inference on gpu: 3.05e-05 J" in text
    assert "Total energy per inference on loihi:" in text
    # a relu Dense estimated on a spiking device
    assert "Warnings" in text
    assert "'hidden' (Dense)" in text
    assert "non-spiking" in text

    energy.summary(columns=columns, print_warnings=False)
    assert "Warnings" not in capsys.readouterr().out


def test_summary_line_length(mnist_model, capsys):
    ModelEnergy(mnist_model).summary(line_length=60)
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert lines[1] == "=" * 60


def test_summary_unknown_column(mnist_model):
    with pytest.raises(ValueError, match="'flops'"):
        ModelEnergy(mnist_model).summary(columns=("name", "flops"))


def test_summary_single_time_step_warning(capsys):
    inp = keras.Input((1, 4))
    x = keras_spiking.SpikingActivation("relu", name="spikes")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(x))

    ModelEnergy(model, example_data=np.ones((2, 1, 4))).summary()
    text = capsys.readouterr().out
    assert "'spikes'" in text
    assert "lacks a time axis" in text

    ModelEnergy(model, example_data=np.ones((2, 1, 4))).summary(print_warnings=False)
    assert "lacks a time axis" not in capsys.readouterr().out

    # with several steps there is nothing to warn about
    inp = keras.Input((None, 4))
    model = keras.Model(inp, keras_spiking.SpikingActivation("relu")(inp))
    ModelEnergy(model, example_data=np.ones((2, 5, 4))).summary()
    assert "Warnings" not in capsys.readouterr().out
