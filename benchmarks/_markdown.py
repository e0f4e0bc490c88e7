"""Put (or replace) a generated section between two markers of a markdown file, atomically."""

from __future__ import annotations

import os
from pathlib import Path


def replace_section(md_path: Path, section: str, begin: str, end: str) -> None:
    """``section`` (which starts with ``begin`` and ends with ``end`` + newline) replaces the text
    between the markers of ``md_path``, or is appended when the file has none."""
    text = md_path.read_text()
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, md_path)


def write_results(json_path: Path, md_path: Path, to_markdown, begin: str, end: str, root: Path) -> None:
    """Regenerate a benchmark's RESULTS.md section from its saved JSON with ``to_markdown(res, rel_path)``."""
    import json

    res = json.loads(Path(json_path).read_text())
    replace_section(Path(md_path), to_markdown(res, os.path.relpath(json_path, root)), begin, end)
