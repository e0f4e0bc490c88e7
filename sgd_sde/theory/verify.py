"""Run every derivation check and print them as a table (``sgd-sde theory``).

Each topic module exposes ``_checks() -> list[Check]``; :func:`verify` runs them all (SymPy is
imported here, on first use). A check is an identity reduced to zero by SymPy or an exact
rational computation (see :mod:`sgd_sde.theory._check`); the escape-time calibration is a
deterministic quadrature.
"""

from __future__ import annotations

import argparse
import importlib
import time

from ._check import Check

__all__ = ["Check", "verify", "main_theory", "TOPICS"]

TOPICS = ("mccandlish", "gibbs", "lyapunov", "robbins_monro", "minibatch", "stability", "escape", "svag")


def verify(topics=None) -> list[Check]:
    """Run the symbolic and exact checks of every derivation.

    Args:
        topics: names from :data:`TOPICS` to run (default: all).

    Returns:
        a list of :class:`Check` (``name``, ``passed``, ``detail``, ``source``); a check that
        raised is returned as failed with the exception in ``detail``.

    Raises:
        ValueError: an unknown topic name.

    Examples:
        >>> checks = verify(["svag"])
        >>> [c.name for c in checks], all(c.passed for c in checks)
        (['svag.coefficients', 'svag.sum', 'svag.squares', 'svag.noise_per_unit_time'], True)

    References:
        See each module; ``papers/theory.md`` lists every derivation with its paper.
    """
    names = TOPICS if topics is None else tuple(topics)
    unknown = [t for t in names if t not in TOPICS]
    if unknown:
        raise ValueError(f"topics must be among {TOPICS}, got unknown {unknown}")
    out: list[Check] = []
    for name in names:
        module = importlib.import_module(f"sgd_sde.theory.{name}")
        try:
            out.extend(module._checks())
        except Exception as err:  # a crashing derivation is a failed check, not a crashed report
            out.append(Check(f"{name}.<error>", False, f"{type(err).__name__}: {err}", ""))
    return out


def _table(checks: list[Check]) -> str:
    w = max(len(c.name) for c in checks)
    lines = [f"{'check':<{w}}  ok    detail", "-" * (w + 60)]
    for c in checks:
        lines.append(f"{c.name:<{w}}  {'PASS' if c.passed else 'FAIL'}  {c.detail}  [{c.source}]")
    return "\n".join(lines)


def main_theory(argv=None) -> int:
    """Print every check as a table; return 0 if all pass, 1 otherwise.

    Args:
        argv: command-line arguments: topic names (positional, or ``--topic NAME`` repeated) and
            ``--failed-only``.

    Returns:
        the exit status.

    Examples:
        >>> main_theory(["--topic", "svag", "--failed-only"])
        all 4 checks passed (svag) in ...s
        0
    """
    parser = argparse.ArgumentParser(prog="sgd-sde theory", description="Verify the SymPy derivations of sgd_sde.theory.")
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help=f"topics to run (default: all of {', '.join(TOPICS)})")
    parser.add_argument("--topic", action="append", default=[], help="run only this topic (repeatable)")
    parser.add_argument("--failed-only", action="store_true", help="print only the failed checks")
    args = parser.parse_args([] if argv is None else list(argv))
    chosen = list(args.topics) + list(args.topic)
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown:
        parser.error(f"unknown topic(s) {', '.join(unknown)}; choose from {', '.join(TOPICS)}")
    args.topic = chosen or None
    t0 = time.perf_counter()
    checks = verify(args.topic)
    elapsed = time.perf_counter() - t0
    shown = [c for c in checks if not c.passed] if args.failed_only else checks
    if shown:
        print(_table(shown))
    n_fail = sum(not c.passed for c in checks)
    scope = ", ".join(args.topic) if args.topic else "all topics"
    if n_fail:
        print(f"{n_fail} of {len(checks)} checks FAILED ({scope}) in {elapsed:.1f}s")
        return 1
    print(f"all {len(checks)} checks passed ({scope}) in {elapsed:.1f}s")
    return 0
