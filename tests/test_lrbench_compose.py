"""Composition: piecewise policies, warm-up, and a policy times a batch schedule's noise scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import schedules
from sgd_sde.lrbench import compose, policy, warmup, with_noise_scale


def test_compose_is_piecewise_with_local_steps():
    a, b, c = policy("FIX", k0=0.05), policy("STEP", k0=0.2, gamma=0.5, l=3), policy("INV", k0=0.1, gamma=1.0, p=0.75)
    sched = compose([(a, 4), (b, 6), (c, None)])
    ks = np.arange(20)
    expected = np.where(ks < 4, 0.05, np.where(ks < 10, 0.2 * 0.5 ** ((ks - 4) // 3), 0.1 * (1 + np.maximum(ks - 10.0, 0)) ** -0.75))
    np.testing.assert_allclose(sched(ks), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(sched)(jnp.asarray(ks))), expected, rtol=1e-6)
    expr = sched.sympy()
    t = [s for s in expr.free_symbols if s.name == "t"][0]
    np.testing.assert_allclose([float(expr.subs(t, int(k))) for k in ks], expected, rtol=1e-12)
    # the Robbins–Monro verdict is the last piece's (the conditions concern the tail)
    assert sched.robbins_monro().satisfied is True
    assert compose([(c, 5), (a, None)]).robbins_monro().satisfied is False
    assert compose([(0.1, 2), (policy("TRI", k0=0.01, k1=0.1, l=4), None)]).robbins_monro().reason.startswith("not satisfied: η_t ≥ 0.01")


@pytest.mark.parametrize("pieces,err,match", [
    ([], ValueError, "non-empty"),
    ([(policy("FIX", k0=0.1), None), (policy("FIX", k0=0.1), 3)], ValueError, "only the last piece"),
    ([(policy("FIX", k0=0.1), 0), (policy("FIX", k0=0.1), None)], ValueError, r"pieces\[0\] n_steps must be a positive integer"),
    ([("fast", 3)], TypeError, r"pieces\[0\]\[0\] must be an sgd_sde.lrbench policy"),
])
def test_compose_bad_input(pieces, err, match):
    with pytest.raises(err, match=match):
        compose(pieces)


def test_warmup_uses_the_library_warmup():
    pol = policy("COS", k0=0.01, k1=0.2, l=10)
    w = warmup(pol, 5)
    ks = np.arange(30)
    np.testing.assert_allclose(w(ks), schedules.warmup(0.2, 5, then=pol)(ks), rtol=1e-12)
    np.testing.assert_allclose(w(ks)[:5], 0.2 * (ks[:5] + 1) / 5, rtol=1e-12)
    np.testing.assert_allclose(w(ks)[5:], pol(ks[5:] - 5), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(w)(jnp.asarray(ks))), w(ks), rtol=1e-5)


def test_noise_scaled_policy_matches_the_batch_schedule_temperature():
    # η' at constant B0 has the noise scale η has with the batch schedule B_k (Smith et al. 2018)
    N, n = 1000, 40
    inc = schedules.increase_batch(10, [10, 25], factor=4)
    pol = policy("EXP", k0=0.1, gamma=0.99)
    scaled = with_noise_scale(pol, inc, N, n)
    np.testing.assert_allclose(scaled.temperature(10, N, n), pol.temperature(inc, N, n), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(scaled)(jnp.arange(n + 5))), scaled(np.arange(n + 5)), rtol=1e-5)
    assert scaled(n + 100) == pytest.approx(pol(n + 100) * (N / 160 - 1) / (N / 10 - 1), rel=1e-12)  # held after n_steps
    assert scaled.robbins_monro().satisfied is False  # EXP's tail: Σ η < ∞
    with pytest.raises(ValueError, match="must exceed the first batch size"):
        with_noise_scale(pol, 100, 100, 5)


def test_composed_policies_are_hashable_jit_arguments():
    sched = compose([(warmup(policy("FIX", k0=0.1), 3), 10), (policy("SIN2", k0=0.01, k1=0.1, l=5), None)])
    assert hash(sched) == hash(compose([(warmup(policy("FIX", k0=0.1), 3), 10), (policy("SIN2", k0=0.01, k1=0.1, l=5), None)]))
    assert schedules.Schedule(lr=sched).lr is sched
