"""Claims of McCandlish, Kaplan, Amodei et al. 2018, "An Empirical Model of Large-Batch Training".

Symbolic checks run :mod:`sgd_sde.theory.mccandlish`'s SymPy derivations; simulation checks
measure the loss after one SGD step (:func:`sgd_sde.claims._sim.one_step_losses`: one
:func:`~sgd_sde.simulate.sweep` of :class:`~sgd_sde.landscapes.Quadratic` with dense Gaussian
gradient noise) and the gradient noise scale of :class:`~sgd_sde.landscapes.LinearRegression`
with :mod:`sgd_sde.measure`; network checks read :mod:`sgd_sde.experiments.mccandlish`.

References:
    McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, "An Empirical Model of Large-Batch Training".
"""

from __future__ import annotations

import numpy as np

from ._common import decide, network_check, np_rng, prng, symbolic_check
from ._registry import Claim, register
from ._sim import mean_se, mccandlish_setup, one_step_losses, regression_problem

CITATION = "McCandlish, Kaplan, Amodei et al. 2018, An Empirical Model of Large-Batch Training"
S = "mccandlish2018"
B_STEP = 8  # batch size of the one-step simulations (B_noise of the set-up is ≈ 7)
FACTORS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.5)


def _fit(lrs, losses, loss0, idx):
    """Fit E L(ε) = L0 − a ε + ½ c ε² on particles ``idx`` (least squares on the mean curve)."""
    mean = losses[idx].mean(0) - loss0
    A = np.stack([-lrs, 0.5 * lrs**2], axis=1)
    a, c = np.linalg.lstsq(A, mean, rcond=None)[0]
    return a / c, 0.5 * a * a / c  # argmin, improvement at the argmin


def _bootstrap(key, quick, stat):
    d = one_step_losses(key, quick, B_STEP, FACTORS)
    P = d["losses"].shape[0]
    est = stat(d, np.arange(P))
    rng = np_rng(key, 11)
    boots = np.array([stat(d, rng.integers(0, P, P)) for _ in range(200)])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return d, est, (float(lo), float(hi))


def _sim_eps_opt(key, quick):
    d, est, ci = _bootstrap(key, quick, lambda d, i: _fit(d["lrs"], d["losses"], d["loss0"], i)[0])
    rel = est / d["eps_opt"]
    return decide(f"{S}.eps_opt_formula", "simulation", rel, 1.0, tolerance=0.05, key=key,
                  ci=(ci[0] / d["eps_opt"], ci[1] / d["eps_opt"]),
                  config={"batch_size": B_STEP, "lr_factors": FACTORS, "quick": quick},
                  note=f"argmin of the simulated one-step loss / ε_opt(B={B_STEP}) = {rel:.4f} "
                       f"(ε_opt = {d['eps_opt']:.4g}, B_noise = {d['b_noise']:.3g})", figure="mccandlish_eps_opt")


def _sim_delta_l(key, quick):
    from ..theory import delta_l_max, delta_l_opt

    H, Sigma, theta0, G = mccandlish_setup()
    d, est, ci = _bootstrap(key, quick, lambda d, i: _fit(d["lrs"], d["losses"], d["loss0"], i)[1])
    exp = float(delta_l_opt(B_STEP, delta_l_max(G, H), d["b_noise"]))
    return decide(f"{S}.delta_l_opt_formula", "simulation", est / exp, 1.0, tolerance=0.05,
                  ci=(ci[0] / exp, ci[1] / exp), key=key, config={"batch_size": B_STEP, "quick": quick},
                  note=f"best simulated one-step improvement / ΔL_opt(B) = {est / exp:.4f}")


def _sim_two_eps(key, quick):
    d = one_step_losses(key, quick, B_STEP, FACTORS)
    j = FACTORS.index(2.5)
    m, se = mean_se(d["losses"][:, j] - d["loss0"])
    return decide(f"{S}.diverge_above_two_eps_opt", "simulation", m, 0.0, kind="greater",
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"lr": "2.5 eps_opt", "quick": quick},
                  note=f"mean loss change after one step at ε = 2.5 ε_opt: {m:.4g} ± {1.96 * se:.2g} (> 0: the step "
                       "makes the loss worse on average)")


def _numeric_slope(at: float):
    def numeric():
        from ..theory import delta_l_opt

        bn = 100.0
        b = at * bn
        slope = (np.log(delta_l_opt(b * 1.01, 1.0, bn)) - np.log(delta_l_opt(b / 1.01, 1.0, bn))) / (2 * np.log(1.01))
        target = 1.0 if at < 1 else 0.0
        return float(np.round(slope, 2)), target, f"d log ΔL_opt / d log B at B = {at:g}·B_noise = {slope:.4f}"

    return numeric


def _sim_two_batch(key, quick):
    """The two-batch estimators of |G|² and tr Σ are unbiased (measured over many batch pairs)."""
    from ..measure import two_batch_estimates

    land = regression_problem(512)
    import jax.numpy as jnp

    theta = jnp.full(land.dim, 0.3, jnp.float32)
    g = np.asarray(land.per_example_grads(theta), dtype=float)
    G = g.mean(0)
    rng = np_rng(key, 12)
    n_pairs, b_small, b_big = (4000 if quick else 40000), 4, 64
    small = g[rng.integers(0, len(g), (n_pairs, b_small))].mean(1)
    big = g[rng.integers(0, len(g), (n_pairs, b_big))].mean(1)
    est = two_batch_estimates((small**2).sum(1), (big**2).sum(1), b_small, b_big)
    g2 = np.asarray(est[0] if isinstance(est, tuple) else est["g2"], dtype=float)
    m, se = mean_se(g2)
    exact = float(G @ G)
    return decide(f"{S}.two_batch_estimator_unbiased", "simulation", m / exact, 1.0, tolerance=0.05,
                  ci=((m - 1.96 * se) / exact, (m + 1.96 * se) / exact), key=key,
                  config={"n_pairs": n_pairs, "b_small": b_small, "b_big": b_big},
                  note=f"mean two-batch |G|² estimate / exact |G|² = {m / exact:.4f}")


def _per_example_grads(land, thetas):
    import equinox as eqx
    import jax

    global _PEG
    if "_PEG" not in globals():
        _PEG = eqx.filter_jit(lambda ls, th: jax.vmap(ls.per_example_grads)(th))
    return _PEG(land, thetas)


def _b_simple_many(land, thetas):
    """B_simple = tr Σ/|G|² (:func:`sgd_sde.theory.b_simple`) at each row of ``thetas``."""
    from ..theory import b_simple

    grads = np.asarray(_per_example_grads(land, thetas), dtype=float)  # (P, N, d)
    return np.array([b_simple(g.mean(0), np.cov(g.T, bias=True)) for g in grads])


def _sim_grows(key, quick):
    """B_simple grows along an SGD run as |G| shrinks (linear regression with label noise)."""
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..noise import ExactMinibatch
    from ..simulate import simulate

    land = regression_problem(256)
    theta0 = jnp.full(land.dim, 3.0, jnp.float32)
    P = 32 if quick else 128
    traj = simulate(prng(key, 13), land, SGD(lr=0.05, batch_size=8), theta0, noise=ExactMinibatch(), n_steps=400,
                    n_particles=P, save_at=[0, 25, 400], observables=("theta",), progress=False)
    th = jnp.asarray(traj.saved["theta"])  # (3, P, d)
    r = np.log(_b_simple_many(land, th[2]) / _b_simple_many(land, th[1]))
    m, se = mean_se(r)
    return decide(f"{S}.noise_scale_grows_in_training", "simulation", m, 0.0, kind="greater",
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"steps": [25, 400], "particles": P},
                  note=f"mean log(B_simple at step 400 / at step 25) = {m:.3f} (B_simple grows ×{np.exp(m):.3g})")


def _sim_independent_of_n(key, quick):
    """B_simple at a fixed θ does not depend on the data-set size N (same data distribution)."""
    import jax.numpy as jnp

    reps = 8 if quick else 32
    ratios = []
    for r in range(reps):
        small = regression_problem(1024, seed=1000 * key + r)
        big = regression_problem(8192, seed=1000 * key + r + 500)
        theta = jnp.full((1, small.dim), 1.5, jnp.float32)
        ratios.append(np.log(_b_simple_many(big, theta)[0] / _b_simple_many(small, theta)[0]))
    m, se = mean_se(ratios)
    return decide(f"{S}.noise_scale_independent_of_n", "simulation", m, 0.0, tolerance=0.1,
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"N": [1024, 8192], "reps": reps},
                  note=f"mean log(B_simple(N=8192)/B_simple(N=1024)) = {m:.3f} over {reps} pairs of data sets")


def _sim_b_over_eps(key, quick):
    """Appendix C: at equilibrium B_simple ∝ B/ε (stationary SGD on a quadratic)."""
    from ..stability import loglog_slope
    from ._sim import QUAD_H, stationary_moments

    mom = stationary_moments(key, quick)
    h = np.asarray(QUAD_H)
    x, y = [], []
    for (lr, b), (m, se) in mom.items():
        g2 = float((h**2 * m).sum())  # E|G|² = Σ h_i² E θ_i²
        x.append(b / lr)
        y.append(len(h) / g2)  # B_simple = tr C / |G|² with C = I
    slope, ci, _ = loglog_slope(np.array(x), np.array(y))
    return decide(f"{S}.noise_scale_proportional_b_over_eps", "simulation", slope, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"grid": sorted(mom)}, note=f"log-log slope of B_simple vs B/ε at equilibrium = {slope:.3f}")


CLAIMS = [
    Claim(f"{S}.eps_opt_formula", "Under gradient noise the optimal step is ε_opt(B) = ε_max/(1 + B_noise/B).", CITATION,
          {"symbolic": symbolic_check(f"{S}.eps_opt_formula", ["mccandlish.expected_loss", "mccandlish.eps_opt",
                                                                 "mccandlish.eps_max"]),
           "simulation": _sim_eps_opt,
           "network": network_check(f"{S}.eps_opt_formula", "mccandlish", f"{S}.eps_opt")}, figure="mccandlish_eps_opt"),
    Claim(f"{S}.delta_l_opt_formula", "The best one-step improvement is ΔL_opt(B) = ΔL_max/(1 + B_noise/B).", CITATION,
          {"symbolic": symbolic_check(f"{S}.delta_l_opt_formula", ["mccandlish.delta_l_opt", "mccandlish.delta_l_max"]),
           "simulation": _sim_delta_l}),
    Claim(f"{S}.diverge_above_two_eps_opt",
          "A step larger than 2 ε_opt increases the expected loss (training is likely to diverge).", CITATION,
          {"symbolic": symbolic_check(f"{S}.diverge_above_two_eps_opt", ["mccandlish.two_eps_opt"]),
           "simulation": _sim_two_eps,
           "network": network_check(f"{S}.diverge_above_two_eps_opt", "mccandlish", f"{S}.beyond_two_eps_opt")}),
    Claim(f"{S}.linear_regime_small_batch",
          "For B ≪ B_noise the progress per step grows linearly in B (d log ΔL_opt/d log B → 1).", CITATION,
          {"symbolic": symbolic_check(f"{S}.linear_regime_small_batch", ["mccandlish.limits"], _numeric_slope(1e-3))}),
    Claim(f"{S}.saturation_large_batch",
          "For B ≫ B_noise increasing B hardly changes the progress per step (d log ΔL_opt/d log B → 0).", CITATION,
          {"symbolic": symbolic_check(f"{S}.saturation_large_batch", ["mccandlish.limits"], _numeric_slope(1e3))}),
    Claim(f"{S}.b_crit_matches_b_noise",
          "The steps–examples trade-off (S/S_min − 1)(E/E_min − 1) = 1 puts the critical batch B_crit = E_min/S_min "
          "at the noise scale B_noise.", CITATION,
          {"symbolic": symbolic_check(f"{S}.b_crit_matches_b_noise", ["mccandlish.pareto_front", "mccandlish.examples_form"]),
           "network": network_check(f"{S}.b_crit_matches_b_noise", "mccandlish", f"{S}.b_crit_vs_b_noise")},
          figure="mccandlish"),
    Claim(f"{S}.two_batch_estimator_unbiased",
          "The two-batch estimators of |G|² and tr Σ (Appendix A.1) are unbiased.", CITATION,
          {"symbolic": symbolic_check(f"{S}.two_batch_estimator_unbiased",
                                      ["mccandlish.two_batch_unbiased", "mccandlish.batch_gradient_norm"]),
           "simulation": _sim_two_batch}),
    Claim(f"{S}.noise_scale_grows_in_training",
          "During training |G| shrinks, so the noise scale B_simple = tr Σ/|G|² grows (measured: log-ratio > 0).",
          CITATION, {"simulation": _sim_grows,
                     "network": network_check(f"{S}.noise_scale_grows_in_training", "mccandlish", f"{S}.b_noise_grows")}),
    Claim(f"{S}.noise_scale_independent_of_n",
          "The noise scale does not depend on the data-set size N (|log ratio| ≤ 0.1 between N = 1024 and 8192).",
          CITATION, {"simulation": _sim_independent_of_n}),
    Claim(f"{S}.noise_scale_proportional_b_over_eps",
          "At equilibrium the noise scale is ∝ B/ε (Appendix C; log-log slope 1 ± 0.1).", CITATION,
          {"simulation": _sim_b_over_eps}),
    Claim(f"{S}.pareto_front_fits_training",
          "Steps and examples to reach a target loss follow the Pareto front (S/S_min − 1)(E/E_min − 1) = 1.", CITATION,
          {"network": network_check(f"{S}.pareto_front_fits_training", "mccandlish", f"{S}.pareto_front")},
          figure="mccandlish"),
    Claim(f"{S}.b_crit_matches_b_simple",
          "The simple noise scale B_simple = tr Σ/|G|² (no Hessian) also predicts the critical batch size.", CITATION,
          {"network": network_check(f"{S}.b_crit_matches_b_simple", "mccandlish", f"{S}.b_crit_vs_b_simple")},
          figure="mccandlish"),
]
for _c in CLAIMS:
    register(_c)
