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
    install_requires=["tensorflow>=2.16", "keras>=3.3", "numpy"],
    extras_require={
        "tests": ["pytest>=7", "scikit-learn", "matplotlib"],
        "examples": ["scikit-learn", "matplotlib"],
        "docs": [
            "sphinx>=7",
            "numpydoc>=1.6",
            "myst-nb>=1.0",
            "furo",
            "ipykernel",
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
