"""Tests for keras_spiking.config and keras_spiking.version."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_spiking
from keras_spiking.config import DefaultManager


def test_default_dt():
    assert DefaultManager().dt == 0.001
    assert DefaultManager(dt=0.02).dt == 0.02
    assert isinstance(keras_spiking.default, DefaultManager)
    assert keras_spiking.default is keras_spiking.config.default


@pytest.mark.parametrize("dt", [0.002, 0.5])
def test_layers_made_while_a_default_holds_use_it(dt):
    keras_spiking.default.dt = dt
    layer = keras_spiking.SpikingActivation("linear", seed=0)
    keras_spiking.default.dt = 0.001
    # a constant input of 1/dt gives exactly one spike, of height 1/dt, per step
    out = layer(np.full((1, 4, 2), 1 / dt, np.float32))
    np.testing.assert_allclose(out, 1 / dt, rtol=1e-6)
    assert layer.get_config()["dt"] == dt


# ------------------------------------------------------------------ version


def test_version_info():
    version = keras_spiking.version
    assert isinstance(version.version_info, tuple) and len(version.version_info) == 3
    assert all(type(number) is int for number in version.version_info)
    assert version.dev is None or (type(version.dev) is int and version.dev >= 0)

    # the string is made from the numbers, as PEP 440 spells it
    major, minor, patch = version.version_info
    suffix = "" if version.dev is None else f".dev{version.dev}"
    assert version.version == f"{major}.{minor}.{patch}{suffix}"
    assert keras_spiking.__version__ == version.version


def test_version_is_pep440():
    packaging_version = pytest.importorskip("packaging.version")
    parsed = packaging_version.Version(keras_spiking.version.version)
    assert parsed.release == keras_spiking.version.version_info
    assert parsed.dev == keras_spiking.version.dev


def test_setup_reads_the_same_version():
    """``setup.py`` reads the version from version.py without importing the package."""
    setup = Path(keras_spiking.__file__).parents[1] / "setup.py"
    if not setup.exists():
        pytest.skip("not run from a source checkout")
    result = subprocess.run(
        [sys.executable, str(setup), "--version"],
        cwd=setup.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == keras_spiking.__version__
