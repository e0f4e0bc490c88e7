"""Every ```python block of the documentation runs as a user would paste it.

A page's blocks run in order in one fresh namespace, in an empty working folder, so a block may use
what an earlier block of the same page defined, and nothing else. A block that cannot run here — a
signature, a script that a cluster starts once per host, sizes meant for a GPU — is preceded by the
HTML comment ``<!-- not run: why -->`` (mkdocs does not show it), and the reason is required.
The README's example runs in ``tests/test_readme.py``; docstring examples in ``test_doctests.py``.
"""

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^(?:<!-- not run: (?P<why>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```\s*$", re.M | re.S)


def _blocks(page: Path) -> list[tuple[str, str | None]]:
    """``(code, why_not_run)`` for each ```python block of ``page``, in order."""
    return [(m["code"], m["why"]) for m in _BLOCK.finditer(page.read_text())]


PAGES = sorted(p for p in DOCS.rglob("*.md") if "```python" in p.read_text())
RUN = [p for p in PAGES if any(why is None for _, why in _blocks(p))]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_python_block_is_found_and_every_skip_says_why():
    assert PAGES, "no ```python block under docs/"
    for page in PAGES:
        text = page.read_text()
        blocks = _blocks(page)
        # a fence the pattern missed (an unclosed block, or a marker not on the line before it)
        assert len(blocks) == text.count("```python"), _name(page)
        assert text.count("<!-- not run:") == sum(why is not None for _, why in blocks), _name(page)
        for code, why in blocks:
            assert why is None or why.strip(), f"{_name(page)}: a `not run` marker without a reason"


@pytest.fixture
def claims_as_they_were():
    """A page that registers its own claims (howto/own-claim.md) must not leave them to the tests
    that run after it in this process (the docs build checks every source has a page)."""
    from sgd_sde.claims import all_claims, unregister

    before = {c.id for c in all_claims()}
    yield
    for claim in all_claims():
        if claim.id not in before:
            unregister(claim.id)


@pytest.mark.parametrize("page", RUN, ids=_name)
def test_page_examples_run(page, tmp_path, monkeypatch, capsys, claims_as_they_were):
    monkeypatch.chdir(tmp_path)  # examples write runs/ and figures/ where they are started
    namespace = {"__name__": "__docs__"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, (code, why) in enumerate(_blocks(page)):
            if why is None:
                exec(compile(code, f"{_name(page)}, block {i + 1}", "exec"), namespace)
    # an example must not teach a call that the library warns about (float64 input, a deprecated
    # name, …): the warnings that sgd_sde raises are attributed to the caller, the example itself
    ours = [f"{w.category.__name__}: {w.message}" for w in caught
            if w.filename.startswith(_name(page)) or "sgd_sde" in w.filename]
    assert not ours, ours
