"""Landscapes: closed forms against autodiff, finite-sum kernels against per-example gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.landscapes import (
    DoubleWell,
    LinearRegression,
    LogisticRegression,
    Quadratic,
    SharpFlat1D,
    from_examples,
    from_fn,
)


def test_quadratic_closed_forms_match_autodiff(rng):
    a = rng.normal(size=(4, 4))
    h = a @ a.T
    m = rng.normal(size=4)
    q = Quadratic(h, m)
    th = jnp.asarray(rng.normal(size=4), jnp.float32)
    np.testing.assert_allclose(q.grad(th), jax.grad(q.loss)(th), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(q.hessian(th), jax.hessian(q.loss)(th), rtol=1e-4, atol=1e-4)
    v = jnp.ones(4)
    np.testing.assert_allclose(q.hvp(th, v), h.astype(np.float32) @ np.ones(4), rtol=1e-4)
    assert float(q.loss(q.minimum())) == 0.0


def test_ensemble_grad_is_the_gradient_of_every_column(rng):
    # Quadratic overrides ensemble_grad with H Θ − Hθ* (a fast matmul layout); it must equal the
    # per-particle gradient H(θ − θ*) column by column. float64: agreement to rounding (1e-12).
    a = rng.normal(size=(5, 5))
    h, m = a @ a.T, rng.normal(size=5)
    theta = rng.normal(size=(5, 7))
    with jax.enable_x64(True):
        q = Quadratic(h, m)
        got = np.asarray(q.ensemble_grad(jnp.asarray(theta)))
        per = np.asarray(jax.vmap(q.grad, in_axes=1, out_axes=1)(jnp.asarray(theta)))
    np.testing.assert_allclose(got, h @ (theta - m[:, None]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(per, got, rtol=1e-12, atol=1e-12)
    # the default (vmap of grad) on a landscape without an override
    dw = DoubleWell()
    th = jnp.asarray(rng.normal(size=(1, 6)), jnp.float32)
    np.testing.assert_allclose(dw.ensemble_grad(th), jax.vmap(jax.grad(dw.loss), in_axes=1, out_axes=1)(th), rtol=1e-5)


def test_linear_regression_finite_sum_kernels(rng):
    X = rng.normal(size=(30, 3))
    y = rng.normal(size=30)
    lr = LinearRegression(X, y)
    th = jnp.asarray(rng.normal(size=3), jnp.float32)
    g = np.asarray(lr.per_example_grads(th))
    expect = X * (X @ np.asarray(th) - y)[:, None]
    np.testing.assert_allclose(g, expect, rtol=1e-4, atol=1e-4)
    # weighted_grad is the single kernel: w = 1/N gives the full gradient
    np.testing.assert_allclose(lr.weighted_grad(th, jnp.full(30, 1 / 30)), expect.mean(0), rtol=1e-4, atol=1e-5)
    idx = jnp.array([0, 3, 3, 7])
    np.testing.assert_allclose(lr.batch_grad(th, idx), expect[[0, 3, 3, 7]].mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lr.hessian(th), X.T @ X / 30, rtol=1e-4, atol=1e-5)
    C = np.asarray(lr.gradient_covariance(th))
    np.testing.assert_allclose(C, np.cov(expect.T, bias=True), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(lr.grad(lr.minimum()), 0.0, atol=1e-4)


def test_logistic_regression_gradient_matches_formula(rng):
    X = rng.normal(size=(40, 2))
    y = (rng.uniform(size=40) < 0.5).astype(float)
    lg = LogisticRegression(X, y, l2=0.1)
    th = jnp.array([0.3, -0.2])
    p = 1 / (1 + np.exp(-(X @ np.asarray(th))))
    expect = X.T @ (p - y) / 40 + 0.1 * np.asarray(th)
    np.testing.assert_allclose(lg.grad(th), expect, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        LogisticRegression(X, y + 2)


def test_double_well_default_is_quartic_minus_quadratic():
    dw = DoubleWell()
    xs = jnp.linspace(-2, 2, 9)
    np.testing.assert_allclose(dw.potential(xs), xs**4 / 4 - xs**2 / 2, rtol=1e-6, atol=1e-6)
    big = DoubleWell(barrier=1.0, scale=2.0)
    assert float(big.loss(jnp.array([2.0]))) == pytest.approx(-1.0)
    assert float(big.loss(jnp.array([0.0]))) == 0.0
    assert float(jax.hessian(big.loss)(jnp.array([2.0]))[0, 0]) == pytest.approx(8 * 1.0 / 4.0, rel=1e-5)


def test_sharp_flat_minima_have_equal_loss_and_requested_curvature():
    sf = SharpFlat1D(sharp_curvature=25.0, flat_curvature=0.5, sharp_at=0.5, flat_at=-2.0)
    for x, c in ((0.5, 25.0), (-2.0, 0.5)):
        th = jnp.array([x])
        assert float(sf.loss(th)) == pytest.approx(0.0, abs=1e-7)
        assert float(sf.grad(th)[0]) == pytest.approx(0.0, abs=1e-5)
        assert float(sf.hessian(th)[0, 0]) == pytest.approx(c, rel=1e-4)
    xs = jnp.linspace(-4, 3, 200)
    assert bool(jnp.all(sf.potential(xs) >= 0))


def test_wrappers():
    f = from_fn(lambda th: jnp.sum(jnp.cos(th)), dim=2)
    np.testing.assert_allclose(f.grad(jnp.zeros(2)), 0.0, atol=1e-7)
    X = jnp.arange(6.0).reshape(3, 2)
    ex = from_examples(lambda th, x, t: 0.5 * (x @ th - t) ** 2, X, jnp.ones(3), dim=2)
    ref = LinearRegression(X, jnp.ones(3))
    th = jnp.array([0.1, 0.2])
    np.testing.assert_allclose(ex.per_example_grads(th), ref.per_example_grads(th), rtol=1e-6)
    with pytest.raises(ValueError, match="scalar"):
        from_fn(lambda th: th, dim=2)
    with pytest.raises(TypeError, match="callable"):
        from_fn(3, dim=2)
