"""Where a pytest run's time goes: JAX tracing, lowering and XLA compilation, per test and per program.

Issue 18 asks for the test suite to stay within 10 minutes on 2 cores; on 2-vCPU hosts most of its
time is XLA compilation of many distinct programs. This pytest plugin measures that, with JAX's
public :mod:`jax.monitoring` events (``/jax/core/compile/{jaxpr_trace,jaxpr_to_mlir_module,
backend_compile}_duration``, each with the program's ``fun_name``), attributed to the test whose
set-up, call or tear-down was running (``<outside tests>`` otherwise: collection, session end)::

    JAX_PLATFORMS=cpu python -m pytest -q -p benchmarks.compile_census --compile-census=OUT
    python -m benchmarks.compile_census OUT          # the summary again, from the saved files

Each pytest process (each xdist worker) writes ``OUT/census-<worker>.json`` when its session ends
(atomically, with the provenance of the code that ran); the controller prints the merged summary
and writes ``OUT/summary.json``. Compiles inside interpreters that a test starts are not seen:
such tests show wall time without compiles. A program loaded from JAX's persistent compilation
cache counts as a compile, with the time the load took (JAX times both as one event).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
OUTSIDE = "<outside tests>"
_PREFIX = "census-"


class Census:
    """Durations of JAX's compile events, by program (``fun_name``) and by the test they ran in."""

    def __init__(self):
        self.current = OUTSIDE
        self.programs: dict[str, dict[str, float]] = collections.defaultdict(_zeros)
        self.tests: dict[str, dict[str, float]] = collections.defaultdict(_zeros)

    def listener(self, event: str, duration: float, **kwargs) -> None:
        """A :func:`jax.monitoring.register_event_duration_secs_listener` callback."""
        kind = EVENTS.get(event)
        if kind is None:
            return
        for row in (self.programs[program_name(kwargs.get("fun_name", "?"))], self.tests[self.current]):
            row[kind] += duration
            row[kind + "s"] += 1

    def add_wall(self, nodeid: str, seconds: float) -> None:
        self.tests[nodeid]["wall"] += seconds

    def as_dict(self) -> dict:
        return {"programs": dict(self.programs), "tests": dict(self.tests)}


@contextlib.contextmanager
def recording():
    """``with recording() as census:`` — a :class:`Census` of the compile events inside the block."""
    import jax.monitoring

    census = Census()
    jax.monitoring.register_event_duration_secs_listener(census.listener)
    try:
        yield census
    finally:
        jax.monitoring.unregister_event_duration_listener(census.listener)


def program_name(fun_name) -> str:
    """One name for a program's three events: tracing reports ``f``, lowering and compiling ``jit(f)``."""
    name = str(fun_name)
    return name[4:-1] if name.startswith("jit(") and name.endswith(")") else name


def _zeros() -> dict[str, float]:
    return {k: 0.0 for kind in EVENTS.values() for k in (kind, kind + "s")} | {"wall": 0.0}


def _sum_into(acc: dict[str, dict], name: str, row: dict) -> None:
    """Add ``row`` field by field into ``acc[name]`` (created as zeros)."""
    total = acc.setdefault(name, _zeros())
    for k, v in row.items():
        total[k] = total.get(k, 0.0) + v


def merge(parts: list[dict]) -> dict:
    """Sum the censuses of several processes (program and test rows add field by field)."""
    out: dict[str, dict] = {"programs": {}, "tests": {}}
    for part in parts:
        for table in ("programs", "tests"):
            for name, row in part[table].items():
                _sum_into(out[table], name, row)
    return out


def by_file(tests: dict[str, dict]) -> dict[str, dict]:
    """Test rows summed per test file (the part of the node id before ``::``)."""
    out: dict[str, dict] = {}
    for nodeid, row in tests.items():
        _sum_into(out, nodeid.split("::")[0], row)
    return out


def summary_lines(census: dict, top: int = 15) -> list[str]:
    """The merged census as text: totals, the programs that cost most to compile, the test files
    that take longest (with the share of their wall time spent compiling) and the slowest tests."""
    progs, tests = census["programs"], census["tests"]
    tot = {k: sum(r[k] for r in progs.values()) for kind in EVENTS.values() for k in (kind, kind + "s")}
    wall = sum(r["wall"] for r in tests.values())
    lines = [f"compile census: {tot['compiles']:.0f} XLA compiles, {tot['compile']:.1f} s; tracing "
             f"{tot['trace']:.1f} s ({tot['traces']:.0f} traces); lowering {tot['lower']:.1f} s; the tests' wall time "
             f"{wall:.1f} s summed over processes", f"programs by compile time (top {top}):"]
    for name, r in sorted(progs.items(), key=lambda kv: -kv[1]["compile"])[:top]:
        lines.append(f"  {r['compile']:8.1f} s {r['compiles']:6.0f} compiles  trace {r['trace']:6.1f} s  {name}")
    for title, rows in (("test files", by_file(tests)), ("tests", tests)):
        lines.append(f"{title} by wall time (top {top}):")
        for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["wall"])[:top]:
            share = 100 * r["compile"] / r["wall"] if r["wall"] > 0 else float("nan")
            lines.append(f"  {r['wall']:8.1f} s  compile {r['compile']:7.1f} s ({share:3.0f}%) "
                         f"{r['compiles']:5.0f} compiles  {name}")
    return lines


def load(folder: str | os.PathLike) -> dict:
    """Merge every ``census-*.json`` in ``folder``."""
    files = sorted(Path(folder).glob(_PREFIX + "*.json"))
    if not files:
        raise FileNotFoundError(f"no {_PREFIX}*.json in {folder}: run pytest with -p benchmarks.compile_census "
                                f"--compile-census={folder} first")
    parts = [json.loads(f.read_text()) for f in files]
    return merge(parts) | {"provenance": [p.get("provenance") for p in parts]}


def _write(path: Path, obj) -> None:
    from sgd_sde.io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


# ------------------------------------------------------------------------------ the pytest plugin
_STATE: dict = {}


def pytest_addoption(parser):
    parser.getgroup("compile census").addoption(
        "--compile-census", metavar="DIR", default=None,
        help="record JAX tracing/lowering/XLA compile time per test and program into DIR (benchmarks.compile_census)")


def pytest_configure(config):
    folder = config.getoption("--compile-census")
    if folder is None:
        return
    import jax.monitoring

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # the controller (or a run without xdist): start from an empty folder
        for old in out.glob(_PREFIX + "*.json"):
            old.unlink()
    census = Census()
    jax.monitoring.register_event_duration_secs_listener(census.listener)
    _STATE.update(census=census, out=out, worker=worker or "main")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    census = _STATE.get("census")
    if census is None:
        yield
        return
    census.current, t0 = item.nodeid, time.perf_counter()
    try:
        yield
    finally:
        census.add_wall(item.nodeid, time.perf_counter() - t0)
        census.current = OUTSIDE


def pytest_sessionfinish(session):
    census = _STATE.get("census")
    if census is None:
        return
    import jax.monitoring

    jax.monitoring.unregister_event_duration_listener(census.listener)
    from sgd_sde.provenance import provenance

    record = census.as_dict() | {"provenance": provenance({"argv": sys.argv, "worker": _STATE["worker"]})}
    if census.tests or os.environ.get("PYTEST_XDIST_WORKER") is not None:
        _write(_STATE["out"] / f"{_PREFIX}{_STATE['worker']}.json", record)


def pytest_terminal_summary(terminalreporter):
    if "out" not in _STATE or os.environ.get("PYTEST_XDIST_WORKER") is not None:
        return
    try:
        merged = load(_STATE["out"])
    except FileNotFoundError as e:
        terminalreporter.write_line(f"compile census: {e}")
        return
    _write(_STATE["out"] / "summary.json", merged)
    for line in summary_lines(merged):
        terminalreporter.write_line(line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="the --compile-census folder of a finished pytest run")
    ap.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    args = ap.parse_args(argv)
    if args.top < 1:
        ap.error(f"--top must be ≥ 1, got {args.top}")
    try:
        census = load(args.folder)
    except FileNotFoundError as e:
        print(f"compile census: {e}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(census, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
