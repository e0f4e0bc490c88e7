"""The one ensemble driver: :func:`simulate`.

``simulate(key, landscape, dynamics, theta0, *, noise=..., n_steps=...)`` runs ``n_particles``
copies of ``dynamics`` on ``landscape`` with one jit-compiled ``lax.scan`` over save intervals
(an inner ``fori_loop`` over steps), in chunks for progress and bounded memory. Noise for step
``k`` comes from ``fold_in(key, k)``, so results are bit-identical however the run is chunked.
Particles that go non-finite or beyond ``divergence_bound`` are frozen at their last finite state
and flagged with the step at which it happened; the rest of the ensemble goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V
from . import observables as _obs
from .dynamics import AbstractDynamics
from .landscapes.base import AbstractLandscape
from .noise import AbstractNoise, NoNoise
from .schedules import Schedule, evaluate
from ._keys import check_key
from .trajectory import Trajectory

__all__ = ["simulate", "save_points", "check_key", "check_components"]


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
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    d = landscape.dim
    if arr.shape[-1] != d:
        raise ValueError(f"theta0 must have last axis of size d = {d} (landscape.dim), got shape {arr.shape}")
    p = V.positive_int("n_particles", n_particles)
    if arr.ndim == 2:
        if p not in (1, arr.shape[0]):
            raise ValueError(f"n_particles = {p} does not match theta0 with {arr.shape[0]} rows")
        out = arr
    else:
        out = (jnp if on_device else np).broadcast_to(arr, (p, d))
    if out.dtype == np.float64 and not jax.config.jax_enable_x64:
        out = out.astype(np.float32)
    return jnp.asarray(out)


class _Config(eqx.Module):
    """Static configuration of one compiled runner (hashable)."""

    observables: tuple = eqx.field(static=True)
    lr_fn: Callable | None = eqx.field(static=True)
    batch_fn: Callable | None = eqx.field(static=True)
    bound: float = eqx.field(static=True)
    sharding: Any = eqx.field(static=True, default=None)  # NamedSharding of the particle axis, or None
    # steps per interval when every interval of the call has the same length: a static trip count
    # (a dynamic one costs a device->host sync per step on GPU, measured 14 us); None: dynamic
    length: int | None = eqx.field(static=True, default=None)
    record_initial: bool = eqx.field(static=True, default=False)  # also record the carry on entry


def _constrain(tree, sharding):
    """Pin every leaf's last (particle) axis to ``sharding``'s mesh axes (no-op without sharding)."""
    if sharding is None:
        return tree
    from jax.sharding import NamedSharding, PartitionSpec

    axes = sharding.spec[-1]

    def pin(x):
        return jax.lax.with_sharding_constraint(x, NamedSharding(sharding.mesh, PartitionSpec(*([None] * (x.ndim - 1)), axes)))

    return jax.tree_util.tree_map(pin, tree)


# Steps per divergence block (see _chunk.block): the exact per-step freeze costs a full pass over
# the state (~6% at d = 100, P = 1024 on CPU); it now runs only in blocks where a particle diverges.
_BLOCK = 32


def _with_point(dynamics, lr, batch_size):
    """``dynamics`` with one grid point's ``lr`` (and ``batch_size`` unless it is ``None``)."""
    if batch_size is None:
        return eqx.tree_at(lambda m: m.lr, dynamics, lr)
    return eqx.tree_at(lambda m: (m.lr, m.batch_size), dynamics, (lr, batch_size))


def _chunk(landscape, dynamics, noise, config: _Config, key, carry, theta0, starts, ends, grid=None):
    """Run save intervals ``[starts[i], ends[i])`` one after another; observables at each end.

    ``grid = (lrs, batch_sizes)`` (``batch_sizes`` may be ``None``) runs every grid point at once:
    each carry leaf has a leading grid axis, and each step is ``vmap``-ed over the grid (the same
    key for all points: common random numbers). Only the steps are vmapped, not the block logic:
    whether a block is re-run is decided once for the whole grid, so the ``lax.cond`` stays a real
    branch (vmapping the whole chunk turned it into a select that ran both branches, 3.6× slower).
    """

    if grid is None:
        def stepwise(fn):
            """``fn(dynamics, t, x)`` for the one ensemble."""
            return lambda t, x: fn(dynamics, t, x)

        def pointwise(fn):
            return fn
    else:
        lrs, batch_sizes = grid

        def stepwise(fn):
            """``fn(dynamics, t, x)`` for every grid point (``x`` with a leading grid axis)."""
            def run(t, x):
                one = lambda lr, bs, xx: fn(_with_point(dynamics, lr, bs), t, xx)  # noqa: E731
                return jax.vmap(one, in_axes=(0, None if batch_sizes is None else 0, 0))(lrs, batch_sizes, x)
            return run

        pointwise = jax.vmap  # functions of the carry alone (no dynamics, no step)

    def in_bounds(state):
        """Per particle: finite and ``|θ_i| ≤ bound``. One fused reduction: ``|x| ≤ b`` is False
        for NaN and (as ``b ≤ finfo.max``) for ±inf, so it equals ``isfinite(x) & (|x| ≤ bound)``
        but costs one pass instead of three (benchmarks/)."""
        th = state["theta"]
        return jnp.all(jnp.abs(th) <= min(config.bound, float(jnp.finfo(th.dtype).max)), axis=0)

    def advance(dyn, t, state):
        lr = dyn.lr if config.lr_fn is None else jnp.asarray(config.lr_fn(t), state["theta"].dtype)
        bs = dyn.batch_size if config.batch_fn is None else config.batch_fn(t)
        new = dyn.step(landscape, noise, state, jax.random.fold_in(key, t), lr, bs)
        return new, in_bounds(new)

    def exact_step(dyn, t, c):
        """The exact step: freeze particles the step they leave the bound, record that step."""
        state, diverged, div_step = c
        new, ok = advance(dyn, t, state)
        newly = ~diverged & ~ok
        div_step = jnp.where(newly, t, div_step)
        diverged = diverged | newly
        state = jax.tree_util.tree_map(lambda n, o: jnp.where(diverged, o, n), new, state)
        return state, diverged, div_step

    def checked_step(dyn, t, c):
        """A step without the per-step freeze (a full pass over the state): only notes which
        particles went out of bounds."""
        state, out = c
        new, ok = advance(dyn, t, state)
        return new, out | ~ok

    one_step = stepwise(exact_step)
    fast_checked = stepwise(checked_step)
    fast_bare = stepwise(lambda dyn, t, state: advance(dyn, t, state)[0])
    out_of_bounds = pointwise(lambda state: ~in_bounds(state))
    restore = pointwise(lambda new, old, frozen: jax.tree_util.tree_map(lambda n, o: jnp.where(frozen, o, n), new, old))

    def block(t0, c):
        """``_BLOCK`` steps from ``t0``: fast, unless a live particle diverged inside the block,
        in which case the block is re-run exactly from its start (same keys, so the same path).
        Particles that had diverged before the block are restored from the block's start.

        With ``bound = inf`` only non-finite values count, and they are absorbing for an update
        ``θ + Δ`` (inf ± finite is inf, anything with NaN is NaN): a particle that went non-finite
        inside the block is still non-finite at its end. So the fast steps skip the check and the
        block's end is checked once — the same result at the cost of a bare scan."""
        state, diverged, div_step = c
        if math.isinf(config.bound):
            fast = jax.lax.fori_loop(0, _BLOCK, lambda i, s: fast_bare(t0 + i, s), state)
            out = out_of_bounds(fast)
        else:
            fast, out = jax.lax.fori_loop(0, _BLOCK, lambda i, cc: fast_checked(t0 + i, cc),
                                          (state, jnp.zeros_like(diverged)))
        return jax.lax.cond(
            jnp.any(~diverged & out),
            lambda: jax.lax.fori_loop(0, _BLOCK, lambda i, cc: one_step(t0 + i, cc), c),
            lambda: (restore(fast, state, diverged), diverged, div_step),
        )

    def run_steps(c, start, n):
        """Steps ``start .. start + n − 1`` (``n`` static or traced): whole blocks, then the rest exactly."""
        n_blocks = n // _BLOCK
        c = jax.lax.fori_loop(0, n_blocks, lambda b, cc: block(start + b * _BLOCK, cc), c)
        rest = start + n_blocks * _BLOCK
        return jax.lax.fori_loop(0, n - n_blocks * _BLOCK, lambda i, cc: one_step(rest + i, cc), c)

    @pointwise
    def observe_state(state):
        th = state["theta"]
        return {
            name: jax.vmap(lambda a, b, f=fn: f(landscape, a, b), in_axes=(1, 1), out_axes=0)(th, theta0)
            for name, fn in config.observables
        }

    def observe(c):
        return _constrain(observe_state(c[0]), config.sharding)

    def interval(c, se):
        c = run_steps(c, se[0], se[1] - se[0] if config.length is None else config.length)
        c = _constrain(c, config.sharding)
        return c, observe(c)

    out, rec = jax.lax.scan(interval, carry, (starts, ends))
    if config.record_initial:
        rec = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), observe(carry), rec)
    if grid is not None:  # (saves, grid, ...) -> (grid, saves, ...), as the carry: grid axis first
        rec = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), rec)
    return out, rec


def _grid_chunk(landscape, dynamics, noise, config, key, carry, theta0, starts, ends, lrs, batch_sizes):
    """:func:`_chunk` over a grid of ``(lr, batch_size)`` (same key: common random numbers)."""
    return _chunk(landscape, dynamics, noise, config, key, carry, theta0, starts, ends, grid=(lrs, batch_sizes))


class _DonatingCarry:
    """``fn(landscape, dynamics, noise, config, key, carry, *rest)`` compiled with ``carry`` donated.

    The carry (state + divergence flags) of one chunk is dead once the next is computed, so XLA
    may write the new carry into its buffers: peak device memory is one carry, not two.
    ``equinox.filter_jit`` donates by position ("all except the first"), so the carry is moved last
    internally. ``lower`` mirrors ``jax.jit``'s for the structural tests.
    """

    def __init__(self, fn):
        self._jit = eqx.filter_jit(lambda args, carry: fn(*args[:5], carry, *args[5:]), donate="all-except-first")

    @staticmethod
    def _split(args):
        return (*args[:5], *args[6:]), args[5]

    def __call__(self, *args):
        return self._jit(*self._split(args))

    def lower(self, *args):
        return self._jit.lower(*self._split(args))


_run_chunk = _DonatingCarry(_chunk)
_run_grid_chunk = _DonatingCarry(_grid_chunk)


@eqx.filter_jit
def _initial_carry(dynamics, theta, n_grid):
    """``theta`` ``(P, d)`` → ``(theta_dp, carry)`` in one compiled call (no eager set-up ops).

    ``carry = (state, diverged, divergence_step)``, with a leading axis of ``n_grid`` grid points
    when ``n_grid`` is an int. ``carry``'s buffers are distinct from ``theta_dp`` (which stays
    alive as ``theta0`` for the observables), so the carry can be donated.
    """
    theta_dp = theta.T  # (d, P): particles on the minor axis
    p = theta.shape[0]
    carry = (dynamics.init(theta_dp), jnp.zeros(p, bool), jnp.full(p, -1, jnp.int32))
    if n_grid is not None:
        carry = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n_grid,) + x.shape), carry)
    return theta_dp, carry


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


def _describe(module) -> dict[str, Any]:
    fields = {}
    for f in getattr(module, "__dataclass_fields__", {}).values():
        v = getattr(module, f.name, None)
        if isinstance(v, (bool, int, float, str)) or v is None:
            fields[f.name] = v
        elif isinstance(v, (jax.Array, np.ndarray, np.generic)) and np.ndim(v) == 0:
            fields[f.name] = np.asarray(v).item()
    return {"type": type(module).__name__, **fields, "citation": getattr(module, "citation", "")}


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
        save_at: explicit save steps (e.g. ``np.geomspace``); overrides ``save_every``.
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
    schedule, progress, chunk_size, divergence_bound, devices, mesh, grid=None,
) -> list[Trajectory]:
    """Validate, then run one ensemble (``grid=None``) or a vmapped grid ``(lrs, batch_sizes)``.

    Returns one :class:`Trajectory` per grid point (one in all without a grid).
    """
    key = check_key(key)
    noise = check_components(landscape, dynamics, noise)
    n_steps = V.positive_int("n_steps", n_steps)
    theta = _validate_theta0(theta0, landscape, n_particles)
    bound = math.inf if _is_inf(divergence_bound) else V.positive("divergence_bound", divergence_bound)
    noise = noise.bind(landscape)
    points = save_points(n_steps, save_every, save_at)
    obs = _obs.resolve(observables, landscape)
    p = theta.shape[0]
    sharding = None
    if devices is not None or mesh is not None:
        from .sharding import particle_sharding

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
    if chunk_size is None:
        chunk_size = max(1, n_steps // 50) if progress else n_steps
    chunk_size = V.positive_int("chunk_size", chunk_size)
    # group intervals so that each call covers about chunk_size steps; equal group sizes avoid recompiles
    per_group = max(1, int(round(len(starts) * min(1.0, chunk_size / n_steps))))
    n_groups = math.ceil(len(starts) / per_group)
    pad = n_groups * per_group - len(starts)
    starts = np.concatenate([starts, np.full(pad, ends[-1], np.int32)])
    ends = np.concatenate([ends, np.full(pad, ends[-1], np.int32)])

    # the learning rate travels as an array leaf, so a new lr does not recompile (a sweep replaces it)
    run_dynamics = eqx.tree_at(lambda m: m.lr, dynamics, np.asarray(dynamics.lr, theta.dtype))
    theta_dp, carry = _initial_carry(run_dynamics, theta, None if grid is None else len(grid_lrs))
    if grid is not None:
        grid_args = (
            np.asarray(grid_lrs, theta.dtype),
            None if grid[1] is None else np.asarray(grid[1], np.int32),
        )
    if sharding is not None:
        carry = jax.tree_util.tree_map(_place, carry, _leaf_shardings(carry, sharding))
        theta_dp = _place(theta_dp, _leaf_shardings(theta_dp, sharding))
    config = _Config(obs, schedule.lr, schedule.batch_size, bound, sharding)
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
            carry, rec = _run_chunk(*args) if grid is None else _run_grid_chunk(*args, *grid_args)
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
        for name, _ in obs
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
        meta = {**metadata, "dynamics": {**metadata["dynamics"], "lr": lr0, "batch_size": bs}}
        out.append(
            Trajectory(
                theta=state["theta"][i].T, saved={k: v[i] for k, v in saved.items()}, steps=points, times=times[i],
                diverged=diverged[i], divergence_step=div_step[i], metadata=meta,
            )
        )
    return out


def _place(x, sharding):
    """Put ``x`` (the same on every process) on ``sharding``; each process fills its own shards."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _leaf_shardings(tree, sharding):
    """A sharding per leaf: the last (particle) axis split like ``sharding``, the rest replicated."""
    from jax.sharding import NamedSharding, PartitionSpec

    axes = sharding.spec[-1]
    return jax.tree_util.tree_map(
        lambda x: NamedSharding(sharding.mesh, PartitionSpec(*([None] * (x.ndim - 1)), axes)), tree
    )

