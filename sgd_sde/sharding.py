r"""Scale-out: particles over devices, and grids of ``(lr, B)`` as one program.

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

* :func:`particle_sharding` — the sharding :func:`sgd_sde.simulate` uses for ``devices=``/``mesh=``.
* :func:`sweep` — a grid of learning rates and batch sizes vmapped into one compiled program
  (one compile for the whole grid; the grid points share the noise: common random numbers).

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from sgd_sde.landscapes import Quadratic
    >>> from sgd_sde.dynamics import SGD
    >>> from sgd_sde.noise import Isotropic
    >>> runs = sweep(jax.random.key(0), Quadratic(jnp.eye(2)), SGD(lr=0.1, batch_size=1), jnp.ones(2),
    ...              lrs=[0.05, 0.1], batch_sizes=[1, 8], noise=Isotropic(1.0), n_steps=50, n_particles=16)
    >>> sorted(runs), runs[(0.1, 8)].theta.shape
    ([(0.05, 1), (0.05, 8), (0.1, 1), (0.1, 8)], (16, 2))

References:
    JAX documentation, "Distributed arrays and automatic parallelization" and "Multi-process
    environments" (jax.sharding, jax.distributed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax
import numpy as np

from . import _validate as V
from .dynamics import AbstractDynamics
from .trajectory import Trajectory

__all__ = ["particle_sharding", "sweep", "PARTICLE_AXIS"]

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
                raise ValueError(f"devices={n} but only {len(avail)} devices are visible: {avail}")
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


def sweep(
    key,
    landscape,
    dynamics: AbstractDynamics,
    theta0,
    *,
    lrs,
    batch_sizes=None,
    noise=None,
    n_steps: int,
    n_particles: int = 1,
    save_every: int | None = None,
    save_at=None,
    observables=("loss", "distance_from_init"),
    progress: bool | None = None,
    chunk_size: int | None = None,
    divergence_bound: float = 1e6,
    devices=None,
    mesh=None,
) -> dict[tuple[float, int], Trajectory]:
    r"""Run ``dynamics`` on the grid ``lrs × batch_sizes`` as one vmapped, compiled program.

    Equivalent to calling :func:`sgd_sde.simulate` once per grid point with ``lr`` and
    ``batch_size`` replaced (and the same ``key``: the grid points see the same noise draws, i.e.
    common random numbers, which makes differences between them low-variance), but compiled once
    and run as one batched program. The learning rate and batch size enter as traced values, so a
    new grid of the same size does not recompile. Results equal the separate runs up to float
    rounding (batched mat-vecs may round differently), not bit for bit.

    Noise models whose sample shape depends on ``B`` (:class:`~sgd_sde.noise.ExactMinibatch`)
    get one vmapped program per distinct batch size (over the learning rates).

    Args:
        key, landscape, dynamics, theta0, noise, n_steps, n_particles, save_every, save_at,
        observables, progress, chunk_size, divergence_bound, devices, mesh: as for
            :func:`sgd_sde.simulate` (``dynamics`` supplies everything but ``lr``/``batch_size``).
        lrs: learning rates, each ``> 0``.
        batch_sizes: batch sizes, each an integer ``≥ 1`` (default: ``dynamics.batch_size``).

    Returns:
        ``{(lr, batch_size): Trajectory}`` for every grid point, in grid order.

    Raises:
        ValueError: on an empty or non-positive ``lrs``/``batch_sizes``, and anything
            :func:`sgd_sde.simulate` raises.

    Examples:
        See the module docstring.

    References:
        Goyal et al. 2017, "Accurate, Large Minibatch SGD" and Smith & Le 2018, "A Bayesian
        Perspective on Generalization and Stochastic Gradient Descent" (why one sweeps (lr, B)).
    """
    from .simulate import _drive

    if not isinstance(dynamics, AbstractDynamics):
        raise TypeError(f"dynamics must be an AbstractDynamics, got {type(dynamics).__name__}")
    lr_list = [V.positive("lrs", v) for v in np.atleast_1d(np.asarray(lrs, dtype=object)).ravel()]
    if not lr_list:
        raise ValueError("lrs must hold at least one learning rate")
    if batch_sizes is None:
        bs_list = [dynamics.batch_size if dynamics.batch_size is None else int(dynamics.batch_size)]
    else:
        bs_list = [V.positive_int("batch_sizes", v) for v in np.atleast_1d(np.asarray(batch_sizes, dtype=object)).ravel()]
        if not bs_list:
            raise ValueError("batch_sizes must hold at least one batch size")
    kw = dict(
        noise=noise, n_steps=n_steps, n_particles=n_particles, save_every=save_every, save_at=save_at,
        observables=observables, schedule=None, progress=progress, chunk_size=chunk_size,
        divergence_bound=divergence_bound, devices=devices, mesh=mesh,
    )
    grid = list(itertools.product(lr_list, bs_list))
    out: dict[tuple[float, int], Trajectory] = {}
    if noise is not None and not noise.supports_batch_schedule:  # B fixes the sample's shape: one program per B
        for b in bs_list:
            dyn = eqx.tree_at(lambda m: m.batch_size, dynamics, b)
            runs = _drive(key, landscape, dyn, theta0, grid=(lr_list, None), **kw)
            out.update({(lr, b): t for lr, t in zip(lr_list, runs)})
        return {g: out[g] for g in grid}
    runs = _drive(key, landscape, dynamics, theta0, grid=([g[0] for g in grid], [g[1] for g in grid]), **kw)
    return dict(zip(grid, runs))
