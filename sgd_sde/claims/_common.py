"""What the claim modules share: deciding a verdict with provenance, the SymPy checks, the
experiments' network verdicts (one run per experiment per process, shared by its claims), keys.

Nothing here decides an outcome by itself: every verdict goes through
:meth:`sgd_sde.verdicts.Verdict.decide` on numbers measured by the library.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import provenance
from ..verdicts import ExperimentResult, Verdict

__all__ = [
    "decide", "symbolic_check", "network_check", "experiment_result", "set_experiment_store",
    "set_experiment_size", "prng", "np_rng", "lrbench_result", "set_figure_dir", "figure_dir", "figure_data",
    "set_figure_source", "saved_figure_stem", "set_experiment_source",
]


def prng(key: int, *salt: int):
    """A ``jax.random`` key derived from the integer ``key`` and the check's ``salt``."""
    import jax

    k = jax.random.key(int(key))
    for s in salt:
        k = jax.random.fold_in(k, int(s))
    return k


def np_rng(key: int, *salt: int) -> np.random.Generator:
    """A NumPy generator derived from the integer ``key`` and ``salt`` (for drawing data sets)."""
    return np.random.default_rng([int(key), *map(int, salt)])


def decide(claim: str, level: str, measured, expected, *, key: int, config: Mapping[str, Any], tolerance=None,
           ci=None, kind: str = "equal", note: str = "", figure: str | None = None) -> Verdict:
    """:meth:`Verdict.decide` with the provenance of ``config`` and ``key`` attached."""
    return Verdict.decide(claim, level, None if measured is None else float(measured),
                          None if expected is None else float(expected), tolerance=tolerance, ci=ci, kind=kind,
                          provenance=provenance(config, key=int(key)), note=note, figure=figure)


@functools.lru_cache(maxsize=None)
def _topic_checks(topic: str):
    from ..theory import verify

    return {c.name: c for c in verify([topic])}


def symbolic_check(claim: str, names: Iterable[str], numeric: Callable[[], tuple[float, float, str]] | None = None,
                   *, figure: str | None = None) -> Callable:
    """A symbolic check: the named :func:`sgd_sde.theory.verify` derivations hold.

    Measured: the fraction of the named SymPy/exact checks that pass (expected 1, tolerance 0).
    With ``numeric``, a function returning ``(value, expected, what)`` evaluated from the
    lambdified formula, the measured value is instead that value, and the verdict needs both
    (a failing derivation makes the measured value NaN: inconclusive, and the note says why).

    Args:
        claim: the claim id.
        names: theory check names, ``"<topic>.<name>"`` (see ``sgd-sde theory``).
        numeric: optional numeric reading of the formula.
        figure: the figure it feeds.
    """
    names = tuple(names)

    def check(key, quick):
        found = []
        for n in names:
            topic = n.split(".", 1)[0]
            checks = _topic_checks(topic)
            if n not in checks:
                raise KeyError(f"theory check {n!r} not found; topic {topic} has {sorted(checks)}")
            found.append(checks[n])
        n_pass = sum(c.passed for c in found)
        frac = n_pass / len(found)
        note = "; ".join(f"{c.name}: {'PASS' if c.passed else 'FAIL'} ({c.detail[:160]})" for c in found)
        cfg = {"theory_checks": list(names)}
        if numeric is None:
            return decide(claim, "symbolic", frac, 1.0, tolerance=0.0, key=key, config=cfg, note=note, figure=figure)
        value, expected, what = numeric()
        measured = value if n_pass == len(found) else float("nan")
        tol = 1e-9 * max(1.0, abs(expected))
        return decide(claim, "symbolic", measured, expected, tolerance=tol, key=key, config=cfg,
                      note=f"{what}; {note}", figure=figure)

    check.__name__ = f"symbolic[{claim}]"
    return check


# --- experiments: one run per (name, key, size) per process, optionally stored on disk -----------------

_LOCK = threading.Lock()
_RESULTS: dict[tuple, ExperimentResult] = {}
_STORE: dict[str, Any] = {"dir": None, "size": None, "source": None}


def set_experiment_source(directory: str | os.PathLike | None) -> None:
    """Read experiment results already saved as ``<directory>/<name>.npz`` (e.g. the repository's
    ``figures/experiments/``) instead of running them, where present — to re-judge the network
    claims on saved runs without retraining."""
    _STORE["source"] = None if directory is None else Path(directory)


def set_experiment_store(directory: str | os.PathLike | None) -> None:
    """Save each experiment's result under ``directory`` (and reuse a saved one made by this code)."""
    _STORE["dir"] = None if directory is None else Path(directory)


def set_experiment_size(size: str | None) -> None:
    """Force the experiments' ``size`` (``"toy"`` in tests; ``None``: from ``quick``)."""
    _STORE["size"] = size


def _size(quick: bool) -> str:
    return _STORE["size"] or ("quick" if quick else "full")


def experiment_result(name: str, key: int, quick: bool) -> ExperimentResult:
    """The result of experiment ``name`` (:mod:`sgd_sde.experiments`), run once and shared.

    A result saved in the store (:func:`set_experiment_store`) is reused when its provenance
    matches the running code, config and key; otherwise the experiment runs and is saved.
    """
    size = _size(quick)
    k = (name, int(key), size)
    with _LOCK:
        if k in _RESULTS:
            return _RESULTS[k]
    src = _STORE["source"]
    if src is not None and (src / f"{name}.npz").exists():
        result = ExperimentResult.load(src / name)
        with _LOCK:
            _RESULTS[k] = result
        return result
    from ..experiments import get

    module = get(name)
    path = None if _STORE["dir"] is None else _STORE["dir"] / f"{name}-{size}-key{int(key)}"
    result = None
    if path is not None and path.with_suffix(".npz").exists():
        from ..provenance import stale_reason

        try:
            cached = ExperimentResult.load(path)
            if stale_reason(cached.provenance, key=None) is None and cached.config.get("size", size) == size:
                result = cached
        except (OSError, ValueError, KeyError):
            result = None
    if result is None:
        result = module.run(int(key), quick=bool(quick), size=size)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            result.save(path)
    with _LOCK:
        _RESULTS[k] = result
    return result


def network_check(claim: str, experiment: str, verdict: str | None = None) -> Callable | None:
    """A network check read off experiment ``experiment``'s verdict ``verdict`` (default: ``claim``).

    The verdict is re-decided from the experiment's measured numbers (``Verdict.decide``) under
    this claim's id, with the experiment's provenance. ``None`` (the claim then has no network
    level) when the experiment module is not part of this installation.
    """
    import importlib.util

    if importlib.util.find_spec(f"sgd_sde.experiments.{experiment}") is None:
        return None
    wanted = verdict or claim

    def check(key, quick):
        res = experiment_result(experiment, key, quick)
        v = res.verdict(wanted)
        if v.verdict == "error":
            raise RuntimeError(f"experiment {experiment} reported an error for {wanted}: {v.note}")
        return Verdict.decide(claim, "network", v.measured, v.expected, tolerance=v.tolerance, ci=v.ci, kind=v.kind,
                              provenance=dict(res.provenance), figure=v.figure or experiment,
                              note=f"{experiment} experiment ({_size(quick)}): {v.note}")

    check.__name__ = f"network[{claim}<-{experiment}]"
    return check


def lrbench_result(key: int, quick: bool):
    """The LR-policy benchmark (:func:`sgd_sde.lrbench.benchmark` on digits), run once per process.

    ``quick`` is the benchmark's own smoke size; the ``"toy"`` size (tests) keeps three policies,
    two seeds and 60 steps — the same code path.
    """
    size = _size(quick)
    k = ("lrbench", int(key), size)
    with _LOCK:
        if k in _RESULTS:
            return _RESULTS[k]
    from ..lrbench import benchmark

    if size == "toy":
        res = benchmark(prng(key, 1201), ["FIX", "STEP", "COS"], seeds=[0, 1], n_steps=60, eval_every=20)
    else:
        res = benchmark(prng(key, 1201), quick=size == "quick")
    with _LOCK:
        _RESULTS[k] = res
    return res


# --- figure recipes whose data several claims read (computed once, then drawn by reproduce) ----------

_FIGDIR: dict[str, Path | None] = {"dir": None, "source": None}


def set_figure_source(directory: str | os.PathLike | None) -> None:
    """Read figure data already saved under ``directory`` (e.g. the repository's ``figures/``)
    instead of running the recipe, where it exists — to re-judge claims on saved data."""
    _FIGDIR["source"] = None if directory is None else Path(directory)


def saved_figure_stem(group: str, name: str) -> Path | None:
    """``<source>/<group>/<name>`` if :func:`set_figure_source` points at saved data for it."""
    src = _FIGDIR["source"]
    if src is not None and (src / group / f"{name}.npz").exists():
        return src / group / name
    return None


def _load_saved(stem: Path) -> tuple[dict, dict]:
    from ..io import load_arrays

    try:
        return load_arrays(stem)
    except ValueError:  # a result saved before single-file bundles (npz + JSON pair)
        return load_arrays(stem, legacy=True)


def set_figure_dir(directory: str | os.PathLike | None) -> None:
    """Where the figure recipes the claims call write their data and PNGs (``reproduce`` sets it)."""
    _FIGDIR["dir"] = None if directory is None else Path(directory)


def figure_dir() -> Path:
    """The figure directory (a per-process temporary one unless :func:`set_figure_dir` was called)."""
    if _FIGDIR["dir"] is None:
        import tempfile

        _FIGDIR["dir"] = Path(tempfile.mkdtemp(prefix="sgd_sde_claims_"))
    return _FIGDIR["dir"]


def figure_data(group: str, name: str, key: int, quick: bool) -> tuple[dict, dict]:
    """Run figure recipe ``sgd_sde.figures.<group>.<name>_figure`` (or reuse its saved data) and read
    back ``(arrays, metadata)`` — the numbers the figure shows, so a claim and its figure agree."""
    import importlib

    from ..io import load_arrays

    saved = saved_figure_stem(group, name)
    if saved is not None:
        return _load_saved(saved)
    module = importlib.import_module(f"sgd_sde.figures.{group}")
    out = figure_dir() / group
    with _LOCK:
        getattr(module, f"{name}_figure")(out, quick=bool(quick), key=int(key))
    return _load_saved(out / name)
