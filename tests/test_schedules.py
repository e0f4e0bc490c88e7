"""Schedules: validation as documented, and the symbolic form each carries equals its numbers."""

import numpy as np
import pytest
import sympy as sp

from sgd_sde import schedules as S
from sgd_sde import theory

T = sp.Symbol("t", integer=True, nonnegative=True)


@pytest.mark.parametrize("factor", [2.0, 1.0001, 0.0, -0.5])
def test_step_decay_factor_outside_unit_interval_raises(factor):
    # factor=2 used to be accepted and silently *raise* the learning rate at each boundary
    with pytest.raises(ValueError, match="factor must lie in \\(0, 1\\]"):
        S.step_decay(0.1, [100], factor=factor)


def test_step_decay_factor_one_is_allowed_and_boundaries_must_be_a_sequence():
    assert float(S.step_decay(0.1, [5], factor=1.0)(10)) == pytest.approx(0.1)
    with pytest.raises(TypeError, match="boundaries"):
        S.step_decay(0.1, 100)


CASES = [
    S.constant(0.3),
    S.step_decay(0.1, [10, 20], 0.5),
    S.exponential_decay(0.1, 0.9, 3),
    S.inverse_power(0.5, 0.75, 3.0),
    S.cosine(0.2, 50, 0.1),
    S.cyclic(0.1, 0.01, 7),
    S.warmup(0.2, 5),
    S.warmup(0.2, 5, S.inverse_power(0.2, 1.0)),
]


@pytest.mark.parametrize("sched", CASES, ids=repr)
def test_symbolic_form_equals_the_numeric_schedule(sched):
    # optax evaluates in float32: agreement to a few float32 ulp (eps = 1.2e-7) of the value
    ks = np.arange(80)
    exact = np.array([float(sched.expression().subs(T, int(k))) for k in ks])
    numeric = np.asarray(sched(ks), np.float64) * np.ones(ks.size)
    np.testing.assert_allclose(numeric, exact, rtol=1e-6)


@pytest.mark.parametrize(
    "sched, expected",
    [
        (S.inverse_power(0.5, 0.75), True),
        (S.inverse_power(0.5, 1.0, offset=10.0), True),
        (S.inverse_power(0.5, 0.5), False),  # Σ η² = ∞
        (S.exponential_decay(0.1, 0.9), False),  # Σ η < ∞
        (S.step_decay(0.1, [10, 20]), False),  # finitely many drops: constant tail
        (S.constant(0.01), False),
        (S.warmup(0.2, 5, S.inverse_power(0.2, 1.0)), True),
        (S.Schedule(lr=S.inverse_power(0.5, 0.75)), True),
    ],
    ids=repr,
)
def test_robbins_monro_accepts_the_library_schedules(sched, expected):
    assert theory.robbins_monro(sched).satisfied is expected


def test_robbins_monro_refuses_callables_without_a_symbolic_form():
    with pytest.raises(TypeError, match="symbolic form|schedule"):
        theory.robbins_monro(lambda k: 1.0 / (k + 1))
    with pytest.raises(TypeError, match="lr=None"):
        theory.robbins_monro(S.Schedule())
