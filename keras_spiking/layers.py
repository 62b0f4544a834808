"""Components for building spiking models in Keras.

Each computation comes in two parts. A *cell* holds the maths of one time step
(``SpikingActivationCell``, ``LowpassCell``, ``AlphaCell``) and the same maths for a
whole sequence at once; a *layer* runs its cell along the time axis of its input
(``SpikingActivation``, ``Lowpass``, ``Alpha``): by default with the whole-sequence
form, or step by step in a ``keras.layers.RNN``.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import sequence
from keras_spiking.config import default

# The time constant of a filter is floored at this value in the forward pass, so a
# tau trained down to (or below) zero never divides by zero.
MIN_TAU = 1e-8

# The range of time steps: float32 numbers whose inverse, the spike height, is a
# finite (normal) float32 number too.
MIN_DT = float(np.finfo(np.float32).tiny)
MAX_DT = float(np.finfo(np.float32).max)

# With ``step_loop=None``, layers without compiled time loops (all but TensorFlow
# on a CPU) compute the whole sequence at once when a step has at most this many
# elements (batch included): measured on CPUs, the whole sequence is 6-100x faster
# than a step loop at 128 elements per step (a step loop's fixed cost per step
# dominates), and up to 3x slower at 8,192 or more (see benchmarks/README.md).
SEQUENCE_MAX_STEP_SIZE = 2048

# Seeds are int64 values, as TensorFlow's stateless random ops take them.
SEED_RANGE = (-(2**63), 2**63)

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


def check_dt(dt, name="dt"):
    """Return ``dt`` as a float, or raise an error that says what is wrong.

    A time step is a number of seconds from ``MIN_DT`` to ``MAX_DT``, so that both
    ``dt`` and the spike height ``1/dt`` are finite float32 numbers.
    """
    if not isinstance(dt, (int, float, np.integer, np.floating)) or isinstance(
        dt, (bool, np.bool_)
    ):
        raise TypeError(
            f"`{name}` must be a number of seconds (or a scalar variable holding "
            f"one); got {name}={dt!r} of type {type(dt).__name__}."
        )
    if not MIN_DT <= dt <= MAX_DT:  # also False for NaN
        raise ValueError(
            f"`{name}` must be a number of seconds from {MIN_DT:.3g} to "
            f"{MAX_DT:.3g} (so that it and the spike height 1/dt are finite float32 "
            f"numbers); got {name}={dt!r}."
        )
    return float(dt)


def _check_dt_argument(dt):
    """Check the ``dt`` argument of a cell or layer; return what to store.

    A variable's value is not checked here: it may hold anything until a
    `~keras_spiking.callbacks.DtScheduler` sets it, and reading it could happen
    inside a traced function. Its value is checked where it is used.
    """
    dt = default.dt if dt is None else dt
    if not is_variable(dt):
        return check_dt(dt)
    if tuple(dt.shape) != () or "float" not in str(dt.dtype):
        raise ValueError(
            f"A `dt` variable must hold one floating-point number; got a variable of "
            f"shape {tuple(dt.shape)} and dtype {dt.dtype}. Create it with e.g. "
            f"`keras.Variable(0.001, trainable=False)`."
        )
    if isinstance(dt, keras.Variable):
        # dt is a simulation setting, never something the optimizer changes.
        dt.trainable = False
    return dt


def _dt_tensor(dt, dtype):
    """``dt`` as a scalar tensor of ``dtype``.

    A variable may have been assigned any value, and that cannot be checked inside
    a compiled function; a value that is not a valid time step becomes NaN, so the
    output is NaN rather than plausible-looking but wrong.
    """
    if not is_variable(dt):
        return ops.convert_to_tensor(dt, dtype=dtype)
    value = ops.cast(dt, dtype)
    valid = ops.logical_and(value >= MIN_DT, ops.isfinite(value))
    return ops.where(valid, value, float("nan"))


def _dt_config(dt):
    """The ``dt`` entry of a config: a float, or a shared-variable record."""
    if not is_variable(dt):
        return dt
    handle = getattr(dt, "_keras_spiking_saved_dt", None)
    if handle is None:
        handle = _SavedDt(dt)
        dt._keras_spiking_saved_dt = handle
    config = keras.saving.serialize_keras_object(handle)
    # Keras adds this id itself only where it sees the object twice, and can miss
    # the first config; with it on every one, ``.keras`` loading recreates one
    # variable for all the layers that shared it.
    config["shared_object_id"] = id(handle)
    return config


def _dt_from_config(dt):
    """Undo `_dt_config`."""
    if isinstance(dt, dict):
        return keras.saving.deserialize_keras_object(dt).variable
    return dt


@register
class _SavedDt:
    """The ``dt`` variable of a layer, as it is saved in a config.

    Keras's ``.keras`` saving gives an object that appears in several configs one
    ``shared_object_id`` and recreates it once on loading; so layers that shared a
    ``dt`` variable when saved share one again when loaded, and a
    `~keras_spiking.callbacks.DtScheduler` can go on training them.
    """

    def __init__(self, variable):
        self.variable = variable

    def get_config(self):
        return {"value": float(ops.convert_to_numpy(self.variable))}

    @classmethod
    def from_config(cls, config):
        return cls(keras.Variable(config["value"], trainable=False, name="dt"))


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


def _seeded_uniform(shape, seed):
    """Draw float32 values uniform on ``[0, 1)``, deterministically for an int
    ``seed``.

    ``seed`` is an int (the same values every time) or a
    ``keras.random.SeedGenerator`` (fresh values every time).
    """
    if not isinstance(seed, int):
        return keras.random.uniform(shape, dtype="float32", seed=seed)
    if keras.backend.backend() == "tensorflow":
        # TensorFlow-only: the original KerasSpiking drew seeded voltages with exactly
        # this call (its default algorithm is Philox on a CPU). Naming the algorithm
        # keeps the draw the same under XLA, which would otherwise pick another.
        import tensorflow as tf

        return tf.random.stateless_uniform(
            shape, seed=(seed, seed), dtype="float32", alg="philox"
        )
    # Keras seeds the other backends with 32 bits.
    return keras.random.uniform(shape, dtype="float32", seed=seed % 2**32)


def _known_value(tensor):
    """``tensor`` as a numpy array, or None while a function is being traced.

    Backend-specific: each backend marks a traced value its own way.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    elif backend == "jax":
        import jax

        value = tensor.value if isinstance(tensor, keras.Variable) else tensor
        if isinstance(value, jax.core.Tracer):
            return None
    return ops.convert_to_numpy(tensor)


def _compiled_step_loop_is_faster():
    """Whether this backend's compiled step loop beats the whole-sequence form
    whatever the shape.

    Backend-specific: JAX compiles the step loop into a tight loop on a CPU, at
    0.1-0.8 us a step, faster than the blocked whole-sequence form there.
    """
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


def _as_shape(size, name="size"):
    """Normalise an int, tuple or ``TensorShape`` to a tuple of ints."""
    if isinstance(size, (int, np.integer)):
        shape = (size,)
    else:
        try:
            shape = tuple(size)
        except TypeError:
            shape = None
    if shape is None or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
        for d in shape
    ):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of positive ints (the "
            f"per-step shape, without batch and time axes); got {name}={size!r}."
        )
    return tuple(int(d) for d in shape)


def _activation(activation):
    """Look up an activation like ``keras.activations.get``, with a clearer error."""
    try:
        return keras.activations.get(activation)
    except ValueError as error:
        raise ValueError(
            f"Unknown `activation`: {activation!r}. Pass a callable, None (linear) "
            f"or a name that `keras.activations.get` knows, such as 'relu'."
        ) from error


def _dt_value(dt):
    return float(ops.convert_to_numpy(dt)) if is_variable(dt) else dt


def _without(variables, excluded):
    return [v for v in variables if not any(v is e for e in excluded)]


@register
class KerasSpikingCell(keras.layers.Layer):
    """Base class for RNN cells in KerasSpiking.

    A cell computes one time step (`call`), or a whole sequence of them at once
    (`call_sequence`). What sets these cells apart from other Keras cells is that
    each has two implementations: ``call_training``, used while training, and
    ``call_inference``, used otherwise (or always, when
    ``always_use_inference=True``); likewise ``call_sequence_training`` and
    ``call_sequence_inference``.

    Parameters
    ----------
    size : int or tuple of int
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

    A cell computes in its own compute dtype. The layers give their cells a
    float32 policy (float64 under a float64 policy), so that voltages and filter
    states keep their precision under mixed precision.
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
        self.dt = _check_dt_argument(dt)
        self.always_use_inference = always_use_inference

    @property
    def dt_value(self):
        """float: The current value of ``dt``, in seconds."""
        return _dt_value(self.dt)

    @property
    def state_size(self):
        """int or list of int: Number of elements of each state (for Keras)."""
        sizes = [math.prod(shape) for shape in self.state_shapes]
        return sizes[0] if len(sizes) == 1 else sizes

    @property
    def output_size(self):
        """int: Number of elements of one step's output (for Keras)."""
        return math.prod(self.size)

    @property
    def weights(self):
        """The weights of the cell; a ``dt`` variable is a setting, not a weight."""
        return _without(super().weights, [self.dt])

    def save_own_variables(self, store):
        """Save this cell's weights (not ``dt``, which ``get_config`` stores)."""
        for i, variable in enumerate(self._own_weights()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        """Load the weights written by ``save_own_variables``."""
        variables = self._own_weights()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} saved variables, but "
                f"the file holds {len(store.keys())}."
            )
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    def _own_weights(self):
        own = self._trainable_variables + self._non_trainable_variables
        return _without(own, [self.dt])

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

    def _dt(self):
        return _dt_tensor(self.dt, self.compute_dtype)

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

    def call_sequence(self, inputs, states, training=None, time_major=True):
        """Compute a whole sequence of steps at once.

        The result equals calling `call` once per time step, carrying the states
        from one step to the next (`SpikingActivationCell` within float32
        rounding; see its `call_sequence_inference`).

        Parameters
        ----------
        inputs : tensor
            The input sequence, shape ``(time, batch, *size)`` (``(batch, time,
            *size)`` when ``time_major=False``).
        states : list of tensor
            The states before the first step.
        training : bool, optional
            Whether the model is training, as for `call`.
        time_major : bool
            Whether time is the first axis of ``inputs`` (else the second).

        Returns
        -------
        outputs : tensor
            The output of every step, shaped like ``inputs``.
        states : list of tensor
            The states after the last step.
        """
        if training and not self.always_use_inference:
            return self.call_sequence_training(inputs, states, time_major)
        return self.call_sequence_inference(inputs, states, time_major)

    def call_training(self, inputs, states):
        """Compute layer output when training and ``always_use_inference=False``."""
        raise NotImplementedError("Subclasses must implement `call_training`.")

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``."""
        raise NotImplementedError("Subclasses must implement `call_inference`.")

    def call_sequence_training(self, inputs, states, time_major=True):
        """`call_training` of a whole sequence (`KerasSpikingCell.call_sequence`).

        The training paths of this package's cells act on each step alone and
        leave the states as they are, so by default this is `call_training`
        applied to the whole sequence at once.
        """
        return self.call_training(inputs, states)

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`)."""
        raise NotImplementedError(
            "Subclasses must implement `call_sequence_inference`."
        )

    def get_config(self):
        """Return the config of the cell (every constructor argument)."""
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "state_size": self.state_size_arg,
                "dt": _dt_config(self.dt),
                "always_use_inference": self.always_use_inference,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """Create a cell from its config (recreating a shared ``dt`` variable)."""
        return cls(**{**config, "dt": _dt_from_config(config.get("dt"))})


@register
class KerasSpikingLayer(keras.layers.Layer):
    """Base class for KerasSpiking layers.

    The main role of this class is to run a ``KerasSpikingCell`` along the time
    axis of its input, in one of two ways: the whole sequence at once, with the
    cell's `~KerasSpikingCell.call_sequence`, or one step at a time in a
    ``keras.layers.RNN``. Both give the same outputs (spike for spike; see
    `SpikingActivationCell.call_sequence_inference` for the one caveat). By default
    (``step_loop=None``) the layer takes whichever measured faster (see
    ``benchmarks/README.md``): on TensorFlow without a GPU, always the whole
    sequence (an XLA-compiled loop, `keras_spiking.tensorflow_kernels`); elsewhere
    the whole sequence at once for long sequences of few elements per step (at most
    ``SEQUENCE_MAX_STEP_SIZE`` per step, batch included), where a step loop's fixed
    cost per step dominates, and the step loop for wide steps, and always on JAX
    running on a CPU, whose compiled step loop is the faster there. The step loop
    is also used when the loop is unrolled (``unroll=True``) and when the input is
    masked.

    The layer also takes care of what ``keras.layers.RNN`` leaves out in Keras 3:
    time-major input, resetting to the cell's own initial state, per-step inputs of
    any rank, and masks. Subclasses implement ``build_cell``.

    Parameters
    ----------
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default). A
        variable may be shared by several layers (e.g. for
        `~keras_spiking.callbacks.DtScheduler`); assigning to it changes every later
        step. The variable is made non-trainable, and may hold any value until the
        layer runs; a value that is not a positive, finite time step (at least
        ``MIN_DT``) then makes the output NaN.
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
        intensive. Unrolling is only suitable for short sequences. Implies
        ``step_loop=True``.
    time_major : bool
        The shape format of the input and output tensors. If True, the inputs and
        outputs will be in shape ``(timesteps, batch, ...)``, whereas in the False
        case, it will be ``(batch, timesteps, ...)``.
    step_loop : bool or None
        If True, always run the cell one step at a time in a ``keras.layers.RNN``
        (the reference definition); if False, compute the whole sequence at once
        wherever that honours the call exactly (not under a mask or with
        ``unroll=True``); if None (default), whichever is faster (see above).
    kwargs : dict
        Passed on to ``keras.layers.Layer``.

    Notes
    -----
    Masks (from ``keras.layers.Masking``, or ``mask=``, of shape ``(batch, time)``,
    or ``(time, batch)`` when ``time_major=True``): a masked step outputs 0 (no
    spikes; a filter outputs 0) and leaves every state unchanged. With
    ``return_sequences=False`` the output is that of the last step, so 0 if the last
    step is masked; the final states (``return_state=True``) are those after the
    last unmasked step.

    Integer and boolean inputs are cast to the layer's compute dtype, like Keras's
    own layers do. Under a mixed-precision policy the inputs and outputs have the
    policy's compute dtype, while the cell computes in float32.
    """

    def __init__(
        self,
        dt=None,
        return_sequences=True,
        return_state=False,
        stateful=False,
        unroll=False,
        time_major=False,
        step_loop=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dt = _check_dt_argument(dt)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.stateful = stateful
        self.unroll = unroll
        self.time_major = time_major
        self.step_loop = step_loop
        self.supports_masking = True
        self.cell = None
        self.layer = None
        self.states = None

    @property
    def dt_value(self):
        """float: The current value of ``dt``, in seconds."""
        return _dt_value(self.dt)

    @property
    def cell_dtype(self):
        """str: The dtype the cell computes in: float64 under a float64 policy,
        else float32 (also under mixed precision)."""
        return "float64" if self.compute_dtype == "float64" else "float32"

    @property
    def weights(self):
        """The weights of the layer.

        A ``dt`` variable (a setting) and the state of a stateful layer are left
        out, so the weights are those of the cell, as in the original library.
        """
        return _without(super().weights, [self.dt, *(self.states or [])])

    def save_own_variables(self, store):
        """The layer's own variables (``dt``, states) are not weights: save
        nothing."""

    def load_own_variables(self, store):
        """See `save_own_variables`: nothing to load."""

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
        if self.cell is not None:
            # Keras may build a layer more than once (e.g. a Sequential model
            # without an Input, on PyTorch); the cell and its weights stay.
            return
        if self.stateful and batch is None:
            raise ValueError(
                f"{type(self).__name__} with stateful=True needs a fixed batch size: "
                f"give the model input one, e.g. `keras.Input(shape, batch_size=32)`."
            )
        self.cell = self.build_cell(size)
        self.cell.build((batch, *size))
        self.layer = keras.layers.RNN(
            self.cell,
            return_sequences=self.return_sequences,
            return_state=True,
            unroll=self.unroll,
            dtype=self.cell_dtype,
        )
        self.layer.build((batch, time, *size))
        if self.stateful:
            self.states = [
                self.add_weight(
                    name=f"state_{i}",
                    shape=(batch, *shape),
                    dtype=self.cell_dtype,
                    initializer=self._initial_state_initializer(i),
                    trainable=False,
                )
                for i, shape in enumerate(self.cell.state_shapes)
            ]
        super().build(input_shapes)

    def _initial_state_initializer(self, i):
        def initializer(shape, dtype=None):
            return self.cell.get_initial_state(batch_size=shape[0], dtype=dtype)[i]

        return initializer

    def compute_output_shape(self, input_shape):
        """The output shape (and state shapes, when ``return_state=True``)."""
        batch, _, _ = self._split_shape(input_shape)
        output = (
            tuple(input_shape) if self.return_sequences else (batch, *self.cell.size)
        )
        if not self.return_state:
            return output
        return [output] + [(batch, *shape) for shape in self.cell.state_shapes]

    def compute_mask(self, inputs, mask=None):
        """The output mask: the input's, for a sequence output; else none."""
        output_mask = mask if self.return_sequences else None
        if not self.return_state:
            return output_mask
        return [output_mask] + [None] * len(self.cell.state_shapes)

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
        return [ops.cast(state, self.cell_dtype) for state in states]

    def call(
        self, inputs, training=None, initial_state=None, constants=None, mask=None
    ):
        """Apply this layer to inputs.

        Parameters
        ----------
        inputs : tensor
            Input of shape ``(batch, time, *size)`` (``(time, batch, *size)`` when
            ``time_major=True``).
        training : bool, optional
            Whether to use the training path (set by Keras: ``fit`` trains).
        initial_state : tensor or list of tensor, optional
            The state to start from, instead of the cell's initial state (or, for a
            stateful layer, the state the previous call ended in).
        constants : None
            Not supported by Keras 3's ``keras.layers.RNN``; must be None.
        mask : tensor, optional
            Boolean mask of shape ``(batch, time)`` (``(time, batch)`` when
            ``time_major=True``): False marks a step to skip (see the class notes).

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
        batch, time, size = self._split_shape(inputs.shape)
        if tuple(size) != self.cell.size:
            raise ValueError(
                f"{type(self).__name__} was built for per-step shape "
                f"{self.cell.size}, but got input of shape {tuple(inputs.shape)}."
            )
        if time == 0 and not self.return_sequences:
            raise ValueError(
                f"{type(self).__name__} got input with 0 time steps, so there is no "
                f"last step to return (return_sequences=False)."
            )
        inputs = ops.cast(inputs, self.cell_dtype)
        if initial_state is not None:
            states = self._check_states(initial_state, batch)
        elif self.stateful:
            states = [ops.convert_to_tensor(state) for state in self.states]
        else:
            batch_axis = 1 if self.time_major else 0
            states = self.cell.get_initial_state(
                batch_size=ops.shape(inputs)[batch_axis]
            )

        if time == 0:
            outputs = inputs
        elif self._use_step_loop(inputs, mask):
            outputs, states = self._call_step_loop(inputs, states, mask, training)
        else:
            outputs, states = self.cell.call_sequence(
                inputs, states, training, self.time_major
            )
            if not self.return_sequences:
                outputs = outputs[-1] if self.time_major else outputs[:, -1]

        if self.stateful:
            for variable, state in zip(self.states, states, strict=True):
                variable.assign(state)
        outputs = ops.cast(outputs, self.compute_dtype)
        return [outputs, *states] if self.return_state else outputs

    def _use_step_loop(self, inputs, mask):
        """Whether to run the step loop rather than the whole-sequence form."""
        if self.unroll or mask is not None or self.step_loop is not None:
            return self.unroll or mask is not None or self.step_loop
        if sequence.time_loop_kernels() is not None:
            return False
        if _compiled_step_loop_is_faster():
            return True
        batch = inputs.shape[1 if self.time_major else 0]
        return (batch or 1) * math.prod(self.cell.size) > SEQUENCE_MAX_STEP_SIZE

    def _call_step_loop(self, inputs, states, mask, training):
        """Run the cell one step at a time; inputs and mask in the layer's layout."""
        if self.time_major:
            inputs = ops.swapaxes(inputs, 0, 1)
            if mask is not None:
                mask = ops.swapaxes(mask, 0, 1)
        outputs, *states = self.layer(
            inputs, initial_state=states, mask=mask, training=training
        )
        if mask is not None:
            # Keras's RNN repeats the previous output on a masked step; we define a
            # masked step to output nothing.
            step_mask = mask if self.return_sequences else mask[:, -1]
            step_mask = ops.reshape(
                ops.cast(step_mask, outputs.dtype),
                (*ops.shape(step_mask), *[1] * len(self.cell.size)),
            )
            outputs = outputs * step_mask
        if self.time_major and self.return_sequences:
            outputs = ops.swapaxes(outputs, 0, 1)
        return outputs, states

    def reset_states(self, states=None):
        """Reset the state of a stateful layer.

        Parameters
        ----------
        states : tensor or list of tensor, optional
            The state to reset to. By default, the cell's initial state (the value
            that ``get_initial_state`` gives, e.g. a seeded random voltage).
        """
        if not self.stateful or self.states is None:
            raise ValueError(
                f"{type(self).__name__}.reset_states needs a built layer made with "
                f"stateful=True."
            )
        batch = self.states[0].shape[0]
        if states is None:
            states = self.cell.get_initial_state(batch_size=batch)
        else:
            states = self._check_states(states, batch)
        for variable, value in zip(self.states, states, strict=True):
            variable.assign(value)

    def reset_state(self, states=None):
        """Alias of `reset_states`, with Keras 3's spelling."""
        self.reset_states(states)

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(
            {
                "dt": _dt_config(self.dt),
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "stateful": self.stateful,
                "unroll": self.unroll,
                "time_major": self.time_major,
                "step_loop": self.step_loop,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """Create a layer from its config (recreating a shared ``dt`` variable)."""
        return cls(**{**config, "dt": _dt_from_config(config.get("dt"))})


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
        super().__init__(
            size=size, dt=dt, always_use_inference=spiking_aware_training, **kwargs
        )
        self.activation = _activation(activation)
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
        return [ops.cast(_seeded_uniform((batch_size, *self.size), seed), dtype)]

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
        dt = self._dt()
        rates = self.activation(inputs)
        voltage = ops.stop_gradient(states[0] + rates * dt)
        n_spikes = ops.floor(voltage)
        voltage = voltage - n_spikes
        return sequence.straight_through(n_spikes / dt, rates), [voltage]

    def call_sequence_training(self, inputs, states, time_major=True):
        """`call_training` of a whole sequence (`KerasSpikingCell.call_sequence`): the
        activation of each step (`keras_spiking.sequence.per_step`)."""
        return sequence.per_step(self.activation, inputs), states

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
            inputs, states[0], self._dt(), self.activation, 0 if time_major else 1
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
            **kwargs,
        )
        self.activation = _activation(activation)
        self.seed = _check_seed(seed)
        self.spiking_aware_training = spiking_aware_training

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


def _serialize_or_none(module, value):
    return None if value is None else module.serialize(value)


def _tau_initializer(tau):
    """Turn a ``tau`` argument into an initializer, checking any values given.

    ``tau`` is a number of seconds, an array of them (one per unit, or anything
    that broadcasts to the per-step shape), or an initializer, whose values are
    checked when the weight is made.
    """
    if isinstance(tau, (bool, np.bool_)):
        raise TypeError(f"`tau` must be a time constant in seconds; got tau={tau!r}.")
    if isinstance(tau, (int, float, np.number, list, tuple, np.ndarray)):
        values = np.asarray(tau, dtype="float64")
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"`tau` must hold positive, finite time constants in seconds; got "
                f"tau={tau!r}."
            )
        value = float(values) if values.ndim == 0 else values.tolist()
        return keras.initializers.Constant(value)
    return keras.initializers.get(tau)


def _tau_values(initializer, size, weight_shape):
    """The initial ``tau`` of one filter, shaped as its weight (or None: unknown).

    A ``Constant`` holding an array is broadcast to the per-step shape ``size``
    (leading axes of length 1 are dropped first, so the weight shape itself works
    too); other initializers are used as they are.
    """
    if not isinstance(initializer, keras.initializers.Constant):
        return None
    values = np.asarray(initializer.value, dtype="float64")
    while values.ndim > len(size) and values.shape[0] == 1:
        values = values[0]
    try:
        values = np.broadcast_to(values, size)
    except ValueError:
        raise ValueError(
            f"`tau` of shape {np.shape(initializer.value)} does not fit the per-step "
            f"shape {size}: give one time constant, or an array of shape {size} (or "
            f"one that broadcasts to it)."
        ) from None
    return values.reshape(weight_shape)


class _FilterCell(KerasSpikingCell):
    """The weights, options and training path shared by the filter cells.

    Subclasses set ``flat_weights``: whether the ``initial_level`` and ``tau``
    weights are flat, of shape ``(prod(size),)`` (`AlphaCell`), or ``(1, *size)``
    (`LowpassCell`), as in the original library, whose weight lists and ``.h5``
    files therefore load.
    """

    flat_weights = False

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

    @property
    def weight_shape(self):
        """tuple of int: The shape of the ``initial_level`` and ``tau`` weights."""
        return (math.prod(self.size),) if self.flat_weights else (1, *self.size)

    def build(self, input_shape):
        """Create the ``initial_level`` and ``tau`` weights, in that order."""
        super().build(input_shape)
        tau_values = _tau_values(self.tau_initializer, self.size, self.weight_shape)
        trainable = self.apply_during_training and self.trainable
        self.initial_level = self.add_weight(
            name="initial_level",
            shape=self.weight_shape,
            initializer=self.level_initializer,
            constraint=self.initial_level_constraint,
            trainable=trainable,
        )
        self.tau = self.add_weight(
            name="tau",
            shape=self.weight_shape,
            initializer=(
                self.tau_initializer
                if tau_values is None
                else keras.initializers.Constant(tau_values)
            ),
            constraint=self.tau_constraint,
            trainable=trainable,
        )
        initial_tau = _known_value(self.tau)
        if initial_tau is not None and not np.all(
            np.isfinite(initial_tau) & (initial_tau > 0)
        ):
            raise ValueError(
                f"The `tau` initializer of {type(self).__name__} gave time constants "
                f"that are not positive and finite (min {np.min(initial_tau)!r}); an "
                f"initializer must give positive time constants in seconds."
            )

    def save_own_variables(self, store):
        """Save ``initial_level`` and ``tau`` by name."""
        store["initial_level"] = self.initial_level
        store["tau"] = self.tau

    def load_own_variables(self, store):
        """Load the weights written by ``save_own_variables``.

        Files written by development versions before 0.1.0 stored ``tau`` then
        ``initial_level`` by position, each of shape ``(1, *size)``; they load too.
        """
        if "tau" in store:
            level, tau = store["initial_level"], store["tau"]
        else:
            tau, level = store["0"], store["1"]
        self.initial_level.assign(np.reshape(level, self.weight_shape))
        self.tau.assign(np.reshape(tau, self.weight_shape))

    def _initial_level(self, inputs, batch_size, dtype):
        batch_size, dtype = self._batch_and_dtype(inputs, batch_size, dtype)
        level = ops.reshape(ops.cast(self.initial_level, dtype), self.size)
        # A sum rather than a broadcast, so the state owns its memory (PyTorch
        # cannot write into a broadcast view).
        return ops.zeros((batch_size, *self.size), dtype=dtype) + level

    def _tau(self):
        """``tau``, in the per-step shape, floored at ``MIN_TAU``."""
        tau = ops.reshape(ops.cast(self.tau, self.compute_dtype), self.size)
        # (not ops.maximum: on PyTorch, Keras 3.15's gives float32 for float64)
        return ops.where(tau > MIN_TAU, tau, MIN_TAU)

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
    ``apply_during_training=True`` (and the cell is trainable). With
    ``apply_during_training=False`` the filter is skipped during training, so they
    are never updated. Both weights have shape ``(1, *size)``.

    Parameters
    ----------
    size : int or tuple of int
        Input/output shape of the layer (not including batch/time dimensions).
    tau : float or array or ``keras.initializers.Initializer``
        Time constant of filter (in seconds): one for all units, one per unit (an
        array of shape ``size``), or an initializer. ``tau_initializer`` is
        accepted as an alias.
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

    def _decay(self):
        """The factor ``exp(-dt / tau)`` by which the state decays in one step."""
        return ops.exp(-self._dt() / self._tau())

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``.

        One step of the zero-order-hold discretisation of ``1 / (tau*s + 1)``.
        """
        decay = self._decay()
        output = (1 - decay) * inputs + decay * states[0]
        return output, [output]

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`)."""
        outputs, state = sequence.lowpass_sequence(
            inputs, states[0], self._decay(), 0 if time_major else 1
        )
        return outputs, [state]


@register
class AlphaCell(_FilterCell):
    """RNN cell for an alpha filter.

    The filter's time constants and initial level are weights, trainable when
    ``apply_during_training=True`` (and the cell is trainable). With
    ``apply_during_training=False`` the filter is skipped during training, so they
    are never updated. Both weights are flat, of shape ``(prod(size),)``.

    The state is two tensors per unit, ``[z, y]``: ``y`` is the filter output and
    ``z`` its scaled derivative (``z = 0`` initially).

    Parameters
    ----------
    size : int or tuple of int
        Input/output shape of the layer (not including batch/time dimensions).
    tau : float or array or ``keras.initializers.Initializer``
        Time constant of filter (in seconds): one for all units, one per unit (an
        array of shape ``size``), or an initializer. ``tau_initializer`` is
        accepted as an alias.
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

    flat_weights = True

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

    def _coefficients(self):
        """The zero-order-hold matrices ``Ad`` (2x2) and ``Bd`` (2), per unit."""
        dt = self._dt()
        tau = self._tau()
        r = dt / tau
        decay = ops.exp(-r)
        ad = ((decay * (1 - r), -decay * r / tau), (decay * dt, decay * (1 + r)))
        bd = (decay * r / tau, 1 - decay * (1 + r))
        return ad, bd

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``.

        One step of the zero-order-hold discretisation of ``1 / (tau*s + 1)**2``.
        """
        ((a11, a12), (a21, a22)), (b1, b2) = self._coefficients()
        z, y = states
        new_z = a11 * z + a12 * y + b1 * inputs
        new_y = a21 * z + a22 * y + b2 * inputs
        return new_y, [new_z, new_y]

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`)."""
        ad, bd = self._coefficients()
        return sequence.alpha_sequence(inputs, states, ad, bd, 0 if time_major else 1)


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
        step_loop=None,
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
            dtype=self.cell_dtype,
            trainable=self.trainable,
        )

    def get_config(self):
        """Return the config of the layer (every constructor argument)."""
        config = super().get_config()
        config.update(_filter_config(self))
        return config


_FILTER_LAYER_PARAMETERS = """
    Parameters
    ----------
    tau : float or array or ``keras.initializers.Initializer``
        Time constant of filter (in seconds): one for all units, one per unit (an
        array of the per-step shape), or an initializer. ``tau_initializer`` is
        accepted as an alias.
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
    step_loop : bool or None
        True runs the cell one step at a time in a ``keras.layers.RNN``, False
        computes the whole sequence at once, None (default) takes whichever is
        faster (see `KerasSpikingLayer`).
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
