"""Version information for keras_spiking.

The release number and the development number below are the one source of truth;
``version`` is made from them (``setup.py`` reads it from this file).

Attributes
----------
version_info : tuple of int
    The release number, ``(major, minor, patch)``.
dev : int or None
    The development number for a development version, None for a release.
version : str
    The full version string, such as ``"0.1.0"`` or ``"0.1.0.dev0"``
    (`PEP 440 <https://peps.python.org/pep-0440/>`_).
"""

version_info = (0, 1, 0)
dev = 0

version = ".".join(str(number) for number in version_info) + (
    "" if dev is None else f".dev{dev}"
)
