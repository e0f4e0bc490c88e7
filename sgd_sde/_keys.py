"""PRNG-key validation shared by every entry point that takes a ``key``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_key"]


def check_key(key) -> jax.Array:
    """Validate a PRNG key (typed ``jax.random.key`` or legacy ``PRNGKey``) and return a typed key.

    Raises:
        TypeError: if ``key`` is not a single PRNG key.
        ValueError: if it is a batch of keys.
    """
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key, got shape {key.shape}")
        return key
    arr = np.asarray(key) if not isinstance(key, jax.core.Tracer) else None
    if arr is None or arr.dtype != np.uint32 or arr.shape != (2,):
        raise TypeError("key must be a jax.random.key(...) or jax.random.PRNGKey(...) value")
    return jax.random.wrap_key_data(jnp.asarray(arr))
