"""Regularization methods designed to work with spiking layers.

The usual Keras regularizers pull values towards zero. The regularizers here pull
them towards a ``target`` instead, which is what we want for firing rates: a
neuron that never spikes is as useless as one that is saturated. The target can be
a single value, or a range ``(low, high)`` inside which values go unpenalized.

Every regularizer here computes its penalty in float32 (float64 for float64 values)
and returns it as a float32 scalar, whatever the dtype policy, so that it adds to
the float32 loss under ``mixed_float16``, ``mixed_bfloat16`` and ``float64``
policies alike.
"""

import math
import numbers
import warnings

import keras
import numpy as np
from keras import ops

from keras_spiking._axes import check_axis, standardize_axis
from keras_spiking._saving import register


def _as_numpy(value):
    """``value`` as a numpy array if it is a tensor or a numpy value, else as is."""
    if keras.ops.is_tensor(value):
        return keras.ops.convert_to_numpy(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return value


def _number(value, name):
    """Return ``value`` as a Python number, or raise a clear ``TypeError``."""
    value = _as_numpy(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number; got {value!r}")
    return value


def _standardize_target(target):
    """Return ``target`` as a number or a ``(low, high)`` tuple of numbers.

    Any sequence or 1-D array of two numbers (a list, a tuple, a numpy array, a
    tensor) is a range; lists are accepted too because a tuple comes back from a
    JSON config as a list.
    """
    target = _as_numpy(target)
    if isinstance(target, np.ndarray):
        if target.ndim > 1:
            raise ValueError(
                "`target` must be a number or a (low, high) pair; got an array of "
                f"shape {target.shape}"
            )
        target = target.tolist()
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise ValueError(
                "`target` must be a number or a (low, high) pair; got "
                f"{len(target)} values: {target!r}"
            )
        low, high = (_number(value, "target") for value in target)
        if math.isnan(low) or math.isnan(high) or low > high:
            raise ValueError(
                "The range given as `target` must have low <= high (and no NaN); "
                f"got {target!r}"
            )
        return (low, high)
    target = _number(target, "target")
    if math.isnan(target):
        raise ValueError("`target` must not be NaN")
    return target


def _at_least_float32(x):
    """``x`` as a tensor of float32, or of float64 if it is float64.

    Narrower floats (float16, bfloat16) could overflow in a sum of squares, and
    the penalty is added to a float32 loss.
    """
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        return x
    return ops.cast(x, "float32")


@register
class RangedRegularizer(keras.regularizers.Regularizer):
    """A regularizer that penalizes values that fall outside a range.

    Values may settle anywhere inside the range without penalty, unlike a standard
    regularizer which penalizes any departure from one fixed point.

    Parameters
    ----------
    target : float or tuple of float
        The value the regularized values are driven towards. A single number
        drives every value towards that number (the penalty is
        ``regularizer(x - target)``). A tuple ``(low, high)`` drives values that
        lie outside the range back to its nearest edge, and leaves values inside
        the range alone (the penalty is
        ``regularizer(relu(low - x) + relu(x - high))``).
    regularizer : keras.regularizers.Regularizer or None
        Penalty applied to the departures of the values from ``target`` (anything
        ``keras.regularizers.get`` accepts). None, the default, means
        ``keras.regularizers.L1L2(l2=0.01)``.

    Notes
    -----
    With ``spiking_aware_training=True`` (the default), an activity regularizer
    on a `.SpikingActivation` sees single spikes, of height ``1/dt``, rather than
    rates, so its penalty grows as ``dt`` shrinks (for example while a
    `.DtScheduler` anneals ``dt``). To regularize rates, put the regularizer on a
    path that carries rates (a layer with ``spiking_aware_training=False``) or on
    a filtered output (such as a `.Lowpass` after the spikes); or else choose
    ``target`` for spike heights at the ``dt`` you train with.

    The penalty is computed in float32 (float64 for float64 values) and returned
    as float32 under every dtype policy.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_spiking
    >>> reg = keras_spiking.regularizers.RangedRegularizer(target=(1, 2))
    >>> x = np.array([0.0, 1.0, 1.5, 2.0, 4.0], dtype="float32")
    >>> # only 0 and 4 lie outside [1, 2], by 1 and 2: 0.01 * (1 + 4)
    >>> print(f"{float(reg(x)):.4f}")
    0.0500
    """

    def __init__(self, target=0, regularizer=None):
        super().__init__()
        self.target = _standardize_target(target)
        self.regularizer = (
            keras.regularizers.L1L2(l2=0.01)
            if regularizer is None
            else keras.regularizers.get(regularizer)
        )

    def __call__(self, x):
        """Return the penalty on ``x``, a float32 scalar."""
        x = _at_least_float32(x)
        # the target in the dtype of ``x`` (a bare float may become float32 first)
        if isinstance(self.target, tuple):
            low, high = (ops.convert_to_tensor(t, dtype=x.dtype) for t in self.target)
            x = ops.relu(ops.subtract(low, x)) + ops.relu(ops.subtract(x, high))
        else:
            x = ops.subtract(x, ops.convert_to_tensor(self.target, dtype=x.dtype))
        return ops.cast(self.regularizer(x), "float32")

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {
            "target": self.target,
            "regularizer": keras.regularizers.serialize(self.regularizer),
        }

    @classmethod
    def from_config(cls, config):
        """Make a regularizer from the output of ``get_config``."""
        config = dict(config)
        if "regularizer" in config:  # subclasses store their weights instead
            config["regularizer"] = keras.regularizers.deserialize(
                config["regularizer"]
            )
        return cls(**config)


@register
class L1L2(RangedRegularizer):
    """A version of ``keras.regularizers.L1L2`` with a target other than zero.

    The penalty is ``l1 * sum(|d|) + l2 * sum(d ** 2)``, where ``d`` is the
    departure of the values from ``target`` (see `.RangedRegularizer`).

    Parameters
    ----------
    l1 : float
        Weight on the L1 regularization penalty.
    l2 : float
        Weight on the L2 regularization penalty.
    target : float or tuple of float
        The value the regularized values are driven towards: a single number, or a
        range ``(low, high)`` outside of which values are penalized (values inside
        the range are not).
    kwargs : dict
        Passed on to ``keras.regularizers.L1L2``.

    Notes
    -----
    With ``spiking_aware_training=True``, an activity regularizer on a
    `.SpikingActivation` sees spikes of height ``1/dt``, so its penalty grows as
    ``dt`` shrinks; see `.RangedRegularizer` for how to regularize rates instead.
    """

    def __init__(self, l1=0.0, l2=0.0, target=0, **kwargs):
        super().__init__(
            target=target, regularizer=keras.regularizers.L1L2(l1=l1, l2=l2, **kwargs)
        )

    @property
    def l1(self):
        """Weight on the L1 regularization penalty (float)."""
        return self.regularizer.l1

    @property
    def l2(self):
        """Weight on the L2 regularization penalty (float)."""
        return self.regularizer.l2

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"l1": self.l1, "l2": self.l2, "target": self.target}


@register
class L1(RangedRegularizer):
    """A version of ``keras.regularizers.L1`` with a target other than zero.

    The penalty is ``l1 * sum(|d|)``, where ``d`` is the departure of the values
    from ``target`` (see `.RangedRegularizer`).

    Parameters
    ----------
    l1 : float
        Weight on the L1 regularization penalty.
    target : float or tuple of float
        The value the regularized values are driven towards: a single number, or a
        range ``(low, high)`` outside of which values are penalized (values inside
        the range are not).
    kwargs : dict
        Passed on to ``keras.regularizers.L1``.

    Notes
    -----
    With ``spiking_aware_training=True``, an activity regularizer on a
    `.SpikingActivation` sees spikes of height ``1/dt``, so its penalty grows as
    ``dt`` shrinks; see `.RangedRegularizer` for how to regularize rates instead.
    """

    def __init__(self, l1=0.01, target=0, **kwargs):
        super().__init__(
            target=target, regularizer=keras.regularizers.L1(l1=l1, **kwargs)
        )
        # Keras keeps ``l1`` as a float32 tensor; keep the float as given, for
        # ``get_config``
        self._l1 = 0.01 if l1 is None else float(l1)

    @property
    def l1(self):
        """Weight on the L1 regularization penalty (float)."""
        return self._l1

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"l1": self.l1, "target": self.target}


@register
class L2(RangedRegularizer):
    """A version of ``keras.regularizers.L2`` with a target other than zero.

    The penalty is ``l2 * sum(d ** 2)``, where ``d`` is the departure of the
    values from ``target`` (see `.RangedRegularizer`).

    Parameters
    ----------
    l2 : float
        Weight on the L2 regularization penalty.
    target : float or tuple of float
        The value the regularized values are driven towards: a single number, or a
        range ``(low, high)`` outside of which values are penalized (values inside
        the range are not).
    kwargs : dict
        Passed on to ``keras.regularizers.L2``.

    Notes
    -----
    With ``spiking_aware_training=True``, an activity regularizer on a
    `.SpikingActivation` sees spikes of height ``1/dt``, so its penalty grows as
    ``dt`` shrinks; see `.RangedRegularizer` for how to regularize rates instead.
    """

    def __init__(self, l2=0.01, target=0, **kwargs):
        super().__init__(
            target=target, regularizer=keras.regularizers.L2(l2=l2, **kwargs)
        )

    @property
    def l2(self):
        """Weight on the L2 regularization penalty (float)."""
        return self.regularizer.l2

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        return {"l2": self.l2, "target": self.target}


@register
class Percentile(L1L2):
    """A regularizer that penalizes a percentile of a tensor.

    It takes the ``percentile`` of the values over ``axis`` and applies an
    `.L1L2` penalty, measured from ``target``, to those percentiles only. The
    penalty then depends on how the bulk (or the top, for ``percentile=100``) of
    the values is placed, and individual outliers matter much less than they
    would to a penalty on every value.

    Parameters
    ----------
    percentile : float
        Percentile to compute over ``axis``, a number in ``[0, 100]``. Between
        ranks the value is interpolated linearly (as by ``numpy.percentile`` with
        ``method="linear"``). The default, 100, takes the maximum over ``axis``.
    axis : int or tuple of int
        Axis or axes to take the percentile over. They must exist in the values
        the regularizer is applied to (a ``ValueError`` says so when it is first
        applied).
    target : float or tuple of float
        The value the percentiles are driven towards: a single number, or a range
        ``(low, high)`` outside of which percentiles are penalized (percentiles
        inside the range are not).
    l1 : float
        Weight on the L1 regularization penalty applied to the percentiles.
    l2 : float
        Weight on the L2 regularization penalty applied to the percentiles.

    Notes
    -----
    With ``spiking_aware_training=True``, an activity regularizer on a
    `.SpikingActivation` sees spikes of height ``1/dt``, so its penalty grows as
    ``dt`` shrinks; see `.RangedRegularizer` for how to regularize rates instead.
    The example below trains with ``dt=1``, so spikes and rates have the same
    units there.

    Examples
    --------
    Here ``Percentile`` keeps the firing rates of a spiking layer in a useful
    range while a small network learns to multiply its two inputs. Taken over the
    batch axis, the 100th percentile is the highest rate each neuron reaches over
    a batch of inputs; the regularizer asks for that peak rate to lie between 5 and
    10 Hz, whatever the neuron does for the other inputs.

    >>> import numpy as np
    >>> import keras
    >>> import keras_spiking
    >>> keras.utils.set_random_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> train_x = rng.uniform(-1, 1, size=(1024 * 16, 2))
    >>> train_y = train_x[:, :1] * train_x[:, 1:]
    >>> test_x = rng.uniform(-1, 1, size=(128, 2))
    >>> test_y = test_x[:, :1] * test_x[:, 1:]

    To train quickly we present each training input for a single time step. To
    test we present each input for 10 time steps, so that the firing rates can be
    estimated from the spike counts.

    >>> train_seq = train_x[:, None]
    >>> n_steps = 10
    >>> test_seq = np.tile(test_x[:, None], (1, n_steps, 1))

    With ``dt=1`` each time step lasts one second, so a rate of 5 Hz is 5 spikes
    per step. The ``"he_uniform"`` initialization starts the neurons at rates a
    little closer to the target, so fewer training steps are needed.

    >>> inp = keras.Input((None, 2))
    >>> x = keras.layers.TimeDistributed(
    ...     keras.layers.Dense(50, kernel_initializer="he_uniform")
    ... )(inp)
    >>> spikes = keras_spiking.SpikingActivation(
    ...     "relu",
    ...     dt=1,
    ...     activity_regularizer=keras_spiking.regularizers.Percentile(
    ...         target=(5, 10), l2=0.01
    ...     ),
    ... )(x)
    >>> x = keras.layers.GlobalAveragePooling1D()(spikes)
    >>> out = keras.layers.Dense(1)(x)

    The model is trained on the product alone; the regularizer adds its penalty
    on the rates to the loss by itself.

    >>> model = keras.Model(inp, out)
    >>> model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    >>> history = model.fit(train_seq, train_y, epochs=5, verbose=0)

    To look at the spikes as well, we make a model with both outputs from the same
    (now trained) layers.

    >>> outputs, spikes = keras.Model(inp, [out, spikes]).predict(
    ...     test_seq, verbose=0
    ... )

    Averaging the spikes over time estimates the rates. The peak rate of each
    neuron over the test inputs should be in (or close to) the 5 to 10 Hz range,
    and the product should be computed with a small error.

    >>> rates = spikes.mean(axis=1)
    >>> max_rates = rates.max(axis=0)
    >>> print(f"Max rates: {max_rates.mean():.1f} +/- {max_rates.std():.1f} Hz")
    ... # doctest: +ELLIPSIS
    Max rates: ... Hz
    >>> error = np.mean(np.abs(outputs - test_y))
    >>> print(f"MAE: {error:.3f}")  # doctest: +ELLIPSIS
    MAE: 0.0...
    """

    def __init__(self, percentile=100, axis=0, target=0, l1=0, l2=0):
        super().__init__(l1=l1, l2=l2, target=target)

        percentile = _number(percentile, "percentile")
        if not 0 <= percentile <= 100:
            raise ValueError(
                f"`percentile` must be in the range [0, 100]; got {percentile!r}"
            )
        if l1 == 0 and l2 == 0:
            warnings.warn(
                "Percentile regularizer with `l1=0` and `l2=0` has no effect; set "
                "`l1` and/or `l2` to a positive weight",
                UserWarning,
                stacklevel=2,
            )

        self.percentile = percentile
        self.axis = standardize_axis(axis)

    def __call__(self, x):
        """Return the penalty on the percentiles of ``x``, a float32 scalar."""
        x = _at_least_float32(x)
        check_axis(self.axis, x)
        if self.percentile == 100:
            # exactly the maximum (gradient shared between tied maxima)
            x = ops.max(x, axis=self.axis)
        else:
            q = ops.convert_to_tensor(self.percentile / 100, dtype=x.dtype)
            x = ops.quantile(x, q, axis=self.axis, method="linear")
        return super().__call__(x)

    def get_config(self):
        """Return the constructor arguments, for ``from_config``."""
        config = super().get_config()
        config.update({"percentile": self.percentile, "axis": self.axis})
        return config
