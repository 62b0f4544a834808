"""Sphinx configuration for the keras_spiking documentation.

Build the HTML pages (this executes every notebook in ``docs/examples``)::

    sphinx-build -W -n -b html docs docs/_build/html

Run the examples in the docstrings and in the pages::

    sphinx-build -W -n -b doctest docs docs/_build/doctest

Everything here works offline: no intersphinx, no downloads, no pandoc; and so do
the built pages, which bundle MathJax.
"""

import inspect
import json
import logging
import os
import sys
from pathlib import Path

# Quieten TensorFlow's C++ logging, both here (autodoc imports the package) and in
# the notebook kernels, which inherit this environment.  Level 3 also hides the
# "failed call to cuInit" error that TensorFlow logs on a machine without a GPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Document the checkout this file lives in, even if it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras_spiking  # noqa: E402

# -- Project information -----------------------------------------------------

project = "KerasSpiking"
author = "The keras_spiking authors"
copyright = "The keras_spiking authors"  # noqa: A001
release = keras_spiking.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # MathJax ships with the docs (copied into ``_static/mathjax``) instead of
    # coming from a CDN, so the formulas render without a network connection.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    # figures drawn by code in the pages (docs/neurons.rst), when the docs build
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
templates_path = []
# Single backticks are cross-references, as numpydoc docstrings intend them.
default_role = "py:obj"

# Every cross-reference must resolve (``-n``).  Without intersphinx, names from the
# libraries we build on (Keras, TensorFlow, NumPy, the Python standard library)
# cannot resolve, so those, and only those, are exempt.
nitpicky = True
_external = r"(keras|tf|tensorflow|np|numpy)(\..+)?"
nitpick_ignore_regex = [
    (r"py:.*", _external),
    (r"py:.*", r"(int|float|bool|str|dict|list|tuple|callable|None|object)"),
    (r"py:.*", r"(typing|collections\.abc)\..+"),
]

# -- autodoc / autosummary / numpydoc ----------------------------------------

# Which members each class shows is chosen in api-reference.rst (``:members:``):
# all of them for most classes, only those users need for the layers and cells.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
autodoc_preserve_defaults = True
# Document only what this package writes: methods that merely override a Keras
# method (``get_config``, ``on_epoch_begin``, ...) would otherwise show Keras's own
# docstrings, which are written for a different toolchain.
autodoc_inherit_docstrings = False
autosummary_generate = False
autoclass_content = "class"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- doctest -------------------------------------------------------------------

doctest_global_setup = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
import keras_spiking
keras.utils.set_random_seed(0)
"""
doctest_global_cleanup = """
keras_spiking.default.dt = 0.001
keras.backend.clear_session()
"""
doctest_test_doctest_blocks = "default"

# -- plot directive (figures drawn in the pages) ---------------------------------

plot_formats = [("png", 100)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = False

# -- myst-nb (notebooks) -------------------------------------------------------

# Run every notebook on every build, so the examples cannot drift from the code.
nb_execution_mode = "force"
nb_execution_timeout = 300  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Show stderr: the warnings that the pages promise (e.g. ModelEnergy's unknown
# layers) are written there.  TensorFlow's start-up lines are kept out of it by
# ``_quiet_notebook_kernels`` below.
nb_output_stderr = "show"
myst_enable_extensions = ["dollarmath", "amsmath"]

# -- HTML output ---------------------------------------------------------------

html_theme = "furo"
html_title = f"KerasSpiking {release}"
html_static_path = []
html_show_sourcelink = False


def _skip_notebooks_for_doctest(app):
    """Do not execute the notebooks when running the doctests.

    The doctest builder only looks at ``>>>`` examples in the pages and docstrings;
    the notebooks are executed by the HTML build, so running them again here would
    only double the time the docs take.
    """
    if app.builder.name == "doctest":
        app.config.nb_execution_mode = "off"


def _constructor_signature(app, what, name, obj, options, signature, return_ann):
    """Show the real constructor arguments of Keras layers.

    ``keras.layers.Layer`` defines ``__new__(cls, *args, **kwargs)``, which autodoc
    would otherwise show as the signature of every layer and cell.
    """
    if what == "class" and signature == "(*args, **kwargs)":
        init = inspect.signature(obj.__init__)
        params = list(init.parameters.values())[1:]  # drop ``self``
        return str(init.replace(parameters=params)), return_ann
    return None


# The notebook kernels write what reaches their stderr to the page (where
# ``nb_output_stderr`` shows it: the warnings that the pages promise are written
# there) and also to the kernel's own stderr, which is this build's terminal. So the
# kernels run with their own stderr sent to /dev/null, and when TensorFlow is the
# backend it is imported before the kernel starts: it logs a few lines while it
# loads, before any setting can hide them, and that way they reach neither the page
# nor the terminal. (A kernel that dies is still reported by myst-nb.) TensorFlow
# imports matplotlib while it loads, which fixes matplotlib's backend then: the
# kernel chooses the inline backend first (as ipykernel would have done later), so
# that the figures the notebooks draw appear on their pages.
_QUIET_KERNEL = """\
import os
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    import tensorflow
from ipykernel.kernelapp import launch_new_instance
launch_new_instance()
"""


def _quiet_notebook_kernels(app):
    """Run the notebooks in a ``python3`` kernel with a silent stderr.

    The kernel spec is written next to the doctrees and put first on Jupyter's
    search path, so that it takes the place of the usual ``python3`` kernel for
    this build only.
    """
    jupyter_dir = Path(app.doctreedir) / "jupyter"
    spec_dir = jupyter_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-c", _QUIET_KERNEL, "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    search_path = [str(jupyter_dir), os.environ.get("JUPYTER_PATH", "")]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, search_path))


# nbclient logs "Executing notebook with kernel: python3" for every notebook.
logging.getLogger("traitlets").setLevel(logging.WARNING)


def setup(app):
    app.connect("autodoc-process-signature", _constructor_signature)
    # Before myst-nb reads its configuration (also on "builder-inited").
    app.connect("builder-inited", _skip_notebooks_for_doctest, priority=400)
    app.connect("builder-inited", _quiet_notebook_kernels)
