r"""Stability of minima under SGD: stability radius, escape times, mean-square stability.

* :func:`stability_radius` — Golmant's stochastic stability radius (Monte Carlo + bisection,
  binomial intervals), on :class:`FiniteDepthWell` or any landscape with a basin.
* :func:`escape_time` — mean first-passage time of an ensemble over a barrier (censoring
  handled); :func:`mean_first_passage_time` — the exact 1-D quadrature oracle (Kramers 1940,
  Xie et al. 2021).
* :func:`second_moment_growth`, :func:`stability_map` — Wu, Ma & E's mean-square stability,
  simulated; :func:`matched_trace_covariances` — Zhu et al.'s noise shapes at equal trace.

All estimators run the core engine's update rules (:mod:`sgd_sde.dynamics`) with any noise model
of :mod:`sgd_sde.noise`; figure recipes live in :mod:`sgd_sde.figures.stability`.
"""

from .escape import EscapeResult, escape_time, landscape_functions, mean_first_passage_time
from .mean_square import (
    MeanSquareResult,
    exact_factor_1d,
    matched_trace_covariances,
    second_moment_growth,
    stability_map,
    threshold_bracket,
)
from .radius import FiniteDepthWell, RadiusResult, check_minimum, loglog_slope, stability_radius

__all__ = [
    "stability_radius",
    "RadiusResult",
    "FiniteDepthWell",
    "check_minimum",
    "loglog_slope",
    "escape_time",
    "EscapeResult",
    "mean_first_passage_time",
    "landscape_functions",
    "second_moment_growth",
    "stability_map",
    "threshold_bracket",
    "MeanSquareResult",
    "exact_factor_1d",
    "matched_trace_covariances",
]
