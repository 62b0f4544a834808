"""The linear filters: `LowpassCell` and `AlphaCell`, each beside its layer
(`Lowpass`, `Alpha`)."""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import backends, sequence
from keras_spiking._arguments import check_flag
from keras_spiking._dt import is_variable
from keras_spiking._saving import register
from keras_spiking.functional import (
    alpha_coefficients,
    drive,
    linear_step,
    lowpass_coefficients,
)
from keras_spiking.layers.base import KerasSpikingCell, KerasSpikingLayer, as_shape


def _serialize_or_none(module, value):
    return None if value is None else module.serialize(value)


def _numbers(value, name):
    """``value`` (a number, a nested list, a numpy array or a backend tensor) as a
    float64 array, or None if it is none of those; a clear error for a value of one
    of those kinds that holds no regular array of numbers."""
    if is_variable(value):
        raise TypeError(
            f"`{name}` cannot be a variable: the filter makes its own `{name}` "
            f"weight. Pass the variable's value (e.g. `variable.numpy()`) to start "
            f"from it."
        )
    if ops.is_tensor(value):
        value = ops.convert_to_numpy(value)
    if not isinstance(value, (int, float, np.number, list, tuple, np.ndarray)):
        return None
    try:
        values = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a number or an array of numbers with a regular shape "
            f"(one per unit); got {name}={value!r}, which is not (a ragged list, or "
            f"values that are not numbers)."
        ) from None
    return values


def _initializer(value, name, what):
    """``keras.initializers.get(value)``, with an error that says what ``name``
    accepts."""
    try:
        return keras.initializers.get(value)
    except (TypeError, ValueError):
        hint = (
            f" (pass the number itself, {name}={value.strip()})"
            if isinstance(value, str) and _is_number(value)
            else ""
        )
        raise ValueError(
            f"`{name}` must be {what}, or a Keras initializer (an object, or a name "
            f"such as 'ones'); got {name}={value!r}{hint}."
        ) from None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _tau_initializer(tau):
    """Turn a ``tau`` argument into an initializer, checking any values given.

    ``tau`` is a number of seconds, an array of them (one per unit, or anything
    that broadcasts to the per-step shape; a backend tensor counts as the array it
    holds), or an initializer, whose values are checked when the weight is made.
    """
    if isinstance(tau, (bool, np.bool_)):
        raise TypeError(f"`tau` must be a time constant in seconds; got tau={tau!r}.")
    values = _numbers(tau, "tau")
    if values is None:
        return _initializer(tau, "tau", "a time constant in seconds (or an array)")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(
            f"`tau` must hold positive, finite time constants in seconds; got "
            f"tau={tau!r}."
        )
    return keras.initializers.Constant(
        float(values) if values.ndim == 0 else values.tolist()
    )


def _level_initializer(level):
    """Turn a ``level_initializer`` argument into an initializer: a number or an
    array (one per unit) gives a constant, as for ``tau``."""
    if isinstance(level, (bool, np.bool_)):
        raise TypeError(
            f"`level_initializer` must be an initializer or a number; got "
            f"level_initializer={level!r}."
        )
    values = _numbers(level, "level_initializer")
    if values is None:
        return _initializer(
            level, "level_initializer", "the initial level (a number or an array)"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`level_initializer` must hold finite numbers; got "
            f"level_initializer={level!r}."
        )
    return keras.initializers.Constant(
        float(values) if values.ndim == 0 else values.tolist()
    )


def _unit_values(initializer, size, weight_shape, name):
    """The values of a ``Constant`` initializer for one filter, shaped as its weight
    (None for other initializers, which are given the weight's shape).

    An array is broadcast to the per-step shape ``size`` (leading axes of length 1
    are dropped first, so the weight shape itself works too).
    """
    if not isinstance(initializer, keras.initializers.Constant):
        return None
    try:
        values = np.asarray(initializer.value, dtype="float64")
    except (TypeError, ValueError):
        return None  # a tensor or other value: Keras's Constant handles it
    while values.ndim > len(size) and values.shape[0] == 1:
        values = values[0]
    try:
        values = np.broadcast_to(values, size)
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {np.shape(initializer.value)} does not fit the "
            f"per-step shape {size}: give one value, or an array of shape {size} (or "
            f"one that broadcasts to it)."
        ) from None
    return values.reshape(weight_shape)


def _check_tau_values(values, owner):
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(
            f"The `tau` initializer of {owner} gave time constants that are not "
            f"positive and finite (min {float(np.min(values))!r}); `tau` must be "
            f"positive time constants in seconds."
        )


class _CheckedTau:
    """The ``tau`` initializer of a filter, with its values checked.

    Where the values are known (in eager code, and on TensorFlow also when the
    weight is first made inside a ``tf.function``, which creates variables
    eagerly) an invalid value is an error; where they are not (a first build
    traced by ``jax.jit``), it becomes NaN, so the filter outputs NaN rather than
    a plausible result (see `_FilterCell.coefficients`).
    """

    def __init__(self, initializer, owner):
        self.initializer = initializer
        self.owner = owner

    def __call__(self, shape, dtype=None):
        values = self.initializer(shape, dtype=dtype)
        known = backends.known_value(values)
        if known is not None:
            _check_tau_values(np.asarray(known, dtype="float64"), self.owner)
            return values
        valid = ops.logical_and(ops.isfinite(values), values > 0)
        return ops.where(valid, values, float("nan"))


class _UnitView(keras.constraints.Constraint):
    """A constraint applied to a filter weight seen as ``(1, *size)``.

    `AlphaCell` stores its weights flat; this shows them to a constraint in the
    shape `LowpassCell` stores them in, so that a constraint (e.g.
    `~keras_spiking.constraints.Mean`) acts the same way on both filters.
    """

    def __init__(self, constraint, size):
        self.constraint = constraint
        self.size = tuple(size)

    def __call__(self, w):
        shape = ops.shape(w)
        view = ops.reshape(w, (1, *self.size))
        return ops.reshape(self.constraint(view), shape)


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
        apply_during_training = check_flag(
            apply_during_training, "apply_during_training"
        )
        super().__init__(
            size=size,
            state_size=[as_shape(size)] * n_states,
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
        """Create the ``initial_level`` and ``tau`` weights, in that order.

        Constant values (numbers and arrays) are checked against the per-step shape
        first, and the time constants are checked to be positive however the layer
        is first built (see `_CheckedTau`).
        """
        super().build(input_shape)
        owner = type(self).__name__
        tau_values = _unit_values(
            self.tau_initializer, self.size, self.weight_shape, "tau"
        )
        if tau_values is not None:
            _check_tau_values(tau_values, owner)
        level_values = _unit_values(
            self.level_initializer, self.size, self.weight_shape, "level_initializer"
        )
        trainable = self.apply_during_training and self.trainable
        self.initial_level = self.add_weight(
            name="initial_level",
            shape=self.weight_shape,
            initializer=(
                self.level_initializer
                if level_values is None
                else keras.initializers.Constant(level_values)
            ),
            constraint=self._constraint(self.initial_level_constraint),
            trainable=trainable,
        )
        self.tau = self.add_weight(
            name="tau",
            shape=self.weight_shape,
            initializer=_CheckedTau(
                self.tau_initializer
                if tau_values is None
                else keras.initializers.Constant(tau_values),
                owner,
            ),
            constraint=self._constraint(self.tau_constraint),
            trainable=trainable,
        )

    def _constraint(self, constraint):
        """A weight's constraint, seeing the weight as ``(1, *size)`` on both
        filters (see `_UnitView`)."""
        if constraint is None or not self.flat_weights:
            return constraint
        return _UnitView(constraint, self.size)

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
        """``tau``, in the per-step shape (floored by the coefficient functions)."""
        return ops.reshape(ops.cast(self.tau, self.compute_dtype), self.size)

    def coefficients(self):
        """The filter's coefficients ``(A, b)`` for one step (see
        `keras_spiking.functional.linear_step`).

        ``tau`` is floored at ``MIN_TAU``, as ``max(tau, MIN_TAU)``: a NaN ``tau``
        (an initializer's invalid value, see `_CheckedTau`) gives NaN coefficients.
        """
        tau = self._tau()
        a, b = self.coefficients_of(tau, self._dt())

        def nan_where_tau_is(c):
            return ops.where(ops.isnan(tau), float("nan"), c)

        return (
            tuple(tuple(nan_where_tau_is(c) for c in row) for row in a),
            tuple(nan_where_tau_is(c) for c in b),
        )

    def coefficients_of(self, tau, dt):
        """The coefficients ``(A, b)`` of one step for time constants ``tau`` (in
        the per-step shape) and time step ``dt``."""
        raise NotImplementedError("Subclasses must implement `coefficients_of`.")

    def call_inference(self, inputs, states):
        """Compute layer output when testing or ``always_use_inference=True``: one
        step of the filter (`keras_spiking.functional.linear_step`)."""
        a, b = self.coefficients()
        states = linear_step(a, tuple(states), drive(b, inputs))
        return states[-1], list(states)

    def call_sequence_inference(self, inputs, states, time_major=True):
        """`call_inference` of a whole sequence (`KerasSpikingCell.call_sequence`),
        with `keras_spiking.sequence.linear_sequence`."""
        a, b = self.coefficients()
        return sequence.linear_sequence(
            inputs, tuple(states), a, b, 0 if time_major else 1
        )

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
    obj.apply_during_training = check_flag(
        apply_during_training, "apply_during_training"
    )
    obj.level_initializer = _level_initializer(level_initializer)
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
        array of shape ``size``; a backend tensor counts as the array it holds), or
        an initializer. ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or float or array or ``keras.initializers.Initializer``
        Initializer for filter state: an initializer (or its name), or the
        initial level itself, one for all units or one per unit (as for
        ``tau``).
    tau_constraint : ``keras.constraints.Constraint``
        Constraint applied to ``tau`` after each training update (e.g.
        `~keras_spiking.constraints.Mean` to share one time constant). It sees
        ``tau`` in the shape ``(1, *size)``, on both filters.
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update (it
        sees the same shape).
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

    def coefficients_of(self, tau, dt):
        """``(A, b)`` of one step: ``A = ((a,),)``, ``b = (1 - a,)`` with ``a =
        exp(-dt / tau)`` (`keras_spiking.functional.lowpass_coefficients`)."""
        return lowpass_coefficients(tau, dt)


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
        array of shape ``size``; a backend tensor counts as the array it holds), or
        an initializer. ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or float or array or ``keras.initializers.Initializer``
        Initializer for filter state: an initializer (or its name), or the
        initial level itself, one for all units or one per unit (as for
        ``tau``).
    tau_constraint : ``keras.constraints.Constraint``
        Constraint applied to ``tau`` after each training update. It sees ``tau``
        in the shape ``(1, *size)``, as `LowpassCell` stores it (the weight itself
        is flat).
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update (it
        sees the same shape).
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

    def coefficients_of(self, tau, dt):
        """The zero-order-hold matrices ``(Ad, Bd)`` of one step, per unit
        (`keras_spiking.functional.alpha_coefficients`)."""
        return alpha_coefficients(tau, dt)


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
        array of the per-step shape; a backend tensor counts as the array it
        holds), or an initializer. ``tau_initializer`` is accepted as an alias.
    dt : float or ``keras.Variable``
        Length of time (in seconds) represented by one time step. If None, uses
        ``keras_spiking.default.dt`` (which is 0.001 seconds by default).
    apply_during_training : bool
        If False, this layer will effectively be ignored during training (this
        often makes sense in concert with the swappable training behaviour in, e.g.,
        `SpikingActivation`, since if the activations are not spiking during
        training then we often don't need to filter them either).
    level_initializer : str or float or array or ``keras.initializers.Initializer``
        Initializer for filter state: an initializer (or its name), or the
        initial level itself, one for all units or one per unit (as for
        ``tau``).
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
        `~keras_spiking.constraints.Mean` to share one time constant). It sees
        ``tau`` in the shape ``(1, *size)``, on both filters.
    initial_level_constraint : ``keras.constraints.Constraint``
        Constraint applied to the initial level after each training update (it
        sees the same shape).
    step_loop : bool or None
        True runs the cell one step at a time in a ``keras.layers.RNN``, False
        computes the whole sequence at once, None (default) takes whichever is
        faster (see `KerasSpikingLayer`).
    go_backwards : bool
        If True, filter the input backwards in time and return the output in that
        order (what ``keras.layers.Bidirectional`` sets); needs ``time_major=False``.
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
