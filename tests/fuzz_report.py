"""Measure bad-input handling of every public entry point and write the counts into
``docs/reliability.md`` (between the ``fuzz-report`` markers) from a saved bundle with provenance.

Every (entry point, argument, bad value) pair of ``tests/_fuzz.py`` is tried once — huge sizes
included — in a worker process watched by a timeout, so a hang or a crash of the interpreter is
counted (as ``other``) instead of stopping the run.

Usage (from the repository root)::

    python tests/fuzz_report.py                  # all entry points, writes docs/reliability.md
    python tests/fuzz_report.py --only simulate  # a subset, prints only
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import queue
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "reliability.md"
DATA = ROOT / "docs" / "data" / "fuzz_report"
START, END = "<!-- fuzz-report:start -->", "<!-- fuzz-report:end -->"
MEMORY_LIMIT = 6 << 30  # address space of a worker


def _worker(tasks, results):
    import resource

    # a huge allocation must fail here (MemoryError / RESOURCE_EXHAUSTED, counted) instead of
    # pushing the machine into the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    sys.path.insert(0, str(HERE))
    import _fuzz as F

    entries = {e.name: e for e in F.entries()}
    pools = {}
    while True:
        task = tasks.get()
        if task is None:
            return
        name, arg, label = task
        entry = entries[name]
        kind = entry.args[arg]
        if kind not in pools:
            pools[kind] = {b.label: b for b in F.bad_values(kind, report=True)}
        bad = pools[kind][label]
        t0 = time.perf_counter()
        outcome, detail = F.attempt(entry, arg, bad)
        results.put((name, arg, label, bad.must_reject, outcome, detail, time.perf_counter() - t0))


def _tasks(only):
    sys.path.insert(0, str(HERE))
    import _fuzz as F

    out = []
    for e in F.entries():
        if only and not any(o in e.name for o in only):
            continue
        for arg, kind in e.args.items():
            out += [(e.name, arg, b.label) for b in F.bad_values(kind, report=True)]
    return out


def run(only=(), timeout: float = 45.0):
    """Try every task; return a list of result rows."""
    ctx = mp.get_context("spawn")
    todo = collections.deque(_tasks(only))
    rows = []
    while todo:
        tasks, results = ctx.Queue(), ctx.Queue()
        for t in todo:
            tasks.put(t)
        tasks.put(None)
        proc = ctx.Process(target=_worker, args=(tasks, results), daemon=True)
        proc.start()
        started = time.monotonic()
        while todo:
            try:
                row = results.get(timeout=5.0)
            except queue.Empty:
                first = timeout + (60.0 if not rows else 0.0)  # the first task also imports JAX
                if not proc.is_alive() or time.monotonic() - started > first:
                    name, arg, label = todo.popleft()
                    why = "timeout" if proc.is_alive() else f"worker died (exit {proc.exitcode})"
                    rows.append((name, arg, label, True, "other", why, time.monotonic() - started))
                    print(f"  {name}({arg}={label}): {why}", flush=True)
                    proc.kill()
                    proc.join()
                    break
                continue
            rows.append(row)
            todo.popleft()
            started = time.monotonic()
            if row[4] in ("other", "unnamed"):
                print(f"  {row[0]}({row[1]}={row[2]}): {row[4]}: {row[5]}", flush=True)
        else:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return rows


def summarise(rows):
    counts = collections.Counter(r[4] for r in rows)
    per_entry = collections.defaultdict(collections.Counter)
    for r in rows:
        per_entry[r[0]][r[4]] += 1
    problems = [r for r in rows if r[4] in ("other", "unnamed", "silent")]
    return counts, per_entry, problems


def write_doc(rows, meta):
    from sgd_sde.io import replace_between_markers

    counts, per_entry, problems = summarise(rows)
    entries = sorted(per_entry)
    lines = [
        START,
        "",
        f"Measured by `python tests/fuzz_report.py` (commit `{meta['provenance'].get('git_commit', '?')}`, "
        f"{meta['provenance'].get('date', '?')}; data: `docs/data/fuzz_report.npz`).",
        "",
        "| quantity | count |",
        "|---|---|",
        f"| entry points | {len(entries)} |",
        f"| distinct bad inputs tried (entry point, argument, value) | {len(rows)} |",
        f"| refused with ValueError/TypeError naming the argument | {counts['named']} |",
        f"| accepted (a value a reasonable API may accept: a list for an array, a huge finite number) | {counts['accepted']} |",
        f"| **other exceptions** (not ValueError/TypeError; hangs; crashes) | **{counts['other']}** |",
        f"| ValueError/TypeError not naming the argument | {counts['unnamed']} |",
        f"| silently accepted invalid values (NaN, negative size, string for a number, …) | {counts['silent']} |",
        "",
    ]
    if problems:
        groups = collections.defaultdict(list)
        for name, arg, label, _must, outcome, detail, _t in problems:
            groups[(outcome, name, arg)].append((label, detail))
        lines += ["Problems found, grouped by outcome, entry point and argument (the bad values, and the first message):", ""]
        for (outcome, name, arg), items in sorted(groups.items()):
            labels = ", ".join(sorted({lab for lab, _ in items}))
            text = next((" ".join(str(d).split())[:140] for _, d in items if d), "")
            text = text.replace("|", "\\|").replace("`", "'")
            lines.append(f"- {outcome}: `{name}({arg}=…)` for {labels}" + (f" — {text}" if text else ""))
        lines.append("")
    lines += ["Per entry point (named / accepted / other / unnamed / silent):", "", "| entry point | named | accepted | other | unnamed | silent |",
              "|---|---|---|---|---|---|"]
    for e in entries:
        c = per_entry[e]
        lines.append(f"| `{e}` | {c['named']} | {c['accepted']} | {c['other']} | {c['unnamed']} | {c['silent']} |")
    lines += ["", END]
    replace_between_markers(DOC, (START, END), "\n" + "\n".join(lines[1:-1]) + "\n")


def write_from_data() -> None:
    """Rewrite the doc's table from the saved bundle (the numbers come from the data, not memory)."""
    from sgd_sde.io import load_bundle

    arrays, meta = load_bundle(DATA)
    rows = [tuple(r) + (float(t),) for r, t in zip(meta["rows"], arrays["seconds"])]
    write_doc(rows, meta)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="entry points whose name contains this")
    parser.add_argument("--timeout", type=float, default=45.0, help="seconds one trial may take")
    parser.add_argument("--from-data", action="store_true", help="only rewrite the doc from the saved data")
    args = parser.parse_args(argv)
    if args.from_data:
        write_from_data()
        return 0
    t0 = time.time()
    rows = run(tuple(args.only), args.timeout)
    counts, _, _ = summarise(rows)
    print(json.dumps(dict(counts)), f"{len(rows)} trials in {time.time() - t0:.0f} s")
    if args.only:
        return 0
    import numpy as np

    from sgd_sde.io import save_bundle
    from sgd_sde.provenance import provenance

    config = {"script": "tests/fuzz_report.py", "timeout": args.timeout}
    # messages are kept for the problems only (the refusals' messages would make the file large)
    meta = {"provenance": provenance(config),
            "rows": [list(r[:5]) + [r[5] if r[4] in ("other", "unnamed", "silent") else ""] for r in rows]}
    arrays = {"seconds": np.asarray([r[6] for r in rows], np.float64)}
    DATA.parent.mkdir(parents=True, exist_ok=True)
    save_bundle(DATA, arrays, meta)
    write_from_data()
    print(f"wrote {DOC.relative_to(ROOT)} and {DATA.relative_to(ROOT)}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
