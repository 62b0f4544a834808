"""The linear filters: `LowpassCell` and `AlphaCell`, each beside its layer
(`Lowpass`, `Alpha`)."""

import math

import keras
import numpy as np
from keras import ops

from keras_spiking import backends, sequence
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
        initial_tau = backends.known_value(self.tau)
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
        """``tau``, in the per-step shape (floored by the coefficient functions)."""
        return ops.reshape(ops.cast(self.tau, self.compute_dtype), self.size)

    def coefficients(self):
        """The filter's coefficients ``(A, b)`` for one step (see
        `keras_spiking.functional.linear_step`)."""
        raise NotImplementedError("Subclasses must implement `coefficients`.")

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

    def coefficients(self):
        """``(A, b)`` of one step: ``A = ((a,),)``, ``b = (1 - a,)`` with ``a =
        exp(-dt / tau)`` (`keras_spiking.functional.lowpass_coefficients`)."""
        return lowpass_coefficients(self._tau(), self._dt())


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

    def coefficients(self):
        """The zero-order-hold matrices ``(Ad, Bd)`` of one step, per unit
        (`keras_spiking.functional.alpha_coefficients`)."""
        return alpha_coefficients(self._tau(), self._dt())


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
