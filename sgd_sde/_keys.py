"""PRNG-key validation shared by every entry point that takes a ``key``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_key", "MAX_SEED"]

#: Largest ``int`` seed accepted where a seed may stand for a key. Without x64 JAX keeps only the
#: low 32 bits of a seed (``key(2**32 + 5) == key(5)``) and a negative seed aliases a positive
#: one (``key(-1) == key(2**32 - 1)``), with x64 it does not: only ``[0, 2**32 - 1]`` gives the
#: same, distinct key in both modes.
MAX_SEED = 2**32 - 1


def check_key(key, *, allow_seed: bool = False) -> jax.Array:
    """Validate a PRNG key (typed ``jax.random.key`` or legacy ``PRNGKey``) and return a typed key.

    Args:
        key: a typed key, a legacy ``uint32[2]`` key or, with ``allow_seed``, an ``int`` seed in
            ``[0, MAX_SEED]`` (turned into ``jax.random.key(seed)``).
        allow_seed: accept an ``int`` seed.

    Raises:
        TypeError: if ``key`` is not a single PRNG key (or an ``int`` seed where one is allowed).
        ValueError: if it is a batch of keys, or a seed outside ``[0, MAX_SEED]``.
    """
    if allow_seed and isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        seed = int(key)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"key must be a PRNG key or an int seed in [0, 2**32 - 1], got key={seed} (JAX keeps "
                             "only 32 bits of a seed unless x64 is on, so larger or negative seeds would alias)")
        return jax.random.key(seed)
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key, got shape {key.shape}")
        return key
    arr = np.asarray(key) if not isinstance(key, jax.core.Tracer) else None
    if arr is None or arr.dtype != np.uint32 or arr.shape != (2,):
        seed = " or an int seed" if allow_seed else ""
        raise TypeError(f"key must be a jax.random.key(...) or jax.random.PRNGKey(...) value{seed}")
    return jax.random.wrap_key_data(jnp.asarray(arr))
