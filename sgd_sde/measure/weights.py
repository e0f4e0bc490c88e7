"""Simple parameter-space observables: distance from initialisation and weight norms.

References:
    Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better: Closing the Generalization Gap
    in Large Batch Training of Neural Networks" (``‖w_t − w_0‖ ∝ log t``).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["tree_sq_norm", "weight_norm", "distance_from_init"]


def _leaves(tree):
    return [x for x in jax.tree_util.tree_leaves(tree) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]


@eqx.filter_jit
def tree_sq_norm(tree: Any):
    """``Σ ‖leaf‖²`` over floating-point leaves (a JAX scalar)."""
    return sum((jnp.sum(jnp.square(x)) for x in _leaves(tree)), jnp.zeros(()))


@eqx.filter_jit
def weight_norm(params: Any):
    """Euclidean norm of all floating-point leaves of ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(weight_norm({"w": jnp.array([3.0]), "b": jnp.array([4.0])}))
        5.0
    """
    return jnp.sqrt(tree_sq_norm(params))


def distance_from_init(params: Any, params0: Any):
    """``‖w − w_0‖`` over matching floating-point leaves (Hoffer et al. 2017's diffusion distance).

    Raises:
        ValueError: if the two PyTrees have different structures or leaf shapes.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(distance_from_init([jnp.array([1.0, 1.0])], [jnp.array([1.0, -1.0])]))
        2.0

    References:
        Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better".
    """
    a, b = _leaves(params), _leaves(params0)
    if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(params0) or len(a) != len(b):
        raise ValueError("params and params0 must have the same PyTree structure")
    for x, y in zip(a, b):
        if jnp.iscomplexobj(x) or jnp.iscomplexobj(y):
            raise TypeError("params and params0 must have real floating-point leaves, got a complex leaf")
        if x.shape != y.shape:
            raise ValueError(f"params and params0 must have leaves of the same shapes, got {x.shape} and {y.shape}")
    return _distance(a, b)


@eqx.filter_jit
def _distance(a, b):
    return jnp.sqrt(sum((jnp.sum(jnp.square(x - y)) for x, y in zip(a, b)), jnp.zeros(())))
