"""Checks of arguments whose wrong values would otherwise be taken as something
else: flags, the time axis, and the states of a cell or a whole-sequence function.

A flag given as ``"False"`` is truthy, a state left over is ignored: Python does
not object, so each check here turns such a value into an error that names the
argument and says what it accepts.
"""

import numpy as np


def check_flag(value, name):
    """Return ``value`` as a bool, or raise a ``TypeError`` naming ``name``.

    Only ``True`` and ``False`` (also numpy bools) are accepted: a string such as
    ``"False"`` is truthy, and an int hides a misplaced positional argument.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`{name}` must be True or False; got {name}={value!r} of type "
            f"{type(value).__name__}."
        )
    return bool(value)


def check_step_loop(value):
    """Return the ``step_loop`` option (True, False or None), or raise."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`step_loop` must be True (the step loop), False (the whole sequence "
            f"at once) or None (whichever is faster); got step_loop={value!r}."
        )
    return bool(value)


def check_time_axis(time_axis):
    """Return ``time_axis`` as an int if it is 0 or 1, or raise."""
    if isinstance(time_axis, (bool, np.bool_)) or not isinstance(
        time_axis, (int, np.integer)
    ):
        raise TypeError(
            f"`time_axis` must be 0 (inputs of shape (time, batch, ...)) or 1 "
            f"((batch, time, ...)); got time_axis={time_axis!r}."
        )
    if time_axis not in (0, 1):
        raise ValueError(
            f"`time_axis` must be 0 (inputs of shape (time, batch, ...)) or 1 "
            f"((batch, time, ...)); got time_axis={time_axis}."
        )
    return int(time_axis)


def step_shape(inputs, time_axis, function):
    """The shape of one step, ``(batch, *size)``, of a sequence (None: unknown)."""
    shape = tuple(inputs.shape)
    if len(shape) < 2:
        raise ValueError(
            f"`{function}` needs `inputs` with a time axis and a batch axis, of shape "
            f"(time, batch, ...) (or (batch, time, ...) with time_axis=1); got shape "
            f"{shape}."
        )
    return shape[1:] if time_axis == 0 else shape[:1] + shape[2:]


def _fits(actual, expected):
    return len(actual) == len(expected) and all(
        a is None or e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def _broadcasts(actual, expected):
    if len(actual) > len(expected):
        return False
    return all(
        a is None or e is None or a in (1, e)
        for a, e in zip(actual[::-1], expected[::-1], strict=False)
    )


def check_states(states, expected_shapes, function, what="state"):
    """Check the number and shapes of ``states`` against ``expected_shapes``.

    Shapes may hold None for a size not known yet (it then fits any size).
    """
    if len(states) != len(expected_shapes):
        raise ValueError(
            f"`{function}` takes {len(expected_shapes)} {what} tensor(s), of shape(s) "
            f"{[tuple(s) for s in expected_shapes]}; got {len(states)}."
        )
    for i, (state, shape) in enumerate(zip(states, expected_shapes, strict=True)):
        actual = tuple(np.shape(state) if not hasattr(state, "shape") else state.shape)
        if not _fits(actual, tuple(shape)):
            raise ValueError(
                f"{what.capitalize()} {i} of `{function}` must have shape "
                f"{tuple(shape)} (batch, *size), the shape of one step of the input; "
                f"got shape {actual}."
            )


def check_coefficients(matrix, vector, n_states, step, function):
    """Check that ``matrix`` is ``n x n`` and ``vector`` has ``n`` entries, each
    broadcastable to the step shape ``step``."""
    rows = matrix if isinstance(matrix, (list, tuple)) else None
    if (
        rows is None
        or len(rows) != n_states
        or any(
            not isinstance(row, (list, tuple)) or len(row) != n_states for row in rows
        )
    ):
        raise ValueError(
            f"`{function}` has {n_states} state(s), so it needs a {n_states} x "
            f"{n_states} matrix of coefficients (a tuple of {n_states} tuples of "
            f"{n_states}), one row per state; got {matrix!r}."
        )
    if not isinstance(vector, (list, tuple)) or len(vector) != n_states:
        raise ValueError(
            f"`{function}` has {n_states} state(s), so it needs {n_states} input "
            f"coefficient(s) (a tuple), one per state; got {vector!r}."
        )
    for value in [c for row in rows for c in row] + list(vector):
        shape = tuple(getattr(value, "shape", np.shape(value)))
        if not _broadcasts(shape, tuple(step)):
            raise ValueError(
                f"A coefficient of `{function}` has shape {shape}, which does not "
                f"broadcast to the shape of one step, {tuple(step)} (batch, *size): "
                f"give a scalar, one value per unit (shape size) or per element."
            )


def check_sequence(function, inputs, states, time_axis, n_states=None):
    """Check the arguments of a whole-sequence function of `keras_spiking.sequence`:
    ``time_axis`` is 0 or 1, there are ``n_states`` states (if given) and each has
    the shape of one step of ``inputs``. Returns that step shape."""
    check_time_axis(time_axis)
    if not hasattr(inputs, "shape"):
        inputs = np.asarray(inputs)
    step = step_shape(inputs, time_axis, function)
    if not isinstance(states, (list, tuple)):
        raise TypeError(
            f"`{function}` takes its states as a list or tuple of tensors; got "
            f"{type(states).__name__}."
        )
    n_states = len(states) if n_states is None else n_states
    check_states(list(states), [step] * n_states, function)
    return step


def check_scalar(value, name, function):
    """Check that ``value`` (e.g. ``dt``) is a single number."""
    shape = tuple(getattr(value, "shape", np.shape(value)))
    if shape != ():
        raise ValueError(
            f"`{name}` of `{function}` must be a scalar; got shape {shape}."
        )
