r"""Verdicts on claims, and the result of an experiment: the shape every check returns.

A **check** compares a *measured* value with an *expected* one (a prediction, a threshold) and
returns a :class:`Verdict` — ``"supported"``, ``"refuted"``, ``"inconclusive"`` or ``"error"`` —
together with the numbers it was decided on: measured, expected, tolerance, confidence interval,
runtime, provenance and the figure it feeds. A verdict is never typed in: :func:`judge` decides it
from the numbers, by one rule for everything:

* ``kind="equal"`` (the claim: measured = expected within ``tolerance``): the band is
  ``[expected − tol, expected + tol]``. **Supported** when the CI lies inside the band (the
  agreement is established), **refuted** when the CI misses the band entirely (the disagreement
  is established), **inconclusive** otherwise (the CI is too wide to tell). This is the two
  one-sided tests (TOST) reading of an equivalence claim.
* ``kind="greater"`` / ``"less"`` (the claim: measured > / < expected, e.g. "large batches are
  sharper": effect > 0): supported when the whole CI is beyond ``expected`` on the claimed side,
  refuted when the whole CI is on the other side, inconclusive when it straddles it.
* Without a CI (an exact symbolic or closed-form check) the point value is used in place of the CI.

An experiment on a real network (:mod:`sgd_sde.experiments`) returns an :class:`ExperimentResult`:
its verdicts, the arrays behind its figure, its config and provenance, saved as one atomic file.

Examples:
    >>> judge(1.02, 1.0, tolerance=0.05, ci=(0.99, 1.04))
    'supported'
    >>> judge(1.3, 1.0, tolerance=0.05, ci=(1.2, 1.4))
    'refuted'
    >>> judge(1.02, 1.0, tolerance=0.05, ci=(0.8, 1.3))
    'inconclusive'
    >>> judge(0.4, 0.0, kind="greater", ci=(0.1, 0.7))
    'supported'
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import jsonable, load_bundle, save_bundle

__all__ = ["OUTCOMES", "LEVELS", "KINDS", "Verdict", "ExperimentResult", "judge"]

OUTCOMES = ("supported", "refuted", "inconclusive", "error")
LEVELS = ("symbolic", "simulation", "network")
KINDS = ("equal", "greater", "less")


def _finite_or_none(name, value):
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or None, got {type(value).__name__}") from None
    return v


def judge(measured, expected, *, tolerance=None, ci=None, kind: str = "equal") -> str:
    """Decide a verdict from the numbers (see the module docstring for the rule).

    Args:
        measured: the measured value (a real number; NaN gives ``"inconclusive"``).
        expected: the prediction (``kind="equal"``) or the threshold (``"greater"``/``"less"``).
        tolerance: half-width of the agreement band (``kind="equal"`` only; ``≥ 0``; default 0).
        ci: ``(lo, hi)`` confidence interval of ``measured`` (default: the point itself).
        kind: ``"equal"``, ``"greater"`` or ``"less"``.

    Returns:
        ``"supported"``, ``"refuted"`` or ``"inconclusive"``.

    Raises:
        ValueError: on an unknown ``kind``, a negative ``tolerance`` or ``ci`` with ``lo > hi``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    m = _finite_or_none("measured", measured)
    e = _finite_or_none("expected", expected)
    tol = _finite_or_none("tolerance", tolerance) or 0.0
    if tol < 0 or math.isnan(tol):
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    if m is None or e is None or math.isnan(m) or math.isnan(e):
        return "inconclusive"
    if ci is None:
        lo = hi = m
    else:
        if len(ci) != 2:
            raise ValueError(f"ci must be a pair (lo, hi), got {ci!r}")
        lo, hi = (float(c) for c in ci)
        if math.isnan(lo) or math.isnan(hi):
            return "inconclusive"
        if lo > hi:
            raise ValueError(f"ci must have lo <= hi, got {ci!r}")
    if kind == "equal":
        band_lo, band_hi = e - tol, e + tol
        if band_lo <= lo and hi <= band_hi:
            return "supported"
        if hi < band_lo or lo > band_hi:
            return "refuted"
        return "inconclusive"
    if kind == "greater":
        return "supported" if lo > e else "refuted" if hi <= e else "inconclusive"
    return "supported" if hi < e else "refuted" if lo >= e else "inconclusive"


def _pair(name, ci):
    if ci is None:
        return None
    if isinstance(ci, (str, bytes)) or not isinstance(ci, (Sequence, np.ndarray)) or len(ci) != 2:
        raise TypeError(f"{name} must be a pair (lo, hi) or None, got {ci!r}")
    return (float(ci[0]), float(ci[1]))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of one check of one claim.

    Attributes:
        claim: the claim's id, ``"<source>.<name>"`` (e.g. ``"mccandlish2018.b_crit_matches_b_noise"``).
        level: ``"symbolic"``, ``"simulation"`` or ``"network"``.
        verdict: ``"supported"``, ``"refuted"``, ``"inconclusive"`` or ``"error"``.
        measured, expected: the numbers compared (``None`` where a check has none, e.g. an error).
        tolerance: half-width of the agreement band (``kind="equal"``), else ``None``.
        ci: ``(lo, hi)`` of ``measured`` or ``None``; ``kind``: how it was judged (:func:`judge`).
        seconds: wall time of the check; provenance: :func:`sgd_sde.provenance.provenance`.
        figure: name of the figure the check feeds (or ``None``); statement: the claim in one
            sentence; note: what the numbers show, in words (written by the check from the numbers).
    """

    claim: str
    level: str
    verdict: str
    measured: float | None = None
    expected: float | None = None
    tolerance: float | None = None
    ci: tuple[float, float] | None = None
    kind: str = "equal"
    seconds: float = 0.0
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    figure: str | None = None
    statement: str = ""
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.claim, str) or not self.claim:
            raise TypeError(f"claim must be a non-empty string, got {self.claim!r}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.verdict not in OUTCOMES:
            raise ValueError(f"verdict must be one of {OUTCOMES}, got {self.verdict!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for f in ("measured", "expected", "tolerance"):
            object.__setattr__(self, f, _finite_or_none(f, getattr(self, f)))
        object.__setattr__(self, "ci", _pair("ci", self.ci))

    @classmethod
    def decide(cls, claim: str, level: str, measured, expected, *, tolerance=None, ci=None, kind: str = "equal",
               **fields) -> Verdict:
        """A verdict judged from the numbers by :func:`judge` (the only way checks should build one)."""
        outcome = judge(measured, expected, tolerance=tolerance, ci=ci, kind=kind)
        return cls(claim=claim, level=level, verdict=outcome, measured=measured, expected=expected,
                   tolerance=tolerance, ci=ci, kind=kind, **fields)

    @classmethod
    def error(cls, claim: str, level: str, err: BaseException, **fields) -> Verdict:
        """A check that raised: ``verdict="error"`` with the exception in ``note``."""
        return cls(claim=claim, level=level, verdict="error", note=f"{type(err).__name__}: {err}", **fields)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record (the fields, ``ci`` as a list)."""
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Verdict:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"unknown Verdict fields {sorted(unknown)}")
        rec = dict(record)
        if rec.get("ci") is not None:
            rec["ci"] = tuple(rec["ci"])
        return cls(**rec)


@dataclasses.dataclass(frozen=True)
class ExperimentResult:
    """What an experiment returns: its verdicts, the data behind its figure, config and provenance.

    Attributes:
        name: the experiment (e.g. ``"mccandlish"``); citation: author, year, title.
        verdicts: one :class:`Verdict` per claim the experiment checks.
        data: named arrays (curves, per-seed values) from which the figure is drawn without
            re-running the experiment.
        config: the settings it ran with (``quick`` included); provenance: who made it, when, from what.
    """

    name: str
    citation: str
    verdicts: tuple[Verdict, ...]
    data: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        v = tuple(self.verdicts)
        if not all(isinstance(x, Verdict) for x in v):
            raise TypeError("verdicts must be Verdict objects")
        object.__setattr__(self, "verdicts", v)

    def verdict(self, claim: str) -> Verdict:
        """The verdict of ``claim`` (its full id, or the part after the last dot)."""
        for v in self.verdicts:
            if v.claim == claim or v.claim.rsplit(".", 1)[-1] == claim:
                return v
        raise KeyError(f"{self.name} has no verdict for {claim!r}; it has {[v.claim for v in self.verdicts]}")

    @property
    def measured(self) -> dict[str, float | None]:
        return {v.claim: v.measured for v in self.verdicts}

    @property
    def predicted(self) -> dict[str, float | None]:
        return {v.claim: v.expected for v in self.verdicts}

    def table(self) -> str:
        """A markdown table: claim, level, measured, expected, tolerance, CI, verdict."""
        rows = ["| claim | level | measured | expected | tolerance | CI | verdict |", "|---|---|---|---|---|---|---|"]
        for v in self.verdicts:
            ci = "–" if v.ci is None else f"[{_fmt(v.ci[0])}, {_fmt(v.ci[1])}]"
            exp = _fmt(v.expected) if v.kind == "equal" else f"{'>' if v.kind == 'greater' else '<'} {_fmt(v.expected)}"
            rows.append(f"| `{v.claim}` | {v.level} | {_fmt(v.measured)} | {exp} | {_fmt(v.tolerance)} | {ci} | **{v.verdict}** |")
        return "\n".join(rows)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<path>.npz``: the data arrays and everything else as JSON inside (one atomic file)."""
        meta = {
            "kind": "sgd_sde.ExperimentResult", "name": self.name, "citation": self.citation,
            "verdicts": [v.to_json() for v in self.verdicts], "config": self.config, "provenance": self.provenance,
        }
        return save_bundle(path, self.data, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExperimentResult:
        """Read what :meth:`save` wrote.

        Raises:
            FileNotFoundError, ValueError: a missing, corrupt or foreign file (named).
        """
        arrays, meta = load_bundle(path)
        if meta.get("kind") != "sgd_sde.ExperimentResult":
            raise ValueError(f"{path!s} does not hold a saved ExperimentResult (kind={meta.get('kind')!r})")
        return cls(name=meta["name"], citation=meta["citation"],
                   verdicts=tuple(Verdict.from_json(v) for v in meta["verdicts"]), data=arrays,
                   config=meta.get("config", {}), provenance=meta.get("provenance", {}))


def _fmt(x) -> str:
    if x is None:
        return "–"
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.3e}"
