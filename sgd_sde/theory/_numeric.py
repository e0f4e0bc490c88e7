"""Shared numeric plumbing: argument checks for the theory exports and cached ``lambdify``.

Every numeric export is generated from its SymPy source with :func:`compiled` (``sympy.lambdify``
to NumPy, cached per expression so SymPy is imported on first use, never at import time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .. import _validate as V

__all__ = ["compiled", "positive_values", "integer_values", "flag", "vector", "psd_matrix", "batch_factor"]


@functools.lru_cache(maxsize=None)
def compiled(module: str, name: str, backend: str = "numpy") -> Callable:
    """``lambdify`` the SymPy expression ``module._symbolic()[name]`` over its ``_ARGS[name]``.

    ``backend="jax"`` gives a ``jax.numpy`` function (jit/vmap-able, dtype-preserving) for use
    inside JAX code; the default is NumPy.
    """
    import importlib

    import sympy as sp

    if backend not in ("numpy", "jax"):
        raise ValueError(f"backend must be 'numpy' or 'jax', got backend={backend!r}")
    mod = importlib.import_module(f"sgd_sde.theory.{module}")
    exprs, args = mod._symbolic(), mod._ARGS[name]
    symbols = [exprs["symbols"][a] for a in args]
    return sp.lambdify(symbols, exprs[name], modules=backend)


def positive_values(name: str, value, *, allow_zero: bool = False):
    """A positive scalar (``float``) or array of positive values (float64 ``ndarray``); a ``bool``
    (or a boolean array) is a ``TypeError``, not the number 1."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    arr = V.finite_array(name, value)
    if arr.dtype == bool:
        raise TypeError(f"{name} must be a real number {'>= 0' if allow_zero else '> 0'}, got a boolean array")
    arr = arr.astype(np.float64)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {name}={value!r}")
    return float(arr) if arr.ndim == 0 else arr


def integer_values(name: str, value, *, minimum: int = 1, scalar: bool = False):
    """A count (batch size, data-set size) ``>= minimum``: a whole number (``3`` or ``3.0``), or an array of them.

    Returns a ``float`` for a scalar (the formulas divide by it) or a float64 ``ndarray``.

    Raises:
        TypeError: not a real number or numeric array (``bool`` is refused).
        ValueError: non-finite, not whole, below ``minimum`` or above ``2**31 - 1``; an array when
            ``scalar``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    arr = V.finite_array(name, value)
    if arr.dtype == bool:
        raise TypeError(f"{name} must be an integer >= {minimum}, got a boolean array")
    if scalar and arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar integer >= {minimum}, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be a whole number (a count), got {name}={value!r}")
    if np.any(arr < minimum):
        raise ValueError(f"{name} must be > {minimum - 1} (an integer >= {minimum}), got {name}={value!r}")
    if np.any(arr > V.MAX_COUNT):
        raise ValueError(f"{name} must be an integer <= {V.MAX_COUNT}, got {name}={value!r}")
    return float(arr) if arr.ndim == 0 else arr


def broadcast(**arrays) -> None:
    """Refuse array arguments whose shapes do not broadcast together (NumPy's rules), naming them,
    before any arithmetic (NumPy's own message names only shapes)."""
    shapes = {name: np.shape(value) for name, value in arrays.items()}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        named = ", ".join(f"{name} of shape {shape}" for name, shape in shapes.items())
        raise ValueError(f"{', '.join(shapes)} must broadcast together (NumPy's rules), got {named}") from None


flag = V.flag  # a real bool; one definition for the package


def vector(name: str, value) -> np.ndarray:
    return V.finite_array(name, value, ndim=1).astype(np.float64)


def psd_matrix(name: str, value, dim: int | None = None) -> np.ndarray:
    arr = V.symmetric_psd(name, value).astype(np.float64)
    if dim is not None and arr.shape != (dim, dim):
        raise ValueError(f"{name} must have shape ({dim}, {dim}) to match the other arguments, got {arr.shape}")
    return 0.5 * (arr + arr.T)


def batch_factor(batch_size, n_examples: int | None, replace: bool):
    """Variance factor of a minibatch mean: ``1/B`` (with replacement / infinite N), else ``(N-B)/(B(N-1))``."""
    if replace or n_examples is None:
        return 1.0 / batch_size
    if n_examples == 1:
        return 0.0
    return (n_examples - batch_size) / (batch_size * (n_examples - 1.0))
