r"""Scale-out: particles over devices.

Everything here is JAX's own distribution — :class:`jax.sharding.NamedSharding` over a
:class:`jax.sharding.Mesh`, and :func:`jax.distributed.initialize` for several hosts — with no
scheduler of our own. The ensemble state is ``(d, P)`` with particles on the minor axis, so
splitting particles over devices splits the last axis and every step is embarrassingly parallel:
the mat-vecs ``H θ`` / ``C^{1/2} z`` and the per-particle divergence check need no communication.

Noise is counter-based (``fold_in(key, step)`` then threefry with
``jax_threefry_partitionable=True``, the default since JAX 0.5), so each device generates exactly
the bits of its own particles: **a sharded run draws bit-identical noise to the single-device run
for the same key**, and its floats agree to rounding (XLA picks a matmul kernel by shard shape, so
the last bits may differ on some CPUs; see docs/performance.md).

This module holds device placement only:

* :func:`particle_sharding` — the sharding :func:`sgd_sde.simulate` uses for ``devices=``/``mesh=``;
* :func:`place`, :func:`constrain`, :func:`leaf_shardings` — put a carry on it (outside a
  program) and pin it (inside one).

The grid of learning rates and batch sizes is :func:`sgd_sde.simulate.sweep` (``sharding.sweep``
is a deprecated alias).

Examples:
    >>> import jax, jax.numpy as jnp
    >>> s = particle_sharding(devices=1, n_particles=4)
    >>> place({"theta": jnp.ones((2, 4))}, s)["theta"].sharding == s
    True

References:
    JAX documentation, "Distributed arrays and automatic parallelization" and "Multi-process
    environments" (jax.sharding, jax.distributed).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import jax
import numpy as np

from . import _validate as V

__all__ = ["particle_sharding", "constrain", "place", "leaf_shardings", "PARTICLE_AXIS"]

PARTICLE_AXIS = "particles"


def particle_sharding(devices=None, mesh=None, *, n_particles: int | None = None) -> jax.sharding.NamedSharding:
    """The :class:`~jax.sharding.NamedSharding` of a ``(d, P)`` ensemble split over particles.

    Args:
        devices: a non-empty sequence of distinct ``jax.Device`` (one mesh axis named
            ``"particles"``), or an int ``n`` for the first ``n`` of ``jax.devices()``.
        mesh: alternatively a :class:`jax.sharding.Mesh`; particles are split over *all* its axes.
        n_particles: if given, checked to be a multiple of the number of devices.

    Returns:
        ``NamedSharding(mesh, PartitionSpec(None, axes))``: parameters replicated, particles split.

    Raises:
        ValueError: if both or neither of ``devices``/``mesh`` are given, ``devices`` is empty,
            repeats a device or asks for more than exist, or ``n_particles`` is not a multiple
            of the device count.
        TypeError: if ``mesh`` is not a ``jax.sharding.Mesh`` or ``devices`` holds non-devices.

    Examples:
        >>> s = particle_sharding(devices=1, n_particles=8)
        >>> s.spec
        P(None, 'particles')
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if (devices is None) == (mesh is None):
        raise ValueError("give exactly one of devices= and mesh=")
    if mesh is not None:
        if not isinstance(mesh, Mesh):
            raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
        axes = tuple(mesh.axis_names)
        # the simulator lets GSPMD propagate shardings (Auto axes); an Explicit mesh (the default
        # of jax.make_mesh) would demand sharding-in-types through every vmapped kernel
        mesh = Mesh(mesh.devices, axes)
    else:
        if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
            n = V.positive_int("devices", devices)
            avail = jax.devices()
            if n > len(avail):
                seen = f"{len(avail)} device is" if len(avail) == 1 else f"{len(avail)} devices are"
                hint = (f"; on a CPU, start Python with XLA_FLAGS=--xla_force_host_platform_device_count={n}"
                        if all(dv.platform == "cpu" for dv in avail) else "")
                raise ValueError(f"devices={n} but only {seen} visible: {avail}{hint}")
            devs = avail[:n]
        elif isinstance(devices, (Sequence, np.ndarray)) and not isinstance(devices, (str, bytes)):
            devs = list(np.asarray(devices, dtype=object).ravel())
            if not devs:
                raise ValueError("devices must be non-empty")
            if not all(isinstance(dv, jax.Device) for dv in devs):
                raise TypeError("devices must be jax.Device objects (e.g. jax.devices()[:4]) or an int")
            if len(set(devs)) != len(devs):
                raise ValueError(f"devices must be distinct, got {devs}")
        else:
            raise TypeError(f"devices must be a sequence of jax.Device or an int, got {type(devices).__name__}")
        mesh = Mesh(np.asarray(devs, dtype=object), (PARTICLE_AXIS,))
        axes = (PARTICLE_AXIS,)
    if n_particles is not None and n_particles % mesh.size:
        raise ValueError(
            f"n_particles = {n_particles} must be a multiple of the number of devices ({mesh.size}) to shard particles"
        )
    return NamedSharding(mesh, PartitionSpec(None, axes))


def leaf_shardings(tree, sharding):
    """A sharding per leaf: the last (particle) axis split like ``sharding``, the rest replicated."""
    from jax.sharding import NamedSharding, PartitionSpec

    axes = sharding.spec[-1]
    return jax.tree_util.tree_map(
        lambda x: NamedSharding(sharding.mesh, PartitionSpec(*([None] * (x.ndim - 1)), axes)), tree
    )


def constrain(tree, sharding):
    """Pin every leaf's last (particle) axis to ``sharding``'s mesh axes inside a traced program
    (no-op when ``sharding`` is ``None``)."""
    if sharding is None:
        return tree
    return jax.tree_util.tree_map(jax.lax.with_sharding_constraint, tree, leaf_shardings(tree, sharding))


def place(tree, sharding):
    """Put every leaf of ``tree`` (the same on every process) on its particle sharding; with
    several processes each fills its own shards. No-op when ``sharding`` is ``None``."""
    if sharding is None:
        return tree

    def put(x, s):
        if jax.process_count() == 1:
            return jax.device_put(x, s)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, s, lambda index: host[index])

    return jax.tree_util.tree_map(put, tree, leaf_shardings(tree, sharding))


def __getattr__(name):
    if name == "sweep":  # the grid front door moved beside simulate (sharding holds placement only)
        warnings.warn("sgd_sde.sharding.sweep is deprecated; use sgd_sde.sweep (from sgd_sde.simulate import sweep; same signature)",
                      DeprecationWarning, stacklevel=2)
        from .simulate import sweep

        return sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
