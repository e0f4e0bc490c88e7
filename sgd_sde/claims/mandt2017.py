"""Claims of Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference".

Symbolic checks run :mod:`sgd_sde.theory.lyapunov`; the simulation check measures the stationary
covariance of SGD on a 2-D quadratic with a dense noise covariance and compares it with
:func:`sgd_sde.theory.stationary_covariance`.

References:
    Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference" (JMLR).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, np_rng, symbolic_check
from ._registry import Claim, register
from ._sim import dense_ou

CITATION = "Mandt, Hoffman & Blei 2017, Stochastic Gradient Descent as Approximate Bayesian Inference"
S = "mandt2017"


def _rel_err(S_emp, S_th):
    return np.linalg.norm(S_emp - S_th) / np.linalg.norm(S_th)


def _sim_cov(key, quick, discrete):
    from ..theory import stationary_covariance

    H, C, per = dense_ou(key, quick)
    S_th = stationary_covariance(H, C, 0.02, 2, discrete=discrete)
    est = _rel_err(per.mean(0), S_th)
    rng = np_rng(key, 21)
    boots = [_rel_err(per[rng.integers(0, len(per), len(per))].mean(0), S_th) for _ in range(200)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return est, (float(lo), float(hi)), S_th, per.mean(0)


def _sim_stationary(key, quick):
    est, ci, S_th, S_emp = _sim_cov(key, quick, True)
    return decide(f"{S}.stationary_covariance", "simulation", est, 0.0, tolerance=0.05, ci=ci, key=key,
                  config={"H": "diag(1, 4)", "C": [[1, 0.8], [0.8, 1]], "lr": 0.02, "B": 2},
                  note=f"‖S_sim − S_Lyapunov‖/‖S_Lyapunov‖ = {est:.4f} (discrete Lyapunov equation)",
                  figure="gibbs_anisotropic")


def _sim_discrete(key, quick):
    from ..theory import stationary_covariance

    H, C, per = dense_ou(key, quick, lr=0.2)
    cont = stationary_covariance(H, C, 0.2, 2, discrete=False)
    disc = stationary_covariance(H, C, 0.2, 2, discrete=True)
    tr = np.trace(per, axis1=1, axis2=2) / np.trace(cont)
    m = tr.mean()
    se = tr.std(ddof=1) / np.sqrt(len(tr))
    return decide(f"{S}.discrete_time_inflation", "simulation", m, 1.0, kind="greater",
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"lr": 0.2, "B": 2},
                  note=f"tr S_sim / tr S_continuous = {m:.4f} at η = 0.2 (discrete Lyapunov: "
                       f"{np.trace(disc) / np.trace(cont):.4f}; > 1: finite steps inflate the stationary spread)")


def _numeric_lr():
    from ..theory import mandt_optimal_lr, stationary_covariance

    # KL(q‖p) between the SGD stationary Gaussian (continuous OU) and the posterior N(0, (N H)⁻¹), minimised over ε
    N, B = 1000, 10
    H = np.diag([1.0, 3.0])
    C = H.copy()  # noise covariance BBᵀ at the optimum
    post = np.linalg.inv(N * H)

    def kl(eps):
        Sg = stationary_covariance(H, C, eps, B, discrete=False)
        P = np.linalg.inv(post)
        return 0.5 * (np.trace(P @ Sg) - 2 - np.log(np.linalg.det(Sg) / np.linalg.det(post)))

    grid = np.geomspace(1e-3, 1.0, 4001)
    best = float(grid[np.argmin([kl(e) for e in grid])])
    exp = float(mandt_optimal_lr(N, B, C))
    return float(np.round(best / exp, 2)), 1.0, f"argmin_ε KL on a grid / mandt_optimal_lr = {best:.5f}/{exp:.5f}"


CLAIMS = [
    Claim(f"{S}.stationary_covariance",
          "Near a minimum, constant-rate SGD is an Ornstein–Uhlenbeck process whose stationary covariance solves "
          "the Lyapunov equation HS + SH = (ε/B)C (discrete form; relative error ≤ 5%).", CITATION,
          {"symbolic": symbolic_check(f"{S}.stationary_covariance", ["lyapunov.mandt_trace"]),
           "simulation": _sim_stationary}, figure="gibbs_anisotropic"),
    Claim(f"{S}.discrete_time_inflation",
          "Finite learning rates inflate the stationary covariance above the continuous-time SDE's "
          "(factor 1 + ηλᵢλⱼ/(λᵢ+λⱼ) + O(η²)).", CITATION,
          {"symbolic": symbolic_check(f"{S}.discrete_time_inflation",
                                      ["lyapunov.discrete_correction", "lyapunov.mandt_calibration"]),
           "simulation": _sim_discrete}),
    Claim(f"{S}.optimal_learning_rate",
          "The learning rate that minimises KL(stationary ‖ posterior) is ε* = 2DS/(N tr BBᵀ).", CITATION,
          {"symbolic": symbolic_check(f"{S}.optimal_learning_rate", ["lyapunov.mandt_optimal_lr"], _numeric_lr)}),
]
for _c in CLAIMS:
    register(_c)
