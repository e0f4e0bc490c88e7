"""The temperature view: Smith & Le 2018, McAllester's rules, the probability current of an
anisotropic OU process (Chaudhari & Soatto 2018), the linear vs square-root rules (Hoffer 2017)."""

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory import gibbs as temp


@given(eps=st.floats(1e-4, 10), N=st.integers(2, 10**6), frac=st.floats(0.0, 1.0), m=st.floats(0, 0.99))
def test_temperature_matches_sympy_source(eps, N, frac, m):
    B = max(1, int(round(frac * N)))
    e = temp._symbolic()
    s = e["symbols"]
    ref = float(e["smith_le"].evalf(subs={s["eps"]: eps, s["B"]: B, s["N"]: N, s["m"]: m}))
    assert theory.temperature(eps, B, N, momentum=m) == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_smith_le_and_mcallester_rules():
    N = 50_000
    assert theory.temperature(0.1, 128, N) == pytest.approx(0.1 * (N / 128 - 1))
    assert theory.temperature(0.1, 128, N, momentum=0.9) == pytest.approx(10 * 0.1 * (N / 128 - 1))
    assert theory.temperature(0.1, N, N) == 0.0  # full batch: no noise
    eta0 = 1e-3
    for B in (1, 32, 1024):
        # η = (1 − μ) B η₀ with PyTorch momentum μ gives g = η₀ (N − B) exactly
        assert theory.temperature((1 - 0.9) * B * eta0, B, N, momentum=0.9) == pytest.approx(eta0 * (N - B), rel=1e-12)
        assert theory.temperature(B * eta0, B, N) == pytest.approx(eta0 * (N - B), rel=1e-12)
    assert theory.isotropic_temperature(0.1, 5, 2.0) == pytest.approx(0.02)


def test_isotropic_noise_gives_the_gibbs_covariance():
    # T = εσ²/(2B): the continuous stationary covariance is T H⁻¹ (Gibbs law of ½θᵀHθ)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    H = (q * [0.5, 1.0, 4.0]) @ q.T
    eps, B, s2 = 0.05, 16, 3.0
    T = theory.isotropic_temperature(eps, B, s2)
    cov = theory.stationary_covariance(H, s2 * np.eye(3), eps, B, discrete=False)
    np.testing.assert_allclose(cov, T * np.linalg.inv(H), rtol=1e-10)


@given(seed=st.integers(0, 2**32 - 1), commuting=st.booleans())
def test_probability_current_vanishes_iff_h_and_d_commute(seed, commuting):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = rng.uniform(0.5, 5, size=3)
    H = (q * lam) @ q.T
    if commuting:
        D = (q * rng.uniform(0.1, 2, size=3)) @ q.T
    else:
        a = rng.normal(size=(3, 3))
        D = a @ a.T + 0.1 * np.eye(3)
    Q = theory.probability_current(H, D)
    # independent: S from scipy's continuous Lyapunov solver, Q = D S⁻¹ − H
    S = sla.solve_continuous_lyapunov(H, 2 * D)
    np.testing.assert_allclose(Q, D @ np.linalg.inv(S) - H, atol=1e-8 * np.abs(H).max())
    comm = np.abs(H @ D - D @ H).max()
    assert (np.abs(Q).max() < 1e-8 * np.abs(H).max()) == (comm < 1e-8 * np.abs(H).max() * np.abs(D).max())


def test_scaling_rules_keep_different_invariants():
    lr0, b0 = 0.1, 256
    for b in (512, 4096):
        lin, sq = theory.scaled_lr(lr0, b0, b), theory.scaled_lr(lr0, b0, b, rule="sqrt")
        assert lin / b == pytest.approx(lr0 / b0)  # temperature η/B
        assert sq**2 / b == pytest.approx(lr0**2 / b0)  # update covariance η²/B
        assert sq / b < lr0 / b0  # the √ rule cools the process


def test_hoffer_update_covariance_monte_carlo_constant_under_sqrt_rule():
    # theory-anchors §11: cov(Δw) = (η²/M)(1 − M/N)·(1/N)Σ g gᵀ is constant across M under η ∝ √M.
    # Exact check by the minibatch formula (no sampling): (N−M)/(M(N−1)) η² Σ with η² ∝ M differs
    # only through (N−M)/(N−1), within 2% for M ≤ 256 ≪ N = 50 000.
    rng = np.random.default_rng(1)
    g = rng.normal(size=(50_000, 3))
    covs = [theory.minibatch_covariance(g, M, replace=False) * (0.1 * np.sqrt(M / 16)) ** 2 for M in (16, 64, 256)]
    for c in covs[1:]:
        np.testing.assert_allclose(c, covs[0], rtol=0.02)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.temperature(0.1, 0, 100), "batch_size must be > 0"),
        (lambda: theory.temperature(0.1, 200, 100), "batch_size must lie in \\[1, n_examples"),
        (lambda: theory.temperature(0.1, 10, 100, momentum=1.0), "momentum must lie in \\[0, 1\\)"),
        (lambda: theory.temperature(-0.1, 10, 100), "lr must be > 0"),
        (lambda: theory.scaled_lr(0.1, 256, 512, rule="cubic"), "rule must be 'linear' or 'sqrt'"),
        (lambda: theory.probability_current(np.eye(2), np.zeros((2, 2))), "D must be positive definite"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
