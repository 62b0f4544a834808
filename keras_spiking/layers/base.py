"""The base classes of the layers: a cell (`KerasSpikingCell`) holds the maths of
one time step, with separate training and inference paths; a layer
(`KerasSpikingLayer`) runs its cell along the time axis of its input."""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import backends, sequence
from keras_spiking._arguments import check_flag, check_states, check_step_loop
from keras_spiking._dt import (
    dt_argument,
    dt_config,
    dt_from_config,
    dt_tensor,
    dt_value,
)
from keras_spiking._saving import register


def as_shape(size, name="size"):
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
        self.size = as_shape(size)
        self.state_size_arg = state_size
        if state_size is None:
            self.state_shapes = [self.size]
        elif isinstance(state_size, list):
            self.state_shapes = [as_shape(s, "state_size") for s in state_size]
        else:
            self.state_shapes = [as_shape(state_size, "state_size")]
        self.dt = dt_argument(dt)
        self.always_use_inference = check_flag(
            always_use_inference, "always_use_inference"
        )

    @property
    def dt_value(self):
        """float: The current value of ``dt``, in seconds."""
        return dt_value(self.dt)

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
        return dt_tensor(self.dt, self.compute_dtype)

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
        states = self._checked_states(states, tuple(inputs.shape)[:1], "call")
        if training and not self.always_use_inference:
            return self.call_training(inputs, states)
        return self.call_inference(inputs, states)

    def _checked_states(self, states, batch, method):
        """``states`` as a list, checked to be one tensor of shape ``(batch,
        *shape)`` for each of the cell's states (a lone tensor is one state)."""
        if not isinstance(states, (list, tuple)):
            states = [states]
        check_states(
            list(states),
            [(*batch, *shape) for shape in self.state_shapes],
            f"{type(self).__name__}.{method}",
        )
        return list(states)

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
        shape = tuple(inputs.shape)
        batch = shape[1:2] if time_major else shape[:1]
        states = self._checked_states(states, batch, "call_sequence")
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
                "dt": dt_config(self.dt),
                "always_use_inference": self.always_use_inference,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """Create a cell from its config (recreating a shared ``dt`` variable)."""
        return cls(
            **{**config, "dt": dt_from_config(config.get("dt"), config.get("name"))}
        )


@register
class KerasSpikingLayer(keras.layers.Layer):
    """Base class for KerasSpiking layers.

    The main role of this class is to run a ``KerasSpikingCell`` along the time
    axis of its input, in one of two ways: the whole sequence at once, with the
    cell's `~KerasSpikingCell.call_sequence`, or one step at a time in a
    ``keras.layers.RNN``. Both give the same outputs (spike for spike; see
    `SpikingActivationCell.call_sequence_inference` for the one caveat). By default
    (``step_loop=None``) the layer takes whichever measured faster (see
    ``benchmarks/README.md``; `keras_spiking.sequence.layer_path` decides): on
    TensorFlow without a GPU, always the whole sequence (an XLA-compiled loop,
    `keras_spiking.backends.tensorflow_loops`); elsewhere the whole sequence at
    once for long sequences of few elements per step (at most
    `~keras_spiking.sequence.SEQUENCE_MAX_STEP_SIZE` per step, batch included),
    where a step loop's fixed
    cost per step dominates, and the step loop for wide steps, and always on JAX
    running on a CPU, whose compiled step loop is the faster there. The step loop
    is also used when the loop is unrolled (``unroll=True``) and when the input is
    masked. An input of one time step (without a mask) runs the cell once, with no
    loop: the path of streaming, one step per call.

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
        reset the state to initial conditions). Needs a fixed batch size, and is
        then called only with batches of that size (another size is an error that
        says how to fix it).
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
    go_backwards : bool
        If True, process the input sequence backwards in time and return the
        output in that (reversed) order, as ``keras.layers.RNN`` does; this is what
        lets ``keras.layers.Bidirectional`` wrap the layer. Needs
        ``time_major=False``.
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
        go_backwards=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dt = dt_argument(dt)
        self.return_sequences = check_flag(return_sequences, "return_sequences")
        self.return_state = check_flag(return_state, "return_state")
        self.stateful = check_flag(stateful, "stateful")
        self.unroll = check_flag(unroll, "unroll")
        self.time_major = check_flag(time_major, "time_major")
        self.step_loop = check_step_loop(step_loop)
        self.go_backwards = check_flag(go_backwards, "go_backwards")
        if self.go_backwards and self.time_major:
            raise ValueError(
                f"{type(self).__name__}: go_backwards=True needs time_major=False "
                f"(keras.layers.Bidirectional, which sets go_backwards, reverses the "
                f"output along axis 1, the time axis of batch-major sequences). For "
                f"time-major input, reverse the time axis (axis 0) yourself."
            )
        self.supports_masking = True
        self.cell = None
        self.layer = None
        self.states = None

    @property
    def dt_value(self):
        """float: The current value of ``dt``, in seconds."""
        return dt_value(self.dt)

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
        # (the cell is kept only once it has built: a build that raised, e.g. on
        # a bad tau, raises again the next time rather than leave half a cell)
        cell = self.build_cell(size)
        cell.build((batch, *size))
        self.cell = cell
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
        if self.stateful:
            inputs, batch = self._stateful_batch(inputs, batch)
        inputs = ops.cast(inputs, self.cell_dtype)
        if self.go_backwards:
            time_axis = 0 if self.time_major else 1
            inputs = ops.flip(inputs, axis=time_axis)
            if mask is not None:
                mask = ops.flip(mask, axis=time_axis)
        if initial_state is not None:
            states = self._check_states(initial_state, batch)
        elif self.stateful:
            states = self._stored_states()
        else:
            batch_axis = 1 if self.time_major else 0
            states = self.cell.get_initial_state(
                batch_size=ops.shape(inputs)[batch_axis]
            )

        if time == 0:
            outputs = inputs
        elif time == 1 and mask is None:
            outputs, states = self._call_one_step(inputs, states, training)
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

    def _stateful_batch(self, inputs, batch):
        """Check the batch of a stateful layer's input against its state's.

        A stateful layer holds one sequence per batch element, so it runs on
        batches of the size it was built for; another size is a clear error. A
        trace may see a batch of unknown size (None): ``model.export`` (LiteRT,
        SavedModel) always traces so, and TensorFlow does after it has seen
        batches of different sizes (e.g. the last, smaller batch of ``predict``).
        The input is then given the state's batch size, with a check at run time
        (a reshape, in LiteRT), so that the state is never broadcast to another
        batch.

        Returns
        -------
        inputs : tensor
            ``inputs``, with the state's batch size.
        batch : int
            That batch size.
        """
        built = self.states[0].shape[0]
        if batch == built:
            return inputs, batch
        message = (
            f"{type(self).__name__} '{self.name}' is stateful and was built for "
            f"batch size {built} (its state holds one sequence per batch element), "
            f"but it was called with a batch of {batch or 'another size'}. Call it "
            f"only with batches of {built} (`predict`, `evaluate` and `fit` with "
            f"batch_size={built}, on a number of samples divisible by {built}), or "
            f"make a model for the new batch size (e.g. with "
            f"`keras.Input(shape, batch_size=...)`) and copy the weights over with "
            f"`set_weights`. `reset_states()` sets the state back to its initial "
            f"value; it does not change the batch size."
        )
        if batch is not None:
            raise ValueError(message)
        axis = 1 if self.time_major else 0
        return backends.with_batch_size(inputs, axis, built, message), built

    def _stored_states(self):
        """The state of a stateful layer, to start this call from: copies, so that
        assigning the new state at the end of the call does not change a tensor
        the call has used (PyTorch's autograd rejects that)."""
        return [ops.copy(state) for state in self.states]

    def _call_one_step(self, inputs, states, training):
        """Run the cell once, on an input of one time step (no loop).

        The same numbers as every other path, for a fraction of the cost of a loop:
        this is the path of streaming, one step per call, e.g. in an exported LiteRT
        model (there about 5x less time per step than a loop of one step, in about
        half the ops; see ``benchmarks/README.md``).
        """
        step = inputs[0] if self.time_major else inputs[:, 0]
        outputs, states = self.cell(step, states, training=training)
        if self.return_sequences:
            outputs = ops.expand_dims(outputs, 0 if self.time_major else 1)
        return outputs, list(states)

    def _use_step_loop(self, inputs, mask):
        """Whether to run the step loop (`keras_spiking.sequence.layer_path`)."""
        batch = inputs.shape[1 if self.time_major else 0]
        return sequence.layer_path(
            self.step_loop,
            None if batch is None else batch * math.prod(self.cell.size),
            unroll=self.unroll,
            masked=mask is not None,
        )

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
                "dt": dt_config(self.dt),
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "stateful": self.stateful,
                "unroll": self.unroll,
                "time_major": self.time_major,
                "step_loop": self.step_loop,
                "go_backwards": self.go_backwards,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """Create a layer from its config (recreating a shared ``dt`` variable)."""
        return cls(
            **{**config, "dt": dt_from_config(config.get("dt"), config.get("name"))}
        )
