"""The record every derivation check returns, and the two ways a check is decided.

A check is decided by SymPy simplification (an identity reduces to exactly zero) or by exact
rational arithmetic (:class:`fractions.Fraction`), never by sampling alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check", "identity", "exact"]


@dataclass(frozen=True)
class Check:
    """One verified derivation.

    Attributes:
        name: short dotted name, ``"<topic>.<claim>"`` (e.g. ``"mccandlish.eps_opt"``).
        passed: whether the identity or exact computation held.
        detail: what was checked and the value found.
        source: the paper the claim comes from (author, year).
    """

    name: str
    passed: bool
    detail: str
    source: str = ""


def identity(name: str, lhs, rhs, detail: str, source: str) -> Check:
    """``Check`` that ``simplify(lhs - rhs) == 0`` (SymPy); the residual is reported on failure."""
    import sympy as sp

    residual = sp.simplify(lhs - rhs)
    ok = residual == 0
    return Check(name, bool(ok), detail if ok else f"{detail}; residual {residual}", source)


def exact(name: str, ok: bool, detail: str, source: str) -> Check:
    """``Check`` from an exact (rational or symbolic) comparison already made by the caller."""
    return Check(name, bool(ok), detail, source)
