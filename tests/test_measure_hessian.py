"""HVP-based Hessian numbers against dense ``jax.hessian`` + ``numpy.linalg.eigh`` (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from sgd_sde import measure
from sgd_sde.networks import MLP, example_loss

RTOL = 1e-4  # the brief's bar for float64 HVP numbers vs the dense computation


@pytest.fixture(scope="module")
def problem():
    """(loss_fn, params, X, y, H, per-example grads), float64, computed once for the module."""
    with jax.enable_x64(True):
        loss_fn, params, X, y = small_problem()
        H, g = dense(loss_fn, params, X, y)
    return loss_fn, params, X, y, H, g


def small_problem():
    """A 3-4-3 MLP (31 params) on 24 examples, float64 (call inside enable_x64)."""
    model = MLP(3, 3, (4,), key=jax.random.key(0), activation=jnp.tanh)
    loss_fn, params = example_loss(model)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    X = jax.random.normal(jax.random.key(1), (24, 3), jnp.float64)
    y = jax.random.randint(jax.random.key(2), (24,), 0, 3)
    return loss_fn, params, X, y


def dense(loss_fn, params, X, y):
    theta, unravel = ravel_pytree(params)
    mean = lambda th: jnp.mean(jax.vmap(loss_fn, in_axes=(None, 0, 0))(unravel(th), X, y))
    H = np.asarray(jax.jit(jax.hessian(mean))(theta))
    g = np.asarray(jax.jit(jax.vmap(jax.grad(lambda th, x, t: loss_fn(unravel(th), x, t)), in_axes=(None, 0, 0)))(theta, X, y))
    return H, g


def test_top_eigs_trace_and_b_noise_match_dense(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, g = problem
        evals = np.linalg.eigh(H)[0][::-1]
        top = measure.hessian_top_eigs(loss_fn, params, X, y, 3)
        np.testing.assert_allclose(top, evals[:3], rtol=RTOL)
        info = measure.hessian_top_eigs(loss_fn, params, X, y, 3, full_output=True)
        assert info.converged and info.n_hvp <= H.shape[0]
        tr = measure.hessian_trace(loss_fn, params, X, y)  # d = 31 ≤ 2048: exact by default
        np.testing.assert_allclose(tr, np.trace(H), rtol=RTOL)
        assert tr.stderr == 0.0
        G = g.mean(0)
        dev = g - G
        cov = dev.T @ dev / len(g)
        stats = measure.gradient_noise_stats(loss_fn, params, X, y)
        np.testing.assert_allclose(stats.grad_sq_norm, G @ G, rtol=RTOL)
        np.testing.assert_allclose(stats.trace_cov, np.trace(cov), rtol=RTOL)
        np.testing.assert_allclose(stats.b_simple, np.trace(cov) / (G @ G), rtol=RTOL)
        np.testing.assert_allclose(stats.b_noise, np.trace(H @ cov) / (G @ H @ G), rtol=RTOL)
        np.testing.assert_allclose(stats["trace_h_cov"], np.trace(H @ cov), rtol=RTOL)


def test_power_iteration_and_eigenvectors(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, _ = problem
        w, v = np.linalg.eigh(H)
        top = measure.hessian_top_eigs(loss_fn, params, X, y, 1, return_vectors=True)
        vec = ravel_pytree(top.eigenvectors[0])[0]
        assert abs(abs(float(vec @ v[:, -1])) - 1.0) < 1e-6
        # power iteration finds the largest-|λ| eigenvalue (here the largest: check which it is)
        pw = measure.hessian_top_eigs(loss_fn, params, X, y, 1, method="power", tol=1e-10, max_iter=2000)
        target = w[np.argmax(np.abs(w))]
        np.testing.assert_allclose(pw[0], target, rtol=1e-4)


def test_hutchinson_within_standard_errors(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, _ = problem
        est = measure.hessian_trace(loss_fn, params, X, y, method="hutchinson", key=jax.random.key(3), n_samples=400)
        # Rademacher probes: Var(vᵀHv) = 2 Σ_{i≠j} H_ij²  (exact), so SE = sqrt(that / m); allow 4 SE
        se = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 400)
        assert abs(est - np.trace(H)) < 4 * se
        assert abs(est.stderr - se) < 0.3 * se  # the reported SE estimates the true one


def test_slq_moments(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, _ = problem
        d = H.shape[0]
        sd = measure.hessian_spectral_density(loss_fn, params, X, y, key=jax.random.key(4), n_probes=64, n_iter=d)
        np.testing.assert_allclose(sd.weights.sum(axis=1), 1.0, atol=1e-10)
        # with n_iter = d the quadrature is exact per probe: Σ w θ = vᵀHv/|v|²; Rademacher |v|² = d
        # so the mean over probes estimates tr(H)/d with SE sqrt(2 Σ_{i≠j}H_ij² / 64)/d; allow 4 SE
        se = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 64) / d
        assert abs(sd.moment(1) - np.trace(H) / d) < 4 * se
        assert abs(np.trapezoid(sd.density, sd.grid) - 1.0) < 1e-3


def test_bad_arguments():
    loss = lambda p, x, t: jnp.sum(p**2)
    X, y = jnp.zeros((2, 1)), jnp.zeros(2)
    with pytest.raises(ValueError, match="k must be"):
        measure.hessian_top_eigs(loss, jnp.zeros(3), X, y, 4)
    with pytest.raises(ValueError, match="method"):
        measure.hessian_top_eigs(loss, jnp.zeros(3), X, y, 1, method="qr")
    with pytest.raises(TypeError, match="key"):
        measure.hessian_trace(loss, jnp.zeros(3), X, y, method="hutchinson")
    with pytest.raises(ValueError, match="same number of examples"):
        measure.hessian_trace(loss, jnp.zeros(3), X, jnp.zeros(3), method="exact")
    with pytest.raises(TypeError, match="loss_fn"):
        measure.hessian_top_eigs(None, jnp.zeros(3), X, y)


def test_float32_default_dtype_works():
    loss = lambda p, x, t: 0.5 * jnp.sum(x * p**2)
    X = jnp.array([[1.0, 4.0, 10.0]], jnp.float32)
    e = measure.hessian_top_eigs(loss, jnp.zeros(3, jnp.float32), X, jnp.zeros(1), 1)
    assert abs(e[0] - 10.0) < 1e-4


def test_chunking_does_not_change_results(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, g = problem
        a = measure.gradient_noise_stats(loss_fn, params, X, y, hessian=False)
        b = measure.gradient_noise_stats(loss_fn, params, X, y, hessian=False, chunk_size=7)  # ragged last chunk
        np.testing.assert_allclose([a.grad_sq_norm, a.trace_cov], [b.grad_sq_norm, b.trace_cov], rtol=1e-12)


def test_covariance_alignment_matches_dense(problem):
    with jax.enable_x64(True):
        loss_fn, params, X, y, H, g = problem
        C = np.cov(g.T, bias=True)
        F = g.T @ g / len(g)
        cos = lambda A, B: np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B))
        out = measure.covariance_alignment(loss_fn, params, X, y)
        np.testing.assert_allclose(out["cos_cov_fisher"], cos(C, F), rtol=1e-8)
        np.testing.assert_allclose(out["cos_cov_hessian"], cos(C, H), rtol=1e-8)
        np.testing.assert_allclose(out["cos_fisher_hessian"], cos(F, H), rtol=1e-8)
        np.testing.assert_allclose(out["hessian_fro"], np.linalg.norm(H), rtol=1e-8)


def test_non_finite_data_raises_value_error_not_linalg_error():
    """NaN data used to reach NumPy's eigensolver and fail there with LinAlgError."""
    loss = lambda p, x, t: 0.5 * jnp.sum(x * p**2) + 0.0 * t
    X = np.abs(np.random.default_rng(0).standard_normal((12, 3)))
    X[5, 1] = np.nan
    for fn in (lambda: measure.hessian_top_eigs(loss, jnp.ones(3), X, np.zeros(12), k=1),
               lambda: measure.hessian_trace(loss, jnp.ones(3), X, np.zeros(12), key=jax.random.key(0)),
               lambda: measure.keskar_sharpness(loss, jnp.ones(3), X, np.zeros(12))):
        with pytest.raises(ValueError, match="X must contain only finite"):
            fn()
