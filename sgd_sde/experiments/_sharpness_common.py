r"""Shared machinery of the sharpness experiments (:mod:`.keskar`, :mod:`.hoffer`, :mod:`.swa`,
:mod:`.golmant`): an ensemble trainer that returns what :func:`sgd_sde.networks.sweep` does not
(final and intermediate parameters, per-step distance from initialisation), per-member
evaluation. Intervals over seeds come from :mod:`._common`.

:func:`train_ensemble` trains ``n_configs × n_seeds`` members of one architecture and batch size
in **one** compiled ``lax.scan`` over steps, ``vmap``-ed over members. Its step is
:func:`sgd_sde.networks.train.make_runner`'s (the training loop of :func:`~sgd_sde.networks.train`,
one place for the update), its batches come from the same host-side plan
(:class:`sgd_sde.networks._plan.Plan`: without replacement within an epoch), and member
``(c, s)`` uses the initial weights ``model_fn(fold_in(k_init, s))`` and the batch order
``fold_in(k_batch, s)`` with ``k_init, k_batch = split(key)`` — the convention of
:func:`~sgd_sde.networks.sweep`, so seeds are paired across configurations (common random numbers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ..measure.weights import distance_from_init
from ..networks._plan import Plan
from ..networks.datasets import Dataset
from ..networks.models import AbstractModel, cross_entropy
from ..networks.train import make_optimizer, make_runner

__all__ = ["EnsembleRun", "train_ensemble", "evaluate_members", "member", "unit_lr", "single_blas_thread", "divergence_note", "check_result"]


def single_blas_thread(fn: Callable) -> Callable:
    """Run ``fn`` with NumPy's BLAS/LAPACK limited to one thread (``threadpoolctl``).

    The measurements mix small host-side linear algebra (the pseudo-inverse of a ``d × 100``
    subspace in Keskar's sharpness, eigendecompositions) with XLA's own thread pool; on a small
    shared CPU a multi-threaded OpenBLAS then spins against XLA, and one ``2400 × 100`` SVD was
    measured at 5.3 s instead of 0.1 s. Results do not depend on the thread count beyond rounding.
    """
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapped


def unit_lr(k):
    """The constant learning-rate shape 1 (module level: equal configurations share compilations)."""
    return jnp.ones_like(jnp.asarray(k), dtype=jnp.float32)


@dataclasses.dataclass(frozen=True)
class EnsembleRun:
    """Output of :func:`train_ensemble` (members ordered configuration-major, then seed).

    Attributes:
        static: the non-array part of the model (shared by every member).
        params0, params: stacked initial and final parameters (leading axis = member).
        bn_state: stacked batch-norm statistics at the end.
        snapshots: stacked parameters after each step in ``snapshot_steps`` (axes ``(S, M, ...)``),
            with their batch-norm statistics ``snapshot_bn``.
        loss: ``(M, n_steps)`` minibatch loss per step; distance: ``(M, n_steps)`` ``‖w_t − w_0‖``
            after step ``t + 1``.
        diverged_step: ``(M,)`` first step whose minibatch loss was not finite (−1: none).
        n_configs, n_seeds, batch_size, n_steps, snapshot_steps: the layout.
    """

    static: Any
    params0: Any
    params: Any
    bn_state: Any
    snapshots: Any
    snapshot_bn: Any
    loss: np.ndarray
    distance: np.ndarray
    diverged_step: np.ndarray
    n_configs: int
    n_seeds: int
    batch_size: int
    n_steps: int
    snapshot_steps: tuple[int, ...]

    @property
    def n_members(self) -> int:
        return self.n_configs * self.n_seeds


def member(tree, i: int):
    """Member ``i`` of a stacked PyTree."""
    return jax.tree.map(lambda x: x[i], tree)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _scan_member(static, opt, lr_fn, carry, snaps, X, Y, idx, ks, lr_scale, p0, snap_steps):
    run = make_runner(static, opt, lr_fn, use_swa=False)
    no_swa = jnp.zeros((1,), bool)

    def outer(c, inp):
        carry, snaps = c
        ix, k = inp
        carry, loss = run(carry, X, Y, ix[None], k[None], no_swa, lr_scale)
        params, bn = carry[0], carry[1]
        hit = snap_steps == k + 1
        put = lambda s, p: jnp.where(hit.reshape((-1,) + (1,) * p.ndim), p[None], s)
        snaps = (jax.tree.map(put, snaps[0], params), jax.tree.map(put, snaps[1], bn))
        return (carry, snaps), (loss[0], distance_from_init(params, p0))

    return jax.lax.scan(outer, (carry, snaps), (idx, ks))


@eqx.filter_jit
def _run_members(static, opt, lr_fn, carry, snaps, X, Y, idx, ks, lr_scale, p0, snap_steps):
    def one(carry, snaps, idx, lr_scale, p0):
        return _scan_member(static, opt, lr_fn, carry, snaps, X, Y, idx, ks, lr_scale, p0, snap_steps)

    return jax.vmap(one, in_axes=((0, 0, 0, None, None), 0, 0, 0, 0))(carry, snaps, idx, lr_scale, p0)


def train_ensemble(
    key,
    model_fn: Callable[[Any], AbstractModel],
    data: Dataset,
    *,
    seeds: Sequence[int],
    lr_scales: Sequence[float],
    batch_size: int,
    n_steps: int,
    lr_shape: Callable = unit_lr,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    snapshot_steps: Sequence[int] = (),
) -> EnsembleRun:
    r"""Train ``len(lr_scales) × len(seeds)`` members at one batch size in one compiled scan.

    Member ``(c, s)`` follows ``η_k = lr_scales[c] · lr_shape(k)``; see the module docstring for
    keys. Records the minibatch loss and ``‖w_t − w_0‖`` after every step and the parameters after
    each step listed in ``snapshot_steps``.

    Args:
        key: ``jax.random`` key.
        model_fn: ``key -> model``.
        data: a :class:`~sgd_sde.networks.Dataset`.
        seeds: non-negative ints; lr_scales: peak learning rates (> 0), one per configuration.
        batch_size: ``B`` in ``[1, N_train]`` (a multiple of the ghost batch size, if any).
        n_steps: number of updates (≥ 1).
        lr_shape: traceable ``k -> factor`` (default 1; e.g. :func:`sgd_sde.schedules.cyclic`).
        optimizer, momentum: see :func:`~sgd_sde.networks.make_optimizer`.
        snapshot_steps: completed-step counts in ``[1, n_steps]`` at which to keep the parameters.

    Returns:
        :class:`EnsembleRun`.

    Raises:
        ValueError: bad sizes, seeds, learning rates or snapshot steps (named), before tracing.
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an sgd_sde.networks.Dataset, got {type(data).__name__}")
    N = data.n_train
    B = V.positive_int("batch_size", batch_size)
    if B > N:
        raise ValueError(f"batch_size must be <= the {N} training examples, got batch_size={B}")
    n = V.positive_int("n_steps", n_steps)
    seeds = [V.as_int("seeds", s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {seeds}")
    scales = np.asarray([V.positive("lr_scales", s) for s in lr_scales], np.float32)
    if scales.size == 0:
        raise ValueError("lr_scales must not be empty")
    snap = tuple(V.positive_int("snapshot_steps", s) for s in snapshot_steps)
    if any(s > n for s in snap):
        raise ValueError(f"snapshot_steps must lie in [1, n_steps={n}], got {list(snap)}")
    opt = make_optimizer(optimizer, momentum=momentum)
    k_init, k_batch = jax.random.split(key)
    models = [model_fn(jax.random.fold_in(k_init, s)) for s in seeds]
    ghosts = [nm.ghost_size for nm in getattr(models[0], "norms", ()) if getattr(nm, "ghost_size", None)]
    if ghosts and B % max(ghosts):
        raise ValueError(f"batch_size must be a multiple of the ghost batch size {max(ghosts)}, got {B}")
    p_s = [eqx.filter(m, eqx.is_inexact_array) for m in models]
    static = eqx.partition(models[0], eqx.is_inexact_array)[1]
    nc, ns = scales.size, len(seeds)
    params = _stack([p_s[j] for _ in range(nc) for j in range(ns)])
    bn = _stack([models[j].init_state() for _ in range(nc) for j in range(ns)])
    opt_state = jax.vmap(opt.init)(params)
    idx_s = [Plan(jax.random.fold_in(k_batch, s), N, np.full(n, B)).indices(0, n) for s in seeds]
    idx = jnp.asarray(np.stack([idx_s[j] for _ in range(nc) for j in range(ns)]))
    lr_scale = jnp.asarray(np.repeat(scales, ns))
    n_snap = max(len(snap), 1)
    snaps = (jax.tree.map(lambda p: jnp.zeros((p.shape[0], n_snap) + p.shape[1:], p.dtype), params),
             jax.tree.map(lambda p: jnp.zeros((p.shape[0], n_snap) + p.shape[1:], p.dtype), bn))
    snap_steps = jnp.asarray(snap if snap else (-1,), jnp.int32)
    X, Y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    carry = (params, bn, opt_state, None, jnp.zeros((), jnp.int32))
    ((carry, snaps), (loss, dist)) = _run_members(static, opt, lr_shape, carry, snaps, X, Y, idx, jnp.arange(n), lr_scale,
                                                  params, snap_steps)
    loss = np.asarray(loss, np.float64)
    bad = ~np.isfinite(loss)
    diverged = np.where(bad.any(axis=1), bad.argmax(axis=1), -1)
    swap = lambda t: jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1)[: len(snap)], t)
    return EnsembleRun(static, params, carry[0], carry[1], swap(snaps[0]), swap(snaps[1]), loss,
                       np.asarray(dist, np.float64), diverged, nc, ns, B, n, snap)


def check_result(result, name: str) -> None:
    """Refuse to draw ``name``'s figure from anything but a result of experiment ``name``.

    Raises:
        TypeError: ``result`` is not an :class:`~sgd_sde.verdicts.ExperimentResult`.
        ValueError: it is the result of another experiment.
    """
    from ..verdicts import ExperimentResult

    if not isinstance(result, ExperimentResult):
        raise TypeError(f"result must be an ExperimentResult (run() or ExperimentResult.load), got {type(result).__name__}")
    if result.name != name:
        raise ValueError(f"result must be a {name!r} result, got one of experiment {result.name!r}")


def divergence_note(*runs: EnsembleRun) -> str:
    """One sentence counting the members of ``runs`` whose minibatch loss went non-finite (with the
    earliest step), for the verdict notes: a diverged run is never averaged away silently (its
    metrics are NaN, so any interval over it is NaN and the verdict inconclusive)."""
    steps = np.concatenate([np.asarray(r.diverged_step) for r in runs])
    bad = steps[steps >= 0]
    if bad.size == 0:
        return f"No training run diverged (0 of {steps.size})."
    return f"{bad.size} of {steps.size} training runs diverged (first at step {int(bad.min())})."


@eqx.filter_jit
def _eval_stacked(static, params, bn, X, Y):
    def ev(p, st):
        logits, _ = eqx.combine(p, static)(X, st, train=False)
        return jnp.mean(cross_entropy(logits, Y)), jnp.mean(jnp.argmax(logits, -1) == Y)

    return jax.vmap(ev)(params, bn)


def evaluate_members(static, params, bn_state, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy (inference mode) of every stacked member on ``(x, y)``."""
    loss, acc = _eval_stacked(static, params, bn_state, jnp.asarray(x), jnp.asarray(y))
    return np.asarray(loss, np.float64), np.asarray(acc, np.float64)


SHARPNESS = ("keskar", "hoffer", "swa", "golmant")


def main(name: str, argv=None) -> None:
    """Command line of an experiment module: ``python -m sgd_sde.experiments.<name> [--size S]
    [--seed K] [--out DIR]`` runs it, saves ``<DIR>/<name>.npz``, draws ``<DIR>/<name>.png`` and
    prints the verdict table and the wall time. ``python -m sgd_sde.experiments._sharpness_common``
    does this for all four sharpness experiments in one process and prints the table of all
    claims with the command that re-runs each (:func:`._common.results_table`)."""
    import argparse
    import importlib
    import os
    import time

    from ._common import SIZES, results_table

    ap = argparse.ArgumentParser(prog=f"python -m sgd_sde.experiments.{name}")
    ap.add_argument("--size", choices=SIZES, default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="figures/experiments")
    ap.add_argument("--doc", default=None, help="markdown file whose results block is rewritten with the table")
    args = ap.parse_args(argv)
    names = SHARPNESS if name == "all" else (name,)
    results, total, total_cpu = [], 0.0, 0.0
    for nm in names:
        mod = importlib.import_module(f"sgd_sde.experiments.{nm}")
        t, c = time.perf_counter(), time.process_time()
        res = mod.run(args.seed, size=args.size)
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        total, total_cpu = total + secs, total_cpu + cpu
        res.save(f"{args.out}/{nm}")
        mod.figure(res, args.out)
        results.append(res)
        print(f"{nm} ({args.size}): {secs:.1f} s wall, {cpu:.1f} s CPU (all threads)", flush=True)
    cmds = {nm: (f"python -m sgd_sde.experiments.{nm} --size {args.size} --seed {args.seed} --out {args.out}")
            for nm in names}
    table = results_table(results, commands=cmds)
    timing = (f"total ({args.size}, {len(names)} experiment(s), one process): {total:.1f} s wall, {total_cpu:.1f} s CPU; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(table)
    print(timing)
    if args.doc:
        write_results_block(args.doc, table + "\n\n" + f"Wall time of this run: {timing}.")


BEGIN, END = "<!-- results:begin (written by code) -->", "<!-- results:end -->"


def write_results_block(path, text: str) -> None:
    """Replace the text between :data:`BEGIN` and :data:`END` in the markdown file ``path`` (atomic).

    Raises:
        ValueError: naming the file, if it lacks a marker or holds one twice.
    """
    from ..io import replace_between_markers

    try:
        replace_between_markers(path, (BEGIN, END), "\n" + text.strip() + "\n")
    except ValueError as err:
        raise ValueError(f"{path} has no single results block ({BEGIN} ... {END}): {err}") from err


if __name__ == "__main__":
    main("all")
