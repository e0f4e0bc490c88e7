"""What ``pip install`` of the package brings: its dependencies and its files.

The README's main command installs the base dependencies only (``pip install -e .``), so every
third-party module that ``sgd_sde`` imports must be one of them, or be an optional one imported only
where it is needed with an error that names the extra to install.
"""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: import name -> distribution name, where the two differ
DISTRIBUTION = {"sklearn": "scikit-learn"}
#: optional imports -> the extra that installs them
OPTIONAL = {"hypothesis": "test", "xarray": "xarray"}


def _requirement_names(requirements) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def _imports(tree: ast.Module):
    """``(top-level module, guarded)`` of every absolute import; ``guarded``: inside a function or a
    ``try`` that catches ``ImportError``, so that the module imports without it."""
    def visit(node, guarded):
        for child in ast.iter_child_nodes(node):
            inner = guarded or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
                isinstance(child, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                    for h in child.handlers))
            if isinstance(child, ast.Import):
                yield from ((a.name.split(".")[0], guarded) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.split(".")[0], guarded
            yield from visit(child, inner)

    yield from visit(tree, False)


def test_every_third_party_import_is_installed_by_the_package():
    base = _requirement_names(PYPROJECT["project"]["dependencies"])
    extras = {k: _requirement_names(v) for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
    problems = []
    for path in sorted((ROOT / "sgd_sde").rglob("*.py")):
        source = path.read_text()
        for module, guarded in _imports(ast.parse(source)):
            if module in sys.stdlib_module_names or module == "sgd_sde":
                continue
            where = path.relative_to(ROOT)
            dist = DISTRIBUTION.get(module, module).lower()
            if dist in base:
                continue
            if module not in OPTIONAL or dist not in extras[OPTIONAL[module]]:
                problems.append(f"{where}: imports {module}, which no dependency installs")
            elif not guarded:
                problems.append(f"{where}: imports the optional {module} when the module is imported")
            elif f"sgd_sde[{OPTIONAL[module]}]" not in source:
                problems.append(f"{where}: without {module}, the error must say pip install 'sgd_sde[{OPTIONAL[module]}]'")
    assert not problems, problems


def test_the_wheel_ships_the_type_marker():
    # PEP 561: type checkers read the annotations of a package that carries py.typed
    assert (ROOT / "sgd_sde" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["sgd_sde"]
