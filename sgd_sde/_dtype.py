"""The dtype a model stores for the caller's arrays, and the float64-downcast warning (JAX without
x64 turns float64 input into float32 silently)."""

from __future__ import annotations

import os
import sys
import warnings

import equinox as eqx
import jax
import numpy as np

__all__ = ["float_dtype", "warn_if_downcast"]


def float_dtype(value) -> np.dtype:
    """The float dtype a model stores for the array ``value``: its own float dtype (bfloat16 and
    float16 included; float64 only with x64 on), else JAX's default float (float32, or float64 with
    x64 on). Integer and boolean input is not truncated: ``Dense([[2, 0], [0, 2]])`` has the root √2."""
    dtype = np.dtype(value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype)
    if not jax.numpy.issubdtype(dtype, jax.numpy.floating):
        dtype = np.dtype(np.float64)
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))

_WARNED: set[str] = set()


def warn_if_downcast(name: str, value) -> None:
    """Warn once per argument name (per process) when ``value`` — the caller's own argument, before
    any conversion — is a float64 array and x64 is off. Python floats and lists are not warned
    about: like ``jnp.asarray``, they carry no precision request.

    Raises nothing; emits a ``UserWarning`` naming ``name`` and the cure
    (``jax.config.update("jax_enable_x64", True)``, or pass float32).
    """
    dtype = getattr(value, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.float64 or jax.config.jax_enable_x64 or name in _WARNED:
        return
    _WARNED.add(name)
    warnings.warn(
        f"{name} is float64 but JAX's x64 mode is off, so it is used as float32; pass float32 to silence "
        "this, or enable x64 (jax.config.update('jax_enable_x64', True), or `with jax.enable_x64(True):`)",
        UserWarning, stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside sgd_sde and equinox (the user's call)."""
    skip = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(eqx.__file__)))
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        frame, level = frame.f_back, level + 1
    return level
