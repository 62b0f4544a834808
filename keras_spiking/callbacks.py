"""Callbacks for use with KerasSpiking models."""

import keras
import numpy as np

from keras_spiking._dt import check_dt, check_dt_variable, is_variable


class DtScheduler(keras.callbacks.Callback):
    """A callback that updates the ``dt`` of layers during training.

    It uses the interface of Keras's learning rate schedules, so any of the
    built-in ``keras.optimizers.schedules`` can be used to change ``dt`` over
    the course of training, as can any function of the training step. One
    training step is one minibatch: before each batch, ``dt`` is set to
    ``scheduler(step)``, where ``step = epoch * steps_per_epoch + batch`` counts
    the batches since the start of ``fit``.

    For this to have any effect, ``dt`` must be a variable (e.g.
    ``keras.Variable(1.0, trainable=False)``), and that same variable must be
    passed as the ``dt`` of every layer it should control.

    Parameters
    ----------
    dt : keras.Variable
        Variable holding ``dt`` that has been passed to other layers: one
        floating-point number (a vector or an integer variable is an error). On
        the TensorFlow backend, a ``tf.Variable`` works too.
    scheduler : keras.optimizers.schedules.LearningRateSchedule or callable
        Schedule giving the value of ``dt`` as a function of the training step
        (one training step is one minibatch of training). Each value must be a
        usable time step, from about ``1.2e-38`` to ``3.4e38`` seconds (both ``dt``
        and ``1/dt`` finite float32 numbers, and in the variable's dtype, e.g.
        from about ``1.5e-5`` to ``6.5e4`` in float16); for a value outside that
        range, this callback raises a ``ValueError`` and leaves ``dt`` as it was.
    verbose : bool
        If True, print at the start of each epoch the ``dt`` that the epoch's
        first step uses.

    Notes
    -----
    Because a variable keeps its value, the changes this callback makes to
    ``dt`` persist after training. For example, a ``predict`` after ``fit`` runs
    with the last ``dt`` this callback set.

    If the number of batches in an epoch is not known in advance (e.g. for a
    ``tf.data.Dataset`` of unknown length), the step counts the batches run since
    the start of ``fit`` instead.

    The model must be compiled with ``steps_per_execution=1`` (the default):
    with more, Keras runs several batches per call without calling back between
    them, so they could not each get their own ``dt``; ``fit`` then raises a
    ``ValueError``.

    Examples
    --------
    Here one ``dt`` is shared by a spiking layer and a filter, and it decays
    exponentially during training:

    >>> import numpy as np
    >>> import keras
    >>> import keras_spiking
    >>> dt = keras.Variable(1.0, trainable=False)
    >>> inp = keras.Input((None, 10))
    >>> x = keras_spiking.SpikingActivation("relu", dt=dt)(inp)
    >>> x = keras_spiking.Lowpass(0.1, dt=dt)(x)
    >>> model = keras.Model(inp, x)
    >>> callback = keras_spiking.callbacks.DtScheduler(
    ...     dt,
    ...     keras.optimizers.schedules.ExponentialDecay(
    ...         1.0, decay_steps=5, decay_rate=0.9
    ...     ),
    ... )
    >>> model.compile(loss="mse", optimizer="sgd")
    >>> history = model.fit(
    ...     np.ones((100, 2, 10)),
    ...     np.ones((100, 2, 10)),
    ...     epochs=10,
    ...     batch_size=20,
    ...     callbacks=[callback],
    ...     verbose=0,
    ... )

    There were 5 batches in each of 10 epochs, so the last batch was step 49, and
    ``dt`` keeps the value it had then, ``0.9 ** (49 / 5)``:

    >>> print(f"{float(dt.numpy()):.4f}")
    0.3561
    """

    def __init__(self, dt, scheduler, verbose=False):
        super().__init__()

        if not is_variable(dt):
            raise TypeError(
                "`dt` must be a variable, so that the layers using it see the "
                "values this callback assigns; got an object of type "
                f"{type(dt).__name__}. Create one with e.g. "
                "`dt = keras.Variable(0.001, trainable=False)` and pass that same "
                "variable as `dt` to the layers and to DtScheduler."
            )

        if not callable(scheduler):
            raise TypeError(
                "`scheduler` must be a `keras.optimizers.schedules."
                "LearningRateSchedule` or a function of the training step that "
                f"returns `dt`; got {scheduler!r}. For a constant `dt`, assign it to "
                "the variable instead of using DtScheduler."
            )
        check_dt_variable(dt)

        self.dt = dt
        self.scheduler = scheduler
        self.verbose = verbose
        self.epoch = 0
        self._epoch_offset = 0
        self._batches_in_epoch = 0

    def on_train_begin(self, logs=None):
        steps = getattr(self.model, "steps_per_execution", 1)
        if steps != 1:
            raise ValueError(
                f"DtScheduler sets `dt` before each training batch, but the model "
                f"was compiled with steps_per_execution={steps!r}: Keras then runs "
                f"{steps} batches per call, without calling back between them, so "
                f"all but the first would run with the previous batch's `dt`. "
                f"Compile the model with steps_per_execution=1 to train with "
                f"DtScheduler."
            )
        self.epoch = 0
        self._epoch_offset = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._batches_in_epoch = 0
        # the epoch's first step is scheduled here, so that it can be reported
        # before it runs
        value = self._value(self._step(0))
        if self.verbose:
            print(f"DtScheduler: epoch {epoch + 1} starts with dt = {value:.6g}")
        self._assign(value)

    def on_epoch_end(self, epoch, logs=None):
        # only used when the number of steps per epoch is not known in advance
        self._epoch_offset += self._batches_in_epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch > 0:  # batch 0 was scheduled by ``on_epoch_begin``
            self._assign(self._value(self._step(batch)))

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the index of the last step run (several, with
        # ``steps_per_execution > 1``)
        self._batches_in_epoch = batch + 1

    def _step(self, batch):
        """The training step of ``batch`` in the current epoch."""
        steps = None if self.params is None else self.params.get("steps")
        if steps is None:
            # the data has no known length: count the batches seen in earlier
            # epochs instead (the same thing, when every epoch is equally long)
            return self._epoch_offset + batch
        return self.epoch * steps + batch

    def _value(self, step):
        """``scheduler(step)`` as a float, checked to be a usable ``dt``."""
        value = self.scheduler(step)
        if keras.ops.is_tensor(value):
            value = keras.ops.convert_to_numpy(value)
        value = np.asarray(value)
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            raise TypeError(
                f"DtScheduler: `scheduler({step})` must return one number, the `dt` "
                f"for step {step}; got {value!r}"
            )
        try:
            checked = check_dt(value.item())
        except ValueError as error:
            raise ValueError(
                f"DtScheduler: `scheduler({step})` gave `dt` = {value.item()!r} for "
                f"step {step}, which is not a usable time step. {error} `dt` was "
                "left at its previous value; change the schedule to stay in that "
                "range."
            ) from None
        # the variable's own dtype (e.g. float16) may hold a smaller range
        dtype = keras.backend.standardize_dtype(self.dt.dtype)
        with np.errstate(over="ignore", divide="ignore"):
            stored = np.asarray(checked, dtype=dtype)
            usable = np.isfinite(stored) and stored > 0 and np.isfinite(1 / stored)
        if not usable:
            raise ValueError(
                f"DtScheduler: `scheduler({step})` gave `dt` = {checked!r} for step "
                f"{step}, which the {dtype} variable `dt` stores as {stored.item()!r}, "
                f"not a usable time step. `dt` was left at its previous value; use a "
                f"float32 variable (`keras.Variable(0.001, dtype='float32', "
                f"trainable=False)`) or keep the schedule in {dtype}'s range."
            )
        return checked

    def _assign(self, value):
        # On JAX, the compiled train step only picks up a new variable value if
        # the model state was synced by a callback; accessing ``self.model``
        # does that (and does nothing on the other backends).
        _ = self.model
        self.dt.assign(value)
