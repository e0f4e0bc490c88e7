r"""Exploration policies: the learning-rate range test and a small search over a policy's parameters.

Both run through :func:`sgd_sde.networks.sweep`, which trains every (learning rate, seed) member
of a batch size in one vmapped program.

* :func:`lr_range_test` (Smith 2017, "Cyclical Learning Rates for Training Neural Networks",
  Section 3.3) — one run whose learning rate rises linearly or exponentially from ``lr_min`` to
  ``lr_max``; the minibatch loss is recorded at every step. The suggested rate is the one where
  the smoothed loss falls fastest per unit ``log η``; the run is cut where the smoothed loss first
  exceeds four times its minimum (or is not finite), as fastai's ``lr_find`` does.
* :func:`search` — every combination of a policy's parameters on a grid (LRBench's "trials"), each
  over several seeds, with the wall time spent (the cost of tuning).

References:
    Smith 2017, "Cyclical Learning Rates for Training Neural Networks"; Wu et al. 2019,
    "Demystifying Learning Rate Policies for High Accuracy Training of Deep Neural Networks";
    Jin et al. 2023 (LRBench++: exploration-based policies and the cost of tuning).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from .policies import AbstractPolicy, _broadcast, _is_host, policy

__all__ = ["RangeSchedule", "range_schedule", "lr_range_test", "search"]


class RangeSchedule(AbstractPolicy):
    """``η_k`` from ``lr_min`` (k = 0) to ``lr_max`` (k = n − 1), linear or geometric, held after (final)."""

    lr_min: float = eqx.field(static=True)
    lr_max: float = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    mode: str = eqx.field(static=True)

    @property
    def label(self) -> str:
        return f"range-{self.mode}"

    def __call__(self, k):
        xp = np if _is_host(k) else jnp
        kk = xp.asarray(k)
        u = xp.minimum(kk, self.n_steps - 1) / max(self.n_steps - 1, 1)
        if not _is_host(k):
            u = u.astype(jnp.result_type(float))
        if self.mode == "exp":
            out = self.lr_min * (self.lr_max / self.lr_min) ** u
        else:
            out = self.lr_min + (self.lr_max - self.lr_min) * u
        return _broadcast(out, k)

    def sympy(self):
        import sympy as sp

        t = sp.Symbol("t", integer=True, nonnegative=True)
        u = sp.Min(t, self.n_steps - 1) / max(self.n_steps - 1, 1)
        lo, hi = (sp.nsimplify(x, rational=True) for x in (self.lr_min, self.lr_max))
        return lo * (hi / lo) ** u if self.mode == "exp" else lo + (hi - lo) * u

    def lower_bound(self) -> float:
        return self.lr_max


def range_schedule(lr_min: float, lr_max: float, n_steps: int, mode: str = "exp") -> RangeSchedule:
    """The range-test schedule (see :class:`RangeSchedule`).

    Raises:
        ValueError: ``lr_min``/``lr_max`` not positive or not increasing, ``mode`` not ``"exp"``/``"linear"``.

    Examples:
        >>> import numpy as np
        >>> range_schedule(1e-3, 1.0, 4)(np.arange(4)).round(6).tolist()
        [0.001, 0.01, 0.1, 1.0]
    """
    lo, hi = V.positive("lr_min", lr_min), V.positive("lr_max", lr_max)
    if not hi > lo:
        raise ValueError(f"lr_max must be > lr_min, got lr_min={lr_min}, lr_max={lr_max}")
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    return RangeSchedule(lo, hi, V.positive_int("n_steps", n_steps), mode)


def _smooth(x, beta=0.9):
    """Bias-corrected exponential moving average (fastai's lr_find smoothing)."""
    out, avg = np.empty_like(x), 0.0
    for i, v in enumerate(x):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def lr_range_test(key, model_fn: Callable, data, *, lr_min: float = 1e-4, lr_max: float = 3.0, n_steps: int = 200,
                  mode: str = "exp", batch_size: int = 32, seeds: Sequence[int] = (0,), momentum: float = 0.9) -> dict[str, Any]:
    r"""The learning-rate range test: train once with a rising learning rate and record the loss.

    Args:
        key: ``jax.random`` key (as :func:`sgd_sde.networks.sweep`'s).
        model_fn: ``key -> model``; data: a :class:`~sgd_sde.networks.Dataset`.
        lr_min, lr_max: the range; n_steps: its length; mode: ``"exp"`` (geometric) or ``"linear"``.
        batch_size: minibatch size; seeds: seeds run together (vmapped) and averaged;
        momentum: heavy-ball coefficient.

    Returns:
        dict with ``lr`` ``(n_steps,)``, ``loss`` ``(n_seed, n_steps)`` (minibatch loss per step),
        ``smoothed`` ``(n_steps,)`` (seed mean, EMA-smoothed), ``stop`` (steps kept, where the
        smoothed loss first exceeds 4× its minimum or is not finite), ``suggested_lr`` (the lr of
        the steepest fall of the smoothed loss per unit ``log η`` before ``stop``) and ``wall_s``.

    Raises:
        ValueError: as :func:`range_schedule` and :func:`sgd_sde.networks.sweep`.

    References:
        Smith 2017, "Cyclical Learning Rates for Training Neural Networks", Section 3.3.
    """
    from ..networks import sweep

    sched = range_schedule(lr_min, lr_max, n_steps, mode)
    t0 = time.perf_counter()
    # sweep's member lr is lrs[i] · lr_shape(k): the whole range schedule at scale 1
    res = sweep(key, model_fn, data, lrs=[1.0], batch_sizes=[batch_size], seeds=seeds, n_steps=n_steps,
                lr_shape=sched, momentum=momentum, record_every=1)
    wall = time.perf_counter() - t0
    loss = res.curves["train_loss"][0, 0]  # (n_seed, n_steps): record_every=1 → one step per window
    lrs = sched(np.arange(n_steps))
    mean = np.mean(loss, axis=0)
    sm = _smooth(np.where(np.isfinite(mean), mean, np.inf))
    bad = np.flatnonzero(~np.isfinite(sm) | (sm > 4 * np.nanmin(sm[np.isfinite(sm)])))
    stop = int(bad[0]) if bad.size else n_steps
    slope = np.gradient(sm[:stop], np.log(lrs[:stop])) if stop >= 3 else np.array([np.nan])
    suggested = float(lrs[int(np.nanargmin(slope))]) if stop >= 3 else float("nan")
    return {"lr": lrs, "loss": loss, "smoothed": sm, "stop": stop, "suggested_lr": suggested, "wall_s": wall,
            "mode": mode}


def search(key, name: str, grid: Mapping[str, Sequence], model_fn: Callable, data, *, fixed: Mapping[str, Any] | None = None,
           scales: Sequence[float] = (1.0,), seeds: Sequence[int] = (0, 1), n_steps: int = 200, batch_size: int = 32,
           momentum: float = 0.9):
    r"""A small grid search over a policy's parameters (LRBench's tuning trials), seeds vmapped.

    Every combination of ``grid`` (with ``fixed`` for the other parameters) builds
    ``policy(name, **params)``; :func:`sgd_sde.networks.sweep` trains it at each overall ``scale``
    (``η_k = scale · policy(k)``, vmapped with the seeds).

    Args:
        key: ``jax.random`` key (shared by every trial: common random numbers).
        name: policy name; grid: parameter -> values to try; fixed: the other parameters.
        model_fn, data: as :func:`sgd_sde.networks.sweep`.
        scales: overall multipliers of the policy (the sweep's ``lrs`` axis).
        seeds, n_steps, batch_size, momentum: as :func:`sgd_sde.networks.sweep`.

    Returns:
        ``pandas.DataFrame``: one row per (trial, scale, seed) with the parameters, ``scale``,
        ``seed``, the sweep's final metrics (``test_acc``, ``train_loss``, ...) and ``trial_wall_s``
        (the trial's wall time, for the cost of tuning: trials × time).

    Raises:
        ValueError: an empty grid, an unknown parameter (from :func:`~sgd_sde.lrbench.policy`).

    Examples:
        >>> import jax
        >>> from sgd_sde.networks import MLP, load_dataset
        >>> data = load_dataset("digits").subset(256, 64)  # doctest: +SKIP
        >>> df = search(jax.random.key(0), "STEP", {"gamma": [0.1, 0.5]}, lambda k: MLP(data.input_shape, 10, (16,), key=k),
        ...             data, fixed={"k0": 0.05, "l": 10}, seeds=[0], n_steps=20)  # doctest: +SKIP
        >>> df[["gamma", "seed"]].values.tolist()  # doctest: +SKIP
        [[0.1, 0.0], [0.5, 0.0]]
    """
    import pandas as pd

    from ..networks import sweep

    if not isinstance(grid, Mapping) or not grid or any(len(list(v)) == 0 for v in grid.values()):
        raise ValueError(f"grid must map parameter names to non-empty lists of values, got {grid!r}")
    fixed = dict(fixed or {})
    rows = []
    keys = list(grid)
    trials = [dict(zip(keys, combo)) for combo in itertools.product(*(list(grid[k]) for k in keys))]
    pols = [policy(name, **fixed, **t) for t in trials]  # validate every trial before running any
    for t, pol in zip(trials, pols):
        t0 = time.perf_counter()
        res = sweep(key, model_fn, data, lrs=list(scales), batch_sizes=[batch_size], seeds=seeds, n_steps=n_steps,
                    lr_shape=pol, momentum=momentum)
        wall = time.perf_counter() - t0
        for rec in res.to_records():
            row = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in t.items()}, "scale": rec.pop("lr"), **rec,
                   "trial_wall_s": wall}
            rows.append(row)
    return pd.DataFrame.from_records(rows)
