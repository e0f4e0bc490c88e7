"""Claims of Bouchaud & Georges 1990 ("Anomalous diffusion in disordered media") and Sinai 1982:
a random walk on a random potential whose variance grows like ``|x|^α`` spreads
ultra-slowly, ``distance ~ (log t)^{2/α}``.

Simulation checks read the first-passage figure recipe's fits
(:func:`sgd_sde.figures.diffusion.first_passage_figure`: exact mean exit times of
:func:`sgd_sde.diffusion.first_passage_experiment` over many random environments, fitted by
:func:`sgd_sde.diffusion.first_passage_exponent`).

References:
    Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
    models and physical applications"; Sinai 1982, "The limiting behavior of a one-dimensional
    random walk in a random medium".
"""

from __future__ import annotations

from ._common import decide, figure_data
from ._registry import Claim, register

CITATION = ("Bouchaud & Georges 1990, Anomalous diffusion in disordered media: statistical mechanisms, models and "
            "physical applications")
SINAI = "Sinai 1982, The limiting behavior of a one-dimensional random walk in a random medium"
S = "bouchaud1990"


def _beta_check(claim, alpha):
    def check(key, quick):
        _, meta = figure_data("diffusion", "first_passage", key, quick)
        results = meta.get("results", meta)
        fit = results[f"beta_{alpha}"]
        exp = 2.0 / alpha
        return decide(claim, "simulation", fit["estimate"], exp, tolerance=0.125 * exp, ci=tuple(fit["ci"]), key=key,
                      config={"alpha": alpha, **results.get("config", {})},
                      note=f"fitted exponent β of log τ(L) ∝ L^(1/β) (distance ~ (log t)^β): {fit['estimate']:.3f} "
                           f"[{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}] vs 2/α = {exp:.3f}", figure="first_passage")

    check.__name__ = f"simulation[{claim}]"
    return check


CLAIMS = [
    Claim(f"{S}.sinai_log_squared",
          "On a Brownian random potential (α = 1, Sinai) the walker's distance grows like (log t)² (β = 2 ± 12.5%).",
          SINAI, {"simulation": _beta_check(f"{S}.sinai_log_squared", 1.0)}, figure="first_passage"),
    Claim(f"{S}.ultra_slow_alpha_half",
          "For a potential whose variance grows like |x|^α, distance ~ (log t)^(2/α): at α = 0.5, β = 4 ± 12.5%.",
          CITATION, {"simulation": _beta_check(f"{S}.ultra_slow_alpha_half", 0.5)}, figure="first_passage"),
    Claim(f"{S}.ultra_slow_alpha_three_halves",
          "For a potential whose variance grows like |x|^α, distance ~ (log t)^(2/α): at α = 1.5, β = 4/3 ± 12.5%.",
          CITATION, {"simulation": _beta_check(f"{S}.ultra_slow_alpha_three_halves", 1.5)}, figure="first_passage"),
]
for _c in CLAIMS:
    register(_c)
