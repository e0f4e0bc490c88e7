r"""The LRBench learning-rate policies as pure functions of the step.

``policy(name, **params)`` returns a :class:`Policy`: a frozen, hashable module ``k -> η_k`` that
works on Python/NumPy integers (float64 NumPy result, used for host-side checks and sums) and on
traced JAX integers (inside :func:`sgd_sde.networks.train`, :func:`sgd_sde.networks.sweep` and
:func:`sgd_sde.simulate`). Nothing is mutable: NSTEP counts the boundaries ``≤ t`` on every call
(LRBench's reference NSTEP advances a global index, so it depends on the call history).

FIX, STEP, NSTEP, EXP and POLY are optax schedules (``constant_schedule``,
``exponential_decay(staircase=True)``, ``piecewise_constant_schedule``, ``exponential_decay``,
``polynomial_schedule``); on NumPy integers they are evaluated in float64. The other families are
written here; all formulas are those of ``lr-policies.md`` (Wu et al. 2019):

* single-valued: FIX, STEP, NSTEP, EXP, INV, POLY, SIG;
* triangular / sine cycles (half-period ``l``): TRI, TRI2, TRIEXP, SIN, SIN2, SINEXP and the
  D- variants (start at ``k1``);
* cosine cycles: COS, COS2, COSEXP and the UP- variants (start at ``k0``);
* restarts (period ``l``): RSW, RSW2, RSWEXP, SINRSW, SINRSW2, SINRSWEXP, COSRSW, COSRSW2, COSRSWEXP.

POLY holds ``k0`` for ``t ≥ l`` (optax clips the step at ``l``; the formula's ``(1 − t/l)^p`` is
undefined beyond ``l`` for non-integer ``p``).

Each policy also knows its theory: :meth:`Policy.sympy` (the formula as a SymPy expression in
``t``), :meth:`Policy.robbins_monro` (through :func:`sgd_sde.theory.robbins_monro`) and
:meth:`Policy.temperature` (the noise scale ``η_t(N/B_t − 1)`` of :func:`sgd_sde.schedules.noise_scale`).

References:
    Wu, Liu, Chow, Zhang, Wei, Yu, Wu 2019, "Demystifying Learning Rate Policies for High Accuracy
    Training of Deep Neural Networks" (IEEE BigData); Jin, Wei, Wang, Zhang & Wu 2023, "Rethinking
    Learning Rate Tuning in the Era of Large Language Models" (LRBench++); Smith 2017, "Cyclical
    Learning Rates for Training Neural Networks"; Loshchilov & Hutter 2017, "SGDR: Stochastic
    Gradient Descent with Warm Restarts"; Robbins & Monro 1951, "A Stochastic Approximation Method".
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _validate as V
from ..schedules import noise_scale

__all__ = ["AbstractPolicy", "Policy", "policy", "POLICIES", "FAMILIES", "PARAMETERS"]

_SINGLE = ("FIX", "STEP", "NSTEP", "EXP", "INV", "POLY", "SIG")
_WAVES = {"TRI": ("TRI", "DTRI"), "SIN": ("SIN", "DSIN"), "COS": ("COS", "UPCOS"), "RSW": ("RSW", "SINRSW", "COSRSW")}
FAMILIES: dict[str, tuple[str, ...]] = {
    "single": _SINGLE,
    "triangular": tuple(b + m for b in _WAVES["TRI"] for m in ("", "2", "EXP")),
    "sine": tuple(b + m for b in _WAVES["SIN"] for m in ("", "2", "EXP")),
    "cosine": tuple(b + m for b in _WAVES["COS"] for m in ("", "2", "EXP")),
    "restart": tuple(b + m for b in _WAVES["RSW"] for m in ("", "2", "EXP")),
}
"""Policy names by family (the small multiples of :func:`sgd_sde.lrbench.plot_policies`)."""

POLICIES: tuple[str, ...] = tuple(n for names in FAMILIES.values() for n in names)
"""Every policy name :func:`policy` accepts."""

PARAMETERS: dict[str, tuple[str, ...]] = {
    "FIX": ("k0",), "STEP": ("k0", "gamma", "l"), "NSTEP": ("k0", "gamma", "l"), "EXP": ("k0", "gamma"),
    "INV": ("k0", "gamma", "p"), "POLY": ("k0", "k1", "p", "l"), "SIG": ("k0", "gamma", "l"),
    **{n: ("k0", "k1", "l", "gamma") if n.endswith("EXP") else ("k0", "k1", "l") for n in POLICIES if n not in _SINGLE},
}
"""The parameters each policy requires (LRBench's names)."""


def _is_host(k) -> bool:
    return isinstance(k, (int, np.integer, np.ndarray)) and not isinstance(k, bool)


def _broadcast(value, k):
    """``value`` with the shape of ``k``: float64 NumPy on the host, a JAX float array when traced."""
    if _is_host(k):
        return np.array(np.broadcast_to(np.asarray(value, np.float64), np.shape(k)))
    return jnp.broadcast_to(jnp.asarray(value, jnp.result_type(float)), jnp.shape(k))


class AbstractPolicy(eqx.Module):
    """A pure learning-rate schedule ``k -> η_k`` that knows its theory (abstract).

    Subclasses define ``__call__`` (NumPy and traced ints), :meth:`sympy` and
    :meth:`lower_bound`. Instances are frozen and hashable, so they can be a static field of
    :class:`sgd_sde.schedules.Schedule` and a jit argument.
    """

    @abc.abstractmethod
    def __call__(self, k): ...

    @abc.abstractmethod
    def sympy(self):
        """The schedule as a SymPy expression in the symbol ``t`` (integer, ≥ 0)."""

    def expression(self):
        """The same as :meth:`sympy` (the protocol :func:`sgd_sde.theory.robbins_monro` reads)."""
        return self.sympy()

    @abc.abstractmethod
    def lower_bound(self) -> float:
        """A number ``c`` with ``η_t ≥ c`` for all sufficiently large ``t`` (0 when it may decay to 0)."""

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """A short label for tables and plots."""

    def robbins_monro(self):
        r"""The Robbins–Monro verdict (:math:`\eta_t\to0`, :math:`\sum\eta_t=\infty`, :math:`\sum\eta_t^2<\infty`).

        Decided by :func:`sgd_sde.theory.robbins_monro` on :meth:`sympy`. Periodic policies
        (cycles, restarts), whose limit does not exist, have a positive floor ``c``
        (:meth:`lower_bound`); ``robbins_monro(c)`` is decided and its verdict carries over by
        comparison (``η_t ≥ c > 0`` ⇒ ``η_t ↛ 0`` and ``Σ η_t² ≥ Σ c² = ∞``): such a policy never
        decays to 0 and the reason says so.

        Returns:
            :class:`sgd_sde.theory.robbins_monro.RobbinsMonroResult`.

        References:
            Robbins & Monro 1951, "A Stochastic Approximation Method".
        """
        from ..theory import robbins_monro

        c = self.lower_bound()
        if c > 0 and self._periodic():
            floor_result = robbins_monro(float(c))
            return dataclasses.replace(
                floor_result, schedule=self.sympy(),
                reason=f"not satisfied: η_t ≥ {c:g} > 0 for every t, so the policy never decays to 0 "
                       f"(by comparison with the constant {c:g}: {floor_result.reason})")
        return robbins_monro(self)

    def _periodic(self) -> bool:
        return False

    def temperature(self, batch_size: int | Callable, n_examples: int, n_steps: int, momentum: float = 0.0) -> np.ndarray:
        """The SGD temperature (noise scale) ``g_t = η_t (N/B_t − 1)/(1 − μ) ≈ η_t N/B_t`` for ``t < n_steps``.

        Computed by :func:`sgd_sde.schedules.noise_scale` (the one place of the formula).

        References:
            Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size".
        """
        return noise_scale(self, batch_size, n_examples, n_steps, momentum)


# ---------------------------------------------------------------------------- formulas
def _tri(xp, t, l):
    u = t / (2 * l)
    return 1.0 - xp.abs(2.0 * (u - xp.floor(u)) - 1.0)  # = (2/π)|asin(sin(π t/(2l)))|


def _split(name: str) -> tuple[str, str]:
    """``"COSRSW2" -> ("COSRSW", "2")``: the wave and its modifier (``""``, ``"2"`` or ``"EXP"``)."""
    if name.endswith("EXP"):
        return name[:-3], "EXP"
    if name.endswith("2"):
        return name[:-1], "2"
    return name, ""


def _wave(name: str, xp, t, p):
    """(wave, modifier) of the cyclic/restart families at float steps ``t``."""
    l = p["l"]
    base, kind = _split(name)
    half = lambda n: 2.0 ** (-xp.floor(n))
    if base in ("TRI", "SIN", "DTRI", "DSIN"):
        s = t + l if base.startswith("D") else t
        w = _tri(xp, s, l) if base.endswith("TRI") else xp.abs(xp.sin(math.pi * s / (2 * l)))
        mod = {"": 1.0, "2": half(s / (2 * l)), "EXP": p.get("gamma", 1.0) ** t}[kind]
    elif base in ("COS", "UPCOS"):
        w = 0.5 * (1.0 + xp.cos(math.pi * (t / l + (base == "UPCOS"))))
        mod = {"": 1.0, "2": half((t + l) / (2 * l) if base == "COS" else t / (2 * l)), "EXP": p.get("gamma", 1.0) ** t}[kind]
    else:  # restarts
        r = -t / l - xp.floor(-t / l)
        w = {"RSW": r, "SINRSW": xp.sin(0.5 * math.pi * r), "COSRSW": 0.5 * (1.0 - xp.cos(math.pi * r))}[base]
        mod = {"": 1.0, "2": half(t / l), "EXP": p.get("gamma", 1.0) ** t}[kind]
    return w, mod


def _own(name: str, xp, t, p):
    if name == "INV":
        return p["k0"] * (1.0 + p["gamma"] * t) ** (-p["p"])
    if name == "SIG":
        return p["k0"] / (1.0 + xp.exp(-p["gamma"] * (t - p["l"])))
    w, mod = _wave(name, xp, t, p)
    return (p["k1"] - p["k0"]) * w * mod + p["k0"]


def _optax(name: str, p) -> Callable | None:
    if name == "FIX":
        return optax.constant_schedule(p["k0"])
    if name == "STEP":
        return optax.exponential_decay(p["k0"], int(p["l"]), p["gamma"], staircase=True)
    if name == "NSTEP":  # optax: the scale applies once count ≥ boundary
        return optax.piecewise_constant_schedule(p["k0"], {int(b): p["gamma"] for b in p["l"]})
    if name == "EXP":
        return optax.exponential_decay(p["k0"], 1, p["gamma"])
    if name == "POLY":
        return optax.polynomial_schedule(p["k1"], p["k0"], p["p"], int(p["l"]))
    return None


def _sympy(name: str, p):
    import sympy as sp

    t = sp.Symbol("t", integer=True, nonnegative=True)

    def R(n):
        v = p.get(n)
        if v is None or isinstance(v, tuple):
            return None
        return sp.nsimplify(v, rational=True) if isinstance(v, float) else sp.Integer(v)

    k0, k1, g, l, pw = (R(n) for n in ("k0", "k1", "gamma", "l", "p"))
    if name == "FIX":
        return k0
    if name == "STEP":
        return k0 * g ** sp.floor(t / l)
    if name == "NSTEP":
        pieces, value = [], k0
        for b in p["l"]:
            pieces.append((value, t < b))
            value = value * g
        return sp.Piecewise(*pieces, (value, True))
    if name == "EXP":
        return k0 * g**t
    if name == "INV":
        return k0 * (1 + g * t) ** (-pw)
    if name == "POLY":
        return sp.Piecewise(((k1 - k0) * (1 - t / l) ** pw + k0, t < l), (k0, True))
    if name == "SIG":
        return k0 / (1 + sp.exp(-g * (t - l)))
    base, kind = _split(name)
    if base in ("TRI", "SIN", "DTRI", "DSIN"):
        s = t + l if base.startswith("D") else t
        w = 2 / sp.pi * sp.Abs(sp.asin(sp.sin(sp.pi * s / (2 * l)))) if base.endswith("TRI") else sp.Abs(sp.sin(sp.pi * s / (2 * l)))
        mod = {"": 1, "2": 2 ** (-sp.floor(s / (2 * l))), "EXP": (g**t if g is not None else 1)}[kind]
    elif base in ("COS", "UPCOS"):
        w = sp.Rational(1, 2) * (1 + sp.cos(sp.pi * (t / l + (1 if base == "UPCOS" else 0))))
        n2 = (t + l) / (2 * l) if base == "COS" else t / (2 * l)
        mod = {"": 1, "2": 2 ** (-sp.floor(n2)), "EXP": (g**t if g is not None else 1)}[kind]
    else:
        r = -t / l - sp.floor(-t / l)
        w = {"RSW": r, "SINRSW": sp.sin(sp.pi / 2 * r), "COSRSW": sp.Rational(1, 2) * (1 - sp.cos(sp.pi * r))}[base]
        mod = {"": 1, "2": 2 ** (-sp.floor(t / l)), "EXP": (g**t if g is not None else 1)}[kind]
    return (k1 - k0) * w * mod + k0


class Policy(AbstractPolicy):
    """One LRBench policy: ``name`` and its parameters (final; build it with :func:`policy`).

    Attributes:
        name: the policy name (one of :data:`POLICIES`).
        params: ``((parameter, value), ...)`` in :data:`PARAMETERS` order (NSTEP's ``l`` a tuple).
    """

    name: str = eqx.field(static=True)
    params: tuple = eqx.field(static=True)

    @property
    def p(self) -> dict:
        return dict(self.params)

    @property
    def label(self) -> str:
        return self.name

    def __call__(self, k):
        return _broadcast(self._eval(k), k)

    def _eval(self, k):
        p = self.p
        sched = _optax(self.name, p)
        if _is_host(k):
            if sched is not None:
                with jax.enable_x64(True):
                    return np.asarray(sched(np.asarray(k, np.int64)), np.float64)
            return _own(self.name, np, np.asarray(k, np.float64), p)
        if self.name == "POLY":  # under jit, XLA's f32 division makes 1 − l/l slightly < 0: NaN for non-integer p
            k = jnp.asarray(k)
            return jnp.where(k >= p["l"], jnp.asarray(p["k0"], jnp.result_type(float)), sched(jnp.minimum(k, p["l"])))
        if sched is not None:
            return sched(k)
        k = jnp.asarray(k)
        return _own(self.name, jnp, k.astype(jnp.result_type(float)), p)

    def sympy(self):
        return _sympy(self.name, self.p)

    def lower_bound(self) -> float:
        p = self.p
        if self.name in ("FIX", "POLY"):
            return p["k0"] if self.name == "FIX" else min(p["k0"], p["k1"])
        if self.name == "SIG":
            return p["k0"] / 2 if p["gamma"] > 0 else 0.0
        if self.name in _SINGLE:
            if self.name == "NSTEP":
                return p["k0"] * p["gamma"] ** len(p["l"])
            return p["k0"] if p.get("gamma", 0.0) == 1.0 else 0.0
        return min(p["k0"], p["k1"])

    def _periodic(self) -> bool:
        return self.name not in _SINGLE


def _gamma(name, value, *, signed=False):
    g = V.as_float("gamma", value)
    if signed:
        if not math.isfinite(g) or g == 0:
            raise ValueError(f"{name}: gamma must be finite and non-zero, got gamma={value}")
        return g
    if name == "INV":
        return V.nonnegative("gamma", g)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"{name}: gamma (decay factor) must lie in (0, 1], got gamma={value}")
    return g


def policy(name: str, **params) -> Policy:
    r"""An LRBench learning-rate policy as a pure schedule ``k -> η_k``.

    Args:
        name: one of :data:`POLICIES` (case-insensitive), e.g. ``"STEP"``, ``"TRI2"``, ``"COSRSW"``.
        **params: exactly the parameters in :data:`PARAMETERS[name]`: ``k0``, ``k1`` (learning-rate
            levels, > 0), ``gamma`` (decay factor in (0, 1]; INV: ≥ 0; SIG: non-zero real),
            ``p`` (power ≥ 0), ``l`` (a length in steps, positive int; NSTEP: a non-empty strictly
            increasing list of positive step boundaries).

    Returns:
        :class:`Policy` (frozen, hashable; works on NumPy and traced ints).

    Raises:
        ValueError: an unknown name, a missing or extra parameter, or a value outside its range
            (the message names the parameter and the range).

    Examples:
        >>> import numpy as np
        >>> policy("STEP", k0=0.1, gamma=0.5, l=10)(np.array([0, 9, 10, 25])).tolist()
        [0.1, 0.1, 0.05, 0.025]
        >>> policy("TRI", k0=0.01, k1=0.11, l=5)(np.array([0, 5, 10])).round(6).tolist()
        [0.01, 0.11, 0.01]
        >>> policy("COSRSW", k0=0.01, k1=0.1, l=4).robbins_monro().satisfied
        False

    References:
        Wu et al. 2019, "Demystifying Learning Rate Policies for High Accuracy Training of Deep
        Neural Networks"; Jin et al. 2023 (LRBench++).
    """
    if not isinstance(name, str) or name.upper() not in POLICIES:
        raise ValueError(f"name must be one of {', '.join(POLICIES)}; got {name!r}")
    name = name.upper()
    need = PARAMETERS[name]
    missing = [n for n in need if n not in params]
    extra = sorted(set(params) - set(need))
    if missing or extra:
        raise ValueError(f"{name} takes parameters {', '.join(need)}; "
                         + (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "")
                         + (f"unexpected {', '.join(extra)}" if extra else ""))
    out = {}
    for n in need:
        v = params[n]
        if n in ("k0", "k1"):
            out[n] = V.positive(n, v)
        elif n == "p":
            out[n] = V.nonnegative("p", v)
        elif n == "gamma":
            out[n] = _gamma(name, v, signed=name == "SIG")
        elif n == "l" and name == "NSTEP":
            if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                raise ValueError(f"NSTEP: l must be a list of step boundaries, got l={v!r}")
            b = tuple(V.positive_int("l", x) for x in v)
            if not b or any(y <= x for x, y in zip(b, b[1:])):
                raise ValueError(f"NSTEP: l must be a non-empty strictly increasing list of positive ints, got l={list(v)}")
            out[n] = b
        elif n == "l":
            out[n] = V.positive_int("l", v)
    return Policy(name, tuple((n, out[n]) for n in need))
