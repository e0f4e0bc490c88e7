"""Confidence intervals used by the stability estimators (binomial, mean, censored exponential)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["binomial_ci", "z_value", "heavy_mean_ci", "mean_ci", "exponential_mean_ci"]


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


def heavy_mean_ci(x, level: float = 0.95, *, n_batches: int = 100, n_boot: int = 2000,
                  seed: int = 0) -> tuple[float, float]:
    r"""Interval for the mean of i.i.d. positive, heavy-tailed samples (e.g. ``x_T²`` of a random product).

    A studentized (bootstrap-t) interval for ``log`` of the mean, resampling batches: the samples
    are cut into ``n_batches`` equal batches (sums and sums of squares per batch), batches are
    resampled with replacement ``n_boot`` times, and each replicate's
    :math:`t^* = (\log\bar x^* - \log\bar x)/\widehat{se}^*` with the delta-method
    :math:`\widehat{se} = s/(\sqrt n\,\bar x)` from the resampled particles. The interval is
    :math:`\bar x\,\exp(-t^*_{1-\alpha/2}\widehat{se}),\ \bar x\,\exp(-t^*_{\alpha/2}\widehat{se})`.
    Unlike ``mean ± z·sd/√n`` it is asymmetric and follows the right skew of the mean. Measured on
    Wu–Ma–E's product at η = 0.55 (``(E f²/F²)^T/P = 3.5⁴/2000``, T = 4, P = 2000, 300
    repetitions): coverage 0.92 for a nominal 0.95, against 0.84 for the normal interval, whose
    sample SD misses the rare large products (``tests/test_stability_mean_square.py``). Where the
    tail is heavier still (T = 5: 0.89 vs 0.74) no interval built from the sample alone is
    reliable: take more particles or fewer steps.

    Args:
        x: ``(n,)`` samples, ``n ≥ 2·n_batches`` (fewer: one sample per batch).
        level: confidence level.
        n_batches, n_boot, seed: resampling settings (deterministic for a seed).

    Returns:
        ``(lo, hi)``; ``(mean, mean)`` when all samples are equal.

    References:
        Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 12 (bootstrap-t, with a
        variance-stabilising log transform); Hall 1992, "The Bootstrap and Edgeworth Expansion".
    """
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    m = float(np.mean(x))
    sd = float(np.std(x, ddof=1)) if n > 1 else 0.0
    if n < 2 or not sd > 0 or not m > 0:
        return m, m
    k = min(int(n_batches), n)
    cut = n - n % k
    s1 = x[:cut].reshape(k, -1).sum(axis=1)
    s2 = (x[:cut] ** 2).reshape(k, -1).sum(axis=1)
    per = cut // k
    w = np.random.default_rng(seed).multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(np.float64)
    nb = per * k
    mb = (w @ s1) / nb
    vb = np.maximum((w @ s2 - nb * mb**2) / (nb - 1), 0.0)
    seb = np.sqrt(vb / nb) / mb
    ok = seb > 0
    tstar = (np.log(mb[ok]) - math.log(float(np.mean(x[:cut])))) / seb[ok]
    se = sd / math.sqrt(n) / m
    alpha = 1.0 - level
    q_hi, q_lo = np.quantile(tstar, 1 - alpha / 2), np.quantile(tstar, alpha / 2)
    return m * math.exp(-q_hi * se), m * math.exp(-q_lo * se)
