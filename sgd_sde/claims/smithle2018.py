"""Claims of Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent".

Symbolic checks run :mod:`sgd_sde.theory.gibbs` (the noise scale ``g = ε(N/B − 1) ≈ εN/B``, its
momentum form) and :mod:`sgd_sde.theory.lyapunov`; simulation checks measure stationary second
moments of SGD on a quadratic (:func:`sgd_sde.claims._sim.stationary_moments`); network checks
read :mod:`sgd_sde.experiments.smith_le`.

References:
    Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent" (ICLR).
"""

from __future__ import annotations

from ._common import decide, network_check, symbolic_check
from ._registry import Claim, register
from ._temperature import moment, ratio

CITATION = "Smith & Le 2018, A Bayesian Perspective on Generalization and Stochastic Gradient Descent"
S = "smithle2018"


def _numeric_g():
    from ..theory import temperature

    lr, B, N = 0.1, 32, 50_000
    g = float(temperature(lr, B, N))
    return g / (lr * N / B), 1.0 - B / N, f"g(ε=0.1, B=32, N=50000) / (εN/B) = {g / (lr * N / B):.6f} = 1 − B/N"


def _sim_linear(key, quick):
    r, ci = ratio(moment(key, quick, "sgd", 0.0, (0.04, 8)), moment(key, quick, "sgd", 0.0, (0.01, 2)))
    return decide(f"{S}.linear_scaling_rule", "simulation", r, 1.0, tolerance=0.05, ci=ci, key=key,
                  config={"points": [(0.04, 8), (0.01, 2)], "h": 1.0},
                  note=f"stationary Var θ at (ε, B) = (0.04, 8) / at (0.01, 2) = {r:.4f} (discrete O(εh) shift 1.5%)")


def _sim_momentum(key, quick):
    r, ci = ratio(moment(key, quick, "sgd", 0.9, (0.002, 2), lrs=(0.002, 0.01), batch_sizes=(2, 20)),
                  moment(key, quick, "sgd", 0.0, (0.02, 2)))
    return decide(f"{S}.momentum_noise_scale", "simulation", r, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"momentum": 0.9, "points": [(0.002, 2), (0.02, 2)]},
                  note=f"Var θ with momentum 0.9 at ε = 0.002 / without momentum at ε/(1−m) = 0.02: {r:.4f}")


CLAIMS = [
    Claim(f"{S}.noise_scale_g",
          "The SGD noise scale is g = ε(N/B − 1) ≈ εN/B (sum-loss convention).", CITATION,
          {"symbolic": symbolic_check(f"{S}.noise_scale_g", ["gibbs.smith_le"], _numeric_g)}),
    Claim(f"{S}.linear_scaling_rule",
          "Scaling ε and B together (ε ∝ B) keeps the noise scale and the stationary spread of SGD (ratio 1 ± 0.05).",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.linear_scaling_rule", ["lyapunov.linear_scaling_invariance"]),
           "simulation": _sim_linear,
           "network": network_check(f"{S}.linear_scaling_rule", "smith_le", f"{S}.constant_noise_scale")}),
    Claim(f"{S}.momentum_noise_scale",
          "With momentum m the noise scale is g ≈ εN/(B(1−m)) (stationary spread at ε equals that at ε/(1−m) "
          "without momentum, ratio 1 ± 0.1).", CITATION,
          {"symbolic": symbolic_check(f"{S}.momentum_noise_scale", ["gibbs.momentum"]), "simulation": _sim_momentum}),
    Claim(f"{S}.optimal_batch_proportional_to_lr",
          "The batch size of best test accuracy grows ∝ ε (B_opt ∝ εN; measured: log-log slope of B_opt vs ε).",
          CITATION, {"network": network_check(f"{S}.optimal_batch_proportional_to_lr", "smith_le", f"{S}.b_opt_lr_exponent")},
          figure="smith_le"),
    Claim(f"{S}.optimal_batch_proportional_to_n",
          "The batch size of best test accuracy grows ∝ N, the training-set size (B_opt ∝ εN).", CITATION,
          {"network": network_check(f"{S}.optimal_batch_proportional_to_n", "smith_le", f"{S}.b_opt_n_exponent")},
          figure="smith_le"),
]
for _c in CLAIMS:
    register(_c)
