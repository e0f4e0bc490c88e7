"""benchmarks/run.py --write-results: one RESULTS.md section per saved run, named by its
directory, written from the JSON (the numbers and verdicts come from the file, never typed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "benchmarks" / "results" / "cpu-stop13"

pytest.importorskip("benchmarks.run")


def test_sections_per_run_stand_side_by_side(tmp_path):
    from benchmarks import run

    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n")
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    shutil.copytree(SAVED, a)
    shutil.copytree(SAVED, b)
    res = json.loads((b / "results.json").read_text())
    res["rows"] = [dict(r, Msteps_per_s=r["Msteps_per_s"] * (2.0 if r["impl"].startswith("sgd_sde") else 1.0))
                   for r in res["rows"]]
    (b / "results.json").write_text(json.dumps(res))

    run.write_summary(a, md)
    run.write_summary(b, md)
    run.write_summary(a, md)  # rewriting a run replaces its own section only
    text = md.read_text()
    for name in ("machine-a", "machine-b"):
        assert text.count(f"<!-- run.py:cpu:{name}:begin -->") == 1
        assert text.count(f"<!-- run.py:cpu:{name}:end -->") == 1
    sec_a = text.split("<!-- run.py:cpu:machine-a:begin -->")[1].split("<!-- run.py:cpu:machine-a:end -->")[0]
    sec_b = text.split("<!-- run.py:cpu:machine-b:begin -->")[1].split("<!-- run.py:cpu:machine-b:end -->")[0]
    # the verdict follows the numbers: the saved run's least ratio is below 1, doubled it is not
    least = min(r["vs_best_hand"] for r in run.summary_rows(json.loads((a / "results.json").read_text())))
    assert least < 1.0
    assert f"**refuted** (least {least:.2f}×" in sec_a
    assert f"**supported** (least {2 * least:.2f}×" in sec_b
    assert "machine-a`" in sec_a and "machine-b`" in sec_b  # the command that rewrites it names its directory


def test_missing_results_json_is_named(tmp_path):
    from benchmarks import run

    with pytest.raises(FileNotFoundError, match="no results.json"):
        run.write_summary(tmp_path, tmp_path / "RESULTS.md")


def test_least_interval_resamples_the_repetitions():
    """With no spread between repetitions the interval is the point; with spread it is wider and
    the verdict written from it is 'inconclusive' when the interval straddles the threshold."""
    import math

    from benchmarks import run

    saved = ROOT / "benchmarks" / "results" / "cpu-amd-stop14" / "results.json"
    res = json.loads(saved.read_text())
    rows = run.summary_rows(res)
    items = [(r["case"], *r["pairs"]["vs_best_hand"]) for r in rows if r["pairs"]["vs_best_hand"]]
    least = min(r["vs_best_hand"] for r in rows if r["vs_best_hand"] is not None)

    flat = dict(res, rows=[dict(r, times_s=[r["median_s"]] * len(r["times_s"])) for r in res["rows"]])
    lo, hi = run.least_interval(flat, items)
    assert math.isclose(lo, least, rel_tol=1e-12) and math.isclose(hi, least, rel_tol=1e-12)

    roof = [(r["case"], r["ours_impl"], None) for r in rows]
    lo, hi = run.least_interval(flat, roof)
    assert math.isclose(lo, min(r["pct_of_bound"] for r in rows) / 100, rel_tol=1e-12)

    lo, hi = run.least_interval(res, items)  # the saved run: real spread
    assert lo < least - 0.01 and hi > lo
    old = json.loads((SAVED / "results.json").read_text())  # saved before times_s: point estimates
    assert run.least_interval(old, [(r["case"], *r["pairs"]["vs_best_hand"]) for r in run.summary_rows(old)
                                    if r["pairs"]["vs_best_hand"]]) is None
    assert math.isclose(run.least_point(res, items), least, rel_tol=1e-12)  # the table's ratio
    text = run.summary_markdown(res, "benchmarks/results/cpu-amd-stop14")
    assert f"least {least:.2f}×, threshold 1.0×, 95% bootstrap interval over the repetitions" in text
    assert lo < 1.0 <= hi  # this saved run's interval straddles 1, and the verdict says so
    assert f"**inconclusive** (least {least:.2f}×, threshold 1.0×" in text


def test_training_verdicts_carry_their_bootstrap_interval():
    """training.py's two targets are decided with the interval of the ratio of medians: no spread
    gives the point itself (and a decided verdict), the saved run's spread gives its interval."""
    import math

    from benchmarks import training
    from benchmarks._bootstrap import ratio_interval

    res = json.loads((ROOT / "benchmarks" / "results" / "training-cpu-amd-1202.json").read_text())
    r = training.ratios(res)
    t = res["times_s"]
    lo, hi = ratio_interval(t["hand S=1000"], t["train S=1000"])
    assert lo < r["train vs hand (5S)"] < hi and hi - lo > 0.01
    text = training.to_markdown(res, "x.json")
    assert f"[{lo:.2f}, {hi:.2f}]" in text
    verdict = "inconclusive" if lo < 1.0 <= hi else ("supported" if lo >= 1.0 else "refuted")
    assert f"Target `train` ≥ 1.0× the hand loop (1000 steps): **{verdict}**" in text

    flat = dict(res, times_s={k: [res["median_s"][k]] * len(v) for k, v in t.items()})
    lo, hi = ratio_interval(flat["times_s"]["hand x48"], flat["times_s"]["sweep"])
    assert math.isclose(lo, r["sweep vs hand x48"], rel_tol=1e-12) and math.isclose(hi, lo, rel_tol=1e-12)
    assert "**refuted**" in training.to_markdown(flat, "x.json").split("Target vmapped sweep")[1]


def test_a_run_of_some_cases_says_its_verdicts_cover_only_those():
    from benchmarks import run

    res = json.loads((ROOT / "benchmarks" / "results" / "cpu-amd-1202" / "results.json").read_text())
    full = run.summary_markdown(res, "benchmarks/results/cpu-amd-1202")
    assert "on every case: " in full and "not run" not in full
    one = dict(res, rows=[r for r in res["rows"] if r["case"] == "lowrank-d1000"])
    text = run.summary_markdown(one, "benchmarks/results/x")
    assert "not run: dense-d100, diag-d10, minibatch-linreg" in text
    assert "on every case of this run: " in text and "on every case: " not in text


def test_the_serial_bound_adds_the_roofline_terms_and_is_reported_per_case():
    """The serial bound is the sum of the three roofline times (never less than the classic bound,
    their max); the summary table reports sgd_sde's and the best hand scan's fraction of it."""
    import math

    from benchmarks import run
    from benchmarks.cases import BOUNDS, roofline, serial_bound_s

    res = json.loads((ROOT / "benchmarks" / "results" / "cpu-amd-1202" / "results.json").read_text())
    rows = {(r["case"], r["impl"]): r for r in res["rows"]}
    for r in res["rows"]:
        comp = r["roofline_components_s"]
        assert serial_bound_s(comp) == sum(comp[b] for b in BOUNDS) >= r["roofline_bound_s"] > 0
    text = run.summary_markdown(res, "benchmarks/results/cpu-amd-1202")
    for s in run.summary_rows(res):
        ours, best = rows[(s["case"], s["ours_impl"])], rows[(s["case"], s["best_hand"])]
        want = [100 * sum(x["roofline_components_s"].values()) / x["median_s"] for x in (ours, best)]
        assert math.isclose(s["pct_of_serial"], want[0]) and math.isclose(s["best_hand_pct_of_serial"], want[1])
        assert f"| {want[0]:.0f}% / {want[1]:.0f}% |" in text
    # one resource alone: the serial bound is the roofline bound
    from benchmarks.cases import Work

    one = roofline(Work(1.0, 1e9, 0.0, 0.0), {"normals_M_per_s": 1.0, "engine_normals_M_per_s": 1.0,
                                           "uniforms_M_per_s": 1.0, "membw_GB_per_s": 1.0, "matmul_gflops": 2.0})
    assert serial_bound_s(one["bound_components_s"]) == one["bound_s"] == 0.5


def test_the_minibatch_hand_scan_with_the_engine_sampler_draws_simulates_minibatches(monkeypatch):
    """The row "JAX scan (d,P), sgd_sde sampler" is simulate's loop written by hand: the same
    ``fold_in(key, t)`` per step and the same ``ExactMinibatch.sample``, so the same minibatches and
    the same θ up to float32 rounding (10 steps of a gradient of a few rows: a few ulp of |θ| ≈ 1,
    far below 1e-5). The top_k scan draws other minibatches: θ differs by ~lr·|g| ≈ 1e-3. A batch
    of 4 instead of the case's 32 keeps the compiles of Floyd's unrolled sampler short."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks import cases

    monkeypatch.setattr(cases, "BATCH", 4)
    pb = cases.make_problem(dataclasses.replace(cases.CASES["minibatch-linreg"], P=16, S=10))
    simulated = np.asarray(cases.sgd_sde_simulate()(pb)[0]())  # (P, d)

    def hand(engine_sampler):
        step, shape, wk = cases.hand_step(pb, "dP", engine_normals=engine_sampler)
        th = jax.lax.scan(lambda th, t: (step(th, t), None), jnp.ones(shape, jnp.float32), jnp.arange(pb.case.S))[0]
        return np.asarray(th).T, wk

    same, wk_same = hand(True)
    other, wk_other = hand(False)
    assert np.abs(same - simulated).max() < 1e-5
    assert np.abs(other - simulated).max() > 1e-4
    assert wk_same.variates == 16 * 10 * cases.BATCH and wk_other.variates == 16 * 10 * pb.case.N


def test_training_sweep_target_is_decided_on_one_device_per_core_where_the_run_has_it():
    """A run with the 2-device contenders decides the ≥ 3× target on ``sweep devices=2`` (its own
    interval), says so, and reports the default member loop it resolved; an older run without
    them still decides on the one-device sweep."""
    from benchmarks import training
    from benchmarks._bootstrap import ratio_interval

    new = json.loads((ROOT / "benchmarks" / "results" / "training-cpu-amd-stop27.json").read_text())
    t, m = new["times_s"], new["median_s"]
    assert training._target_sweep(new)[0] == "sweep devices=2"
    lo, hi = ratio_interval(t["hand x48"], t["sweep devices=2"])
    text = training.to_markdown(new, "x.json")
    target = text.split("Target vmapped sweep")[1]
    assert "decided on `networks.sweep(devices=2)`" in target
    assert f"({m['hand x48'] / m['sweep devices=2']:.2f}×, 95% bootstrap interval over the repetitions [{lo:.2f}, {hi:.2f}])" in target
    assert f"members by `{'lax.map' if new['config']['sweep_member_loop'] == 'map' else 'jax.vmap'}`" in text
    assert training.ratios(new)["sweep on devices vs hand x48"] == m["hand x48"] / m["sweep devices=2"]

    old = json.loads((ROOT / "benchmarks" / "results" / "training-cpu-amd-1202.json").read_text())
    assert training._target_sweep(old)[0] == "sweep"
    assert "decided on the vmapped sweep" in training.to_markdown(old, "x.json")


def test_the_per_step_split_names_each_rows_hand_scan(tmp_path):
    """The per-step / per-call split covers the four cases; its exact-minibatch row is held against
    the hand scan with the engine's sampler and says so. Rows saved before (no ``"hand"``) still
    render, as the plain ``(d,P)`` scan."""
    from benchmarks import run

    res = json.loads((SAVED / "results.json").read_text())
    timing = {"median_s": [0.01, 0.1, 0.5], "us_per_step": 500.0, "ms_per_call": 2.0}
    res["overhead"] = [
        {"case": "dense-d100", "d": 100, "P": 1024, "S": [1, 200, 1000], "sgd_sde.simulate": timing,
         "JAX scan (d,P)": timing},  # an old row
        {"case": "minibatch-linreg", "d": 64, "P": 1024, "S": [1, 40, 200], "hand": "JAX scan (d,P), sgd_sde sampler",
         "sgd_sde.simulate": timing, "JAX scan (d,P)": dict(timing, us_per_step=400.0)},
    ]
    table = run.to_markdown(res)
    assert "| minibatch-linreg (d=64, P=1024) | JAX scan (d,P), sgd_sde sampler | 400.00 | 2.00 |" in table
    assert "| dense-d100 (d=100, P=1024) | JAX scan (d,P) | 500.00 | 2.00 |" in table
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(res))
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n")
    run.write_summary(tmp_path / "run", md)
    text = md.read_text()
    assert "minibatch-linreg (P=1024): sgd_sde 500 µs/step, 2.00 ms/call; hand `(d,P)` scan, sgd_sde sampler 400 µs/step" in text
    assert "dense-d100 (P=1024): sgd_sde 500 µs/step, 2.00 ms/call; hand `(d,P)` scan 500 µs/step" in text
