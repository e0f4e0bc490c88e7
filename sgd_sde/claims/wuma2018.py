"""Claims of Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A
Dynamical Stability Perspective".

Symbolic checks run :mod:`sgd_sde.theory.stability`; simulation checks read the numbers of the
Wu–Ma–E figure recipe (:func:`sgd_sde.figures.stability.wu_ma_e_figure`: exact-minibatch SGD on a
1-D over-parameterised least-squares problem, :func:`sgd_sde.stability.second_moment_growth` and
:func:`sgd_sde.stability.stability_map`).

References:
    Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A Dynamical
    Stability Perspective" (NeurIPS).
"""

from __future__ import annotations

from ._common import decide, figure_data, symbolic_check
from ._registry import Claim, register

CITATION = ("Wu, Ma & E 2018, How SGD Selects the Global Minima in Over-parameterized Learning: A Dynamical "
            "Stability Perspective")
S = "wuma2018"


def _res(key, quick):
    return figure_data("stability", "wu_ma_e", key, quick)[1]["results"]


def _sim_factor(key, quick):
    r = _res(key, quick)
    exact = r["factor_exact"]
    m, ci = r["factor_simulated"], r["factor_ci"]
    return decide(f"{S}.mean_square_factor", "simulation", m / exact, 1.0, tolerance=0.05,
                  ci=(ci[0] / exact, ci[1] / exact), key=key, config={"lr": r["lr"], "B": 2},
                  note=f"simulated per-step growth of E x² {m:.4f} vs exact factor {exact:.4f}", figure="wu_ma_e")


def _sim_unstable(key, quick):
    r = _res(key, quick)
    return decide(f"{S}.sgd_unstable_where_gd_stable", "simulation", r["factor_simulated"], 1.0, kind="greater",
                  ci=tuple(r["factor_ci"]), key=key, config={"lr": r["lr"], "B": 2},
                  note=f"at η = {r['lr']} (SGD threshold {r['threshold_exact']:.4f} < η < GD threshold "
                       f"{r['gd_threshold']:.4f}): SGD factor {r['factor_simulated']:.3f} > 1, GD factor "
                       f"{r['gd_factor']:.3f} < 1", figure="wu_ma_e")


def _sim_threshold(key, quick):
    r = _res(key, quick)
    lo, hi = r["bracket"]
    mid = 0.5 * (lo + hi)
    return decide(f"{S}.stability_threshold", "simulation", mid, r["threshold_exact"], tolerance=hi - lo,
                  ci=(lo, hi), key=key, config={"B": 2},
                  note=f"simulated threshold bracket [{lo}, {hi}] vs η* = 2a/(a² + κs²) = {r['threshold_exact']:.4f}",
                  figure="wu_ma_e")


CLAIMS = [
    Claim(f"{S}.mean_square_factor",
          "Near a global minimum SGD's second moment grows per step by E(1−ηĥ)² = (1−ηa)² + η²s²κ "
          "(sharpness a, non-uniformity s; ratio 1 ± 0.05).", CITATION,
          {"symbolic": symbolic_check(f"{S}.mean_square_factor", ["stability.factor_1d", "stability.operator_dd"]),
           "simulation": _sim_factor}, figure="wu_ma_e"),
    Claim(f"{S}.stability_threshold",
          "SGD is linearly stable iff η ≤ 2a/(a² + κs²) (the simulated threshold brackets it within the scan step).",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.stability_threshold", ["stability.threshold_1d",
                                                                    "stability.wu_ma_e_calibration"]),
           "simulation": _sim_threshold}, figure="wu_ma_e"),
    Claim(f"{S}.sgd_unstable_where_gd_stable",
          "SGD selects flatter and more uniform minima than GD: between the two thresholds GD converges while SGD's "
          "second moment grows (factor > 1).", CITATION, {"simulation": _sim_unstable}, figure="wu_ma_e"),
    Claim(f"{S}.nonuniformity_bound",
          "A minimum stable for SGD has sharpness a ≤ 2/η and non-uniformity s ≤ √B/η (B ≪ N).", CITATION,
          {"symbolic": symbolic_check(f"{S}.nonuniformity_bound", ["stability.nonuniformity_bound"])}),
]
for _c in CLAIMS:
    register(_c)
