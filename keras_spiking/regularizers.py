"""Regularization methods designed to work with spiking layers.

The usual Keras regularizers pull values towards zero. The regularizers here pull
them towards a ``target`` instead, which is what we want for firing rates: a
neuron that never spikes is as useless as one that is saturated. The target can be
a single value, or a range ``(low, high)`` inside which values go unpenalized.
"""

import warnings

import keras
from keras import ops


def _standardize_target(target):
    """Return ``target`` as a number or a ``(low, high)`` tuple.

    Lists are accepted too, because a tuple comes back from a JSON config as a
    list.
    """
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise ValueError(
                "`target` must be a number or a (low, high) pair; got "
                f"{len(target)} values: {target!r}"
            )
        low, high = target
        if low > high:
            raise ValueError(
                f"The range given as `target` must have low <= high; got {target!r}"
            )
        return (low, high)
    return target


# default penalty of `RangedRegularizer`; each regularizer gets its own copy
_DEFAULT_REGULARIZER = keras.regularizers.L1L2(l2=0.01)


@keras.saving.register_keras_serializable(package="keras_spiking")
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
    regularizer : keras.regularizers.Regularizer
        Penalty applied to the departures of the values from ``target``.
        Defaults to ``keras.regularizers.L1L2(l2=0.01)``.

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

    def __init__(self, target=0, regularizer=_DEFAULT_REGULARIZER):
        super().__init__()
        if regularizer is _DEFAULT_REGULARIZER:
            regularizer = keras.regularizers.L1L2(l2=0.01)
        self.target = _standardize_target(target)
        self.regularizer = keras.regularizers.get(regularizer)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if isinstance(self.target, tuple):
            low, high = self.target
            x = ops.relu(ops.subtract(low, x)) + ops.relu(ops.subtract(x, high))
        else:
            x = ops.subtract(x, self.target)
        return self.regularizer(x)

    def get_config(self):
        return {
            "target": self.target,
            "regularizer": keras.regularizers.serialize(self.regularizer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "regularizer" in config:  # subclasses store their weights instead
            config["regularizer"] = keras.regularizers.deserialize(
                config["regularizer"]
            )
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_spiking")
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
        return {"l1": self.l1, "l2": self.l2, "target": self.target}


@keras.saving.register_keras_serializable(package="keras_spiking")
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
        return {"l1": self.l1, "target": self.target}


@keras.saving.register_keras_serializable(package="keras_spiking")
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
        return {"l2": self.l2, "target": self.target}


@keras.saving.register_keras_serializable(package="keras_spiking")
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
        Percentile to compute over ``axis``, in ``[0, 100]``. Between ranks the
        value is interpolated linearly (as by ``numpy.percentile`` with
        ``method="linear"``). The default, 100, takes the maximum over ``axis``.
    axis : int or tuple of int
        Axis or axes to take the percentile over.
    target : float or tuple of float
        The value the percentiles are driven towards: a single number, or a range
        ``(low, high)`` outside of which percentiles are penalized (percentiles
        inside the range are not).
    l1 : float
        Weight on the L1 regularization penalty applied to the percentiles.
    l2 : float
        Weight on the L2 regularization penalty applied to the percentiles.

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
        # a tuple comes back from a JSON config as a list
        self.axis = tuple(axis) if isinstance(axis, list) else axis

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if self.percentile == 100:
            # exactly the maximum (gradient shared between tied maxima)
            x = ops.max(x, axis=self.axis)
        else:
            x = ops.quantile(x, self.percentile / 100, axis=self.axis, method="linear")
        return super().__call__(x)

    def get_config(self):
        config = super().get_config()
        config.update({"percentile": self.percentile, "axis": self.axis})
        return config
