r"""Tail index of gradient noise (Simsekli, Sagun & Gürbüzbalaban 2019).

Estimator (Mohammadi, Mohammadpour & Ogata 2015, Corollary 2.4): for ``K = K_1 K_2`` i.i.d.
symmetric α-stable samples ``X_i`` and the block sums ``Y_j`` of ``K_1`` consecutive samples,

``1/α̂ = (1/log K_1) [(1/K_2) Σ_j log|Y_j| − (1/K) Σ_i log|X_i|]``,

since ``Y_j =ᵈ K_1^{1/α} X``. ``K_1`` is the largest divisor of ``K`` that is ``≤ √K``.
Caveat (shown in the tests and docs): pooling Gaussian coordinates of *unequal scales* into one
sample fakes heavy tails (``α̂ < 2``); estimate per coordinate as well.

References:
    Simsekli, Sagun & Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise in
    Deep Neural Networks" (ICML); Mohammadi, Mohammadpour & Ogata 2015, "On Estimating the Tail
    Index and the Spectral Measure of Multivariate α-Stable Distributions" (Metrika).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ._core import Objective, as_key, batch_mean_grad, count

__all__ = ["largest_divisor_below_sqrt", "tail_index", "tail_index_per_coordinate", "gradient_noise_tail_index"]

_TINY = np.spacing(1.0)


def largest_divisor_below_sqrt(n: int) -> int:
    """Largest divisor of ``n`` that is ``≤ √n`` (``K_1`` in the estimator)."""
    n = V.positive_int("n", n)
    if n > 1 << 40:  # the search is O(√n) Python steps
        raise ValueError(f"n must be <= 2**40, got n={n}")
    for k in range(math.isqrt(n), 0, -1):
        if n % k == 0:
            return k
    return 1


def _estimate(x: np.ndarray, k1: int) -> np.ndarray:
    """α̂ along axis 0 of ``x`` (``K`` samples × columns)."""
    K = x.shape[0]
    k2 = K // k1
    Y = x[: k1 * k2].reshape((k2, k1) + x.shape[1:]).sum(axis=1)
    inv = (np.mean(np.log(np.abs(Y) + _TINY), axis=0) - np.mean(np.log(np.abs(x) + _TINY), axis=0)) / np.log(k1)
    return 1.0 / inv


def tail_index(samples, *, k1: int | None = None) -> float:
    r"""Pooled tail index ``α̂`` of a sample (flattened in C order), Mohammadi et al. 2015.

    Args:
        samples: array of at least 4 values (any shape; it is flattened — for gradient noise of
            shape ``(n_batches, d)`` consecutive entries are coordinates of the same batch, as in
            Simsekli et al.'s code).
        k1: block length ``K_1`` (default: the largest divisor of ``K`` that is ``≤ √K``; must
            be ≥ 2 and divide ``K``).

    Returns:
        ``α̂`` (≈ α for symmetric α-stable samples, 2 for Gaussian; can exceed 2 for lighter tails).

    Raises:
        ValueError: for fewer than 4 samples, non-finite values, or a bad ``k1`` (e.g. ``K`` prime).

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).standard_normal(100_000)
        >>> abs(tail_index(x) - 2.0) < 0.1
        True

    References:
        Simsekli, Sagun & Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise in
        Deep Neural Networks"; Mohammadi, Mohammadpour & Ogata 2015, Corollary 2.4.
    """
    x = V.finite_array("samples", samples).astype(np.float64).reshape(-1)
    return float(_estimate(x, _k1(x.shape[0], k1)))


def _k1(K: int, k1):
    if K < 4:
        raise ValueError(f"samples must contain at least 4 values, got {K}")
    k = largest_divisor_below_sqrt(K) if k1 is None else V.positive_int("k1", k1)
    if k < 2 or K % k:
        raise ValueError(f"k1 must be >= 2 and divide the number of samples K={K}, got k1={k} (drop samples so K has a divisor >= 2)")
    return k


def tail_index_per_coordinate(samples, *, k1: int | None = None) -> np.ndarray:
    """``α̂`` for each column of a ``(K, D)`` array (each coordinate's noise on its own).

    Raises:
        ValueError: unless ``samples`` is 2-D with ``K ≥ 4`` rows and a valid ``k1``.

    References:
        Simsekli, Sagun & Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise in
        Deep Neural Networks".
    """
    x = V.finite_array("samples", samples, ndim=2).astype(np.float64)
    return _estimate(x, _k1(x.shape[0], k1))


@eqx.filter_jit
def _batch_noise(loss_fn, spec, theta, X, y, G, key, n_batches: int, b: int):
    def noise(k):
        idx = jax.random.choice(k, X.shape[0], (b,), replace=False)
        return batch_mean_grad(loss_fn, spec, theta, X[idx], y[idx]) - G

    keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(n_batches))
    return jax.lax.map(noise, keys)


def gradient_noise_tail_index(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    key,
    batch_size: int,
    n_batches: int = 100,
    chunk_size: int = 256,
) -> dict[str, Any]:
    r"""Tail index of minibatch gradient noise ``G_B − G`` at fixed params.

    Draws ``n_batches`` batches of ``batch_size`` examples (without replacement within a batch),
    forms the noise ``G_B − G`` (``(n_batches, d)``) and returns the pooled estimate (all
    coordinates of all batches as one sample, Simsekli et al.'s protocol) and the per-coordinate
    estimates (over batches; needs ``n_batches`` with a divisor ≥ 2).

    Returns:
        dict: ``alpha_pooled`` (float), ``alpha_per_coordinate`` (``(d,)``), ``noise``
        (``(n_batches, d)`` float64).

    Raises:
        ValueError: for ``batch_size`` outside ``[1, N]`` or too few batches.

    References:
        Simsekli, Sagun & Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise in
        Deep Neural Networks", Section 4.
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    b = V.positive_int("batch_size", batch_size)
    if b > obj.n_examples:
        raise ValueError(f"batch_size must be <= the number of examples N={obj.n_examples}, got batch_size={b}")
    n_batches = count("n_batches", n_batches, item_bytes=8 * (b + obj.dim))
    _k1(n_batches, None)
    key = as_key(key)
    G = obj.grad()
    Z = _batch_noise(obj.loss_fn, obj.spec, obj.theta, obj.X, obj.y, G, key, n_batches, b)
    Z = np.asarray(Z, np.float64)
    return {"alpha_pooled": tail_index(Z), "alpha_per_coordinate": tail_index_per_coordinate(Z), "noise": Z}
