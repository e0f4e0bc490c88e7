"""McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training"): the numeric exports
against their SymPy source, against brute-force minimisation, and against Monte Carlo."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory import mccandlish

pos = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


def random_problem(rng, d=5):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = (q * np.geomspace(0.1, 10, d)) @ q.T
    H = 0.5 * (H + H.T)
    a = rng.normal(size=(d, d))
    Sigma = a @ a.T / d
    G = H @ rng.normal(size=d)
    return G, H, Sigma


@given(B=pos, em=pos, bn=st.floats(0, 1e3))
def test_eps_opt_and_delta_l_opt_match_sympy_source(B, em, bn):
    e = mccandlish._symbolic()
    s = e["symbols"]
    subs = {s["B"]: B, s["eps_max_"]: em, s["b_noise_"]: bn, s["delta_l_max_"]: em}
    assert theory.eps_opt(B, em, bn) == pytest.approx(float(e["eps_opt_reduced"].evalf(subs=subs)), rel=1e-12)
    assert theory.delta_l_opt(B, em, bn) == pytest.approx(float(e["delta_l_opt_reduced"].evalf(subs=subs)), rel=1e-12)


@given(seed=st.integers(0, 2**32 - 1), B=st.floats(0.5, 500), lr=st.floats(0, 10))
def test_array_functions_match_sympy_source_on_random_problems(seed, B, lr):
    G, H, Sigma = random_problem(np.random.default_rng(seed))
    e = mccandlish._symbolic()
    s = e["symbols"]
    subs = {s["g2"]: G @ G, s["gHg"]: G @ H @ G, s["trHS"]: np.trace(H @ Sigma), s["trS"]: np.trace(Sigma),
            s["B"]: B, s["eps"]: lr, s["loss"]: 0.5}
    ref = lambda name: float(e[name].evalf(subs=subs))  # noqa: E731
    assert theory.eps_max(G, H) == pytest.approx(ref("eps_max"), rel=1e-10)
    assert theory.delta_l_max(G, H) == pytest.approx(ref("delta_l_max"), rel=1e-10)
    assert theory.b_noise(G, H, Sigma) == pytest.approx(ref("b_noise"), rel=1e-10)
    assert theory.b_simple(G, Sigma) == pytest.approx(ref("b_simple"), rel=1e-10)
    assert theory.expected_loss_after_step(B, lr, G, H, Sigma, loss=0.5) == pytest.approx(
        ref("expected_loss"), rel=1e-10, abs=1e-10 * (1 + lr**2 * float(G @ H @ G)))


@given(seed=st.integers(0, 2**32 - 1), B=st.floats(0.5, 500))
def test_eps_opt_is_the_brute_force_minimiser_of_the_expected_loss(seed, B):
    G, H, Sigma = random_problem(np.random.default_rng(seed))
    em, bn = theory.eps_max(G, H), theory.b_noise(G, H, Sigma)
    star = theory.eps_opt(B, em, bn)
    # independent check: minimise the second-order expected loss over a fine ε grid, then refine
    from scipy.optimize import minimize_scalar

    grid = np.linspace(0, 2 * em, 4001)
    vals = theory.expected_loss_after_step(B, grid, G, H, Sigma, loss=1.0)
    lo = grid[max(np.argmin(vals) - 1, 0)]
    res = minimize_scalar(lambda x: float(theory.expected_loss_after_step(B, x, G, H, Sigma)),
                          bounds=(lo, lo + 2 * (grid[1] - grid[0])), method="bounded", options={"xatol": 1e-12 * em})
    assert res.x == pytest.approx(star, rel=1e-6)
    dl = theory.delta_l_opt(B, theory.delta_l_max(G, H), bn)
    assert 1.0 - float(theory.expected_loss_after_step(B, star, G, H, Sigma, loss=1.0)) == pytest.approx(dl, rel=1e-10)
    # a step beyond 2 ε_opt increases the expected loss; just below it decreases it
    assert theory.expected_loss_after_step(B, 2.01 * star, G, H, Sigma) > 0
    assert theory.expected_loss_after_step(B, 1.99 * star, G, H, Sigma) < 0


def test_limits_and_b_simple_equals_b_noise_for_isotropic_hessian(rng):
    G, H, Sigma = random_problem(rng)
    em, bn = theory.eps_max(G, H), theory.b_noise(G, H, Sigma)
    assert theory.eps_opt(1e-6 * bn, em, bn) == pytest.approx(em * 1e-6, rel=1e-5)  # B ≪ B_noise: linear in B
    assert theory.eps_opt(1e9 * bn, em, bn) == pytest.approx(em, rel=1e-8)  # B ≫ B_noise: saturates
    assert theory.b_noise(G, 3.0 * np.eye(5), Sigma) == pytest.approx(theory.b_simple(G, Sigma), rel=1e-12)
    S, E = theory.steps_and_examples(np.array([0.1, 1, 10]) * bn, 100.0, bn)
    np.testing.assert_allclose((S / 100 - 1) * (E / (100 * bn) - 1), 1.0, rtol=1e-12)


def test_simulated_optimal_step_matches_eps_opt_within_standard_error():
    # One noisy SGD step on a random quadratic, g_p = G + ξ_p with ξ ~ N(0, Σ/B), plain numpy.
    # Common random numbers: each particle's loss after the step is exactly quadratic in ε,
    # l_p(ε) = L − ε a_p + ½ε² b_p with a_p = Gᵀg_p, b_p = g_pᵀHg_p; the simulated optimum is
    # mean(a)/mean(b) and its SE follows from the ratio estimator: Var(a − ε̂ b)/(P mean(b)²).
    rng = np.random.default_rng(7)
    G, H, Sigma = random_problem(rng, d=6)
    chol = np.linalg.cholesky(Sigma + 1e-12 * np.eye(6))
    P = 200_000
    for B in (1, 8, 64):
        g = G + rng.normal(size=(P, 6)) @ chol.T / np.sqrt(B)
        a = g @ G
        b = np.einsum("pi,ij,pj->p", g, H, g)
        eps_hat = a.mean() / b.mean()
        se = np.sqrt(np.var(a - eps_hat * b) / P) / b.mean()
        star = theory.eps_opt(B, theory.eps_max(G, H), theory.b_noise(G, H, Sigma))
        assert abs(eps_hat - star) < 4 * se, (B, eps_hat, star, se)


def test_two_batch_estimators_are_unbiased_monte_carlo():
    # theory-anchors §1(b): D = 50, |G|² = 1, tr Σ = 100 (Σ = 2 I), B_small = 8, B_big = 128, 2000
    # repeats, with replacement. The batch mean of i.i.d. N(G, Σ) is exactly N(G, Σ/B).
    rng = np.random.default_rng(11)
    D, R = 50, 2000
    G = np.zeros(D)
    G[0] = 1.0
    gs = G + rng.normal(size=(R, D)) * np.sqrt(2.0 / 8)
    gb = G + rng.normal(size=(R, D)) * np.sqrt(2.0 / 128)
    g2, tr = theory.two_batch_estimators((gs**2).sum(1), (gb**2).sum(1), 8, 128)
    # tolerance: 4 standard errors of the mean of the repeat-level estimates
    assert abs(g2.mean() - 1.0) < 4 * g2.std(ddof=1) / np.sqrt(R)
    assert abs(tr.mean() - 100.0) < 4 * tr.std(ddof=1) / np.sqrt(R)
    assert tr.mean() / g2.mean() == pytest.approx(100, rel=0.05)  # ratio of means, not mean of ratios
    assert theory.two_batch_estimators(1.0 + 100 / 8, 1.0 + 100 / 128, 8, 128) == pytest.approx((1.0, 100.0))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.eps_max(np.ones(2), np.diag([1.0, -1.0])), "positive semi-definite"),
        (lambda: theory.eps_max(np.array([0.0, 1.0]), np.diag([1.0, 0.0])), "G\\^T H G must be > 0"),
        (lambda: theory.b_noise(np.ones(2), np.eye(2), np.eye(3)), "Sigma must have shape"),
        (lambda: theory.eps_opt(0, 1.0, 1.0), "batch_size must be > 0"),
        (lambda: theory.eps_opt(-4, 1.0, 1.0), "batch_size must be > 0"),
        (lambda: theory.delta_l_opt(4, 1.0, -1.0), "b_noise must be >= 0"),
        (lambda: theory.b_simple(np.zeros(2), np.eye(2)), "G must be non-zero"),
        (lambda: theory.two_batch_estimators(1.0, 1.0, 8, 8), "b_big must be > b_small"),
        (lambda: theory.expected_loss_after_step(1, -0.1, np.ones(2), np.eye(2), np.eye(2)), "lr must be >= 0"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_jax_lambdified_formula_is_jittable_and_matches_numpy():
    import jax
    import jax.numpy as jnp

    from sgd_sde.theory._numeric import compiled

    f = compiled("mccandlish", "eps_opt_reduced", backend="jax")
    B = jnp.array([1.0, 8.0, 64.0], dtype=jnp.float32)
    out = jax.jit(f)(B, 0.5, 10.0)
    assert out.dtype == jnp.float32  # dtype preserved, x64 not enabled
    np.testing.assert_allclose(np.asarray(out), theory.eps_opt(np.array([1.0, 8.0, 64.0]), 0.5, 10.0), rtol=1e-6)
    with jax.enable_x64(True):
        out64 = jax.jit(f)(jnp.asarray([1.0, 8.0, 64.0], dtype=jnp.float64), 0.5, 10.0)
        np.testing.assert_allclose(np.asarray(out64), theory.eps_opt(np.array([1.0, 8.0, 64.0]), 0.5, 10.0), rtol=1e-15)


def test_batch_gradient_norm_check_enumerates_batches_and_can_fail():
    """The verify check ``mccandlish.batch_gradient_norm`` enumerates every batch exactly (it used
    to restate its premise). Mutations of either closed form (N−B)/(B(N−1)) → (N−B)/(BN), or
    tr Σ/B → tr Σ/(B+1), make the enumeration disagree."""
    import inspect

    from sgd_sde.theory import mccandlish

    assert mccandlish._batch_gradient_norm_enumerated()[0] is True
    src = inspect.getsource(mccandlish._batch_gradient_norm_enumerated)
    for right, wrong in (("Fraction(n - b, b * (n - 1))", "Fraction(n - b, b * n)"), ("g2 + tr / b", "g2 + tr / (b + 1)")):
        assert right in src
        ns = dict(vars(mccandlish))
        exec(src.replace(right, wrong, 1), ns)  # noqa: S102 — our own source, mutated
        assert ns["_batch_gradient_norm_enumerated"]()[0] is False
