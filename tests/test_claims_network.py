"""Every network-level check runs against its real experiment at the experiments' toy size.

Each experiment (:mod:`sgd_sde.experiments`) runs once at ``size="toy"`` (seconds) and feeds all
the claims that read it; a network verdict is re-decided from the experiment's measured numbers,
so the fields it carries must be the experiment's.
"""

from __future__ import annotations

import math

import pytest

from sgd_sde.claims import all_claims, run_check
from sgd_sde.claims import _common
from sgd_sde.verdicts import OUTCOMES


def _by_experiment():
    out = {}
    for c in all_claims():
        if "network" in c.checks:
            name = getattr(c.checks["network"], "__name__", "")
            exp = name.split("<-", 1)[1].rstrip("]") if "<-" in name else "lrbench"
            out.setdefault(exp, []).append(c)
    return out


@pytest.fixture(autouse=True)
def toy_size():
    _common.set_experiment_size("toy")
    yield
    _common.set_experiment_size(None)


@pytest.mark.parametrize("experiment", sorted(_by_experiment()))
def test_network_checks_read_their_experiment(experiment):
    for claim in _by_experiment()[experiment]:
        v = run_check(claim, "network", key=0, quick=True)
        assert v.verdict in OUTCOMES and v.verdict != "error", (claim.id, v.note)
        assert v.claim == claim.id and v.level == "network"
        assert v.measured is None or isinstance(v.measured, float)
        assert v.expected is not None and math.isfinite(v.expected)
        assert v.provenance, claim.id
