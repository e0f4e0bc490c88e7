"""Claims of Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential
Equations (SDEs)".

The symbolic check runs :mod:`sgd_sde.theory.svag`; the simulation check measures the stationary
spread of :class:`~sgd_sde.dynamics.SVAG` against the continuous-time SDE's
(:func:`sgd_sde.theory.stationary_covariance` with ``discrete=False``).

References:
    Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential Equations (SDEs)".
"""

from __future__ import annotations

import numpy as np

from ._common import decide, network_check, symbolic_check
from ._registry import Claim, register
from ._sim import QUAD_H
from ._temperature import moment

CITATION = "Li, Malladi & Arora 2021, On the Validity of Modeling SGD with Stochastic Differential Equations (SDEs)"
S = "li2021svag"
L_AMP = 4.0


def _sim(key, quick):
    from ..theory import stationary_covariance

    H = np.diag(QUAD_H)
    cont = np.diag(stationary_covariance(H, np.eye(2), 0.04, 2, discrete=False))
    m, se = moment(key, quick, "svag", L_AMP, (0.04, 2), dim=1, lrs=(0.04,), batch_sizes=(2,))
    sgd, _ = moment(key, quick, "sgd", 0.0, (0.04, 2), dim=1)
    gap, gap_sgd = m / cont[1] - 1.0, sgd / cont[1] - 1.0
    half = se / cont[1] * 1.96
    return decide(f"{S}.svag_converges_to_sde", "simulation", gap, 0.5 * gap_sgd, kind="less",
                  ci=(gap - half, gap + half), key=key, config={"l": L_AMP, "lr": 0.04, "B": 2, "h": QUAD_H[1]},
                  note=f"stationary Var θ / continuous-SDE value − 1: SVAG(l={L_AMP:g}) {gap:.4f} vs SGD {gap_sgd:.4f} "
                       "(the gap ηh/(2−ηh) shrinks like 1/l)")


CLAIMS = [
    Claim(f"{S}.svag_moments",
          "SVAG's two-gradient combination r₁ĝ₁ + r₂ĝ₂ is unbiased (r₁ + r₂ = 1) with noise variance × l "
          "(r₁² + r₂² = l), so it keeps SGD's noise per unit time at step η/l.", CITATION,
          {"symbolic": symbolic_check(f"{S}.svag_moments",
                                      ["svag.coefficients", "svag.sum", "svag.squares", "svag.noise_per_unit_time"])}),
    Claim(f"{S}.svag_converges_to_sde",
          "As l grows SVAG approaches the SDE: at l = 4 its stationary spread is closer to the continuous-time "
          "value than half of SGD's gap ηh/(2−ηh).", CITATION,
          {"simulation": _sim, "network": network_check(f"{S}.svag_converges_to_sde", "svag", f"{S}.converges_in_l")},
          figure="svag"),
    Claim(f"{S}.sde_breaks_at_large_lr",
          "At large learning rates SGD and its SDE (the SVAG limit) part ways on a real network: the l → ∞ limit no "
          "longer matches l = 1.", CITATION,
          {"network": network_check(f"{S}.sde_breaks_at_large_lr", "svag", f"{S}.breaks_at_large_lr")}, figure="svag"),
]
for _c in CLAIMS:
    register(_c)
