"""Claims of Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
converges to limit cycles for deep networks".

Symbolic checks run :mod:`sgd_sde.theory.minibatch` (exact minibatch covariance, by enumeration)
and :mod:`sgd_sde.theory.gibbs` (Gibbs iff isotropic); simulation checks measure the covariance of
exact-minibatch SGD updates and the stationary law of SGD with anisotropic noise.

References:
    Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference, converges
    to limit cycles for deep networks" (ICLR).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, network_check, np_rng, symbolic_check
from ._registry import Claim, register
from ._sim import dense_ou, one_step_covariance

CITATION = ("Chaudhari & Soatto 2018, Stochastic gradient descent performs variational inference, converges to "
            "limit cycles for deep networks")
S = "chaudhari2018"


def _sim_without(key, quick):
    from ..theory import batch_variance_factor

    N, B = 64, 16
    m, se, trc = one_step_covariance(key, quick, N, B, False)
    exp = float(batch_variance_factor(B, N, replace=False)) * trc
    return decide(f"{S}.without_replacement_covariance", "simulation", m / exp, 1.0, tolerance=0.05,
                  ci=((m - 1.96 * se) / exp, (m + 1.96 * se) / exp), key=key, config={"N": N, "B": B},
                  note=f"tr Cov(ĝ_B) without replacement / ((N−B)/(B(N−1))) tr C = {m / exp:.4f}")


def _gibbs_misfit(S_emp, H):
    """Relative distance of S from the best Gibbs covariance T·H⁻¹ (least squares in T)."""
    G = np.linalg.inv(H)
    T = float(np.sum(S_emp * G) / np.sum(G * G))
    return np.linalg.norm(S_emp - T * G) / np.linalg.norm(S_emp)


def _sim_non_gibbs(key, quick):
    H, C, per = dense_ou(key, quick)
    est = _gibbs_misfit(per.mean(0), H)
    rng = np_rng(key, 22)
    boots = [_gibbs_misfit(per[rng.integers(0, len(per), len(per))].mean(0), H) for _ in range(200)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    _, _, iso = dense_ou(key, quick, isotropic=True)
    ctrl = _gibbs_misfit(iso.mean(0), H)
    return decide(f"{S}.non_gibbs_anisotropic", "simulation", est, 0.05, kind="greater", ci=(float(lo), float(hi)),
                  key=key, config={"H": "diag(1, 4)", "C": [[1, 0.8], [0.8, 1]]},
                  note=f"distance of the stationary covariance from the best Gibbs T·H⁻¹: {est:.3f} (anisotropic) vs "
                       f"{ctrl:.3f} (isotropic control)", figure="gibbs_anisotropic")


CLAIMS = [
    Claim(f"{S}.without_replacement_covariance",
          "A minibatch drawn without replacement has gradient covariance (N−B)/(B(N−1))·C (ratio 1 ± 0.05).",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.without_replacement_covariance",
                                      ["minibatch.without_replacement", "minibatch.indicator_moments",
                                       "minibatch.enumeration_exact"]),
           "simulation": _sim_without}),
    Claim(f"{S}.non_gibbs_anisotropic",
          "With non-isotropic noise SGD's stationary law is not the Gibbs law exp(−L/T) of the loss for any T "
          "(relative distance of the covariance from T·H⁻¹ > 0.05) and carries a probability current.", CITATION,
          {"symbolic": symbolic_check(f"{S}.non_gibbs_anisotropic",
                                      ["gibbs.gibbs_iff_isotropic", "gibbs.probability_current"]),
           "simulation": _sim_non_gibbs}, figure="gibbs_anisotropic"),
    Claim(f"{S}.noise_aligned_with_hessian",
          "On a trained network the minibatch-noise covariance is aligned with the Hessian (cosine with H above the "
          "cosine with an isotropic matrix).", CITATION,
          {"network": network_check(f"{S}.noise_aligned_with_hessian", "golmant")}, figure="golmant"),
]
for _c in CLAIMS:
    register(_c)
