"""Claims of Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics: Stochastic
Gradient Descent Exponentially Favors Flat Minima", and of Kramers' escape-rate theory it builds on.

Symbolic checks run :mod:`sgd_sde.theory.escape`; simulation checks read the escape-time figure
recipe's numbers (:func:`sgd_sde.figures.stability.escape_figure`: simulated escape times from a
double well against the exact 1-D first-passage quadrature).

References:
    Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics: Stochastic Gradient
    Descent Exponentially Favors Flat Minima" (ICLR); Kramers 1940, "Brownian motion in a field of
    force and the diffusion model of chemical reactions".
"""

from __future__ import annotations

import numpy as np

from ._common import decide, figure_data, symbolic_check
from ._registry import Claim, register

CITATION = ("Xie, Sato & Sugiyama 2021, A Diffusion Theory for Deep Learning Dynamics: Stochastic Gradient Descent "
            "Exponentially Favors Flat Minima")
S = "xie2021"


def _data(key, quick):
    return figure_data("stability", "escape", key, quick)


def _sim_slope(key, quick):
    arrays, meta = _data(key, quick)
    x = meta["results"]["xie"]
    m, se = x["slope_simulated"], x["slope_se"]
    exp = x["slope_quadrature_secant"]
    return decide(f"{S}.log_escape_time_linear_in_b_over_lr", "simulation", m / exp, 1.0, tolerance=0.2,
                  ci=((m - 1.96 * se) / exp, (m + 1.96 * se) / exp), key=key,
                  config={"ratios": np.asarray(arrays["ratios"]).tolist()},
                  note=f"slope of log τ vs B/η: simulated {m:.3f} ± {1.96 * se:.3f} vs quadrature {exp:.3f} "
                       f"(asymptotic ∫V'/d = {x['slope_exact']:.3f})", figure="escape")


def _sim_matches(key, quick):
    arrays, _ = _data(key, quick)
    m, se, ex = (np.asarray(arrays[k], dtype=float)[-1] for k in ("xie_mean", "xie_se", "xie_exact"))
    return decide(f"{S}.escape_time_matches_diffusion_theory", "simulation", m / ex, 1.0, tolerance=0.1,
                  ci=((m - 1.96 * se) / ex, (m + 1.96 * se) / ex), key=key,
                  config={"ratio": float(np.asarray(arrays["ratios"])[-1])},
                  note=f"mean escape time under Hessian-shaped noise {m:.4g} vs first-passage quadrature {ex:.4g}",
                  figure="escape")


def _sim_flat(key, quick):
    _, meta = _data(key, quick)
    sf = meta["results"]["sharp_flat"]
    r = float(sf["ratio_hessian_sim"][-1] / sf["ratio_isotropic_sim"][-1])
    return decide(f"{S}.flat_minima_exponentially_favoured", "simulation", r, 1.0, kind="greater", key=key,
                  config={"sharp_curvature": 4.0, "flat_curvature": 1.0},
                  note=f"(τ_flat/τ_sharp) under Hessian-shaped noise {sf['ratio_hessian_sim'][-1]:.2f} vs isotropic "
                       f"{sf['ratio_isotropic_sim'][-1]:.2f} (isotropic prefactor √(h_s/h_f) = 2)", figure="escape")


def _sim_kramers(key, quick):
    arrays, _ = _data(key, quick)
    m, se, ex = (float(np.asarray(arrays[k])[0]) for k in ("iso_mean", "iso_se", "iso_exact"))
    return decide(f"{S}.kramers_escape_time", "simulation", m / ex, 1.0, tolerance=0.1,
                  ci=((m - 1.96 * se) / ex, (m + 1.96 * se) / ex), key=key,
                  config={"T": float(np.asarray(arrays["temperatures"])[0])},
                  note=f"mean escape time {m:.4g} vs exact MFPT {ex:.4g} (Kramers' asymptotic "
                       f"{float(np.asarray(arrays['iso_kramers'])[0]):.4g})", figure="escape")


CLAIMS = [
    Claim(f"{S}.log_escape_time_linear_in_b_over_lr",
          "Under SGD's Hessian-shaped noise log τ is linear in B/η with slope ∫V'/d (simulated slope equals the "
          "quadrature's ± 20%).", CITATION,
          {"symbolic": symbolic_check(f"{S}.log_escape_time_linear_in_b_over_lr", ["escape.xie_slope"]),
           "simulation": _sim_slope}, figure="escape"),
    Claim(f"{S}.escape_time_matches_diffusion_theory",
          "The mean escape time is the first-passage time of the diffusion τ = ∫e^Φ∫e^{−Φ}/D (ratio 1 ± 0.1).",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.escape_time_matches_diffusion_theory", ["escape.mfpt_ode"]),
           "simulation": _sim_matches}, figure="escape"),
    Claim(f"{S}.flat_minima_exponentially_favoured",
          "SGD favours flat minima exponentially: with Hessian-shaped noise the flat/sharp escape-time ratio exceeds "
          "the isotropic one (ratio of ratios > 1).", CITATION, {"simulation": _sim_flat}, figure="escape"),
    Claim(f"{S}.kramers_escape_time",
          "Kramers: with isotropic noise at temperature T the escape time is ∝ exp(ΔV/T) (simulated τ equals the "
          "exact first-passage time ± 10%).", "Kramers 1940, Brownian motion in a field of force and the diffusion "
          "model of chemical reactions",
          {"symbolic": symbolic_check(f"{S}.kramers_escape_time", ["escape.kramers_laplace", "escape.isotropic_exponent",
                                                                   "escape.double_well_calibration"]),
           "simulation": _sim_kramers}, figure="escape"),
]
for _c in CLAIMS:
    register(_c)
