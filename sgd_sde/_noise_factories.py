"""Noise models from data: :func:`from_covariance` and :func:`from_per_example_grads` pick the
cheapest factorisation (:class:`~sgd_sde.noise.LowRank` or :class:`~sgd_sde.noise.Dense`) of a
per-example gradient covariance. Import them from :mod:`sgd_sde.noise`."""

import math

import numpy as np

from . import _validate as V
from ._dtype import float_dtype, warn_if_downcast
from .noise import AbstractGaussianNoise, Dense, LowRank

__all__ = ["from_covariance", "from_per_example_grads"]


def _float_dtype(name: str, arr: np.ndarray, given):
    """The models' dtype (:func:`sgd_sde._dtype.float_dtype`), with the float64-downcast warning
    (x64 off; once, naming the caller's argument ``name``)."""
    warn_if_downcast(name, given)
    return float_dtype(arr)


def from_covariance(cov, *, n_population: int | None = None, rtol: float | None = None) -> AbstractGaussianNoise:
    r"""A Gaussian noise model for the per-example covariance ``cov``, factorised the cheap way.

    The eigendecomposition ``C = Q Λ Qᵀ`` gives the numerical rank ``r`` (eigenvalues above
    ``rtol · λ_max``). If ``r < d`` the model is :class:`LowRank` with the ``(d, r)`` factor
    ``Q_r Λ_r^{1/2}``: each particle-step then costs ``2dr`` flops and ``r`` normal draws instead
    of ``2d²`` and ``d`` (measured 1.5× faster at ``d = 1000, r = 512`` on CPU; see
    ``benchmarks/RESULTS.md``). Otherwise it is :class:`Dense`. Both give ``Cov = C`` exactly, so
    the choice changes the cost, not the distribution (the realisation for a given key differs,
    since the increment has ``r`` rather than ``d`` coordinates).

    Args:
        cov: ``(d, d)`` symmetric positive semi-definite matrix.
        n_population: ``N`` for sampling without replacement (default: with replacement).
        rtol: relative eigenvalue cut-off for the rank (default ``d · eps`` of ``cov``'s dtype).

    Returns:
        A :class:`LowRank` when the rank is below ``d``, else a :class:`Dense`.

    Raises:
        ValueError: if ``cov`` is not square, symmetric, finite and PSD, or ``rtol`` is not in ``[0, 1)``.

    Examples:
        >>> import numpy as np
        >>> g = np.random.default_rng(0).normal(size=(8, 20))      # rank-8 outer product, d = 20
        >>> type(from_covariance(g.T @ g / 8)).__name__
        'LowRank'
        >>> type(from_covariance(np.eye(3))).__name__
        'Dense'

    References:
        Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient Descent" (low-rank
        gradient covariance of deep networks).
    """
    c = V.symmetric_psd("cov", cov)
    dtype = _float_dtype("cov", c, cov)
    d = c.shape[0]
    eps = float(np.finfo(c.dtype if np.issubdtype(c.dtype, np.floating) else np.float32).eps)  # the input's precision
    tol = d * eps if rtol is None else V.nonnegative("rtol", rtol)
    if tol >= 1.0:
        raise ValueError(f"rtol must lie in [0, 1), got rtol={tol}")
    a = c.astype(np.float64)
    lam, q = np.linalg.eigh(0.5 * (a + a.T))
    keep = lam > tol * max(float(lam[-1]), 0.0)
    r = int(keep.sum())
    if 0 < r < d:
        return LowRank((q[:, keep] * np.sqrt(lam[keep])).astype(dtype), n_population=n_population)
    return Dense(c.astype(dtype), n_population=n_population)


def from_per_example_grads(grads, *, replace: bool = True) -> AbstractGaussianNoise:
    r"""Gaussian noise with the covariance of the rows of ``grads`` (per-example gradients).

    ``C = (1/N) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ``. When ``N < d`` the model is :class:`LowRank` with factor
    ``F = (G − ḡ)ᵀ / √N`` of shape ``(d, N)`` (never forming the ``d × d`` matrix: ``2Nd`` flops and
    ``N`` normals per particle-step); otherwise ``C`` is formed and :func:`from_covariance` picks.

    Args:
        grads: ``(N, d)`` per-example gradients, ``N ≥ 2``.
        replace: ``True`` (default): ``Cov ĝ = C/B``; ``False``: without replacement from the
            ``N`` examples, ``Cov ĝ = (N−B)/(B(N−1)) C``.

    Returns:
        A :class:`LowRank` (``N < d``) or the model :func:`from_covariance` picks.

    Raises:
        ValueError: if ``grads`` is not a finite ``(N, d)`` array with ``N ≥ 2``, or so large that
            its covariance (or factor) overflows the model's dtype.
        TypeError: if ``replace`` is not a bool.

    Examples:
        >>> import numpy as np
        >>> g = np.random.default_rng(0).normal(size=(512, 1000)).astype(np.float32)
        >>> noise = from_per_example_grads(g)
        >>> type(noise).__name__, noise.factor.shape, noise.factor.dtype
        ('LowRank', (1000, 512), dtype('float32'))

    References:
        Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient Descent".
    """
    g = V.finite_array("grads", grads, ndim=2)
    if g.shape[0] < 2 or g.shape[1] == 0:
        raise ValueError(f"grads must have shape (N, d) with N >= 2 examples and d >= 1, got {g.shape}")
    replace = V.flag("replace", replace)
    dtype = _float_dtype("grads", g, grads)
    n, d = g.shape
    centred = g.astype(np.float64) - g.mean(axis=0, dtype=np.float64)
    n_population = None if replace else n
    with np.errstate(over="ignore", invalid="ignore"):
        m = (centred.T / math.sqrt(n)).astype(dtype) if n < d else (centred.T @ centred / n).astype(dtype)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"grads are too large: their covariance overflows {np.dtype(dtype).name} "
                         f"(max |grads - mean| = {float(np.max(np.abs(centred))):.3g})")
    if n < d:
        return LowRank(m, n_population=n_population)
    return from_covariance(m, n_population=n_population)
