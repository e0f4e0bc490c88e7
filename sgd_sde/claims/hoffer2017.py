"""Claims of Hoffer, Hubara & Soudry 2017, "Train longer, generalize better: closing the
generalization gap in large batch training of neural networks".

The symbolic checks run :mod:`sgd_sde.theory.gibbs` (the update covariance ``η²/M``); simulation
checks measure one exact-minibatch update's covariance and read the Hoffer figure recipe's random
walk on a high-dimensional random potential
(:func:`sgd_sde.figures.diffusion.hoffer_figure` → :class:`sgd_sde.diffusion.HofferResult`);
network checks read :mod:`sgd_sde.experiments.hoffer`.

References:
    Hoffer, Hubara & Soudry 2017, "Train longer, generalize better: closing the generalization gap in
    large batch training of neural networks" (NeurIPS).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, figure_data, figure_dir, network_check, symbolic_check
from ._registry import Claim, register
from ._sim import one_step_covariance

CITATION = ("Hoffer, Hubara & Soudry 2017, Train longer, generalize better: closing the generalization gap in large "
            "batch training of neural networks")
S = "hoffer2017"


def _hoffer(key, quick):
    from ..diffusion.hoffer import HofferResult
    from ..figures.diffusion import hoffer_figure

    from ._common import _LOCK, saved_figure_stem

    saved = saved_figure_stem("diffusion", "hoffer")
    if saved is not None:
        try:
            return HofferResult.load(saved)
        except ValueError:  # saved in an older format: recompute below
            pass
    out = figure_dir() / "diffusion"
    with _LOCK:
        hoffer_figure(out, quick=bool(quick), key=int(key))
    return HofferResult.load(out / "hoffer")


def _sim_covariance(key, quick):
    from ..theory import batch_variance_factor

    N, b1, b2 = 512, 8, 32
    m1, s1, trc = one_step_covariance(key, quick, N, b1, False, 1.0)
    m2, s2, _ = one_step_covariance(key, quick, N, b2, False, float(np.sqrt(b2 / b1)))
    r = m2 / m1
    se = r * np.sqrt((s1 / m1) ** 2 + (s2 / m2) ** 2)
    exp = (b2 / b1) * float(batch_variance_factor(b2, N, False) / batch_variance_factor(b1, N, False))
    return decide(f"{S}.sqrt_rule_keeps_update_covariance", "simulation", r, exp, tolerance=0.05,
                  ci=(r - 1.96 * se, r + 1.96 * se), key=key, config={"N": N, "B": [b1, b2], "lr": "∝ √B"},
                  note=f"tr Cov(Δw) at B = {b2}, η = 2 / at B = {b1}, η = 1: {r:.4f} vs (η²/M)(1 − M/N)·N/(N−1) "
                       f"ratio {exp:.4f}")


def _sim_equalises(key, quick):
    res = _hoffer(key, quick)
    boot = res.spread_bootstrap(n_boot=400, seed=int(key))
    rules = list(res.rules)
    diff = boot[:, rules.index("fixed")] - boot[:, rules.index("sqrt")]
    spread = res.spread()
    est = float(np.log(spread["fixed"]) - np.log(spread["sqrt"]))
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return decide(f"{S}.sqrt_rule_equalises_diffusion", "simulation", est, 0.0, kind="greater",
                  ci=(float(lo), float(hi)), key=key, config=dict(res.config),
                  note=f"max/min slope of E‖w_t − w_0‖ vs log t across B: fixed lr {spread['fixed']:.2f}, "
                       f"√B rule {spread['sqrt']:.2f}", figure="hoffer_diffusion")


def _sim_log_t(key, quick):
    # the worst R² over (rule, B), with a 95% percentile interval from resampling the walkers jointly: at the
    # quick size the point estimate sits near 0.95 and moves with the noise stream, so the interval decides
    res = _hoffer(key, quick)
    r2 = np.asarray(res.r2, dtype=float)
    worst = res.r2_bootstrap(n_boot=400, seed=int(key)).reshape(400, -1).min(-1)
    lo, hi = np.percentile(worst, [2.5, 97.5])
    return decide(f"{S}.ultra_slow_diffusion", "simulation", float(r2.min()), 0.95, kind="greater", key=key,
                  ci=(float(lo), float(hi)), config=dict(res.config),
                  note=f"E‖w_t − w_0‖ against log t on t ∈ {tuple(res.window)}: worst R² over (rule, B) "
                       f"{r2.min():.4f}", figure="hoffer_diffusion")


def _sim_regime(key, quick):
    res = _hoffer(key, quick)
    ra = res.regime_adaptation()
    j = list(res.rules).index("sqrt")
    spread = lambda d: float(np.log(d[j].max() / d[j].min()))  # noqa: E731
    fixed, matched = spread(ra["fixed_epochs"]), spread(ra["matched_updates"])
    return decide(f"{S}.regime_adaptation_closes_gap", "simulation", fixed - matched, 0.0, kind="greater", key=key,
                  config=dict(res.config),
                  note=f"log(max/min) of the final distance across B (√B rule): same epochs {fixed:.3f}, same number "
                       f"of updates {matched:.3f}", figure="hoffer_diffusion")


CLAIMS = [
    Claim(f"{S}.sqrt_rule_keeps_update_covariance",
          "The weight update has covariance (η²/M)Σ (up to 1 − M/N), so η ∝ √M keeps it fixed across batch sizes.",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.sqrt_rule_keeps_update_covariance",
                                      ["gibbs.hoffer_update_covariance", "gibbs.linear_vs_sqrt_rule"]),
           "simulation": _sim_covariance}),
    Claim(f"{S}.ultra_slow_diffusion",
          "In the initial high-lr phase the distance from the initialisation grows logarithmically, "
          "‖w_t − w_0‖ ~ log t (linear in log t with R² > 0.95).", CITATION,
          {"simulation": _sim_log_t, "network": network_check(f"{S}.ultra_slow_diffusion", "hoffer",
                                                                f"{S}.log_t_diffusion")}, figure="hoffer_diffusion"),
    Claim(f"{S}.sqrt_rule_equalises_diffusion",
          "Scaling the learning rate by √B makes the diffusion rates of different batch sizes match (the spread of "
          "log-t slopes across B is smaller than at a fixed lr).", CITATION,
          {"simulation": _sim_equalises}, figure="hoffer_diffusion"),
    Claim(f"{S}.large_batch_gap_exists",
          "With the small-batch regime unchanged, large-batch training generalises worse (a test-accuracy gap > 0).",
          CITATION, {"network": network_check(f"{S}.large_batch_gap_exists", "hoffer", f"{S}.plain_gap")},
          figure="hoffer"),
    Claim(f"{S}.sqrt_lr_narrows_gap",
          "Raising the large-batch learning rate by √(B_L/B_S) narrows the large-batch generalisation gap.",
          CITATION, {"network": network_check(f"{S}.sqrt_lr_narrows_gap", "hoffer")}, figure="hoffer"),
    Claim(f"{S}.regime_adaptation_closes_gap",
          "The gap comes from the number of updates: matching the number of updates (not epochs) equalises the "
          "distance travelled and the test accuracy across batch sizes.", CITATION,
          {"simulation": _sim_regime, "network": network_check(f"{S}.regime_adaptation_closes_gap", "hoffer")},
          figure="hoffer_diffusion"),
    Claim(f"{S}.ghost_batch_norm_helps",
          "Ghost batch normalisation (statistics over small virtual batches) improves large-batch test accuracy.",
          CITATION, {"network": network_check(f"{S}.ghost_batch_norm_helps", "hoffer", f"{S}.ghost_bn_narrows_gap")}, figure="hoffer"),
]
for _c in CLAIMS:
    register(_c)
