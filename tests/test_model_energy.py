"""Tests for keras_spiking.model_energy, against hand-computed figures."""

import contextlib
import copy
import inspect
import math
import re
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
        # pool 2, strides 2: 10 // 2 = 5 positions x 3 channels, 2 inputs each
        ((10, 3), keras.layers.AveragePooling1D(2), stats(5 * 3 * 2, 0, True)),
        # strides 1: 10 - 3 + 1 = 8 positions
        (
            (10, 3),
            keras.layers.AveragePooling1D(3, strides=1),
            stats(8 * 3 * 3, 0, True),
        ),
        # same padding, strides 2: ceil(9 / 2) = 5; the cut edge windows count 3
        (
            (9, 2),
            keras.layers.AveragePooling1D(3, strides=2, padding="same"),
            stats(5 * 2 * 3, 0, True),
        ),
        # 8 x 8 -> 4 x 4, 3 channels, 2 x 2 window
        ((8, 8, 3), keras.layers.AveragePooling2D(2), stats(4 * 4 * 3 * 4, 0, True)),
        # (7 - 2) // 2 + 1 = 3, (9 - 3) // 1 + 1 = 7; window 2 x 3
        (
            (7, 9, 2),
            keras.layers.AveragePooling2D((2, 3), strides=(2, 1)),
            stats(3 * 7 * 2 * 6, 0, True),
        ),
        # same padding: ceil(7 / 2) = 4 per side, 4 channels, window 3 x 3
        (
            (7, 7, 4),
            keras.layers.AveragePooling2D(3, strides=2, padding="same"),
            stats(4 * 4 * 4 * 9, 0, True),
        ),
        # channels first: (3, 6, 4) -> (3, 3, 2)
        (
            (3, 6, 4),
            keras.layers.AveragePooling2D(2, data_format="channels_first"),
            stats(3 * 3 * 2 * 4, 0, True),
        ),
        # (4, 6, 6, 2) -> (2, 3, 3, 2), window 2 x 2 x 2
        (
            (4, 6, 6, 2),
            keras.layers.AveragePooling3D(2),
            stats(2 * 3 * 3 * 2 * 8, 0, True),
        ),
        # (3, 4, 4, 1) -> (3, 2, 2, 1), window 1 x 2 x 2
        (
            (3, 4, 4, 1),
            keras.layers.AveragePooling3D((1, 2, 2)),
            stats(3 * 2 * 2 * 1 * 4, 0, True),
        ),
        # one step of a sequence: 4 x 4 x 3 -> 2 x 2 x 3
        (
            (None, 4, 4, 3),
            keras.layers.TimeDistributed(keras.layers.AveragePooling2D(2)),
            stats(2 * 2 * 3 * 4, 0, True),
        ),
    ],
)
def test_average_pooling(input_shape, layer, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats_of(input_shape, layer) == expected


# Elementwise affine layers: zero connections (like a bias add) and zero neurons.
ELEMENTWISE_AFFINE = {
    "batch_norm": lambda: keras.layers.BatchNormalization(),
    "batch_norm_axis_-2": lambda: keras.layers.BatchNormalization(axis=-2),
    "rescaling": lambda: keras.layers.Rescaling(0.5, offset=1.0),
    "normalization": lambda: keras.layers.Normalization(mean=2.0, variance=4.0),
    "normalization_per_feature": lambda: keras.layers.Normalization(
        axis=-1, mean=[0.0, 1.0, 2.0], variance=[1.0, 2.0, 3.0]
    ),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE_AFFINE))
@pytest.mark.parametrize("input_shape", [(4, 3), (None, 4, 3), (2, 4, 3)])
def test_elementwise_affine_layers_count_zero(name, input_shape):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats_of(input_shape, ELEMENTWISE_AFFINE[name]()) == stats(0, 0, True)
        wrapped = keras.layers.TimeDistributed(ELEMENTWISE_AFFINE[name]())
        assert stats_of((None, *input_shape), wrapped) == stats(0, 0, True)


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
    ],
)
def test_data_moving_layers_count_zero_silently(input_shape, layer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats_of(input_shape, layer) == stats(0, 0, True)


@pytest.mark.parametrize(
    "input_shape, layer, window",
    [
        # average pooling: one connection per element of each output's window
        ((4, 4, 2), keras.layers.AveragePooling2D(2), 2 * 2),
        # global average pooling: one window that covers all positions
        ((4, 4, 2), keras.layers.GlobalAveragePooling2D(), 4 * 4),
        ((5, 2), keras.layers.GlobalAveragePooling1D(), 5),
        ((2, 3, 2, 2), keras.layers.GlobalAveragePooling3D(), 2 * 3 * 2),
    ],
)
def test_average_pooling_counts_one_connection_per_window_element(
    input_shape, layer, window
):
    layer_stats = stats_of(input_shape, layer)
    outputs = math.prod(layer.compute_output_shape((1, *input_shape))[1:])
    assert layer_stats == stats(outputs * window, 0, True)


def test_add_and_input_layer_count_zero_silently():
    a, b = keras.Input((3,)), keras.Input((3,))
    out = keras.layers.Add()([a, b])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        energy = ModelEnergy(keras.Model([a, b], out))
    assert len(energy.model.layers) == 3
    for layer in energy.model.layers:
        assert energy.layer_stats[layer] == stats(0, 0, True)


class Mystery(keras.layers.Layer):
    """A layer type that no stats function is registered for."""

    def call(self, x):
        return 2 * x

    def compute_output_shape(self, input_shape):
        return input_shape


def test_unknown_layer_warns():
    layer = Mystery(name="puzzle")
    with pytest.warns(UserWarning, match=r"Mystery.*'puzzle'.*register_layer"):
        assert stats_of((4,), layer) == stats(0, 0, True)


def test_unknown_layer_inside_time_distributed_warns():
    layer = keras.layers.TimeDistributed(Mystery())
    with pytest.warns(UserWarning, match="Mystery"):
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


def summary_lines(energy, **kwargs):
    """The lines of ``energy.summary_string(**kwargs)``, checked to be plain text."""
    text = energy.summary_string(**kwargs)
    assert "\x1b" not in text  # no terminal codes
    assert not text.endswith("\n")
    return text.splitlines()


def row(lines, name):
    """The words of the table row that starts with the layer ``name``."""
    return next(line for line in lines if line.startswith(f"{name} ")).split()


def test_summary_default(mnist_model):
    lines = summary_lines(ModelEnergy(mnist_model), line_length=98)
    assert lines[0] == 'Model energy: "mnist"'
    assert all(len(line) <= 98 for line in lines)

    # shape, params (784 * 128 + 128), connections, neurons, cpu energy
    # (8.6e-9 * (100352 + 128) = 8.64e-4)
    assert row(lines, "hidden")[2:] == [
        "(None,",
        "128)",
        "100,480",
        "100,352",
        "128",
        "8.64e-04",
    ]
    assert row(lines, "out")[4:] == ["1,290", "1,280", "0", "1.10e-05"]
    # total: 8.6e-9 * (100352 + 128 + 1280) = 8.75136e-4
    assert lines[-1] == "Total energy per inference on cpu: 8.75e-04 J"
    assert not any("Warnings" in line for line in lines)


def test_summary_columns_and_warnings(mnist_model):
    energy = ModelEnergy(mnist_model, example_data=np.full((3, 784), 0.5))
    columns = (
        "name",
        "rate",
        "synop_energy loihi",
        "neuron_energy loihi",
        "energy gpu",
    )
    lines = summary_lines(
        energy, columns=columns, timesteps_per_inference=10, dt=0.01, line_length=98
    )
    text = "\n".join(lines)

    # hidden: rate 0.5; synops 27.1e-12 * 100352 * 0.5 * 0.01 * 10 = 1.36e-7;
    # neurons 81e-12 * 128 * 10 = 1.04e-7; gpu 0.3e-9 * 100480 = 3.01e-5
    assert row(lines, "hidden")[2:] == ["0.5", "1.36e-07", "1.04e-07", "3.01e-05"]
    # the output layer's input rate depends on the random weights, so only the
    # gpu total is checked exactly: 0.3e-9 * (100352 + 128 + 1280) = 3.05e-5
    assert "Total energy per inference on gpu: 3.05e-05 J" in lines
    assert "Total energy per inference on loihi:" in text
    # a relu Dense estimated on a spiking device
    assert "Warnings:" in lines
    assert "'hidden' (Dense)" in text
    assert "non-spiking" in text

    lines = summary_lines(energy, columns=columns, print_warnings=False)
    assert "Warnings:" not in lines


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"line_length": 60},
        {
            "columns": ("name", "rate", "energy loihi", "energy cpu"),
            "timesteps_per_inference": 5,
            "dt": 0.01,
            "line_length": 120,
        },
    ],
)
def test_summary_prints_summary_string(mnist_model, capsys, kwargs):
    energy = ModelEnergy(mnist_model, example_data=np.full((3, 784), 0.5))
    energy.summary(**kwargs)
    printed = capsys.readouterr().out
    assert [line.rstrip() for line in printed.splitlines()] == summary_lines(
        energy, **kwargs
    )


@pytest.mark.parametrize("width", [60, 75, 88])
def test_summary_fits_line_length(mnist_model, width):
    energy = ModelEnergy(mnist_model, example_data=np.full((3, 784), 0.5))
    columns = ("name", "output_shape", "params", "rate", "connections", "energy cpu")
    lines = summary_lines(energy, columns=columns, line_length=width)
    assert all(len(line) <= width for line in lines)
    # headers and long names wrap; numbers are never cut
    words = {word for line in lines for word in line.split()}
    assert {"100,480", "100,352", "8.64e-04", "1,290", "1.10e-05"} <= words
    # the rule under the header spans the table
    rule = next(line for line in lines if set(line) == {"─"})
    assert len(rule) == max(len(line) for line in lines[1 : lines.index(rule)])


def test_summary_width_follows_console(mnist_model, monkeypatch, capsys):
    # rich takes the console width from COLUMNS when it cannot ask a terminal
    monkeypatch.setenv("COLUMNS", "64")
    energy = ModelEnergy(mnist_model)
    lines = summary_lines(energy)
    assert all(len(line) <= 64 for line in lines)
    assert max(len(line) for line in lines) > 50
    energy.summary()
    printed = capsys.readouterr().out.splitlines()
    assert [line.rstrip() for line in printed] == lines


def test_summary_text_is_literal():
    # rich would read "[red]" as markup and ":smile:" as an emoji
    inp = keras.Input((3,), name="in[red]put")
    out = keras.layers.Dense(2, name="d[bold]ense:smile:")(inp)
    lines = summary_lines(ModelEnergy(keras.Model(inp, out)), line_length=98)
    assert row(lines, "in[red]put")[:2] == ["in[red]put", "(InputLayer)"]
    assert row(lines, "d[bold]ense:smile:")[:2] == ["d[bold]ense:smile:", "(Dense)"]


@pytest.mark.parametrize(
    "line_length, error",
    [(0, ValueError), (-5, ValueError), (2.5, TypeError), ("80", TypeError)],
)
def test_summary_bad_line_length(mnist_model, line_length, error):
    energy = ModelEnergy(mnist_model)
    with pytest.raises(error, match="`line_length` must be"):
        energy.summary_string(line_length=line_length)
    with pytest.raises(error, match="`line_length` must be"):
        energy.summary(line_length=line_length)


def test_summary_unknown_column(mnist_model):
    with pytest.raises(ValueError, match="'flops'"):
        ModelEnergy(mnist_model).summary(columns=("name", "flops"))
    with pytest.raises(ValueError, match="'flops'"):
        ModelEnergy(mnist_model).summary_string(columns=("name", "flops"))


def test_summary_single_time_step_warning():
    inp = keras.Input((1, 4))
    x = keras_spiking.SpikingActivation("relu", name="spikes")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(x))

    energy = ModelEnergy(model, example_data=np.ones((2, 1, 4)))
    text = energy.summary_string(line_length=98)
    assert "'spikes'" in text
    assert "lacks a time axis" in text
    assert "lacks a time axis" not in energy.summary_string(print_warnings=False)

    # with several steps there is nothing to warn about
    inp = keras.Input((None, 4))
    model = keras.Model(inp, keras_spiking.SpikingActivation("relu")(inp))
    energy = ModelEnergy(model, example_data=np.ones((2, 5, 4)))
    assert "Warnings" not in energy.summary_string()


def test_summary_multiple_applications_list_each_shape():
    shared = keras.layers.Dense(3, name="shared")
    a, b = keras.Input((4,)), keras.Input((2, 4))
    model = keras.Model([a, b], [shared(a), shared(b)])
    lines = summary_lines(
        ModelEnergy(model), columns=("name", "output_shape"), line_length=60
    )
    start = next(i for i, line in enumerate(lines) if line.startswith("shared "))
    assert lines[start].split()[2:] == ["(None,", "3)"]
    assert lines[start + 1].split() == ["(None,", "2,", "3)"]


@contextlib.contextmanager
def own_warnings_as_errors():
    """Turn the warnings of keras_spiking into errors (not those of Keras or NumPy)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"keras_spiking(\..*)?$")
        yield


# --- keras_spiking's own layers -------------------------------------------------------

OWN_LAYERS = {
    keras_spiking.SpikingActivation: lambda **kw: keras_spiking.SpikingActivation(
        "relu", **kw
    ),
    keras_spiking.Lowpass: lambda **kw: keras_spiking.Lowpass(0.01, **kw),
    keras_spiking.Alpha: lambda **kw: keras_spiking.Alpha(0.01, **kw),
    keras_spiking.LIF: lambda **kw: keras_spiking.LIF(**kw),
    keras_spiking.AdaptiveLIF: lambda **kw: keras_spiking.AdaptiveLIF(**kw),
}


def test_own_layers_are_all_covered():
    exported = {
        obj
        for obj in vars(keras_spiking).values()
        if isinstance(obj, type) and issubclass(obj, keras_spiking.KerasSpikingLayer)
    } - {keras_spiking.KerasSpikingLayer}
    assert exported == set(OWN_LAYERS)


@pytest.mark.parametrize("layer_type", list(OWN_LAYERS))
@pytest.mark.parametrize(
    "options",
    [{}, {"return_sequences": False}, {"time_major": True}, {"return_state": True}],
)
def test_own_layers_never_warn(layer_type, options):
    layer = OWN_LAYERS[layer_type](**options)
    inp = keras.Input((None, 2, 3))
    outputs = layer(inp)
    model = keras.Model(inp, outputs)
    with own_warnings_as_errors():
        energy = ModelEnergy(model)
        energy.summary_string()
    # neurons: one per element of a step; filters count zero
    filters = (keras_spiking.Lowpass, keras_spiking.Alpha)
    neurons = 0 if layer_type in filters else 6
    assert energy.layer_stats[layer] == stats(0, neurons, True)


def test_filters_add_nothing_to_the_energy():
    # Dense(5 -> 4) -> SpikingActivation -> Lowpass -> Alpha -> Dense(4 -> 2)
    inp = keras.Input((None, 5))
    x = keras.layers.Dense(4)(inp)
    x = keras_spiking.SpikingActivation("relu", dt=0.01)(x)
    x = keras_spiking.Lowpass(0.05, dt=0.01)(x)
    x = keras_spiking.Alpha(0.05, dt=0.01)(x)
    out = keras.layers.Dense(2)(x)
    model = keras.Model(inp, out)
    data = np.random.default_rng(0).uniform(0, 50, size=(3, 20, 5))

    with own_warnings_as_errors():
        energy = ModelEnergy(model, example_data=data)
    # cpu: 20 + 8 connections and the 4 spiking neurons, 8.6 nJ each
    assert energy.total_energy("cpu") == pytest.approx(8.6e-9 * 32, rel=1e-12)
    # loihi: the filters' rows are zero, whatever their input rates
    for layer in model.layers[3:5]:
        assert energy.layer_energy(layer, "loihi", 10, dt=0.01) == (0.0, 0.0)


# --- layers of CNNs and converted models ---------------------------------------------

# A factory for each layer type, with the shape of one step of its input and its
# hand-computed statistics.
CNN_LAYERS = {
    "avg_pool_1d": (lambda: keras.layers.AveragePooling1D(2), (6, 3), 3 * 3 * 2),
    "avg_pool_2d": (
        lambda: keras.layers.AveragePooling2D(2),
        (4, 6, 3),
        2 * 3 * 3 * 4,
    ),
    "avg_pool_3d": (
        lambda: keras.layers.AveragePooling3D(2),
        (2, 4, 2, 3),
        1 * 2 * 1 * 3 * 8,
    ),
    "batch_norm": (lambda: keras.layers.BatchNormalization(), (4, 3), 0),
    "rescaling": (lambda: keras.layers.Rescaling(2.0, offset=-1.0), (4, 3), 0),
    "normalization": (
        lambda: keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0] * 3),
        (4, 3),
        0,
    ),
}


@pytest.mark.parametrize("name", list(CNN_LAYERS))
@pytest.mark.parametrize("time_distributed", [False, True])
def test_cnn_layers_never_warn(name, time_distributed):
    make_layer, step_shape, connections = CNN_LAYERS[name]
    layer = make_layer()
    if time_distributed:
        inp = keras.Input((None, *step_shape))
        data = np.full((2, 5, *step_shape), 3.0)
        model = keras.Model(inp, keras.layers.TimeDistributed(layer)(inp))
    else:
        inp = keras.Input(step_shape)
        data = np.full((2, *step_shape), 3.0)
        model = keras.Model(inp, layer(inp))

    with own_warnings_as_errors():
        energy = ModelEnergy(model, example_data=data)
        text = energy.summary_string(line_length=120)
    assert "does not know" not in text
    (counted,) = model.layers[1:]
    assert energy.layer_stats[counted] == stats(connections, 0, True)
    # every input is 3: loihi does connections * 3 * dt synaptic operations per step
    synop, _, _ = DEVICES["loihi"]
    assert energy.layer_energy(counted, "loihi", dt=0.01) == pytest.approx(
        (synop * connections * 3 * 0.01, 0.0), rel=1e-6
    )


def test_converted_cnn_never_warns():
    from keras_spiking.converter import convert

    # 8 x 8 x 1 -> Conv2D(4, 3, relu) -> 6 x 6 x 4 -> AveragePooling2D(2)
    # -> 3 x 3 x 4 -> BatchNormalization -> Flatten (36) -> Dense(3)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    cnn = keras.Model(inp, keras.layers.Dense(3)(x))
    spiking = convert(cnn, fold_batch_norm=False, seed=0)
    # the BatchNormalization is kept, and applied at each step
    inner = {type(getattr(layer, "layer", layer)) for layer in spiking.layers}
    assert {keras.layers.AveragePooling2D, keras.layers.BatchNormalization} <= inner

    data = np.random.default_rng(0).uniform(0, 1, size=(2, 10, 8, 8, 1))
    with own_warnings_as_errors():
        energy = ModelEnergy(spiking, example_data=data)
        text = energy.summary_string(line_length=120)
    assert "does not know" not in text
    # conv: 6 * 6 * 4 outputs x 3 * 3 * 1; pooling: 3 * 3 * 4 outputs x 2 * 2;
    # dense: 36 x 3; the mean over time: one per output; the spiking neurons are
    # the conv's 6 * 6 * 4 outputs
    all_stats = energy.layer_stats.values()
    assert sum(each["connections"] for each in all_stats) == (
        144 * 9 + 36 * 4 + 36 * 3 + 3
    )
    assert sum(each["neurons"] for each in all_stats) == 144


# --- errors for bad input -------------------------------------------------------------


@pytest.mark.parametrize("not_a_layer", [object(), "dense", keras.layers.Dense, 3])
def test_compute_layer_stats_not_a_layer(not_a_layer):
    with pytest.raises(ValueError, match="not a Keras layer"):
        ModelEnergy.compute_layer_stats(not_a_layer)


def test_register_layer_unknown_statistic(restore_registries):
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    @ModelEnergy.register_layer(Scale)
    def scale_stats(node):
        return {"connections": 1, "notastat": 5}

    with pytest.raises(ValueError, match="'notastat'") as info:
        stats_of((3,), Scale(name="scale"))
    for name in ("connections", "neurons", "spiking", "scale_stats", "'scale'"):
        assert name in str(info.value)

    with pytest.warns(UserWarning, match="Scale already has"):
        ModelEnergy.register_layer(Scale)(lambda node: 5)
    with pytest.raises(TypeError, match="must return a dict"):
        stats_of((3,), Scale())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"spiking": "no"}, TypeError, "`spiking` must be True"),
        ({"spiking": 1}, TypeError, "`spiking` must be True"),
        ({"spiking": None}, TypeError, "`spiking` must be True"),
        ({"energy_per_synop": -1e-12}, ValueError, "`energy_per_synop`.*non-neg"),
        ({"energy_per_synop": np.nan}, ValueError, "`energy_per_synop`.*finite"),
        ({"energy_per_neuron": np.inf}, ValueError, "`energy_per_neuron`.*finite"),
        ({"energy_per_neuron": "1e-12"}, TypeError, "`energy_per_neuron`.*number"),
        ({"energy_per_synop": True}, TypeError, "`energy_per_synop`.*number"),
        ({"name": 3}, TypeError, "`name`"),
        ({"name": ""}, TypeError, "`name`"),
    ],
)
def test_register_device_bad_arguments(restore_registries, kwargs, error, match):
    arguments = {
        "name": "mychip",
        "energy_per_synop": 1e-12,
        "energy_per_neuron": 2e-12,
        "spiking": True,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        ModelEnergy.register_device(**arguments)
    assert "mychip" not in ModelEnergy.devices


def test_register_device_numpy_arguments(restore_registries):
    ModelEnergy.register_device("mychip", np.float32(0.5), np.int64(2), np.bool_(False))
    assert ModelEnergy.devices["mychip"] == {
        "energy_per_synop": 0.5,
        "energy_per_neuron": 2.0,
        "spiking": False,
    }
    assert ModelEnergy.devices["mychip"]["spiking"] is False


def energy_calls(energy):
    """Every public way of asking ``energy`` for an estimate, as ``f(**kwargs)``."""
    layer = energy.model.layers[1]
    return [
        lambda **kw: energy.layer_energy(layer, "loihi", **kw),
        lambda **kw: energy.total_energy("loihi", **kw),
        lambda **kw: energy.summary_string(columns=("name", "energy loihi"), **kw),
        lambda **kw: energy.summary(columns=("name", "energy loihi"), **kw),
    ]


@pytest.mark.parametrize(
    "timesteps, error",
    [
        (-5, ValueError),
        (0, ValueError),
        (2.5, TypeError),
        (10.0, TypeError),
        ("10", TypeError),
        (True, TypeError),
    ],
)
def test_bad_timesteps_per_inference(relu_model, timesteps, error):
    energy = ModelEnergy(relu_model[0], example_data=np.full((5, 4), 2.0))
    for call in energy_calls(energy):
        with pytest.raises(error, match="`timesteps_per_inference` must be"):
            call(timesteps_per_inference=timesteps)
    # for every device, even those that ignore it
    with pytest.raises(error, match="`timesteps_per_inference` must be"):
        energy.total_energy("cpu", timesteps_per_inference=timesteps)


@pytest.mark.parametrize(
    "dt, error",
    [
        (-0.001, ValueError),
        (0.0, ValueError),
        (np.nan, ValueError),
        (np.inf, ValueError),
        (1e-39, ValueError),  # 1/dt is not a finite float32 (the layers' rule)
        (True, TypeError),
        ("0.01", TypeError),
        ([0.01, 0.02], TypeError),
        (np.array([0.01]), TypeError),
    ],
)
def test_bad_dt(relu_model, dt, error):
    energy = ModelEnergy(relu_model[0], example_data=np.full((5, 4), 2.0))
    for call in energy_calls(energy):
        with pytest.raises(error, match="`dt` must be"):
            call(dt=dt)


def test_bad_default_dt(relu_model):
    energy = ModelEnergy(relu_model[0], example_data=np.full((5, 4), 2.0))
    keras_spiking.default.dt = -1.0
    with pytest.raises(ValueError, match=r"`keras_spiking.default.dt` must be"):
        energy.total_energy("loihi")


@pytest.mark.parametrize(
    "timesteps, dt",
    [(np.int64(10), np.float32(0.01)), (10, keras.Variable(0.01)), (10, 0.01)],
)
def test_numpy_and_variable_arguments(relu_model, timesteps, dt):
    _, hidden, _ = relu_model
    energy = ModelEnergy(relu_model[0], example_data=np.full((5, 4), 2.0))
    # as in test_energy_event_devices
    assert energy.layer_energy(
        hidden, "loihi", timesteps_per_inference=timesteps, dt=dt
    ) == pytest.approx((27.1e-12 * 12 * 2 * 0.01 * 10, 81e-12 * 3 * 10), rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_example_data_not_finite(relu_model, bad):
    data = np.full((5, 4), 2.0)
    data[3, 1] = bad
    with pytest.raises(ValueError, match="1 NaN or infinite value.*of 20") as info:
        ModelEnergy(relu_model[0], example_data=data)
    assert "np.nan_to_num" in str(info.value)


@pytest.fixture
def spiking_model():
    inp = keras.Input((None, 4), name="steps")
    x = keras_spiking.SpikingActivation("relu")(inp)
    return keras.Model(inp, keras.layers.Dense(2)(x), name="spiky")


def test_example_data_without_time_axis(spiking_model):
    data = np.random.default_rng(0).uniform(size=(50, 4))
    with pytest.raises(ValueError) as info:
        ModelEnergy(spiking_model, example_data=data)
    message = str(info.value)
    assert "example_data for input 'steps' of model 'spiky' has shape (50, 4)" in (
        message
    )
    assert "expects shape (None, None, 4)" in message
    assert "lacks the time axis" in message
    assert "np.repeat(x[:, None], n_steps, axis=1)" in message
    # no array dumped, no terminal codes
    assert "\x1b" not in message
    assert len(message) < 400
    # the suggested fix works
    with own_warnings_as_errors():
        ModelEnergy(spiking_model, example_data=np.repeat(data[:, None], 5, axis=1))


@pytest.mark.parametrize(
    "data, match",
    [
        (np.ones((2, 5, 3)), r"has shape \(2, 5, 3\).*expects shape \(None, None, 4\)"),
        (np.ones((2, 5, 4, 1)), r"has shape \(2, 5, 4, 1\)"),
        (np.ones(4), r"has shape \(4,\)"),
        ([np.ones((2, 5, 4)), np.ones((2, 5, 4))], "has 1 input.*has 2"),
        ({"steps": np.ones((2, 4))}, r"has shape \(2, 4\).*lacks the time axis"),
        ([np.ones((2, 4))], r"has shape \(2, 4\).*lacks the time axis"),
    ],
)
def test_example_data_wrong_shape(spiking_model, data, match):
    with pytest.raises(ValueError, match=match) as info:
        ModelEnergy(spiking_model, example_data=data)
    assert "\x1b" not in str(info.value)


def test_example_data_several_inputs():
    a = keras.Input((3,), name="a")
    b = keras.Input((None, 2), name="b")
    out = keras.layers.Add()([keras.layers.Dense(2)(a), b[:, 0]])
    model = keras.Model([a, b], out)
    good = [np.ones((4, 3)), np.ones((4, 5, 2))]
    # a list in the order of the inputs, or a dict by name
    ModelEnergy(model, example_data=good)
    ModelEnergy(model, example_data={"a": good[0], "b": good[1]})

    with pytest.raises(ValueError, match="has 2 input.*has 1"):
        ModelEnergy(model, example_data=good[0])
    with pytest.raises(ValueError, match=r"input 'b'.*has shape \(4, 2\)"):
        ModelEnergy(model, example_data=[good[0], np.ones((4, 2))])
    with pytest.raises(ValueError, match=r"input 'a'.*has shape \(4, 2\)"):
        ModelEnergy(model, example_data={"a": np.ones((4, 2)), "b": good[1]})


# --- documentation --------------------------------------------------------------------


def test_public_docs_name_no_private_names():
    private = re.compile(r"(?<!\w)_[A-Za-z]\w*")
    members = [ModelEnergy] + [
        getattr(ModelEnergy, name) for name in dir(ModelEnergy) if name[0] != "_"
    ]
    for member in members:
        doc = inspect.getdoc(member) or ""
        assert not private.findall(doc), member
        if callable(member) and not isinstance(member, type):
            assert not private.findall(str(inspect.signature(member))), member
