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
