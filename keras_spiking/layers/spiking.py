"""`SpikingActivationCell` and its layer, `SpikingActivation`: any activation
function as spiking neurons, integrate-and-fire style, with spikes of height
``1/dt``."""

import keras
import numpy as np
from keras import ops

from keras_spiking import backends, sequence
from keras_spiking._activations import get_activation, rate_function
from keras_spiking._arguments import check_flag
from keras_spiking._dt import is_variable
from keras_spiking._saving import register
from keras_spiking.functional import per_step, spiking_step, straight_through
from keras_spiking.layers.base import KerasSpikingCell, KerasSpikingLayer

SEED_RANGE = (-(2**63), 2**63)
"""tuple: Seeds are int64 values, as TensorFlow's stateless random ops take them."""


def _check_seed(seed):
    """Return ``seed`` as an int (or None), or raise an error that says why not."""
    if seed is None:
        return None
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise TypeError(
            f"`seed` must be an int (or None for a fresh random initial voltage "
            f"every time); got seed={seed!r} of type {type(seed).__name__}."
        )
    low, high = SEED_RANGE
    if not low <= seed < high:
        raise ValueError(
            f"`seed` must be a 64-bit integer, in [-2**63, 2**63); got seed={seed}."
        )
    return int(seed)


@register
class SpikingActivationCell(KerasSpikingCell):
    """RNN cell for converting an arbitrary activation function to a spiking
    equivalent.

    Each neuron integrates the output of ``activation`` over time and emits a spike
    each time the integral passes a whole number, so a neuron whose activation is
    10 spikes 10 times per simulated second (``1/dt`` time steps). A spike has
    height ``1/dt``, so the spiking output integrates to the same value as the
    activation. A negative activation gives spikes of height ``-1/dt``; an
    activation above ``1/dt`` gives several spikes in one step, output ``n/dt``.

    Parameters
    ----------
    size : int or tuple of int
        Input/output shape of the layer (not including batch/time dimensions).
    activation : callable or str
        Activation function to be converted to spiking equivalent (anything that
        ``keras.activations.get`` accepts).
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    seed : int
        Seed for random state initialization (a 64-bit integer). With a seed, the
        initial voltage is the same every time the state is initialised; without
        one, it is drawn afresh each time.
    spiking_aware_training : bool
        If True (default), use the spiking activation function for the forward pass
        and the base activation function for the backward pass. If False, use the
        base activation function for the forward and backward pass during training.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    This cell needs to be wrapped in a ``keras.layers.RNN``, like ::

        my_layer = keras.layers.RNN(
            keras_spiking.SpikingActivationCell(size=10, activation="relu")
        )
    """

    def __init__(
        self,
        size,
        activation,
        dt=None,
        seed=None,
        spiking_aware_training=True,
        **kwargs,
    ):
        spiking_aware_training = check_flag(
            spiking_aware_training, "spiking_aware_training"
        )
        super().__init__(
            size=size, dt=dt, always_use_inference=spiking_aware_training, **kwargs
        )
        self.activation = get_activation(activation)
        # the activation, checked to keep its shape and cast to the cell's dtype
        self._rates = rate_function(
            self.activation, f"{type(self).__name__} '{self.name}'"
        )
        self.seed = _check_seed(seed)
        self.spiking_aware_training = spiking_aware_training
        # Without a seed, every initialisation draws fresh voltages.
        self.seed_generator = keras.random.SeedGenerator() if seed is None else None

    def build(self, input_shape):
        """Check the input shape, and that spikes of height ``1/dt`` fit the
        output dtype; build an activation that is a layer (e.g. PReLU) for one
        step, ``(batch, *size)``, so that its weights exist before training."""
        super().build(input_shape)
        _check_spike_height(self.dt, self.compute_dtype)
        if isinstance(self.activation, keras.layers.Layer) and not (
            self.activation.built
        ):
            self.activation.build((None, *self.size))

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Set up initial spiking state.

        The initial voltage is uniform on ``[0, 1)``, so that neurons driven at the
        same rate do not all spike on the same step. It is drawn in float32 with the
        ``seed`` given on construction (the same values every time), or fresh each
        time without one. The state is initialised automatically; there is no need
        to call this method.

        Parameters
        ----------
        inputs : tensor, optional
            A tensor whose first axis gives the batch size.
        batch_size : int or tensor, optional
            The batch size, when ``inputs`` is not given.
        dtype : str, optional
            The dtype of the state (default: the cell's compute dtype).
        """
        batch_size, dtype = self._batch_and_dtype(inputs, batch_size, dtype)
        seed = self.seed_generator if self.seed is None else self.seed
        return [
            ops.cast(backends.seeded_uniform((batch_size, *self.size), seed), dtype)
        ]

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``:
        the base activation, with the voltage left unchanged."""
        return self._rates(inputs), states

    def call_inference(self, inputs, states):
        """Compute spiking output, with a straight-through gradient for spiking
        aware training.

        Parameters
        ----------
        inputs : tensor
            Input to the activation function.
        states : list of tensor
            The voltage state, ``[voltage]``.

        Returns
        -------
        spikes : tensor
            Output spike values (``n/dt`` for each element in ``inputs``, where
            ``n`` is the number of spikes, possibly 0 or negative).
        states : list of tensor
            The updated voltage state.

        Notes
        -----
        The gradient of ``spikes`` with respect to ``inputs`` is that of the
        activation; nothing flows into the voltage or ``dt``.
        """
        dt = self._dt()
        rates = self._rates(inputs)
        spikes, voltage = spiking_step(
            ops.stop_gradient(states[0]), ops.stop_gradient(rates), dt
        )
        return straight_through(spikes, rates), [voltage]

    def call_sequence_training(self, inputs, states, time_major=True):
        """`call_training` of a whole sequence (`KerasSpikingCell.call_sequence`): the
        activation of each step (`keras_spiking.sequence.per_step`)."""
        return per_step(self._rates, inputs), states

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`).

        Computed with `keras_spiking.sequence.spiking_sequence`. The spike trains
        equal those of the step loop, except that, on backends that compute the
        sequence in blocks, two float32 computations of the same sum may round
        differently: on sequences longer than ``sequence.BLOCK`` steps, where the
        step loop's voltage lies within about 1e-5 of a whole number, a spike can
        come one step earlier or later.
        """
        spikes, voltage = sequence.spiking_sequence(
            inputs, states[0], self._dt(), self._rates, 0 if time_major else 1
        )
        return spikes, [voltage]

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        for base_only in ("state_size", "always_use_inference"):
            config.pop(base_only)
        config.update(
            {
                "activation": keras.activations.serialize(self.activation),
                "seed": self.seed,
                "spiking_aware_training": self.spiking_aware_training,
            }
        )
        return config


def _check_spike_height(dt, dtype):
    """Check that a spike, of height ``1/dt``, is finite in the output ``dtype``.

    ``MIN_DT`` keeps it finite in float32 (so also in bfloat16 and float64);
    float16 is the one float dtype with a smaller range.
    """
    largest = float(np.finfo(np.float16).max)
    if is_variable(dt) or dtype != "float16" or 1 / dt <= largest:
        return
    raise ValueError(
        f"dt={dt!r} gives spikes of height 1/dt = {1 / dt:.4g}, more than the "
        f"largest float16 number ({largest:.6g}), the output dtype of this layer's "
        f"dtype policy. Use dt >= {1 / largest:.3g}, or a float32 policy."
    )


@register
class SpikingActivation(KerasSpikingLayer):
    """Layer for converting an arbitrary activation function to a spiking
    equivalent.

    Each neuron integrates the output of ``activation`` over time and emits a spike
    each time the integral passes a whole number, so a neuron whose activation is
    10 spikes 10 times per simulated second (``1/dt`` time steps). A spike has
    height ``1/dt``, so the spiking output integrates to the same value as the
    activation. A negative activation gives spikes of height ``-1/dt``; an
    activation above ``1/dt`` gives several spikes in one step, output ``n/dt``.

    The input needs a time axis (before the batch axis when ``time_major=True``,
    after it otherwise); the spikes are computed along it, one step per element.
    The number of steps may change from call to call: a common recipe is to train
    on one step with ``spiking_aware_training=False`` (and
    ``apply_during_training=False`` on any `Lowpass` layers) and run many steps at
    inference.

    Parameters
    ----------
    activation : callable or str
        Activation function to be converted to spiking equivalent (anything that
        ``keras.activations.get`` accepts).
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    seed : int
        Seed for random state initialization (a 64-bit integer). Without a seed,
        the initial voltages are drawn afresh on every call, so two ``predict``
        calls (or a saved and loaded model) give different spikes; with one, they
        give the same spikes exactly.
    spiking_aware_training : bool
        If True (default), use the spiking activation function for the forward pass
        and the base activation function for the backward pass. If False, use the
        base activation function for the forward and backward pass during training.
        Note that with True, an ``activity_regularizer`` on this layer sees spikes
        of height ``1/dt``, so its penalty grows as ``dt`` shrinks.
    return_sequences : bool
        Whether to return the full sequence of output spikes (default), or just the
        spikes on the last timestep.
    return_state : bool
        Whether to return the state in addition to the output.
    stateful : bool
        If False (default), each time the layer is called it will begin from the
        same initial conditions. If True, each call will resume from the terminal
        state of the previous call (``my_layer.reset_states()`` can be called to
        reset the state to initial conditions).
    unroll : bool
        If True, the network will be unrolled, else a symbolic loop will be used.
        Unrolling can speed up computations, although it tends to be more memory
        intensive. Unrolling is only suitable for short sequences.
    time_major : bool
        The shape format of the input and output tensors. If True, the inputs and
        outputs will be in shape ``(timesteps, batch, ...)``, whereas in the False
        case, it will be ``(batch, timesteps, ...)``.
    step_loop : bool or None
        True runs the cell one step at a time in a ``keras.layers.RNN``, False
        computes the whole sequence at once, None (default) takes whichever is
        faster (see `KerasSpikingLayer`).
    go_backwards : bool
        If True, process the input backwards in time and return the output in that
        order (what ``keras.layers.Bidirectional`` sets); needs ``time_major=False``.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    This is equivalent to ``keras.layers.RNN(SpikingActivationCell(...) ...)``, it
    just takes care of the RNN construction automatically.
    """

    def __init__(
        self,
        activation,
        dt=None,
        seed=None,
        spiking_aware_training=True,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        step_loop=None,
        go_backwards=False,
        **kwargs,
    ):
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            step_loop=step_loop,
            go_backwards=go_backwards,
            **kwargs,
        )
        self.activation = get_activation(activation)
        self.seed = _check_seed(seed)
        self.spiking_aware_training = check_flag(
            spiking_aware_training, "spiking_aware_training"
        )

    def build(self, input_shapes):
        """Build the cell, checking that spikes of height ``1/dt`` fit the output
        dtype of the layer's dtype policy."""
        _check_spike_height(self.dt, self.compute_dtype)
        super().build(input_shapes)

    def build_cell(self, input_shapes):
        """Create the `SpikingActivationCell` for per-step shape ``input_shapes``."""
        return SpikingActivationCell(
            size=input_shapes,
            activation=self.activation,
            dt=self.dt,
            seed=self.seed,
            spiking_aware_training=self.spiking_aware_training,
            dtype=self.cell_dtype,
            trainable=self.trainable,
        )

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(
            {
                "activation": keras.activations.serialize(self.activation),
                "seed": self.seed,
                "spiking_aware_training": self.spiking_aware_training,
            }
        )
        return config
