r"""The temperature view of SGD: Gibbs stationarity, noise scale, momentum, Adam and the scaling rules.

- **Fokker–Planck.** :math:`p\propto e^{-L/T}` is stationary for
  :math:`d\theta = -\nabla L\,dt + \sqrt{2T}\,dW` (zero probability flux). Isotropic SGD noise
  :math:`\xi\sim N(0,\sigma^2 I/B)` with time ``t = kη`` has :math:`T = \eta\sigma^2/(2B)`.
- **Anisotropic noise.** For :math:`d\theta = -H\theta\,dt + \sqrt{2D}\,dW` the stationary law is
  :math:`N(0,S)` with :math:`HS + SH = 2D`; its probability current :math:`J = (DS^{-1} - H)\theta\,p`
  vanishes iff :math:`HD = DH`, and the law is Gibbs in ``L`` iff :math:`D = T\,I` (Chaudhari &
  Soatto 2018).
- **Noise scale (Smith & Le 2018).** Library convention: the *mean* loss
  :math:`L = \frac1N\sum_i\ell_i` and updates :math:`\theta \leftarrow \theta - \epsilon\hat g_B`.
  Smith & Le write the *sum* loss :math:`C = NL` with :math:`\Delta\omega = -(\epsilon/N)\,d\hat C/d\omega`
  (the same ``ε``) and find :math:`g = \epsilon(N/B - 1)`, with momentum ``m``
  :math:`g = \frac{\epsilon}{1-m}(N/B-1) \approx \epsilon N/(B(1-m))`. The Gibbs temperature of
  the mean loss is :math:`g/(2N)` per unit of per-example gradient variance.
- **McAllester.** :math:`\eta = B\eta_0` (no momentum) and :math:`\eta = (1-\mu)B\eta_0` (PyTorch
  momentum) give :math:`g = \eta_0(N-B)` exactly; EMA momentum gives each gradient total weight 1;
  Adam's bias correction keeps the weights summing to 1.
- **Hoffer et al. 2017.** :math:`\mathrm{cov}(\Delta w) = \frac{\eta^2}{M}(1-\frac MN)\,C`, kept fixed
  by :math:`\eta\propto\sqrt M`; the linear rule :math:`\eta\propto M` keeps the temperature
  :math:`\eta/M` (the SDE) fixed instead.

References:
    Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent".
    Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size".
    McAllester 2023, TTIC 31230 "SGD: temperature, batch size, momentum and Adam" (seed 05).
    Hoffer, Hubara & Soudry 2017, "Train longer, generalize better".
    Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference".
    Jastrzębski et al. 2017, "Three Factors Influencing Minima in SGD".
    Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour".
"""

from __future__ import annotations

import functools

import numpy as np

from ._check import Check, exact, identity
from ._numeric import broadcast, compiled, integer_values, positive_values, psd_matrix

__all__ = ["temperature", "isotropic_temperature", "probability_current", "scaled_lr"]

_ARGS = {
    "smith_le": ("eps", "B", "N", "m"),
    "isotropic_T": ("eps", "B", "sigma2"),
}


@functools.cache
def _symbolic() -> dict:
    import sympy as sp

    eps, B, N, sigma2, T = sp.symbols("eps B N sigma2 T", positive=True)
    m = sp.Symbol("m", nonnegative=True)
    # Smith & Le 2018 §4: per-step update variance (ε/N)² · N(N/B - 1) F equals g·(ε/N) F,
    # the variance of ∫η dt over a step of length ε/N; momentum divides the step by (1 - m).
    g = sp.Symbol("g", positive=True)
    (g_sl,) = sp.solve(sp.Eq((eps / N) ** 2 * N * (N / B - 1), g * eps / N), g)
    smith_le = g_sl / (1 - m)
    # isotropic noise: per-step covariance ε² σ²/B equals 2T·dt with dt = ε
    (t_iso,) = sp.solve(sp.Eq(eps**2 * sigma2 / B, 2 * T * eps), T)
    symbols = {"eps": eps, "B": B, "N": N, "m": m, "sigma2": sigma2, "T": T}
    return {"symbols": symbols, "smith_le": smith_le, "isotropic_T": t_iso}


def temperature(lr, batch_size, n_examples, momentum: float = 0.0):
    r"""Smith & Le's SGD noise scale :math:`g = \frac{\epsilon}{1-m}\big(\frac NB - 1\big)`.

    Convention: ``lr`` multiplies the *mean* minibatch gradient (equivalently Smith & Le's
    :math:`\Delta\omega = -(\epsilon/N)\,d\hat C/d\omega` for the summed loss ``C``), and ``g`` is the
    temperature of the summed loss: the stationary density is :math:`\propto e^{-2C/g}
    = e^{-L/(g/2N)}` when the per-example gradient covariance is the identity. Keeping ``g`` fixed
    is the linear scaling rule; ``g ≈ εN/(B(1-m))`` for ``B ≪ N``.

    Args:
        lr: ``ε > 0`` (scalar or array).
        batch_size: ``1 ≤ B ≤ N`` (scalar or array).
        n_examples: ``N ≥ 1``.
        momentum: heavy-ball coefficient ``0 ≤ m < 1``.

    Returns:
        ``g`` (float or array); 0 when ``B = N`` (full batch).

    Raises:
        ValueError: ``lr ≤ 0``, ``batch_size`` outside ``[1, N]``, ``n_examples < 1`` or
            ``momentum`` outside ``[0, 1)``.

    Examples:
        >>> temperature(0.1, 10, 1000)
        9.9
        >>> round(temperature(0.1, 10, 1000, momentum=0.9), 10)
        99.0

    References:
        Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient
        Descent", Section 4, eq. (8) and (11); Smith et al. 2018, "Don't Decay the Learning
        Rate, Increase the Batch Size", eq. (2)–(3).
    """
    eps = positive_values("lr", lr)
    B = integer_values("batch_size", batch_size)
    N = integer_values("n_examples", n_examples)
    broadcast(lr=eps, batch_size=B, n_examples=N)
    if np.any(np.asarray(B) < 1) or np.any(np.asarray(B) > N):
        raise ValueError(f"batch_size must lie in [1, n_examples={n_examples!r}], got batch_size={batch_size!r}")
    from .. import _validate as V

    m = V.as_float("momentum", momentum)
    if not 0 <= m < 1:
        raise ValueError(f"momentum must lie in [0, 1), got momentum={m}")
    return compiled("gibbs", "smith_le")(eps, B, N, m)


def isotropic_temperature(lr, batch_size, variance):
    r"""Gibbs temperature :math:`T = \epsilon\sigma^2/(2B)` of SGD with isotropic noise ``σ² I``.

    The SDE :math:`d\theta = -\nabla L\,dt + \sqrt{2T}\,dW` (time ``t = kε``) has the Gibbs law
    :math:`p\propto e^{-L/T}`.

    Args:
        lr: ``ε > 0``.
        batch_size: ``B > 0``.
        variance: per-example gradient variance per coordinate ``σ² ≥ 0``.

    Returns:
        ``T`` (float or array).

    Raises:
        ValueError: ``lr ≤ 0``, ``batch_size ≤ 0`` or ``variance < 0``.

    Examples:
        >>> isotropic_temperature(0.1, 5, 2.0)
        0.02

    References:
        Jastrzębski et al. 2017, "Three Factors Influencing Minima in SGD", eq. (7);
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference".
    """
    eps = positive_values("lr", lr)
    B = positive_values("batch_size", batch_size)
    s2 = positive_values("variance", variance, allow_zero=True)
    broadcast(lr=eps, batch_size=B, variance=s2)
    return compiled("gibbs", "isotropic_T")(eps, B, s2)


def probability_current(H, D) -> np.ndarray:
    r"""Matrix ``Q`` of the stationary probability current :math:`J(\theta) = Q\theta\,p(\theta)`.

    For :math:`d\theta = -H\theta\,dt + \sqrt{2D}\,dW` with stationary :math:`N(0,S)`,
    :math:`HS + SH = 2D`: :math:`Q = DS^{-1} - H`. ``Q = 0`` (detailed balance) iff ``HD = DH``;
    the law is the Gibbs law of :math:`\tfrac12\theta^TH\theta` iff ``D = T·I``.

    Args:
        H: symmetric positive definite ``(d, d)``.
        D: diffusion matrix, symmetric positive definite ``(d, d)``.

    Returns:
        ``(d, d)`` float64 ``Q``.

    Raises:
        ValueError: non-PD ``H`` or ``D``, shape mismatch.

    Examples:
        >>> import numpy as np
        >>> np.allclose(probability_current(np.diag([1.0, 3.0]), np.diag([0.5, 2.0])), 0)
        True
        >>> bool(np.abs(probability_current(np.diag([1.0, 3.0]), np.array([[1.0, 0.3], [0.3, 1.0]]))).max() > 0.1)
        True

    References:
        Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
        converges to limit cycles for deep networks", Section 5 (non-equilibrium, J ≠ 0).
    """
    from .lyapunov import _eig_pd

    lam, U = _eig_pd(H)
    d = psd_matrix("D", D, lam.size)
    if not np.linalg.eigvalsh(d)[0] > 0:
        raise ValueError("D must be positive definite for a non-degenerate stationary law")
    d_eig = U.T @ d @ U
    st = 2 * d_eig / (lam[:, None] + lam[None, :])  # HS + SH = 2D in the eigenbasis
    S = U @ st @ U.T
    return d @ np.linalg.inv(0.5 * (S + S.T)) - U @ np.diag(lam) @ U.T


def scaled_lr(lr0, batch0, batch, rule: str = "linear"):
    r"""Learning rate at batch ``B`` from ``(η₀, B₀)`` by the linear or the square-root rule.

    - ``"linear"`` (Goyal et al. 2017; Smith & Le 2018): :math:`\eta = \eta_0 B/B_0` keeps the
      temperature :math:`\eta/B` (the SDE and its stationary law) fixed.
    - ``"sqrt"`` (Hoffer et al. 2017): :math:`\eta = \eta_0\sqrt{B/B_0}` keeps the per-step update
      covariance :math:`\eta^2/B\cdot C` fixed (up to :math:`1-B/N`), so the temperature falls
      as :math:`1/\sqrt B`.

    Args:
        lr0: reference rate ``> 0``.
        batch0: reference batch ``> 0``.
        batch: new batch ``> 0`` (scalar or array).
        rule: ``"linear"`` or ``"sqrt"``.

    Returns:
        the new rate (float or array).

    Raises:
        ValueError: a non-positive argument or an unknown ``rule``.

    Examples:
        >>> scaled_lr(0.1, 256, 1024), scaled_lr(0.1, 256, 1024, rule="sqrt")
        (0.4, 0.2)

    References:
        Goyal et al. 2017, "Accurate, Large Minibatch SGD"; Hoffer, Hubara & Soudry 2017,
        "Train longer, generalize better", eq. (4)–(5).
    """
    lr0 = positive_values("lr0", lr0)
    b0 = integer_values("batch0", batch0)
    b = integer_values("batch", batch)
    broadcast(lr0=lr0, batch0=b0, batch=b)
    if rule == "linear":
        return lr0 * b / b0
    if rule == "sqrt":
        out = lr0 * np.sqrt(b / b0)
        return float(out) if np.ndim(out) == 0 else out
    raise ValueError(f"rule must be 'linear' or 'sqrt', got rule={rule!r}")


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------


def _convergent_branch(expr):
    """The ``|ratio| < 1`` branch of the ``Piecewise`` SymPy returns for a geometric series."""
    import sympy as sp

    return expr.args[0][0] if isinstance(expr, sp.Piecewise) else expr


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    s = e["symbols"]
    eps, B, N, m, T = s["eps"], s["B"], s["N"], s["m"], s["T"]
    out = []
    # Fokker–Planck, general 1-D L: the flux J = -L'p - T p' vanishes for p = exp(-L/T)
    x = sp.Symbol("x", real=True)
    L = sp.Function("L")(x)
    p = sp.exp(-L / T)
    flux = -sp.diff(L, x) * p - T * sp.diff(p, x)
    out.append(identity("gibbs.fokker_planck_1d", flux, 0,
                        "p ∝ exp(-L/T): flux -L'p - Tp' = 0 for a general L(x)", "Jastrzębski et al. 2017"))
    # d-D quadratic (d = 3, symbolic symmetric H): ∇·[(Hθ)p + T∇p] = 0
    th = sp.symbols("x1:4", real=True)
    H = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"h{min(i, j)}{max(i, j)}", real=True))
    v = sp.Matrix(th)
    Lq = (v.T * H * v)[0] / 2
    pq = sp.exp(-Lq / T)
    div = sum(sp.diff(sp.diff(Lq, th[i]) * pq + T * sp.diff(pq, th[i]), th[i]) for i in range(3))
    out.append(identity("gibbs.fokker_planck_quadratic", div / pq, 0,
                        "∇·[(Hθ)p + T∇p] = 0 for p ∝ exp(-θᵀHθ/2T), 3x3 symbolic H", "Jastrzębski et al. 2017"))
    out.append(identity("gibbs.isotropic", e["isotropic_T"], eps * s["sigma2"] / (2 * B),
                        "per-step ε²σ²/B = 2T·ε ⇒ T = εσ²/(2B)", "Jastrzębski et al. 2017"))
    # probability current of a 2-D OU process in H's eigenbasis: Q = D S⁻¹ - H
    h1, h2, d1, d2 = sp.symbols("h1 h2 d1 d2", positive=True)
    c = sp.Symbol("c", real=True)
    Hd = sp.diag(h1, h2)
    Dm = sp.Matrix([[d1, c], [c, d2]])
    S = sp.Matrix(2, 2, lambda i, j: 2 * Dm[i, j] / (Hd[i, i] + Hd[j, j]))
    lyap_ok = sp.simplify(Hd * S + S * Hd - 2 * Dm) == sp.zeros(2, 2)
    Q = sp.simplify(Dm * S.inv() - Hd)
    comm = sp.simplify(Hd * Dm - Dm * Hd)  # = c (h2 - h1) off the diagonal
    # every entry of Q is a multiple of c (h1 - h2): Q = 0 exactly when HD = DH
    factor_ok = all(sp.simplify(q.subs(c, 0)) == 0 and sp.simplify(q.subs(h2, h1)) == 0 for q in Q)
    nonzero = Q.subs({h1: 1, h2: 3, d1: 1, d2: 1, c: sp.Rational(3, 10)}) != sp.zeros(2, 2)
    comm_ok = sp.simplify(comm[0, 1] - c * (h1 - h2)) == 0
    out.append(exact("gibbs.probability_current", lyap_ok and factor_ok and nonzero and comm_ok,
                     f"2-D OU: J = (DS⁻¹ - H)θp, Q[0,1] = {sp.factor(Q[0, 1])}; Q = 0 iff c(h1-h2) = 0 iff HD = DH",
                     "Chaudhari & Soatto 2018"))
    # Gibbs in L iff S = T H⁻¹ iff D = T I (HS + SH = 2D)
    St = T * Hd.inv()
    out.append(exact("gibbs.gibbs_iff_isotropic", sp.simplify((Hd * St + St * Hd) / 2 - T * sp.eye(2)) == sp.zeros(2, 2),
                     "S = T H⁻¹ (Gibbs) solves HS + SH = 2D iff D = T·I; a commuting D = diag(d_i) has zero "
                     "current but S = diag(d_i/h_i): per-direction temperatures d_i, Gibbs only if all equal",
                     "Chaudhari & Soatto 2018"))
    # Smith & Le
    out.append(identity("gibbs.smith_le", e["smith_le"].subs(m, 0), eps * (N / B - 1),
                        "sum-loss convention: g = ε(N/B - 1)", "Smith & Le 2018"))
    k = sp.Symbol("k", integer=True, nonnegative=True)
    geo = _convergent_branch(sp.summation(m**k, (k, 0, sp.oo)))
    out.append(identity("gibbs.momentum", e["smith_le"], eps * geo * (N / B - 1),
                        "heavy ball: a gradient moves θ by ε Σ m^k = ε/(1-m) ⇒ g = ε(N/B - 1)/(1-m) ≈ εN/(B(1-m))",
                        "Smith & Le 2018"))
    eta0, mu = sp.symbols("eta0 mu", positive=True)
    out.append(identity("gibbs.mcallester_pytorch_momentum",
                        e["smith_le"].subs({eps: (1 - mu) * B * eta0, m: mu}), eta0 * (N - B),
                        "η = (1-μ)Bη₀ with PyTorch momentum μ ⇒ g = η₀(N - B) exactly (B-independent for B ≪ N)",
                        "McAllester 2023 (seed 05)"))
    out.append(identity("gibbs.mcallester_linear", e["smith_le"].subs({eps: B * eta0, m: 0}), eta0 * (N - B),
                        "η = Bη₀ (Goyal et al.) ⇒ g = η₀(N - B)", "McAllester 2023 (seed 05)"))
    beta = sp.Symbol("beta", positive=True)
    ema_total = (1 - beta) * _convergent_branch(sp.summation(beta**k, (k, 0, sp.oo)))
    out.append(identity("gibbs.ema_momentum_weight", ema_total, 1,
                        "EMA momentum: (1-β) Σ β^i = 1 ⇒ each gradient has influence η, independent of β = 1 - 1/N",
                        "McAllester 2023 (seed 05)"))
    # Adam bias correction: m̂_t = m_t/(1-β^t) puts weights (1-β)β^{t-s}/(1-β^t) on x_1..x_t, summing to 1
    t_, s_ = sp.symbols("t s", integer=True, positive=True)
    w = sp.summation((1 - beta) * beta ** (t_ - s_), (s_, 1, t_)) / (1 - beta**t_)
    out.append(identity("gibbs.adam_bias_correction", w, 1,
                        "Adam: Σ_s (1-β)β^{t-s}/(1-β^t) = 1 for every t (no bias toward 0)", "Kingma & Ba 2015"))
    from fractions import Fraction

    ok = True
    for n_win in (3, 10):
        weights = [Fraction(0)] * 25
        for t_i in range(1, 26):
            a = Fraction(1, min(n_win, t_i))
            weights = [(1 - a) * wv for wv in weights]
            weights[t_i - 1] += a
            ok &= sum(weights) == 1 and (t_i > n_win or all(wv == Fraction(1, t_i) for wv in weights[:t_i]))
    out.append(exact("gibbs.seed_min_n_t_average", ok,
                     "seed's EMA with 1/min(N, t): exact average for t ≤ N, weights sum to 1 always (Fractions)",
                     "McAllester 2023 (seed 05)"))
    # seed reparameterisation: a window of N_g⁰/B steps keeps N_g⁰ examples; the seed writes min(1, ·)
    Ng0 = sp.Symbol("N_g0", positive=True)
    out.append(identity("gibbs.adam_window_in_examples", (Ng0 / B) * B, Ng0,
                        "N_g = N_g⁰/B steps × B examples/step = N_g⁰ examples (the clamp must be max(1, ·); "
                        "the seed's min(1, ·) would cap the window at one step)", "McAllester 2023 (seed 05)"))
    # Adam's ε: E ĝ² = |G|² + σ²/B for the batch mean, = B²|G|² + Bσ² for the batch sum
    g0, sig = sp.symbols("G sigma", positive=True)
    mean_rms = sp.sqrt(g0**2 + sig**2 / B)
    sum_rms = sp.sqrt(B**2 * g0**2 + B * sig**2)
    ok = sp.limit(mean_rms.subs(g0, 0) * sp.sqrt(B), B, sp.oo) == sig and sp.simplify(sum_rms.subs(g0, 0) / sp.sqrt(B)) == sig
    out.append(exact("gibbs.adam_epsilon_scaling", ok,
                     "noise-dominated √E ĝ² ∝ B^(-1/2) for a batch mean, ∝ B^(1/2) for a batch sum: the seed's "
                     "ε = ε₀√B matches a summed ĝ, not the mean ĝ the lecture defines", "McAllester 2023 (seed 05)"))
    # Hoffer: exact without-replacement covariance vs (η²/M)(1 - M/N) C
    M, eta = sp.symbols("M eta", positive=True)
    exact_cov = eta**2 * (N - M) / (M * (N - 1))
    hoffer = eta**2 / M * (1 - M / N)
    out.append(identity("gibbs.hoffer_update_covariance", exact_cov / hoffer, N / (N - 1),
                        "exact (N-M)/(M(N-1)) η² Σ = (η²/M)(1-M/N)·N/(N-1) Σ: Hoffer's form up to N/(N-1)",
                        "Hoffer et al. 2017"))
    M0 = sp.Symbol("M0", positive=True)
    sqrt_keep = sp.simplify((eta * sp.sqrt(M / M0)) ** 2 / M - eta**2 / M0) == 0
    lin_keep = sp.simplify((eta * M / M0) / M - eta / M0) == 0
    lin_changes_cov = sp.simplify((eta * M / M0) ** 2 / M - eta**2 / M0) != 0
    sqrt_changes_T = sp.simplify((eta * sp.sqrt(M / M0)) / M - eta / M0) != 0
    out.append(exact("gibbs.linear_vs_sqrt_rule", sqrt_keep and lin_keep and lin_changes_cov and sqrt_changes_T,
                     "√ rule keeps η²/M (update covariance), linear rule keeps η/M (temperature); neither keeps both",
                     "Hoffer et al. 2017; Goyal et al. 2017"))
    return out
