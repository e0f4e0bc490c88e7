r"""Mean-square stability of SGD at an interpolating minimum, and the escape indicator tr(HΣ).

**Wu, Ma & E 2018.** At a minimum where every example is fitted (:math:`\nabla\ell_i(x^*) = 0`),
the linearised SGD step is :math:`x_{t+1} = (I - \eta\hat H)x_t` with the minibatch Hessian
:math:`\hat H = \frac1B\sum_{i\in\mathcal B}H_i`. The second moment :math:`M = \mathbb E xx^T`
evolves by the linear operator

.. math:: \mathcal T(M) = (I-\eta H)M(I-\eta H) + \eta^2\kappa\,\tfrac1N\textstyle\sum_i(H_i-H)M(H_i-H),

:math:`\kappa = (N-B)/(B(N-1))` without replacement (``1/B`` with). In 1-D this is the exact
factor :math:`(1-\eta a)^2 + \eta^2 s^2\kappa` with sharpness :math:`a` and non-uniformity
:math:`s^2 = \overline{h^2} - a^2`; stability needs :math:`a \le 2/\eta` and
:math:`s \le 1/(\eta\sqrt\kappa) \approx \sqrt B/\eta`, and the exact threshold is
:math:`\eta^* = 2a/(a^2 + \kappa s^2)`.

**Zhu et al. 2019.** For :math:`d\theta = -H\theta\,dt + \Sigma^{1/2}dW` near a minimum,
:math:`\mathbb E L_t - L_0 = \tfrac14\sum_i\tilde\Sigma_{ii}(1 - e^{-2\lambda_it}) \approx \tfrac t2\mathrm{tr}(H\Sigma)`
(eigenbasis of ``H``): the escape indicator is :math:`\mathrm{tr}(H\Sigma)`, largest at fixed
:math:`\mathrm{tr}\Sigma` when the noise is aligned with the sharp directions.

References:
    Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A
    Dynamical Stability Perspective" (NeurIPS), Section 3.
    Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent: Its Behavior
    of Escaping from Sharp Minima and Regularization Effects" (ICML), Section 3.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from itertools import combinations

import numpy as np

from ._check import Check, exact, identity
from ._numeric import compiled, flag, positive_values, psd_matrix

__all__ = [
    "mean_square_factor",
    "sharpness_nonuniformity",
    "mean_square_threshold",
    "zhu_escape_indicator",
    "ou_expected_loss",
]

_WU = "Wu, Ma & E 2018"
_ZHU = "Zhu et al. 2019"

_ARGS = {"factor_1d": ("lr", "a", "s2", "kappa"), "threshold_1d": ("a", "s2", "kappa")}


@functools.cache
def _symbolic() -> dict:
    import sympy as sp

    lr, a, s2, kappa, t, lam, sig = sp.symbols("lr a s2 kappa t lam sigma2", positive=True)
    # E(1 - lr ĥ)² with E ĥ = a, Var ĥ = κ s²: expand, then replace ĥ² by E ĥ² = a² + κs² and ĥ by a
    h = sp.Symbol("h")
    second = sp.Poly(sp.expand((1 - lr * h) ** 2), h)
    moments = {0: 1, 1: a, 2: a**2 + kappa * s2}
    factor = sum(coef * moments[k] for (k,), coef in second.terms())
    roots = sp.solve(sp.Eq(factor, 1), lr)
    (threshold,) = [r for r in roots if r != 0]
    # Zhu: 1-D OU variance P(t), P' = -2λP + σ², P(0) = 0, and E L_t = ½λP (from the minimum)
    P = sp.Function("P")
    sol = sp.dsolve(sp.Eq(P(t).diff(t), -2 * lam * P(t) + sig), P(t), ics={P(0): 0}).rhs
    symbols = {"lr": lr, "a": a, "s2": s2, "kappa": kappa, "t": t, "lam": lam, "sigma2": sig}
    return {"symbols": symbols, "factor_1d": factor, "threshold_1d": threshold, "ou_var": sol,
            "ou_loss": lam * sol / 2}


_MAX_CURVATURE = 1e150  # squared (and multiplied by lr²·N) in the second moment: beyond this it overflows


def _hessians(per_example_hessians):
    from .. import _validate as V

    h = V.finite_array("per_example_hessians", per_example_hessians, ndim=(1, 3)).astype(np.float64)
    if h.shape[0] < 1:
        raise ValueError("per_example_hessians must hold at least one example")
    if h.size and float(np.abs(h).max()) > _MAX_CURVATURE:
        raise ValueError(f"per_example_hessians must have entries of magnitude <= {_MAX_CURVATURE:g} "
                         f"(their squares enter the second moment and would overflow float64), got {float(np.abs(h).max()):.3g}")
    if h.ndim == 3:
        n, d, d2 = h.shape
        if d != d2 or d == 0:
            raise ValueError(f"per_example_hessians must have shape (N,) or (N, d, d), got {h.shape}")
        if d > 40:
            raise ValueError(f"per_example_hessians: d must be <= 40 (the operator is d²×d²), got d={d}")
        if not np.allclose(h, np.swapaxes(h, 1, 2), atol=1e-10 * max(1.0, float(np.abs(h).max()))):
            raise ValueError("per_example_hessians must be symmetric matrices (H_i = H_iᵀ)")
    return h


def _kappa(batch_size, n, replace):
    from .minibatch import batch_variance_factor

    replace = flag("replace", replace)
    if not replace and n == 1:
        return 0.0
    return batch_variance_factor(batch_size, n, replace)


def sharpness_nonuniformity(per_example_hessians) -> tuple[float, float]:
    r"""Sharpness :math:`a = \lambda_{max}(H)` and non-uniformity :math:`s = \lambda_{max}(\overline{H_i^2} - H^2)^{1/2}`.

    Args:
        per_example_hessians: ``(N,)`` curvatures or ``(N, d, d)`` symmetric Hessians.

    Returns:
        ``(a, s)``.

    Raises:
        ValueError: wrong shape, non-finite or non-symmetric entries.

    Examples:
        >>> a, s = sharpness_nonuniformity([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9])
        >>> a, round(s, 4)
        (3.0, 2.5397)

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning", Def. 1–2.
    """
    h = _hessians(per_example_hessians)
    if h.ndim == 1:
        a = float(h.mean())
        return a, float(np.sqrt(max(float(np.mean(h * h)) - a * a, 0.0)))
    H = h.mean(axis=0)
    sq = np.einsum("nij,njk->ik", h, h) / h.shape[0] - H @ H
    return float(np.linalg.eigvalsh(H)[-1]), float(np.sqrt(max(np.linalg.eigvalsh(0.5 * (sq + sq.T))[-1], 0.0)))


def mean_square_factor(lr, per_example_hessians, batch_size, replace: bool = False) -> float:
    r"""Exact per-step growth factor of :math:`\mathbb E\|x_t - x^*\|^2` for linearised SGD.

    1-D (``per_example_hessians`` of shape ``(N,)``): :math:`(1-\eta a)^2 + \eta^2 s^2\kappa`.
    d-D (shape ``(N, d, d)``): the spectral radius of the second-moment operator
    :math:`\mathcal T = (I-\eta H)\otimes(I-\eta H) + \eta^2\kappa\frac1N\sum_i (H_i-H)\otimes(H_i-H)`.
    The minimum is mean-square stable iff the factor is ``≤ 1``.

    Args:
        lr: learning rate ``η > 0``.
        per_example_hessians: ``(N,)`` or ``(N, d, d)`` (symmetric, ``d ≤ 40``).
        batch_size: ``B ≥ 1`` (``≤ N`` without replacement).
        replace: minibatches drawn with replacement (``κ = 1/B``) or without
            (``κ = (N-B)/(B(N-1))``, default).

    Returns:
        the factor (float).

    Raises:
        ValueError: ``lr ≤ 0``, bad shapes, ``B < 1``, or ``B > N`` without replacement.

    Examples:
        >>> h = [0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9]
        >>> round(mean_square_factor(0.1, h, 2), 5), round(mean_square_factor(0.55, h, 2), 3)
        (0.51867, 1.29)

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A
        Dynamical Stability Perspective", Section 3 (eq. 6–8).
    """
    eta = positive_values("lr", lr)
    if np.ndim(eta) != 0:
        raise ValueError("lr must be a scalar")
    h = _hessians(per_example_hessians)
    kappa = _kappa(batch_size, h.shape[0], replace)
    if h.ndim == 1:
        a, s = sharpness_nonuniformity(h)
        return float(compiled("stability", "factor_1d")(eta, a, s * s, kappa))
    n, d, _ = h.shape
    H = h.mean(axis=0)
    step = np.eye(d) - eta * H
    dev = h - H
    op = np.kron(step, step) + eta**2 * kappa * np.einsum("nij,nkl->ikjl", dev, dev).reshape(d * d, d * d) / n
    return float(np.max(np.abs(np.linalg.eigvals(op))))


def mean_square_threshold(per_example_hessians, batch_size, replace: bool = False) -> float:
    r"""Largest 1-D learning rate with factor ``≤ 1``: :math:`\eta^* = 2a/(a^2 + \kappa s^2)`.

    Compare with GD's :math:`2/a`.

    Args:
        per_example_hessians: ``(N,)`` curvatures with mean ``a > 0``.
        batch_size: ``B ≥ 1`` (``≤ N`` without replacement).
        replace: as in :func:`mean_square_factor`.

    Returns:
        ``η*`` (float).

    Raises:
        ValueError: not 1-D, ``a ≤ 0``, bad ``batch_size``, curvatures above ``1e150`` in
            magnitude (their squares overflow).
        TypeError: ``replace`` not a ``bool``.

    Examples:
        >>> round(mean_square_threshold([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9], 2), 5)
        0.50562

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning".
    """
    h = _hessians(per_example_hessians)
    if h.ndim != 1:
        raise ValueError("per_example_hessians must have shape (N,) for the closed-form threshold; "
                         "for (N, d, d) scan mean_square_factor over lr")
    a, s = sharpness_nonuniformity(h)
    if not a > 0:
        raise ValueError(f"the mean curvature a must be > 0 for a finite threshold, got a={a}")
    kappa = _kappa(batch_size, h.shape[0], replace)
    return float(compiled("stability", "threshold_1d")(a, s * s, kappa))


def zhu_escape_indicator(H, Sigma) -> float:
    r"""Zhu et al.'s escape indicator :math:`\mathrm{tr}(H\Sigma)` (initial rate of ``2 d E L/dt``).

    Args:
        H: Hessian at the minimum, symmetric PSD ``(d, d)``.
        Sigma: diffusion covariance, symmetric PSD ``(d, d)``.

    Returns:
        ``tr(HΣ)`` (float).

    Raises:
        ValueError: non-PSD arguments or shape mismatch.

    Examples:
        >>> import numpy as np
        >>> H = np.diag([100.0] + [1.0] * 9)
        >>> round(zhu_escape_indicator(H, H / np.trace(H)), 2), round(zhu_escape_indicator(H, np.eye(10) / 10), 2)
        (91.83, 10.9)

    References:
        Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient Descent", Proposition 1.
    """
    h = psd_matrix("H", H)
    s = psd_matrix("Sigma", Sigma, h.shape[0])
    return float(np.sum(h * s))


def ou_expected_loss(t, H, Sigma, theta0=None):
    r"""Exact :math:`\mathbb E L_t` for :math:`d\theta = -H\theta\,dt + \Sigma^{1/2}dW`, :math:`L = \tfrac12\theta^TH\theta`.

    .. math:: \mathbb E L_t = \tfrac12\sum_i\lambda_i\tilde\theta_{0,i}^2e^{-2\lambda_it}
              + \tfrac14\sum_i\tilde\Sigma_{ii}(1 - e^{-2\lambda_it})

    in the eigenbasis of ``H`` (flat directions contribute nothing). The slope at ``t = 0`` from
    the minimum is :math:`\tfrac12\mathrm{tr}(H\Sigma)`.

    Args:
        t: time(s) ``≥ 0`` (scalar or array).
        H: symmetric PSD ``(d, d)``.
        Sigma: symmetric PSD ``(d, d)``.
        theta0: start ``(d,)``; default the minimum ``0``.

    Returns:
        float or array shaped like ``t``.

    Raises:
        ValueError: negative ``t``, non-PSD matrices, shape mismatch.

    Examples:
        >>> import numpy as np
        >>> round(float(ou_expected_loss(1e-4, np.diag([100.0, 1.0]), np.eye(2))) / 1e-4, 2)  # ≈ tr(HΣ)/2
        50.0

    References:
        Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient Descent", Section 3.
    """
    from .. import _validate as V

    tt = positive_values("t", t, allow_zero=True)
    h = psd_matrix("H", H)
    s = psd_matrix("Sigma", Sigma, h.shape[0])
    lam, U = np.linalg.eigh(h)
    lam = np.clip(lam, 0.0, None)
    s_diag = np.einsum("ij,ik,kj->j", U, s, U)  # diag(Uᵀ Σ U)
    tt_arr = np.asarray(tt, dtype=np.float64)[..., None]
    decay = -np.expm1(-2.0 * lam * tt_arr)  # 1 - e^{-2λt}, accurate for small λt
    out = 0.25 * np.sum(s_diag * decay, axis=-1)
    if theta0 is not None:
        th = V.finite_array("theta0", theta0, ndim=1).astype(np.float64)
        if th.shape != (lam.size,):
            raise ValueError(f"theta0 must have shape ({lam.size},), got {th.shape}")
        th_t = U.T @ th
        out = out + 0.5 * np.sum(lam * th_t**2 * np.exp(-2.0 * lam * tt_arr), axis=-1)
    return float(out) if np.ndim(out) == 0 else out


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------

CALIBRATION_H = tuple(Fraction(x) for x in ("1/2", "1", "1", "3/2", "2", "2", "3", "4", "6", "9"))


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    s = e["symbols"]
    lr, a, s2, kappa = s["lr"], s["a"], s["s2"], s["kappa"]
    out = [identity("stability.factor_1d", e["factor_1d"], (1 - lr * a) ** 2 + lr**2 * s2 * kappa,
                    "E(1-ηĥ)² = (1-ηa)² + η²s²κ", _WU),
           identity("stability.threshold_1d", e["threshold_1d"], 2 * a / (a**2 + kappa * s2),
                    "factor = 1 at η* = 2a/(a² + κs²)", _WU)]
    N, B = sp.symbols("N B", positive=True)
    inv_sqrt_kappa = sp.sqrt(B * (N - 1) / (N - B))
    out.append(exact("stability.nonuniformity_bound", sp.limit(inv_sqrt_kappa, N, sp.oo) == sp.sqrt(B),
                     "η²s²κ ≤ 1 ⇔ s ≤ (1/η)√(B(N-1)/(N-B)) → √B/η as N → ∞; (1-ηa)² ≤ 1 ⇔ a ≤ 2/η",
                     _WU))
    # calibration, exactly: n = 10, B = 2, all 45 batches, Fractions
    h = CALIBRATION_H
    n, b = len(h), 2
    a_c = sum(h) / n
    s2_c = sum(x * x for x in h) / n - a_c**2
    kap = Fraction(n - b, b * (n - 1))
    ok, vals = True, []
    for eta in (Fraction(1, 10), Fraction(1, 5), Fraction(11, 20)):
        enum = sum((1 - eta * (h[i] + h[j]) / 2) ** 2 for i, j in combinations(range(n), 2)) / 45
        formula = (1 - eta * a_c) ** 2 + eta**2 * s2_c * kap
        ok &= enum == formula
        vals.append(float(formula))
    thr = 2 * a_c / (a_c**2 + kap * s2_c)
    ok &= a_c == 3 and abs(float(s2_c) ** 0.5 - 2.5397) < 5e-5 and abs(float(thr) - 0.50562) < 5e-6
    out.append(exact("stability.wu_ma_e_calibration", ok,
                     f"Fractions, 45 batches: factor {vals[0]:.5f} (η=0.1), {vals[1]:.5f} (η=0.2), {vals[2]:.3f} (η=0.55 > "
                     f"SGD threshold {float(thr):.5f}, < GD threshold {float(2 / a_c):.4f})", _WU))
    # d-D operator: enumeration of E[(I-ηĤ)⊗(I-ηĤ)] over all batches == the Kronecker formula (exact)
    from sympy import kronecker_product as kron

    Hs = [sp.Matrix([[2, 1], [1, 1]]), sp.Matrix([[1, 0], [0, 3]]), sp.Matrix([[sp.Rational(1, 2), -1], [-1, 4]]),
          sp.Matrix([[3, 2], [2, 2]])]
    eta = sp.Rational(1, 7)
    nH, bH = len(Hs), 2
    I2 = sp.eye(2)
    enum = sp.zeros(4, 4)
    pairs = list(combinations(range(nH), bH))
    for i, j in pairs:
        step = I2 - eta * (Hs[i] + Hs[j]) / bH
        enum += kron(step, step)
    enum /= len(pairs)
    Hbar = sum(Hs, sp.zeros(2, 2)) / nH
    k4 = sp.Rational(nH - bH, bH * (nH - 1))
    formula = kron(I2 - eta * Hbar, I2 - eta * Hbar) + eta**2 * k4 * sum(
        (kron(Hi - Hbar, Hi - Hbar) for Hi in Hs), sp.zeros(4, 4)) / nH
    out.append(exact("stability.operator_dd", enum == formula,
                     "exact 2x2 example, all 6 batches: E (I-ηĤ)⊗(I-ηĤ) = (I-ηH)⊗(I-ηH) + η²κ mean (H_i-H)⊗(H_i-H)",
                     _WU))
    # Zhu: OU variance and E L_t; slope at 0 = ½ tr(HΣ) (per direction ½ λ σ²... /λ)
    t, lam, sig = s["t"], s["lam"], s["sigma2"]
    ok = (sp.simplify(e["ou_var"] - sig * (1 - sp.exp(-2 * lam * t)) / (2 * lam)) == 0
          and sp.simplify(sp.diff(e["ou_loss"], t).subs(t, 0) - lam * sig / 2) == 0)
    out.append(exact("stability.zhu_ou_loss", ok,
                     "P' = -2λP + σ², P(0) = 0 ⇒ E L_t = ¼σ²(1 - e^{-2λt}); d/dt E L_t at 0 = ½λσ² (sum: ½tr(HΣ))",
                     _ZHU))
    Hd = sp.diag(100, *[1] * 9)
    trH = Hd.trace()
    vals = ((Hd * Hd / trH).trace(), Hd[0, 0], trH / 10)
    ok = vals == (sp.Rational(10009, 109), 100, sp.Rational(109, 10))
    out.append(exact("stability.zhu_calibration", ok,
                     f"D=10, H=diag(100,1,…,1), trΣ=1: tr(HΣ) = {float(vals[0]):.2f} (Σ∝H), {vals[1]} (top eigvec), "
                     f"{float(vals[2]):.1f} (isotropic); ratio {float(vals[0] / vals[2]):.2f} = D trH²/(trH)²", _ZHU))
    return out
