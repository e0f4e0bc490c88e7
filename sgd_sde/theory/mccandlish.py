r"""McCandlish et al. 2018: the optimal step, the gradient noise scale and the critical batch.

A second-order expansion of the loss after one SGD step with a minibatch gradient
:math:`G_{est}` (mean :math:`G`, covariance :math:`\Sigma/B`, :math:`\Sigma` the per-example
gradient covariance normalised by :math:`1/N`) gives

.. math::
    \mathbb E[L(\theta-\epsilon G_{est})] = L - \epsilon|G|^2
        + \tfrac12\epsilon^2\big(G^THG + \mathrm{tr}(H\Sigma)/B\big),

minimised at :math:`\epsilon_{opt}(B) = \epsilon_{max}/(1+B_{noise}/B)` with
:math:`\epsilon_{max} = |G|^2/G^THG`, improvement
:math:`\Delta L_{opt}(B) = \Delta L_{max}/(1+B_{noise}/B)`, :math:`\Delta L_{max} = \tfrac12|G|^4/G^THG`,
noise scale :math:`B_{noise} = \mathrm{tr}(H\Sigma)/G^THG` and its Hessian-free proxy
:math:`B_{simple} = \mathrm{tr}\Sigma/|G|^2`. Steps ``S`` and examples ``E = S·B`` to reach a
target loss trade off along :math:`(S/S_{min}-1)(E/E_{min}-1) = 1`, with
:math:`B_{crit} = E_{min}/S_{min} = B_{noise}`.

**Argument order** (every function here): the batch size first, then the learning rate, then the
landscape statistics in the order ``G, H, Σ`` (or their reductions ``ε_max, B_noise``, ``S_min``):
``expected_loss_after_step(batch_size, lr, G, H, Sigma)``, ``b_noise(G, H, Sigma)``,
``b_simple(G, Sigma)``, ``eps_max(G, H)``, ``eps_opt(batch_size, eps_max, b_noise)``,
``steps_and_examples(batch_size, s_min, b_noise)``. The 0.1.0 orders
``expected_loss_after_step(lr, G, H, Sigma, batch_size)``, ``b_noise(H, Sigma, G)`` and
``b_simple(Sigma, G)`` are recognised by the arrays' ranks and still work, with a
``DeprecationWarning``.

All formulas live as SymPy expressions in :func:`_symbolic` (in the scalar invariants
``g2 = |G|²``, ``gHg = GᵀHG``, ``trHS = tr(HΣ)``, ``trS = tr Σ``); the numeric exports reduce
their array arguments to those invariants and call the lambdified expression.

References:
    McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, "An Empirical Model of Large-Batch
    Training" (arXiv:1812.06162), Section 2 and Appendix A.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ._check import Check, exact, identity
from ._numeric import broadcast, compiled, positive_values, psd_matrix, vector

__all__ = [
    "expected_loss_after_step",
    "eps_max",
    "delta_l_max",
    "eps_opt",
    "delta_l_opt",
    "b_noise",
    "b_simple",
    "steps_and_examples",
    "two_batch_estimators",
]

_SOURCE = "McCandlish et al. 2018"

_ARGS = {
    "expected_loss": ("loss", "eps", "g2", "gHg", "trHS", "B"),
    "eps_max": ("g2", "gHg"),
    "delta_l_max": ("g2", "gHg"),
    "b_noise": ("trHS", "gHg"),
    "b_simple": ("trS", "g2"),
    "eps_opt_reduced": ("B", "eps_max_", "b_noise_"),
    "delta_l_opt_reduced": ("B", "delta_l_max_", "b_noise_"),
    "steps": ("B", "S_min", "b_noise_"),
    "examples": ("B", "S_min", "b_noise_"),
    "g2_two_batch": ("sq_small", "sq_big", "B_small", "B_big"),
    "trS_two_batch": ("sq_small", "sq_big", "B_small", "B_big"),
}


@functools.cache
def _symbolic() -> dict:
    """The single source of truth: every McCandlish formula as a SymPy expression."""
    import sympy as sp

    names = "loss eps g2 gHg trHS trS B eps_max_ delta_l_max_ b_noise_ S_min sq_small sq_big B_small B_big"
    syms = dict(zip(names.split(), sp.symbols(names, positive=True)))
    syms["loss"] = sp.Symbol("loss", real=True)
    s = syms
    out = {
        "symbols": s,
        "expected_loss": s["loss"] - s["eps"] * s["g2"] + s["eps"] ** 2 / 2 * (s["gHg"] + s["trHS"] / s["B"]),
        "eps_max": s["g2"] / s["gHg"],
        "delta_l_max": s["g2"] ** 2 / (2 * s["gHg"]),
        "b_noise": s["trHS"] / s["gHg"],
        "b_simple": s["trS"] / s["g2"],
        "eps_opt_reduced": s["eps_max_"] / (1 + s["b_noise_"] / s["B"]),
        "delta_l_opt_reduced": s["delta_l_max_"] / (1 + s["b_noise_"] / s["B"]),
        # Pareto front (McCandlish eq. 2.11): S = S_min (1 + B_noise/B), E = S·B
        "steps": s["S_min"] * (1 + s["b_noise_"] / s["B"]),
        "examples": s["S_min"] * (1 + s["b_noise_"] / s["B"]) * s["B"],
        # two-batch estimators from E|G_B|² = |G|² + tr Σ / B (Appendix A.1)
        "g2_two_batch": (s["B_big"] * s["sq_big"] - s["B_small"] * s["sq_small"]) / (s["B_big"] - s["B_small"]),
        "trS_two_batch": (s["sq_small"] - s["sq_big"]) / (1 / s["B_small"] - 1 / s["B_big"]),
    }
    return out


def _invariants(G, H, Sigma=None):
    g = vector("G", G)
    h = psd_matrix("H", H, g.size)
    ghg = float(g @ h @ g)
    out = {"g2": float(g @ g), "gHg": ghg}
    if Sigma is not None:
        sig = psd_matrix("Sigma", Sigma, g.size)
        out["trHS"] = float(np.sum(h * sig))  # tr(HΣ) for symmetric H, Σ
        out["trS"] = float(np.trace(sig))
    return out


def _ndim(x) -> int:
    """``np.ndim``, or -1 for what NumPy cannot make an array of (a ragged list): the argument
    check that follows then names it."""
    try:
        return np.ndim(x)
    except ValueError:
        return -1


def _require_curvature(inv) -> None:
    if not inv["gHg"] > 0:
        raise ValueError(
            f"G^T H G must be > 0 (got {inv['gHg']:.3g}): along G the quadratic model has no curvature, "
            "so eps_max is infinite"
        )


def _deprecated_order(name: str, old: str, new: str) -> None:
    warnings.warn(f"{name}({old}) is deprecated; call {name}({new}) (batch size, learning rate, then G, H, Sigma)",
                  DeprecationWarning, stacklevel=3)


def expected_loss_after_step(batch_size, lr, G, H, Sigma, loss: float = 0.0):
    r"""Second-order expected loss after one SGD step, :math:`\mathbb E[L(\theta - \epsilon G_{est})]`.

    .. math:: L - \epsilon|G|^2 + \tfrac12\epsilon^2\,(G^THG + \mathrm{tr}(H\Sigma)/B)

    Args:
        batch_size: ``B > 0`` (scalar or array broadcasting with ``lr``).
        lr: step size ``ε ≥ 0`` (scalar or array).
        G: true gradient, shape ``(d,)``.
        H: Hessian, symmetric PSD ``(d, d)``.
        Sigma: per-example gradient covariance, symmetric PSD ``(d, d)`` (sampling with
            replacement; for ``B`` of ``N`` examples without replacement pass
            ``Sigma * (N - B) / (N - 1)``).
        loss: ``L(θ)``.

    The 0.1.0 order ``(lr, G, H, Sigma, batch_size)`` (recognised by a matrix in the third
    place) still works and warns.

    Returns:
        float or array of the expected loss.

    Raises:
        ValueError: non-PSD ``H``/``Sigma``, mismatched shapes, ``lr < 0`` or ``batch_size ≤ 0``.

    Examples:
        >>> import numpy as np
        >>> float(expected_loss_after_step(2, 0.5, np.ones(2), np.eye(2), np.eye(2), loss=1.0))
        0.375

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.5)–(2.6).
    """
    if _ndim(G) == 2:  # old order (lr, G, H, Sigma, batch_size): a matrix sits where G belongs
        _deprecated_order("expected_loss_after_step", "lr, G, H, Sigma, batch_size", "batch_size, lr, G, H, Sigma")
        batch_size, lr, G, H, Sigma = Sigma, batch_size, lr, G, H
    inv = _invariants(G, H, Sigma)
    lr = positive_values("lr", lr, allow_zero=True)
    batch = positive_values("batch_size", batch_size)
    from .. import _validate as V

    loss = V.as_float("loss", loss)
    return compiled("mccandlish", "expected_loss")(loss, lr, inv["g2"], inv["gHg"], inv["trHS"], batch)


def eps_max(G, H) -> float:
    r"""Optimal step for the noiseless gradient, :math:`\epsilon_{max} = |G|^2/G^THG`.

    Args:
        G: gradient ``(d,)``.
        H: Hessian, symmetric PSD ``(d, d)`` with ``GᵀHG > 0``.

    Returns:
        ``ε_max`` (float).

    Raises:
        ValueError: non-PSD ``H``, shape mismatch, or ``GᵀHG = 0``.

    Examples:
        >>> import numpy as np
        >>> eps_max(np.array([1.0, 1.0]), np.diag([1.0, 3.0]))
        0.5

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.4).
    """
    inv = _invariants(G, H)
    _require_curvature(inv)
    return float(compiled("mccandlish", "eps_max")(inv["g2"], inv["gHg"]))


def delta_l_max(G, H) -> float:
    r"""Best one-step improvement with the true gradient, :math:`\Delta L_{max} = \tfrac12|G|^4/G^THG`.

    Args:
        G: gradient ``(d,)``.
        H: Hessian, symmetric PSD ``(d, d)`` with ``GᵀHG > 0``.

    Returns:
        ``ΔL_max`` (float).

    Raises:
        ValueError: as :func:`eps_max`.

    Examples:
        >>> import numpy as np
        >>> delta_l_max(np.array([1.0, 1.0]), np.diag([1.0, 3.0]))
        0.5

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.7).
    """
    inv = _invariants(G, H)
    _require_curvature(inv)
    return float(compiled("mccandlish", "delta_l_max")(inv["g2"], inv["gHg"]))


def b_noise(G, H, Sigma) -> float:
    r"""Gradient noise scale :math:`B_{noise} = \mathrm{tr}(H\Sigma)/G^THG`.

    Args:
        G: gradient ``(d,)`` with ``GᵀHG > 0``.
        H: Hessian, symmetric PSD ``(d, d)``.
        Sigma: per-example gradient covariance, symmetric PSD ``(d, d)``.

    The 0.1.0 order ``(H, Sigma, G)`` (a matrix first) still works and warns.

    Returns:
        ``B_noise`` (float, in examples).

    Raises:
        ValueError: non-PSD ``H`` or ``Sigma``, shape mismatch, or ``GᵀHG = 0``.
        TypeError: a missing (``None``) ``Sigma`` or a non-numeric argument.

    Examples:
        >>> import numpy as np
        >>> b_noise(np.array([1.0, 1.0]), np.eye(2), 4.0 * np.eye(2))
        4.0

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.8).
    """
    if _ndim(G) == 2:  # old order (H, Sigma, G)
        _deprecated_order("b_noise", "H, Sigma, G", "G, H, Sigma")
        G, H, Sigma = Sigma, G, H
    if Sigma is None:
        raise TypeError("Sigma is required: the per-example gradient covariance, a symmetric PSD (d, d) matrix")
    inv = _invariants(G, H, Sigma)
    _require_curvature(inv)
    return float(compiled("mccandlish", "b_noise")(inv["trHS"], inv["gHg"]))


def b_simple(G, Sigma) -> float:
    r"""Simple noise scale :math:`B_{simple} = \mathrm{tr}\Sigma/|G|^2` (equals ``B_noise`` when ``H ∝ I``).

    Args:
        G: gradient ``(d,)``, not zero.
        Sigma: per-example gradient covariance, symmetric PSD ``(d, d)``.

    The 0.1.0 order ``(Sigma, G)`` (a matrix first) still works and warns.

    Returns:
        ``B_simple`` (float).

    Raises:
        ValueError: non-PSD ``Sigma``, shape mismatch, or ``G = 0``.

    Examples:
        >>> import numpy as np
        >>> b_simple(np.array([1.0, 1.0]), 4.0 * np.eye(2))
        4.0

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.9).
    """
    if _ndim(G) == 2:  # old order (Sigma, G)
        _deprecated_order("b_simple", "Sigma, G", "G, Sigma")
        G, Sigma = Sigma, G
    g = vector("G", G)
    sig = psd_matrix("Sigma", Sigma, g.size)
    g2 = float(g @ g)
    if not g2 > 0:
        raise ValueError("G must be non-zero: B_simple = tr(Sigma)/|G|^2 is infinite at a stationary point")
    return float(compiled("mccandlish", "b_simple")(float(np.trace(sig)), g2))


def eps_opt(batch_size, eps_max, b_noise):
    r"""Optimal step at batch size ``B``: :math:`\epsilon_{opt}(B) = \epsilon_{max}/(1 + B_{noise}/B)`.

    ``ε_opt ≈ ε_max·B/B_noise`` for ``B ≪ B_noise`` (linear scaling) and ``→ ε_max`` for
    ``B ≫ B_noise``; a step larger than ``2ε_opt`` increases the expected loss.

    Args:
        batch_size: ``B > 0`` (scalar or array).
        eps_max: ``ε_max > 0`` (see :func:`eps_max`).
        b_noise: ``B_noise ≥ 0`` (see :func:`b_noise`).

    Returns:
        float or array.

    Raises:
        ValueError: if ``batch_size ≤ 0``, ``eps_max ≤ 0`` or ``b_noise < 0``.

    Examples:
        >>> eps_opt(10.0, eps_max=1.0, b_noise=10.0)
        0.5

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.6).
    """
    B = positive_values("batch_size", batch_size)
    em = positive_values("eps_max", eps_max)
    bn = positive_values("b_noise", b_noise, allow_zero=True)
    broadcast(batch_size=B, eps_max=em, b_noise=bn)
    return compiled("mccandlish", "eps_opt_reduced")(B, em, bn)


def delta_l_opt(batch_size, delta_l_max, b_noise):
    r"""Best expected one-step improvement at batch ``B``: :math:`\Delta L_{max}/(1 + B_{noise}/B)`.

    Args:
        batch_size: ``B > 0`` (scalar or array).
        delta_l_max: ``ΔL_max > 0`` (see :func:`delta_l_max`).
        b_noise: ``B_noise ≥ 0``.

    Returns:
        float or array.

    Raises:
        ValueError: if ``batch_size ≤ 0``, ``delta_l_max ≤ 0`` or ``b_noise < 0``.

    Examples:
        >>> delta_l_opt(30.0, delta_l_max=2.0, b_noise=10.0)
        1.5

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.7).
    """
    B = positive_values("batch_size", batch_size)
    dl = positive_values("delta_l_max", delta_l_max)
    bn = positive_values("b_noise", b_noise, allow_zero=True)
    broadcast(batch_size=B, delta_l_max=dl, b_noise=bn)
    return compiled("mccandlish", "delta_l_opt_reduced")(B, dl, bn)


def steps_and_examples(batch_size, s_min, b_noise):
    r"""Steps and examples to reach a target: :math:`S = S_{min}(1+B_{noise}/B)`, :math:`E = S\,B`.

    Along this front :math:`(S/S_{min}-1)(E/E_{min}-1) = 1` with :math:`E_{min} = S_{min}B_{noise}`,
    and the critical batch :math:`B_{crit} = E_{min}/S_{min}` equals ``B_noise``.

    Args:
        batch_size: ``B > 0`` (scalar or array).
        s_min: steps needed with infinite batch, ``> 0``.
        b_noise: ``B_noise > 0``.

    Returns:
        ``(S, E)``.

    Raises:
        ValueError: if an argument is not positive.

    Examples:
        >>> steps_and_examples(100.0, s_min=1000.0, b_noise=100.0)
        (2000.0, 200000.0)

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.11)–(2.12).
    """
    B = positive_values("batch_size", batch_size)
    s = positive_values("s_min", s_min)
    bn = positive_values("b_noise", b_noise)
    broadcast(batch_size=B, s_min=s, b_noise=bn)
    return compiled("mccandlish", "steps")(B, s, bn), compiled("mccandlish", "examples")(B, s, bn)


def two_batch_estimators(sqnorm_small, sqnorm_big, b_small, b_big):
    r"""Unbiased estimates of :math:`|G|^2` and :math:`\mathrm{tr}\Sigma` from two batch sizes.

    From :math:`\mathbb E|G_B|^2 = |G|^2 + \mathrm{tr}\Sigma/B` (with replacement):

    .. math::
        |G|^2 \approx \frac{B_{big}|G_{big}|^2 - B_{small}|G_{small}|^2}{B_{big}-B_{small}},\qquad
        \mathrm{tr}\Sigma \approx \frac{|G_{small}|^2 - |G_{big}|^2}{1/B_{small} - 1/B_{big}}.

    Average the two estimates over many steps and take the ratio of the averages for
    ``B_simple`` (the ratio of single estimates is biased).

    Args:
        sqnorm_small: ``|G_small|²`` (scalar or array of repeats).
        sqnorm_big: ``|G_big|²`` (same shape).
        b_small: the small batch size ``> 0``.
        b_big: the big batch size ``> b_small``.

    Returns:
        ``(g2_estimate, tr_sigma_estimate)``.

    Raises:
        ValueError: if ``b_small ≤ 0`` or ``b_big ≤ b_small`` or a norm is negative.

    Examples:
        >>> two_batch_estimators(1.0 + 100 / 8, 1.0 + 100 / 128, 8, 128)
        (1.0, 100.0)

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", Appendix A.1.
    """
    small = positive_values("sqnorm_small", sqnorm_small, allow_zero=True)
    big = positive_values("sqnorm_big", sqnorm_big, allow_zero=True)
    bs = positive_values("b_small", b_small)
    bb = positive_values("b_big", b_big)
    broadcast(sqnorm_small=small, sqnorm_big=big, b_small=bs, b_big=bb)
    if np.any(np.asarray(bb) <= np.asarray(bs)):
        raise ValueError(f"b_big must be > b_small, got b_small={b_small!r}, b_big={b_big!r}")
    g2 = compiled("mccandlish", "g2_two_batch")(small, big, bs, bb)
    tr = compiled("mccandlish", "trS_two_batch")(small, big, bs, bb)
    return (float(g2), float(tr)) if np.ndim(g2) == 0 else (g2, tr)


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    s = e["symbols"]
    eps, B = s["eps"], s["B"]
    loss = e["expected_loss"]
    out = []
    # the expansion itself: for a quadratic L(θ) = L + Gᵀu + ½uᵀHu around θ (u the step),
    # E[L(θ - εG_est)] with E G_est = G, Cov G_est = Σ/B; d = 2, generic symbols.
    g1, g2_, h11, h12, h22, s11, s12, s22 = sp.symbols("g1 g2 h11 h12 h22 s11 s12 s22", real=True)
    G = sp.Matrix([g1, g2_])
    H = sp.Matrix([[h11, h12], [h12, h22]])
    S = sp.Matrix([[s11, s12], [s12, s22]])
    # Taylor: L(θ - εG_est) = L - εGᵀG_est + ½ε² G_estᵀ H G_est; take E with E G_est = G and
    # E G_est G_estᵀ = GGᵀ + Σ/B (so E[xᵀHx] = tr(H E xxᵀ), Lemma 2 of the fine-tuned-noise seed)
    second_moment = G * G.T + S / B
    direct = s["loss"] - eps * (G.T * G)[0] + eps**2 / 2 * (H * second_moment).trace()
    subs = {s["g2"]: (G.T * G)[0], s["gHg"]: (G.T * H * G)[0], s["trHS"]: (H * S).trace()}
    out.append(identity("mccandlish.expected_loss", loss.subs(subs), direct,
                        "E L(θ-εG_est) = L - ε|G|² + ½ε²(GᵀHG + tr(HΣ)/B), d = 2 generic", _SOURCE))
    (eps_star,) = sp.solve(sp.diff(loss, eps), eps)
    em, bn = e["eps_max"], e["b_noise"]
    red = {s["eps_max_"]: em, s["b_noise_"]: bn, s["delta_l_max_"]: e["delta_l_max"]}
    out.append(identity("mccandlish.eps_opt", eps_star, e["eps_opt_reduced"].subs(red),
                        "argmin_ε E L = ε_max/(1 + B_noise/B)", _SOURCE))
    out.append(identity("mccandlish.eps_max", eps_star.subs(s["trHS"], 0), em,
                        "noiseless optimum ε_max = |G|²/GᵀHG", _SOURCE))
    out.append(identity("mccandlish.delta_l_opt", s["loss"] - loss.subs(eps, eps_star),
                        e["delta_l_opt_reduced"].subs(red), "L - min_ε E L = ΔL_max/(1 + B_noise/B)", _SOURCE))
    out.append(identity("mccandlish.delta_l_max", s["loss"] - loss.subs({s["trHS"]: 0, eps: em}), e["delta_l_max"],
                        "ΔL_max = ½|G|⁴/GᵀHG", _SOURCE))
    eo = e["eps_opt_reduced"]
    small = sp.limit(eo / (s["eps_max_"] * B / s["b_noise_"]), B, 0)
    large = sp.limit(eo, B, sp.oo)
    out.append(exact("mccandlish.limits", small == 1 and large == s["eps_max_"],
                     f"B ≪ B_noise: ε_opt/(ε_max B/B_noise) → {small}; B ≫ B_noise: ε_opt → {large}", _SOURCE))
    u = sp.Symbol("u", positive=True)
    increase = sp.factor(sp.simplify(loss.subs(eps, 2 * eps_star * (1 + u)) - s["loss"]))
    at_two = sp.simplify(loss.subs(eps, 2 * eps_star) - s["loss"])
    out.append(exact("mccandlish.two_eps_opt", at_two == 0 and increase.is_positive is True,
                     f"E L - L = 0 at ε = 2ε_opt and = {increase} > 0 at ε = 2ε_opt(1+u)", _SOURCE))
    S_, E_ = e["steps"], e["examples"]
    Emin = s["S_min"] * s["b_noise_"]
    out.append(identity("mccandlish.pareto_front", (S_ / s["S_min"] - 1) * (E_ / Emin - 1), 1,
                        "(S/S_min - 1)(E/E_min - 1) = 1 with E = S·B, E_min = S_min B_noise", _SOURCE))
    out.append(identity("mccandlish.examples_form", E_, Emin * (1 + B / s["b_noise_"]),
                        "E = E_min (1 + B/B_noise); B_crit = E_min/S_min = B_noise", _SOURCE))
    # E|G_B|² = |G|² + tr Σ/B (with replacement), |G|² + (N-B)/(B(N-1)) tr Σ (without), Σ the
    # per-example covariance normalised by 1/N: checked by exhaustive enumeration of every batch of
    # a small integer population in exact rationals (not by restating the premise).
    out.append(exact("mccandlish.batch_gradient_norm", *_batch_gradient_norm_enumerated(), _SOURCE))
    # two-batch estimators are unbiased: substitute E|G_B|² = |G|² + trΣ/B
    Eb = {s["sq_small"]: s["g2"] + s["trS"] / s["B_small"], s["sq_big"]: s["g2"] + s["trS"] / s["B_big"]}
    ok = (sp.simplify(e["g2_two_batch"].subs(Eb) - s["g2"]) == 0
          and sp.simplify(e["trS_two_batch"].subs(Eb) - s["trS"]) == 0)
    out.append(exact("mccandlish.two_batch_unbiased", ok,
                     "E of the two-batch estimators = |G|² and tr Σ given E|G_B|² = |G|² + tr Σ/B", _SOURCE))
    return out


def _batch_gradient_norm_enumerated() -> tuple[bool, str]:
    """Exact ``E|G_B|²`` over every batch (ordered B-tuples with replacement, B-subsets without) of
    N = 5 integer per-example gradients in d = 2, against the two closed forms, in Fractions."""
    import itertools
    from fractions import Fraction

    g = [(3, -1), (0, 2), (-2, 5), (4, 4), (1, -3)]
    n = len(g)
    mean = [Fraction(sum(x[i] for x in g), n) for i in range(2)]
    g2 = sum(m * m for m in mean)
    tr = sum((x[i] - mean[i]) ** 2 for x in g for i in range(2)) / n

    def expected_sq_norm(batches, b):
        total = Fraction(0)
        count = 0
        for idx in batches:
            gb = [Fraction(sum(g[j][i] for j in idx), b) for i in range(2)]
            total += sum(v * v for v in gb)
            count += 1
        return total / count

    bad = []
    for b in (1, 2, 3):
        got = expected_sq_norm(itertools.product(range(n), repeat=b), b)
        if got != g2 + tr / b:
            bad.append(f"with replacement, B={b}: {got} != {g2 + tr / b}")
    for b in (1, 2, 3, 5):
        got = expected_sq_norm(itertools.combinations(range(n), b), b)
        want = g2 + Fraction(n - b, b * (n - 1)) * tr
        if got != want:
            bad.append(f"without replacement, B={b}: {got} != {want}")
    ok = not bad
    detail = ("E|G_B|² = |G|² + tr Σ/B (replacement, B = 1..3) and |G|² + (N−B)/(B(N−1)) tr Σ (without, "
              "B = 1, 2, 3, N): exact enumeration of every batch, N = 5, d = 2") if ok else "; ".join(bad)
    return ok, detail
