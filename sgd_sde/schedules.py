r"""Learning-rate and batch-size schedules as functions of the step ``k`` (0-based).

Every schedule is a plain callable ``k -> value`` that works on Python ints, NumPy arrays and
traced JAX integers, so it can be used inside :func:`sgd_sde.simulate`'s scan, with optax, and
for exact host-side sums (e.g. :func:`sgd_sde.theory.robbins_monro` style checks). Where optax
has the schedule, it is used.

The *noise scale* of a schedule (Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning
Rate, Increase the Batch Size") is ``g(k) = η(k)(N/B(k) − 1) ≈ η(k) N / B(k)``;
:func:`noise_scale` computes it on the host with :func:`sgd_sde.theory.temperature`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax

from . import _validate as V

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential_decay",
    "inverse_power",
    "cosine",
    "cyclic",
    "warmup",
    "increase_batch",
    "noise_scale",
    "evaluate",
]


class Schedule(eqx.Module):
    """A learning-rate schedule and a batch-size schedule used together by :func:`simulate`.

    Args:
        lr: callable ``k -> η_k`` (or ``None``: the dynamics' constant ``lr``).
        batch_size: callable ``k -> B_k`` (or ``None``: the dynamics' constant ``batch_size``).
    """

    lr: Callable | None = eqx.field(default=None, static=True)
    batch_size: Callable | None = eqx.field(default=None, static=True)


def _xp(k):
    return np if isinstance(k, (int, np.integer, np.ndarray)) else jnp


def constant(value: float) -> Callable:
    """``η_k = value``."""
    v = V.positive("value", value)
    return lambda k: v * _xp(k).ones_like(_xp(k).asarray(k), dtype=float)


def step_decay(init_value: float, boundaries: Sequence[int], factor: float = 0.1) -> Callable:
    """Piecewise constant: multiply by ``factor`` at each step in ``boundaries`` (a finite number of drops).

    Raises:
        ValueError: if ``init_value <= 0``, ``factor`` not in (0, 1], or boundaries not increasing positive ints.
    """
    v = V.positive("init_value", init_value)
    f = V.positive("factor", factor)
    b = [V.positive_int("boundaries", x) for x in boundaries]
    if any(b2 <= b1 for b1, b2 in zip(b, b[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")
    return optax.piecewise_constant_schedule(v, {x: f for x in b})


def exponential_decay(init_value: float, decay_rate: float, transition_steps: int = 1) -> Callable:
    """``η_k = init_value · decay_rate^(k / transition_steps)`` (optax)."""
    v = V.positive("init_value", init_value)
    r = V.in_open_interval("decay_rate", decay_rate, 0.0, float("inf"))
    t = V.positive_int("transition_steps", transition_steps)
    return optax.exponential_decay(v, t, r)


def inverse_power(init_value: float, power: float, offset: float = 1.0) -> Callable:
    r"""``η_k = init_value / (1 + k/offset)^power`` — the Robbins–Monro family ``c/(k + k_0)^p``.

    Satisfies Robbins & Monro 1951 ("A Stochastic Approximation Method") iff ``1/2 < p ≤ 1``.
    """
    v = V.positive("init_value", init_value)
    p = V.nonnegative("power", power)
    o = V.positive("offset", offset)
    return lambda k: v / (1.0 + _xp(k).asarray(k) / o) ** p


def cosine(init_value: float, decay_steps: int, alpha: float = 0.0) -> Callable:
    """Cosine decay (Loshchilov & Hutter 2017) to ``alpha · init_value`` over ``decay_steps`` (optax)."""
    v = V.positive("init_value", init_value)
    n = V.positive_int("decay_steps", decay_steps)
    a = V.nonnegative("alpha", alpha)
    return optax.cosine_decay_schedule(v, n, a)


def cyclic(high: float, low: float, cycle: int) -> Callable:
    r"""Izmailov et al. 2018 ("Averaging Weights Leads to Wider Optima and Better Generalization")
    cyclic schedule: linear from ``high`` to ``low`` within each cycle of ``cycle`` steps,
    ``η(i) = (1 − t) high + t low``, ``t = ((i mod c) + 1)/c``."""
    hi = V.positive("high", high)
    lo = V.positive("low", low)
    c = V.positive_int("cycle", cycle)

    def fn(k):
        xp = _xp(k)
        t = (xp.mod(xp.asarray(k), c) + 1.0) / c
        return (1.0 - t) * hi + t * lo

    return fn


def warmup(peak: float, warmup_steps: int, then: Callable | None = None) -> Callable:
    """Linear warm-up from ``peak / warmup_steps`` to ``peak`` (Goyal et al. 2017, "Accurate, Large
    Minibatch SGD"), then ``then(k - warmup_steps)`` (default: constant ``peak``)."""
    p = V.positive("peak", peak)
    w = V.positive_int("warmup_steps", warmup_steps)

    def fn(k):
        xp = _xp(k)
        k = xp.asarray(k)
        after = p if then is None else then(xp.maximum(k - w, 0))
        return xp.where(k < w, p * (k + 1.0) / w, after)

    return fn


def increase_batch(init_batch: int, boundaries: Sequence[int], factor: int = 5, max_batch: int | None = None) -> Callable:
    """Batch size multiplied by ``factor`` at each boundary instead of dividing the learning rate
    (Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size")."""
    b0 = V.positive_int("init_batch", init_batch)
    f = V.positive_int("factor", factor)
    bounds = [V.positive_int("boundaries", x) for x in boundaries]
    cap = None if max_batch is None else V.positive_int("max_batch", max_batch)

    def fn(k):
        xp = _xp(k)
        k = xp.asarray(k)
        drops = sum((k >= x).astype(xp.int32) for x in bounds) if bounds else xp.zeros_like(k)
        b = b0 * f**drops
        return b if cap is None else xp.minimum(b, cap)

    return fn


def evaluate(schedule: Callable, n_steps: int, name: str = "schedule") -> np.ndarray:
    """Evaluate ``schedule`` at steps ``0 … n_steps−1`` on the host and check every value is finite and > 0.

    Raises:
        ValueError: naming ``name`` and the first offending step.
    """
    values = np.asarray(schedule(np.arange(n_steps)), dtype=np.float64)
    if values.shape == ():
        values = np.full(n_steps, float(values))
    if values.shape != (n_steps,):
        raise ValueError(f"{name} must return one value per step, got shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{name} must be finite and > 0 at every step, got {values[k]} at step {k}")
    return values


def noise_scale(lr: Callable | float, batch_size: Callable | int, n_examples: int, n_steps: int, momentum: float = 0.0) -> np.ndarray:
    """Smith et al. 2018 noise scale of a schedule, ``g_k = η_k (N/B_k − 1)/(1 − m)`` for ``k < n_steps``,
    evaluated by :func:`sgd_sde.theory.temperature` (the single source of the formula; its docstring
    states the sum-vs-mean loss convention). ``g ≈ η N/(B(1−m))`` for ``B ≪ N``."""
    from .theory import temperature

    n = V.positive_int("n_examples", n_examples)
    lrs = evaluate(lr, n_steps, "lr") if callable(lr) else np.full(n_steps, V.positive("lr", lr))
    bs = evaluate(batch_size, n_steps, "batch_size") if callable(batch_size) else np.full(n_steps, V.positive_int("batch_size", batch_size))
    return np.asarray(temperature(lrs, bs, n, momentum), dtype=np.float64)
