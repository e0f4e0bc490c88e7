r"""Shared helpers of the real-network experiments (:mod:`sgd_sde.experiments`).

Every experiment module follows one shape:

* ``run(key, *, quick: bool = False, size: str | None = None, ...) -> ExperimentResult`` —
  ``size`` is ``"toy"`` (tests: seconds), ``"quick"`` (``quick=True``: the same code path at
  small sizes) or ``"full"``; :func:`resolve_size` turns the pair into one name.
* ``figure(result, out_dir) -> Path`` — draws ``<out_dir>/<result.name>.png`` from the
  (saved) result's ``data`` only, never retraining (:func:`figure_path`, :func:`save_figure`).

This module holds what they share: the data sets (:func:`digits`, :func:`teacher_student`, both
through :func:`sgd_sde.networks.load_dataset`), the default MLP (:func:`mlp_fn`), keys
(:func:`as_key`), confidence intervals over seeds (:func:`bootstrap_ci`, :func:`mean_ci`,
:func:`ratio_ci`), building a result with provenance (:func:`make_result`, :class:`Timer`), and
the markdown table of several results (:func:`results_table`). Its API is stable: other
experiment modules import it; add to it, do not change what is here.

Non-finite values (diverged runs) are never dropped silently: :func:`bootstrap_ci` and
:func:`mean_ci` return NaN when any value is non-finite, and :func:`count_nonfinite` reports how
many, so a verdict judged on them is ``"inconclusive"`` and says why.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as V
from ..provenance import provenance
from ..verdicts import ExperimentResult, Verdict

__all__ = [
    "SIZES",
    "resolve_size",
    "as_key",
    "digits",
    "teacher_student",
    "mlp_fn",
    "bootstrap_ci",
    "mean_ci",
    "ratio_ci",
    "count_nonfinite",
    "Timer",
    "make_result",
    "figure_path",
    "save_figure",
    "results_table",
    "rerun_command",
    "reproduce",
]

SIZES = ("toy", "quick", "full")


def resolve_size(quick: bool, size: str | None) -> str:
    """The run size: ``size`` if given (one of :data:`SIZES`), else ``"quick"`` or ``"full"``.

    Raises:
        ValueError: an unknown ``size``. TypeError: a non-bool ``quick``.

    Examples:
        >>> resolve_size(True, None), resolve_size(False, None), resolve_size(False, "toy")
        ('quick', 'full', 'toy')
    """
    quick = V.flag("quick", quick)
    if size is None:
        return "quick" if quick else "full"
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES} or None, got size={size!r}")
    return size


def as_key(key):
    """A typed ``jax.random`` key from a key or a non-negative int seed (experiments accept both,
    so ``run(0, quick=True)`` works from the command line).

    Raises:
        TypeError: anything else.
    """
    import jax

    if isinstance(key, (bool, np.bool_)):
        raise TypeError(f"key must be a jax.random key or an int seed, got {key!r}")
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError(f"key must be a non-negative int seed or a jax.random key, got key={key}")
        return jax.random.key(int(key))
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if hasattr(key, "shape") and tuple(key.shape) == (2,) and np.asarray(key).dtype == np.uint32:
        return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be a jax.random key or an int seed, got {type(key).__name__}")


# ---------------------------------------------------------------------------- data and models
def digits(n_train: int | None = None, n_test: int | None = None):
    """scikit-learn's digits with the library's fixed split (test iff ``index % 5 == 4``; 1438
    train, 359 test), optionally the first ``n_train``/``n_test`` examples of each part.

    Examples:
        >>> digits(200, 50).x_train.shape
        (200, 1, 8, 8)
    """
    from ..networks import load_dataset

    ds = load_dataset("digits")
    if n_train is None and n_test is None:
        return ds
    return ds.subset(n_train, n_test)


def teacher_student(n_train: int, *, n_test: int = 1000, d: int = 20, n_classes: int = 2, teacher_width: int = 32,
                    label_noise: float = 0.0, seed: int = 0):
    """Teacher–student data (:func:`sgd_sde.networks.load_dataset`), for experiments where ``N``
    must vary beyond the digits' 1438 training examples.

    Examples:
        >>> teacher_student(64, n_test=32, d=5).x_train.shape
        (64, 5)
    """
    from ..networks import load_dataset

    return load_dataset("teacher_student", n_train=n_train, n_test=n_test, d=d, n_classes=n_classes,
                        teacher_width=teacher_width, label_noise=label_noise, seed=seed)


def mlp_fn(data, widths: Sequence[int] = (32,)) -> Callable:
    """``key -> MLP(data.input_shape, data.n_classes, widths)``: the experiments' default model."""
    from ..networks import MLP

    shape, n_cls, ws = data.input_shape, data.n_classes, tuple(widths)
    return lambda k: MLP(shape, n_cls, ws, key=k)


# ---------------------------------------------------------------------------- intervals
def count_nonfinite(values) -> int:
    """How many entries of ``values`` are NaN or infinite (diverged runs)."""
    return int(np.sum(~np.isfinite(np.asarray(values, np.float64))))


def bootstrap_ci(values, *, stat: Callable = np.mean, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                 axis: int = 0, max_nan_fraction: float = 0.0) -> tuple[float, float]:
    r"""Percentile bootstrap interval of ``stat`` over the resampled leading axis (seeds, batches).

    The resampling uses ``numpy.random.default_rng(seed)``, so the interval is deterministic.
    ``stat`` receives an array whose ``axis`` has the resampled entries and must reduce it (it
    may reduce further, e.g. a fitted exponent over a grid; it must return a scalar).

    Args:
        values: array whose ``axis`` indexes independent replicates (≥ 2 of them).
        stat: statistic, ``stat(sample, axis=axis) -> scalar`` (default: the mean).
        n_boot: bootstrap resamples (≥ 100).
        level: coverage in (0, 1).
        seed: resampling seed.
        axis: the replicate axis.
        max_nan_fraction: the fraction of resamples on which ``stat`` may be undefined (NaN, e.g.
            a peak that a resample does not bracket); those are dropped. Default 0: any NaN
            resample gives a NaN interval.

    Returns:
        ``(lo, hi)`` floats; ``(nan, nan)`` if any value is non-finite (a diverged run must not
        be averaged away; see :func:`count_nonfinite`) or ``stat`` is non-finite on more than
        ``max_nan_fraction`` of the resamples.

    Raises:
        ValueError: fewer than 2 replicates, ``n_boot < 100`` or ``level`` outside (0, 1).

    Examples:
        >>> lo, hi = bootstrap_ci(np.arange(10.0))
        >>> lo < 4.5 < hi
        True
        >>> bootstrap_ci([1.0, float("nan"), 2.0])
        (nan, nan)
    """
    x = np.asarray(values, np.float64)
    if x.ndim == 0 or x.shape[axis] < 2:
        raise ValueError(f"values must have >= 2 replicates along axis {axis}, got shape {x.shape}")
    n_boot = V.positive_int("n_boot", n_boot)
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got n_boot={n_boot}")
    level = V.as_float("level", level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got level={level}")
    if count_nonfinite(x):
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    n = x.shape[axis]
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = np.asarray([float(stat(np.take(x, i, axis=axis), axis=axis)) for i in idx])
    bad = ~np.isfinite(stats)
    if bad.mean() > max_nan_fraction or bad.all():
        return (math.nan, math.nan)
    stats = stats[~bad]
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [a, 1.0 - a])
    return (float(lo), float(hi))


def mean_ci(values, **kwargs) -> tuple[float, tuple[float, float]]:
    """``(mean, bootstrap CI of the mean)`` over the leading axis; NaN when a value is non-finite.

    Examples:
        >>> m, (lo, hi) = mean_ci([1.0, 2.0, 3.0, 4.0])
        >>> m, lo <= m <= hi
        (2.5, True)
    """
    x = np.asarray(values, np.float64)
    ci = bootstrap_ci(x, **kwargs)
    return (float(np.mean(x)) if not count_nonfinite(x) else math.nan), ci


def ratio_ci(num, den, **kwargs) -> tuple[float, tuple[float, float]]:
    """``mean(num)/mean(den)`` and its paired bootstrap CI (``num[i]``, ``den[i]`` from replicate ``i``).

    Examples:
        >>> r, (lo, hi) = ratio_ci([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
        >>> r, lo, hi
        (2.0, 2.0, 2.0)
    """
    a, b = np.asarray(num, np.float64), np.asarray(den, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"num and den must have the same shape, got {a.shape} and {b.shape}")
    both = np.stack([a, b], axis=-1)
    ci = bootstrap_ci(both, stat=lambda s, axis=0: np.mean(s[..., 0], axis=axis) / np.mean(s[..., 1], axis=axis), **kwargs)
    point = float(np.mean(a) / np.mean(b)) if not (count_nonfinite(a) or count_nonfinite(b)) else math.nan
    return point, ci


# ---------------------------------------------------------------------------- results
class Timer:
    """Wall-clock seconds since construction (``Timer().seconds``), for ``Verdict.seconds``."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def make_result(name: str, citation: str, verdicts: Iterable[Verdict], data: Mapping[str, Any], config: Mapping[str, Any],
                key) -> ExperimentResult:
    """An :class:`~sgd_sde.verdicts.ExperimentResult` whose provenance (and every verdict's)
    records ``config`` and ``key`` (:func:`sgd_sde.provenance.provenance`). ``data`` values are
    converted to NumPy arrays (float64 for floats) so the result saves as one ``.npz``.
    """
    import dataclasses

    prov = provenance(dict(config), key=key)
    arrays = {}
    for k, v in data.items():
        a = np.asarray(v)
        if a.dtype.kind == "f":
            a = a.astype(np.float64)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"data[{k!r}] must be numeric, got dtype {a.dtype}")
        arrays[str(k)] = a
    vs = tuple(dataclasses.replace(v, provenance=prov) if not v.provenance else v for v in verdicts)
    return ExperimentResult(name=name, citation=citation, verdicts=vs, data=arrays, config=dict(config), provenance=prov)


def figure_path(out_dir: str | os.PathLike, result: ExperimentResult) -> Path:
    """``<out_dir>/<result.name>.png`` (the figure convention; the directory is created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{result.name}.png"


def save_figure(fig, out_dir: str | os.PathLike, result: ExperimentResult) -> Path:
    """Save ``fig`` at :func:`figure_path` without timestamps (byte-stable), close it, return the path."""
    from ..figures.style import save_figure as _save

    path = figure_path(out_dir, result)
    _save(fig, path)
    return path


def rerun_command(name: str, quick: bool = True) -> str:
    """The shell command that re-runs experiment ``name`` and re-draws its figure."""
    return f"python -m sgd_sde.experiments._common {name}" + ("" if quick else " --full")


def results_table(results: Iterable[ExperimentResult], *, commands: Mapping[str, str] | None = None) -> str:
    """One markdown table over several results: claim, level, measured, predicted, CI, verdict and
    the command that re-runs it (default :func:`rerun_command` with the result's ``quick``).

    Every number is read from the results, so the table is regenerated, never typed.
    """
    from ..verdicts import _fmt

    rows = ["| claim | level | measured | predicted | tolerance | CI | verdict | re-run |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cmd = (commands or {}).get(r.name) or rerun_command(r.name, bool(r.config.get("quick", True)))
        for v in r.verdicts:
            ci = "–" if v.ci is None else f"[{_fmt(v.ci[0])}, {_fmt(v.ci[1])}]"
            exp = _fmt(v.expected) if v.kind == "equal" else f"{'>' if v.kind == 'greater' else '<'} {_fmt(v.expected)}"
            rows.append(f"| `{v.claim}` | {v.level} | {_fmt(v.measured)} | {exp} | {_fmt(v.tolerance)} | {ci} | "
                        f"**{v.verdict}** | `{cmd}` |")
    return "\n".join(rows)


def reproduce(names: Sequence[str], out_dir: str | os.PathLike, *, quick: bool = True, key: int = 0,
              doc: str | os.PathLike | None = None, table_file: str | os.PathLike | None = None) -> str:
    """Run the experiments ``names`` (:data:`sgd_sde.experiments.EXPERIMENTS`), save each result as
    ``<out_dir>/<name>.npz`` and draw ``<out_dir>/<name>.png`` from the saved file. Returns the
    markdown text: :func:`results_table` and each run's wall-clock and CPU time. With ``doc``, the
    text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in that markdown file is
    replaced by it; with ``table_file`` it is also written there.
    """
    from . import get

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, times = [], []
    for name in names:
        mod = get(name)
        t, cpu = Timer(), time.process_time()
        res = mod.run(key, quick=quick)
        times.append((name, t.seconds, time.process_time() - cpu))
        saved = ExperimentResult.load(res.save(out / name))
        mod.figure(saved, out)
        results.append(saved)
    table = results_table(results, commands={n: rerun_command(n, quick) for n in names})
    timing = "\n".join(f"| `{n}` | {s:.1f} | {c:.1f} |" for n, s, c in times)
    text = (f"# Experiment results ({'quick' if quick else 'full'} mode, key {key})\n\n{table}\n\n"
            f"Time per run on this machine (wall clock, and CPU time of the process summed over its threads; "
            f"on a shared machine the wall clock includes waiting for the CPU):\n\n| run | wall (s) | CPU (s) |\n"
            f"|---|---|---|\n{timing}\n| total | {sum(s for _, s, _ in times):.1f} | {sum(c for _, _, c in times):.1f} |\n")
    from ..io import atomic_write_bytes, replace_between_markers

    if table_file is not None:
        atomic_write_bytes(Path(table_file), text.encode())
    if doc is not None:  # a missing or duplicated marker is refused, naming the file
        body = text.split("\n", 2)[2]  # without the title line
        replace_between_markers(doc, ("<!-- results:begin -->", "<!-- results:end -->"), "\n" + body)
    return text


def _main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m sgd_sde.experiments._common",
                                description="Run experiments, save results and figures, write the results table.")
    p.add_argument("names", nargs="+", help="experiment names (sgd_sde.experiments.EXPERIMENTS)")
    p.add_argument("--out", default="figures/experiments", help="output folder (saved results and figures)")
    p.add_argument("--full", action="store_true", help="full size instead of quick")
    p.add_argument("--key", type=int, default=0)
    p.add_argument("--doc", default=None, help="markdown file whose results markers get the table")
    p.add_argument("--table", default=None, help="also write the table to this file")
    a = p.parse_args(argv)
    print(reproduce(a.names, a.out, quick=not a.full, key=a.key, doc=a.doc, table_file=a.table))


if __name__ == "__main__":
    _main()
