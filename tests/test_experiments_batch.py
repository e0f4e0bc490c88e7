"""Batch-size / learning-rate / temperature experiments (issue 14): the Pareto-front fit, the
shared helpers, NoiseStats' theory-backed fields, the McCandlish argument order, the
state-dependent stationary covariance, and each experiment at toy size (asserting the shape of
its verdicts, never a particular verdict)."""

import math
import warnings

import numpy as np
import pytest

from sgd_sde import theory
from sgd_sde.experiments import _common
from sgd_sde.experiments.mccandlish import fit_pareto_front
from sgd_sde.verdicts import LEVELS, OUTCOMES, ExperimentResult

B_GRID = np.array([2.0, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
S_MIN, B_CRIT = 500.0, 60.0


# ---------------------------------------------------------------------------- fit_pareto_front
def test_pareto_fit_recovers_exact_front():
    S = S_MIN * (1 + B_CRIT / B_GRID)
    fit = fit_pareto_front(B_GRID, S)
    assert fit.s_min == pytest.approx(S_MIN, rel=1e-2)
    assert fit.e_min == pytest.approx(S_MIN * B_CRIT, rel=1e-2)
    assert fit.b_crit == pytest.approx(B_CRIT, rel=1e-2)
    # exact data: the fit is exact far beyond 1%, and (S/S_min − 1)(E/E_min − 1) = 1 on it
    assert fit.b_crit == pytest.approx(B_CRIT, rel=1e-8)
    E = B_GRID * S
    np.testing.assert_allclose((S / fit.s_min - 1) * (E / fit.e_min - 1), 1.0, rtol=1e-7)
    assert fit.s_min_ci[0] <= fit.s_min <= fit.s_min_ci[1]


def test_pareto_fit_ci_covers_truth_with_5pct_noise():
    rng = np.random.default_rng(14)
    S = S_MIN * (1 + B_CRIT / B_GRID)
    # one draw with 5% multiplicative noise: the truth lies inside each interval
    fit = fit_pareto_front(B_GRID, S * (1 + 0.05 * rng.standard_normal(B_GRID.size)))
    assert fit.s_min_ci[0] <= S_MIN <= fit.s_min_ci[1]
    assert fit.e_min_ci[0] <= S_MIN * B_CRIT <= fit.e_min_ci[1]
    assert fit.b_crit_ci[0] <= B_CRIT <= fit.b_crit_ci[1]
    # calibration: over 200 draws the 95% interval of B_crit covers the truth 95% of the time;
    # binomial SE sqrt(.95·.05/200) = 0.0154, so accept 0.95 ± 3 SE
    hits, log_b, half = 0, [], []
    for _ in range(200):
        f = fit_pareto_front(B_GRID, S * np.exp(0.05 * rng.standard_normal(B_GRID.size)))
        hits += f.b_crit_ci[0] <= B_CRIT <= f.b_crit_ci[1]
        log_b.append(math.log(f.b_crit))
        half.append(0.5 * math.log(f.b_crit_ci[1] / f.b_crit_ci[0]))
    assert 0.95 - 3 * 0.0154 <= hits / 200 <= 0.95 + 3 * 0.0154
    # and the width is right, not just wide enough: the mean half-width equals t_{0.975, n-2} times the
    # spread of the estimates; the SD of 200 draws has relative SE 1/sqrt(400) = 5%, so ±15% is 3 SE
    from scipy import stats

    t = stats.t.ppf(0.975, B_GRID.size - 2)
    assert np.mean(half) / (t * np.std(log_b, ddof=1)) == pytest.approx(1.0, abs=0.15)


def test_pareto_fit_counts_unreached_and_accepts_seeds():
    S = S_MIN * (1 + B_CRIT / B_GRID)
    steps = np.stack([S, S * 1.01, S * 0.99], axis=1)
    steps[0, 2] = np.nan  # a run that never reached the target
    fit = fit_pareto_front(B_GRID, steps)
    assert fit.n_unreached == 1 and fit.n_points == 3 * B_GRID.size - 1
    assert fit.b_crit == pytest.approx(B_CRIT, rel=0.05)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.array([1.0, 2.0]), np.array([3.0, 2.0])), "3 distinct batch sizes"),
        ((np.array([1.0, -2.0, 4.0]), np.ones(3)), "batch_sizes must be > 0"),
        ((np.array([1.0, 2.0, 4.0]), np.ones(4)), "steps must have shape"),
        ((np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])), "steps must be > 0"),
    ],
)
def test_pareto_fit_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        fit_pareto_front(*args)


# ---------------------------------------------------------------------------- shared helpers
def test_bootstrap_ci_deterministic_and_nan_flagging():
    x = np.random.default_rng(0).normal(size=40)
    assert _common.bootstrap_ci(x) == _common.bootstrap_ci(x)
    lo, hi = _common.bootstrap_ci(x)
    se = x.std(ddof=1) / math.sqrt(x.size)
    # the percentile interval of the mean is ≈ mean ± 1.96 SE (bootstrap noise ~10% of its width)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    y = x.copy()
    y[3] = np.inf  # a diverged run is never averaged away
    assert all(math.isnan(v) for v in _common.bootstrap_ci(y))
    assert _common.count_nonfinite(y) == 1
    with pytest.raises(ValueError, match="2 replicates"):
        _common.bootstrap_ci([1.0])


def test_results_table_is_generated_from_results(tmp_path):
    from sgd_sde.verdicts import Verdict

    v = Verdict.decide("src.claim", "network", 1.0, 1.0, tolerance=0.1, ci=(0.95, 1.05))
    r = _common.make_result("demo", "A, 2000", [v], {"x": np.arange(3.0)}, {"quick": True}, key=0)
    assert r.verdicts[0].provenance["config"] == {"quick": True}
    back = ExperimentResult.load(r.save(tmp_path / "demo"))
    table = _common.results_table([back])
    assert "`src.claim`" in table and "**supported**" in table and "python -m sgd_sde.experiments._common demo" in table


def test_resolve_size_and_keys():
    assert _common.resolve_size(True, None) == "quick"
    with pytest.raises(ValueError, match="size must be one of"):
        _common.resolve_size(True, "huge")
    with pytest.raises(TypeError):
        _common.as_key("seed")


# ---------------------------------------------------------------------------- NoiseStats
def test_noise_stats_fields_call_the_theory():
    import jax.numpy as jnp

    from sgd_sde import measure

    # per-example loss ½(θ − x_i)ᵀA(θ − x_i): g_i = A(θ − x_i), H = A, Σ = A Cov(x) A
    rng = np.random.default_rng(3)
    A = np.diag([1.0, 3.0, 0.5])
    X = rng.normal(size=(64, 3))
    theta = np.array([0.7, -0.2, 0.4])
    loss = lambda p, x, t: 0.5 * (p - x) @ jnp.asarray(A, jnp.float32) @ (p - x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = measure.gradient_noise_stats(loss, jnp.asarray(theta, jnp.float32), jnp.asarray(X, jnp.float32), jnp.zeros(64))
    G = A @ (theta - X.mean(axis=0))
    Sigma = A @ np.cov(X.T, bias=True) @ A
    assert s.eps_max == pytest.approx(theory.eps_max(G, A), rel=1e-4)
    assert s.delta_l_max == pytest.approx(theory.delta_l_max(G, A), rel=1e-4)
    bn = theory.b_noise(G, A, Sigma)
    assert s.b_crit == pytest.approx(bn, rel=1e-4)
    B = np.array([1.0, 10.0, 100.0])
    np.testing.assert_allclose(s.eps_opt(B), theory.eps_opt(B, theory.eps_max(G, A), bn), rtol=1e-4)
    np.testing.assert_allclose(s.eps_opt(B, momentum=0.9), 0.1 * theory.eps_opt(B, theory.eps_max(G, A), bn), rtol=1e-4)
    assert s.effective_lr(0.01, momentum=0.9) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="momentum must lie in"):
        s.eps_opt(8, momentum=1.0)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        s.eps_opt(0)
    # Hessian products skipped: the Hessian-based fields are NaN, never a made-up number
    s2 = measure.NoiseStats(grad_sq_norm=1.0, trace_cov=2.0, b_simple=2.0)
    assert math.isnan(s2.eps_max) and math.isnan(s2.eps_opt(4))


# ---------------------------------------------------------------------------- McCandlish argument order
def test_mccandlish_one_argument_order_and_deprecated_old_order():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(4, 4))
    H, Sigma, G = M @ M.T + np.eye(4), np.diag([1.0, 2.0, 3.0, 4.0]), rng.normal(size=4)
    new = (theory.b_noise(G, H, Sigma), theory.b_simple(G, Sigma), theory.expected_loss_after_step(8, 0.1, G, H, Sigma, loss=1.0))
    assert new[0] == pytest.approx(np.trace(H @ Sigma) / (G @ H @ G), rel=1e-12)
    assert new[1] == pytest.approx(np.trace(Sigma) / (G @ G), rel=1e-12)
    with pytest.warns(DeprecationWarning, match="b_noise"):
        old0 = theory.b_noise(H, Sigma, G)
    with pytest.warns(DeprecationWarning, match="b_simple"):
        old1 = theory.b_simple(Sigma, G)
    with pytest.warns(DeprecationWarning, match="expected_loss_after_step"):
        old2 = theory.expected_loss_after_step(0.1, G, H, Sigma, 8, loss=1.0)
    assert (old0, old1, float(old2)) == (new[0], new[1], float(new[2]))
    grid = np.array([0.01, 0.1])  # an array of learning rates in the new order is not mistaken for the old one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.shape(theory.expected_loss_after_step(8, grid, G, H, Sigma)) == (2,)


# ---------------------------------------------------------------------------- state-dependent stationary covariance
def test_stationary_covariance_fixed_point_matches_fisher_noise_simulation():
    import jax

    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import LinearRegression
    from sgd_sde.noise import FisherShaped
    from sgd_sde.simulate import simulate
    from sgd_sde.theory.lyapunov import least_squares_noise_covariance

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 2)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0]) + 0.5 * rng.normal(size=32)).astype(np.float32)
    th = np.linalg.lstsq(X.astype(float), y.astype(float), rcond=None)[0]
    H = X.T.astype(float) @ X / 32
    lr, B = 0.2, 1
    C_of = least_squares_noise_covariance(X, y)
    S_fix = theory.stationary_covariance(H, C_of, lr, B)
    S_const = theory.stationary_covariance(H, C_of(np.zeros((2, 2))), lr, B)
    # the fixed point is a fixed point
    np.testing.assert_allclose(S_fix, theory.stationary_covariance(H, C_of(S_fix), lr, B), rtol=1e-9)
    P, T = 2000, 400
    tr = simulate(jax.random.key(0), LinearRegression(X, y), SGD(lr=lr, batch_size=B), th.astype(np.float32),
                  noise=FisherShaped(), n_steps=T, n_particles=P, save_every=20, observables=("theta",), progress=False)
    dev = np.asarray(tr.saved["theta"], np.float64)[5:] - th  # drop the transient (1/(ηλ_min) ≈ 10 steps)
    per = np.einsum("spi,spi->p", dev, dev) / dev.shape[0]  # per-particle time-averaged |δ|² (independent over p)
    est, se = per.mean(), per.std(ddof=1) / math.sqrt(P)
    assert abs(est - np.trace(S_fix)) < 4 * se  # k = 4 standard errors of the particle mean
    assert est - np.trace(S_const) > 10 * se  # the constant-C(θ*) theory is measurably low
    with pytest.raises(ValueError, match="did not converge"):
        theory.stationary_covariance(H, lambda S: np.eye(2) + 1e3 * S, lr, B, max_iter=200)


# ---------------------------------------------------------------------------- experiments at toy size
EXPERIMENTS = ["mccandlish", "smith_le", "smith", "temperature", "svag"]


# Each toy run costs 10-40 s on 2 shared CPU cores, almost all of it XLA compilation (one program
# per batch size per sweep); marked slow so `-m "not slow"` gives a fast loop.
@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_toy_run_has_well_formed_verdicts(name, tmp_path):
    from sgd_sde.experiments import get

    mod = get(name)
    res = mod.run(0, quick=True, size="toy")
    assert isinstance(res, ExperimentResult) and res.name == name and res.verdicts
    src = {"mccandlish": "mccandlish2018", "smith_le": "smithle2018", "smith": "smith2018", "temperature": "mcallester",
           "svag": "li2021svag"}[name]
    for v in res.verdicts:
        assert v.claim.startswith(src + ".") and v.level in LEVELS and v.verdict in OUTCOMES and v.verdict != "error"
        assert v.statement and v.note and v.provenance["config"]["size"] == "toy"
        # a number or an explicit NaN (inconclusive, with the reason in the note), never None
        assert v.measured is not None and v.expected is not None
        if v.verdict != "inconclusive":
            assert math.isfinite(v.measured)
        if v.ci is not None and v.verdict != "inconclusive":
            assert all(math.isfinite(c) for c in v.ci) and v.ci[0] <= v.ci[1]
    back = ExperimentResult.load(res.save(tmp_path / name))
    png = mod.figure(back, tmp_path)
    assert png.name == f"{name}.png" and png.stat().st_size > 10_000
