"""Write ``snntorch-digits.nir``, the graph the NIR notebook reads, with snnTorch.

A small snnTorch network (64 -> 48 Leaky -> 10 Leaky) learns scikit-learn's
digits, shown as binary images (pixels above half brightness) for 25 steps; its
weights are then rounded to a grid of 1/256, so that every sum it computes is
exact in float32 and Keras gives the same spikes bit for bit. snnTorch's own
exporter writes the graph; ``snntorch-digits.npz`` keeps snnTorch's spike counts
of the output layer for the held-out images.

Run it in a venv with torch, snnTorch 1.0.0, nir 1.0.8, nirtorch 2.6 and
scikit-learn, from this folder::

    python make_snntorch_digits.py
"""

import contextlib
import io
import pathlib
import warnings

import nir
import numpy as np
import snntorch as snn
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from snntorch.export_nir import export_to_nir

HERE = pathlib.Path(__file__).parent
STEPS = 25
torch.manual_seed(0)

digits = load_digits()
images = (digits.data / 16 > 0.5).astype("float32")
x_train, x_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.25, stratify=digits.target, random_state=0
)


def leaky(n):
    # per-neuron parameters: snnTorch's exporter needs them with nir 1.0.8
    return snn.Leaky(
        beta=torch.full((n,), 0.9),
        threshold=torch.ones(n),
        reset_mechanism="zero",  # what a NIR graph can state
        init_hidden=True,
    )


net = torch.nn.Sequential(
    torch.nn.Linear(64, 48), leaky(48), torch.nn.Linear(48, 10), leaky(10)
)


def reset(module):
    for m in module.modules():
        if isinstance(m, snn.SpikingNeuron):
            m.mem = torch.zeros(0)


def counts(x):
    """Output spike counts over STEPS steps of the same image."""
    reset(net)
    total = 0
    for _ in range(STEPS):
        total = total + net(x)
    return total


optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
inputs, targets = torch.tensor(x_train), torch.tensor(y_train)
for _ in range(40):
    for batch in torch.randperm(len(inputs)).split(64):
        loss = torch.nn.functional.cross_entropy(counts(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

with torch.no_grad():
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            layer.weight.copy_(torch.round(layer.weight * 256) / 256)
            layer.bias.copy_(torch.round(layer.bias * 256) / 256)
    test_counts = counts(torch.tensor(x_test)).numpy()
accuracy = np.mean(test_counts.argmax(axis=1) == y_test)
print(f"snnTorch test accuracy: {accuracy:.1%}")

with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    graph = export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0])
nir.write(HERE / "snntorch-digits.nir", graph, compression=None)
np.savez_compressed(HERE / "snntorch-digits.npz", counts=test_counts.astype("uint8"))
