"""The documentation site builds with `mkdocs build --strict` (mkdocs-material + mkdocstrings).

The docs tools are in the `test` extra (and the `docs` extra), so the README's test command
installs them; without them the test is skipped, saying why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="install the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("material", reason="mkdocs-material is missing")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is missing")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "claims" / "index.html").read_text()
    assert "run_claims" in api and "Verdict" in api  # mkdocstrings rendered the API


def test_nav_lists_every_page_and_every_source():
    nav = (ROOT / "mkdocs.yml").read_text()
    from sgd_sde.claims import all_claims

    for source in {c.source for c in all_claims()}:
        assert f"papers/{source}.md" in nav
    for page in re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, re.M):
        assert (ROOT / "docs" / page).exists(), page


def _documented_objects() -> set[int]:
    """``id`` of every object the API reference renders: each ``::: target`` of ``docs/api/*.md``,
    and a module target's members (its ``members:`` list, else its ``__all__``)."""
    import importlib

    documented = set()
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        for target, options in re.findall(r"^::: ([\w.]+)\n((?:    .*\n)*)", page.read_text(), re.M):
            try:
                obj = importlib.import_module(target)
            except ModuleNotFoundError:
                parent, _, name = target.rpartition(".")
                documented.add(id(getattr(importlib.import_module(parent), name)))
                continue
            listed = re.search(r"members:\s*\[(.*?)\]", options)
            names = [n.strip() for n in listed[1].split(",")] if listed else obj.__all__
            documented.update(id(getattr(obj, n)) for n in names)
    return documented


def test_api_reference_documents_every_public_function_and_class():
    """Every function and class in the ``__all__`` of a public module (no ``_`` in its dotted name)
    is rendered somewhere in the API reference, under whichever module re-exports it."""
    import importlib
    import inspect
    import pkgutil

    import sgd_sde

    documented = _documented_objects()
    missing = []
    for info in pkgutil.walk_packages(sgd_sde.__path__, prefix="sgd_sde."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and id(obj) not in documented:
                missing.append(f"{info.name}.{name}")
    assert not missing, "not in docs/api/*.md: " + ", ".join(sorted(set(missing)))
