"""One helper rewrites a generated block between two markers (sgd_sde.io.replace_between_markers)."""

import os

import pytest

from sgd_sde.io import marker_pair, replace_between_markers, split_at_markers


def test_block_replaced_byte_for_byte_and_rest_untouched(tmp_path):
    start, end = marker_pair("demo")
    doc = tmp_path / "note.md"
    before = f"# Title — ü\n\nprose\n{start}\nold | 1\n{end}\ntail\n"
    doc.write_bytes(before.encode())
    assert replace_between_markers(doc, "demo", "\nnew | 2\n") is True
    assert doc.read_bytes() == f"# Title — ü\n\nprose\n{start}\nnew | 2\n{end}\ntail\n".encode()
    mtime = doc.stat().st_mtime_ns
    assert replace_between_markers(doc, "demo", "\nnew | 2\n") is False  # unchanged: not rewritten
    assert doc.stat().st_mtime_ns == mtime
    # custom markers; the text brings its own newlines; no temporary files left
    (tmp_path / "b.md").write_text("a<!-- s -->x<!-- e -->b")
    replace_between_markers(tmp_path / "b.md", ("<!-- s -->", "<!-- e -->"), "Y")
    assert (tmp_path / "b.md").read_text() == "a<!-- s -->Y<!-- e -->b"
    assert sorted(os.listdir(tmp_path)) == ["b.md", "note.md"]


@pytest.mark.parametrize("body, what", [
    ("no markers at all", "appears 0 times"),
    ("<!-- results:demo:start -->\nonly a start\n", r"results:demo:end.*appears 0 times.*unmatched"),
    ("<!-- results:demo:start -->a<!-- results:demo:end -->b<!-- results:demo:start -->c", r"appears 2 times.*duplicated"),
    ("<!-- results:demo:start -->a<!-- results:demo:end --><!-- results:demo:end -->", r"end -->' appears 2 times"),
    ("<!-- results:demo:end -->a<!-- results:demo:start -->", "comes before"),
])
def test_missing_duplicated_or_reversed_markers_are_refused_naming_the_file(tmp_path, body, what):
    doc = tmp_path / "bad-note.md"
    doc.write_text(body)
    with pytest.raises(ValueError, match=what) as err:
        replace_between_markers(doc, "demo", "x")
    assert "bad-note.md" in str(err.value)
    assert doc.read_text() == body  # nothing written


def test_bad_arguments():
    with pytest.raises(ValueError, match="marker name"):
        marker_pair("Bad Name")
    with pytest.raises(TypeError, match="markers"):
        split_at_markers("x", ("same", "same"))
    with pytest.raises(TypeError, match="markers"):
        split_at_markers("x", 3)
    assert split_at_markers("a<s>b<e>c", ("<s>", "<e>"), where="w") == ("a", "b", "c")


def test_every_writer_of_a_generated_block_uses_the_helper():
    """The marker-rewriting code lives in one place: the writers below call the helper and hold no
    copy of their own (a ``.split(START`` / ``.index(begin`` splice would be a second copy)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    files = ["sgd_sde/reproduce.py", "sgd_sde/experiments/_sharpness_common.py", "sgd_sde/experiments/_common.py",
             "tests/fuzz_report.py",
             "sgd_sde/figures/tables.py", "benchmarks/_markdown.py"]
    for f in files:
        src = (root / f).read_text()
        assert "replace_between_markers" in src, f
        assert not re.search(r"\.split\((README_)?(START|END|BEGIN|begin|end)\b|\.index\((begin|end)\)", src), f
