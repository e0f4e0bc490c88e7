r"""SVAG (Li, Malladi & Arora 2021): the two-batch combination that matches SGD's noise per unit time.

SVAG with parameter ``l ≥ 1`` takes steps :math:`x_{k+1} = x_k - \frac\eta l\nabla L^l` with
:math:`L^l = r_1L_{\gamma_1} + r_2L_{\gamma_2}` over two independent batches and

.. math:: r_{1,2} = \frac{1\pm\sqrt{2l-1}}{2},\qquad r_1 + r_2 = 1,\qquad r_1^2 + r_2^2 = l .

The mean gradient is unchanged and the noise variance is multiplied by ``l``, so per unit time
(``η/l`` per step) the drift and the diffusion :math:`\eta\Sigma/B` equal SGD's; as
``l → ∞`` SVAG converges weakly to the SDE at finite ``η``.

References:
    Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential
    Equations (SDEs)" (NeurIPS), Section 4 (not Balles & Hennig's unrelated "SVAG").
"""

from __future__ import annotations

import functools

import numpy as np

from ._check import Check, identity
from ._numeric import compiled, positive_values

__all__ = ["svag_coefficients"]

_SOURCE = "Li, Malladi & Arora 2021"

_ARGS = {"r1": ("l",), "r2": ("l",)}


@functools.cache
def _symbolic() -> dict:
    import sympy as sp

    l = sp.Symbol("l", positive=True)  # noqa: E741 (the paper's name)
    r = sp.Symbol("r", real=True)
    # r1 + r2 = 1 and r1² + r2² = l  ⇒  r² - r + (1 - l)/2 = 0
    roots = sorted(sp.solve(sp.Eq(r**2 + (1 - r) ** 2, l), r), key=lambda e: -e.subs(l, 2))
    return {"symbols": {"l": l}, "r1": roots[0], "r2": roots[1]}


def svag_coefficients(l) -> tuple[float, float]:
    r"""SVAG's batch weights :math:`r_{1,2} = (1 \pm \sqrt{2l-1})/2`.

    Args:
        l: the SVAG parameter, ``l ≥ 1`` (``l = 1`` is plain SGD: ``(1, 0)``).

    Returns:
        ``(r1, r2)`` with ``r1 + r2 = 1``, ``r1² + r2² = l``.

    Raises:
        ValueError: if ``l < 1`` or not finite.

    Examples:
        >>> svag_coefficients(1)
        (1.0, 0.0)
        >>> svag_coefficients(5)
        (2.0, -1.0)

    References:
        Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential
        Equations (SDEs)", Section 4.
    """
    lv = positive_values("l", l)
    if np.ndim(lv) != 0 or lv < 1:
        raise ValueError(f"l must be a scalar >= 1, got l={l!r}")
    return float(compiled("svag", "r1")(lv)), float(compiled("svag", "r2")(lv))


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    l = e["symbols"]["l"]  # noqa: E741
    r1, r2 = e["r1"], e["r2"]
    eta, sigma2, B = sp.symbols("eta sigma2 B", positive=True)
    # per step: drift (η/l)(r1+r2)G, noise covariance (η/l)²(r1²+r2²)σ²/B; per unit time (÷ η/l ... × l/η)
    per_time_noise = (eta / l) ** 2 * (r1**2 + r2**2) * sigma2 / B / (eta / l)
    return [
        identity("svag.coefficients", r1, (1 + sp.sqrt(2 * l - 1)) / 2,
                 "r₁ = (1 + √(2l-1))/2 (r₂ the other root)", _SOURCE),
        identity("svag.sum", r1 + r2, 1, "r₁ + r₂ = 1 (unbiased gradient)", _SOURCE),
        identity("svag.squares", r1**2 + r2**2, l, "r₁² + r₂² = l (noise variance × l)", _SOURCE),
        identity("svag.noise_per_unit_time", per_time_noise, eta * sigma2 / B,
                 "(η/l)² l σ²/B per step of length η/l = ησ²/B per unit time, as SGD", _SOURCE),
    ]
