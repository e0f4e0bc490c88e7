"""Confidence intervals used by the stability estimators (binomial, mean, censored exponential)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["binomial_ci", "z_value"]


def z_value(level: float) -> float:
    """Two-sided normal quantile for confidence ``level`` (e.g. 1.96 for 0.95)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def binomial_ci(k: int, n: int, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval for a binomial probability from ``k`` successes in ``n`` trials.

    ``method="wilson"`` (score interval, Wilson 1927) or ``"clopper-pearson"`` (exact, Clopper &
    Pearson 1934; conservative).
    """
    if n <= 0:
        return 0.0, 1.0
    if method == "wilson":
        z = z_value(level)
        p = k / n
        den = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        return max(0.0, centre - half), min(1.0, centre + half)
    if method == "clopper-pearson":
        from scipy.stats import beta

        alpha = 1.0 - level
        lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
        hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
        return lo, hi
    raise ValueError(f"method must be 'wilson' or 'clopper-pearson', got method={method!r}")


def exponential_mean_ci(total_time: float, n_events: int, level: float = 0.95) -> tuple[float, float]:
    """Chi-square interval for an exponential mean from ``n_events`` and the total time at risk."""
    from scipy.stats import chi2

    if n_events == 0:
        return total_time / float(chi2.ppf(0.5 + level / 2, 2)), math.inf
    alpha = 1.0 - level
    return (2 * total_time / float(chi2.ppf(1 - alpha / 2, 2 * n_events)),
            2 * total_time / float(chi2.ppf(alpha / 2, 2 * n_events)))


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Normal-theory interval ``mean ± z·sd/√n``."""
    n = x.size
    m = float(np.mean(x))
    if n < 2:
        return m, m
    half = z_value(level) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return m - half, m + half
