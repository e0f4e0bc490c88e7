"""The one compiled loop: every driver (simulate, the grid sweep, first-exit/escape times) runs here.

* :func:`advance` — the one step kernel: ``dynamics.step(fold_in(key, t), state, landscape, noise)``.
  Step ``t`` always draws from ``fold_in(key, t)``, so results do not depend on chunking, and SGD,
  its SDE and runs at several learning rates can share a path.
* :func:`run_chunk` / :func:`run_grid_chunk` — a ``lax.scan`` over save intervals with observables
  recorded at each end (simulate; the grid variant vmaps each step over ``(lr, B)`` points). The
  carry is donated to each compiled call. A save point's observables are evaluated in the same
  computation as the next step, from the state that step starts from, so the built-in loss shares
  that step's gradient (``landscape.ensemble_value_and_grad``) instead of costing a second one.
* :func:`run_until` — steps until at most ``stop_at`` particles are still running, or a step
  budget is spent (first exits: stability radius, escape times).

Divergence: a particle with a non-finite value or ``|θ_i| > bound`` is frozen at its last good
state and its step recorded. Exits (``Config.exit_fn``): a particle that is in bounds and outside
the region is frozen *at* its exit point and the number of steps taken is recorded; a blow-up is
never an exit. For speed, :func:`run_chunk` runs blocks of :data:`BLOCK` steps without the
per-step freeze and re-runs a block exactly (same keys, so the same path) only when a particle
diverged inside it.

Nothing here validates input: the front doors (:mod:`sgd_sde.simulate`, :mod:`sgd_sde.stability`)
do that before anything is traced. Device placement lives in :mod:`sgd_sde.sharding`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .observables import ENSEMBLE
from .schedules import at_step
from .sharding import constrain

__all__ = ["Config", "advance", "trace_count", "with_array_lr", "initial_carry", "run_chunk", "run_grid_chunk",
           "run_until", "BLOCK"]

# Steps per divergence block: the exact per-step freeze costs a full pass over the state (~6% at
# d = 100, P = 1024 on CPU); it runs only in blocks where a particle diverges.
BLOCK = 32

_TRACES = {"advance": 0}


def trace_count() -> int:
    """How many times :func:`advance` has been traced in this process (a structural test hook:
    every driver's compiled program goes through it)."""
    return _TRACES["advance"]


class Config(eqx.Module):
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
    # exit criterion exit_fn(landscape, params, theta (d,)) -> bool; params travel in the carry's args
    exit_fn: Callable | None = eqx.field(static=True, default=None)


def advance(landscape, dynamics, noise, key, t, state):
    """The one step kernel: ``state`` after step ``t`` (noise from ``fold_in(key, t)``)."""
    _TRACES["advance"] += 1
    return dynamics.step(jax.random.fold_in(key, t), state, landscape, noise)


def with_array_lr(dynamics, dtype):
    """``dynamics`` with its learning rate as an array leaf, so a new value does not recompile."""
    return eqx.tree_at(lambda m: m.lr, dynamics, np.asarray(dynamics.lr, dtype))


def _at_step(dynamics, config: Config, t, dtype):
    """``dynamics`` with step ``t``'s learning rate and batch size when a schedule sets them (called
    through :func:`sgd_sde.schedules.at_step`, the learning rate cast to the state's dtype)."""
    if config.lr_fn is not None:
        dynamics = eqx.tree_at(lambda m: m.lr, dynamics, jnp.asarray(at_step(config.lr_fn, t), dtype))
    if config.batch_fn is not None:
        dynamics = eqx.tree_at(lambda m: m.batch_size, dynamics, at_step(config.batch_fn, t),
                               is_leaf=lambda x: x is None)
    return dynamics


def _with_point(dynamics, lr, batch_size):
    """``dynamics`` with one grid point's ``lr`` (and ``batch_size`` unless it is ``None``)."""
    if batch_size is None:
        return eqx.tree_at(lambda m: m.lr, dynamics, lr)
    return eqx.tree_at(lambda m: (m.lr, m.batch_size), dynamics, (lr, batch_size), is_leaf=lambda x: x is None)


class _Steps:
    """The step functions of one compiled program (closures over its static pieces).

    The carry is ``(state, diverged, divergence_step)``, plus ``exit_step`` when ``config.exit_fn``
    is set (``-1`` running, ``≥ 0`` the number of steps after which the particle was outside).
    With ``grid = (lrs, batch_sizes, keys)`` each carry leaf has a leading grid axis and each step
    is vmapped over the grid: with ``keys=None`` every point uses ``key`` (common random numbers),
    else point ``i`` uses ``keys[i]``. Only the steps are vmapped, not the block logic, so a
    block's ``lax.cond`` stays a real branch.
    """

    def __init__(self, landscape, dynamics, noise, config: Config, key, params=None, grid=None):
        self.config = config
        # every step exact, one copy of the step in the program: with an exit criterion, and for a
        # dynamics whose step is costly to compile (the fast block would add two more copies)
        self.costly = type(dynamics).costly_step
        self.exact_only = config.exit_fn is not None or self.costly

        def in_bounds(state):
            """Per particle: finite and ``|θ_i| ≤ bound`` in one fused reduction (``|x| ≤ b`` is
            False for NaN and, as ``b ≤ finfo.max``, for ±inf)."""
            th = state["theta"]
            return jnp.all(jnp.abs(th) <= min(config.bound, float(jnp.finfo(th.dtype).max)), axis=0)

        def step(dyn, k, t, state):
            new = advance(landscape, _at_step(dyn, config, t, state["theta"].dtype), noise, k, t, state)
            return new, in_bounds(new)

        def exited(theta):
            return jax.vmap(lambda th: config.exit_fn(landscape, params, th), in_axes=1)(theta)

        def exact_step(dyn, k, t, c):
            """Freeze particles the step they leave the bound (last good state, step recorded) or,
            with an exit criterion, the region (exit point, steps taken recorded)."""
            state, diverged, div_step = c[:3]
            new, ok = step(dyn, k, t, state)
            live = ~diverged if len(c) == 3 else ~diverged & (c[3] == -1)  # -2: padding
            newly = live & ~ok
            out = (jnp.where(newly, t, div_step),)
            if len(c) == 4:
                out += (jnp.where(live & ok & exited(new["theta"]), t + 1, c[3]),)
            keep = live & ok
            state = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), new, state)
            return (state, diverged | newly) + out

        def checked_step(dyn, k, t, c):
            """A step without the per-step freeze: notes which particles are out of bounds in the
            state the step *starts* from (:meth:`block` checks the block's last state), so the
            check does not wait for this step's own arithmetic and can overlap it."""
            state, out = c
            return step(dyn, k, t, state)[0], out | ~in_bounds(state)

        if grid is None:
            def stepwise(fn):
                return lambda t, x: fn(dynamics, key, t, x)

            pointwise = lambda fn: fn  # noqa: E731
        else:
            lrs, batch_sizes, keys = grid

            def stepwise(fn):
                def run(t, x):
                    one = lambda lr, bs, k, xx: fn(_with_point(dynamics, lr, bs), k, t, xx)  # noqa: E731
                    axes = (0, None if batch_sizes is None else 0, None if keys is None else 0, 0)
                    return jax.vmap(one, in_axes=axes)(lrs, batch_sizes, key if keys is None else keys, x)
                return run

            pointwise = jax.vmap  # functions of the carry alone

        self.one_step = stepwise(exact_step)
        self.fast_checked = stepwise(checked_step)
        self.fast_bare = stepwise(lambda dyn, k, t, state: step(dyn, k, t, state)[0])
        self.out_of_bounds = pointwise(lambda state: ~in_bounds(state))
        self.restore = pointwise(lambda new, old, frozen: jax.tree_util.tree_map(
            lambda n, o: jnp.where(frozen, o, n), new, old))
        self.pointwise = pointwise
        self.exited = exited

    def block(self, t0, c, length: int = BLOCK, peel: bool = False):
        """``length`` steps from ``t0``: fast, unless a live particle diverged inside the block,
        in which case the block is re-run exactly from its start (same keys, so the same path).

        With ``bound = inf`` only non-finite values count, and they are absorbing for an update
        ``θ + Δ``: a particle that went non-finite inside the block is still non-finite at its
        end, so the fast steps skip the check and the block's end is checked once.

        ``peel=True`` takes the block's first fast step out of the loop, into the caller's
        computation (where :func:`_chunk` evaluates the observables of the same state)."""
        state, diverged, div_step = c
        first = 1 if peel else 0
        if math.isinf(self.config.bound):
            fast = self.fast_bare(t0, state) if peel else state
            fast = _loop(first, length, lambda i, s: self.fast_bare(t0 + i, s), fast)
            out = self.out_of_bounds(fast)
        else:
            fo = (state, jnp.zeros_like(diverged))
            fo = self.fast_checked(t0, fo) if peel else fo
            fast, out = _loop(first, length, lambda i, cc: self.fast_checked(t0 + i, cc), fo)
            out = out | self.out_of_bounds(fast)  # every state of the block checked once (its start again)
        return jax.lax.cond(
            jnp.any(~diverged & out),
            lambda: jax.lax.fori_loop(0, length, lambda i, cc: self.one_step(t0 + i, cc), c),
            lambda: (self.restore(fast, state, diverged), diverged, div_step),
        )

    def run_steps_peeled(self, c, start, n: int):
        """:meth:`run_steps` for a static ``n ≥ 1`` with step ``start`` in the caller's computation:
        the first ``min(n, BLOCK)`` steps are one block (a shorter block is as exact as a full
        one) whose first step is peeled; with an exit criterion that step is exact. A costly step
        is not peeled: one copy of it in the program matters more than what it would share."""
        if self.costly:
            return self.run_steps(c, start, n)
        if self.config.exit_fn is not None:
            return self.run_steps(self.one_step(start, c), start + 1, n - 1)
        m = min(n, BLOCK)
        return self.run_steps(self.block(start, c, m, peel=True), start + m, n - m)

    def run_steps(self, c, start, n):
        """Steps ``start .. start + n − 1`` (``n`` static or traced). Without an exit criterion:
        whole blocks, then the rest exactly; with one (or a costly step), every step exactly."""
        if self.exact_only:
            return _loop(0, n, lambda i, cc: self.one_step(start + i, cc), c)
        n_blocks = n // BLOCK
        c = _loop(0, n_blocks, lambda b, cc: self.block(start + b * BLOCK, cc), c)
        rest = start + n_blocks * BLOCK
        return _loop(0, n - n_blocks * BLOCK, lambda i, cc: self.one_step(rest + i, cc), c)


def _loop(lo, hi, body, c):
    """``fori_loop(lo, hi, body, c)``, without tracing ``body`` when both bounds are static and the
    loop runs no step: such a loop would still put its copy of the step into the program, to be
    traced, lowered and compiled (an interval of at most BLOCK steps, the one-step block after a
    peeled step)."""
    if isinstance(lo, int) and isinstance(hi, int) and hi <= lo:
        return c
    return jax.lax.fori_loop(lo, hi, body, c)


def _chunk(landscape, dynamics, noise, config: Config, key, carry, theta0, starts, ends, grid=None):
    """Run save intervals ``[starts[i], ends[i])`` one after another; observables at each end.

    With a static interval length the observables of save point ``i`` are evaluated at the start
    of interval ``i + 1``, on the state its first step starts from, and that step is peeled into
    the same computation (:meth:`_Steps.run_steps_peeled`): what the two share — for ``"loss"``
    the gradient's product (:meth:`~sgd_sde.landscapes.AbstractLandscape.ensemble_value_and_grad`)
    — XLA computes once. Only the chunk's last save point is evaluated on its own. With dynamic
    lengths (padded chunks, uneven ``save_at``, where an interval may have no step) each
    interval's end is evaluated after it.
    """
    steps = _Steps(landscape, dynamics, noise, config, key, grid=grid)

    def one_observable(fn, th):
        if fn in ENSEMBLE:  # a built-in with an ensemble form (the loss from value_and_grad)
            return ENSEMBLE[fn](landscape, th, theta0)
        return jax.vmap(lambda a, b: fn(landscape, a, b), in_axes=(1, 1), out_axes=0)(th, theta0)

    @steps.pointwise
    def observe_state(state):
        th = state["theta"]
        rec = {name: one_observable(fn, th) for name, fn in config.observables}
        if "solver_failed" in state:  # failure as data (DiffraxSDE): saved like an observable
            rec["solver_failed"] = state["solver_failed"]
        return rec

    def observe(c):
        return constrain(observe_state(c[0]), config.sharding)

    def stack(first, rest):
        return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)

    if config.length is not None:  # record on entry (shared with the peeled first step)
        def interval(c, se):
            seen = observe(c)
            return constrain(steps.run_steps_peeled(c, se[0], config.length), config.sharding), seen

        out, rec = jax.lax.scan(interval, carry, (starts, ends))
        last = jax.tree_util.tree_map(lambda a: a[None], observe(out))
        rec = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a if config.record_initial else a[1:], b]),
                                     rec, last)
    else:
        def interval(c, se):
            c = steps.run_steps(c, se[0], se[1] - se[0])
            c = constrain(c, config.sharding)
            return c, observe(c)

        out, rec = jax.lax.scan(interval, carry, (starts, ends))
        if config.record_initial:
            rec = stack(observe(carry), rec)
    if grid is not None:  # (saves, grid, ...) -> (grid, saves, ...), as the carry: grid axis first
        rec = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), rec)
    return out, rec


def _grid_chunk(landscape, dynamics, noise, config, key, carry, theta0, starts, ends, lrs, batch_sizes, keys=None):
    """:func:`_chunk` over a grid of ``(lr, batch_size)``: the same ``key`` for every point (common
    random numbers), or ``keys[i]`` for point ``i``."""
    return _chunk(landscape, dynamics, noise, config, key, carry, theta0, starts, ends, grid=(lrs, batch_sizes, keys))


class _DonatingCarry:
    """``fn(landscape, dynamics, noise, config, key, carry, *rest)`` compiled with ``carry`` donated.

    The carry of one chunk is dead once the next is computed, so XLA may write the new carry into
    its buffers: peak device memory is one carry, not two. ``equinox.filter_jit`` donates by
    position ("all except the first"), so the carry is moved last internally. ``lower`` mirrors
    ``jax.jit``'s for the structural tests.
    """

    def __init__(self, fn, name: str):
        def program(args, carry):
            return fn(*args[:5], carry, *args[5:])

        program.__name__ = program.__qualname__ = name  # what profiles and compile logs show: jit(run_chunk)
        self._jit = eqx.filter_jit(program, donate="all-except-first")

    @staticmethod
    def _split(args):
        return (*args[:5], *args[6:]), args[5]

    def __call__(self, *args):
        return self._jit(*self._split(args))

    def lower(self, *args):
        return self._jit.lower(*self._split(args))


run_chunk = _DonatingCarry(_chunk, "run_chunk")
run_grid_chunk = _DonatingCarry(_grid_chunk, "run_grid_chunk")


@eqx.filter_jit
def initial_carry(dynamics, theta, n_grid, with_exit: bool = False):
    """``theta`` ``(P, d)`` → ``(theta_dp, carry)`` in one compiled call (no eager set-up ops).

    ``carry = (state, diverged, divergence_step)`` (``+ (exit_step,)`` when ``with_exit``), with a
    leading axis of ``n_grid`` grid points when ``n_grid`` is an int. ``carry``'s buffers are
    distinct from ``theta_dp``, so the carry can be donated.
    """
    theta_dp = theta.T  # (d, P): particles on the minor axis
    p = theta.shape[0]
    carry = (dynamics.init(theta_dp), jnp.zeros(p, bool), jnp.full(p, -1, jnp.int32))
    if with_exit:
        carry += (jnp.full(p, -1, jnp.int32),)
    if n_grid is not None:
        carry = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n_grid,) + x.shape), carry)
    return theta_dp, carry


@eqx.filter_jit
def run_until(landscape, dynamics, noise, config: Config, params, key, carry, k0, max_steps, stop_at, block: int):
    """Advance ``carry = (state, diverged, divergence_step, exit_step)`` from step ``k0`` until
    ``max_steps`` or until at most ``stop_at`` particles are still running (checked every ``block``
    steps; results do not depend on ``block``). Particles already outside on entry get
    ``exit_step = k0``. Returns ``(k, carry)``."""
    steps = _Steps(landscape, dynamics, noise, config, key, params=params)
    state, diverged, div_step, exit_step = carry
    exit_step = jnp.where(~diverged & (exit_step == -1) & steps.exited(state["theta"]), k0, exit_step)

    def running(c):
        return ~c[1] & (c[3] == -1)

    def cond(kc):
        k, c = kc
        return (k < max_steps) & (jnp.sum(running(c)) > stop_at)

    def body(kc):
        k, c = kc
        n = jnp.minimum(block, max_steps - k)
        return k + n, steps.run_steps(c, k, n)

    return jax.lax.while_loop(cond, body, (k0, (state, diverged, div_step, exit_step)))
