"""Claims of Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent: Its
Behavior of Escaping from Sharp Minima and Regularization Effects".

Symbolic checks run :mod:`sgd_sde.theory.stability` (the OU loss growth and the indicator
tr(HΣ)); simulation checks read the Zhu figure recipe's numbers
(:func:`sgd_sde.figures.stability.zhu_figure`: Euler–Maruyama from the minimum of a quadratic with
noise of equal trace along the top eigenvector, Hessian-shaped and isotropic).

References:
    Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent: Its Behavior of
    Escaping from Sharp Minima and Regularization Effects" (ICML).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, figure_data, network_check, symbolic_check
from ._registry import Claim, register

CITATION = ("Zhu, Wu, Yu, Wu & Ma 2019, The Anisotropic Noise in Stochastic Gradient Descent: Its Behavior of "
            "Escaping from Sharp Minima and Regularization Effects")
S = "zhu2019"


def _early(key, quick, name):
    arrays, meta = figure_data("stability", "zhu", key, quick)
    i = int(np.flatnonzero(np.asarray(arrays["t"]) > 0)[0])
    return float(arrays[f"{name}_sim"][i]), float(arrays[f"{name}_exact"][i]), meta["results"]


def _sim_faster(key, quick):
    h, _, res = _early(key, quick, "hessian")
    iso, _, _ = _early(key, quick, "isotropic")
    r = h / iso
    return decide(f"{S}.anisotropic_noise_escapes_faster", "simulation", r, 1.0, kind="greater", key=key,
                  config={"trace": 1.0, "dt": res.get("dt")},
                  note=f"early loss growth, Hessian-shaped / isotropic noise of equal trace: {r:.2f}", figure="zhu")


def _sim_indicator(key, quick):
    h, h_ex, res = _early(key, quick, "hessian")
    iso, iso_ex, _ = _early(key, quick, "isotropic")
    r, exp = h / iso, h_ex / iso_ex
    ind = res["indicator"]
    return decide(f"{S}.indicator_predicts_escape", "simulation", r / exp, 1.0, tolerance=0.1, key=key,
                  config={"trace": 1.0},
                  note=f"simulated ratio {r:.3f} vs exact OU ratio {exp:.3f}; indicator tr(HΣ): Hessian "
                       f"{ind['hessian']:.2f}, isotropic {ind['isotropic']:.2f}", figure="zhu")


CLAIMS = [
    Claim(f"{S}.anisotropic_noise_escapes_faster",
          "Noise aligned with the sharp directions of the Hessian escapes a minimum faster than isotropic noise of "
          "the same magnitude (early loss growth ratio > 1).", CITATION,
          {"symbolic": symbolic_check(f"{S}.anisotropic_noise_escapes_faster", ["stability.zhu_calibration"]),
           "simulation": _sim_faster,
           "network": network_check(f"{S}.anisotropic_noise_escapes_faster", "golmant", f"{S}.anisotropic_escapes_faster")},
          figure="zhu"),
    Claim(f"{S}.indicator_predicts_escape",
          "The escape indicator tr(HΣ) sets the initial loss growth ½tr(HΣ) of the OU process (simulated ratio "
          "equals the exact one ± 10%).", CITATION,
          {"symbolic": symbolic_check(f"{S}.indicator_predicts_escape", ["stability.zhu_ou_loss"]),
           "simulation": _sim_indicator,
           "network": network_check(f"{S}.indicator_predicts_escape", "golmant", f"{S}.trace_indicator")}, figure="zhu"),
]
for _c in CLAIMS:
    register(_c)
