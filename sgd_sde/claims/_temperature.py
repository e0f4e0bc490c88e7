"""Ratios of stationary second moments (shared by the temperature claims of several sources)."""

from __future__ import annotations

import numpy as np

from ._sim import stationary_moments

__all__ = ["moment", "ratio"]


def moment(key, quick, dynamics, param, point, dim=0, **grid):
    """``(mean, se)`` of the stationary ``E θ_dim²`` at grid point ``point = (lr, B)``."""
    res = stationary_moments(key, quick, dynamics, param, **grid)
    m, se = res[(float(point[0]), int(point[1]))]
    return float(m[dim]), float(se[dim])


def ratio(num, den):
    """``num/den`` of two ``(mean, se)`` pairs with a 95% interval by the delta method.

    Treating the two as independent overstates the SE when they share noise draws (a sweep uses
    common random numbers, which correlates them positively), so the interval is conservative.
    """
    (a, sa), (b, sb) = num, den
    r = a / b
    se = r * np.sqrt((sa / a) ** 2 + (sb / b) ** 2)
    return r, (r - 1.96 * se, r + 1.96 * se)
