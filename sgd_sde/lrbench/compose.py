r"""Composing policies: piecewise in steps, warm-up, and scaling by a batch schedule's noise scale.

All results are again pure, hashable :class:`~sgd_sde.lrbench.policies.AbstractPolicy` objects
(NumPy and traced ints), so they go wherever a policy goes.

References:
    Jin et al. 2023 (LRBench++: composite policies); Goyal et al. 2017, "Accurate, Large Minibatch
    SGD: Training ImageNet in 1 Hour" (warm-up); Smith, Kindermans, Ying & Le 2018, "Don't Decay
    the Learning Rate, Increase the Batch Size" (noise scale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from .. import schedules
from .policies import AbstractPolicy, _broadcast, _is_host, policy

__all__ = ["Composed", "Warmup", "NoiseScaled", "compose", "warmup", "with_noise_scale"]


def _as_policy(p, name: str) -> AbstractPolicy:
    if isinstance(p, AbstractPolicy):
        return p
    if isinstance(p, (int, float, np.floating, np.integer)) and not isinstance(p, bool):
        return policy("FIX", k0=p)
    raise TypeError(f"{name} must be an sgd_sde.lrbench policy or a positive number, got {type(p).__name__}")


def _shift(expr, by: int):
    t = [s for s in expr.free_symbols if s.name == "t"]
    return expr.subs({s: s - by for s in t}) if t else expr


def _t():
    import sympy as sp

    return sp.Symbol("t", integer=True, nonnegative=True)


class Composed(AbstractPolicy):
    """Policies one after another; piece ``i`` sees the local step ``k − start_i`` (final; see :func:`compose`)."""

    pieces: tuple = eqx.field(static=True)
    starts: tuple = eqx.field(static=True)

    @property
    def label(self) -> str:
        return " → ".join(p.label for p in self.pieces)

    def __call__(self, k):
        xp = np if _is_host(k) else jnp
        kk = xp.asarray(k)
        out = self.pieces[0](k)
        for start, piece in zip(self.starts[1:], self.pieces[1:]):
            out = xp.where(kk >= start, piece(xp.maximum(kk - start, 0)), out)
        return _broadcast(out, k)

    def sympy(self):
        import sympy as sp

        t = _t()
        branches = [(_shift(p.sympy(), s), t < e) for p, s, e in zip(self.pieces[:-1], self.starts[:-1], self.starts[1:])]
        return sp.Piecewise(*branches, (_shift(self.pieces[-1].sympy(), self.starts[-1]), True))

    def lower_bound(self) -> float:
        return self.pieces[-1].lower_bound()

    def _periodic(self) -> bool:
        return self.pieces[-1]._periodic()


def compose(pieces: Sequence[tuple]) -> Composed:
    r"""Run policies one after another: ``compose([(p1, n1), (p2, n2), ..., (pm, None)])``.

    Piece ``i`` covers steps ``[s_i, s_i + n_i)`` with ``s_i = n_1 + … + n_{i−1}`` and sees the
    local step ``k − s_i`` (each piece starts from its own step 0); the last piece continues for
    ever (its ``n`` may be ``None``).

    Args:
        pieces: ``(policy or constant lr, n_steps)`` pairs, ``n_steps`` a positive int (``None``
            allowed for the last).

    Returns:
        :class:`Composed`.

    Raises:
        ValueError: empty ``pieces``, a non-positive length (naming ``pieces[i]``).
        TypeError: a piece that is not a policy or a number.

    Examples:
        >>> import numpy as np
        >>> from sgd_sde.lrbench import policy
        >>> sched = compose([(policy("FIX", k0=0.1), 3), (policy("EXP", k0=0.1, gamma=0.5), None)])
        >>> sched(np.arange(6)).tolist()
        [0.1, 0.1, 0.1, 0.1, 0.05, 0.025]
    """
    items = list(pieces)
    if not items:
        raise ValueError("pieces must be a non-empty list of (policy, n_steps) pairs")
    pols, starts, s = [], [], 0
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"pieces[{i}] must be a (policy, n_steps) pair, got {item!r}")
        p, n = item
        pols.append(_as_policy(p, f"pieces[{i}][0]"))
        starts.append(s)
        if n is None:
            if i != len(items) - 1:
                raise ValueError(f"pieces[{i}]: only the last piece may have n_steps=None")
        else:
            s += V.positive_int(f"pieces[{i}] n_steps", n)
    return Composed(tuple(pols), tuple(starts))


class Warmup(AbstractPolicy):
    """Linear warm-up into a policy (final; see :func:`warmup`)."""

    policy: AbstractPolicy = eqx.field(static=True)
    steps: int = eqx.field(static=True)

    @property
    def label(self) -> str:
        return f"warmup{self.steps}+{self.policy.label}"

    def __call__(self, k):
        peak = float(self.policy(0))
        return _broadcast(schedules.warmup(peak, self.steps, then=self.policy)(k), k)

    def sympy(self):
        import sympy as sp

        t, peak = _t(), self.policy.sympy()
        peak0 = peak.subs({s: 0 for s in peak.free_symbols if s.name == "t"})
        return sp.Piecewise((peak0 * (t + 1) / self.steps, t < self.steps), (_shift(peak, self.steps), True))

    def lower_bound(self) -> float:
        return self.policy.lower_bound()

    def _periodic(self) -> bool:
        return self.policy._periodic()


def warmup(pol, steps: int) -> Warmup:
    """Linear warm-up from ``η_0/steps`` to ``η_0 = pol(0)`` over ``steps`` steps, then ``pol(k − steps)``.

    Uses :func:`sgd_sde.schedules.warmup` (Goyal et al. 2017).

    Examples:
        >>> import numpy as np
        >>> from sgd_sde.lrbench import policy
        >>> warmup(policy("FIX", k0=0.4), 4)(np.arange(6)).tolist()
        [0.1, 0.2, 0.30000000000000004, 0.4, 0.4, 0.4]
    """
    return Warmup(_as_policy(pol, "pol"), V.positive_int("steps", steps))


class NoiseScaled(AbstractPolicy):
    """A policy times the relative noise scale of a batch schedule (final; see :func:`with_noise_scale`)."""

    policy: AbstractPolicy = eqx.field(static=True)
    factor: tuple = eqx.field(static=True)

    @property
    def label(self) -> str:
        return f"{self.policy.label}×g_B"

    def __call__(self, k):
        n = len(self.factor)
        if _is_host(k):
            f = np.asarray(self.factor)[np.minimum(np.asarray(k), n - 1)]
        else:
            f = jnp.asarray(self.factor, jnp.result_type(float))[jnp.minimum(jnp.asarray(k), n - 1)]
        return _broadcast(self.policy(k) * f, k)

    def sympy(self):
        raise TypeError("NoiseScaled is tabulated (no closed form); its Robbins–Monro verdict uses its tail, "
                        "policy × the last noise-scale factor (see robbins_monro)")

    def expression(self):
        """The tail ``policy(t) · factor[-1]`` (``t ≥ n_steps − 1``), which decides the asymptotics."""
        import sympy as sp

        return self.policy.sympy() * sp.nsimplify(self.factor[-1], rational=True)

    def robbins_monro(self):
        """Decided on the tail ``policy(t)·factor[-1]`` (the Robbins–Monro conditions concern only the tail)."""
        return _Tail(self.policy, float(self.factor[-1])).robbins_monro()

    def lower_bound(self) -> float:
        return self.policy.lower_bound() * self.factor[-1]

    def _periodic(self) -> bool:
        return self.policy._periodic()


class _Tail(AbstractPolicy):
    policy: AbstractPolicy = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    @property
    def label(self) -> str:
        return self.policy.label

    def __call__(self, k):
        return self.policy(k) * self.scale

    def sympy(self):
        import sympy as sp

        return self.policy.sympy() * sp.nsimplify(self.scale, rational=True)

    def lower_bound(self) -> float:
        return self.policy.lower_bound() * self.scale

    def _periodic(self) -> bool:
        return self.policy._periodic()


def with_noise_scale(pol, batch_size: int | Callable, n_examples: int, n_steps: int) -> NoiseScaled:
    r"""``η'_k = η_k · g_B(k)/g_B(0)`` with ``g_B(k) = N/B_k − 1`` the noise scale of the batch schedule.

    At a constant batch ``B_0``, ``η'`` has the noise scale ``η_k (N/B_k − 1)`` that ``η`` has with
    the batch schedule ``B_k`` — Smith et al.'s equivalence between decaying the learning rate and
    increasing the batch, read from batch to learning rate. ``g_B`` is computed by
    :func:`sgd_sde.schedules.noise_scale` for ``k < n_steps`` and held at its last value after.

    Args:
        pol: a policy (or constant).
        batch_size: a batch schedule ``k -> B_k`` (e.g. :func:`sgd_sde.schedules.increase_batch`) or an int.
        n_examples: training-set size ``N`` (``> B_k``).
        n_steps: steps tabulated.

    Returns:
        :class:`NoiseScaled`.

    Raises:
        ValueError: as :func:`sgd_sde.schedules.noise_scale`; ``N ≤ B_0`` (zero noise at step 0).

    Examples:
        >>> import numpy as np
        >>> from sgd_sde import schedules
        >>> from sgd_sde.lrbench import policy
        >>> s = with_noise_scale(policy("FIX", k0=0.1), schedules.increase_batch(10, [3], factor=2), 1010, 5)
        >>> s(np.arange(5)).round(6).tolist()
        [0.1, 0.1, 0.1, 0.0495, 0.0495]
    """
    p = _as_policy(pol, "pol")
    n = V.positive_int("n_steps", n_steps)
    g = schedules.noise_scale(1.0, batch_size, n_examples, n)
    if not g[0] > 0:
        raise ValueError(f"n_examples={n_examples} must exceed the first batch size (the noise scale N/B − 1 is 0)")
    return NoiseScaled(p, tuple(float(x) for x in g / g[0]))
