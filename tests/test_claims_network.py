"""Every network-level check reads its real experiment's verdict.

The experiments' own tests run each of them at toy size (tests/test_experiments_*.py); here the
network checks are judged on the experiments' saved quick results (``figures/experiments/``,
written by the same code), so a renamed or missing verdict fails this test, and one experiment
(the cheapest, SVAG) runs live at toy size through the same path ``sgd-sde reproduce`` takes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sgd_sde.claims import _common, all_claims, run_check
from sgd_sde.verdicts import OUTCOMES

SAVED = Path(__file__).resolve().parents[1] / "figures" / "experiments"


def _by_experiment():
    out = {}
    for c in all_claims():
        if "network" in c.checks:
            name = getattr(c.checks["network"], "__name__", "")
            exp = name.split("<-", 1)[1].rstrip("]") if "<-" in name else "lrbench"
            out.setdefault(exp, []).append(c)
    return out


def _check_fields(claim, v):
    assert v.verdict in OUTCOMES and v.verdict != "error", (claim.id, v.note)
    assert v.claim == claim.id and v.level == "network"
    assert v.measured is None or isinstance(v.measured, float)
    assert v.expected is not None and math.isfinite(v.expected)
    assert v.provenance and v.note, claim.id


@pytest.fixture
def saved_results():
    _common.set_experiment_source(SAVED)
    _common._RESULTS.clear()
    yield
    _common.set_experiment_source(None)
    _common._RESULTS.clear()


@pytest.mark.parametrize("experiment", sorted(e for e in _by_experiment() if e != "lrbench"))
def test_network_checks_read_their_experiment(saved_results, experiment):
    if not (SAVED / f"{experiment}.npz").exists():
        pytest.skip(f"no saved result for {experiment} (run its quick size to create figures/experiments/)")
    for claim in _by_experiment()[experiment]:
        _check_fields(claim, run_check(claim, "network", key=0, quick=True))


def test_one_experiment_live_at_toy_size():
    _common.set_experiment_size("toy")
    _common._RESULTS.clear()
    try:
        claims = _by_experiment()["svag"]
        for claim in claims:
            _check_fields(claim, run_check(claim, "network", key=0, quick=True))
        assert _common.experiment_result("svag", 0, True).config.get("size") == "toy"
    finally:
        _common.set_experiment_size(None)
        _common._RESULTS.clear()


def test_lrbench_checks_at_toy_size():
    _common.set_experiment_size("toy")
    try:
        for claim in _by_experiment()["lrbench"]:
            _check_fields(claim, run_check(claim, "network", key=0, quick=True))
    finally:
        _common.set_experiment_size(None)
