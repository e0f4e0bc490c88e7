"""Verdicts are decided from the numbers; results and bundles are one atomic, checked file."""

import json
import zipfile

import numpy as np
import pytest

from sgd_sde.io import load_bundle, save_bundle
from sgd_sde.provenance import provenance, source_digest, stale_reason
from sgd_sde.verdicts import ExperimentResult, Verdict, judge


@pytest.mark.parametrize(
    "measured, expected, kw, want",
    [
        (1.0, 1.0, dict(tolerance=0.1, ci=(0.95, 1.05)), "supported"),
        (1.0, 1.0, dict(tolerance=0.1, ci=(0.85, 1.05)), "inconclusive"),  # CI leaves the band on one side
        (1.5, 1.0, dict(tolerance=0.1, ci=(1.2, 1.8)), "refuted"),
        (0.5, 1.0, dict(tolerance=0.1, ci=(0.3, 0.85)), "refuted"),
        (1.05, 1.0, dict(tolerance=0.1), "supported"),  # no CI: the point decides
        (1.2, 1.0, dict(tolerance=0.1), "refuted"),
        (0.3, 0.0, dict(kind="greater", ci=(0.1, 0.5)), "supported"),
        (0.3, 0.0, dict(kind="greater", ci=(-0.1, 0.5)), "inconclusive"),
        (-0.3, 0.0, dict(kind="greater", ci=(-0.5, -0.1)), "refuted"),
        (-0.3, 0.0, dict(kind="less", ci=(-0.5, -0.1)), "supported"),
        (float("nan"), 0.0, dict(), "inconclusive"),
    ],
)
def test_judge_follows_the_stated_rule(measured, expected, kw, want):
    assert judge(measured, expected, **kw) == want


@pytest.mark.parametrize(
    "kw, err, match",
    [
        (dict(kind="about"), ValueError, "kind must be one of"),
        (dict(tolerance=-1.0), ValueError, "tolerance must be >= 0"),
        (dict(ci=(2.0, 1.0)), ValueError, "lo <= hi"),
        (dict(ci=(1.0,)), ValueError, "pair"),
    ],
)
def test_judge_rejects_bad_input(kw, err, match):
    with pytest.raises(err, match=match):
        judge(1.0, 1.0, **kw)


def test_verdict_validates_its_fields():
    with pytest.raises(ValueError, match="level must be one of"):
        Verdict("a.b", "network-ish", "supported")
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("a.b", "network", "maybe")
    with pytest.raises(TypeError, match="claim must be"):
        Verdict("", "network", "supported")
    v = Verdict.error("a.b", "simulation", RuntimeError("boom"))
    assert v.verdict == "error" and "RuntimeError: boom" in v.note


def test_experiment_result_round_trips(tmp_path):
    v = Verdict.decide("demo.x", "network", 1.02, 1.0, tolerance=0.05, ci=(1.0, 1.04), seconds=0.5,
                       provenance=provenance({"q": 1}, key=3), figure="demo")
    res = ExperimentResult("demo", "Nobody 2020, Nothing", (v,), {"curve": np.linspace(0, 1, 5)},
                           {"quick": True}, provenance({"q": 1}, key=3))
    path = res.save(tmp_path / "demo")
    back = ExperimentResult.load(path)
    assert back.verdicts == res.verdicts
    np.testing.assert_array_equal(back.data["curve"], res.data["curve"])
    assert back.verdict("x").verdict == "supported" and back.measured == {"demo.x": 1.02}
    assert "| `demo.x` | network |" in back.table()
    with pytest.raises(KeyError, match="no verdict"):
        back.verdict("y")


def test_bundle_refuses_arrays_that_do_not_match_the_metadata(tmp_path):
    """A bundle whose arrays were swapped after writing (the torn-pair failure of two files)."""
    path = save_bundle(tmp_path / "r", {"w": np.arange(4.0)}, {"step": 10})
    other = save_bundle(tmp_path / "o", {"w": np.arange(4.0) * 2}, {"step": 20})
    # rebuild r.npz with o's array but r's metadata
    with zipfile.ZipFile(path) as zr, zipfile.ZipFile(other) as zo:
        meta = zr.read("__metadata_json__.npy")
        w = zo.read("w.npy")
    with zipfile.ZipFile(path, "w") as zw:
        zw.writestr("__metadata_json__.npy", meta)
        zw.writestr("w.npy", w)
    with pytest.raises(ValueError, match=r"r\.npz.*do not match the digest"):
        load_bundle(path)
    arrays, meta = load_bundle(other)
    assert meta["step"] == 20 and arrays["w"][1] == 2.0


def test_bundle_refuses_a_truncated_file(tmp_path):
    path = save_bundle(tmp_path / "r", {"w": np.arange(1000.0)}, {"step": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        load_bundle(path)


def test_provenance_decides_staleness_on_the_code_digest():
    p = provenance({"lr": 0.1}, key=0)
    json.dumps(p)
    assert p["code"] == source_digest() and p["code"].startswith("sha256:")
    assert stale_reason(p, config={"lr": 0.1}, key=0) is None
    assert stale_reason({**p, "code": "sha256:0"}, config={"lr": 0.1}) .startswith("made by other code")
    assert stale_reason(p, key=1) == "key differs"
    assert stale_reason({}, key=0) == "no provenance"
