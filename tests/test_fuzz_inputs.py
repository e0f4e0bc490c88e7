"""Bad input, fuzzed (issue 13 §5): every public entry point, one argument at a time replaced by a
wrong shape, dtype, NaN/inf, a negative/zero/huge value, an int for a key, a list for an array or
an unsafe string (the pools in ``tests/_fuzz.py``). The only exceptions allowed are ``ValueError``
and ``TypeError`` whose message names the argument (the CLI: argparse's exit 2 naming it).

Hypothesis draws a few (argument, bad value) pairs per entry point, derandomised, so the suite
stays fast; ``python tests/fuzz_report.py`` tries every pair (with huge sizes too, each in a
watched worker) and writes the counts into ``docs/reliability.md``.

Every entry point runs as a plain test (no expected failures).
"""

import pytest
from hypothesis import HealthCheck, given, settings

import _fuzz as F

ENTRIES = {e.name: e for e in F.entries()}


def _check(entry):
    failures = []

    @settings(max_examples=max(3, 12 // entry.cost), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(F.strategy_for(entry))
    def run(pair):
        arg, bad = pair
        outcome, detail = F.attempt(entry, arg, bad)
        if outcome in ("unnamed", "other", "silent"):  # silent: an invalid value accepted
            failures.append(f"{entry.name}({arg}={bad.label}): {outcome}: {detail}")

    run()
    return sorted(set(failures))


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_bad_input_raises_value_or_type_error_naming_the_argument(name):
    failures = _check(ENTRIES[name])
    assert not failures, "\n".join(failures)


def test_the_classifier_can_fail():
    """The harness itself: an entry point that raises ZeroDivisionError, or a ValueError that does
    not name the argument, is caught; one that names it passes."""
    def f(x):
        if x is None:
            raise ZeroDivisionError("boom")
        if isinstance(x, str):
            raise ValueError("something is wrong")
        raise ValueError(f"x must be a number, got x={x!r}")

    e = F.Entry("f", f, lambda: dict(x=1.0), {"x": "pos"})
    assert F.attempt(e, "x", F.Bad("None", None, True))[0] == "other"
    assert F.attempt(e, "x", F.Bad("str", "abc", True))[0] == "unnamed"
    assert F.attempt(e, "x", F.Bad("nan", float("nan"), True))[0] == "named"
    ok = F.Entry("g", lambda x: x, lambda: dict(x=1.0), {"x": "pos"})
    assert F.attempt(ok, "x", F.Bad("nan", float("nan"), True))[0] == "silent"
    assert F.attempt(ok, "x", F.Bad("huge", 1e300, False))[0] == "accepted"
