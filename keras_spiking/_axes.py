"""Checking the ``axis`` argument of the constraints and regularizers."""

import numbers


def standardize_axis(axis):
    """Return ``axis`` as an int or a tuple of ints, or raise a clear error.

    Lists are accepted too, because a tuple comes back from a JSON config as a
    list. Whether the axes exist can only be known once the input is seen (see
    `check_axis`).
    """
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if not axes or any(
        isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes
    ):
        raise TypeError(
            "`axis` must be an int or a non-empty tuple of ints, such as `0` or "
            f"`(0, 1)`; got {axis!r}"
        )
    axes = tuple(int(a) for a in axes)
    return axes if isinstance(axis, (tuple, list)) else axes[0]


def check_axis(axis, x):
    """Raise a clear error if ``axis`` does not name distinct axes of ``x``."""
    rank = x.ndim
    if rank is None:  # unknown until run time; let the backend check it then
        return
    axes = axis if isinstance(axis, tuple) else (axis,)
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(
            f"`axis`={axis!r} is out of range for an input of rank {rank} (valid "
            f"axes are {-rank} to {rank - 1}); choose `axis` to fit the input"
        )
    if len({a % rank for a in axes}) < len(axes):
        raise ValueError(
            f"`axis`={axis!r} names the same axis more than once for an input of "
            f"rank {rank}; list each axis once"
        )
