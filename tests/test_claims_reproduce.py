"""`sgd-sde reproduce` on a small selection: the files it writes, their fields, the exit status."""

from __future__ import annotations

import json

from sgd_sde.claims import Claim, register, unregister
from sgd_sde.cli import main
from sgd_sde.reproduce import figure_names, reproduce
from sgd_sde.verdicts import LEVELS, Verdict

FIELDS = {"id", "claim", "level", "verdict", "measured", "expected", "tolerance", "ci", "seconds", "provenance"}
ONLY = ["mccandlish2018.linear_regime_small_batch", "golmant.lemma2_quadratic_form", "smith2018.fewer_parameter_updates"]


def test_reproduce_writes_claims_json_and_reports(tmp_path):
    res = reproduce(tmp_path, quick=True, only=ONLY, figures=False, write_papers=False, progress=False)
    assert res.exit_status == 0
    records = json.loads((tmp_path / "claims.json").read_text())
    assert [r["id"] for r in records] == sorted(ONLY)
    for r in records:
        assert FIELDS <= set(r)
        assert r["level"] in LEVELS and r["verdict"] == "supported"
        assert r["provenance"]["code"] and r["claim"]
    md = (tmp_path / "report.md").read_text()
    assert all(f"`{i}`" in md for i in ONLY) and "| claim | level | verdict |" in md
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "golmant.lemma2_quadratic_form" in html


def test_an_erroring_check_makes_the_exit_status_nonzero(tmp_path, capsys):
    def boom(key, quick):
        raise RuntimeError("no data")

    def fine(key, quick):
        return Verdict.decide("mine.fails", "symbolic", 2.0, 1.0, tolerance=0.1)

    register(Claim("mine.fails", "Fails.", "Me", {"symbolic": fine, "simulation": boom}))
    try:
        assert main(["reproduce", "--quick", "--only", "mine.fails", "--out", str(tmp_path), "--no-papers"]) == 1
        records = {r["level"]: r for r in json.loads((tmp_path / "claims.json").read_text())}
        assert records["symbolic"]["verdict"] == "refuted"  # refuted is an outcome, not a failure ...
        assert records["simulation"]["verdict"] == "error"  # ... an error is
        assert "no data" in (tmp_path / "report.md").read_text()
    finally:
        unregister("mine.fails")
    assert "1 error" in capsys.readouterr().err


def test_jobs_run_units_in_worker_processes(tmp_path):
    res = reproduce(tmp_path, quick=True, only=ONLY[:2], figures=False, write_papers=False, progress=False, jobs=2)
    assert res.exit_status == 0 and [v.claim for v in res.verdicts] == sorted(ONLY[:2])


def test_unknown_selection_exits_2(tmp_path, capsys):
    assert main(["reproduce", "--only", "nobody.nothing", "--out", str(tmp_path)]) == 2
    assert "no claim matches" in capsys.readouterr().err


def test_figure_registry_lists_at_least_16_figures():
    names = figure_names()
    assert {"gibbs", "gibbs_anisotropic", "robbins_monro", "mccandlish_eps_opt", "temperature_quadratic", "escape",
            "radius", "wu_ma_e", "zhu", "hoffer", "first_passage", "sinai"} <= set(names)
    assert len(names) >= 14


def test_paper_notes_link_only_to_figures_inside_the_repository(tmp_path, monkeypatch):
    """A reproduce run written to an outside folder (``--out /tmp/...``) must not leave links into
    it in the committed notes; a figure inside the repository is linked relative to the note."""
    from sgd_sde.claims import all_claims
    from sgd_sde.reproduce import ReproduceResult, update_paper_tables
    from sgd_sde.verdicts import Verdict

    repo = tmp_path / "repo"
    (repo / "papers").mkdir(parents=True)
    (repo / "figures").mkdir()
    (repo / "figures" / "inside.png").write_bytes(b"png")
    outside = tmp_path / "elsewhere" / "outside.png"
    outside.parent.mkdir()
    outside.write_bytes(b"png")
    monkeypatch.chdir(repo)
    monkeypatch.setattr("sgd_sde.reproduce._in_repository", lambda: True)
    claim = all_claims()[0]
    vs = [Verdict.decide(claim.id, "simulation", 1.0, 1.0, tolerance=0.1, figure="inside"),
          Verdict.decide(claim.id, "symbolic", 1.0, 1.0, tolerance=0.1, figure="outside")]
    result = ReproduceResult(vs, {"inside": str(repo / "figures" / "inside.png"), "outside": str(outside)}, {},
                             tmp_path, 0.0)
    (written,) = update_paper_tables(result, [claim], repo / "papers")
    text = written.read_text()
    assert "[inside](../figures/inside.png)" in text
    assert "elsewhere" not in text and "| outside |" in text
    # a figure drawn outside whose committed copy exists under figures/ links to that copy
    drawn = tmp_path / "run" / "figures" / "stability" / "radius.png"
    drawn.parent.mkdir(parents=True)
    drawn.write_bytes(b"png")
    (repo / "figures" / "stability").mkdir()
    (repo / "figures" / "stability" / "radius.png").write_bytes(b"png")
    vs = [Verdict.decide(claim.id, "simulation", 1.0, 1.0, tolerance=0.1, figure="radius")]
    (written,) = update_paper_tables(ReproduceResult(vs, {"radius": str(drawn)}, {}, tmp_path, 0.0), [claim],
                                     repo / "papers")
    assert "[radius](../figures/stability/radius.png)" in written.read_text()


def test_a_figure_that_draws_another_figures_data_does_not_depend_on_the_unit_order(tmp_path, monkeypatch):
    """first_passage also draws the fractional walks' saved fits. Its unit runs before fractional's
    (units are ordered by name, or run in parallel), so reproduce redraws it once both are drawn:
    the final figure has the fractional data whichever unit ran first. Stand-in recipes record
    what the figure could see."""
    import sgd_sde.figures.diffusion as diffusion

    seen = []

    def first_passage(out, quick=False, key=0):
        has = (out / "fractional.npz").exists()
        seen.append(("first_passage", has))
        (out / "first_passage.png").write_text(f"with fractional: {has}")
        return out / "first_passage.png"

    def fractional(out, quick=False, key=0):
        seen.append(("fractional", None))
        (out / "fractional.npz").write_text("data")
        (out / "fractional.png").write_text("fractional")
        return out / "fractional.png"

    monkeypatch.setattr(diffusion, "first_passage_figure", first_passage)
    monkeypatch.setattr(diffusion, "fractional_figure", fractional)
    ok = lambda cid: {"symbolic": lambda key, quick: Verdict.decide(cid, "symbolic", 1.0, 1.0, tolerance=0.1)}  # noqa: E731
    register(Claim("mine.walks", "Reads the walks.", "Me", ok("mine.walks"), figure="fractional"))
    register(Claim("mine.passage", "Reads the passage.", "Me", ok("mine.passage"), figure="first_passage"))
    try:
        res = reproduce(tmp_path, quick=True, only=["mine.walks", "mine.passage"], write_papers=False, progress=False)
    finally:
        unregister("mine.walks")
        unregister("mine.passage")
    assert res.exit_status == 0 and sorted(res.figures) == ["first_passage", "fractional"]
    assert seen == [("first_passage", False), ("fractional", None), ("first_passage", True)]
    assert (tmp_path / "figures" / "diffusion" / "first_passage.png").read_text() == "with fractional: True"
