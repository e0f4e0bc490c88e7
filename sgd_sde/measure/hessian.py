r"""Hessian spectrum of the mean loss from Hessian-vector products (``H`` is never formed).

* :func:`hessian_top_eigs` — the ``k`` largest eigenvalues by Lanczos with full
  re-orthogonalisation (or power iteration with deflation, as in PyHessian).
* :func:`hessian_trace` — Hutchinson's estimator with Rademacher probes, or exactly from ``d``
  basis HVPs for small models.
* :func:`hessian_spectral_density` — stochastic Lanczos quadrature.

The Lanczos recurrences run on the host in float64; each HVP runs on the device in the dtype of
the parameters.

References:
    Yao, Gholami, Keutzer & Mahoney 2020, "PyHessian: Neural Networks Through the Lens of the
    Hessian"; Ghorbani, Krishnan & Xiao 2019, "An Investigation into Neural Net Optimization via
    Hessian Eigenvalue Density"; Hutchinson 1990, "A Stochastic Estimator of the Trace of the
    Influence Matrix for Laplacian Smoothing Splines".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .. import _validate as V
from ._core import Objective, as_key, count

__all__ = ["HessianEigs", "hessian_top_eigs", "TraceEstimate", "hessian_trace", "SpectralDensity", "hessian_spectral_density", "lanczos"]


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], v0: np.ndarray, n_iter: int):
    """``n_iter`` Lanczos steps with full re-orthogonalisation (float64, host).

    Returns:
        ``(alpha, beta, Q)``: the tridiagonal's diagonal ``(m,)`` and off-diagonal ``(m−1,)`` and the
        basis ``Q`` ``(m, d)``; ``m ≤ n_iter`` (smaller when an invariant subspace is found).
    """
    q = np.asarray(v0, np.float64)
    q = q / np.linalg.norm(q)
    Q = [q]
    alpha, beta = [], []
    for j in range(n_iter):
        w = np.asarray(matvec(Q[j]), np.float64)
        a = float(w @ Q[j])
        alpha.append(a)
        B = np.stack(Q)
        for _ in range(2):  # twice is enough (Kahan–Parlett)
            w = w - B.T @ (B @ w)
        b = float(np.linalg.norm(w))
        if j == n_iter - 1 or b <= 1e-10 * max(1.0, abs(a)):
            break
        beta.append(b)
        Q.append(w / b)
    m = len(alpha)
    return np.array(alpha), np.array(beta[: m - 1]), np.stack(Q[:m])


def _lanczos_many(matmat, V0, m, rng):
    """Lanczos on ``P`` start vectors at once (rows of ``V0``), full re-orthogonalisation; one
    batched ``matmat`` (``(P, d) -> (P, d)``) per step. On breakdown the recurrence restarts with a
    fresh orthogonal vector and ``β = 0``, which decouples ``T`` without changing the quadrature."""
    P, d = V0.shape
    Q = np.zeros((P, m, d))
    alpha = np.zeros((P, m))
    beta = np.zeros((P, max(m - 1, 0)))
    q = V0 / np.linalg.norm(V0, axis=1, keepdims=True)
    for j in range(m):
        Q[:, j] = q
        W = matmat(q)
        alpha[:, j] = np.sum(W * q, axis=1)
        Qj = Q[:, : j + 1]
        for _ in range(2):
            W = W - np.einsum("pj,pjd->pd", np.einsum("pjd,pd->pj", Qj, W), Qj)
        if j == m - 1:
            break
        b = np.linalg.norm(W, axis=1)
        scale = np.maximum(1.0, np.abs(alpha[:, : j + 1]).max(axis=1))
        dead = b <= 1e-10 * scale
        if np.any(dead):
            R = rng.standard_normal((int(dead.sum()), d))
            for _ in range(2):
                R = R - np.einsum("pj,pjd->pd", np.einsum("pjd,pd->pj", Qj[dead], R), Qj[dead])
            W[dead] = R
            b = np.where(dead, 0.0, b)
        beta[:, j] = b
        q = W / np.linalg.norm(W, axis=1, keepdims=True)
    return alpha, beta


def _tridiag_eigh(alpha, beta):
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    return np.linalg.eigh(T)


@dataclasses.dataclass(frozen=True)
class HessianEigs:
    """Top Hessian eigenpairs.

    Attributes:
        eigenvalues: ``(k,)`` float64, descending.
        eigenvectors: list of ``k`` params-shaped PyTrees (unit norm), or ``None``.
        residuals: ``(k,)`` ``‖Hv − λv‖`` bounds (Lanczos) or last relative change (power).
        n_hvp: Hessian-vector products used.
        converged: whether every requested pair met ``tol``.
    """

    eigenvalues: np.ndarray
    eigenvectors: list | None
    residuals: np.ndarray
    n_hvp: int
    converged: bool

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.eigenvalues, dtype=dtype)


def _start_vector(key, d, dtype=np.float64):
    return np.asarray(jax.random.normal(key, (d,)), dtype)


def hessian_top_eigs(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    k: int = 1,
    *,
    key=None,
    method: str = "lanczos",
    tol: float | None = None,
    max_iter: int = 200,
    return_vectors: bool = False,
    full_output: bool = False,
    chunk_size: int = 256,
) -> np.ndarray | HessianEigs:
    r"""The ``k`` algebraically largest eigenvalues of the Hessian of the mean loss over ``(X, y)``.

    ``method="lanczos"``: Lanczos with full re-orthogonalisation, extended until the Ritz
    residual bound ``|β_m s_{m,i}| ≤ tol·|θ_i|`` holds for the top ``k`` Ritz values or
    ``max_iter`` HVPs are spent (exact once the Krylov space is invariant, e.g. ``m = d``).
    ``method="power"``: PyHessian's power iteration with deflation against the found vectors,
    stopping when the relative change of the Rayleigh quotient is ``< tol`` (``max_iter`` per
    eigenvalue); it converges to the largest-*magnitude* eigenvalues.

    Args:
        loss_fn: per-example loss ``loss_fn(params, x, y)``.
        params: PyTree; X, y: data (leading example axis).
        k: number of eigenvalues (``1 ≤ k ≤ d``).
        key: ``jax.random`` key for the start vector (default ``jax.random.key(0)``; results do
            not depend on it beyond ``tol``).
        method: ``"lanczos"`` or ``"power"``.
        tol: relative tolerance (default 1e-4 for float32 params — HVP round-off sits near 1e-6 —
            and 1e-10 for float64).
        max_iter: cap on HVPs (Lanczos) or per eigenvalue (power).
        return_vectors: compute eigenvectors as params-shaped PyTrees (implies ``full_output``).
        full_output: return a :class:`HessianEigs` (eigenvalues, vectors, residuals, HVP count,
            convergence flag) instead of the eigenvalues alone.
        chunk_size: examples per block in each HVP.

    Returns:
        ``(k,)`` float64 eigenvalues, descending (or :class:`HessianEigs`).

    Raises:
        ValueError: if ``k`` is not in ``[1, d]``, ``tol ≤ 0``, ``max_iter < 1`` or ``method`` is
            unknown.

    Examples:
        >>> import jax.numpy as jnp
        >>> loss = lambda p, x, t: 0.5 * jnp.sum(x * p**2)   # H = diag(mean x)
        >>> X = jnp.array([[1.0, 4.0, 10.0]]); y = jnp.zeros(1)
        >>> hessian_top_eigs(loss, jnp.zeros(3), X, y, k=2).round(3).tolist()
        [10.0, 4.0]

    References:
        Lanczos 1950, "An Iteration Method for the Solution of the Eigenvalue Problem of Linear
        Differential and Integral Operators"; Yao et al. 2020, "PyHessian: Neural Networks Through
        the Lens of the Hessian" (power iteration, tol 1e-3, 100 iterations).
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    d = obj.dim
    k = V.positive_int("k", k)
    if k > d:
        raise ValueError(f"k must be <= the number of parameters d={d}, got k={k}")
    tol = (1e-10 if obj.dtype == np.float64 else 1e-4) if tol is None else V.positive("tol", tol)
    max_iter = count("max_iter", max_iter)
    if max_iter < k:
        raise ValueError(f"max_iter must be >= k={k}, got max_iter={max_iter}")
    if method not in ("lanczos", "power"):
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    key = jax.random.key(0) if key is None else as_key(key)
    matvec = lambda v: np.asarray(obj.hvp(v), np.float64)
    v0 = _start_vector(key, d)
    if method == "power":
        vals, vecs, res, n_hvp, ok = _power(matvec, v0, k, tol, max_iter, key)
    else:
        vals, vecs, res, n_hvp, ok = _lanczos_top(matvec, v0, k, tol, max_iter, d)
    if not (full_output or return_vectors):
        return np.asarray(vals, np.float64)
    vectors = [obj.unravel(np.asarray(v, obj.dtype)) for v in vecs] if return_vectors else None
    return HessianEigs(np.asarray(vals, np.float64), vectors, np.asarray(res), n_hvp, ok)


def _lanczos_top(matvec, v0, k, tol, max_iter, d):
    """Lanczos with full re-orthogonalisation until the top-``k`` Ritz pairs have residual bound
    ``|β_m s_{m,i}| ≤ tol |θ_i|``. If the Krylov space becomes invariant (exactly, e.g. repeated
    eigenvalues), restart with a random vector orthogonal to it (``β = 0``) so multiplicities are
    found; then the current block's own top Ritz value must also have converged."""
    rng = np.random.default_rng(0)
    q = v0 / np.linalg.norm(v0)
    Q, alpha, beta = [q], [], []
    n_cap = min(max_iter, d)
    block = 0  # first index of the current Krylov block
    while True:
        j = len(alpha)
        w = matvec(Q[j])
        alpha.append(float(w @ Q[j]))
        B = np.stack(Q)
        for _ in range(2):
            w = w - B.T @ (B @ w)
        b = float(np.linalg.norm(w))
        theta, S = _tridiag_eigh(np.array(alpha), np.array(beta))
        invariant = b <= 1e-12 * max(1.0, float(np.max(np.abs(theta))))
        m = len(alpha)
        if m >= k:
            top = np.argsort(theta)[::-1][:k]
            res = np.abs(b * S[-1, top])
            ok = bool(np.all(res <= tol * np.maximum(np.abs(theta[top]), 1e-30)))
            if ok and block > 0 and not invariant:  # after a restart, the new block must settle too
                tb, Sb = _tridiag_eigh(np.array(alpha[block:]), np.array(beta[block:]))
                i = int(np.argmax(tb))
                ok = abs(b * Sb[-1, i]) <= tol * max(abs(tb[i]), 1e-30)
            if (ok and not (invariant and m < n_cap)) or m >= n_cap:
                vecs = S[:, top].T @ np.stack(Q[:m])
                return theta[top], list(vecs), res, m, ok or m >= d
        if invariant:
            r = rng.standard_normal(d)
            for _ in range(2):
                r = r - B.T @ (B @ r)
            beta.append(0.0)
            Q.append(r / np.linalg.norm(r))
            block = m
        else:
            beta.append(b)
            Q.append(w / b)


def _power(matvec, v0, k, tol, max_iter, key):
    vals, vecs, res = [], [], []
    n_hvp, ok = 0, True
    for i in range(k):
        v = v0 if i == 0 else _start_vector(jax.random.fold_in(key, i), v0.size)
        lam = None
        conv = False
        for _ in range(max_iter):
            for u in vecs:
                v = v - (u @ v) * u
            v = v / (np.linalg.norm(v) + 1e-300)
            hv = matvec(v)
            n_hvp += 1
            for u in vecs:  # deflate: (H − Σ λ u uᵀ) v
                hv = hv - (u @ hv) * u
            new = float(v @ hv)
            if lam is not None and abs(new - lam) <= tol * (abs(lam) + 1e-6):
                lam, conv = new, True
                v = hv
                break
            lam, v = new, hv
        ok &= conv
        v = v / (np.linalg.norm(v) + 1e-300)
        vals.append(lam)
        vecs.append(v)
        res.append(float(np.linalg.norm(matvec(v) - lam * v)))
        n_hvp += 1
    order = np.argsort(vals)[::-1]
    return np.array(vals)[order], [vecs[i] for i in order], np.array(res)[order], n_hvp, ok


class TraceEstimate(float):
    """A Hessian-trace estimate: a ``float`` (the estimate) carrying ``stderr`` (0 for the exact
    method) and ``samples`` (per-probe ``vᵀHv`` for Hutchinson, the diagonal for the exact method)."""

    stderr: float
    samples: np.ndarray

    def __new__(cls, trace: float, stderr: float, samples: np.ndarray):
        out = super().__new__(cls, trace)
        out.stderr = float(stderr)
        out.samples = samples
        return out

    @property
    def trace(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"TraceEstimate({float(self)!r}, stderr={self.stderr!r})"


def hessian_trace(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    key=None,
    n_samples: int = 100,
    method: str = "auto",
    block: int = 32,
    chunk_size: int = 256,
) -> TraceEstimate:
    r"""Trace of the Hessian of the mean loss.

    ``method="hutchinson"``: ``tr H ≈ (1/m) Σ_j v_jᵀ H v_j`` with Rademacher ``v_j`` (unbiased;
    variance ``2 Σ_{i≠l} H_il²`` per probe), reported with its standard error.
    ``method="exact"``: ``Σ_i e_iᵀ H e_i`` from ``d`` basis HVPs (small models only).
    ``method="auto"`` (default): exact when ``d ≤ 2048``, else Hutchinson.

    Args:
        loss_fn, params, X, y: as in :func:`hessian_top_eigs`.
        key: ``jax.random`` key (required for Hutchinson).
        n_samples: number of Rademacher probes.
        method: ``"auto"``, ``"hutchinson"`` or ``"exact"``.
        block: HVPs evaluated together (vmapped).
        chunk_size: examples per block in each HVP.

    Returns:
        :class:`TraceEstimate` (a ``float`` with ``stderr`` and ``samples``).

    Raises:
        ValueError: for a bad ``n_samples``/``method``; TypeError: Hutchinson without a ``key``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> loss = lambda p, x, t: 0.5 * jnp.sum(x * p**2)
        >>> X = jnp.array([[1.0, 4.0, 10.0]]); y = jnp.zeros(1)
        >>> float(hessian_trace(loss, jnp.zeros(3), X, y))          # exact: d = 3 HVPs
        15.0
        >>> est = hessian_trace(loss, jnp.zeros(3), X, y, method="hutchinson", key=jax.random.key(0), n_samples=10)
        >>> float(est), est.stderr        # diagonal H: every Rademacher probe gives vᵀHv = tr H
        (15.0, 0.0)

    References:
        Hutchinson 1990, "A Stochastic Estimator of the Trace of the Influence Matrix for Laplacian
        Smoothing Splines"; Yao et al. 2020, "PyHessian".
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    block = V.positive_int("block", block)
    if method not in ("auto", "exact", "hutchinson"):
        raise ValueError(f"method must be 'auto', 'hutchinson' or 'exact', got {method!r}")
    n_samples = count("n_samples", n_samples, item_bytes=8 * obj.dim)
    if key is not None:
        key = as_key(key)
    if method == "auto":
        method = "exact" if obj.dim <= 2048 else "hutchinson"
    if method == "exact":
        eye = np.eye(obj.dim)
        diag = np.concatenate([np.sum(np.asarray(obj.hvps(eye[i : i + block]), np.float64) * eye[i : i + block], axis=1) for i in range(0, obj.dim, block)])
        return TraceEstimate(float(diag.sum()), 0.0, diag)
    key = as_key(key)
    V_ = np.asarray(jax.random.rademacher(key, (n_samples, obj.dim)), np.float64)
    q = np.concatenate([np.sum(np.asarray(obj.hvps(V_[i : i + block]), np.float64) * V_[i : i + block], axis=1) for i in range(0, n_samples, block)])
    se = float(q.std(ddof=1) / np.sqrt(n_samples)) if n_samples > 1 else float("nan")
    return TraceEstimate(float(q.mean()), se, q)


@dataclasses.dataclass(frozen=True)
class SpectralDensity:
    """Stochastic-Lanczos-quadrature estimate of the Hessian eigenvalue density.

    Attributes:
        nodes: ``(n_probes, m)`` Ritz values per probe.
        weights: ``(n_probes, m)`` quadrature weights (each row sums to 1).
        grid: ``(n_grid,)`` evaluation points.
        density: ``(n_grid,)`` Gaussian-smoothed density (integrates to ≈ 1).
    """

    nodes: np.ndarray
    weights: np.ndarray
    grid: np.ndarray
    density: np.ndarray

    def moment(self, p: int) -> float:
        """``∫ λ^p dμ ≈ tr(H^p)/d`` (exact in expectation for ``p < 2m``)."""
        return float(np.mean(np.sum(self.weights * self.nodes**p, axis=1)))


def hessian_spectral_density(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    key,
    n_probes: int = 4,
    n_iter: int = 50,
    n_grid: int = 512,
    sigma: float | None = None,
    chunk_size: int = 256,
) -> SpectralDensity:
    r"""Hessian eigenvalue density by stochastic Lanczos quadrature.

    For each Rademacher probe ``v`` (normalised), ``n_iter`` Lanczos steps give a tridiagonal
    ``T = S diag(θ) Sᵀ``; ``vᵀ f(H) v ≈ Σ_j S_{1j}² f(θ_j)`` (Gauss quadrature, exact for
    polynomials of degree < 2m). The density averages ``Σ_j S_{1j}² N(λ; θ_j, σ²)`` over probes.

    Args:
        loss_fn, params, X, y: as in :func:`hessian_top_eigs`.
        key: ``jax.random`` key for the probes.
        n_probes: number of probe vectors.
        n_iter: Lanczos steps per probe (≤ d).
        n_grid: grid points.
        sigma: Gaussian smoothing width (default: 1% of the spectral range).

    Returns:
        :class:`SpectralDensity`.

    Raises:
        ValueError: for non-positive counts or ``sigma``.

    References:
        Ghorbani, Krishnan & Xiao 2019, "An Investigation into Neural Net Optimization via Hessian
        Eigenvalue Density"; Lin, Saad & Yang 2016, "Approximating Spectral Densities of Large
        Matrices"; Yao et al. 2020, "PyHessian".
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    key = as_key(key)
    n_probes = count("n_probes", n_probes, item_bytes=8 * obj.dim)
    n_iter = min(count("n_iter", n_iter), obj.dim)
    n_grid = count("n_grid", n_grid, item_bytes=8 * n_probes * n_iter)
    V0 = np.asarray(jax.random.rademacher(key, (n_probes, obj.dim)), np.float64)
    a, b = _lanczos_many(lambda Q: np.asarray(obj.hvps(Q), np.float64), V0, n_iter, np.random.default_rng(0))
    nodes = np.zeros((n_probes, n_iter))
    weights = np.zeros((n_probes, n_iter))
    for p in range(n_probes):
        theta, S = _tridiag_eigh(a[p], b[p])
        nodes[p], weights[p] = theta, S[0] ** 2
    lo, hi = float(nodes.min()), float(nodes.max())
    span = max(hi - lo, 1e-12)
    s = 0.01 * span if sigma is None else V.positive("sigma", sigma)
    grid = np.linspace(lo - 3 * s, hi + 3 * s, n_grid)
    dens = np.zeros(n_grid)
    for p in range(n_probes):
        z = (grid[:, None] - nodes[p][None, :]) / s
        dens += (np.exp(-0.5 * z**2) @ weights[p]) / (s * np.sqrt(2 * np.pi))
    return SpectralDensity(nodes, weights, grid, dens / n_probes)
