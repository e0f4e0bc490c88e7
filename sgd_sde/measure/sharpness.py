r"""Keskar et al.'s ε-sharpness: the largest relative loss increase in a box around the params.

``φ_{x,f}(ε, A) = 100 · (max_{y ∈ C_ε} f(x + A y) − f(x)) / (1 + f(x))`` with the box
``C_ε = {z : |z_i| ≤ ε (|(A⁺x)_i| + 1)}`` (``A = I``: the full space; else a random
``d × p`` subspace). The inner maximisation is solved with L-BFGS-B (SciPy, as in the paper) or
projected gradient ascent.

References:
    Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, "On Large-Batch Training for Deep
    Learning: Generalization Gap and Sharp Minima" (ICLR), Section 2.2.1 and Metric 2.1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ._core import Objective, as_key, count

__all__ = ["Sharpness", "keskar_sharpness"]


class Sharpness(float):
    """Result of :func:`keskar_sharpness`: a ``float`` (the sharpness ``100 · (max f − f)/(1 + f)``)
    carrying ``loss`` (``f(x)``), ``max_loss``, ``perturbation`` (the maximising ``y``, length ``d``
    or ``p``), ``n_evals`` and ``converged`` (the solver's flag)."""

    def __new__(cls, sharpness, loss, max_loss, perturbation, n_evals, converged):
        out = super().__new__(cls, sharpness)
        out.loss, out.max_loss = float(loss), float(max_loss)
        out.perturbation, out.n_evals, out.converged = perturbation, int(n_evals), bool(converged)
        return out

    @property
    def sharpness(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"Sharpness({float(self)!r}, loss={self.loss!r}, max_loss={self.max_loss!r})"


def keskar_sharpness(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    eps: float = 1e-3,
    subspace=None,
    *,
    key=None,
    method: str = "lbfgsb",
    max_iter: int = 100,
    tol: float = 1e-12,
    step_size: float | None = None,
    chunk_size: int = 256,
) -> Sharpness:
    r"""Keskar et al. 2017 sharpness ``100 · (max_{y∈C_ε} f(x + Ay) − f(x)) / (1 + f(x))``.

    ``f`` is the mean of ``loss_fn`` over ``(X, y)``. The search starts from a point drawn
    uniformly in the box (``key``) — not from its centre, where the gradient of a loss at a
    minimum vanishes and a local solver would never move.

    Args:
        loss_fn: per-example loss ``loss_fn(params, x, y)``.
        params: PyTree (the point ``x``); X, y: data.
        eps: box size ``ε > 0`` (the paper uses 1e-3 and 5e-4).
        subspace: ``None`` (``A = I``), an int ``p`` (random Gaussian ``d × p`` matrix drawn with
            ``key``; the paper uses ``p = 100``) or a ``(d, p)`` matrix.
        key: ``jax.random`` key for the start point and a random subspace (default
            ``jax.random.key(0)``).
        method: ``"lbfgsb"`` (``scipy.optimize.minimize``, bounds = the box) or ``"pga"``
            (projected gradient ascent with ``step_size``, default ``ε``-scaled).
        max_iter: solver iterations (the paper used about 10 L-BFGS-B iterations; the default
            solves the box problem to ``tol``).
        tol: solver tolerance (``ftol``/``gtol`` for L-BFGS-B).
        step_size: projected-gradient step (``method="pga"``).

    Returns:
        :class:`Sharpness`.

    Raises:
        ValueError: for ``eps ≤ 0``, an unknown method, a subspace of the wrong shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> h = jnp.array([1.0, 4.0, 10.0])
        >>> f = lambda p, x, t: 0.5 * jnp.sum(h * p**2) + 0.5
        >>> s = keskar_sharpness(f, jnp.zeros(3), jnp.zeros((1, 1)), jnp.zeros(1), eps=1e-3)
        >>> round(float(s), 5)     # 100 · (ε²/2) tr H / (1 + c); float32 resolves ~1e-7
        0.0005

    References:
        Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp
        Minima", Metric 2.1.
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    eps = V.positive("eps", eps)
    max_iter = count("max_iter", max_iter)
    tol = V.positive("tol", tol)
    if method not in ("lbfgsb", "pga"):
        raise ValueError(f"method must be 'lbfgsb' or 'pga', got {method!r}")
    key = jax.random.key(0) if key is None else as_key(key)
    k_sub, k_start = jax.random.split(key)
    x = np.asarray(obj.theta, np.float64)
    d = obj.dim
    if subspace is None:
        A = None
        center = x
    else:
        if isinstance(subspace, (int, np.integer)) and not isinstance(subspace, bool):
            p = V.positive_int("subspace", subspace)
            A = np.asarray(jax.random.normal(k_sub, (d, p)), np.float64)
        else:
            A = V.finite_array("subspace", subspace, ndim=2).astype(np.float64)
            if A.shape[0] != d:
                raise ValueError(f"subspace must have shape (d, p) with d={d} parameters, got {A.shape}")
        center = np.linalg.pinv(A) @ x
    bound = eps * (np.abs(center) + 1.0)
    f0 = float(obj.value())
    base = obj.theta

    if A is None:
        to_theta = lambda z: base + jnp.asarray(z, obj.dtype)
        pull = lambda g: g
    else:
        A_dev = jnp.asarray(A, obj.dtype)
        to_theta = lambda z: base + A_dev @ jnp.asarray(z, obj.dtype)
        pull = lambda g: A.T @ g
    n_evals = 0

    def neg(z):
        nonlocal n_evals
        n_evals += 1
        v, g = obj.value_and_grad(to_theta(z))
        return -float(v), -pull(np.asarray(g, np.float64))

    z0 = np.asarray(jax.random.uniform(k_start, bound.shape, minval=-1.0, maxval=1.0), np.float64) * bound
    if method == "lbfgsb":
        import scipy.optimize  # here, not at module level: it costs every importer of sgd_sde.networks ~0.3 s

        res = scipy.optimize.minimize(
            neg, z0, jac=True, method="L-BFGS-B", bounds=list(zip(-bound, bound)),
            options={"maxiter": max_iter, "ftol": tol, "gtol": tol},
        )
        z, fmax, ok = res.x, -float(res.fun), bool(res.success)
    else:
        lr = eps if step_size is None else V.positive("step_size", step_size)
        z, best, bestz, ok = z0, -np.inf, z0, False
        for _ in range(max_iter):
            v, g = neg(z)
            if -v > best:
                best, bestz = -v, z
            z_new = np.clip(z - lr * g, -bound, bound)
            if np.max(np.abs(z_new - z)) <= tol * eps:
                ok = True
                break
            z = z_new
        v, _ = neg(z)
        fmax, z = (-v, z) if -v >= best else (best, bestz)
    fmax = max(fmax, f0)
    return Sharpness(100.0 * (fmax - f0) / (1.0 + f0), f0, fmax, np.asarray(z), n_evals, ok)
