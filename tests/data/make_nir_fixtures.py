"""Write the peer-written NIR files that ``test_nir.py`` reads on every backend.

The files are written by snnTorch's and Norse's own exporters (the networks of
``tests/nir_peers.py``), with the spikes the network each graph states gives
(snnTorch: its Leaky with the default subtract reset, whose graph states a reset
to 0 in the step of the spike; Norse: its LIFBoxCell). Run, in a venv with
snnTorch 1.0.0, Norse 1.1.0 and nirtorch 2.6, from the repository root::

    python tests/data/make_nir_fixtures.py
"""

import pathlib
import sys

import nir
import numpy as np

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import nir_peers  # noqa: E402

OUT = HERE / "nir"


def save(name, graph, x, spikes):
    # (without compression: smaller, for arrays this small)
    nir.write(OUT / f"{name}.nir", graph, compression=None)
    np.savez_compressed(
        OUT / f"{name}.npz",
        x=np.packbits(np.asarray(x, bool)),
        x_shape=np.array(x.shape),
        spikes=np.packbits(np.asarray(spikes, bool)),
        spikes_shape=np.array(spikes.shape),
    )


original, meaning, x = nir_peers.snntorch_network("leaky")
graph = nir_peers.snntorch_export(original, x)
save("snntorch_leaky", graph, x, nir_peers.run_snntorch(meaning, x)[-1])

net, x = nir_peers.norse_network("lif_box")
save(
    "norse_lif_box", nir_peers.norse_export(net, x), x, nir_peers.run_norse(net, x)[-1]
)
