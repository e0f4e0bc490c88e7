"""``sgd-sde reproduce``: run every claim's checks and every figure recipe, write the report.

What it writes under ``out``:

* ``claims.json`` — one record per check: ``id``, ``claim`` (the statement), ``level``,
  ``verdict``, ``measured``, ``expected``, ``tolerance``, ``ci``, ``seconds``, ``provenance``
  (plus ``kind``, ``figure``, ``note``, ``citation``);
* ``report.md`` — the verdict table (claim, level, verdict, measured vs expected, CI, figure link);
* ``report.html`` — the same, self-contained (figures embedded as base64 PNG);
* ``figures/<group>/<name>.png`` with the data behind each (``.npz`` + JSON, with provenance);
* ``experiments/`` — the real-network experiments' saved results (reused by a later run made by
  the same code, config and key).

Work is split into units that share expensive results: one unit per real-network experiment
(run once; its network checks and its figure), one per figure recipe (with the checks that read
its data), one per remaining claim source. ``jobs > 1`` runs the units in worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`, spawned). The exit status is 0 when every check
and figure ran (a refuted claim is an outcome, not a failure) and 1 if any errored.

Examples:
    >>> from sgd_sde.reproduce import figure_names
    >>> "gibbs" in figure_names() and "escape" in figure_names()
    True
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import dataclasses
import html
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .verdicts import OUTCOMES, Verdict

__all__ = ["reproduce", "ReproduceResult", "figure_names", "run_figure", "write_reports", "FIGURE_RECIPES",
           "update_paper_tables", "write_docs_pages", "verdict_table", "update_readme"]

# figure name -> (kind, target): kind "library" (sgd_sde.figures.<group>.<name>_figure), "claims"
# (sgd_sde.claims._figures), "experiment" (sgd_sde.experiments.<name>.figure)
_LIBRARY = {  # figure name -> (module of sgd_sde.figures, recipe function)
    "demo": ("demo", "demo_figure"), "sinai": ("diffusion", "sinai_figure"),
    "fractional": ("diffusion", "fractional_figure"), "first_passage": ("diffusion", "first_passage_figure"),
    "hoffer_diffusion": ("diffusion", "hoffer_figure"), "escape": ("stability", "escape_figure"),
    "radius": ("stability", "radius_figure"), "wu_ma_e": ("stability", "wu_ma_e_figure"),
    "zhu": ("stability", "zhu_figure"),
}


def _experiments() -> tuple[str, ...]:
    from .experiments import EXPERIMENTS

    return tuple(EXPERIMENTS)


def _experiment_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"sgd_sde.experiments.{name}") is not None


def _lrbench_available() -> bool:
    try:
        from . import lrbench

        from .lrbench import plots

        return hasattr(lrbench, "benchmark") and hasattr(plots, "plot_accuracy")
    except ImportError:
        return False


def FIGURE_RECIPES() -> dict[str, tuple[str, str]]:  # noqa: N802 - a registry read at call time
    """``{figure name: (kind, target)}`` of every figure ``reproduce`` draws (experiments that exist)."""
    from .claims._figures import FIGURES

    recipes = {n: ("library", g) for n, (g, _) in _LIBRARY.items()}
    recipes.update({n: ("claims", n) for n in FIGURES})
    for e in _experiments():
        if _experiment_available(e):
            recipes[e] = ("experiment", e)
    if _lrbench_available():
        recipes["lrbench"] = ("lrbench", "lrbench")
    return recipes


def figure_names() -> list[str]:
    """The names ``sgd-sde figure NAME`` accepts."""
    return sorted(FIGURE_RECIPES())


def _group(kind: str, target: str) -> str:
    return {"library": target, "claims": "claims", "experiment": "experiments", "lrbench": "lrbench"}[kind]


def run_figure(name: str, out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """Draw figure ``name`` into ``out_dir/<group>/`` (data saved next to it); returns the PNG path.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    recipes = FIGURE_RECIPES()
    if name not in recipes:
        raise ValueError(f"unknown figure {name!r}; choose from {sorted(recipes)}")
    kind, target = recipes[name]
    out = Path(out_dir) / _group(kind, target)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "library":
        import importlib

        fn = getattr(importlib.import_module(f"sgd_sde.figures.{target}"), _LIBRARY[name][1])
        return Path(fn(out, quick=bool(quick), key=int(key)))
    if kind == "claims":
        from .claims._figures import FIGURES

        return Path(FIGURES[name](out, key=int(key), quick=bool(quick)))
    if kind == "lrbench":
        from .claims._common import lrbench_result
        from .lrbench.plots import plot_accuracy

        res = lrbench_result(key, quick)
        res.save(out / "lrbench")  # the data behind the figure, with provenance
        return Path(plot_accuracy(res, out / "lrbench.png"))
    from .claims._common import experiment_result
    from .experiments import get

    res = experiment_result(target, key, quick)
    res.save(out / target)  # the data behind the figure, with provenance
    return Path(get(target).figure(res, out))


# ------------------------------------------------------------------------------------------ units of work
@dataclasses.dataclass(frozen=True)
class _Unit:
    name: str
    figure: str | None  # figure recipe to draw first (its data feeds the checks)
    checks: tuple[tuple[str, str], ...]  # (claim id, level)


def _plan(claims, figures: Sequence[str]) -> list[_Unit]:
    recipes = FIGURE_RECIPES()
    exp_of: dict[tuple[str, str], str] = {}
    for c in claims:
        if "network" in c.checks:
            src = getattr(c.checks["network"], "__name__", "")
            exp = src.split("<-", 1)[1].rstrip("]") if "<-" in src else None
            exp_of[(c.id, "network")] = exp or ("lrbench" if c.source == "lrbench2023" else c.source)
    units: dict[str, dict] = {}

    def unit(name, figure=None):
        return units.setdefault(name, {"figure": figure, "checks": []})

    for f in figures:
        kind, target = recipes[f]
        unit(f"{kind}:{f}", f)
    for c in claims:
        for level in c.levels:
            if level == "network":
                e = exp_of[(c.id, level)]
                fig = e if e in recipes and e in figures else None
                kind = "lrbench" if e == "lrbench" else "experiment"
                unit(f"{kind}:{e}", fig)["checks"].append((c.id, level))
            elif c.figure and c.figure in recipes and recipes[c.figure][0] in ("library", "claims"):
                kind, _ = recipes[c.figure]
                unit(f"{kind}:{c.figure}", c.figure if c.figure in figures else None)["checks"].append((c.id, level))
            else:
                unit(f"source:{c.source}")["checks"].append((c.id, level))
    # the network runs first (longest), then figures, then sources
    order = {"experiment": 0, "lrbench": 0, "library": 1, "claims": 2, "source": 3}
    return [_Unit(n, u["figure"], tuple(u["checks"]))
            for n, u in sorted(units.items(), key=lambda kv: (order.get(kv[0].split(":")[0], 9), kv[0]))]


def _init_worker(out: str) -> None:
    os.environ.setdefault("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", ""))
    from .claims._common import set_experiment_store, set_figure_dir

    set_figure_dir(Path(out) / "figures")
    set_experiment_store(Path(out) / "experiments")


def _figure_error(err: BaseException) -> str:
    """A failed figure recipe as reported: the error's line, then the end of its traceback."""
    return f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}"


def _run_unit(unit: _Unit, out: str, key: int, quick: bool) -> dict:
    """Run one unit in this process; every failure is captured, never raised."""
    from .claims import get_claim, run_check

    t0 = time.perf_counter()
    fig_path, fig_error = None, None
    if unit.figure is not None:
        try:
            fig_path = str(run_figure(unit.figure, Path(out) / "figures", key=key, quick=quick))
        except Exception as err:  # reported in the summary and the exit status
            fig_error = _figure_error(err)
    verdicts = []
    for cid, level in unit.checks:
        verdicts.append(run_check(get_claim(cid), level, key=key, quick=quick).to_json())
    return {"unit": unit.name, "figure": unit.figure, "figure_path": fig_path, "figure_error": fig_error,
            "verdicts": verdicts, "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------ the driver
@dataclasses.dataclass
class ReproduceResult:
    """What :func:`reproduce` did.

    Attributes:
        verdicts: one :class:`~sgd_sde.verdicts.Verdict` per check, in registry order.
        figures: ``{name: png path}`` of the figures drawn; figure_errors: ``{name: message}``.
        out: the output folder; seconds: wall time.
    """

    verdicts: list[Verdict]
    figures: dict[str, str]
    figure_errors: dict[str, str]
    out: Path
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(v.verdict == o for v in self.verdicts) for o in OUTCOMES}

    @property
    def exit_status(self) -> int:
        """0 when every check and figure ran, 1 otherwise."""
        return int(self.counts["error"] > 0 or bool(self.figure_errors))


def _progress_printer(total: int, stream) -> Callable[[dict], None]:
    done = {"n": 0, "t0": time.perf_counter()}

    def show(res: dict) -> None:
        for v in res["verdicts"]:
            done["n"] += 1
            m = "–" if v["measured"] is None else f"{v['measured']:.4g}"
            print(f"[{done['n']:>3}/{total}] {v['verdict']:<12} {v['claim']} ({v['level']}, measured {m}, "
                  f"{v['seconds']:.1f} s)", file=stream, flush=True)
        if res["figure"]:
            state = "FAILED: " + res["figure_error"].splitlines()[0] if res["figure_error"] else res["figure_path"]
            print(f"        figure {res['figure']}: {state}", file=stream, flush=True)
        print(f"        unit {res['unit']} done in {res['seconds']:.1f} s "
              f"(elapsed {time.perf_counter() - done['t0']:.0f} s)", file=stream, flush=True)

    return show


def reproduce(out="results", *, quick: bool = False, only: Iterable[str] | None = None,
              papers: Iterable[str] | None = None, jobs: int = 1, key: int = 0, figures: bool = True,
              write_papers: bool | None = None, progress: bool = True, stream=None) -> ReproduceResult:
    """Run the selected claims' checks and figure recipes; write claims.json, report.md, report.html.

    Args:
        out: output folder (created).
        quick: the quick versions (smaller, same code paths).
        only: claim ids or ``<source>`` names to run (default: all).
        papers: sources to run (e.g. ``["mccandlish2018"]``). Given with ``only``, a claim runs
            when it matches both (an empty intersection is an error).
        jobs: worker processes (1: in this process). Claims registered at run time (not in a
            module of :data:`sgd_sde.claims.SOURCES`) always run in this process.
        key: the integer seed every check derives its keys from.
        figures: draw the figures (all of them without a selection; with ``only``/``papers``,
            those the selected claims feed).
        write_papers: also write the results tables into ``papers/*.md`` (default: when run from
            the repository root). A note's table is replaced whole, by one run: it is rewritten
            only for the sources every claim of which this run checked; a selection that covers
            part of a source (``only=["golmant.lemma2_quadratic_form"]``) leaves that source's
            table as it was and says so on ``stream``. The docs pages and the README table are
            rewritten by a run of every claim only.
        progress: print one line per check to ``stream`` (default stderr).

    Returns:
        a :class:`ReproduceResult` (``.exit_status`` is what ``sgd-sde reproduce`` returns).

    Raises:
        ValueError: ``jobs < 1``, an unknown claim id / source, or ``only`` and ``papers`` that
            select no claim together.
    """
    from .claims import select

    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    only = None if only is None else [only] if isinstance(only, str) else list(only)  # one id, or several
    papers = None if papers is None else [papers] if isinstance(papers, str) else list(papers)
    claims = select(only, papers)
    if only and papers and not claims:
        raise ValueError(f"only (--only) {only} and papers (--paper) {papers} select no claim together: "
                         "a claim runs when it matches both; pass one of them")
    t0 = time.perf_counter()
    stream = sys.stderr if stream is None else stream
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recipes = FIGURE_RECIPES()
    if not figures:
        fig_names: list[str] = []
    elif only or papers:
        fig_names = sorted({c.figure for c in claims if c.figure in recipes})
    else:
        fig_names = sorted(recipes)
    units = _plan(claims, fig_names)
    total = sum(len(u.checks) for u in units)
    show = _progress_printer(total, stream) if progress else (lambda res: None)
    if progress:
        print(f"sgd-sde reproduce: {len(claims)} claims, {total} checks, {len(fig_names)} figures, "
              f"{'quick' if quick else 'full'} run, {jobs} job(s) -> {out}", file=stream, flush=True)
    results = []
    if jobs == 1:
        _init_worker(str(out))
        for u in units:
            res = _run_unit(u, str(out), key, quick)
            show(res)
            results.append(res)
    else:
        from .claims import SOURCES

        # claims registered at run time (users' own) exist only in this process: run their units here
        local = [u for u in units if any(cid.split(".", 1)[0] not in SOURCES for cid, _ in u.checks)]
        remote = [u for u in units if u not in local]
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                    initargs=(str(out),)) as pool:
            futures = {pool.submit(_run_unit, u, str(out), key, quick): u for u in remote}
            if local:
                _init_worker(str(out))
            for u in local:
                res = _run_unit(u, str(out), key, quick)
                show(res)
                results.append(res)
            for fut in cf.as_completed(futures):
                u = futures[fut]
                try:
                    res = fut.result()
                except Exception as err:  # a crashed worker: every check of the unit is an error
                    res = {"unit": u.name, "figure": u.figure, "figure_path": None,
                           "figure_error": f"{type(err).__name__}: {err}" if u.figure else None,
                           "verdicts": [Verdict.error(cid, lv, err).to_json() for cid, lv in u.checks], "seconds": 0.0}
                show(res)
                results.append(res)
    by_key = {(v["claim"], v["level"]): Verdict.from_json(v) for r in results for v in r["verdicts"]}
    verdicts = [by_key[(c.id, lv)] for c in claims for lv in c.levels if (c.id, lv) in by_key]
    figs = {r["figure"]: r["figure_path"] for r in results if r["figure"] and r["figure_path"]}
    fig_err = {r["figure"]: r["figure_error"] for r in results if r["figure"] and r["figure_error"]}
    _redraw_readers(figs, fig_err, out, key, quick, stream if progress else None)
    result = ReproduceResult(verdicts, dict(sorted(figs.items())), fig_err, out, time.perf_counter() - t0)
    write_reports(result, claims, quick=quick, key=key)
    if write_papers is None:
        write_papers = _in_repository()
    if write_papers:
        _verdict_paper_tables(result, claims, quick, stream if progress else None)
        _library_paper_tables(stream if progress else None)
        if not (only or papers):
            if (Path.cwd() / "docs").is_dir():
                write_docs_pages(result, Path.cwd() / "docs")
            update_readme(result, Path.cwd() / "README.md")
    if progress:
        c = result.counts
        print(f"done in {result.seconds:.0f} s: {len(verdicts)} checks — " + ", ".join(f"{c[o]} {o}" for o in OUTCOMES)
              + f"; {len(figs)} figures ({len(fig_err)} failed). Report: {out / 'report.md'}", file=stream, flush=True)
    return result


def _redraw_readers(figs: dict, fig_err: dict, out: Path, key: int, quick: bool, stream) -> None:
    """Redraw each figure of :data:`sgd_sde.figures.READS` (first_passage draws the fractional
    walks' fits next to its own) that this run drew, once the figures it reads are drawn: their
    units may have run after its own, or in other processes, and the figure must not depend on
    that order. The recipes find their data saved under ``out/figures`` and only draw; a failure
    is reported as that figure's error."""
    from .figures import READS

    for name, inputs in READS.items():
        if name not in figs or not all(i in figs for i in inputs):
            continue
        try:
            figs[name] = str(run_figure(name, out / "figures", key=key, quick=quick))
        except Exception as err:  # reported in the summary and the exit status
            fig_err[name] = _figure_error(err)
            del figs[name]
            continue
        if stream is not None:
            print(f"        figure {name}: redrawn with {', '.join(inputs)}: {figs[name]}", file=stream, flush=True)


def _verdict_paper_tables(result: ReproduceResult, claims, quick: bool, stream) -> None:
    """The verdict tables in papers/*.md of the sources every claim of which this run checked. A
    table holds one run, whole: a source checked in part keeps the table it had (its other rows
    would be lost, and the header could not say which run each row comes from)."""
    from .claims import all_claims

    chosen = {c.id for c in claims}
    sources = {c.source for c in claims}
    partial = sorted({c.source for c in all_claims() if c.source in sources and c.id not in chosen})
    written = update_paper_tables(result, [c for c in claims if c.source not in partial], Path.cwd() / "papers",
                                  quick=quick)
    if stream is not None and written:
        print(f"papers: verdict tables rewritten in {', '.join(p.name for p in written)}", file=stream, flush=True)
    if stream is not None and partial:
        print(f"papers: verdict tables of {', '.join(partial)} left as they were: this run checked only some of "
              f"their claims (`sgd-sde reproduce --paper SOURCE` rewrites a source's table)", file=stream, flush=True)


def _library_paper_tables(stream) -> None:
    """The figure recipes' own results tables in papers/*.md, from the repository's saved figure
    data (:func:`sgd_sde.figures.write_paper_tables`, where that function exists)."""
    try:
        from .figures import write_paper_tables
    except ImportError:
        return
    try:
        written = write_paper_tables(Path.cwd() / "papers", Path.cwd() / "figures")
    except (ValueError, OSError) as err:  # reported, never hides the verdicts
        if stream is not None:
            print(f"papers: the figure tables were not rewritten: {err}", file=stream, flush=True)
        return
    if stream is not None and written:
        print(f"papers: figure tables rewritten in {len(written)} notes from figures/", file=stream, flush=True)


def _in_repository() -> bool:
    here = Path.cwd()
    py = here / "pyproject.toml"
    return (here / "papers").is_dir() and py.exists() and 'name = "sgd_sde"' in py.read_text()


# ------------------------------------------------------------------------------------------ reports
def _fmt(x) -> str:
    if x is None:
        return "–"
    x = float(x)
    if x != x:
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def _expected(v: Verdict) -> str:
    if v.kind == "greater":
        return f"> {_fmt(v.expected)}"
    if v.kind == "less":
        return f"< {_fmt(v.expected)}"
    tol = "" if not v.tolerance else f" ± {_fmt(v.tolerance)}"
    return f"{_fmt(v.expected)}{tol}"


def _ci(v: Verdict) -> str:
    return "–" if v.ci is None else f"[{_fmt(v.ci[0])}, {_fmt(v.ci[1])}]"


def record(v: Verdict, citation: str = "") -> dict[str, Any]:
    """The claims.json record of one verdict."""
    from .io import jsonable

    return jsonable({"id": v.claim, "claim": v.statement, "level": v.level, "verdict": v.verdict,
                     "measured": v.measured, "expected": v.expected, "tolerance": v.tolerance,
                     "ci": None if v.ci is None else list(v.ci), "seconds": v.seconds, "provenance": v.provenance,
                     "kind": v.kind, "figure": v.figure, "note": v.note, "citation": citation})


def _cell(text: str) -> str:
    """Markdown table cell: pipes escaped (``|G|²`` would split the row)."""
    return str(text).replace("|", "\\|")


def _plain_roles(text: str) -> str:
    """Sphinx roles (``:func:`~a.b```) as plain code spans, for markdown pages."""
    import re

    return re.sub(r":(?:mod|func|class|meth|data|attr):`~?([^`]+)`", r"`\1`", text)


def verdict_table(verdicts: Sequence[Verdict], figure_links: dict[str, str] | None = None) -> str:
    """The markdown verdict table (claim, level, verdict, measured, expected, CI, figure)."""
    links = figure_links or {}
    rows = ["| claim | level | verdict | measured | expected | 95% CI | figure |", "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        fig = f"[{v.figure}]({links[v.figure]})" if v.figure in links else (v.figure or "–")
        rows.append(f"| `{v.claim}` | {v.level} | **{v.verdict}** | {_fmt(v.measured)} | {_cell(_expected(v))} "
                    f"| {_ci(v)} | {fig} |")
    return "\n".join(rows)


def write_reports(result: ReproduceResult, claims, *, quick: bool, key: int) -> None:
    """Write ``claims.json``, ``report.md`` and ``report.html`` into ``result.out``."""
    from .io import atomic_write_bytes
    from .provenance import provenance

    out = result.out
    cite = {c.id: c.citation for c in claims}
    records = [record(v, cite.get(v.claim, "")) for v in result.verdicts]
    atomic_write_bytes(out / "claims.json", json.dumps(records, indent=1, ensure_ascii=False).encode())
    prov = provenance({"quick": quick, "n_checks": len(records)}, key=key)
    links = {n: os.path.relpath(p, out) for n, p in result.figures.items()}
    c = result.counts
    head = (f"# sgd-sde reproduce — {'quick' if quick else 'full'} run\n\n"
            f"{len(claims)} claims, {len(result.verdicts)} checks: " + ", ".join(f"**{c[o]} {o}**" for o in OUTCOMES)
            + f"; {len(result.figures)} figures. Wall time {result.seconds:.0f} s. Code `{prov['code'][:12]}`"
            f" (git `{str(prov.get('git_commit'))[:12]}`), key {key}, {prov['date']}.\n")
    md = [head, "## Verdicts\n", verdict_table(result.verdicts, links), ""]
    errs = [v for v in result.verdicts if v.verdict == "error"]
    if errs or result.figure_errors:
        md.append("## Errors\n")
        md += [f"- `{v.claim}` ({v.level}): {v.note}" for v in errs]
        md += [f"- figure `{n}`: {e.splitlines()[0]}" for n, e in result.figure_errors.items()]
        md.append("")
    md.append("## Notes (what each check measured)\n")
    md += [f"- `{v.claim}` ({v.level}): {v.note}" for v in result.verdicts if v.note and v.verdict != "error"]
    md.append("\n## Figures\n")
    md += [f"### {n}\n\n![{n}]({links[n]})\n" for n in links]
    atomic_write_bytes(out / "report.md", "\n".join(md).encode())
    atomic_write_bytes(out / "report.html", _html(result, head, links).encode())


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
        ".supported{background:#e3f6e3}.refuted{background:#fde2e2}.inconclusive{background:#fff6d6}"
        ".error{background:#f3c0c0}img{max-width:100%;border:1px solid #eee}code{font-size:12px}")


def _html(result: ReproduceResult, head_md: str, links: dict[str, str]) -> str:
    esc = html.escape
    rows = []
    for v in result.verdicts:
        fig = f'<a href="#fig-{esc(v.figure)}">{esc(v.figure)}</a>' if v.figure in links else esc(v.figure or "–")
        rows.append(f'<tr class="{v.verdict}"><td><code>{esc(v.claim)}</code><br><small>{esc(v.statement)}</small></td>'
                    f"<td>{v.level}</td><td><b>{v.verdict}</b></td><td>{_fmt(v.measured)}</td>"
                    f"<td>{esc(_expected(v))}</td><td>{esc(_ci(v))}</td><td>{fig}</td>"
                    f"<td><small>{esc(v.note)}</small></td></tr>")
    figs = []
    for name, rel in links.items():
        data = base64.b64encode((result.out / rel).read_bytes()).decode()
        figs.append(f'<h3 id="fig-{esc(name)}">{esc(name)}</h3><img alt="{esc(name)}" src="data:image/png;base64,{data}">')
    title = esc(head_md.splitlines()[0].lstrip("# "))
    summary = esc(" ".join(head_md.splitlines()[2:])).replace("**", "")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head>"
            f"<body><h1>{title}</h1><p>{summary}</p><h2>Verdicts</h2><table><tr><th>claim</th><th>level</th>"
            f"<th>verdict</th><th>measured</th><th>expected</th><th>95% CI</th><th>figure</th><th>note</th></tr>"
            + "".join(rows) + "</table><h2>Figures</h2>" + "".join(figs) + "</body></html>")


# ------------------------------------------------------------------------------------------ papers/*.md
#: the paper note each source's table goes into (created by reproduce when missing)
PAPER_NOTES = {
    "mccandlish2018": "mccandlish-2018.md", "keskar2017": "keskar-2017.md", "smithle2018": "smith-le-2018.md",
    "smith2018": "smith-2018.md", "izmailov2018": "izmailov-2018.md", "hoffer2017": "hoffer-2017.md",
    "lrbench2023": "lrbench-2023.md", "golmant": "golmant-fine-tuned-noise.md", "mcallester": "mcallester-2023.md",
    "mandt2017": "mandt-2017.md", "chaudhari2018": "chaudhari-soatto-2018.md", "wuma2018": "wu-ma-e-2018.md",
    "zhu2019": "zhu-2019-anisotropic-noise.md", "xie2021": "xie-2021-diffusion-theory.md",
    "li2021svag": "li-malladi-arora-2021.md", "bouchaud1990": "bouchaud-georges-1990.md",
    "simsekli2019": "simsekli-2019.md",
}
START, END = "<!-- sgd-sde reproduce: verdicts start -->", "<!-- sgd-sde reproduce: verdicts end -->"


def _links_inside(figures: dict, base) -> dict[str, str]:
    """Relative links from ``base`` to the figures inside the repository: the committed copy under
    ``figures/`` where there is one, else the drawn file if it lies inside the repository (a run
    written to ``--out /tmp/...`` must not leave links into /tmp in the committed notes)."""
    root = Path.cwd().resolve()
    out = {}
    for name, p in figures.items():
        target = Path(p).resolve()
        parts = target.parts
        if "figures" in parts:  # the committed copy of the same figure, figures/<kind>/<name>.png
            committed = root.joinpath("figures", *parts[len(parts) - parts[::-1].index("figures"):])
            if committed.exists():
                target = committed
        if target.is_relative_to(root):
            out[name] = os.path.relpath(target, Path(base).resolve())
    return out


def update_paper_tables(result: ReproduceResult, claims, papers_dir, *, quick: bool | None = None) -> list[Path]:
    """Write each source's verdict table between the markers of its note in ``papers_dir``.

    The table between the markers is replaced whole by the verdicts of ``result`` for ``claims``:
    pass every claim of a source whose table is to be written (:func:`reproduce` passes only the
    sources its run checked completely), or the rows of the others are lost. A note without the
    markers gets a "Verdicts" section appended; a missing note is created with the claims'
    statements and the table. The header calls the run ``quick`` or ``full`` as ``quick`` says
    (``None``: ``quick`` when a verdict's provenance says so, else ``run``). Returns the files written.
    """
    from .io import atomic_write_bytes, replace_between_markers

    papers_dir = Path(papers_dir)
    written = []
    by_source: dict[str, list] = {}
    for c in claims:
        by_source.setdefault(c.source, []).append(c)
    for source, cs in by_source.items():
        ids = {c.id for c in cs}
        vs = [v for v in result.verdicts if v.claim in ids]
        if not vs:
            continue
        name = PAPER_NOTES.get(source, f"{source}.md")
        path = papers_dir / name
        links = _links_inside(result.figures, papers_dir) if _in_repository() else {}
        prov = vs[0].provenance or {}
        if quick is None:
            label = "quick" if any((v.provenance or {}).get("config", {}).get("quick") for v in vs) else "run"
        else:
            label = "quick" if quick else "full"
        inner = (f"\n_Generated by `sgd-sde reproduce` ({label};"
                 f" code `{str(prov.get('code', ''))[:19]}`, {prov.get('date', '')}); do not edit by hand._\n\n"
                 + verdict_table(vs, links) + "\n")
        block = START + inner + END
        if path.exists():
            text = path.read_text()
            if START in text or END in text:  # a missing or duplicated marker is refused, naming the file
                replace_between_markers(path, (START, END), inner)
                written.append(path)
                continue
            text = text.rstrip() + "\n\n## Verdicts (sgd-sde reproduce)\n\n" + block + "\n"
        else:
            title = cs[0].citation
            lines = [f"# {title}\n", "## Claims\n"] + [f"- `{c.id}` — {c.statement}" for c in cs]  # a list: no pipes issue
            text = "\n".join(lines) + "\n\n## Verdicts (sgd-sde reproduce)\n\n" + block + "\n"
        atomic_write_bytes(path, text.encode())
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------ docs pages
def write_docs_pages(result: ReproduceResult | None, docs_dir, claims=None) -> list[Path]:
    """Write ``docs/papers/<source>.md`` (claims, method, verdict table, figures) for every source.

    Figures the verdicts link to are copied into ``docs/figures/`` so the site is self-contained.
    Without a ``result`` the pages list the claims and say how to produce the table.
    """
    import importlib
    import shutil

    from .claims import all_claims
    from .io import atomic_write_bytes

    docs_dir = Path(docs_dir)
    claims = all_claims() if claims is None else list(claims)
    (docs_dir / "papers").mkdir(parents=True, exist_ok=True)
    (docs_dir / "figures").mkdir(parents=True, exist_ok=True)
    figs = dict(result.figures) if result is not None else {}
    for name, src in figs.items():
        shutil.copyfile(src, docs_dir / "figures" / f"{name}.png")
    by_source: dict[str, list] = {}
    for c in claims:
        by_source.setdefault(c.source, []).append(c)
    written = []
    index = ["# Source papers\n", "One page per source: its claims, how each is checked, the verdicts of the last "
             "`sgd-sde reproduce` run and the figures.\n", "| source | claims | citation |", "|---|---|---|"]
    for source in sorted(by_source):
        cs = by_source[source]
        module = importlib.import_module(f"sgd_sde.claims.{source}")
        doc = (module.__doc__ or "").strip().split("\n\n")
        lines = [f"# {source}\n", f"*{cs[0].citation}*\n", "## Claims\n", "| id | statement | levels |", "|---|---|---|"]
        lines += [f"| `{c.id}` | {_cell(c.statement)} | {', '.join(c.levels)} |" for c in cs]
        lines += ["\n## How they are checked\n",
                  _plain_roles("\n\n".join(p for p in doc[1:] if not p.startswith("References"))) or
                  "See the module `sgd_sde.claims." + source + "`.", ""]
        lines += [f"Source: `sgd_sde/claims/{source}.py`. Re-run: `sgd-sde reproduce --paper {source}`.\n",
                  "## Verdicts\n"]
        ids = {c.id for c in cs}
        vs = [v for v in (result.verdicts if result is not None else []) if v.claim in ids]
        if vs:
            prov = vs[0].provenance or {}
            lines += [f"From the last run (code `{str(prov.get('code', ''))[:19]}`, {prov.get('date', '')}):\n",
                      verdict_table(vs, {n: f"../figures/{n}.png" for n in figs}), ""]
            lines += [f"- `{v.claim}` ({v.level}): {v.note}" for v in vs if v.note]
        else:
            lines.append("Not run yet: `sgd-sde reproduce --paper " + source + "` writes this table.")
        shown = sorted({c.figure for c in cs if c.figure in figs} | {v.figure for v in vs if v.figure in figs})
        if shown:
            lines.append("\n## Figures\n")
            lines += [f"![{n}](../figures/{n}.png)\n" for n in shown]
        path = docs_dir / "papers" / f"{source}.md"
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
        written.append(path)
        index.append(f"| [{source}]({source}.md) | {len(cs)} | {_cell(cs[0].citation)} |")
    atomic_write_bytes(docs_dir / "papers" / "index.md", ("\n".join(index) + "\n").encode())
    return written


README_START, README_END = "<!-- sgd-sde reproduce: readme table start -->", "<!-- sgd-sde reproduce: readme table end -->"


def update_readme(result: ReproduceResult, readme, *, n_rows: int = 8, figure: str = "gibbs") -> bool:
    """Write the first ``n_rows`` of the verdict table and ``figure`` between the README's markers.

    The figure is copied (with its data) to ``figures/claims/`` next to the README. Returns whether
    the README had the markers (nothing is written otherwise).
    """
    import shutil

    from .io import replace_between_markers

    readme = Path(readme)
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    c = result.counts
    lines = [README_START, "",
             f"_{len(result.verdicts)} checks: " + ", ".join(f"{c[o]} {o}" for o in OUTCOMES)
             + f" — the first {n_rows} rows of `results/report.md`, written by `sgd-sde reproduce`:_", "",
             verdict_table(result.verdicts[:n_rows]), ""]
    if figure in result.figures:
        dest = readme.parent / "figures" / "claims"
        dest.mkdir(parents=True, exist_ok=True)
        src = Path(result.figures[figure])
        for f in src.parent.glob(f"{src.stem}.*"):
            shutil.copyfile(f, dest / f.name)
        lines += [f"![{figure}](figures/claims/{src.name})", ""]
    replace_between_markers(readme, (README_START, README_END), "\n" + "\n".join(lines[1:]) + "\n")
    return True
