"""McCandlish's two-batch estimator: unbiasedness on synthetic gradients, agreement with the
exact per-example B_simple on the digits MLP, and the EMA-of-ratios vs ratio-of-EMAs rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import measure
from sgd_sde.networks import MLP, example_loss, load_dataset


def synthetic_population(n=4096, d=50, trace=100.0, seed=0):
    """n per-example gradients with *exact* mean G (|G|² = 1) and exact covariance (trace/d)·I."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z -= z.mean(0)
    L = np.linalg.cholesky(z.T @ z / n)
    z = z @ np.linalg.inv(L).T  # empirical covariance exactly I
    G = np.zeros(d)
    G[0] = 1.0
    return G + np.sqrt(trace / d) * z


def test_two_batch_estimator_is_unbiased():
    # loss_fn(p, x, y) = p·x has per-example gradient x, so the "data" are the gradients g_i = G + ξ_i
    g = synthetic_population()
    np.testing.assert_allclose(np.mean(np.sum((g - g.mean(0)) ** 2, 1)), 100.0, rtol=1e-12)
    loss = lambda p, x, t: jnp.dot(p, x)
    with jax.enable_x64(True):
        out = measure.two_batch_noise_scale(loss, jnp.zeros(50), jnp.asarray(g), jnp.zeros(len(g)), key=jax.random.key(0),
                                            b_small=8, b_big=128, n_pairs=2000)
    # Standard errors (Gaussian ξ, Σ = 2I, independent batches, with replacement):
    #   Var|G_B|² = 4 GᵀΣG/B + 2 tr(Σ²)/B² = 8/B + 400/B²  → 7.25 (B=8), 0.0869 (B=128)
    #   Var(|G|²_est) = (128/120)²·0.0869 + (8/120)²·7.25 = 0.131 → SE over 2000 = 0.0081
    #   Var(trΣ_est) = (7.25 + 0.0869)/(1/8 − 1/128)² = 534 → SE = 0.517
    # The brief's ±0.05 and ±3 are ≈ 6 SE; we also check the tighter 4-SE band.
    assert abs(out["grad_sq_est"].mean() - 1.0) < 0.05
    assert abs(out["trace_cov_est"].mean() - 100.0) < 3.0
    assert abs(out["grad_sq_est"].mean() - 1.0) < 4 * 0.0081
    assert abs(out["trace_cov_est"].mean() - 100.0) < 4 * 0.517
    # the empirical spread matches the derivation (finite population, 2000 draws: within 15%)
    assert abs(out["trace_cov_est"].std() / np.sqrt(534.0) - 1) < 0.15
    # ratio of the means is within 5% of B_simple = 100
    assert abs(out["trace_cov_est"].mean() / out["grad_sq_est"].mean() - 100.0) < 5.0


def test_two_batch_estimates_closed_form_and_without_replacement():
    g2, tr = measure.two_batch_estimates(1 + 100 / 8, 1 + 100 / 128, 8, 128)
    assert np.isclose(g2, 1.0) and np.isclose(tr, 100.0)
    n = 1000
    c = lambda b: (n - b) / (b * (n - 1))
    g2, tr = measure.two_batch_estimates(1 + 100 * c(8), 1 + 100 * c(128), 8, 128, n_population=n)
    assert np.isclose(g2, 1.0) and np.isclose(tr, 100.0)
    with pytest.raises(ValueError, match="b_big"):
        measure.two_batch_estimates(1.0, 1.0, 8, 8)


def test_ratio_of_emas_not_ema_of_ratios():
    rng = np.random.default_rng(1)
    g2 = 1.0 + 0.8 * rng.standard_normal(500)  # noisy denominator, crosses zero sometimes
    tr = 100.0 + 10 * rng.standard_normal(500)
    out = measure.ema_noise_scale(g2, tr, beta=0.99)
    m = 0.0
    for i, v in enumerate(g2):  # the bias-corrected EMA by hand
        m = 0.99 * m + 0.01 * v
    assert np.isclose(out["grad_sq_norm"][-1], m / (1 - 0.99**500))
    assert np.isclose(out["b_simple"][-1], out["trace_cov"][-1] / out["grad_sq_norm"][-1])
    assert abs(out["b_simple"][-1] - 100) < 30  # ratio of EMAs is stable; the EMA of ratios is not
    assert out["grad_sq_norm"][0] == g2[0]  # bias correction: first value is the first sample
    with pytest.raises(ValueError, match="beta"):
        measure.ema_noise_scale(g2, tr, beta=1.0)


def test_two_batch_agrees_with_exact_b_simple_on_digits_mlp():
    data = load_dataset("digits")
    model = MLP(data.input_shape, 10, (32,), key=jax.random.key(0))
    loss_fn, params = example_loss(model)
    exact = measure.gradient_noise_stats(loss_fn, params, data.x_train, data.y_train, hessian=False)
    est = measure.two_batch_noise_scale(loss_fn, params, data.x_train, data.y_train, key=jax.random.key(1),
                                        b_small=16, b_big=256, n_pairs=400, beta=0.99)
    assert abs(est["b_simple"] / exact.b_simple - 1) < 0.2


def test_bad_inputs():
    loss = lambda p, x, t: jnp.dot(p, x)
    X = jnp.ones((10, 2))
    with pytest.raises(ValueError, match="b_big"):
        measure.two_batch_noise_scale(loss, jnp.zeros(2), X, jnp.zeros(10), key=jax.random.key(0), b_small=2, b_big=20)
    with pytest.raises(TypeError, match="key"):
        measure.two_batch_noise_scale(loss, jnp.zeros(2), X, jnp.zeros(10), key=0, b_small=2, b_big=4)
    with pytest.raises(ValueError, match="max_hvp_examples"):
        measure.gradient_noise_stats(loss, jnp.zeros(2), X, jnp.zeros(10), max_hvp_examples=0)
    with pytest.raises(TypeError, match=r"hessian must be a bool \(True or False\), got int 1"):
        measure.gradient_noise_stats(loss, jnp.zeros(2), X, jnp.zeros(10), hessian=1)  # 1 is not True


@pytest.mark.parametrize("where", ["X", "y"])
def test_non_finite_data_raises_naming_it(where):
    """NaN in the data used to give all-NaN statistics and b_simple = inf without a word."""
    loss = lambda p, x, t: jnp.dot(p, x) * t
    X, y = np.ones((10, 2)), np.ones(10)
    (X if where == "X" else y)[3] = np.nan
    with pytest.raises(ValueError, match=f"{where} must contain only finite"):
        measure.gradient_noise_stats(loss, jnp.zeros(2), X, y)
    with pytest.raises(ValueError, match=f"{where} must contain only finite"):
        measure.two_batch_noise_scale(loss, jnp.zeros(2), X, y, key=jax.random.key(0), b_small=2, b_big=4)
    with pytest.raises(ValueError, match="params must contain only finite"):
        measure.gradient_noise_stats(loss, jnp.array([0.0, np.inf]), np.ones((10, 2)), np.ones(10))
