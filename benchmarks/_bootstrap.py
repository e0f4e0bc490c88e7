"""Bootstrap of medians over a benchmark's repetitions: how far a verdict's number could move with
other draws of the same machine noise (one formula for ``run.py`` and ``training.py``)."""

from __future__ import annotations

import numpy as np

N_BOOT = 4000


def bootstrap_medians(times, rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    """``n_boot`` medians of ``times`` resampled with replacement (each resample as long as ``times``)."""
    t = np.asarray(times, float)
    return np.median(t[rng.integers(0, len(t), (n_boot, len(t)))], axis=1)


def ratio_interval(num_times, den_times, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``median(num_times) / median(den_times)`` (a speed-up when the
    numerator is the other's time), the two samples resampled independently (fixed seed)."""
    rng = np.random.default_rng(seed)
    a, b = bootstrap_medians(num_times, rng, n_boot), bootstrap_medians(den_times, rng, n_boot)
    lo, hi = np.percentile(a / b, [2.5, 97.5])
    return float(lo), float(hi)
