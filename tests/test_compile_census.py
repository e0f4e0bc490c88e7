"""benchmarks.compile_census: JAX's compile events, summed by program and by the test they ran in."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import compile_census as cc


def test_jax_reports_trace_lower_and_compile_of_a_named_program_once():
    """The plugin rests on these public events and their fun_name; a JAX that renames them fails here."""
    def census_probe_program(x):
        return jnp.sin(x) * 3

    with cc.recording() as census:
        census.current = "t::one"
        f = jax.jit(census_probe_program)
        f(jnp.ones(7)).block_until_ready()
        f(jnp.ones(7)).block_until_ready()  # cached: no new events
    row = census.programs["census_probe_program"]
    assert (row["traces"], row["lowers"], row["compiles"]) == (1, 1, 1)
    assert row["compile"] > 0 and row["trace"] > 0
    assert census.tests["t::one"]["compiles"] >= 1


def test_events_are_summed_per_program_and_per_running_test():
    c = cc.Census()
    c.listener("/jax/core/compile/backend_compile_duration", 2.0, fun_name="jit(f)")
    c.current = "tests/test_a.py::x"
    c.listener("/jax/core/compile/jaxpr_trace_duration", 0.5, fun_name="f")
    c.listener("/jax/core/compile/backend_compile_duration", 1.0, fun_name="jit(f)")
    c.listener("/jax/some/other_event", 9.0, fun_name="jit(f)")  # not a compile event: ignored
    c.add_wall("tests/test_a.py::x", 3.0)
    assert c.programs["f"]["compile"] == 3.0 and c.programs["f"]["compiles"] == 2
    assert c.programs["f"]["trace"] == 0.5 and c.programs["f"]["traces"] == 1
    assert c.tests[cc.OUTSIDE]["compile"] == 2.0
    assert c.tests["tests/test_a.py::x"] == {**cc._zeros(), "compile": 1.0, "compiles": 1, "trace": 0.5,
                                             "traces": 1, "wall": 3.0}
    assert cc.program_name("jit(run_chunk)") == cc.program_name("run_chunk") == "run_chunk"


def test_workers_merge_and_files_sum_their_tests(tmp_path):
    a, b = cc.Census(), cc.Census()
    for census, test, secs in ((a, "tests/test_a.py::x", 1.0), (b, "tests/test_a.py::y", 4.0), (b, "tests/test_b.py::z", 2.0)):
        census.current = test
        census.listener("/jax/core/compile/backend_compile_duration", secs, fun_name="jit(g)")
        census.add_wall(test, 2 * secs)
    for name, census in (("gw0", a), ("gw1", b)):
        (tmp_path / f"census-{name}.json").write_text(json.dumps(census.as_dict()))
    merged = cc.load(tmp_path)
    assert merged["programs"]["g"]["compile"] == 7.0 and merged["programs"]["g"]["compiles"] == 3
    files = cc.by_file(merged["tests"])
    assert files["tests/test_a.py"]["wall"] == 10.0 and files["tests/test_a.py"]["compile"] == 5.0
    lines = cc.summary_lines(merged, top=1)
    assert lines[0].startswith("compile census: 3 XLA compiles, 7.0 s")
    assert lines[1:3] == ["programs by compile time (top 1):", "       7.0 s      3 compiles  trace    0.0 s  g"]
    assert lines[4].endswith("tests/test_a.py") and lines[6].endswith("tests/test_a.py::y")  # the largest first


def test_bad_folder_and_bad_top_are_refused(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no census-"):
        cc.load(tmp_path)
    with pytest.raises(SystemExit):
        cc.main([str(tmp_path), "--top", "0"])
    assert "--top must be ≥ 1, got 0" in capsys.readouterr().err
    assert cc.main([str(tmp_path)]) == 2
    assert f"no census-*.json in {tmp_path}" in capsys.readouterr().err


def test_simulate_compiles_a_program_named_run_chunk():
    """Profiles, compile logs and this census name the engine's program (it was ``jit(_lambda)``)."""
    from sgd_sde import simulate
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import Quadratic

    with cc.recording() as census:
        simulate(jax.random.key(0), Quadratic(jnp.eye(1)), SGD(0.1, 1), jnp.ones(1), n_steps=3, n_particles=5,
                 observables=())
    assert census.programs["run_chunk"]["compiles"] == 1


def test_plugin_hooks_record_a_test_and_print_the_summary(tmp_path, monkeypatch):
    """The hooks pytest calls, in the order it calls them, on a run without xdist."""

    class Config:
        def getoption(self, name):
            assert name == "--compile-census"
            return str(tmp_path / "out")

    class Item:
        nodeid = "tests/test_fake.py::test_it"

    class Reporter:
        def __init__(self):
            self.lines = []

        def write_line(self, line):
            self.lines.append(line)

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(cc, "_STATE", {})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "census-gw7.json").write_text("{}")  # an earlier run's file: removed at start
    cc.pytest_configure(Config())
    try:
        hook = cc.pytest_runtest_protocol(Item(), None)
        next(hook)

        def census_hook_program(x):
            return x * 5 + 1

        jax.jit(census_hook_program)(np.ones(11, np.float32)).block_until_ready()
        with pytest.raises(StopIteration):
            next(hook)
    finally:
        cc.pytest_sessionfinish(None)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["census-main.json"]
    reporter = Reporter()
    cc.pytest_terminal_summary(reporter)
    merged = cc.load(tmp_path / "out")
    row = merged["tests"]["tests/test_fake.py::test_it"]
    assert merged["programs"]["census_hook_program"]["compiles"] == 1
    assert row["compiles"] == 1 and row["wall"] >= row["compile"] > 0
    assert reporter.lines[0].startswith("compile census: 1 XLA compiles")
    assert any(line.endswith("tests/test_fake.py::test_it") for line in reporter.lines)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["tests"].keys() == {"tests/test_fake.py::test_it"}
    assert summary["provenance"][0]["config"]["worker"] == "main" and summary["provenance"][0]["code"]
