"""The front doors: :func:`simulate` (one ensemble) and :func:`sweep` (a grid of ``(lr, B)``).

``simulate(key, landscape, dynamics, theta0, *, noise=..., n_steps=...)`` validates its arguments
before anything is traced, then runs ``n_particles`` copies of ``dynamics`` on ``landscape`` in the
one compiled loop of :mod:`sgd_sde._engine` (a ``lax.scan`` over save intervals), in chunks for
progress and bounded memory. Noise for step ``k`` comes from ``fold_in(key, k)``, so results are
bit-identical however the run is chunked. Particles that go non-finite or beyond
``divergence_bound`` are frozen at their last finite state and flagged with the step at which it
happened; the rest of the ensemble goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import sys
import weakref
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _engine
from . import _validate as V
from . import observables as _obs
from .dynamics import AbstractDynamics
from .landscapes.base import AbstractLandscape
from .noise import AbstractNoise, NoNoise
from .schedules import Schedule, evaluate
from ._dtype import float_dtype, warn_if_downcast
from ._keys import check_key
from .sharding import particle_sharding, place
from .grid import SimulationGrid, check_keys_mode
from .trajectory import Trajectory

__all__ = ["simulate", "sweep", "save_points", "check_key", "check_components"]


def check_components(landscape, dynamics, noise) -> AbstractNoise:
    """Type checks shared by every driver; returns ``noise`` (``NoNoise()`` for ``None``).

    Raises:
        TypeError: naming the argument of the wrong type.
    """
    if not isinstance(landscape, AbstractLandscape):
        raise TypeError(f"landscape must be an AbstractLandscape, got {type(landscape).__name__}")
    if not isinstance(dynamics, AbstractDynamics):
        raise TypeError(f"dynamics must be an AbstractDynamics, got {type(dynamics).__name__}")
    noise = NoNoise() if noise is None else noise
    if not isinstance(noise, AbstractNoise):
        raise TypeError(f"noise must be an AbstractNoise (or None), got {type(noise).__name__}")
    if getattr(dynamics, "batch_size", None) is None and not isinstance(noise, NoNoise):
        raise ValueError(
            f"batch_size: {type(dynamics).__name__}(batch_size=None) uses exact gradients; give batch_size=B "
            f"(an integer >= 1) to use noise={type(noise).__name__}"
        )
    return noise


def save_points(n_steps: int, save_every: int | None = None, save_at=None) -> np.ndarray:
    """The steps at which observables are recorded (always including 0 and ``n_steps``).

    Args:
        n_steps: total number of steps (≥ 1).
        save_every: record every this many steps (default: about 100 saves).
        save_at: explicit steps in ``[0, n_steps]`` (e.g. log-spaced); overrides ``save_every``.

    Raises:
        ValueError: if ``save_every < 1`` or a ``save_at`` entry is outside ``[0, n_steps]``.
    """
    n = V.positive_int("n_steps", n_steps)
    if save_at is not None:
        pts = V.finite_array("save_at", save_at, ndim=1)
        if pts.size == 0:
            raise ValueError("save_at must hold at least one step")
        if not np.all(pts == np.round(pts)) or pts.min() < 0 or pts.max() > n:
            raise ValueError(f"save_at entries must be integers in [0, n_steps={n}]")
        return np.unique(np.concatenate([[0], pts.astype(np.int64), [n]]))
    every = max(1, n // 100) if save_every is None else V.positive_int("save_every", save_every)
    return np.unique(np.concatenate([np.arange(0, n, every, dtype=np.int64), [n]]))


def _is_inf(value) -> bool:
    """``value`` is ``+inf`` (``math.inf``, ``np.inf``, a 0-d array): "only non-finite values diverge"."""
    try:
        return bool(np.ndim(value) == 0 and np.isposinf(value))
    except TypeError:
        return False


def _validate_theta0(theta0, landscape, n_particles) -> jax.Array:
    on_device = (
        isinstance(theta0, jax.Array) and not isinstance(theta0, jax.core.Tracer)
        and theta0.ndim in (1, 2) and jnp.issubdtype(theta0.dtype, jnp.floating)
    )
    if on_device:  # check on device: a (P, d) ensemble never round-trips through the host
        if theta0.size and not bool(jnp.all(jnp.isfinite(theta0))):
            raise ValueError("theta0 must contain only finite values (no NaN/inf)")
        arr = theta0
    else:
        arr = V.finite_array("theta0", theta0, ndim=(1, 2))
    if not jnp.issubdtype(arr.dtype, jnp.floating):  # bfloat16 is a float here, not in NumPy
        arr = arr.astype(float_dtype(arr))
    d = landscape.dim
    if arr.shape[-1] != d:
        raise ValueError(f"theta0 must have last axis of size d = {d} (landscape.dim), got shape {arr.shape}")
    p = V.count("n_particles", n_particles)
    if arr.ndim == 1:  # the (P, d) ensemble, its state and its update, before anything is allocated
        V.fits_in_memory("n_particles", 3 * p * d * arr.dtype.itemsize, f"{p} particles of dimension {d}")
    if arr.ndim == 2:
        if p not in (1, arr.shape[0]):
            raise ValueError(f"n_particles = {p} does not match theta0 with {arr.shape[0]} rows")
        out = arr
    else:
        out = (jnp if on_device else np).broadcast_to(arr, (p, d))
    if out.dtype == np.float64 and not jax.config.jax_enable_x64:
        warn_if_downcast("theta0", theta0)
        out = out.astype(np.float32)
    return jnp.asarray(out)


def _versions() -> dict[str, str]:
    return dict(_versions_cached())  # a fresh dict: callers may mutate their metadata


@functools.lru_cache(maxsize=1)
def _versions_cached() -> tuple[tuple[str, str], ...]:
    """Package versions, read once per process (importlib.metadata costs ~1 ms per package)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("sgd_sde", "jax", "jaxlib", "numpy", "equinox"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return tuple(out.items())


_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}  # id(array) -> (a weak reference to it, its digest)


def _array_digest(v) -> str:
    """``"sha256:…"`` of an array field (its dtype, shape and bytes), computed once per array object
    while it lives (the fields of an equinox module are immutable; the cache holds no array alive)."""
    from .io import arrays_digest

    held = _DIGESTS.get(id(v))
    if held is not None and held[0]() is v:
        return held[1]
    digest = arrays_digest({"": np.asarray(v)})
    if len(_DIGESTS) > 256:
        _DIGESTS.clear()
    _DIGESTS[id(v)] = (weakref.ref(v), digest)
    return digest


def _describe(module, depth: int = 0) -> dict[str, Any]:
    """The metadata of a landscape, dynamics or noise model: its type, scalar fields, each array
    field as its shape and digest (two runs on different Hessians have different metadata), and
    nested modules (a diffrax solver) described the same way."""
    fields: dict[str, Any] = {}
    for f in getattr(module, "__dataclass_fields__", {}).values():
        v = getattr(module, f.name, None)
        if isinstance(v, (bool, int, float, str)) or v is None:
            fields[f.name] = v
        elif isinstance(v, (jax.Array, np.ndarray, np.generic)) and not isinstance(v, jax.core.Tracer):
            fields[f.name] = np.asarray(v).item() if np.ndim(v) == 0 else {
                "shape": list(np.shape(v)), "dtype": str(v.dtype), "digest": _array_digest(v)}
        elif isinstance(v, eqx.Module) and depth < 3:
            fields[f.name] = _describe(v, depth + 1)
    out = {"type": type(module).__name__, **fields}
    return out if depth else {**out, "citation": getattr(module, "citation", "")}


def simulate(
    key,
    landscape: AbstractLandscape,
    dynamics: AbstractDynamics,
    theta0,
    *,
    noise: AbstractNoise | None = None,
    n_steps: int,
    n_particles: int = 1,
    save_every: int | None = None,
    save_at=None,
    observables=("loss", "distance_from_init"),
    schedule: Schedule | Callable | None = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
    divergence_bound: float = 1e6,
    devices=None,
    mesh=None,
) -> Trajectory:
    r"""Simulate an ensemble of ``n_particles`` under ``dynamics`` on ``landscape``.

    Args:
        key: a ``jax.random.key`` (or legacy ``PRNGKey``); step ``k`` uses ``fold_in(key, k)``.
        landscape: an :class:`~sgd_sde.landscapes.AbstractLandscape`.
        dynamics: an :class:`~sgd_sde.dynamics.AbstractDynamics` (SGD, EulerMaruyama, SVAG, ...).
        theta0: ``(d,)`` (shared by all particles) or ``(P, d)``; its float dtype is kept.
        noise: gradient-noise model (default :class:`~sgd_sde.noise.NoNoise`: exact gradients).
        n_steps: number of steps (≥ 1).
        n_particles: ensemble size ``P`` (ignored when ``theta0`` is ``(P, d)``, or must equal ``P``).
        save_every: record observables every this many steps (default ≈ 100 saves).
        save_at: explicit save steps, integers in ``[0, n_steps]`` (a log-spaced axis:
            ``np.unique(np.geomspace(1, n_steps, 30).astype(int))``); overrides ``save_every``.
        observables: names from :data:`sgd_sde.observables.BUILTIN` (``"loss"``,
            ``"distance_from_init"``, ``"grad_norm"``, ``"theta"``, ``"distance_from_minimum"``) and/or
            a mapping ``name -> fn(landscape, theta, theta0)``. ``"theta"`` stores all parameters.
        schedule: a :class:`~sgd_sde.schedules.Schedule`, or a callable ``k -> lr`` (a learning-rate
            schedule, e.g. from optax); it replaces the dynamics' constant ``lr``/``batch_size``.
        progress: show a tqdm bar (default: when stderr is a terminal).
        chunk_size: steps per compiled call (default: 1/50 of the run with a progress bar, else the
            whole run). Results do not depend on it.
        divergence_bound: a particle with any ``|θ_i| >`` this (or a non-finite value) is frozen at
            its last good state and flagged with the step. ``math.inf``: only non-finite values
            count; the check then runs once per block of 32 steps instead of every step (the
            fastest setting; exact for updates of the form ``θ + Δ``, as every built-in dynamics
            is, where a non-finite value never becomes finite again).
        devices: spread the particles over these devices (a sequence of ``jax.Device``, or an int:
            the first that many of ``jax.devices()``) with a :class:`jax.sharding.NamedSharding` of
            the particle axis. The noise draws are bit-identical to the single-device run for the
            same key (counter-based threefry with ``jax_threefry_partitionable``); the floats agree
            to rounding (the matmul kernel, hence the reduction order, may change with shard shape). ``n_particles`` must be a
            multiple of the number of devices. See :mod:`sgd_sde.sharding` and docs/performance.md.
        mesh: alternatively a :class:`jax.sharding.Mesh`; particles are split over all its axes
            (with several processes after ``jax.distributed.initialize()``, a mesh of
            ``jax.devices()`` spans every host).

    Returns:
        A :class:`~sgd_sde.trajectory.Trajectory`.

    Raises:
        TypeError: on a wrong type of key, landscape, dynamics or noise.
        ValueError: on bad values or shapes (named), before anything is traced; if both ``devices``
            and ``mesh`` are given, or ``n_particles`` is not a multiple of the number of devices.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from sgd_sde import simulate
        >>> from sgd_sde.landscapes import Quadratic
        >>> from sgd_sde.dynamics import SGD
        >>> from sgd_sde.noise import Isotropic
        >>> traj = simulate(jax.random.key(0), Quadratic(jnp.eye(2)), SGD(lr=0.1, batch_size=4),
        ...                 jnp.ones(2), noise=Isotropic(1.0), n_steps=100, n_particles=8)
        >>> traj.theta.shape, traj.saved["loss"].shape
        ((8, 2), (101, 8))

    References:
        Li, Tai & E 2017, "Stochastic Modified Equations and Adaptive Stochastic Gradient Algorithms".
    """
    return _drive(
        key, landscape, dynamics, theta0, noise=noise, n_steps=n_steps, n_particles=n_particles,
        save_every=save_every, save_at=save_at, observables=observables, schedule=schedule,
        progress=progress, chunk_size=chunk_size, divergence_bound=divergence_bound, devices=devices,
        mesh=mesh,
    )[0]


def _to_host(x) -> np.ndarray:
    """``np.asarray`` that also gathers arrays spread over several processes (multi-host runs)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _drive(
    key, landscape, dynamics, theta0, *, noise, n_steps, n_particles, save_every, save_at, observables,
    schedule, progress, chunk_size, divergence_bound, devices, mesh, grid=None, grid_keys=None,
) -> list[Trajectory]:
    """Validate, then run one ensemble (``grid=None``) or a vmapped grid ``(lrs, batch_sizes)``
    (``grid_keys``: indices ``i`` of the grid points, whose key is then ``fold_in(key, i)``; ``None``:
    every point uses ``key``).

    Returns one :class:`Trajectory` per grid point (one in all without a grid).
    """
    key = check_key(key)
    noise = check_components(landscape, dynamics, noise)
    n_steps = V.count("n_steps", n_steps)
    # host arrays of one float64 per step (SDE time per step, its cumulative sum, per-step lr)
    V.fits_in_memory("n_steps", 3 * 8 * n_steps * (1 if grid is None else len(grid[0])), f"{n_steps}-step time arrays")
    if observables is None:
        raise TypeError("observables must be a sequence of names or a mapping name -> fn (use () to record none), got None")
    theta = _validate_theta0(theta0, landscape, n_particles)
    bound = math.inf if _is_inf(divergence_bound) else V.positive("divergence_bound", divergence_bound)
    noise = noise.bind(landscape)
    points = save_points(n_steps, save_every, save_at)
    obs = _obs.resolve(observables, landscape)
    p = theta.shape[0]
    sharding = None
    if devices is not None or mesh is not None:
        sharding = particle_sharding(devices=devices, mesh=mesh, n_particles=p)

    if schedule is None:
        schedule = Schedule()
    elif not isinstance(schedule, Schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be a Schedule or a callable step -> lr, got {type(schedule).__name__}")
        schedule = Schedule(lr=schedule)
    if grid is not None and (schedule.lr is not None or schedule.batch_size is not None):
        raise ValueError("schedule is not supported by a sweep (the grid sets lr and batch_size)")
    lrs = evaluate(schedule.lr, n_steps, "schedule.lr") if schedule.lr is not None else None
    if schedule.batch_size is not None:
        bss = evaluate(schedule.batch_size, n_steps, "schedule.batch_size")
        if not np.all(bss == np.round(bss)):
            raise ValueError("schedule.batch_size must return integers")
        if not noise.supports_batch_schedule:
            raise ValueError(f"schedule.batch_size: {type(noise).__name__} needs a fixed batch size (its batch shape is static)")
        noise.check_batch_size(landscape, int(bss.max()))
    elif grid is None:
        if dynamics.batch_size is not None:
            noise.check_batch_size(landscape, int(dynamics.batch_size))
    else:
        for b in (grid[1] if grid[1] is not None else [dynamics.batch_size]):
            if b is not None:
                noise.check_batch_size(landscape, int(b))

    # SDE time of each save point (one row per grid point)
    grid_lrs = [float(dynamics.lr)] if grid is None else [float(v) for v in grid[0]]
    times = []
    for lr0 in grid_lrs:
        per_step = dynamics.time_per_step(lrs if lrs is not None else np.full(n_steps, lr0))
        times.append(np.concatenate([[0.0], np.cumsum(per_step)])[points])

    # intervals between consecutive save points (the first call also records the initial point)
    starts = points[:-1].astype(np.int32)
    ends = points[1:].astype(np.int32)
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    elif not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    if chunk_size is None:
        chunk_size = max(1, n_steps // 50) if progress else n_steps
    chunk_size = V.positive_int("chunk_size", chunk_size)
    # group intervals so that each call covers about chunk_size steps; equal group sizes avoid recompiles
    per_group = max(1, int(round(len(starts) * min(1.0, chunk_size / n_steps))))
    n_groups = math.ceil(len(starts) / per_group)
    pad = n_groups * per_group - len(starts)
    starts = np.concatenate([starts, np.full(pad, ends[-1], np.int32)])
    ends = np.concatenate([ends, np.full(pad, ends[-1], np.int32)])

    # the learning rate travels as an array leaf of the dynamics, so a new lr does not recompile
    run_dynamics = _engine.with_array_lr(dynamics, theta.dtype)
    theta_dp, carry = _engine.initial_carry(run_dynamics, theta, None if grid is None else len(grid_lrs))
    if grid is not None:
        grid_args = (
            np.asarray(grid_lrs, theta.dtype),
            None if grid[1] is None else np.asarray(grid[1], np.int32),
            None if grid_keys is None else jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(grid_keys)),
        )
    carry, theta_dp = place(carry, sharding), place(theta_dp, sharding)
    config = _engine.Config(obs, schedule.lr, schedule.batch_size, bound, sharding)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="step", desc=f"simulate[{type(dynamics).__name__}]")
    chunks: list[dict[str, np.ndarray]] = []
    # A static trip count only when every real interval has the same length (else uneven save_at
    # would compile once per group); padded groups stay dynamic so padding runs no steps.
    real = points[1:] - points[:-1]
    uniform = int(real[0]) if np.all(real == real[0]) else None
    try:
        for gi in range(n_groups):
            sl = slice(gi * per_group, (gi + 1) * per_group)
            padded = (gi + 1) * per_group > len(real)
            cfg = dataclasses.replace(config, length=None if padded else uniform, record_initial=gi == 0)
            args = (landscape, run_dynamics, noise, cfg, key, carry, theta_dp, starts[sl], ends[sl])
            carry, rec = _engine.run_chunk(*args) if grid is None else _engine.run_grid_chunk(*args, *grid_args)
            chunks.append(jax.tree_util.tree_map(_to_host, rec))
            if bar is not None:
                bar.update(int(ends[sl][-1] - starts[sl][0]))
                n_div = int(jnp.sum(carry[1]))
                if n_div:
                    bar.set_postfix(diverged=n_div)
    finally:
        if bar is not None:
            bar.close()
    axis = 0 if grid is None else 1  # the grid adds a leading axis
    saved = {
        name: np.concatenate([c[name] for c in chunks], axis=axis)[(slice(None),) * axis + (slice(0, len(points)),)]
        for name in chunks[0]
    }
    state, diverged, div_step = jax.tree_util.tree_map(_to_host, carry)
    metadata = {
        "landscape": _describe(landscape),
        "dynamics": _describe(dynamics),
        "noise": _describe(noise),
        "n_steps": n_steps,
        "n_particles": int(p),
        "dtype": str(theta.dtype),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "schedule": {"lr": repr(schedule.lr), "batch_size": repr(schedule.batch_size)},
        "divergence_bound": bound,
        "observables": [n for n, _ in obs],
        "versions": _versions(),
    }
    if sharding is not None:
        metadata["devices"] = [str(dev) for dev in sharding.mesh.devices.flat]
    if grid is None:
        return [
            Trajectory(
                theta=state["theta"].T, saved=saved, steps=points, times=times[0], diverged=diverged,
                divergence_step=div_step, metadata=metadata,
            )
        ]
    out = []
    for i, lr0 in enumerate(grid_lrs):
        bs = dynamics.batch_size if grid[1] is None else int(grid[1][i])
        meta = {**metadata, "dynamics": {**metadata["dynamics"], "lr": lr0, "batch_size": bs},
                "grid_keys": "common" if grid_keys is None else "independent"}
        if grid_keys is not None:
            meta["grid_index"] = int(grid_keys[i])  # this point's key is fold_in(key, grid_index)
        out.append(
            Trajectory(
                theta=state["theta"][i].T, saved={k: v[i] for k, v in saved.items()}, steps=points, times=times[i],
                diverged=diverged[i], divergence_step=div_step[i], metadata=meta,
            )
        )
    return out


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
    keys: str = "common",
) -> SimulationGrid:
    r"""Run ``dynamics`` on the grid ``lrs × batch_sizes`` as one vmapped, compiled program.

    Equivalent to calling :func:`sgd_sde.simulate` once per grid point with ``lr`` and
    ``batch_size`` replaced, but compiled once and run as one batched program. By default every
    point uses the same ``key``: the grid points see the same noise draws (common random numbers,
    which makes differences between them low-variance). ``keys="independent"`` gives grid point
    ``i`` (in grid order) the key ``fold_in(key, i)`` instead, for statistics that need independent
    points (e.g. a fit across the grid). The result says which (``keys_mode``), and so does
    each Trajectory's metadata (``"grid_keys"``, and ``"grid_index"`` when independent). The learning rate and batch size enter as traced values, so a
    new grid of the same size does not recompile. Results equal the separate runs up to float
    rounding (batched mat-vecs may round differently), not bit for bit.

    Noise models whose sample shape depends on ``B`` (:class:`~sgd_sde.noise.ExactMinibatch`)
    get one vmapped program per distinct batch size (over the learning rates).

    Args:
        key, landscape, dynamics, theta0, noise, n_steps, n_particles, save_every, save_at,
        observables, progress, chunk_size, divergence_bound, devices, mesh: as for
            :func:`sgd_sde.simulate` (``dynamics`` supplies everything but ``lr``/``batch_size``).
        lrs: learning rates, each ``> 0``, no value twice.
        batch_sizes: batch sizes, each an integer in ``[1, 2**31 - 1]``, no value twice (default:
            ``dynamics.batch_size``).
        keys: ``"common"`` (default, common random numbers) or ``"independent"``.

    Returns:
        A :class:`~sgd_sde.grid.SimulationGrid` (a :class:`~sgd_sde.grid.GridResult`): a read-only
        mapping ``(lr, batch_size) -> Trajectory`` in grid order (lr-major), with ``keys_mode``,
        shared ``metadata``, ``to_pandas()`` (one row per grid point, save step and particle),
        ``to_xarray()``, ``save``/``load`` and ``==``.

    Raises:
        ValueError: on an empty, repeated or non-positive ``lrs``/``batch_sizes``, ``keys`` not one
            of ``"common"``/``"independent"``, and anything :func:`sgd_sde.simulate` raises.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from sgd_sde.landscapes import Quadratic
        >>> from sgd_sde.dynamics import SGD
        >>> from sgd_sde.noise import Isotropic
        >>> runs = sweep(jax.random.key(0), Quadratic(jnp.eye(2)), SGD(lr=0.1, batch_size=1), jnp.ones(2),
        ...              lrs=[0.05, 0.1], batch_sizes=[1, 8], noise=Isotropic(1.0), n_steps=50, n_particles=16)
        >>> list(runs), runs[(0.1, 8)].theta.shape, runs.keys_mode
        ([(0.05, 1), (0.05, 8), (0.1, 1), (0.1, 8)], (16, 2), 'common')
        >>> df = runs.to_pandas()  # one row per (lr, batch_size, step, particle)
        >>> len(df) == 4 * 51 * 16, list(df.columns[:5])
        (True, ['lr', 'batch_size', 'step', 'time', 'particle'])

    References:
        Goyal et al. 2017, "Accurate, Large Minibatch SGD" and Smith & Le 2018, "A Bayesian
        Perspective on Generalization and Stochastic Gradient Descent" (why one sweeps (lr, B)).
    """
    if not isinstance(dynamics, AbstractDynamics):
        raise TypeError(f"dynamics must be an AbstractDynamics, got {type(dynamics).__name__}")
    if noise is not None and not isinstance(noise, AbstractNoise):  # before its attributes are read below
        raise TypeError(f"noise must be an AbstractNoise (or None), got {type(noise).__name__}")
    lr_list = [V.positive("lrs", v) for v in V.flat_list("lrs", lrs)]
    if not lr_list:
        raise ValueError("lrs must hold at least one learning rate")
    if batch_sizes is None:
        bs_list = [dynamics.batch_size if dynamics.batch_size is None else int(dynamics.batch_size)]
    else:
        bs_list = [V.count("batch_sizes", v) for v in V.flat_list("batch_sizes", batch_sizes)]
        if not bs_list:
            raise ValueError("batch_sizes must hold at least one batch size")
    for name, vals in (("lrs", lr_list), ("batch_sizes", bs_list)):
        if len(set(vals)) != len(vals):  # each grid point is a key of the result
            raise ValueError(f"{name} must not repeat a value, got {name}={vals}")
    kw = dict(
        noise=noise, n_steps=n_steps, n_particles=n_particles, save_every=save_every, save_at=save_at,
        observables=observables, schedule=None, progress=progress, chunk_size=chunk_size,
        divergence_bound=divergence_bound, devices=devices, mesh=mesh,
    )
    check_keys_mode(keys)
    grid = list(itertools.product(lr_list, bs_list))
    index = {g: i for i, g in enumerate(grid)}
    independent = keys == "independent"
    out: dict[tuple[float, int], Trajectory] = {}
    if noise is not None and not noise.supports_batch_schedule:  # B fixes the sample's shape: one program per B
        for b in bs_list:
            dyn = eqx.tree_at(lambda m: m.batch_size, dynamics, b)
            ids = [index[(lr, b)] for lr in lr_list] if independent else None
            runs = _drive(key, landscape, dyn, theta0, grid=(lr_list, None), grid_keys=ids, **kw)
            out.update({(lr, b): t for lr, t in zip(lr_list, runs)})
        return SimulationGrid.from_points(lr_list, bs_list, [out[g] for g in grid], keys)
    exact = bs_list == [None]  # no minibatch (e.g. Langevin, or exact gradients): only lr varies
    runs = _drive(key, landscape, dynamics, theta0, grid=([g[0] for g in grid], None if exact else [g[1] for g in grid]),
                  grid_keys=list(range(len(grid))) if independent else None, **kw)
    return SimulationGrid.from_points(lr_list, bs_list, runs, keys)
