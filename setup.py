import pathlib

from setuptools import find_packages, setup

root = pathlib.Path(__file__).parent
version = {}
exec((root / "keras_spiking" / "version.py").read_text(), version)

setup(
    name="keras-spiking",
    version=version["version"],
    description="Spiking neuron and filter layers for Keras 3",
    long_description=(root / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["keras_spiking", "keras_spiking.*"]),
    python_requires=">=3.10",
    # Keras runs on the backend named by KERAS_BACKEND (TensorFlow by default);
    # install one with its extra, e.g. ``pip install keras-spiking[jax]``.
    install_requires=["keras>=3.3", "numpy", "rich"],
    extras_require={
        "tensorflow": ["tensorflow>=2.16"],
        "jax": ["jax>=0.4.20"],
        "torch": ["torch>=2.1"],
        # keras_spiking.nir: NIR export and import (nir 1.0.8's format and rules)
        "nir": ["nir==1.0.8"],
        # The LiteRT interpreter, to run models exported with
        # model.export(path, format="litert") (see docs/deploying.rst).
        "litert": ["ai-edge-litert==2.3.0"],
        # No backend here: install the tests extra together with a backend's.
        # ai-edge-litert runs tests/test_litert.py on TensorFlow (it needs no
        # TensorFlow itself; those tests skip on the other backends).
        "tests": [
            "pytest>=7",
            "pytest-xdist>=3",
            "h5py",
            "scikit-learn",
            "nir==1.0.8",
            "ai-edge-litert==2.3.0",
        ],
        "examples": ["scikit-learn", "matplotlib"],
        "docs": [
            "sphinx>=7",
            "numpydoc>=1.6",
            "myst-nb>=1.0",
            "furo",
            "sphinx-mathjax-offline",
            "ipykernel",
            "nir==1.0.8",
            "scikit-learn",
            "matplotlib",
        ],
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
