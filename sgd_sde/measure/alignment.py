r"""Alignment of the gradient covariance ``C``, the (empirical) Fisher ``F`` and the Hessian ``H``.

With per-example gradients ``g_i`` (``N × d``), deviations ``δ_i = g_i − G``,
``C = (1/N) Σ δ_i δ_iᵀ``, ``F = (1/N) Σ g_i g_iᵀ`` and ``H`` the Hessian of the mean loss, the
Frobenius cosine ``cos(A, B) = ⟨A, B⟩_F / (‖A‖_F ‖B‖_F)`` is computed from factors and HVPs only:

* ``⟨C, C⟩ = (1/N²) Σ_{ij} (δ_iᵀδ_j)²``, ``⟨C, F⟩ = (1/N²) Σ_{ij} (δ_iᵀ g_j)²`` (Gram matrices),
* ``⟨C, H⟩ = (1/N) Σ_i δ_iᵀ H δ_i``, ``⟨F, H⟩ = (1/N) Σ_i g_iᵀ H g_i`` (one HVP per example),
* ``‖H‖_F² = Σ_j ‖H e_j‖²`` (exact, ``d`` HVPs) or ``E‖H v‖²`` over Rademacher ``v``.

``F`` here is the *empirical* Fisher (observed labels); see Kunstner, Balles & Hennig 2019,
"Limitations of the Empirical Fisher Approximation", for why it can differ from the true Fisher.

References:
    Chaudhari & Soatto 2018, "Stochastic Gradient Descent Performs Variational Inference, Converges
    to Limit Cycles for Deep Networks"; Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in
    Stochastic Gradient Descent"; Jastrzebski et al. 2017, "Three Factors Influencing Minima in SGD".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .. import _validate as V
from ._core import Objective, as_key, count

__all__ = ["covariance_alignment"]


def covariance_alignment(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    hessian_norm: str = "exact",
    key=None,
    n_samples: int = 100,
    chunk_size: int = 256,
) -> dict[str, float]:
    r"""Frobenius cosines between gradient covariance, empirical Fisher and Hessian.

    Costs ``N`` HVPs (each a full pass over the data) plus ``d`` (``hessian_norm="exact"``) or
    ``n_samples`` (``"hutchinson"``) more, and an ``N × N`` Gram matrix: use a small net or a
    data subset.

    Args:
        loss_fn, params, X, y: per-example loss, PyTree params, data.
        hessian_norm: ``"exact"`` or ``"hutchinson"`` (then ``key`` is required).
        key: ``jax.random`` key; n_samples: Rademacher probes for ``‖H‖_F²``.

    Returns:
        dict: ``cos_cov_fisher``, ``cos_cov_hessian``, ``cos_fisher_hessian`` and the inner products
        ``cov_fro``, ``fisher_fro``, ``hessian_fro`` (Frobenius norms).

    Raises:
        ValueError: for an unknown ``hessian_norm``; TypeError: Hutchinson without a ``key``.

    References:
        Chaudhari & Soatto 2018; Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient
        Descent" (``C ≈ H`` near minima); Kunstner et al. 2019 (empirical Fisher).
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    if hessian_norm not in ("exact", "hutchinson"):
        raise ValueError(f"hessian_norm must be 'exact' or 'hutchinson', got {hessian_norm!r}")
    n = obj.n_examples
    g = np.concatenate([np.asarray(b, np.float64) for _, b in obj.grad_blocks()])
    G = g.mean(axis=0)
    dev = g - G
    cc = float(np.sum((dev @ dev.T) ** 2)) / n**2
    ff = float(np.sum((g @ g.T) ** 2)) / n**2
    cf = float(np.sum((dev @ g.T) ** 2)) / n**2
    hd = np.asarray(obj.hvps(dev.astype(obj.dtype)), np.float64)
    ch = float(np.sum(dev * hd)) / n
    fh = float(np.sum(g * np.asarray(obj.hvps(g.astype(obj.dtype)), np.float64))) / n
    if hessian_norm == "exact":
        hh = float(np.sum(np.asarray(obj.hvps(np.eye(obj.dim, dtype=obj.dtype)), np.float64) ** 2))
    else:
        key = as_key(key)
        m = count("n_samples", n_samples, item_bytes=8 * obj.dim)
        v = np.asarray(jax.random.rademacher(key, (m, obj.dim)), np.float64)
        hh = float(np.mean(np.sum(np.asarray(obj.hvps(v.astype(obj.dtype)), np.float64) ** 2, axis=1)))
    sc, sf, sh = np.sqrt(cc), np.sqrt(ff), np.sqrt(hh)
    return {
        "cos_cov_fisher": cf / (sc * sf),
        "cos_cov_hessian": ch / (sc * sh),
        "cos_fisher_hessian": fh / (sf * sh),
        "cov_fro": sc,
        "fisher_fro": sf,
        "hessian_fro": sh,
    }
