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
import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _validate as V

__all__ = [
    "Schedule",
    "SymbolicSchedule",
    "at_step",
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


class SymbolicSchedule:
    """A schedule ``k -> η_k`` that also carries its symbolic form ``η(t)``.

    Calling it evaluates the numeric schedule (Python ints, NumPy arrays, traced JAX integers);
    :meth:`expression` returns the same schedule as a SymPy expression in ``t`` (built lazily; SymPy
    is imported only then), which :func:`sgd_sde.theory.robbins_monro` decides exactly.

    Args:
        fn: the numeric schedule.
        expression: ``t -> SymPy expression`` (``t`` a non-negative integer symbol).
        description: what it is, for ``repr``.
    """

    __slots__ = ("_fn", "_expression", "_description")

    def __init__(self, fn: Callable, expression: Callable, description: str):
        self._fn = fn
        self._expression = expression
        self._description = description

    def __call__(self, k):
        return self._fn(k)

    def expression(self):
        """The schedule as a SymPy expression in the symbol ``t`` (integer, ≥ 0)."""
        import sympy as sp

        return self._expression(sp.Symbol("t", integer=True, nonnegative=True))

    def __repr__(self) -> str:
        return f"SymbolicSchedule({self._description})"


def _exact(x: float):
    """A float as the exact decimal rational it prints as (``0.1 -> 1/10``)."""
    import sympy as sp

    return sp.Rational(repr(float(x)))


def _xp(k):
    return np if isinstance(k, (int, np.integer, np.ndarray)) else jnp


def constant(value: float) -> Callable:
    """``η_k = value``."""
    v = V.positive("value", value)
    return SymbolicSchedule(lambda k: v * _xp(k).ones_like(_xp(k).asarray(k), dtype=float),
                            lambda t: _exact(v), f"constant({v})")


def step_decay(init_value: float, boundaries: Sequence[int], factor: float = 0.1) -> Callable:
    """Piecewise constant: multiply by ``factor`` at each step in ``boundaries`` (a finite number of drops).

    Raises:
        ValueError: if ``init_value <= 0``, ``factor`` not in (0, 1] (a factor above 1 would raise the
            learning rate), or boundaries not increasing positive ints.

    Examples:
        >>> sched = step_decay(0.1, [100], factor=0.5)
        >>> round(float(sched(99)), 6), round(float(sched(100)), 6)  # optax: float32
        (0.1, 0.05)
    """
    v = V.positive("init_value", init_value)
    f = V.as_float("factor", factor)
    if not 0.0 < f <= 1.0:
        raise ValueError(f"factor must lie in (0, 1] (a decay), got factor={f}")
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, (Sequence, np.ndarray)):
        raise TypeError(f"boundaries must be a sequence of positive ints, got {type(boundaries).__name__}")
    b = [V.positive_int("boundaries", x) for x in boundaries]
    if any(b2 <= b1 for b1, b2 in zip(b, b[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")

    def expression(t):
        import sympy as sp

        pieces = [(_exact(v) * _exact(f) ** i, t < x) for i, x in enumerate(b)]
        return sp.Piecewise(*pieces, (_exact(v) * _exact(f) ** len(b), True))

    return SymbolicSchedule(optax.piecewise_constant_schedule(v, {x: f for x in b}), expression,
                            f"step_decay({v}, {b}, factor={f})")


def exponential_decay(init_value: float, decay_rate: float, transition_steps: int = 1) -> Callable:
    """``η_k = init_value · decay_rate^(k / transition_steps)`` (optax)."""
    v = V.positive("init_value", init_value)
    r = V.in_open_interval("decay_rate", decay_rate, 0.0, float("inf"))
    t = V.positive_int("transition_steps", transition_steps)
    return SymbolicSchedule(optax.exponential_decay(v, t, r), lambda s: _exact(v) * _exact(r) ** (s / t),
                            f"exponential_decay({v}, {r}, {t})")


def inverse_power(init_value: float, power: float, offset: float = 1.0) -> Callable:
    r"""``η_k = init_value / (1 + k/offset)^power`` — the Robbins–Monro family ``c/(k + k_0)^p``.

    Satisfies Robbins & Monro 1951 ("A Stochastic Approximation Method") iff ``1/2 < p ≤ 1``.
    """
    v = V.positive("init_value", init_value)
    p = V.nonnegative("power", power)
    o = V.positive("offset", offset)
    return SymbolicSchedule(lambda k: v / (1.0 + _xp(k).asarray(k) / o) ** p,
                            lambda t: _exact(v) / (1 + t / _exact(o)) ** _exact(p),
                            f"inverse_power({v}, {p}, offset={o})")


def cosine(init_value: float, decay_steps: int, alpha: float = 0.0) -> Callable:
    """Cosine decay (Loshchilov & Hutter 2017) to ``alpha · init_value`` over ``decay_steps`` (optax)."""
    v = V.positive("init_value", init_value)
    n = V.positive_int("decay_steps", decay_steps)
    a = V.nonnegative("alpha", alpha)

    def expression(t):
        import sympy as sp

        shape = lambda s: _exact(v) * ((1 - _exact(a)) * (1 + sp.cos(sp.pi * s / n)) / 2 + _exact(a))
        return sp.Piecewise((shape(t), t < n), (shape(n), True))

    return SymbolicSchedule(optax.cosine_decay_schedule(v, n, a), expression, f"cosine({v}, {n}, alpha={a})")


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

    def expression(t):
        import sympy as sp

        u = (t - c * sp.floor(t / c) + 1) / c
        return (1 - u) * _exact(hi) + u * _exact(lo)

    return SymbolicSchedule(fn, expression, f"cyclic({hi}, {lo}, {c})")


def warmup(peak: float, warmup_steps: int, then: Callable | None = None) -> Callable:
    """Linear warm-up from ``peak / warmup_steps`` to ``peak`` (Goyal et al. 2017, "Accurate, Large
    Minibatch SGD"), then ``then(k - warmup_steps)`` (default: constant ``peak``)."""
    p = V.positive("peak", peak)
    w = V.positive_int("warmup_steps", warmup_steps)

    if then is not None and not callable(then):
        raise TypeError(f"then must be a schedule (callable) or None, got {type(then).__name__}")

    def fn(k):
        xp = _xp(k)
        k = xp.asarray(k)
        after = p if then is None else then(xp.maximum(k - w, 0))
        return xp.where(k < w, p * (k + 1.0) / w, after)

    def expression(t):
        import sympy as sp

        if then is None:
            after = _exact(p)
        elif hasattr(then, "expression"):
            after = then.expression().subs(sp.Symbol("t", integer=True, nonnegative=True), t - w)
        else:
            raise TypeError("warmup(then=...) has no symbolic form: pass a schedule from sgd_sde.schedules")
        return sp.Piecewise((_exact(p) * (t + 1) / w, t < w), (after, True))

    return SymbolicSchedule(fn, expression, f"warmup({p}, {w}, then={then!r})")


def increase_batch(init_batch: int, boundaries: Sequence[int], factor: int = 5, max_batch: int | None = None) -> Callable:
    """Batch size multiplied by ``factor`` at each boundary instead of dividing the learning rate
    (Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size")."""
    b0 = V.positive_int("init_batch", init_batch)
    f = V.positive_int("factor", factor)
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, (Sequence, np.ndarray)):
        raise TypeError(f"boundaries must be a sequence of positive ints, got {type(boundaries).__name__}")
    bounds = [V.positive_int("boundaries", x) for x in boundaries]
    if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")
    cap = None if max_batch is None else V.positive_int("max_batch", max_batch)

    def fn(k):
        xp = _xp(k)
        k = xp.asarray(k)
        drops = sum((k >= x).astype(xp.int32) for x in bounds) if bounds else xp.zeros_like(k)
        b = b0 * f**drops
        return b if cap is None else xp.minimum(b, cap)

    return fn


def _n_steps(n_steps) -> int:
    n = V.positive_int("n_steps", n_steps)
    if n > 1 << 28:
        raise ValueError(f"n_steps must be <= 2**28 for a host-side evaluation, got n_steps={n}")
    return n


def at_step(schedule: Callable, k):
    """``schedule(k)`` under standard dtype promotion: optax's schedules and this module's mix Python
    floats with the integer step, so a run under ``jax.numpy_dtype_promotion("strict")`` calls them
    here (host evaluation and the compiled loop alike)."""
    with jax.numpy_dtype_promotion("standard"):
        return schedule(k)


def evaluate(schedule: Callable, n_steps: int, name: str = "schedule") -> np.ndarray:
    """Evaluate ``schedule`` at steps ``0 … n_steps−1`` on the host and check every value is finite and > 0.

    Raises:
        ValueError: naming ``name`` and the first offending step; on ``n_steps`` < 1 or beyond
            ``2**28`` (host memory).
        TypeError: if ``schedule`` is not callable or ``n_steps`` not an int.
    """
    n_steps = _n_steps(n_steps)
    if not callable(schedule):
        raise TypeError(f"{name} must be a schedule (callable k -> value), got {type(schedule).__name__}")
    values = np.asarray(at_step(schedule, np.arange(n_steps)), dtype=np.float64)
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
    n_steps = _n_steps(n_steps)
    lrs = evaluate(lr, n_steps, "lr") if callable(lr) else np.full(n_steps, V.positive("lr", lr))
    bs = evaluate(batch_size, n_steps, "batch_size") if callable(batch_size) else np.full(n_steps, V.positive_int("batch_size", batch_size))
    return np.asarray(temperature(lrs, bs, n, momentum), dtype=np.float64)
