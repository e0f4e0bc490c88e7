r"""Hoffer, Hubara & Soudry (2017) on a synthetic high-dimensional random potential.

The experiment: SGD with isotropic gradient noise on a high-dimensional
:class:`~sgd_sde.landscapes.RandomPotential` (``method="separable"``: a sum of independent exact
1-D fractional potentials, ``α = 1.8``), for several batch sizes ``B`` under three learning-rate
rules — fixed ``η = η₀``, Hoffer's ``η = η₀ √(B/B₀)`` and the linear rule ``η = η₀ B/B₀``
(Goyal et al. 2017) — recording ``‖w_t − w_0‖`` against ``log t`` (``t`` = number of updates).
For each run the slope of ``E‖w_t − w_0‖`` against ``log t`` is fitted with a bootstrap CI over
particles (:func:`~sgd_sde.diffusion.log_growth_slope`, ``β = 1``); the spread of the slopes
across ``B`` measures how well a rule equalises the diffusion. *Regime adaptation*: at a fixed
budget of samples (epochs) the batch ``B`` gets ``K B₀/B`` updates; with the number of updates
matched it gets ``K``. Both distances are read off the same runs.

What to expect. The per-step noise covariance is ``η² σ²/B``: the √B rule holds it fixed (Hoffer's
argument), the linear rule holds the temperature ``η σ²/(2B)`` fixed. On a random potential whose
barriers dominate, the Arrhenius law makes the *temperature* and ``log`` of the SDE time
``t η`` set the distance, so the √B rule only partly equalises the slopes and the linear rule
equalises them further, as long as ``η`` stays stable.

Why a separable field. On an *isotropic* Gaussian field with ``α`` near 2 (random Fourier features)
the variance sits at the largest scales: from any start there is a large-scale downhill direction
and SGD slides along it, so ``‖w_t − w_0‖`` grows as a power of ``t`` (measured: ``t^{0.6}``,
``d = 16``), not as ``log t`` — high dimension offers a way round every barrier. The separable
field confines every coordinate between growing barriers, which is the Bouchaud–Georges
mechanism Hoffer et al. invoke, and gives ``‖w_t − w_0‖ ≈ √d (log t)^{2/α}`` with ``2/α = 1.11``.
Particles start at independent uniform points of the grid's central half, so each particle and
coordinate sees its own stretch of the landscape.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ..io import arrays_equal, load_arrays, save_arrays
from .fit import log_growth_slope

__all__ = ["HofferResult", "hoffer_experiment", "RULES"]

RULES = ("fixed", "sqrt", "linear")


def _lr(rule: str, lr0: float, b: int, b0: int) -> float:
    return {"fixed": lr0, "sqrt": lr0 * math.sqrt(b / b0), "linear": lr0 * b / b0}[rule]


@dataclasses.dataclass(frozen=True, eq=False)
class HofferResult:
    """The outcome of :func:`hoffer_experiment` (saves to and loads from npz + JSON).

    Attributes:
        rules: the learning-rate rules, e.g. ``("fixed", "sqrt", "linear")``.
        batch_sizes: ``(nB,)``.
        lrs: ``(nR, nB)`` learning rate of each run.
        steps: ``(S,)`` save steps (updates).
        distances: ``(nR, nB, S, P)`` ``‖w_t − w_0‖`` per particle.
        diverged: ``(nR, nB)`` number of diverged particles. With the default
            ``diverged="exclude"`` of :func:`hoffer_experiment` their distances are NaN and every
            mean, fit and bootstrap here leaves them out (``config["diverged"]`` says which).
        slopes, slope_ci, slope_se, r2: ``(nR, nB)``, ``(nR, nB, 2)``, ``(nR, nB)``, ``(nR, nB)`` — fit
            of ``E‖w_t − w_0‖`` against ``log t`` on ``window`` (bootstrap CI and SE over particles).
        window: ``(t_min, t_max)`` of the fit.
        config: the arguments of the run (JSON).
        provenance: who made it (:func:`sgd_sde.provenance.provenance`); filled by :meth:`save`,
            read back by :meth:`load`; not part of equality.

    Two results are equal (``==``) when their arrays are equal in dtype, shape and value and their
    rules, window and config are equal.
    """

    rules: tuple[str, ...]
    batch_sizes: np.ndarray
    lrs: np.ndarray
    steps: np.ndarray
    distances: np.ndarray
    diverged: np.ndarray
    slopes: np.ndarray
    slope_ci: np.ndarray
    slope_se: np.ndarray
    r2: np.ndarray
    window: tuple[float, float]
    config: dict[str, Any]
    provenance: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("rules", "window", "config", "provenance")}

    def __eq__(self, other) -> bool:
        if not isinstance(other, HofferResult):
            return NotImplemented
        return (tuple(self.rules) == tuple(other.rules) and tuple(self.window) == tuple(other.window)
                and self.config == other.config and arrays_equal(self._arrays(), other._arrays()))

    __hash__ = None

    def spread(self) -> dict[str, float]:
        """``max/min`` of the slopes across batch sizes, per rule (1 = perfectly equalised)."""
        return {r: float(np.max(s) / np.min(s)) for r, s in zip(self.rules, self.slopes)}

    def _bootstrap_means(self, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Walker-mean distances on the fit window for ``n_boot`` joint resamples of the particles,
        ``(n_boot, nR, nB, S_window)``, and the centred ``log t`` of the window."""
        n_boot = V.count("n_boot", n_boot)
        # (n_boot, runs, particles) float64 weights, twice (the einsum and its normalisation)
        V.fits_in_memory("n_boot", 16.0 * n_boot * self.distances[:, :, 0, :].size, "bootstrap weights")
        lt = np.log(self.steps.astype(np.float64).clip(1))
        keep = (self.steps >= max(self.window[0], 2)) & (self.steps <= self.window[1])
        x = lt[keep] - lt[keep].mean()
        p = self.distances.shape[-1]
        counts = np.random.default_rng(seed).multinomial(p, np.full(p, 1.0 / p), size=n_boot).astype(np.float64)
        d = self.distances[:, :, keep, :]
        alive = np.all(np.isfinite(d), axis=2)  # (nR, nB, P): excluded (diverged) particles are NaN
        weights = np.einsum("bp,rkp->brkp", counts, alive.astype(np.float64))
        weights /= np.maximum(weights.sum(-1, keepdims=True), 1e-300)
        return np.einsum("brkp,rksp->brks", weights, np.where(np.isfinite(d), d, 0.0)), x

    def spread_bootstrap(self, n_boot: int = 400, seed: int = 0) -> np.ndarray:
        """Bootstrap replicates of ``log(max/min slope)`` per rule, ``(n_boot, nR)``.

        Particles are resampled *jointly* across all runs (they share the landscape, the starting
        points and the noise draws), so differences between rules are paired and their spread is
        the right standard error for comparing rules.
        """
        means, x = self._bootstrap_means(n_boot, seed)
        slopes = np.einsum("brks,s->brk", means, x) / np.sum(x**2)
        return np.log(slopes.max(-1) / slopes.min(-1))

    def r2_bootstrap(self, n_boot: int = 400, seed: int = 0) -> np.ndarray:
        """Bootstrap replicates of the R² of ``E‖w_t − w_0‖`` against ``log t`` on the fit window
        (the ``r2`` field's fit), ``(n_boot, nR, nB)``, particles resampled jointly as in
        :meth:`spread_bootstrap`. For centred ``x``: ``R² = (Σ m x)² / (Σ x² · Σ (m − m̄)²)``."""
        means, x = self._bootstrap_means(n_boot, seed)
        sxy = np.einsum("brks,s->brk", means, x)
        sst = np.sum((means - means.mean(-1, keepdims=True)) ** 2, axis=-1)
        return sxy**2 / (np.sum(x**2) * np.maximum(sst, 1e-300))

    def distance_at(self, step: int) -> np.ndarray:
        """Mean distance at the save point closest to ``step``: ``(nR, nB)``."""
        i = int(np.argmin(np.abs(self.steps - step)))
        return self.mean_distance()[:, :, i]

    def mean_distance(self) -> np.ndarray:
        """``E‖w_t − w_0‖`` over the particles kept (diverged ones excluded when their distances
        are NaN), ``(nR, nB, S)``."""
        d = self.distances
        kept = np.isfinite(d)
        return np.where(kept, d, 0.0).sum(-1) / np.maximum(kept.sum(-1), 1)

    def regime_adaptation(self) -> dict[str, np.ndarray]:
        """Mean final distance per ``(rule, B)``: at a fixed sample budget (``K B₀/B`` updates) and
        with the number of updates matched (``K``)."""
        k, b0 = int(self.steps[-1]), int(self.batch_sizes[0])
        budget = np.stack([self.distance_at(k * b0 // int(b))[:, j] for j, b in enumerate(self.batch_sizes)], axis=1)
        return {"fixed_epochs": budget, "matched_updates": self.distance_at(k)}

    def save(self, path):
        """Write one checked file ``<path>.npz`` atomically (no pickle), with ``provenance``.

        Returns:
            the path written.
        """
        from ..provenance import provenance

        prov = self.provenance if self.provenance is not None else provenance(self.config, key=self.config.get("key"))
        meta = {"kind": "sgd_sde.HofferResult", "rules": list(self.rules), "window": list(self.window),
                "config": self.config, "provenance": prov}
        return save_arrays(path, self._arrays(), meta)

    @classmethod
    def load(cls, path) -> HofferResult:
        """Read what :meth:`save` wrote.

        Raises:
            FileNotFoundError: if a file is missing.
            ValueError: if the files do not hold a HofferResult.
        """
        arrays, meta = load_arrays(path)
        if meta.get("kind") != "sgd_sde.HofferResult":
            raise ValueError(f"{path!s} does not hold a saved HofferResult (kind={meta.get('kind')!r})")
        return cls(rules=tuple(meta["rules"]), window=tuple(meta["window"]), config=meta["config"],
                   provenance=meta.get("provenance"), **arrays)


def hoffer_experiment(key, *, batch_sizes=(32, 64, 128, 256), rules=RULES, lr0: float = 0.1,
                      temperature0: float = 0.5, dim: int = 32, alpha: float = 1.8, amplitude: float = 1.0,
                      n_grid: int = 16385, n_particles: int = 16, n_steps: int = 1 << 16, window=None,
                      quick: bool = False, progress: bool | None = None, diverged: str = "exclude") -> HofferResult:
    r"""Run Hoffer et al.'s diffusion experiment: ``‖w_t − w_0‖`` vs ``log t`` per batch size and lr rule.

    SGD ``w ← w − η (∇U(w) + σ B^{-1/2} ξ)``, ``ξ ~ N(0, I)``, on one
    :class:`~sgd_sde.landscapes.RandomPotential` realisation (``method="separable"``, grid spacing 1),
    for every ``(rule, B)`` with the same key (common random numbers). The per-example noise
    variance is ``σ² = 2 B₀ T₀ / η₀``, so the SDE temperature ``η σ²/(2B)`` is ``T₀`` at ``(η₀, B₀)``
    (``T₀ = A``: barriers of one grid cell are worth one ``T``). See the module docstring.

    Args:
        key: a ``jax.random.key``.
        batch_sizes: increasing batch sizes; the first is ``B₀``.
        rules: a subset of ``("fixed", "sqrt", "linear")``.
        lr0: ``η₀`` at ``B₀``.
        temperature0: ``T₀ > 0``, the SDE temperature at ``(η₀, B₀)``.
        dim, alpha, amplitude, n_grid: the landscape (:class:`~sgd_sde.landscapes.RandomPotential`,
            ``method="separable"``).
        n_particles: independent runs per ``(rule, B)``.
        n_steps: updates ``K``.
        window: fit window ``(t_min, t_max)`` (default ``(√K, K)``).
        quick: shrink to 16 particles, ``2¹⁴`` steps, 8 dimensions (same code path).
        progress: tqdm bars (default off: with log-spaced saves a bar makes :func:`~sgd_sde.simulate`
            compile one program per save interval).
        diverged: ``"exclude"`` (default): particles that :func:`~sgd_sde.simulate` flags as
            diverged get NaN distances and are left out of every mean and fit (their number is
            ``HofferResult.diverged``); ``"include"``: their frozen last values are averaged in.

    Returns:
        A :class:`HofferResult`.

    Raises:
        ValueError: on a bad argument (named), e.g. ``alpha`` outside ``(0, 2]``, fewer than two
            batch sizes, an unknown rule; or if a coordinate came within 10 % of the grid's edge.

    Examples:
        >>> import jax
        >>> res = hoffer_experiment(jax.random.key(0), batch_sizes=(8, 64), rules=("fixed", "sqrt"), dim=2,
        ...                         n_particles=4, n_steps=256, n_grid=1025)
        >>> res.slopes.shape, res.lrs[1].tolist()
        ((2, 2), [0.1, 0.28284271247461906])

    References:
        Hoffer, Hubara & Soudry 2017, "Train longer, generalize better: closing the generalization
        gap in large batch training of neural networks"; Goyal et al. 2017, "Accurate, Large
        Minibatch SGD: Training ImageNet in 1 Hour" (the linear rule); Bouchaud & Georges 1990,
        "Anomalous diffusion in disordered media".
    """
    from ..dynamics import SGD
    from ..landscapes.random_potential import RandomPotential, _check_key
    from ..noise import Isotropic
    from ..simulate import simulate
    from .sinai import default_save_steps

    key = _check_key(key)
    if diverged not in ("exclude", "include"):
        raise ValueError(f"diverged must be 'exclude' or 'include', got diverged={diverged!r}")
    bs = [V.positive_int("batch_sizes", b) for b in batch_sizes]
    if len(bs) < 2 or any(b1 >= b2 for b1, b2 in zip(bs, bs[1:])):
        raise ValueError(f"batch_sizes must hold at least two increasing sizes, got {tuple(batch_sizes)!r}")
    rules = tuple(rules)
    if not rules or any(r not in RULES for r in rules):
        raise ValueError(f"rules must be a non-empty subset of {RULES}, got {rules!r}")
    lr0 = V.positive("lr0", lr0)
    t0 = V.positive("temperature0", temperature0)
    if quick:
        n_particles, n_steps, dim = min(n_particles, 16), min(n_steps, 1 << 14), min(dim, 8)
    p = V.positive_int("n_particles", n_particles)
    k = V.positive_int("n_steps", n_steps)
    land = RandomPotential(jax.random.fold_in(key, 0), dim, alpha, amplitude=amplitude, method="separable",
                           n_grid=n_grid)
    # each particle starts at its own random point of the grid's central half, so that particles (and
    # coordinates) explore different parts of the landscape: quasi-independent environments
    half = 0.25 * min(-land.extent[0], land.extent[1])
    theta0 = jax.random.uniform(jax.random.fold_in(key, 1), (p, land.dim), minval=-half, maxval=half)
    save = np.unique(np.concatenate([default_save_steps(k), [k * bs[0] // b for b in bs]]))
    noise_variance = 2.0 * bs[0] * t0 / lr0
    noise = Isotropic(noise_variance)
    edge = 0.9 * min(-land.extent[0], land.extent[1])
    obs = {"distance_from_init": "distance_from_init", "max_abs": lambda _, th, __: jnp.max(jnp.abs(th))}
    run_key = jax.random.fold_in(key, 2)
    lrs = np.array([[_lr(r, lr0, b, bs[0]) for b in bs] for r in rules])
    dist = np.zeros((len(rules), len(bs), len(save), p))
    div = np.zeros((len(rules), len(bs)), np.int64)
    done: dict[tuple[float, int], tuple[int, int]] = {}
    for i, r in enumerate(rules):
        for j, b in enumerate(bs):
            if (lrs[i, j], b) in done:  # e.g. every rule's B0 run: identical, reuse it
                dist[i, j], div[i, j] = dist[done[lrs[i, j], b]], div[done[lrs[i, j], b]]
                continue
            done[lrs[i, j], b] = (i, j)
            # lr as a traced scalar: one compilation per batch size, not per learning rate
            dyn = SGD(lr=jnp.asarray(lrs[i, j], jnp.float32), batch_size=b)
            tr = simulate(run_key, land, dyn, theta0, noise=noise, n_steps=k, n_particles=p, save_at=save,
                          observables=obs, progress=False if progress is None else progress)
            if tr.saved["max_abs"].max() > edge:
                raise ValueError(f"rule={r!r}, B={b}: a coordinate reached {tr.saved['max_abs'].max():.4g}, "
                                 f"within 10% of the grid edge {land.extent}; increase n_grid")
            dist[i, j] = tr.saved["distance_from_init"]
            div[i, j] = int(tr.diverged.sum())
            if diverged == "exclude":
                dist[i, j][:, np.asarray(tr.diverged, bool)] = np.nan
    win = (math.sqrt(k), float(k)) if window is None else tuple(float(w) for w in window)
    slopes = np.zeros(lrs.shape)
    ci = np.zeros(lrs.shape + (2,))
    se = np.zeros(lrs.shape)
    r2 = np.zeros(lrs.shape)
    for i in range(len(rules)):
        for j in range(len(bs)):
            kept = np.all(np.isfinite(dist[i, j]), axis=0)
            if kept.sum() < 2:
                slopes[i, j], ci[i, j], se[i, j], r2[i, j] = np.nan, (np.nan, np.nan), np.nan, np.nan
                continue
            f = log_growth_slope(save, dist[i, j][:, kept], beta=1.0, window=win, n_boot=400, seed=i * 100 + j)
            slopes[i, j], ci[i, j], se[i, j], r2[i, j] = f.estimate, f.ci, f.se, f.r2
    config = dict(batch_sizes=bs, rules=list(rules), lr0=lr0, temperature0=t0, noise_variance=noise_variance,
                  dim=land.dim, alpha=alpha, amplitude=amplitude, n_grid=n_grid, n_particles=p, n_steps=k,
                  quick=quick, key=np.asarray(jax.random.key_data(key)).tolist(),
                  diverged="excluded" if diverged == "exclude" else "included")
    return HofferResult(rules, np.asarray(bs), lrs, save, dist, div, slopes, ci, se, r2, win, config)
