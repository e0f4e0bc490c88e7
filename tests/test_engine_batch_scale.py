"""The batch scale c(B) belongs to the noise model, and SGD and every SDE take it from there.

Issue 12: the SDE of sampling *without* replacement used 1/B instead of (N−B)/(B(N−1)). These tests
check the stationary covariance of the SDE against exact SGD and against the discrete Lyapunov
value, at N = 20 and B ∈ {2, 10, 19}, with and without replacement.

Standard errors. Every run starts at the minimum θ*, so E[θ_k − θ*] = 0 exactly (the noise has
mean zero and the mean obeys the noiseless linear recursion), and the stationary covariance is the
second moment M = E[δδᵀ]. With P independent particles, each entry of the sample second moment is a
mean of P i.i.d. products δ_i δ_j, so its SE is std(δ_i δ_j)/sqrt(P) (no Gaussian assumption).
Burn-in: the slowest mode relaxes as (1 − η λ_min)^{2k}; with η λ_min ≥ 0.05 and k ≥ 300 that is
≤ 1e-13, far below the SE. Tolerance: 4 SE.
"""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD, DiffraxSDE, EulerMaruyama
from sgd_sde.landscapes import LinearRegression, Quadratic
from sgd_sde.noise import (
    Dense, Diagonal, ExactMinibatch, FisherShaped, HeavyTailed, HessianShaped, Isotropic, LowRank, NoNoise,
    batch_scale,
)
from sgd_sde.simulate import sweep
from sgd_sde.theory import stationary_covariance

N = 20
BATCHES = (2, 10, 19)
LR = 0.1
P = 4000
H = np.diag([1.0, 3.0])
COV = np.array([[1.0, 0.4], [0.4, 2.0]])


def _c2(batch, replace):
    """The textbook variance factor: 1/B with replacement, (N−B)/(B(N−1)) without."""
    return 1.0 / batch if replace else (N - batch) / (batch * (N - 1))


def _moment_and_se(delta):
    """Sample second moment of the rows of ``delta`` (P, d) and the SE of each entry."""
    prod = delta[:, :, None] * delta[:, None, :]
    return prod.mean(0), prod.std(0) / np.sqrt(len(delta))


def _gaussian_models(n_population):
    """Every Gaussian model with a constant per-example covariance C = COV (LowRank: rank 2)."""
    lam, q = np.linalg.eigh(COV)
    return {
        "Isotropic": (Isotropic(1.5, n_population=n_population), 1.5 * np.eye(2)),
        "Diagonal": (Diagonal([1.0, 2.0], n_population=n_population), np.diag([1.0, 2.0])),
        "Dense": (Dense(COV, n_population=n_population), COV),
        "LowRank": (LowRank(q * np.sqrt(lam), n_population=n_population), COV),
        "HessianShaped": (HessianShaped(0.5, 0.2, n_population=n_population), 0.5 * (H + 0.2 * np.eye(2))),
    }


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(N, 2)) * np.array([1.0, 1.5])
    y = X @ np.array([1.0, -1.0]) + 0.7 * rng.normal(size=N)
    return LinearRegression(X.astype(np.float32), y.astype(np.float32))


def test_batch_scale_is_the_noise_models_and_matches_the_textbook(regression):
    """One formula: c(B)² = 1/B with replacement, (N−B)/(B(N−1)) without, B^{2/α−2} for α-stable."""
    for batch in BATCHES:
        for replace in (True, False):
            pop = None if replace else N
            models = [m for m, _ in _gaussian_models(pop).values()]
            models += [FisherShaped(1.0, replace), ExactMinibatch(replace)]
            for m in models:
                c = float(m.batch_scale(regression, batch, jnp.float32))
                assert c * c == pytest.approx(_c2(batch, replace), rel=1e-6), (type(m).__name__, batch, replace)
        assert float(HeavyTailed(1.5).batch_scale(regression, batch, jnp.float32)) == pytest.approx(
            batch ** (1 / 1.5 - 1), rel=1e-6)
    assert float(batch_scale(19, jnp.float32, n_population=20)) ** 2 == pytest.approx(1 / 361, rel=1e-6)


def test_euler_maruyama_with_one_substep_is_sgd_op_for_op():
    """With Gaussian noise, EM(substeps=1) and SGD are the same map with the same increment, including
    the finite-population factor; the floats agree to rounding (asserted to 4 ulp per step)."""
    noise = Dense(COV, n_population=N)
    kw = dict(noise=noise, n_steps=50, n_particles=64, observables=())
    a = simulate(jax.random.key(1), Quadratic(H), SGD(LR, 10), jnp.ones(2), **kw).theta
    b = simulate(jax.random.key(1), Quadratic(H), EulerMaruyama(LR, 10), jnp.ones(2), **kw).theta
    np.testing.assert_allclose(a, b, rtol=0, atol=4 * 50 * np.finfo(np.float32).eps * np.abs(a).max())


def _stationary(landscape, dynamics, noise, theta_star, batches=BATCHES, n_steps=300, key=0, n_particles=P):
    """{B: δ = θ − θ* (P, d) float64} after ``n_steps`` from θ*, one vmapped program over B."""
    runs = sweep(jax.random.key(key), landscape, dynamics, jnp.asarray(theta_star, jnp.float32), lrs=[LR],
                 batch_sizes=list(batches), noise=noise, n_steps=n_steps, n_particles=n_particles,
                 save_at=[n_steps], observables=())
    return {b: runs[(LR, b)].theta.astype(np.float64) - np.asarray(theta_star, np.float64) for b in batches}


@pytest.mark.parametrize("name", list(_gaussian_models(None)))
def test_sde_stationary_covariance_has_the_finite_population_factor(name):
    """EM(substeps=1) with each Gaussian model: the stationary covariance equals the discrete
    Lyapunov solution Σ = (I−ηH)Σ(I−ηH)ᵀ + η² c(B)² C within 4 SE, with and without replacement.
    Before the fix the SDE used c² = 1/B without replacement: 1.9× too large at B = 10, 19× at 19.

    Ratio without/with: both runs use the same key, the same increments and start at θ*, and the
    map is linear with constant C, so θ_without − θ* = sqrt((N−B)/(N−1)) (θ_with − θ*) particle by
    particle; the ratio of the second moments is (N−B)/(N−1) up to float32 rounding (rtol 1e-5),
    a stronger check than 4 SE (whose delta-method SE is ~0 for perfectly paired samples)."""
    q = Quadratic(H)
    moments = {}
    for replace in (True, False):
        noise, cov = _gaussian_models(None if replace else N)[name]
        deltas = _stationary(q, EulerMaruyama(LR, 1), noise, np.zeros(2))
        for b, delta in deltas.items():
            emp, se = _moment_and_se(delta)
            exact = stationary_covariance(H, cov, LR, 1.0 / _c2(b, replace))
            assert np.all(np.abs(emp - exact) <= 4 * se), (name, b, replace, emp, exact, se)
            moments[b, replace] = np.trace(emp)
    for b in BATCHES:
        assert moments[b, False] / moments[b, True] == pytest.approx((N - b) / (N - 1), rel=1e-5)


def _fisher_fixed_point(landscape, c2):
    r"""Exact stationary second moment of δ_{k+1} = (I − ηH)δ_k − η ξ_k with Cov(ξ | θ) = c² C(θ),
    C(θ) the per-example gradient covariance of least squares (θ-dependent).

    With a_i = x_i x_iᵀ, b_i = x_i (y_i − x_iᵀθ*) (Σ b_i = 0): g_i = a_i δ − b_i, ḡ = Hδ, and
    E[C(θ)] = C* + (1/N) Σ_i a_i M a_i − H M H (the cross terms vanish since E δ = 0), C* = (1/N) Σ b_i b_iᵀ.
    So M = (I−ηH) M (I−ηH)ᵀ + η² c² E[C(θ)] is *linear* in M: solved in Kronecker form. With the
    state-dependent terms dropped it is the constant-C discrete Lyapunov equation."""
    X = np.asarray(landscape.X, np.float64)
    y = np.asarray(landscape.y, np.float64)
    n, d = X.shape
    h = X.T @ X / n
    theta_star = np.linalg.solve(h, X.T @ y / n)
    b_i = X * (y - X @ theta_star)[:, None]
    c_star = b_i.T @ b_i / n
    a_i = np.einsum("ni,nj->nij", X, X)
    m = np.eye(d) - LR * h
    K = np.kron(m, m) + LR**2 * c2 * (sum(np.kron(a, a) for a in a_i) / n - np.kron(h, h))
    vec = np.linalg.solve(np.eye(d * d) - K, LR**2 * c2 * c_star.reshape(-1))
    return vec.reshape(d, d), theta_star


def test_exact_minibatch_sgd_and_its_sde_agree_with_and_without_replacement(regression):
    """Linear regression, N = 20: exact minibatch SGD (real subsets / i.i.d. indices) and the SDE of
    the same noise model (EM(substeps=1); ExactMinibatch stands for FisherShaped with the same
    ``replace``) both have the stationary second moment of :func:`_fisher_fixed_point` within 4 SE,
    and agree with each other within 4 SE of their difference (independent runs:
    SE_diff = sqrt(SE_sgd² + SE_sde²)). The ratio without/with replacement is checked against the
    oracle's ratio (the state-dependent term makes it differ from (N−B)/(N−1) by < 2%, also checked)."""
    theta_star = np.asarray(regression.minimum(), np.float64)
    traces = {}
    for replace in (True, False):
        sgd = _stationary(regression, SGD(LR, 1), ExactMinibatch(replace), theta_star, key=1)
        sde = _stationary(regression, EulerMaruyama(LR, 1), FisherShaped(1.0, replace), theta_star, key=2)
        for b in BATCHES:
            exact, _ = _fisher_fixed_point(regression, _c2(b, replace))
            m1, s1 = _moment_and_se(sgd[b])
            m2, s2 = _moment_and_se(sde[b])
            assert np.all(np.abs(m1 - exact) <= 4 * s1), ("sgd", b, replace, m1, exact, s1)
            assert np.all(np.abs(m2 - exact) <= 4 * s2), ("sde", b, replace, m2, exact, s2)
            assert np.all(np.abs(m1 - m2) <= 4 * np.sqrt(s1**2 + s2**2)), (b, replace)
            traces[b, replace] = (sgd[b], np.trace(exact))
    for b in BATCHES:
        (u, tu), (v, tv) = traces[b, False], traces[b, True]
        uu, vv = (u**2).sum(1), (v**2).sum(1)
        r = uu.mean() / vv.mean()
        # delta method, independent runs: Var r ≈ r² (Var ū/ū² + Var v̄/v̄²)
        se = r * np.sqrt(uu.var() / (P * uu.mean() ** 2) + vv.var() / (P * vv.mean() ** 2))
        assert abs(r - tu / tv) <= 4 * se, (b, r, tu / tv, se)
        assert tu / tv == pytest.approx((N - b) / (N - 1), rel=0.02)


def test_exact_minibatch_sde_is_its_fisher_gaussian():
    """ExactMinibatch's own SDE path (no FisherShaped in sight) carries the factor: EM(1) with
    ExactMinibatch(replace=False) is the same map, with the same increments, as with
    FisherShaped(replace=False)."""
    rng = np.random.default_rng(3)
    land = LinearRegression(rng.normal(size=(N, 2)).astype(np.float32), rng.normal(size=N).astype(np.float32))
    kw = dict(n_steps=30, n_particles=64, observables=())
    a = simulate(jax.random.key(4), land, EulerMaruyama(LR, 10), jnp.zeros(2), noise=ExactMinibatch(False), **kw)
    b = simulate(jax.random.key(4), land, EulerMaruyama(LR, 10), jnp.zeros(2), noise=FisherShaped(1.0, False), **kw)
    np.testing.assert_array_equal(a.theta, b.theta)


def test_diffrax_sde_has_the_finite_population_factor(regression):
    """DiffraxSDE (Euler, one substep: the EM map with Brownian-tree increments) has the discrete
    Lyapunov covariance with c(B)² from the noise model, without replacement, within 4 SE — for a
    constant C at every B, and for ExactMinibatch (its Fisher Gaussian) at B = 10. 2000 particles
    (diffrax solves per particle): relative SE of a variance ≈ sqrt(2/2000) = 3%, so 4 SE = 13%,
    against the 1.9× (B = 10) and 19× (B = 19) errors of the old 1/B factor; burn-in 150 steps on
    the quadratic (0.9^300 ≈ 2e-14)."""
    dyn = DiffraxSDE(LR, 1, solver=diffrax.Euler(), substeps=1)
    deltas = _stationary(Quadratic(H), dyn, Dense(COV, n_population=N), np.zeros(2), n_steps=150, n_particles=2000)
    for b, delta in deltas.items():
        emp, se = _moment_and_se(delta)
        exact = stationary_covariance(H, COV, LR, 1.0 / _c2(b, False))
        assert np.all(np.abs(emp - exact) <= 4 * se), (b, emp, exact, se)
    theta_star = np.asarray(regression.minimum(), np.float64)
    delta = _stationary(regression, dyn, ExactMinibatch(False), theta_star, batches=(10,), n_particles=2000)[10]
    emp, se = _moment_and_se(delta)
    exact, _ = _fisher_fixed_point(regression, _c2(10, False))
    assert np.all(np.abs(emp - exact) <= 4 * se), (emp, exact, se)


def test_nonoise_needs_no_batch_size():
    """Langevin with exact gradients carries no batch size; one with a noise model must say B."""
    from sgd_sde.dynamics import Langevin

    t = simulate(jax.random.key(0), Quadratic(H), Langevin(0.01, 0.1), jnp.zeros(2), n_steps=5, n_particles=4)
    assert t.metadata["dynamics"]["batch_size"] is None
    with pytest.raises(ValueError, match="batch_size"):
        simulate(jax.random.key(0), Quadratic(H), Langevin(0.01, 0.1), jnp.zeros(2), noise=Isotropic(1.0),
                 n_steps=5)
    assert isinstance(NoNoise().batch_scale(Quadratic(H), 4, jnp.float32), jax.Array)
