"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

`to_nir` writes a Keras model as a ``nir.NIRGraph``; `from_nir` reads a graph (or
a file) as a Keras model. Both follow one table of `CONVENTIONS`: how a
simulator steps NIR's equations and what its spikes are. The `Exporter` and the
`Importer` hold one rule per layer type and per node type; register rules for
other layers and nodes with `Exporter.register_layer` and
`Importer.register_node`.

This module needs the ``nir`` package: ``pip install keras-spiking[nir]``.
"""

try:
    import nir  # noqa: F401
except ImportError as error:  # pragma: no cover (tested in a subprocess)
    raise ImportError(
        "keras_spiking.nir needs the `nir` package (NIR, the Neuromorphic "
        "Intermediate Representation). Install it with the `nir` extra: "
        "pip install keras-spiking[nir]"
    ) from error

from keras_spiking.nir.conventions import CONVENTIONS, Convention
from keras_spiking.nir.exporter import Exporter, Signal, to_nir
from keras_spiking.nir.importer import Importer, Tensor, from_nir, read_graph
from keras_spiking.nir.layers import Delay

__all__ = [
    "CONVENTIONS",
    "Convention",
    "Delay",
    "Exporter",
    "Importer",
    "Signal",
    "Tensor",
    "from_nir",
    "read_graph",
    "to_nir",
]
