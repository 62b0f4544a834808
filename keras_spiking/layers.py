"""Components for building spiking models in Keras.

Each computation comes in two parts. A *cell* holds the maths of one time step
(``SpikingActivationCell``, ``LowpassCell``, ``AlphaCell``); a *layer* runs its
cell along the time axis of its input, by wrapping it in ``keras.layers.RNN``
(``SpikingActivation``, ``Lowpass``, ``Alpha``).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking.config import default

# The time constant of a filter is floored at this value in the forward pass, so a
# tau trained down to (or below) zero never divides by zero.
MIN_TAU = 1e-8

register = keras.saving.register_keras_serializable(package="keras_spiking")


def is_variable(value):
    """Whether ``value`` is a variable whose value a layer should read live."""
    if isinstance(value, keras.Variable):
        return True
    if keras.backend.backend() == "tensorflow":
        # TensorFlow-only: a raw ``tf.Variable`` is also accepted on that backend.
        import tensorflow as tf

        return isinstance(value, tf.Variable)
    return False


def _seeded_uniform(shape, seed, dtype):
    """Draw uniform values on ``[0, 1)``, deterministically for an int ``seed``.

    ``seed`` is an int (the same values every time) or a
    ``keras.random.SeedGenerator`` (fresh values every time).
    """
    if isinstance(seed, int) and keras.backend.backend() == "tensorflow":
        # TensorFlow-only: the original KerasSpiking drew seeded voltages with exactly
        # this call, so the same seed gives the same spikes bit for bit.
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed=(seed, seed), dtype=dtype)
    return keras.random.uniform(shape, dtype=dtype, seed=seed)


def _as_shape(size, name="size"):
    """Normalise an int, tuple or ``TensorShape`` to a tuple of ints."""
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of positive ints (the "
            f"per-step shape, without batch and time axes); got {name}={size!r}."
        )
    return tuple(int(d) for d in shape)


def _tau_initializer(tau):
    """Turn a ``tau`` argument (seconds, or an initializer) into an initializer."""
    if isinstance(tau, (int, float, np.number)) and not isinstance(tau, bool):
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(
                f"`tau` must be a positive, finite time constant in seconds; got "
                f"tau={tau!r}."
            )
        return keras.initializers.Constant(float(tau))
    return keras.initializers.get(tau)


def _activation(activation):
    """Look up an activation like ``keras.activations.get``, with a clearer error."""
    try:
        return keras.activations.get(activation)
    except ValueError as error:
        raise ValueError(
            f"Unknown `activation`: {activation!r}. Pass a callable, None (linear) "
            f"or a name that `keras.activations.get` knows, such as 'relu'."
        ) from error


class _HasDt:
    """Mixin for the cells and layers that hold ``dt``.

    ``dt`` is a float or a variable shared by several layers. A ``keras.Variable``
    is tracked as a non-trainable variable of each layer that uses it, so that
    compiled training functions (on every backend) read its current value; but it
    is a setting, stored by ``get_config``, so it is not saved as a weight.
    """

    def _set_dt(self, dt):
        dt = default.dt if dt is None else dt
        value = float(ops.convert_to_numpy(dt)) if is_variable(dt) else dt
        if not isinstance(value, (int, float, np.number)) or not (
            math.isfinite(value) and value > 0
        ):
            raise ValueError(
                f"`dt` must be a positive, finite number of seconds (or a variable "
                f"holding one); got dt={value!r}."
            )
        if isinstance(dt, keras.Variable):
            # dt is a simulation setting, never something the optimizer changes.
            dt.trainable = False
        self.dt = dt if is_variable(dt) else float(dt)

    @property
    def dt_value(self):
        """float: The current value of ``dt``, in seconds."""
        return float(ops.convert_to_numpy(self.dt)) if is_variable(self.dt) else self.dt

    def _weights_to_save(self):
        own = self._trainable_variables + self._non_trainable_variables
        return [v for v in own if v is not self.dt]

    def save_own_variables(self, store):
        """Save this layer's weights, leaving out ``dt`` (stored by ``get_config``)."""
        for i, variable in enumerate(self._weights_to_save()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        """Load the weights written by ``save_own_variables``."""
        variables = self._weights_to_save()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} saved variables, but "
                f"the file holds {len(store.keys())}."
            )
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])


@register
class KerasSpikingCell(_HasDt, keras.layers.Layer):
    """Base class for RNN cells in KerasSpiking.

    A cell computes one time step. What sets these cells apart from other Keras
    cells is that each has two implementations of that step: ``call_training``,
    used while training, and ``call_inference``, used otherwise (or always, when
    ``always_use_inference=True``).

    Parameters
    ----------
    size : int or tuple of int or ``tf.TensorShape``
        Input/output shape of the layer (not including batch/time dimensions).
    state_size : int or tuple of int or list of those
        Shape of the cell state, or a list of shapes for a cell with several state
        tensors. If None, use ``size`` (one state tensor).
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    always_use_inference : bool
        If True, this layer will use its ``call_inference`` behaviour during
        training, rather than ``call_training``.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    Keras 3 expects ``state_size`` and ``output_size`` to be (lists of) ints, so
    those attributes hold the number of elements per state; ``state_shapes`` holds
    the shapes, and ``get_initial_state`` returns tensors of shape
    ``(batch, *shape)``.
    """

    def __init__(
        self, size, state_size=None, dt=None, always_use_inference=True, **kwargs
    ):
        super().__init__(**kwargs)
        self.size = _as_shape(size)
        self.state_size_arg = state_size
        if state_size is None:
            self.state_shapes = [self.size]
        elif isinstance(state_size, list):
            self.state_shapes = [_as_shape(s, "state_size") for s in state_size]
        else:
            self.state_shapes = [_as_shape(state_size, "state_size")]
        self._set_dt(dt)
        self.always_use_inference = always_use_inference

    @property
    def state_size(self):
        """int or list of int: Number of elements of each state (for Keras)."""
        sizes = [math.prod(shape) for shape in self.state_shapes]
        return sizes[0] if len(sizes) == 1 else sizes

    @property
    def output_size(self):
        """int: Number of elements of one step's output (for Keras)."""
        return math.prod(self.size)

    def build(self, input_shape):
        """Check that the per-step input shape matches ``size``."""
        step_shape = tuple(input_shape[1:])
        if len(step_shape) != len(self.size) or any(
            d is not None and d != s for d, s in zip(step_shape, self.size, strict=True)
        ):
            raise ValueError(
                f"{type(self).__name__} was made with size={self.size}, but its "
                f"per-step input has shape {step_shape} (input shape {input_shape}). "
                f"Set `size` to the input's shape after the batch axis."
            )
        super().build(input_shape)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zeros for every state tensor.

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
        return [
            ops.zeros((batch_size, *shape), dtype=dtype) for shape in self.state_shapes
        ]

    def _batch_and_dtype(self, inputs, batch_size, dtype):
        if batch_size is None:
            batch_size = ops.shape(inputs)[0]
        return batch_size, dtype or self.compute_dtype

    def _dt_as(self, inputs):
        return ops.cast(self.dt, inputs.dtype)

    def call(self, inputs, states, training=None):
        """Call function that defines a different forward pass during training
        versus inference.

        Parameters
        ----------
        inputs : tensor
            One time step of input, shape ``(batch, *size)``.
        states : list of tensor
            The state tensors.
        training : bool, optional
            Whether the model is training (``fit``) or not (``predict``,
            ``evaluate``, direct calls).

        Returns
        -------
        outputs : tensor
            One time step of output.
        states : list of tensor
            The updated state tensors.
        """
        if training and not self.always_use_inference:
            return self.call_training(inputs, states)
        return self.call_inference(inputs, states)

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``."""
        raise NotImplementedError("Subclasses must implement `call_training`.")

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``."""
        raise NotImplementedError("Subclasses must implement `call_inference`.")

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "state_size": self.state_size_arg,
                "dt": self.dt_value,
                "always_use_inference": self.always_use_inference,
            }
        )
        return config


@register
class KerasSpikingLayer(_HasDt, keras.layers.Layer):
    """Base class for KerasSpiking layers.

    The main role of this class is to wrap a ``KerasSpikingCell`` in a
    ``keras.layers.RNN``, and to take care of what ``keras.layers.RNN`` leaves out in
    Keras 3: time-major input, resetting to the cell's own initial state, and
    per-step inputs of any rank. Subclasses implement ``build_cell``.

    Parameters
    ----------
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default). A
        variable may be shared by several layers (e.g. for
        `~keras_spiking.callbacks.DtScheduler`); assigning to it changes every later
        step. The variable is made non-trainable.
    return_sequences : bool
        Whether to return the full sequence of output values (default), or just
        the values on the last timestep.
    return_state : bool
        Whether to return the state in addition to the output.
    stateful : bool
        If False (default), each time the layer is called it will begin from the
        same initial conditions. If True, each call will resume from the terminal
        state of the previous call (``my_layer.reset_states()`` can be called to
        reset the state to initial conditions). Needs a fixed batch size.
    unroll : bool
        If True, the network will be unrolled, else a symbolic loop will be used.
        Unrolling can speed up computations, although it tends to be more memory
        intensive. Unrolling is only suitable for short sequences.
    time_major : bool
        The shape format of the input and output tensors. If True, the inputs and
        outputs will be in shape ``(timesteps, batch, ...)``, whereas in the False
        case, it will be ``(batch, timesteps, ...)``.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.
    """

    def __init__(
        self,
        dt=None,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._set_dt(dt)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.stateful = stateful
        self.unroll = unroll
        self.time_major = time_major
        self.cell = None
        self.layer = None

    def build_cell(self, input_shapes):
        """Create the cell, given the per-step input shape ``(*size)``."""
        raise NotImplementedError("Subclasses must implement `build_cell`.")

    def _split_shape(self, shape):
        """Return ``(batch, time, size)`` of an input shape, checking its time axis."""
        shape = tuple(shape)
        if len(shape) < 3:
            layout = "(time, batch, ...)" if self.time_major else "(batch, time, ...)"
            raise ValueError(
                f"{type(self).__name__} needs input with a time axis, of shape "
                f"{layout}; got shape {shape}. For a single time step, add an axis "
                f"of length 1 (e.g. `x[:, None]`)."
            )
        batch, time = (shape[1], shape[0]) if self.time_major else shape[:2]
        return batch, time, shape[2:]

    def build(self, input_shapes):
        """Builds the RNN/cell layers contained within this layer.

        Notes
        -----
        This method should not be called manually; rather, use the implicit layer
        callable behaviour (like ``my_layer(inputs)``), which will apply this method
        with some additional bookkeeping.
        """
        batch, time, size = self._split_shape(input_shapes)
        if self.stateful and batch is None:
            raise ValueError(
                f"{type(self).__name__} with stateful=True needs a fixed batch size: "
                f"give the model input one, e.g. `keras.Input(shape, batch_size=32)`."
            )
        self.cell = self.build_cell(size)
        self.layer = keras.layers.RNN(
            self.cell,
            return_sequences=self.return_sequences,
            return_state=True,
            stateful=self.stateful,
            unroll=self.unroll,
            dtype=self.dtype_policy,
        )
        self.layer.build((batch, time, *size))
        super().build(input_shapes)

    def compute_output_shape(self, input_shape):
        """The output shape (and state shapes, when ``return_state=True``)."""
        batch, _, _ = self._split_shape(input_shape)
        output = (
            tuple(input_shape) if self.return_sequences else (batch, *self.cell.size)
        )
        if not self.return_state:
            return output
        return [output] + [(batch, *shape) for shape in self.cell.state_shapes]

    def _check_states(self, states, batch):
        """Return ``states`` as a list, checking their count and shapes."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        expected = [(batch, *shape) for shape in self.cell.state_shapes]
        if len(states) != len(expected):
            raise ValueError(
                f"{type(self).__name__} has {len(expected)} state tensor(s), of "
                f"shape(s) {expected}; got {len(states)} in `initial_state`."
            )
        for i, (state, shape) in enumerate(zip(states, expected, strict=True)):
            actual = tuple(state.shape)
            if len(actual) != len(shape) or any(
                a is not None and s is not None and a != s
                for a, s in zip(actual, shape, strict=True)
            ):
                raise ValueError(
                    f"State {i} of {type(self).__name__} must have shape {shape} "
                    f"(batch, *size); got `initial_state` of shape {actual}."
                )
        return states

    def call(self, inputs, training=None, initial_state=None, constants=None):
        """Apply this layer to inputs.

        Parameters
        ----------
        inputs : tensor
            Input of shape ``(batch, time, *size)`` (``(time, batch, *size)`` when
            ``time_major=True``).
        training : bool, optional
            Whether to use the training path (set by Keras: ``fit`` trains).
        initial_state : tensor or list of tensor, optional
            The state to start from, instead of the cell's initial state.
        constants : None
            Not supported by Keras 3's ``keras.layers.RNN``; must be None.

        Notes
        -----
        This method should not be called manually; rather, use the implicit layer
        callable behaviour (like ``my_layer(inputs)``), which will apply this method
        with some additional bookkeeping.
        """
        if constants is not None:
            raise ValueError(
                "`constants` is not supported: Keras 3's RNN layer has no constants."
            )
        batch, _, size = self._split_shape(inputs.shape)
        if tuple(size) != self.cell.size:
            raise ValueError(
                f"{type(self).__name__} was built for per-step shape "
                f"{self.cell.size}, but got input of shape {tuple(inputs.shape)}."
            )
        if initial_state is not None:
            initial_state = self._check_states(initial_state, batch)
        if self.time_major:
            inputs = ops.swapaxes(inputs, 0, 1)
        output, *states = self.layer(
            inputs, initial_state=initial_state, training=training
        )
        if self.time_major and self.return_sequences:
            output = ops.swapaxes(output, 0, 1)
        return [output, *states] if self.return_state else output

    def reset_states(self, states=None):
        """Reset the state of a stateful layer.

        Parameters
        ----------
        states : tensor or list of tensor, optional
            The state to reset to. By default, the cell's initial state (the value
            that ``get_initial_state`` gives, e.g. a seeded random voltage).
        """
        if not self.stateful or self.layer is None:
            raise ValueError(
                f"{type(self).__name__}.reset_states needs a built layer made with "
                f"stateful=True."
            )
        batch = self.layer.states[0].shape[0]
        if states is None:
            states = self.layer.get_initial_state(batch)
        else:
            states = self._check_states(states, batch)
        for variable, value in zip(self.layer.states, states, strict=True):
            variable.assign(ops.cast(value, variable.dtype))

    def reset_state(self, states=None):
        """Alias of `reset_states`, with Keras 3's spelling."""
        self.reset_states(states)

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(
            {
                "dt": self.dt_value,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "stateful": self.stateful,
                "unroll": self.unroll,
                "time_major": self.time_major,
            }
        )
        return config


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
    size : int or tuple of int or ``tf.TensorShape``
        Input/output shape of the layer (not including batch/time dimensions).
    activation : callable or str
        Activation function to be converted to spiking equivalent (anything that
        ``keras.activations.get`` accepts).
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    seed : int
        Seed for random state initialization. With a seed, the initial voltage is
        the same every time the state is initialised.
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
        super().__init__(
            size=size, dt=dt, always_use_inference=spiking_aware_training, **kwargs
        )
        self.activation = _activation(activation)
        self.seed = seed
        self.spiking_aware_training = spiking_aware_training
        # Without a seed, every initialisation draws fresh voltages.
        self.seed_generator = keras.random.SeedGenerator() if seed is None else None

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Set up initial spiking state.

        The initial voltage is uniform on ``[0, 1)``, so that neurons driven at the
        same rate do not all spike on the same step. It is drawn with the ``seed``
        given on construction (the same values every time), or fresh each time
        without one. The state is initialised automatically; there is no need to
        call this method.

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
        return [_seeded_uniform((batch_size, *self.size), seed, dtype)]

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``:
        the base activation, with the voltage left unchanged."""
        return self.activation(inputs), states

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
        dt = self._dt_as(inputs)
        rates = self.activation(inputs)
        voltage = ops.stop_gradient(states[0] + rates * dt)
        n_spikes = ops.floor(voltage)
        voltage = voltage - n_spikes
        spikes = ops.stop_gradient(n_spikes / dt)
        # The bracket is exactly zero in the forward pass (so the output is exactly
        # the spikes) and has the gradient of the rates in the backward pass.
        return spikes + (rates - ops.stop_gradient(rates)), [voltage]

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
        Seed for random state initialization.
    spiking_aware_training : bool
        If True (default), use the spiking activation function for the forward pass
        and the base activation function for the backward pass. If False, use the
        base activation function for the forward and backward pass during training.
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
        **kwargs,
    ):
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            **kwargs,
        )
        self.activation = _activation(activation)
        self.seed = seed
        self.spiking_aware_training = spiking_aware_training

    def build_cell(self, input_shapes):
        """Create the `SpikingActivationCell` for per-step shape ``input_shapes``."""
        return SpikingActivationCell(
            size=input_shapes,
            activation=self.activation,
            dt=self.dt,
            seed=self.seed,
            spiking_aware_training=self.spiking_aware_training,
            dtype=self.dtype_policy,
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


def _serialize_or_none(module, value):
    return None if value is None else module.serialize(value)


class _FilterCell(KerasSpikingCell):
    """The weights, options and training path shared by the filter cells."""

    def __init__(
        self,
        size,
        tau=None,
        dt=None,
        apply_during_training=True,
        level_initializer="zeros",
        tau_constraint=None,
        initial_level_constraint=None,
        n_states=1,
        tau_initializer=None,
        **kwargs,
    ):
        super().__init__(
            size=size,
            state_size=[_as_shape(size)] * n_states,
            dt=dt,
            always_use_inference=apply_during_training,
            **kwargs,
        )
        _set_filter_options(
            self,
            tau=tau,
            tau_initializer=tau_initializer,
            apply_during_training=apply_during_training,
            level_initializer=level_initializer,
            tau_constraint=tau_constraint,
            initial_level_constraint=initial_level_constraint,
        )

    def build(self, input_shape):
        """Create the ``tau`` and ``initial_level`` weights, of shape ``(1, *size)``."""
        super().build(input_shape)
        self.tau = self.add_weight(
            name="tau",
            shape=(1, *self.size),
            initializer=self.tau_initializer,
            constraint=self.tau_constraint,
            trainable=self.apply_during_training,
        )
        self.initial_level = self.add_weight(
            name="initial_level",
            shape=(1, *self.size),
            initializer=self.level_initializer,
            constraint=self.initial_level_constraint,
            trainable=self.apply_during_training,
        )

    def _initial_level(self, inputs, batch_size, dtype):
        batch_size, dtype = self._batch_and_dtype(inputs, batch_size, dtype)
        level = ops.cast(self.initial_level, dtype)
        return ops.broadcast_to(level, (batch_size, *self.size))

    def _tau(self):
        return ops.maximum(self.tau, MIN_TAU)

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``:
        the input passes through unfiltered and the state is unchanged."""
        return inputs, states

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        for base_only in ("state_size", "always_use_inference"):
            config.pop(base_only)
        config.update(_filter_config(self))
        return config


def _one_tau(tau, tau_initializer):
    """Accept ``tau`` or its later alias ``tau_initializer``, exactly one of them."""
    if (tau is None) == (tau_initializer is None):
        raise ValueError(
            "Give the filter time constant as `tau` (or its alias `tau_initializer`), "
            f"exactly once; got tau={tau!r}, tau_initializer={tau_initializer!r}."
        )
    return tau_initializer if tau is None else tau


def _set_filter_options(
    obj,
    tau,
    tau_initializer,
    apply_during_training,
    level_initializer,
    tau_constraint,
    initial_level_constraint,
):
    """Check and store the options of a filter cell or layer (see `_filter_config`)."""
    obj.tau_initializer = _tau_initializer(_one_tau(tau, tau_initializer))
    obj.apply_during_training = apply_during_training
    obj.level_initializer = keras.initializers.get(level_initializer)
    obj.tau_constraint = keras.constraints.get(tau_constraint)
    obj.initial_level_constraint = keras.constraints.get(initial_level_constraint)


def _filter_config(obj):
    """The config entries of a filter cell or layer."""
    return {
        "tau": keras.initializers.serialize(obj.tau_initializer),
        "apply_during_training": obj.apply_during_training,
        "level_initializer": keras.initializers.serialize(obj.level_initializer),
        "tau_constraint": _serialize_or_none(keras.constraints, obj.tau_constraint),
        "initial_level_constraint": _serialize_or_none(
            keras.constraints, obj.initial_level_constraint
        ),
    }


@register
class LowpassCell(_FilterCell):
    """RNN cell for a lowpass filter.

    The filter's time constants and initial level are weights, trainable when
    ``apply_during_training=True``. With ``apply_during_training=False`` the filter
    is skipped during training, so they are never updated.

    Parameters
    ----------
    size : int or tuple of int or ``tf.TensorShape``
        Input/output shape of the layer (not including batch/time dimensions).
    tau : float or ``keras.initializers.Initializer``
        Time constant of filter (in seconds), or an initializer for it.
        ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or ``keras.initializers.Initializer``
        Initializer for filter state.
    tau_constraint : ``keras.constraints.Constraint``
        Constraint applied to ``tau`` after each training update (e.g.
        `~keras_spiking.constraints.Mean` to share one time constant).
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    This cell needs to be wrapped in a ``keras.layers.RNN``, like ::

        my_layer = keras.layers.RNN(keras_spiking.LowpassCell(size=10, tau=0.01))
    """

    def __init__(
        self,
        size,
        tau=None,
        dt=None,
        apply_during_training=True,
        level_initializer="zeros",
        tau_constraint=None,
        initial_level_constraint=None,
        tau_initializer=None,
        **kwargs,
    ):
        super().__init__(
            size=size,
            tau=tau,
            dt=dt,
            apply_during_training=apply_during_training,
            level_initializer=level_initializer,
            tau_constraint=tau_constraint,
            initial_level_constraint=initial_level_constraint,
            tau_initializer=tau_initializer,
            **kwargs,
        )

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The filter starts at ``initial_level``.

        Parameters
        ----------
        inputs : tensor, optional
            A tensor whose first axis gives the batch size.
        batch_size : int or tensor, optional
            The batch size, when ``inputs`` is not given.
        dtype : str, optional
            The dtype of the state (default: the cell's compute dtype).
        """
        return [self._initial_level(inputs, batch_size, dtype)]

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``.

        One step of the zero-order-hold discretisation of ``1 / (tau*s + 1)``.
        """
        smoothing = ops.exp(-self._dt_as(inputs) / self._tau())
        output = (1 - smoothing) * inputs + smoothing * states[0]
        return output, [output]


@register
class AlphaCell(_FilterCell):
    """RNN cell for an alpha filter.

    The filter's time constants and initial level are weights, trainable when
    ``apply_during_training=True``. With ``apply_during_training=False`` the filter
    is skipped during training, so they are never updated.

    The state is two tensors per unit, ``[z, y]``: ``y`` is the filter output and
    ``z`` its scaled derivative (``z = 0`` initially).

    Parameters
    ----------
    size : int or tuple of int or ``tf.TensorShape``
        Input/output shape of the layer (not including batch/time dimensions).
    tau : float or ``keras.initializers.Initializer``
        Time constant of filter (in seconds), or an initializer for it.
        ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or ``keras.initializers.Initializer``
        Initializer for filter state.
    tau_constraint : ``keras.constraints.Constraint``
        Constraint applied to ``tau`` after each training update.
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    This cell needs to be wrapped in a ``keras.layers.RNN``, like ::

        my_layer = keras.layers.RNN(keras_spiking.AlphaCell(size=10, tau=0.01))
    """

    def __init__(
        self,
        size,
        tau=None,
        dt=None,
        apply_during_training=True,
        level_initializer="zeros",
        tau_constraint=None,
        initial_level_constraint=None,
        tau_initializer=None,
        **kwargs,
    ):
        super().__init__(
            size=size,
            tau=tau,
            dt=dt,
            apply_during_training=apply_during_training,
            level_initializer=level_initializer,
            tau_constraint=tau_constraint,
            initial_level_constraint=initial_level_constraint,
            n_states=2,
            tau_initializer=tau_initializer,
            **kwargs,
        )

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The filter starts at ``z = 0``, ``y = initial_level``.

        Parameters
        ----------
        inputs : tensor, optional
            A tensor whose first axis gives the batch size.
        batch_size : int or tensor, optional
            The batch size, when ``inputs`` is not given.
        dtype : str, optional
            The dtype of the state (default: the cell's compute dtype).
        """
        level = self._initial_level(inputs, batch_size, dtype)
        return [ops.zeros_like(level), level]

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``.

        One step of the zero-order-hold discretisation of ``1 / (tau*s + 1)**2``.
        """
        dt = self._dt_as(inputs)
        tau = self._tau()
        r = dt / tau
        decay = ops.exp(-r)
        z, y = states
        new_z = decay * ((1 - r) * z - (r / tau) * y) + (decay * r / tau) * inputs
        new_y = decay * (dt * z + (1 + r) * y) + (1 - decay * (1 + r)) * inputs
        return new_y, [new_z, new_y]


class _FilterLayer(KerasSpikingLayer):
    """The options shared by the filter layers; subclasses set ``cell_class``."""

    cell_class = None

    def __init__(
        self,
        tau=None,
        dt=None,
        apply_during_training=True,
        level_initializer="zeros",
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        tau_constraint=None,
        initial_level_constraint=None,
        tau_initializer=None,
        **kwargs,
    ):
        super().__init__(
            dt=dt,
            return_sequences=return_sequences,
            return_state=return_state,
            stateful=stateful,
            unroll=unroll,
            time_major=time_major,
            **kwargs,
        )
        _set_filter_options(
            self,
            tau=tau,
            tau_initializer=tau_initializer,
            apply_during_training=apply_during_training,
            level_initializer=level_initializer,
            tau_constraint=tau_constraint,
            initial_level_constraint=initial_level_constraint,
        )

    def build_cell(self, input_shapes):
        """Create the filter cell for per-step shape ``input_shapes``."""
        return self.cell_class(
            size=input_shapes,
            tau=self.tau_initializer,
            dt=self.dt,
            apply_during_training=self.apply_during_training,
            level_initializer=self.level_initializer,
            tau_constraint=self.tau_constraint,
            initial_level_constraint=self.initial_level_constraint,
            dtype=self.dtype_policy,
        )

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(_filter_config(self))
        return config


_FILTER_LAYER_PARAMETERS = """
    Parameters
    ----------
    tau : float or ``keras.initializers.Initializer``
        Time constant of filter (in seconds), or an initializer for it.
        ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or ``keras.initializers.Initializer``
        Initializer for filter state.
    return_sequences : bool
        Whether to return the full sequence of filtered output (default), or just
        the output on the last timestep.
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
    tau_constraint : ``keras.constraints.Constraint``
        Constraint applied to ``tau`` after each training update (e.g.
        `~keras_spiking.constraints.Mean` to share one time constant).
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update.
    kwargs : dict
        Passed on to ``keras.layers.Layer``.
"""


@register
class Lowpass(_FilterLayer):
    """Layer implementing a lowpass filter.

    The impulse-response function (time domain) and transfer function are:

    .. math::

        h(t) &= (1 / \\tau) \\exp(-t / \\tau) \\\\
        H(s) &= \\frac{1}{\\tau s + 1}

    Filtering spikes turns them into a smooth estimate of the firing rate. The
    time constants and initial level are weights, trainable when
    ``apply_during_training=True``; with ``apply_during_training=False`` the filter
    is skipped during training, so they are never updated.

    The input needs a time axis (before the batch axis when ``time_major=True``,
    after it otherwise).
    {parameters}
    Notes
    -----
    This is equivalent to ``keras.layers.RNN(LowpassCell(...) ...)``, it just takes
    care of the RNN construction automatically.
    """

    cell_class = LowpassCell


@register
class Alpha(_FilterLayer):
    """Layer implementing an alpha filter.

    The impulse-response function (time domain) and transfer function are:

    .. math::

        h(t) &= (t / \\tau^2) \\exp(-t / \\tau) \\\\
        H(s) &= \\frac{1}{(\\tau s + 1)^2}

    An alpha filter is two lowpass filters in series: it rises smoothly from zero,
    so it removes more of the spike noise than a lowpass with the same ``tau``, at
    the price of a longer delay. The time constants and initial level are weights,
    trainable when ``apply_during_training=True``; with
    ``apply_during_training=False`` the filter is skipped during training, so they
    are never updated.

    The input needs a time axis (before the batch axis when ``time_major=True``,
    after it otherwise). The state is ``[z, y]`` as in `AlphaCell`.
    {parameters}
    Notes
    -----
    This is equivalent to ``keras.layers.RNN(AlphaCell(...) ...)``, it just takes
    care of the RNN construction automatically.
    """

    cell_class = AlphaCell


for _layer in (Lowpass, Alpha):
    _layer.__doc__ = _layer.__doc__.replace("{parameters}", _FILTER_LAYER_PARAMETERS)
