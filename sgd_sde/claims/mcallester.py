"""Claims of McAllester's lecture on SGD (TTIC 31230, 2023): the classical convergence theorem,
the learning rate as a temperature, batch size, momentum and Adam.

Symbolic checks run :mod:`sgd_sde.theory.robbins_monro` and :mod:`sgd_sde.theory.gibbs`;
simulation checks run SGD (plain, heavy-ball, EMA momentum) with :func:`sgd_sde.simulate` and
compare with the closed forms.

References:
    McAllester 2023, TTIC 31230 Fundamentals of Deep Learning, lecture "Stochastic Gradient Descent"
    (seed 05); Robbins & Monro 1951, "A Stochastic Approximation Method"; Goyal et al. 2017,
    "Accurate, Large Minibatch SGD"; Kingma & Ba 2015, "Adam".
"""

from __future__ import annotations

import numpy as np

from ._common import decide, network_check, symbolic_check
from ._registry import Claim, register
from ._sim import gibbs_cdf, gibbs_runs, mean_se, robbins_monro_runs
from ._temperature import moment, ratio

CITATION = "McAllester 2023, TTIC 31230 Fundamentals of Deep Learning: Stochastic Gradient Descent (lecture)"
S = "mcallester"


def _sim_inverse_t(key, quick):
    d = robbins_monro_runs(key, quick)
    T = int(d["steps"][-1])
    m, se = mean_se(d["inverse_t"][-1] * T)
    return decide(f"{S}.robbins_monro_convergence", "simulation", m, 1.0, tolerance=0.1,
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"schedule": "1/(t+1)", "sigma2": 1.0, "T": T},
                  note=f"T·E x_T² = {m:.4f} at T = {T} (exact: σ²/t → 0 like 1/t)", figure="robbins_monro")


def _sim_floor(key, quick):
    d = robbins_monro_runs(key, quick)
    x2 = d["constant"][d["steps"] >= d["steps"][-1] // 2].mean(0)
    m, se = mean_se(x2)
    eta = 0.1
    exp = eta / (2 - eta)
    return decide(f"{S}.constant_lr_does_not_converge", "simulation", m / exp, 1.0, tolerance=0.05,
                  ci=((m - 1.96 * se) / exp, (m + 1.96 * se) / exp), key=key, config={"lr": eta, "sigma2": 1.0},
                  note=f"stationary E x² at constant η = 0.1: {m:.5f} vs ησ²/(2−η) = {exp:.5f}", figure="robbins_monro")


def _sim_gibbs(key, quick):
    from ..theory import isotropic_temperature

    runs, land = gibbs_runs(key, quick)
    grid = np.linspace(-3.0, 3.0, 6001)
    worst, P = 0.0, None
    notes = []
    for b, x in runs.items():
        T = float(isotropic_temperature(0.01, b, 20.0))
        cdf, _ = gibbs_cdf(land, T, grid)
        xs = np.sort(x)
        P = len(xs)
        emp_hi = np.arange(1, P + 1) / P
        model = np.interp(xs, grid, cdf)
        ks = float(max(np.max(emp_hi - model), np.max(model - (emp_hi - 1 / P))))
        notes.append(f"T={T:.3g}: KS {ks:.4f}")
        worst = max(worst, ks)
    # tolerance: the 0.5% KS critical value per temperature (1.73/√P, Bonferroni over 3 → ~1.5% overall)
    # plus 0.01 for the O(η) discretisation bias of the stationary law
    tol = 1.73 / np.sqrt(P) + 0.01
    return decide(f"{S}.learning_rate_is_temperature", "simulation", worst, 0.0, tolerance=tol, key=key,
                  config={"lr": 0.01, "noise_var": 20.0, "batch_sizes": sorted(runs), "landscape": "DoubleWell(0.05)"},
                  note="stationary SGD vs exp(−L/T), T = ησ²/(2B): " + "; ".join(notes), figure="gibbs")


def _sim_linear(key, quick):
    lo, hi = moment(key, quick, "sgd", 0.0, (0.01, 2)), moment(key, quick, "sgd", 0.0, (0.04, 8))
    r, ci = ratio(hi, lo)
    k = np.log(8 / 2)
    slope = float(np.log(r) / k)
    return decide(f"{S}.linear_lr_batch_scaling", "simulation", slope, 0.0, tolerance=0.05,
                  ci=(float(np.log(ci[0]) / k), float(np.log(ci[1]) / k)), key=key,
                  config={"points": [(0.01, 2), (0.04, 8)]},
                  note=f"d log Var θ / d log B along η = Bη₀ (B = 2 → 8): {slope:.4f}")


def _sim_pytorch(key, quick):
    r, ci = ratio(moment(key, quick, "sgd", 0.9, (0.01, 20), lrs=(0.002, 0.01), batch_sizes=(2, 20)),
                  moment(key, quick, "sgd", 0.0, (0.01, 2)))
    return decide(f"{S}.pytorch_momentum_scaling", "simulation", r, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"eta0": 0.005, "mu": 0.9, "points": [(0.01, 20, 0.9), (0.01, 2, 0.0)]},
                  note=f"Var θ at η = (1−μ)Bη₀ (μ = 0.9, B = 20) / at η = Bη₀ (μ = 0, B = 2): {r:.4f}")


def _sim_ema(key, quick):
    r, ci = ratio(moment(key, quick, "ema", 0.9, (0.02, 2), lrs=(0.02,), batch_sizes=(2,)),
                  moment(key, quick, "sgd", 0.0, (0.02, 2)))
    return decide(f"{S}.ema_momentum_temperature", "simulation", r, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"beta": 0.9, "lr": 0.02, "B": 2},
                  note=f"Var θ with EMA momentum β = 0.9 / without momentum, same η: {r:.4f}")


def _sim_temperature(key, quick):
    from ..theory import isotropic_temperature

    m, se = moment(key, quick, "sgd", 0.0, (0.02, 4))
    T = float(isotropic_temperature(0.02, 4, 1.0))
    r = m * 1.0 / T  # Gibbs at temperature T on h = 1: Var θ = T/h
    return decide(f"{S}.batch_lowers_temperature", "simulation", r, 1.0, tolerance=0.05,
                  ci=(r - 1.96 * se / T, r + 1.96 * se / T), key=key, config={"lr": 0.02, "B": 4, "h": 1.0},
                  note=f"Var θ · h / T with T = ησ²/(2B) = {T:.4g}: {r:.4f} (so T ∝ η/B; discrete shift ηh/2 = 1%)")


CLAIMS = [
    Claim(f"{S}.robbins_monro_conditions",
          "SGD converges when η_t → 0, Ση_t = ∞ and Ση_t² < ∞ (the Robbins–Monro conditions, decided for 11 "
          "schedule families).", CITATION,
          {"symbolic": symbolic_check(f"{S}.robbins_monro_conditions",
                                      ["robbins_monro.families", "robbins_monro.undecided_on_parameters"])},
          figure="robbins_monro"),
    Claim(f"{S}.robbins_monro_convergence",
          "With η_t = 1/(t+1) the error of SGD on a quadratic vanishes like σ²/t (T·E x_T² = σ² ± 10%).", CITATION,
          {"symbolic": symbolic_check(f"{S}.robbins_monro_convergence",
                                      ["robbins_monro.inverse_t_moment", "robbins_monro.inverse_t_moment_exact"]),
           "simulation": _sim_inverse_t}, figure="robbins_monro"),
    Claim(f"{S}.constant_lr_does_not_converge",
          "At a constant learning rate SGD does not converge: E x² settles at ησ²/(2−η) (ratio 1 ± 0.05).", CITATION,
          {"symbolic": symbolic_check(f"{S}.constant_lr_does_not_converge", ["robbins_monro.constant_rate_floor"]),
           "simulation": _sim_floor,
           "network": network_check(f"{S}.constant_lr_does_not_converge", "temperature", f"{S}.stationary")},
          figure="robbins_monro"),
    Claim(f"{S}.learning_rate_is_temperature",
          "A finite learning rate defines an equilibrium: the stationary density is the Gibbs law exp(−L/T) with "
          "T = ησ²/(2B) (KS distance within its sampling tolerance at three temperatures).", CITATION,
          {"symbolic": symbolic_check(f"{S}.learning_rate_is_temperature",
                                      ["gibbs.fokker_planck_1d", "gibbs.fokker_planck_quadratic", "gibbs.isotropic"]),
           "simulation": _sim_gibbs,
           "network": network_check(f"{S}.learning_rate_is_temperature", "temperature", f"{S}.lr_orders_loss")},
          figure="gibbs"),
    Claim(f"{S}.batch_lowers_temperature",
          "At fixed η, increasing B lowers the temperature: T = ησ²/(2B) (stationary Var θ·h/T = 1 ± 0.05).",
          CITATION, {"simulation": _sim_temperature}),
    Claim(f"{S}.linear_lr_batch_scaling",
          "With η = Bη₀ (Goyal et al.) the temperature is independent of B (log-log slope of the stationary spread "
          "vs B is 0 ± 0.05).", CITATION,
          {"symbolic": symbolic_check(f"{S}.linear_lr_batch_scaling", ["gibbs.mcallester_linear"]),
           "simulation": _sim_linear,
           "network": network_check(f"{S}.linear_lr_batch_scaling", "temperature", f"{S}.linear_scaling")}),
    Claim(f"{S}.pytorch_momentum_scaling",
          "With PyTorch momentum μ, η = (1−μ)Bη₀ keeps the temperature (spread ratio 1 ± 0.1).", CITATION,
          {"symbolic": symbolic_check(f"{S}.pytorch_momentum_scaling", ["gibbs.mcallester_pytorch_momentum"]),
           "simulation": _sim_pytorch,
           "network": network_check(f"{S}.pytorch_momentum_scaling", "temperature", f"{S}.momentum_scaling")}),
    Claim(f"{S}.ema_momentum_temperature",
          "With EMA momentum each gradient has total influence η, so the temperature does not depend on β "
          "(spread ratio 1 ± 0.1).", CITATION,
          {"symbolic": symbolic_check(f"{S}.ema_momentum_temperature", ["gibbs.ema_momentum_weight"]),
           "simulation": _sim_ema}),
    Claim(f"{S}.adam_bias_correction",
          "Adam's bias correction makes the EMA weights sum to 1 at every step (no bias toward 0), as does the "
          "1/min(N, t) running average.", CITATION,
          {"symbolic": symbolic_check(f"{S}.adam_bias_correction",
                                      ["gibbs.adam_bias_correction", "gibbs.seed_min_n_t_average"])}),
    Claim(f"{S}.adam_batch_reparameterisation",
          "N_g = N_g⁰/B keeps Adam's averaging window fixed in examples (the clamp must be max(1, ·), not the "
          "lecture's min(1, ·)), and ε = ε₀√B matches a batch-sum gradient.", CITATION,
          {"symbolic": symbolic_check(f"{S}.adam_batch_reparameterisation",
                                      ["gibbs.adam_window_in_examples", "gibbs.adam_epsilon_scaling"]),
           "network": network_check(f"{S}.adam_batch_reparameterisation", "temperature", f"{S}.adam_corrected")}),
    Claim(f"{S}.adam_seed_clamp_fails",
          "The lecture's clamp N_g = min(1, N_g⁰/B) collapses Adam's averaging window to one step (its network loss "
          "differs from the corrected form's).", CITATION,
          {"network": network_check(f"{S}.adam_seed_clamp_fails", "temperature", f"{S}.adam_seed_form_fails")}),
    Claim(f"{S}.quadratic_model_predicts_network",
          "The quadratic (OU) model of the lecture predicts a real network's stationary loss excess at temperature T.",
          CITATION, {"network": network_check(f"{S}.quadratic_model_predicts_network", "temperature",
                                              f"{S}.quadratic_model")}),
]
for _c in CLAIMS:
    register(_c)
