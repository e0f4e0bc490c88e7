"""Stationary covariance of SGD on a quadratic (Mandt, Hoffman & Blei 2017; Jastrzębski et al.
2017) against scipy's Lyapunov solvers, the SymPy entry formulas and a numpy simulation."""

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory import lyapunov


def spd(rng, d, lo=0.2, hi=5.0):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (q * rng.uniform(lo, hi, size=d)) @ q.T


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), frac=st.floats(0.01, 0.95), B=st.integers(1, 512))
def test_stationary_covariance_matches_scipy_lyapunov_solvers(seed, d, frac, B):
    rng = np.random.default_rng(seed)
    H = spd(rng, d)
    a = rng.normal(size=(d, d))
    C = a @ a.T
    lr = frac * 2 / np.linalg.eigvalsh(H)[-1]
    A = np.eye(d) - lr * H
    disc = sla.solve_discrete_lyapunov(A, lr**2 * C / B)
    cont = sla.solve_continuous_lyapunov(H, lr * C / B)
    scale = np.abs(disc).max() + 1e-300
    np.testing.assert_allclose(theory.stationary_covariance(H, C, lr, B), disc, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(theory.stationary_covariance(H, C, lr, B, discrete=False), cont, rtol=0,
                               atol=1e-9 * (np.abs(cont).max() + 1e-300))
    np.testing.assert_allclose(theory.discrete_lyapunov(A, lr**2 * C / B), disc, rtol=0, atol=1e-9 * scale)


@given(li=st.floats(0.01, 10), lj=st.floats(0.01, 10), c=st.floats(-5, 5), frac=st.floats(0.01, 0.99),
       B=st.floats(1, 100))
def test_lambdified_entries_match_sympy(li, lj, c, frac, B):
    e = lyapunov._symbolic()
    s = e["symbols"]
    lr = frac * 2 / max(li, lj)
    subs = {s["lam_i"]: li, s["lam_j"]: lj, s["c"]: c, s["lr"]: lr, s["B"]: B}
    from sgd_sde.theory._numeric import compiled

    for name in ("entry_discrete", "entry_continuous"):
        ref = float(e[name].evalf(subs=subs))
        assert compiled("lyapunov", name)(li, lj, c, lr, B) == pytest.approx(ref, rel=1e-10, abs=1e-300)


def test_mandt_calibration_and_discrete_correction():
    H, C = np.diag([1.0, 10.0]), np.array([[1, 0.5], [0.5, 2]])
    cont = theory.stationary_covariance(H, C, 0.01, 1, discrete=False)
    disc = theory.stationary_covariance(H, C, 0.01, 1)
    np.testing.assert_allclose(cont, [[0.005, 1 / 2200], [1 / 2200, 0.001]], rtol=1e-12)
    np.testing.assert_allclose(disc / cont - 1, [[0.005025, 0.009174], [0.009174, 0.052632]], atol=1e-6)


def test_simulated_sgd_covariance_matches_the_discrete_not_the_continuous_solution():
    # 40k particles of θ ← θ − η(Hθ + ξ), ξ ~ N(0, C/B). Start from the *continuous* solution (a
    # different law, within 5.3% of the discrete one) and run 500 steps: the start's offset decays as
    # (1 − ηλ_min)^{2k} = 0.99^{1000} ≈ 4e-5, far below the SE. SE of a covariance entry of a
    # Gaussian: sqrt((Σ_ii Σ_jj + Σ_ij²)/P); accept within 4 SE.
    rng = np.random.default_rng(2017)
    H, C = np.diag([1.0, 10.0]), np.array([[1, 0.5], [0.5, 2]])
    lr, B, P = 0.01, 1, 40_000
    L = np.linalg.cholesky(C / B)
    A = np.eye(2) - lr * H
    cont = theory.stationary_covariance(H, C, lr, B, discrete=False)
    theta = rng.normal(size=(P, 2)) @ np.linalg.cholesky(cont).T
    for _ in range(500):
        theta = theta @ A.T - lr * rng.normal(size=(P, 2)) @ L.T
    emp = theta.T @ theta / P
    disc = theory.stationary_covariance(H, C, lr, B)
    se = np.sqrt((np.outer(np.diag(disc), np.diag(disc)) + disc**2) / P)
    assert np.all(np.abs(emp - disc) < 4 * se), (emp, disc, se)
    assert abs(emp[1, 1] - cont[1, 1]) > 4 * se[1, 1]  # the SDE covariance is 5% low at ηλ = 0.1


def test_jastrzebski_c_equals_h_and_linear_scaling():
    rng = np.random.default_rng(3)
    H = spd(rng, 4)
    lr, B = 0.02, 8
    cont = theory.stationary_covariance(H, H, lr, B, discrete=False)
    np.testing.assert_allclose(cont, lr / (2 * B) * np.eye(4), atol=1e-15)
    assert 0.5 * np.trace(H @ cont) == pytest.approx(lr / (4 * B) * np.trace(H), rel=1e-12)
    c4 = theory.stationary_covariance(H, H, 4 * lr, 4 * B, discrete=False)
    np.testing.assert_allclose(c4, cont, rtol=1e-12)
    d1, d4 = theory.stationary_covariance(H, H, lr, B), theory.stationary_covariance(H, H, 4 * lr, 4 * B)
    assert not np.allclose(d1, d4, rtol=1e-3)  # the discrete covariances differ at O(ηλ)


def test_mandt_optimal_lr_minimises_the_kl():
    N, S, BB = 1000, 10, np.array([[1.0, 0.2], [0.2, 3.0]])
    star = theory.mandt_optimal_lr(N, S, BB)
    kl = lambda eps: 0.5 * (N * eps * np.trace(BB) / (2 * S) - 2 * np.log(eps))  # noqa: E731
    grid = star * np.linspace(0.5, 1.5, 10001)
    assert grid[np.argmin(kl(grid))] == pytest.approx(star, rel=1e-3)
    assert star == pytest.approx(2 * 2 * S / (N * np.trace(BB)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.stationary_covariance(np.diag([1.0, 0.0]), np.eye(2), 0.1, 1), "positive definite"),
        (lambda: theory.stationary_covariance(np.diag([1.0, -1.0]), np.eye(2), 0.1, 1), "positive semi-definite"),
        (lambda: theory.stationary_covariance(np.eye(2), np.eye(2), 2.5, 1), "lr must be < 2/lambda_max"),
        (lambda: theory.stationary_covariance(np.eye(2), np.eye(2), 0.1, 0), "batch_size must be > 0"),
        (lambda: theory.stationary_covariance(np.eye(2), np.eye(2), -0.1, 1), "lr must be > 0"),
        (lambda: theory.stationary_covariance(np.eye(2), -np.eye(2), 0.1, 1), "C must be positive semi-definite"),
        (lambda: theory.discrete_lyapunov(np.eye(2), np.eye(2)), "spectral radius < 1"),
        (lambda: theory.mandt_optimal_lr(100, 1, np.zeros((2, 2))), "noise_cov must be non-zero"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
