r"""Loss along 1-D lines and on 2-D planes in parameter space.

* :func:`filter_normalized_direction` — Li et al. 2018's random direction, rescaled filter by
  filter to the norm of the corresponding filter of the params (1-D leaves — biases and
  batch-norm parameters — zeroed by default, their ``ignore='biasbn'``).
* :func:`loss_along_line`, :func:`loss_on_plane` — ``f(θ + α d)`` and ``f(θ + α d₁ + β d₂)``.
* :func:`interpolate` — ``f((1 − α) θ_a + α θ_b)``, Keskar et al.'s parametric plot between a
  small-batch and a large-batch solution (``α ∈ [−1, 2]``, 25 points by default).

References:
    Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss Landscape of Neural Nets"
    (NeurIPS); Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization Gap
    and Sharp Minima", Figure 3; Goodfellow, Vinyals & Saxe 2015, "Qualitatively Characterizing
    Neural Network Optimization Problems".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .. import _validate as V
from ._core import Objective, as_key, check_data, check_params

__all__ = ["filter_normalized_direction", "loss_along_line", "loss_on_plane", "interpolate"]


def filter_normalized_direction(key, params: Any, *, ignore_1d: bool = True) -> Any:
    r"""A Gaussian direction with each filter rescaled to the norm of the params' filter.

    For every leaf with ``ndim ≥ 2`` the filters are the slices along axis 0 (a linear layer's
    output units, a convolution's output channels): ``d_f ← d_f ‖θ_f‖ / ‖d_f‖``. Leaves with
    ``ndim ≤ 1`` are zeroed (``ignore_1d=True``) or set equal to the params (Li et al.'s default
    otherwise).

    Args:
        key: ``jax.random`` key.
        params: PyTree of arrays.
        ignore_1d: zero 1-D leaves.

    Returns:
        A PyTree like ``params``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> p = {"w": jnp.array([[3.0, 4.0], [0.0, 1.0]]), "b": jnp.ones(2)}
        >>> d = filter_normalized_direction(jax.random.key(0), p)
        >>> [round(float(v), 5) for v in jnp.linalg.norm(d["w"], axis=1)], d["b"].tolist()
        ([5.0, 1.0], [0.0, 0.0])

    References:
        Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", Section 4.
    """
    key = as_key(key)
    ignore_1d = V.flag("ignore_1d", ignore_1d)
    check_params(params)
    return _filter_normalized(key, params, ignore_1d)


@eqx.filter_jit
def _filter_normalized(key, params, ignore_1d: bool):
    flat, unravel = ravel_pytree(params)
    noise = jax.tree_util.tree_leaves(unravel(jax.random.normal(key, flat.shape, flat.dtype)))  # one draw
    leaves, treedef = jax.tree_util.tree_flatten(params)
    out = []
    for d, w in zip(noise, leaves):
        w = jnp.asarray(w)
        if w.ndim <= 1:
            out.append(jnp.zeros_like(w) if ignore_1d else w)
            continue
        d = d.astype(w.dtype)
        axes = tuple(range(1, w.ndim))
        dn = jnp.sqrt(jnp.sum(d**2, axis=axes, keepdims=True))
        wn = jnp.sqrt(jnp.sum(w**2, axis=axes, keepdims=True))
        out.append(d * wn / (dn + 1e-10))
    return jax.tree_util.tree_unflatten(treedef, out)


def _flat_dir(direction, params, name):
    check_params(direction, name)
    d, _ = ravel_pytree(direction)
    t, _ = ravel_pytree(params)
    if d.shape != t.shape or jax.tree_util.tree_structure(direction) != jax.tree_util.tree_structure(params):
        raise ValueError(f"{name} must have the same PyTree structure and shapes as params")
    return d.astype(t.dtype)


def _alphas(name, values):
    a = V.finite_array(name, values, ndim=1).astype(np.float64)
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    return a


def loss_along_line(loss_fn: Callable, params: Any, X, y, direction: Any, alphas=np.linspace(-1.0, 1.0, 51), *, chunk_size: int = 256) -> np.ndarray:
    """Mean loss ``f(θ + α d)`` for each ``α`` in ``alphas``; returns ``(len(alphas),)`` float64.

    Raises:
        ValueError: if ``direction`` does not match ``params`` or ``alphas`` is empty/non-finite.

    References:
        Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"; Goodfellow et al. 2015.
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    d = _flat_dir(direction, params, "direction")
    a = _alphas("alphas", alphas)
    return np.array([float(obj.value(obj.theta + jnp.asarray(x, obj.dtype) * d)) for x in a])


def loss_on_plane(
    loss_fn: Callable, params: Any, X, y, direction1: Any, direction2: Any,
    alphas=np.linspace(-1.0, 1.0, 21), betas=np.linspace(-1.0, 1.0, 21), *, chunk_size: int = 256,
) -> np.ndarray:
    """Mean loss ``f(θ + α d₁ + β d₂)`` on the grid, shape ``(len(alphas), len(betas))``.

    References:
        Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", Section 5.
    """
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    d1 = _flat_dir(direction1, params, "direction1")
    d2 = _flat_dir(direction2, params, "direction2")
    a, b = _alphas("alphas", alphas), _alphas("betas", betas)
    out = np.zeros((a.size, b.size))
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            out[i, j] = float(obj.value(obj.theta + jnp.asarray(ai, obj.dtype) * d1 + jnp.asarray(bj, obj.dtype) * d2))
    return out


def interpolate(
    loss_fn: Callable, params_a: Any, params_b: Any, X, y, alphas=np.linspace(-1.0, 2.0, 25), *,
    metric_fn: Callable | None = None, chunk_size: int = 256,
) -> dict[str, np.ndarray]:
    r"""Loss (and optionally a metric) along ``θ(α) = (1 − α) θ_a + α θ_b``.

    With ``θ_a`` a small-batch and ``θ_b`` a large-batch solution and ``α ∈ [−1, 2]`` this is
    Keskar et al.'s parametric plot (their Figure 3).

    Args:
        loss_fn: per-example loss; params_a, params_b: PyTrees of the same structure.
        X, y: data (e.g. train or test set).
        alphas: interpolation coefficients.
        metric_fn: optional per-example metric ``metric_fn(params, x, y)`` (e.g. 0/1 accuracy),
            averaged like the loss.

    Returns:
        dict ``alpha``, ``loss`` (and ``metric``), float64 arrays.

    Raises:
        ValueError: if the two params differ in structure, ``alphas`` is empty/non-finite.

    Examples:
        >>> import jax.numpy as jnp
        >>> f = lambda p, x, t: jnp.sum((p - x) ** 2)
        >>> out = interpolate(f, jnp.zeros(2), jnp.ones(2), jnp.zeros((1, 2)), jnp.zeros(1), [0.0, 0.5, 1.0])
        >>> out["loss"].tolist()
        [0.0, 0.5, 2.0]

    References:
        Keskar et al. 2017, "On Large-Batch Training for Deep Learning", Section 2.2, Figure 3;
        Goodfellow, Vinyals & Saxe 2015, "Qualitatively Characterizing Neural Network Optimization
        Problems".
    """
    check_data(X, y)
    obj = Objective(loss_fn, params_a, X, y, chunk_size=chunk_size)
    tb = _flat_dir(params_b, params_a, "params_b")
    a = _alphas("alphas", alphas)
    out = {"alpha": a, "loss": np.array([float(obj.value((1 - x) * obj.theta + x * tb)) for x in a])}
    if metric_fn is not None:
        mobj = Objective(metric_fn, params_a, X, y, chunk_size=chunk_size)
        out["metric"] = np.array([float(mobj.value((1 - x) * mobj.theta + x * tb)) for x in a])
    return out
