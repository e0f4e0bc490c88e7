r"""Stationary covariance of SGD on a quadratic: discrete and continuous Lyapunov equations.

SGD on :math:`L = \tfrac12\theta^TH\theta` with gradient noise :math:`\xi\sim N(0, C/B)`,
:math:`\theta_{k+1} = \theta_k - \eta(H\theta_k + \xi_k)`, has the exact stationary covariance

.. math:: \Sigma = (I-\eta H)\Sigma(I-\eta H)^T + \tfrac{\eta^2}{B}C \qquad\text{(discrete)}

and its SDE :math:`d\theta = -H\theta\,dt + \sqrt{\eta C/B}\,dW` (time ``t = kη``) has

.. math:: H\Sigma + \Sigma H = \tfrac{\eta}{B}C \qquad\text{(continuous)}.

In the eigenbasis :math:`H = U\Lambda U^T`, :math:`\tilde C = U^TCU`, both are entrywise:
:math:`\tilde\Sigma_{ij} = \tfrac{\eta}{B}\tilde C_{ij}/(\lambda_i+\lambda_j-\eta\lambda_i\lambda_j)`
(discrete) and :math:`\tfrac{\eta}{B}\tilde C_{ij}/(\lambda_i+\lambda_j)` (continuous); their ratio
is :math:`1 + \eta\lambda_i\lambda_j/(\lambda_i+\lambda_j) + O(\eta^2)`, the discrete-time
correction (5.3% at ηλ = 0.1). With :math:`C = H` (Jastrzebski et al. 2017) the continuous
covariance is :math:`\tfrac{\eta}{2B}I` and :math:`\mathbb E[L-L^*] = \tfrac{\eta}{4B}\mathrm{tr}H`.
Mandt, Hoffman & Blei 2017's KL-optimal constant rate is
:math:`\epsilon^* = 2DS/(N\,\mathrm{tr}BB^T)`.

**State-dependent noise.** For a finite-sum landscape the noise covariance depends on θ: for
least squares, :math:`\ell_i = \tfrac12(x_i^T\theta - y_i)^2`, the per-example covariance at
:math:`\theta^* + \delta` averaged over a stationary law with covariance ``S`` is exactly

.. math:: \mathbb E\,C(\theta) = C(\theta^*) + M(S),\qquad
    M(S) = \frac1N\sum_i (x_i^TSx_i)\,x_ix_i^T - HSH = \mathbb E_\delta\,\mathrm{Cov}_i(x_ix_i^T\delta) \succeq 0

(terms linear in δ average out because the stationary mean is θ*), so the stationary
covariance is the fixed point ``S = Lyap(C(θ*) + M(S))`` (:func:`stationary_covariance` with a
callable ``C``, :func:`least_squares_noise_covariance`), exact for SGD on least squares with
Gaussian or with-replacement minibatch noise. Since ``M(S) ⪰ 0`` and ``M = O(ηc(B))`` relative
to ``C(θ*)``, the fixed point lies above the constant-``C(θ*)`` solution: the few-percent excess
that Fisher-shaped (state-dependent) noise shows in simulation is this term, not a sampling bias.

References:
    Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference".
    Jastrzębski et al. 2017, "Three Factors Influencing Minima in SGD".
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _validate as V
from ._check import Check, exact, identity
from ._numeric import compiled, flag, integer_values, positive_values, psd_matrix

__all__ = ["stationary_covariance", "least_squares_noise_covariance", "discrete_lyapunov", "mandt_optimal_lr"]

_SOURCE = "Mandt, Hoffman & Blei 2017"

_ARGS = {
    "entry_discrete": ("lam_i", "lam_j", "c", "lr", "B"),
    "entry_continuous": ("lam_i", "lam_j", "c", "lr", "B"),
    "mandt_lr": ("D", "S", "N", "trBB"),
}


@functools.cache
def _symbolic() -> dict:
    import sympy as sp

    li, lj, lr, B, D, S, N, trBB, eps = sp.symbols("lam_i lam_j lr B D S N trBB epsilon", positive=True)
    c, x = sp.symbols("c x", real=True)
    # one eigen-entry of Σ = (I-ηH)Σ(I-ηH) + η²C/B and of HΣ + ΣH = ηC/B
    (disc,) = sp.solve(sp.Eq(x, (1 - lr * li) * (1 - lr * lj) * x + lr**2 * c / B), x)
    (cont,) = sp.solve(sp.Eq((li + lj) * x, lr * c / B), x)
    # Mandt et al. 2017 Thm 1 / eq. (14): KL(q || posterior) as a function of ε, up to constants
    kl = sp.Rational(1, 2) * (N * eps * trBB / (2 * S) - D * sp.log(eps))
    (opt,) = sp.solve(sp.diff(kl, eps), eps)
    symbols = {"lam_i": li, "lam_j": lj, "c": c, "lr": lr, "B": B, "D": D, "S": S, "N": N, "trBB": trBB, "eps": eps}
    return {"symbols": symbols, "entry_discrete": disc, "entry_continuous": cont, "kl": kl, "mandt_lr": opt}


def _eig_pd(H):
    h = psd_matrix("H", H)
    lam, U = np.linalg.eigh(h)
    if not lam[0] > 0:
        raise ValueError(
            f"H must be positive definite for a stationary covariance (smallest eigenvalue {lam[0]:.3g}); "
            "along a flat direction the noise accumulates without bound"
        )
    return lam, U


def stationary_covariance(H, C, lr, batch_size, discrete: bool = True, *, tol: float = 1e-12,
                          max_iter: int = 10_000) -> np.ndarray:
    r"""Stationary covariance of SGD (``discrete=True``) or of its SDE on a quadratic.

    SGD :math:`\theta_{k+1} = \theta_k - \eta(H\theta_k + \xi_k)`, :math:`\xi_k \sim N(0, C/B)`:

    - discrete: :math:`\Sigma = (I-\eta H)\Sigma(I-\eta H)^T + \eta^2 C/B`;
    - continuous: :math:`H\Sigma + \Sigma H = (\eta/B)\,C`.

    With a state-dependent noise, pass ``C`` as a callable ``S -> E C(θ)`` (the noise covariance
    averaged over a law of covariance ``S`` around the minimum, e.g.
    :func:`least_squares_noise_covariance`); the result is then the fixed point
    ``Σ = Lyap(C(Σ))``, found by iterating from ``Lyap(C(0))`` until the relative change is
    below ``tol``.

    Args:
        H: Hessian, symmetric positive definite ``(d, d)``.
        C: per-example gradient-noise covariance, symmetric PSD ``(d, d)``, or a callable
            ``S -> (d, d)`` PSD matrix (state-dependent noise).
        lr: learning rate ``η > 0``; for ``discrete=True`` also ``η < 2/λ_max(H)``.
        batch_size: ``B > 0``, real: the noise enters as ``C/B``, so an effective batch size such as
            ``B(N−1)/(N−B)`` (sampling without replacement from ``N`` examples) is valid.
        discrete: exact discrete-time covariance (default) or the continuous-time one.
        tol, max_iter: fixed-point tolerance (relative, Frobenius) and iteration cap (callable
            ``C`` only).

    Returns:
        ``(d, d)`` float64 covariance.

    Raises:
        ValueError: non-PD ``H``, non-PSD ``C`` (or a callable returning one), shape mismatch,
            ``lr`` or ``batch_size`` not positive, ``lr ≥ 2/λ_max(H)`` (no stationary law) when
            ``discrete``, or a fixed point that does not converge within ``max_iter`` (the
            state-dependent noise grows faster than the drift contracts: no stationary law).
        TypeError: ``discrete`` not a ``bool``; ``batch_size`` not a real number.

    Examples:
        >>> import numpy as np
        >>> stationary_covariance(np.eye(1), np.eye(1), 0.1, 1, discrete=False)
        array([[0.05]])
        >>> np.round(stationary_covariance(np.eye(1), np.eye(1), 0.1, 1), 6)  # 0.1/(2 - 0.1)
        array([[0.052632]])
        >>> # state-dependent noise C(S) = 1 + S: S = 0.1(1 + S)/1.9 ⇒ S = 0.1/1.8
        >>> np.round(stationary_covariance(np.eye(1), lambda S: 1 + S, 0.1, 1), 6)
        array([[0.055556]])

    References:
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian
        Inference", eq. (8)–(9) and Appendix (discrete-time correction).
    """
    lr = V.positive("lr", lr)
    B = V.positive("batch_size", batch_size)
    discrete = flag("discrete", discrete)
    if callable(C):
        return _fixed_point(H, C, lr, batch_size, discrete, tol, max_iter)
    lam, U = _eig_pd(H)
    c = psd_matrix("C", C, lam.size)
    if discrete and not lr * lam[-1] < 2:
        raise ValueError(
            f"lr must be < 2/lambda_max(H) = {2 / lam[-1]:.6g} for SGD to have a stationary covariance, got lr={lr}"
        )
    ct = U.T @ c @ U
    entry = compiled("lyapunov", "entry_discrete" if discrete else "entry_continuous")
    sig_t = entry(lam[:, None], lam[None, :], ct, lr, B)
    out = U @ sig_t @ U.T
    return 0.5 * (out + out.T)


def _fixed_point(H, C_of, lr, batch_size, discrete, tol, max_iter):
    tol = positive_values("tol", tol)
    max_iter = V.positive_int("max_iter", max_iter)
    d = psd_matrix("H", H).shape[0]
    S = np.zeros((d, d))
    for _ in range(max_iter):
        with np.errstate(over="ignore", invalid="ignore"):
            c = np.asarray(C_of(S), np.float64)
        if not np.all(np.isfinite(c)):
            break  # the iteration blew up: no stationary law
        new = stationary_covariance(H, psd_matrix("C", c, d), lr, batch_size, discrete)
        with np.errstate(over="ignore", invalid="ignore"):
            change = np.linalg.norm(new - S) / max(np.linalg.norm(new), 1e-300)
        if not (np.all(np.isfinite(new)) and np.isfinite(change)):
            break
        S = new
        if change < tol:
            return S
    raise ValueError(
        f"C: the state-dependent fixed point did not converge in max_iter={max_iter} iterations "
        f"(lr={lr}, batch_size={batch_size}); the noise may grow faster than the drift contracts"
    )


def least_squares_noise_covariance(X, y, theta_star=None):
    r"""The state-dependent per-example gradient covariance of least squares, averaged over a law
    of covariance ``S`` around the minimum: ``S -> C(θ*) + M(S)`` (see the module docstring).

    For :math:`\ell_i = \tfrac12(x_i^T\theta - y_i)^2` (:class:`sgd_sde.landscapes.LinearRegression`)
    the per-example gradient is :math:`x_i r_i` with :math:`r_i = x_i^T\theta - y_i`, and

    .. math:: \mathbb E\,C = \frac1N\sum_i\big(r_i^{*2} + x_i^TSx_i\big)x_ix_i^T - HSH,
        \qquad H = X^TX/N,

    exact for any law with mean θ* and covariance ``S`` (cross terms are linear in δ).

    Args:
        X: design ``(N, d)``; y: targets ``(N,)``.
        theta_star: the minimum (default: least squares).

    Returns:
        callable ``S -> (d, d)`` for :func:`stationary_covariance`.

    Raises:
        ValueError: non-finite or mismatched ``X``, ``y``, ``theta_star``.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[1.0], [2.0]]); y = np.array([1.0, 1.0])
        >>> Cof = least_squares_noise_covariance(X, y)   # θ* = 0.6, r* = (-0.4, 0.2)
        >>> round(float(Cof(np.zeros((1, 1)))[0, 0]), 12), round(float(Cof(np.ones((1, 1)))[0, 0]), 12)
        (0.16, 2.41)

    References:
        Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent";
        Mandt, Hoffman & Blei 2017 (the constant-C limit).
    """
    from .. import _validate as V

    Xa = V.finite_array("X", X, ndim=2).astype(np.float64)
    ya = V.finite_array("y", y, ndim=1).astype(np.float64)
    if Xa.shape[0] != ya.shape[0] or Xa.shape[0] == 0:
        raise ValueError(f"X and y must have the same non-zero number of rows, got {Xa.shape[0]} and {ya.shape[0]}")
    th = np.linalg.lstsq(Xa, ya, rcond=None)[0] if theta_star is None else V.finite_array("theta_star", theta_star, ndim=1)
    if th.shape != (Xa.shape[1],):
        raise ValueError(f"theta_star must have shape ({Xa.shape[1]},), got {th.shape}")
    n = Xa.shape[0]
    r = Xa @ th - ya
    g = Xa * r[:, None]
    gbar = g.mean(axis=0)
    c_star = g.T @ g / n - np.outer(gbar, gbar)
    H = Xa.T @ Xa / n

    def cov(S):
        S = np.asarray(S, np.float64)
        q = np.einsum("id,de,ie->i", Xa, S, Xa)  # x_iᵀ S x_i
        return c_star + (Xa * q[:, None]).T @ Xa / n - H @ S @ H

    return cov


def discrete_lyapunov(A, Q) -> np.ndarray:
    r"""Solve :math:`X = AXA^T + Q` for a stable ``A`` (spectral radius < 1).

    Solved through the Kronecker form :math:`(I - A\otimes A)\,\mathrm{vec}X = \mathrm{vec}Q`
    (``d ≤ 64``); :func:`stationary_covariance` uses the closed form instead when ``A = I - ηH``.

    Args:
        A: ``(d, d)`` real matrix with spectral radius ``< 1``.
        Q: ``(d, d)`` real matrix.

    Returns:
        ``(d, d)`` float64 solution.

    Raises:
        ValueError: shapes, non-finite entries, ``d > 64``, or spectral radius ``≥ 1``.

    Examples:
        >>> import numpy as np
        >>> discrete_lyapunov(np.array([[0.5]]), np.array([[3.0]]))
        array([[4.]])

    References:
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference".
    """
    from .. import _validate as V

    a = V.finite_array("A", A, ndim=2).astype(np.float64)
    q = V.finite_array("Q", Q, ndim=2).astype(np.float64)
    d = a.shape[0]
    if a.shape != (d, d) or q.shape != (d, d):
        raise ValueError(f"A and Q must be square of the same shape, got A {a.shape}, Q {q.shape}")
    if d > 64:
        raise ValueError(f"A must be at most 64x64 for the Kronecker solve, got {a.shape}")
    rho = float(np.max(np.abs(np.linalg.eigvals(a))))
    if not rho < 1:
        raise ValueError(f"A must have spectral radius < 1 (a stable recursion), got {rho:.6g}")
    x = np.linalg.solve(np.eye(d * d) - np.kron(a, a), q.reshape(-1))
    return x.reshape(d, d)


def mandt_optimal_lr(n_examples, batch_size, noise_cov) -> float:
    r"""KL-optimal constant SGD rate of Mandt et al. 2017: :math:`\epsilon^* = 2DS/(N\,\mathrm{tr}(BB^T))`.

    Minimises :math:`\mathrm{KL}(\epsilon) = \tfrac12[N\epsilon\,\mathrm{tr}BB^T/(2S) - D\log\epsilon]`
    (+ const) between the stationary Gaussian of constant-rate SGD and the Laplace posterior
    :math:`\propto e^{-NL}`.

    Args:
        n_examples: data-set size ``N > 0``.
        batch_size: ``0 < S ≤ N``.
        noise_cov: per-example gradient-noise covariance ``BBᵀ``, symmetric PSD ``(D, D)``, not 0.

    Returns:
        ``ε*`` (float).

    Raises:
        ValueError: non-positive ``n_examples``/``batch_size``, ``batch_size > n_examples``, non-PSD or
            zero ``noise_cov``.

    Examples:
        >>> import numpy as np
        >>> mandt_optimal_lr(1000, 10, np.eye(2))
        0.02

    References:
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian
        Inference", Theorem 1 (eq. 15).
    """
    N = integer_values("n_examples", n_examples, scalar=True)
    S = integer_values("batch_size", batch_size, scalar=True)
    if S > N:
        raise ValueError(f"batch_size must be <= n_examples (a minibatch of the data set), got batch_size={batch_size!r} "
                         f"> n_examples={n_examples!r}")
    bb = psd_matrix("noise_cov", noise_cov)
    tr = float(np.trace(bb))
    if not tr > 0:
        raise ValueError("noise_cov must be non-zero (tr > 0): with no gradient noise the optimal rate is unbounded")
    return float(compiled("lyapunov", "mandt_lr")(bb.shape[0], S, N, tr))


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    s = e["symbols"]
    li, lj, lr, B, c = s["lam_i"], s["lam_j"], s["lr"], s["B"], s["c"]
    out = []
    ratio = sp.simplify(e["entry_discrete"] / e["entry_continuous"])
    first = sp.series(ratio, lr, 0, 2).removeO()
    out.append(identity("lyapunov.discrete_correction", first, 1 + lr * li * lj / (li + lj),
                        f"Σ̃_disc/Σ̃_cont = {ratio} = 1 + ηλᵢλⱼ/(λᵢ+λⱼ) + O(η²)", _SOURCE))
    # exact 2x2 solve with rational data (Mandt calibration: A = diag(1, 10), BBᵀ = [[1, 1/2], [1/2, 2]])
    H = sp.diag(1, 10)
    C = sp.Matrix([[1, sp.Rational(1, 2)], [sp.Rational(1, 2), 2]])
    eta, Bv = sp.Rational(1, 100), 1
    x11, x12, x22 = sp.symbols("x11 x12 x22")
    X = sp.Matrix([[x11, x12], [x12, x22]])
    A = sp.eye(2) - eta * H
    sol_d = sp.solve(list(X - A * X * A.T - eta**2 / Bv * C), [x11, x12, x22], dict=True)[0]
    sol_c = sp.solve(list(H * X + X * H - eta / Bv * C), [x11, x12, x22], dict=True)[0]
    entries = ((1, 1, 1), (1, 10, sp.Rational(1, 2)), (10, 10, 2))  # (λ_i, λ_j, C̃_ij), H already diagonal
    f_d = [e["entry_discrete"].subs({li: a, lj: b, c: cc, lr: eta, B: Bv}) for a, b, cc in entries]
    f_c = [e["entry_continuous"].subs({li: a, lj: b, c: cc, lr: eta, B: Bv}) for a, b, cc in entries]
    ok = [sol_d[x11], sol_d[x12], sol_d[x22]] == f_d and [sol_c[x11], sol_c[x12], sol_c[x22]] == f_c
    pct = [float(100 * (a / b - 1)) for a, b in zip(f_d, f_c)]
    anchor = [sp.Rational(1, 200), sp.Rational(1, 2200), sp.Rational(1, 1000)]
    out.append(exact("lyapunov.mandt_calibration", ok and f_c == anchor,
                     f"exact 2x2: continuous (1/200, 1/2200, 1/1000); discrete larger by "
                     f"{pct[0]:.2f}/{pct[1]:.2f}/{pct[2]:.2f} %", _SOURCE))
    # Jastrzebski: C = H ⇒ Σ = (η/2B) I solves HΣ + ΣH = (η/B) H for any symmetric H, E[L-L*] = (η/4B) tr H
    h = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"h{min(i, j)}{max(i, j)}"))
    Sig = lr / (2 * B) * sp.eye(3)
    ok = sp.simplify(h * Sig + Sig * h - lr / B * h) == sp.zeros(3, 3)
    el = sp.simplify((h * Sig).trace() / 2 - lr / (4 * B) * h.trace())
    out.append(exact("lyapunov.jastrzebski_c_equals_h", ok and el == 0,
                     "C = H: Σ = (η/2B)I and E[L - L*] = ½tr(HΣ) = (η/4B) tr H (3x3 symbolic H)",
                     "Jastrzębski et al. 2017"))
    # (η, B) → (kη, kB): continuous entry unchanged, discrete changes at O(ηλ)
    k = sp.Symbol("k", positive=True)
    cont_inv = sp.simplify(e["entry_continuous"].subs({lr: k * lr, B: k * B}) - e["entry_continuous"]) == 0
    disc_change = sp.simplify(e["entry_discrete"].subs({lr: k * lr, B: k * B}) - e["entry_discrete"]) != 0
    out.append(exact("lyapunov.linear_scaling_invariance", cont_inv and disc_change,
                     "(η, B) → (kη, kB) leaves the continuous covariance unchanged; the discrete one moves at O(ηλ)",
                     "Jastrzębski et al. 2017"))
    # Mandt: dKL/dε = 0 at ε* = 2DS/(N trBBᵀ), and tr(AΣ) = ε trBBᵀ/(2S) from the Lyapunov equation
    out.append(identity("lyapunov.mandt_optimal_lr", e["mandt_lr"], 2 * s["D"] * s["S"] / (s["N"] * s["trBB"]),
                        "argmin_ε KL(ε) = 2DS/(N tr BBᵀ)", _SOURCE))
    a11, a12, a22, b11, b12, b22 = sp.symbols("a11 a12 a22 b11 b12 b22", real=True)
    Am = sp.Matrix([[a11, a12], [a12, a22]])
    BB = sp.Matrix([[b11, b12], [b12, b22]])
    sol = sp.solve(list(Am * X + X * Am - s["eps"] / s["S"] * BB), [x11, x12, x22], dict=True)[0]
    tr_as = (Am * X.subs(sol)).trace()
    out.append(identity("lyapunov.mandt_trace", tr_as, s["eps"] * BB.trace() / (2 * s["S"]),
                        "AΣ + ΣA = (ε/S)BBᵀ ⇒ tr(AΣ) = ε tr(BBᵀ)/(2S) (the ε-dependence of KL), 2x2 symbolic",
                        _SOURCE))
    return out
