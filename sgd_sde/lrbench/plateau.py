r"""State-based policies: reduce-on-plateau and LRBench's change-on-plateau.

A state-based policy multiplies a pure base schedule by a scale that changes with the training
loss. It is itself pure: ``init() -> state`` and ``update(state, loss) -> state`` return new
immutable states, and :meth:`PlateauPolicy.replay` rebuilds the state from a loss sequence, so a
resumed run continues exactly. :func:`sgd_sde.networks.train` accepts one as ``lr_schedule`` and
feeds it the monitored value (default: the probe's ``train_loss``, the mean minibatch loss since
the previous probe) at every probe point after step 0; ``η_k = base(k) · scale``.

The rule, per evaluation with value ``v`` (``optax.contrib.reduce_on_plateau``'s, with
``accumulation_size=1``; the tests check the two agree):

1. ``improved = v < (1 − rtol)·best − atol``; if improved, ``best ← v`` and ``bad ← 0``, else
   ``bad ← bad + 1`` (a non-finite ``v`` never improves).
2. In cooldown (``cooldown_left > 0``): ``cooldown_left ← cooldown_left − 1`` and ``bad ← 0``.
3. Otherwise, when ``bad == patience``: change the scale, ``cooldown_left ← cooldown``, ``bad ← 0``.

Reduce on plateau changes ``scale ← max(scale·factor, min_scale)`` with ``factor < 1``.
Change on plateau (LRBench) changes ``scale ← clip(scale·f, min_scale, max_scale)`` where ``f``
starts at ``factor`` (``> 1`` raises the rate, to leave a plateau; ``< 1`` lowers it) and flips to
``1/f`` whenever a change reaches ``max_scale`` (going up) or ``min_scale`` (going down): the rate
climbs until the cap, then falls until the floor, and so on.

References:
    Jin, Wei, Wang, Zhang & Wu 2023, "Rethinking Learning Rate Tuning in the Era of Large Language
    Models" (LRBench++: state-based policies); PyTorch ``ReduceLROnPlateau`` / Keras
    ``ReduceLROnPlateau``; optax ``contrib.reduce_on_plateau``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx

from .. import _validate as V

__all__ = ["PlateauState", "PlateauPolicy", "reduce_on_plateau", "change_on_plateau"]


class PlateauState(NamedTuple):
    """Immutable state of a :class:`PlateauPolicy`.

    Attributes:
        best: best monitored value so far; bad: evaluations since the last improvement;
        cooldown_left: evaluations left in cooldown; scale: current multiplier of the base
        schedule; direction: the current change factor (change-on-plateau flips it at a bound).
    """

    best: float
    bad: int
    cooldown_left: int
    scale: float
    direction: float


class PlateauPolicy(eqx.Module):
    """``η_k = base(k) · scale`` with ``scale`` driven by the monitored loss (final; see the module doc).

    Build it with :func:`reduce_on_plateau` or :func:`change_on_plateau`.
    """

    base: Callable | float = eqx.field(static=True)
    factor: float = eqx.field(static=True)
    patience: int = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    cooldown: int = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)
    max_scale: float = eqx.field(static=True)
    bounce: bool = eqx.field(static=True)
    monitor: str = eqx.field(static=True)

    @property
    def label(self) -> str:
        kind = "change-on-plateau" if self.bounce else "reduce-on-plateau"
        base = getattr(self.base, "label", None) or (f"FIX({self.base:g})" if isinstance(self.base, float) else "schedule")
        return f"{kind}({base}, ×{self.factor:g}/{self.patience})"

    def init(self) -> PlateauState:
        """The state before any evaluation (scale 1)."""
        return PlateauState(math.inf, 0, 0, 1.0, self.factor)

    def update(self, state: PlateauState, value: float) -> PlateauState:
        """The state after one evaluation of the monitored value (see the module doc for the rule)."""
        v = float(value)
        improved = math.isfinite(v) and v < (1.0 - self.rtol) * state.best - self.atol
        best = v if improved else state.best
        bad = 0 if improved else state.bad + 1
        scale, direction, cooldown_left = state.scale, state.direction, state.cooldown_left
        if cooldown_left > 0:
            return PlateauState(best, 0, cooldown_left - 1, scale, direction)
        if bad == self.patience:
            scale = min(max(scale * direction, self.min_scale), self.max_scale)
            if self.bounce and ((direction > 1 and scale >= self.max_scale) or (direction < 1 and scale <= self.min_scale)):
                direction = 1.0 / direction
            return PlateauState(best, 0, self.cooldown, scale, direction)
        return PlateauState(best, bad, 0, scale, direction)

    def robbins_monro(self):
        """The base schedule's Robbins–Monro verdict, which the policy inherits exactly.

        The scale stays in ``[min_scale, max_scale]`` with ``min_scale > 0``, so ``η_t → 0``,
        ``Σ η_t = ∞`` and ``Σ η_t² < ∞`` hold for ``base · scale`` iff they hold for ``base``
        (each is preserved by bounded positive factors).
        """
        import dataclasses

        from .compose import _as_policy

        res = _as_policy(self.base, "base").robbins_monro()
        return dataclasses.replace(res, reason=f"{res.reason} (the base's verdict; the scale stays in "
                                               f"[{self.min_scale:g}, {self.max_scale:g}])")

    def replay(self, values: Sequence[float]) -> list[PlateauState]:
        """States after each of ``values`` in turn (the first entry is after ``values[0]``)."""
        out, state = [], self.init()
        for v in values:
            state = self.update(state, v)
            out.append(state)
        return out


def _common(base, patience, rtol, atol, cooldown, min_scale, monitor):
    if not callable(base):
        base = V.positive("base", base)
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be the name of a history entry (e.g. 'train_loss'), got {monitor!r}")
    cd = V.as_int("cooldown", cooldown)
    if cd < 0:
        raise ValueError(f"cooldown must be >= 0, got cooldown={cooldown}")
    return (base, V.positive_int("patience", patience), V.nonnegative("rtol", rtol), V.nonnegative("atol", atol), cd,
            V.positive("min_scale", min_scale))


def reduce_on_plateau(base: Callable | float, *, factor: float = 0.1, patience: int = 10, rtol: float = 1e-4,
                      atol: float = 0.0, cooldown: int = 0, min_scale: float = 1e-6, monitor: str = "train_loss") -> PlateauPolicy:
    r"""Reduce-on-plateau (Keras/PyTorch semantics, optax's rule): after ``patience`` evaluations
    without an improvement, multiply the learning rate by ``factor`` (never below ``min_scale ·
    base``), then wait ``cooldown`` evaluations.

    Args:
        base: the base schedule (a policy, any pure ``k -> η_k``) or a constant learning rate.
        factor: multiplier in (0, 1).
        patience: evaluations without improvement before a change (≥ 1).
        rtol, atol: an improvement is ``v < (1 − rtol)·best − atol``.
        cooldown: evaluations after a change during which nothing changes (≥ 0).
        min_scale: floor of the multiplier (> 0).
        monitor: the history entry fed to the policy at each probe point (``"train_loss"`` by
            default; any probe output, e.g. ``"test_loss"`` from :func:`sgd_sde.networks.probes.metrics`).

    Returns:
        :class:`PlateauPolicy` — pass it as ``lr_schedule`` to :func:`sgd_sde.networks.train`.

    Raises:
        ValueError: a parameter outside its range (named).

    Examples:
        >>> pol = reduce_on_plateau(0.1, factor=0.5, patience=2)
        >>> [s.scale for s in pol.replay([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])]
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]

    References:
        PyTorch/Keras ``ReduceLROnPlateau``; optax ``contrib.reduce_on_plateau``.
    """
    base, patience, rtol, atol, cooldown, min_scale = _common(base, patience, rtol, atol, cooldown, min_scale, monitor)
    f = V.as_float("factor", factor)
    if not 0.0 < f < 1.0:
        raise ValueError(f"factor must lie in (0, 1) for reduce_on_plateau, got factor={factor} (use change_on_plateau to raise the rate)")
    if min_scale > 1.0:
        raise ValueError(f"min_scale must be <= 1, got min_scale={min_scale}")
    return PlateauPolicy(base, f, patience, rtol, atol, cooldown, min_scale, 1.0, False, monitor)


def change_on_plateau(base: Callable | float, *, factor: float = 2.0, patience: int = 10, rtol: float = 1e-4,
                      atol: float = 0.0, cooldown: int = 0, min_scale: float = 1e-3, max_scale: float = 10.0,
                      monitor: str = "train_loss") -> PlateauPolicy:
    r"""LRBench's change-on-plateau: the reduce-on-plateau trigger, but the change may raise the rate.

    On each plateau the scale is multiplied by the current factor (first ``factor``) and clipped
    to ``[min_scale, max_scale]``; when a change reaches ``max_scale`` going up (or ``min_scale``
    going down) the factor becomes its inverse. With ``factor > 1`` the rate rises on a plateau to
    escape it, until the cap, then decays to the floor.

    Args:
        base, patience, rtol, atol, cooldown, monitor: as :func:`reduce_on_plateau`.
        factor: first change factor, positive and ≠ 1.
        min_scale, max_scale: bounds of the multiplier, ``0 < min_scale ≤ 1 ≤ max_scale``.

    Returns:
        :class:`PlateauPolicy`.

    Raises:
        ValueError: a parameter outside its range (named).

    Examples:
        >>> pol = change_on_plateau(0.1, factor=2.0, patience=1, max_scale=4.0, min_scale=0.5)
        >>> [s.scale for s in pol.replay([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])]
        [1.0, 2.0, 4.0, 2.0, 1.0, 0.5]

    References:
        Jin et al. 2023 (LRBench++); Wu et al. 2019, "Demystifying Learning Rate Policies for High
        Accuracy Training of Deep Neural Networks".
    """
    base, patience, rtol, atol, cooldown, min_scale = _common(base, patience, rtol, atol, cooldown, min_scale, monitor)
    f = V.positive("factor", factor)
    if f == 1.0:
        raise ValueError("factor must be != 1 (a change), got factor=1.0")
    hi = V.positive("max_scale", max_scale)
    if not min_scale <= 1.0 <= hi:
        raise ValueError(f"need 0 < min_scale <= 1 <= max_scale, got min_scale={min_scale}, max_scale={max_scale}")
    return PlateauPolicy(base, f, patience, rtol, atol, cooldown, min_scale, hi, True, monitor)
