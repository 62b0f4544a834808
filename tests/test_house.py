"""The layout of the package: imports run one way, backend code stays in one place.

Checked on the source (with ``ast``), so every backend runs these checks:

- ``tensorflow``, ``jax`` and ``torch`` are imported only in
  ``keras_spiking/backends/``, and nothing imports ``tensorflow.compiler``;
- there is no import cycle between the package's modules;
- no module imports a private name (``_name``) from another module: a helper that
  two modules need is a public name of a shared module;
- each model's step maths is defined once.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_spiking"
BACKENDS = ("tensorflow", "jax", "torch")


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path):
    """``(module, names, line)`` for every import in a file (function bodies too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [alias.name for alias in node.names]
            found.append((node.module, names, node.lineno))
    return found


def package_imports(name):
    """The package's modules that module ``name`` imports (a package's
    ``__init__`` under the package's name)."""
    result = set()
    for module, names, _ in imports(MODULES[name]):
        if not module.startswith("keras_spiking"):
            continue
        submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        result.update(submodules or [module])
    return {m for m in result if m in MODULES and m != name}


def test_backend_libraries_are_imported_only_in_backends():
    outside = [
        f"{name}:{line} imports {module}"
        for name, path in MODULES.items()
        if not name.startswith("keras_spiking.backends")
        for module, _, line in imports(path)
        if module.split(".")[0] in BACKENDS
    ]
    assert not outside
    private = [
        f"{name}:{line} imports {module}"
        for name, path in MODULES.items()
        for module, _, line in imports(path)
        if module.startswith("tensorflow.compiler")
        or module.startswith("tensorflow.python")
    ]
    assert not private


def test_no_import_cycles():
    graph = {name: package_imports(name) for name in MODULES}
    path, done, cycles = [], set(), []

    def visit(name):
        if name in path:
            cycles.append(path[path.index(name) :] + [name])
        elif name not in done:
            path.append(name)
            for other in sorted(graph[name]):
                visit(other)
            path.pop()
            done.add(name)

    for name in MODULES:
        visit(name)
    assert not cycles


def test_no_private_names_imported_across_modules():
    private = [
        f"{name}:{line} imports {module}.{imported}"
        for name, path in MODULES.items()
        for module, names, line in imports(path)
        if module.startswith("keras_spiking")
        for imported in names
        if imported.startswith("_")
        and not imported.startswith("__")
        and f"{module}.{imported}" not in MODULES  # a (private) shared module
    ]
    assert not private


@pytest.mark.parametrize(
    "function", ["spiking_step", "integrate", "spike_increment", "linear_step"]
)
def test_each_step_is_defined_once(function):
    definitions = [
        name
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == function
    ]
    assert len(definitions) == 1
    assert definitions[0].startswith("keras_spiking.functional.")
