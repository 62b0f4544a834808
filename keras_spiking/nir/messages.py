"""The warnings of `~keras_spiking.nir`, attributed to the code that called it."""

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn(message):
    """Warn with ``message`` (a ``UserWarning``), pointing at the first caller
    outside the ``keras_spiking`` package."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE + os.sep
    ):
        level += 1
        frame = frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)
