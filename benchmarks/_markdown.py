"""Put (or replace) a generated section between two markers of a markdown file, atomically."""

from __future__ import annotations

import os
from pathlib import Path

from sgd_sde.io import atomic_write_bytes, replace_between_markers


def replace_section(md_path: Path, section: str, begin: str, end: str) -> None:
    """``section`` (which starts with ``begin`` and ends with ``end`` + newline) replaces the text
    between the markers of ``md_path`` (:func:`sgd_sde.io.replace_between_markers`), or is appended
    when the file has neither marker."""
    if not (section.startswith(begin) and section.endswith(end + "\n")):
        raise ValueError(f"section must start with {begin!r} and end with {end!r} and a newline")
    text = Path(md_path).read_text(encoding="utf-8")
    if begin in text or end in text:  # a missing or duplicated marker is refused, naming the file
        replace_between_markers(md_path, (begin, end), section[len(begin):-len(end) - 1])
    else:
        atomic_write_bytes(md_path, (text.rstrip("\n") + "\n\n" + section).encode("utf-8"))


def write_results(json_path: Path, md_path: Path, to_markdown, begin: str, end: str, root: Path) -> None:
    """Regenerate a benchmark's RESULTS.md section from its saved JSON with ``to_markdown(res, rel_path)``."""
    import json

    res = json.loads(Path(json_path).read_text())
    replace_section(Path(md_path), to_markdown(res, os.path.relpath(json_path, root)), begin, end)
