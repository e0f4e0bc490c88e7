"""Eager argument checks shared by every public constructor and function.

Each raises ``ValueError`` (or ``TypeError``) naming the argument and the allowed range, before
anything is traced. They accept Python or NumPy scalars and concrete arrays only.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "as_float",
    "as_int",
    "positive",
    "nonnegative",
    "positive_int",
    "in_open_interval",
    "finite_array",
    "symmetric_psd",
    "concrete",
    "count",
    "fits_in_memory",
    "flat_list",
    "MAX_COUNT",
]

#: Largest loop count or array length any entry point accepts: the engine's step counters, save
#: indices and JAX shapes are int32.
MAX_COUNT = 2**31 - 1


def concrete(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a NumPy array, refusing tracers (checks must run before tracing)."""
    try:
        return np.asarray(value)
    except Exception as err:  # jax tracers raise TracerArrayConversionError here
        raise TypeError(f"{name} must be a concrete value (validated before tracing), got {type(value).__name__}") from err


def as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    arr = concrete(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real number, got dtype {arr.dtype}")
    out = float(arr)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {name}={out}")
    return out


def as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return int(value)
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def positive(name: str, value: Any) -> float:
    out = as_float(name, value)
    if not out > 0:
        raise ValueError(f"{name} must be > 0, got {name}={out}")
    return out


def nonnegative(name: str, value: Any) -> float:
    out = as_float(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={out}")
    return out


def flag(name: str, value: Any) -> bool:
    """A real ``bool`` (``np.bool_`` too), returned as ``bool``; anything else (``0``, ``1``,
    ``"yes"``, ``None``, an array) is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__} {value!r}")
    return bool(value)


def positive_int(name: str, value: Any) -> int:
    out = as_int(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {name}={out}")
    return out


def count(name: str, value: Any, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """An integer count (steps, particles, grid points, replicates) in ``[minimum, maximum]``.

    Raises:
        TypeError: not an integer (``bool`` is refused; an integral float is accepted).
        ValueError: outside ``[minimum, maximum]`` — the message names ``name`` and the range.
    """
    out = as_int(name, value)
    if not minimum <= out <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {name}={out}")
    return out


def flat_list(name: str, values: Any) -> list:
    """The entries of a flat list/array argument (a scalar counts as one entry).

    Raises:
        ValueError: a nested, ragged or multi-dimensional ``values``, naming ``name``.
    """
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=object))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must be a flat list of numbers, got {type(values).__name__} {str(values)[:60]}") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat list (1-d), got shape {arr.shape}")
    return list(arr)


def _physical_memory() -> int:
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no limit we can state
        return 2**62


def fits_in_memory(name: str, n_bytes: float, what: str = "the result") -> None:
    """Refuse, before allocating, a request whose ``n_bytes`` exceed this machine's physical memory.

    ``name`` is the argument (or arguments) that set the size; the message names them and the size.

    Raises:
        ValueError: ``n_bytes`` > physical memory.
    """
    limit = _physical_memory()
    if n_bytes > limit:
        raise ValueError(f"{name} asks for {what} of {n_bytes / 2**30:.3g} GiB, more than this machine's "
                         f"{limit / 2**30:.3g} GiB of memory; reduce {name}")


def in_open_interval(name: str, value: Any, lo: float, hi: float) -> float:
    out = as_float(name, value)
    if not lo < out < hi:
        raise ValueError(f"{name} must lie in ({lo}, {hi}), got {name}={out}")
    return out


def finite_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    arr = concrete(name, value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN/inf)")
    return arr


def symmetric_psd(name: str, value: Any, *, rtol: float = 1e-6, strict: bool = False) -> np.ndarray:
    """Check that ``value`` is a symmetric positive semi-definite (or definite) square matrix."""
    arr = finite_array(name, value, ndim=2)
    if arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {arr.shape}")
    a = arr.astype(np.float64)
    scale = max(float(np.max(np.abs(a))), 1e-300)
    if not np.allclose(a, a.T, rtol=0.0, atol=rtol * scale):
        raise ValueError(f"{name} must be symmetric (max |A - A^T| = {float(np.max(np.abs(a - a.T))):.3g})")
    lam_min = float(np.linalg.eigvalsh(0.5 * (a + a.T))[0])
    if strict and not lam_min > rtol * scale:
        raise ValueError(f"{name} must be positive definite, smallest eigenvalue is {lam_min:.3g}")
    if lam_min < -rtol * scale:
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue is {lam_min:.3g}")
    return arr
