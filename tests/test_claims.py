"""The claims registry: its contract, every claim's checks run (quick size), no verdict is typed in.

The checks are statistical; each decides its verdict by :func:`sgd_sde.verdicts.judge` from a
measured value, a CI (k standard errors or a bootstrap percentile interval, derived in the check)
and a tolerance stated in the claim. Here we assert the *fields* of every verdict (the claim id,
the level, a measured number, provenance, a decided outcome that is not an error) and that the
quantitative claims the library's maths makes exact come out ``supported``.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from sgd_sde.claims import SOURCES, Claim, all_claims, get_claim, register, run_check, run_claims, select, unregister
from sgd_sde.verdicts import LEVELS, OUTCOMES, Verdict

CLAIMS_DIR = Path(__file__).resolve().parents[1] / "sgd_sde" / "claims"


def test_registry_has_every_source_and_at_least_40_claims():
    claims = all_claims()
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids)) >= 40
    assert {c.source for c in claims} >= set(SOURCES) - {"lrbench2023"}
    for c in claims:
        assert c.id.split(".")[0] in SOURCES
        assert set(c.levels) <= set(LEVELS) and c.levels
        assert c.statement.strip() and c.citation.strip()


def test_no_outcome_is_typed_into_the_claims_package():
    """A verdict comes from judge()/Verdict.decide on numbers: no outcome string literal anywhere in claims/."""
    decided = {"supported", "refuted", "inconclusive"}
    for path in CLAIMS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in decided, f"{path.name}:{node.lineno} types the outcome {node.value!r}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Verdict":
                raise AssertionError(f"{path.name}:{node.lineno} builds a Verdict directly; use Verdict.decide")


# --------------------------------------------------------------------- every claim's non-network checks
@pytest.fixture(scope="module")
def quick_verdicts():
    """Every symbolic and simulation check at quick size, in this process (shared simulations run once).

    The checks that read a library figure recipe's data (escape times, Wu–Ma–E, Zhu, first
    passage, Hoffer) read the data committed under ``figures/`` instead of re-running the recipes
    (their own tests cover them; ``sgd-sde reproduce`` runs them), which keeps this test fast.
    """
    from sgd_sde.claims._common import set_figure_source

    set_figure_source(Path(__file__).resolve().parents[1] / "figures")
    try:
        return {(v.claim, v.level): v for v in run_claims(key=0, quick=True, levels=("symbolic", "simulation"))}
    finally:
        set_figure_source(None)


def _nonnetwork():
    return [(c.id, lv) for c in all_claims() for lv in c.levels if lv != "network"]


@pytest.mark.parametrize("cid,level", _nonnetwork())
def test_every_check_runs_and_reports_its_numbers(quick_verdicts, cid, level):
    v = quick_verdicts[(cid, level)]
    assert v.verdict in OUTCOMES and v.verdict != "error", v.note
    assert v.claim == cid and v.level == level
    assert v.statement == get_claim(cid).statement
    assert v.measured is not None and math.isfinite(v.measured) or v.verdict == "inconclusive", v
    assert v.expected is not None and math.isfinite(v.expected)
    assert v.seconds >= 0 and v.note
    assert {"code", "date", "config", "key", "version"} <= set(v.provenance)
    if v.ci is not None:
        assert v.ci[0] <= v.ci[1]
    if v.kind == "equal":
        assert v.tolerance is not None and v.tolerance >= 0


def test_exact_derivations_are_supported(quick_verdicts):
    """Every symbolic check rests on a SymPy identity or exact arithmetic, so none may fail."""
    sym = [v for (_, lv), v in quick_verdicts.items() if lv == "symbolic"]
    assert len(sym) >= 30
    bad = [(v.claim, v.verdict, v.note[:120]) for v in sym if v.verdict != "supported"]
    assert not bad


def test_counts_of_outcomes_are_measured_not_fixed(quick_verdicts):
    """The Golmant micro-theorem is refuted by measurement (slope ≈ −1/2 from the basin geometry)."""
    v = quick_verdicts[("golmant.radius_inverse_spectral_radius", "simulation")]
    assert v.verdict == "refuted" and -0.7 < v.measured < -0.3


# --------------------------------------------------------------------- the registry's own contract
def test_claim_validation_names_the_problem():
    ok = lambda key, quick: None  # noqa: E731
    with pytest.raises(ValueError, match="<source>.<name>"):
        Claim("NoDot", "s", "c", {"symbolic": ok})
    with pytest.raises(ValueError, match="unknown levels"):
        Claim("mine.x", "s", "c", {"numeric": ok})
    with pytest.raises(ValueError, match="at least one check"):
        Claim("mine.x", "s", "c", {})
    with pytest.raises(TypeError, match="callable"):
        Claim("mine.x", "s", "c", {"symbolic": 3})
    with pytest.raises(ValueError, match="already registered"):
        register(Claim(all_claims()[0].id, "s", "c", {"symbolic": ok}))
    with pytest.raises(ValueError, match="--only"):
        select(["nobody.nothing"])


def test_a_crashing_or_mislabelled_check_is_an_error_verdict():
    def boom(key, quick):
        raise RuntimeError("kaput")

    def wrong(key, quick):
        return Verdict.decide("other.claim", "symbolic", 1.0, 1.0)

    claim = Claim("mine.broken", "Broken.", "Me", {"symbolic": boom, "simulation": wrong})
    v1, v2 = run_check(claim, "symbolic"), run_check(claim, "simulation")
    assert v1.verdict == v2.verdict == "error"
    assert "kaput" in v1.note and "other.claim" in v2.note


# --------------------------------------------------------------------- users' own claims (the how-to)
def test_user_claim_property_tested_with_hypothesis():
    """The docs' worked example: a user registers a claim whose check is a Hypothesis property."""
    import numpy as np
    from hypothesis import given, settings

    from sgd_sde.testing import spd_matrices
    from sgd_sde.theory import stationary_covariance

    def linear_scaling_symbolic(key, quick):
        worst = []

        @settings(max_examples=10 if quick else 100, derandomize=True, deadline=None)
        @given(spd_matrices(max_dim=4))
        def prop(h):
            a = stationary_covariance(h, np.eye(len(h)), 0.01, 4, discrete=False)
            b = stationary_covariance(h, np.eye(len(h)), 0.04, 16, discrete=False)
            worst.append(float(np.max(np.abs(a - b)) / np.max(np.abs(a))))

        prop()
        return Verdict.decide("mine.linear_scaling", "symbolic", max(worst), 0.0, tolerance=1e-9)

    claim = register(Claim("mine.linear_scaling", "(η, B) → (kη, kB) keeps the SDE's stationary covariance.",
                           "Me 2024", {"symbolic": linear_scaling_symbolic}))
    try:
        (v,) = run_claims(select(["mine.linear_scaling"]), quick=True)
        assert v.verdict == "supported" and v.measured < 1e-9
    finally:
        unregister(claim.id)
    assert "mine.linear_scaling" not in {c.id for c in all_claims()}
