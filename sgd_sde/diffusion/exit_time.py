r"""Exact mean exit times of Langevin dynamics on 1-D piecewise-linear potentials, at every distance.

Why. On a fractional potential the distance grows like ``(log t)^{2/α}`` (Bouchaud & Georges
1990), so a simulation that reaches ``t = 10⁴`` sees ``log t ≤ 9``: far too little range to pin
down an exponent (the fitted ``β`` of a simulated walk is 16–35 % off at ``α ∈ {0.5, 1, 1.5}``,
papers/hoffer-2017.md). The *first-passage* form of the same law needs no simulation. For
``dX = −U'(X) dt + √(2T) dW`` started at ``0``, the mean time ``τ(L)`` to reach ``|X| = L``
(exit from ``(−L, L)``) solves ``T τ'' − U' τ' = −1``, ``τ(±L) = 0``, whose solution at ``0`` is

.. math::
    τ(L) = \frac{P_-(L) R_+(L) + P_+(L) R_-(L)}{T\,(P_-(L) + P_+(L))},\qquad
    P_\pm = \int_0^L e^{U(\pm y)/T} dy,\quad
    R_\pm = \int_0^L e^{U(\pm y)/T}\!\int_0^y e^{-U(\pm z)/T} dz\, dy

(derivation: integrate ``(e^{−U/T} τ')' = −e^{−U/T}/T`` twice and use both boundary conditions;
every term is positive, so it is evaluated in log space without cancellation). For a potential
that is linear between grid nodes the cell integrals are closed forms — ``h e^{u_i/T} φ₁(Δ_i)``
and ``h² φ₂(Δ_i)`` with ``Δ_i = (u_{i+1} − u_i)/T``, ``φ₁(Δ) = (e^Δ − 1)/Δ``,
``φ₂(Δ) = (e^Δ − 1 − Δ)/Δ²`` — so :func:`exit_time_profile` is exact for the interpolated
potential (the one :class:`~sgd_sde.landscapes.RandomPotential` and :func:`potential_diffusion`
use) and returns ``log τ(k h)`` for every ``k`` in one pass of cumulative log-sum-exps: ``O(G)``
per environment, reaching ``L = 10⁵`` lattice units (``log τ`` in the hundreds) in seconds.

:func:`first_passage_experiment` draws many environments and returns ``E_env log τ(L)`` curves;
:func:`~sgd_sde.diffusion.first_passage_exponent` fits ``L = a (log t − c)^β`` to them with a
bootstrap over environments. The simulated walk is held against the formula in the tests
(mean exit times of Langevin particles on one environment, within 4 standard errors).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from .. import _validate as V
from .._keys import check_key

__all__ = ["exit_time_profile", "first_passage_experiment"]

_SMALL = 1e-3  # |Δ| below which φ₂ uses its Taylor series (the closed form cancels there)


def _log_phi1(d):
    """``log((e^Δ − 1)/Δ)``, stable for every ``Δ`` (``φ₁(Δ) = e^Δ φ₁(−Δ)``); float64 NumPy."""
    d = np.asarray(d, np.float64)
    a = np.abs(d)
    s = np.where(a < 1e-12, 1.0, a)
    return np.maximum(d, 0.0) + np.where(a < 1e-12, -a / 2, np.log(-np.expm1(-s) / s))


def _log_phi2(d):
    """``log((e^Δ − 1 − Δ)/Δ²)`` (``= ∫₀¹∫₀^y e^{Δ(y−z)} dz dy``), stable for every ``Δ``; float64 NumPy."""
    d = np.asarray(d, np.float64)
    a = np.abs(d)
    s = np.where(a < _SMALL, 1.0, d)
    small = np.log(0.5 + d * (1 / 6 + d * (1 / 24 + d * (1 / 120 + d / 720))))  # φ₂ = Σ Δⁿ/(n+2)!; error < 1e-18
    # both branches are evaluated everywhere; each overflows only where the other is chosen
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pos = s + np.log(-np.expm1(-s) - s * np.exp(-s)) - 2 * np.log(np.abs(s))
        neg = np.log(np.expm1(s) - s) - 2 * np.log(np.abs(s))
    return np.where(a < _SMALL, small, np.where(d > 0, pos, neg))


def _half_line(u, temperature, log_h):
    """``log P(k)`` and ``log R(k)``, ``k = 1..K``, for node values ``u[..., 0..K]`` going outward.

    The cumulative log-sum-exps are ``np.logaddexp.accumulate``: one ``logaddexp`` per cell, in
    order (a sum of positive terms: relative error at most ``K`` ulp). XLA:CPU's
    ``lax.cumlogsumexp`` is an associative scan, ``~2 log₂ K`` passes of ``exp`` and ``log`` over the
    array, and it was most of the time of :func:`first_passage_experiment`."""
    d = (u[..., 1:] - u[..., :-1]) / temperature
    cell_up = u[..., :-1] / temperature + log_h + _log_phi1(d)  # ∫_cell e^{U/T}
    cell_down = -u[..., :-1] / temperature + log_h + _log_phi1(-d)  # ∫_cell e^{−U/T}
    inner = np.logaddexp.accumulate(cell_down, axis=-1)  # ∫_0^{x_{i+1}} e^{−U/T}
    inner = np.concatenate([np.full(inner.shape[:-1] + (1,), -np.inf), inner[..., :-1]], axis=-1)
    cell_r = np.logaddexp(inner + cell_up, 2 * log_h + _log_phi2(d))
    return np.logaddexp.accumulate(cell_up, axis=-1), np.logaddexp.accumulate(cell_r, axis=-1)


def _profile(values, centre: int, temperature: float, log_h: float):
    right = values[..., centre:]
    left = np.flip(values[..., :centre + 1], axis=-1)
    k = min(right.shape[-1], left.shape[-1])
    lp_r, lr_r = _half_line(right[..., :k], temperature, log_h)
    lp_l, lr_l = _half_line(left[..., :k], temperature, log_h)
    return np.logaddexp(lp_l + lr_r, lp_r + lr_l) - math.log(temperature) - np.logaddexp(lp_l, lp_r)


def exit_time_profile(values, *, spacing: float = 1.0, temperature: float = 1.0, centre: int | None = None):
    r"""``log τ(k h)``: the log mean exit time from ``(x_c − k h, x_c + k h)``, for every ``k``.

    Exact for overdamped Langevin dynamics ``dX = −U'(X) dt + √(2T) dW`` started at the node
    ``x_c`` on the potential that interpolates ``values`` linearly (module docstring), computed in
    float64 log space (no overflow for barriers of thousands of ``T``).

    Args:
        values: ``(..., G)`` potential at ``G ≥ 3`` equally spaced nodes (leading axes: independent
            environments).
        spacing: node spacing ``h > 0``.
        temperature: ``T > 0``.
        centre: index of the start node (default ``(G − 1) // 2``); ``1 ≤ centre ≤ G − 2``.

    Returns:
        ``(..., K)`` float64 array, ``K = min(centre, G − 1 − centre)``: entry ``k − 1`` is
        ``log τ(k h)``.

    Raises:
        ValueError: non-finite ``values``, fewer than 3 nodes, a ``centre`` outside
            ``[1, G − 2]``, or a non-positive ``spacing``/``temperature``.

    Examples:
        >>> import numpy as np
        >>> lt = exit_time_profile(np.zeros(201), spacing=0.1, temperature=0.5)  # flat: τ = L²/(2T)
        >>> round(float(np.exp(lt[-1])), 9)  # L = 10
        100.0

    References:
        Gardiner 2009, "Stochastic Methods", Section 5.2.7 (mean exit time from an interval);
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
        models and physical applications".
    """
    v = V.finite_array("values", values).astype(np.float64)
    if v.ndim < 1 or v.shape[-1] < 3:
        raise ValueError(f"values must have at least 3 nodes on its last axis, got shape {v.shape}")
    g = v.shape[-1]
    c = (g - 1) // 2 if centre is None else V.positive_int("centre", centre)
    if not 1 <= c <= g - 2:
        raise ValueError(f"centre must lie in [1, G - 2] = [1, {g - 2}], got centre={c}")
    h = V.positive("spacing", spacing)
    t = V.positive("temperature", temperature)
    return _profile(v, c, t, math.log(h))


def first_passage_experiment(key, alpha: float, *, n_environments: int = 200, half_width: int = 1 << 16,
                             temperature: float = 0.25, amplitude: float = 1.0, spacing: float = 1.0,
                             n_distances: int = 40, batch: int = 25, progress: bool = False):
    r"""``log τ(L)`` on independent fractional Brownian potentials, at log-spaced distances ``L``.

    Each environment is an exact fBm path (:func:`~sgd_sde.landscapes.random_potential.fbm_paths`,
    ``E[(U(x) − U(y))²] = A²|x − y|^α``) on ``2·half_width + 1`` nodes centred at the start;
    :func:`exit_time_profile` gives the exact mean exit time at every distance. Bouchaud & Georges
    predict ``log τ(L) ≈ c + (L/a)^{α/2}``, i.e. ``L ≈ a (log τ − c)^{2/α}``: the distance reached
    at time ``t`` grows like ``(log t)^{2/α}``. Only ``A/T`` and ``h`` matter; a low temperature
    (``T = A/4`` by default) makes the barrier term dominate the ``log L²`` of free diffusion
    sooner, which matters most for small ``α``.

    Args:
        key: a ``jax.random.key``.
        alpha: ``α ∈ (0, 2]``.
        n_environments: number of independent potentials (≥ 2, the bootstrap units).
        half_width: nodes on each side of the start (≥ 8); distances up to ``half_width · h``.
        temperature: ``T > 0``.
        amplitude: ``A > 0``.
        spacing: ``h > 0``.
        n_distances: number of log-spaced distances ``L`` returned (≥ 3; duplicates on the
            lattice are merged).
        batch: environments generated per batch (memory: about ``64 · batch · half_width`` bytes).
        progress: show a tqdm bar over batches.

    Returns:
        ``(distances, log_times)``: ``(S,)`` distances ``L`` (multiples of ``h``) and
        ``(S, n_environments)`` values of ``log τ(L)``.

    Raises:
        ValueError: on an argument outside its range, or sizes (``n_distances``,
            ``half_width × batch``, ``n_environments``) whose arrays would not fit in memory.

    Examples:
        >>> import jax
        >>> L, lt = first_passage_experiment(jax.random.key(0), 1.0, n_environments=4, half_width=64, n_distances=5)
        >>> L.tolist(), lt.shape
        ([1.0, 3.0, 8.0, 23.0, 64.0], (5, 4))

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media"; Hoffer, Hubara & Soudry
        2017, "Train longer, generalize better: closing the generalization gap in large batch
        training of neural networks".
    """
    from ..landscapes.random_potential import _alpha, fbm_paths

    key = check_key(key)
    a = _alpha(alpha)
    n_env = V.count("n_environments", n_environments)
    if n_env < 2:
        raise ValueError(f"n_environments must be >= 2 (bootstrap units), got {n_env}")
    k_max = V.count("half_width", half_width, maximum=(V.MAX_COUNT - 1) // 2)  # 2·half_width + 1 nodes
    if k_max < 8:
        raise ValueError(f"half_width must be >= 8, got half_width={k_max}")
    t = V.positive("temperature", temperature)
    amp, h = V.positive("amplitude", amplitude), V.positive("spacing", spacing)
    n_d = V.count("n_distances", n_distances)
    if n_d < 3:
        raise ValueError(f"n_distances must be >= 3, got n_distances={n_d}")
    b = V.positive_int("batch", batch)
    # before anything is allocated: the float64 geomspace of n_distances points (and its rounded
    # copies), one batch of fBm paths (circulant embedding of 4·half_width nodes: Gaussian draws
    # and their complex FFT) and the (distances, environments) result
    V.fits_in_memory("n_distances", 24.0 * n_d, "a grid of distances")
    V.fits_in_memory("half_width × batch", 256.0 * min(b, n_env) * k_max, "fBm environments")
    V.fits_in_memory("n_environments", 8.0 * n_env * min(n_d, k_max), "log exit times")
    ks = np.unique(np.round(np.geomspace(1, k_max, n_d)).astype(np.int64))
    out = np.empty((ks.size, n_env))
    starts = range(0, n_env, b)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"first passage α={a:g}", unit="batch")
    for s in starts:
        # environment i comes from fold_in(key, i): the result does not depend on ``batch``
        u = np.concatenate([fbm_paths(jax.random.fold_in(key, i), a, 1, 2 * k_max + 1, amplitude=amp, spacing=h)
                            for i in range(s, min(s + b, n_env))])
        m = u.shape[0]
        out[:, s:s + m] = exit_time_profile(u, spacing=h, temperature=t, centre=k_max)[:, ks - 1].T
    return ks * h, out
