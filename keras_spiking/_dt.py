"""The time step ``dt``: its bounds, how a variable is read, and its config form.

One contract, used by the layers, `~keras_spiking.callbacks.DtScheduler` and
`~keras_spiking.ModelEnergy`:

- A time step is a number of seconds from `MIN_DT` to `MAX_DT`, so that both
  ``dt`` and the spike height ``1/dt`` are finite (normal) float32 numbers.
- ``None`` means ``keras_spiking.default.dt`` as it is at that moment.
- A layer's ``dt`` may be a scalar float variable shared with other layers. Its
  value is not checked when the layer is made (a ``DtScheduler`` may set it
  later) but where it is used: in eager code by `check_dt`, and inside compiled
  code by `dt_tensor`, which turns an invalid value into NaN.
- In a config, a float is stored as it is, and a variable as a shared record
  (``_SavedDt``), so layers that shared one variable share one again when they
  are recreated from their configs: by ``.keras`` and legacy ``.h5`` loading,
  ``keras.models.clone_model`` and ``Model.from_config``.
"""

import uuid
import weakref

import keras
import numpy as np
from keras import ops

from keras_spiking import backends
from keras_spiking._saving import register
from keras_spiking.config import default

MIN_DT = float(np.finfo(np.float32).tiny)
"""float: The smallest time step: the smallest normal float32 number."""

MAX_DT = float(np.finfo(np.float32).max)
"""float: The largest time step: the largest float32 number."""

is_variable = backends.is_variable


def check_dt(dt, name="dt"):
    """Return ``dt`` as a float, or raise an error that says what is wrong.

    Parameters
    ----------
    dt : float
        A number of seconds, from `MIN_DT` to `MAX_DT`.
    name : str
        The name of the argument, for the error message.
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


def check_dt_variable(dt):
    """Raise a ``ValueError`` unless the variable ``dt`` holds one floating-point
    number (an integer variable would truncate a time step such as 0.5 to 0)."""
    if tuple(dt.shape) != () or "float" not in str(dt.dtype):
        raise ValueError(
            f"A `dt` variable must hold one floating-point number; got a variable of "
            f"shape {tuple(dt.shape)} and dtype {dt.dtype}. Create it with e.g. "
            f"`keras.Variable(0.001, trainable=False)`."
        )


def dt_argument(dt):
    """Check the ``dt`` argument of a cell or layer; return what to store.

    ``None`` becomes ``keras_spiking.default.dt``; a number is checked with
    `check_dt`; a variable must hold one floating-point number
    (`check_dt_variable`), and is made non-trainable (``dt`` is a setting, never
    something an optimizer changes).
    """
    dt = default.dt if dt is None else dt
    if not is_variable(dt):
        return check_dt(dt)
    check_dt_variable(dt)
    if isinstance(dt, keras.Variable):
        dt.trainable = False
    return dt


def dt_value(dt):
    """The current value of a ``dt`` (a float or a variable), as a float."""
    return float(ops.convert_to_numpy(dt)) if is_variable(dt) else dt


def checked_dt_value(dt, name="dt"):
    """The value of ``dt`` (None for the default, a number, a variable or a scalar
    tensor), checked with `check_dt`."""
    source = "keras_spiking.default.dt" if dt is None else name
    value = default.dt if dt is None else dt
    if is_variable(value) or ops.is_tensor(value):
        array = np.asarray(ops.convert_to_numpy(value))
        if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
            value = array.item()
    return check_dt(value, source)


def dt_tensor(dt, dtype):
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


def dt_config(dt):
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
    # variable for all the layers that shared it. It is random rather than
    # ``id(handle)``, so that configs saved by different processes do not collide
    # (see `dt_from_config`).
    config["shared_object_id"] = handle.key
    return config


# saved key -> (weak reference to the variable recreated for it, names of the
# layers and cells given it)
_recreated = {}


def dt_from_config(dt, owner=None):
    """Undo `dt_config`.

    Layers that shared one ``dt`` variable get one new variable again. ``.keras``
    loading recreates a shared record once; other ways of recreating layers from
    their configs (``keras.models.clone_model``, ``Model.from_config``, legacy
    ``.h5`` loading) recreate it for every layer, so the new variables are
    matched here by the record's key. Those ways recreate each layer of a model
    once, so a name that already has the key's current variable starts a new
    group: recreating the same model twice gives two models, each with its own
    shared variable.

    Parameters
    ----------
    dt : float or dict
        The ``dt`` entry of a config.
    owner : str, optional
        The name of the layer or cell being recreated (without one, the variable
        is a new one, shared with nothing).
    """
    if not isinstance(dt, dict):
        return dt
    variable = keras.saving.deserialize_keras_object(dt).variable
    key = dt.get("shared_object_id")
    if key is None or owner is None:
        return variable
    reference, owners = _recreated.get(key, (None, set()))
    shared = None if reference is None else reference()
    if shared is None or owner in owners:
        _recreated[key] = (weakref.ref(variable), {owner})
        return variable
    owners.add(owner)
    return shared


@register
class _SavedDt:
    """The ``dt`` variable of a layer, as it is saved in a config.

    Keras's ``.keras`` saving gives an object that appears in several configs one
    ``shared_object_id`` and recreates it once on loading; so layers that shared a
    ``dt`` variable when saved share one again when loaded, and a
    `~keras_spiking.callbacks.DtScheduler` can go on training them.

    Parameters
    ----------
    variable : ``keras.Variable``
        The shared ``dt``.
    """

    def __init__(self, variable):
        self.variable = variable
        # the key of this record in configs: random, so unique across processes
        self.key = uuid.uuid4().int >> 68

    def get_config(self):
        """The variable's value."""
        return {"value": float(ops.convert_to_numpy(self.variable))}

    @classmethod
    def from_config(cls, config):
        """A new non-trainable variable holding the saved value."""
        return cls(keras.Variable(config["value"], trainable=False, name="dt"))
