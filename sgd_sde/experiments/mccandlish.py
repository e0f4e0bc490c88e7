r"""McCandlish et al. 2018 on a real network: the noise scale, the optimal step and the Pareto front.

Source: McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, "An Empirical Model of Large-Batch
Training" (arXiv:1812.06162). Model: an MLP on scikit-learn's digits (fixed split, see
:func:`sgd_sde.networks.load_dataset`). Claims, one sentence each:

* ``mccandlish2018.b_noise_grows`` — the gradient noise scale grows as the training loss falls
  (measured: the slope of ``log B_noise`` against ``log L`` along training, < 0).
* ``mccandlish2018.eps_opt`` — at fixed θ the best step along a noisy minibatch gradient is
  :math:`\epsilon_{opt}(B) = \epsilon_{max}/(1+B_{noise}/B)` (measured by line search, averaged
  over batch sizes as ``log2(measured/predicted)``, 0 within a factor of 2).
* ``mccandlish2018.beyond_two_eps_opt`` — a step of more than twice the optimum increases the
  expected loss (measured: the one-step change at ``3 ε_opt``, > 0).
* ``mccandlish2018.pareto_front`` — steps ``S`` and examples ``E = B·S`` to reach a target loss lie
  on :math:`(S/S_{min}-1)(E/E_{min}-1) = 1` (measured: the fit's relative RMS residual in log S).
* ``mccandlish2018.b_crit_vs_b_noise`` / ``b_crit_vs_b_simple`` — the critical batch
  :math:`B_{crit} = E_{min}/S_{min}` of the fitted front is within an order of magnitude of the
  measured ``B_noise`` (``B_simple``) (``log10`` ratio 0 ± 1).

Formulas come from :mod:`sgd_sde.theory.mccandlish`; measurements from
:func:`sgd_sde.measure.gradient_noise_stats`; training grids from :func:`sgd_sde.networks.sweep`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import _validate as V
from ._common import Timer, as_key, bootstrap_ci, count_nonfinite, digits, make_result, mlp_fn, resolve_size
from ..verdicts import ExperimentResult, Verdict

__all__ = ["ParetoFit", "fit_pareto_front", "run", "figure", "CITATION"]

CITATION = ("McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, \"An Empirical Model of Large-Batch Training\" "
            "(arXiv:1812.06162)")
_SRC = "mccandlish2018"


# ---------------------------------------------------------------------------- Pareto front fit
@dataclasses.dataclass(frozen=True)
class ParetoFit:
    """The fitted front :math:`S = S_{min} + E_{min}/B` (equivalently
    :math:`(S/S_{min}-1)(E/E_{min}-1) = 1` with ``E = B·S``).

    Attributes:
        s_min, e_min, b_crit: point estimates, ``b_crit = e_min / s_min``.
        s_min_ci, e_min_ci, b_crit_ci: ``(lo, hi)`` intervals at ``level``.
        level: interval coverage.
        residual_sd: standard deviation of the residuals of ``log S`` (relative scatter).
        n_points: points used; n_unreached: points whose ``steps`` were NaN/inf (runs that never
            reached the target), excluded from the fit and counted here.
    """

    s_min: float
    e_min: float
    b_crit: float
    s_min_ci: tuple[float, float]
    e_min_ci: tuple[float, float]
    b_crit_ci: tuple[float, float]
    level: float
    residual_sd: float
    n_points: int
    n_unreached: int

    def steps(self, batch_size):
        """The fitted ``S(B) = S_min (1 + B_crit/B)`` (via :func:`sgd_sde.theory.steps_and_examples`)."""
        from ..theory import steps_and_examples

        return steps_and_examples(batch_size, self.s_min, self.b_crit)[0]


def fit_pareto_front(batch_sizes, steps, *, level: float = 0.95) -> ParetoFit:
    r"""Fit McCandlish's front :math:`S(B) = S_{min}(1 + B_{crit}/B)` to measured steps-to-target.

    The front is linear in ``1/B``: :math:`S = S_{min} + E_{min}/B`. The fit minimises the squared
    error of ``log S`` (noise on steps is multiplicative) over ``a = log S_min``, ``b = log E_min``
    by Gauss–Newton from the linear least-squares start (``scipy.optimize.least_squares``). The
    intervals are Wald intervals in log space, :math:`\hat a \pm t_{n-2}\,\mathrm{se}`, with the
    covariance :math:`s^2(J^TJ)^{-1}` (``s²`` the residual variance); for ``b_crit`` the variance of
    ``b − a`` is used. They are exact for log-normal scatter in the linearised model; with exact
    front data the intervals collapse to the point.

    Args:
        batch_sizes: ``(n_B,)`` batch sizes > 0 (at least 3 distinct values).
        steps: ``(n_B,)`` or ``(n_B, n_rep)`` steps to reach the target (repeats: seeds). NaN or
            inf marks a run that never reached the target; such points are excluded and counted.
        level: coverage of the intervals, in (0, 1).

    Returns:
        :class:`ParetoFit`.

    Raises:
        ValueError: shapes that do not match, non-positive batch sizes or steps, fewer than 3
            distinct batch sizes with finite steps, or ``level`` outside (0, 1).

    Examples:
        >>> B = np.array([4.0, 16, 64, 256, 1024])
        >>> fit = fit_pareto_front(B, 100.0 * (1 + 50.0 / B))
        >>> round(fit.s_min, 6), round(fit.e_min, 4), round(fit.b_crit, 6)
        (100.0, 5000.0, 50.0)

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eq. (2.11)–(2.12).
    """
    from scipy import optimize, stats

    b = V.finite_array("batch_sizes", batch_sizes, ndim=1).astype(np.float64)
    if np.any(b <= 0):
        raise ValueError(f"batch_sizes must be > 0, got {batch_sizes!r}")
    s = np.asarray(steps, np.float64)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[0] != b.size:
        raise ValueError(f"steps must have shape (n_B,) or (n_B, n_rep) with n_B = {b.size}, got {np.shape(steps)}")
    level = V.as_float("level", level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got level={level}")
    bb = np.repeat(b, s.shape[1])
    ss = s.reshape(-1)
    ok = np.isfinite(ss)
    if np.any(ss[ok] <= 0):
        raise ValueError("steps must be > 0 where finite")
    n_unreached = int(np.sum(~ok))
    bb, ss = bb[ok], ss[ok]
    if np.unique(bb).size < 3:
        raise ValueError(f"need finite steps at >= 3 distinct batch sizes, got {np.unique(bb).size}")
    n = ss.size
    # linear start: S = S_min + E_min/B, weighted by 1/S (relative errors)
    A = np.stack([np.ones(n), 1.0 / bb], axis=1) / ss[:, None]
    coef = np.linalg.lstsq(A, np.ones(n), rcond=None)[0]
    coef = np.maximum(coef, 1e-12 * np.max(ss) * np.array([1.0, np.max(bb)]))
    ls = np.log(ss)

    def resid(p):
        return np.log(np.exp(p[0]) + np.exp(p[1]) / bb) - ls

    def jac(p):
        den = np.exp(p[0]) + np.exp(p[1]) / bb
        return np.stack([np.exp(p[0]) / den, np.exp(p[1]) / bb / den], axis=1)

    sol = optimize.least_squares(resid, np.log(coef), jac=jac, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    a, bl = sol.x
    r = resid(sol.x)
    J = jac(sol.x)
    dof = max(n - 2, 1)
    s2 = float(r @ r) / dof
    cov = s2 * np.linalg.pinv(J.T @ J)
    t = float(stats.t.ppf(0.5 + level / 2.0, dof))
    se_a, se_b = math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0))
    se_c = math.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0))
    c = bl - a
    ci = lambda m, se: (float(math.exp(m - t * se)), float(math.exp(m + t * se)))
    return ParetoFit(s_min=float(math.exp(a)), e_min=float(math.exp(bl)), b_crit=float(math.exp(c)),
                     s_min_ci=ci(a, se_a), e_min_ci=ci(bl, se_b), b_crit_ci=ci(c, se_c), level=level,
                     residual_sd=float(math.sqrt(s2)), n_points=int(n), n_unreached=n_unreached)


# ---------------------------------------------------------------------------- the experiment
_SIZES = {
    #            data (train, test), widths, track steps, probes, seeds; line search: Bs, batches, grid;
    #            front: Bs, lrs, seeds, max steps, record window, target loss
    "toy": dict(n_train=256, n_test=64, widths=(16,), track_steps=30, n_probes=3, track_seeds=2, track_lr=0.2,
                track_batch=32, max_hvp=8, ls_batches=(8, 64), ls_draws=8, ls_grid=9,
                front_batches=(4, 16, 64), front_lrs=(0.3, 0.8), front_seeds=2, front_steps=80, record_every=4,
                target=1.5),
    "quick": dict(n_train=None, n_test=None, widths=(32,), track_steps=200, n_probes=5, track_seeds=2, track_lr=0.2,
                  track_batch=32, max_hvp=32, ls_batches=(4, 16, 64, 256), ls_draws=32, ls_grid=17,
                  front_batches=(4, 16, 64, 512), front_lrs=(0.15, 0.4, 1.0), front_seeds=3,
                  front_steps=200, record_every=4, target=0.6),
    "full": dict(n_train=None, n_test=None, widths=(64,), track_steps=1500, n_probes=12, track_seeds=5, track_lr=0.2,
                 track_batch=32, max_hvp=256, ls_batches=(2, 4, 8, 16, 32, 64, 128, 256, 512), ls_draws=256,
                 ls_grid=48, front_batches=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                 front_lrs=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2), front_seeds=6, front_steps=3000, record_every=5,
                 target=0.25),
}


def _noise_stats(model, data, key, max_hvp):
    from .. import measure
    from ..networks import example_loss

    loss_fn, params = example_loss(model)
    # one chunk (N ≤ 2048): no scan in the compiled kernels, which compile several times faster
    return measure.gradient_noise_stats(loss_fn, params, data.x_train, data.y_train, max_hvp_examples=max_hvp, key=key,
                                        chunk_size=2048)


def _track(key, data, cfg):
    """Train ``track_seeds`` MLPs; at each probe measure the full-data loss, B_simple and B_noise."""
    import jax

    from ..networks import train
    from ..networks.probes import evaluate

    make = mlp_fn(data, cfg["widths"])
    every = cfg["track_steps"] // cfg["n_probes"]  # equal chunks between probes: one compiled scan
    rows = []
    models = []

    for s in range(cfg["track_seeds"]):
        ks = jax.random.fold_in(key, s)
        k_model, k_batch, k_hvp = jax.random.split(ks, 3)

        def probe(model, state, d, step, _k=k_hvp):
            st = _noise_stats(model, d, jax.random.fold_in(_k, step), cfg["max_hvp"])
            loss, _ = evaluate(model, state.bn_state, d.x_train, d.y_train)
            return {"loss": loss, "b_simple": st.b_simple, "b_noise": st.b_noise, "grad_sq": st.grad_sq_norm,
                    "trace_cov": st.trace_cov, "ghg": st.grad_h_grad, "trace_h_cov": st.trace_h_cov}

        out = train(k_batch, make(k_model), data, momentum=0.0, lr_schedule=cfg["track_lr"],
                    batch_schedule=cfg["track_batch"], n_steps=cfg["track_steps"], probes=[probe],
                    probe_every=every, progress=False)
        h = out.history
        rows.append(np.stack([h["step"], h["loss"], h["b_simple"], h["b_noise"], h["grad_sq"], h["trace_cov"], h["ghg"],
                              h["trace_h_cov"]], axis=-1).astype(np.float64))
        models.append(out.model)
    return np.stack(rows), models


def _stats_from_row(row, n):
    """The :class:`~sgd_sde.measure.NoiseStats` recorded in one row of the track."""
    from ..measure import NoiseStats

    _, _, bs, bn, g2, tr, ghg, thc = (float(x) for x in row)
    return NoiseStats(grad_sq_norm=g2, trace_cov=tr, b_simple=bs, grad_h_grad=ghg, trace_h_cov=thc, b_noise=bn, n_examples=n)


def _line_search(key, model, data, cfg, stats):
    """E L(θ − ε g_B) on a grid of ε for each B, from ``ls_draws`` minibatch gradients (with replacement)."""
    import jax
    import jax.numpy as jnp

    from ..measure._core import Objective
    from ..networks import example_loss
    loss_fn, params = example_loss(model)
    obj = Objective(loss_fn, params, data.x_train, data.y_train, chunk_size=2048)
    g_all = np.concatenate([g for _, g in obj.grad_blocks()]).astype(np.float32)  # (N, d)
    n = g_all.shape[0]
    pred = np.asarray(stats.eps_opt(np.asarray(cfg["ls_batches"], np.float64)))
    # per-B grid: a factor 8 either side of the prediction (relative grid u = ε/ε_pred)
    rel = np.geomspace(1 / 8, 8.0, cfg["ls_grid"])
    theta = np.asarray(obj.theta)
    loss0 = float(obj.value())
    values = jax.jit(jax.vmap(obj.value))
    curves = []
    b_all = cfg["ls_batches"]
    idx_all = np.asarray(jax.random.randint(key, (len(b_all), cfg["ls_draws"], max(b_all)), 0, n))  # one draw, sliced
    for j, B in enumerate(b_all):
        idx = idx_all[j, :, :B]
        gb = g_all[idx].mean(axis=1)  # (K, d)
        steps = (pred[j] * rel).astype(np.float32)
        th = theta[None, None, :] - steps[None, :, None] * gb[:, None, :]
        vals = np.asarray(values(jnp.asarray(th.reshape(-1, th.shape[-1]))), np.float64).reshape(th.shape[:2])
        curves.append(vals - loss0)  # (K, n_grid): one-step loss change per batch draw
    curves = np.stack(curves)  # (n_B, K, n_grid)
    return rel, curves, pred, loss0


def _argmin_eps(grid, mean_curve):
    """Minimiser of a sampled curve: parabola through the lowest grid point and its neighbours in
    ``log ε`` (NaN at the grid's edge: the minimum is not bracketed)."""
    i = int(np.nanargmin(mean_curve))
    if i == 0 or i == len(grid) - 1 or not np.all(np.isfinite(mean_curve[i - 1 : i + 2])):
        return math.nan
    x = np.log(grid[i - 1 : i + 2])
    y = mean_curve[i - 1 : i + 2]
    c = np.polyfit(x, y, 2)
    if c[0] <= 0:
        return float(grid[i])
    return float(np.exp(np.clip(-c[1] / (2 * c[0]), x[0], x[2])))


def _steps_to_target(curves, curve_steps, target):
    """``(n_lr, n_B, n_seed)`` first recorded step whose window loss ≤ target (NaN: never)."""
    hit = curves <= target
    first = np.argmax(hit, axis=-1)
    reached = np.any(hit, axis=-1)
    steps = np.take_along_axis(np.broadcast_to(curve_steps[None, :, None, :], curves.shape), first[..., None], -1)[..., 0]
    return np.where(reached, steps.astype(np.float64), np.nan)


def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Run the McCandlish et al. 2018 checks on an MLP trained on digits.

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``,
            ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"mccandlish"`` (claims in the module
        docstring; data: the noise-scale track, the line-search curves and the Pareto points).
    """
    import jax

    from ..networks import sweep

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    k_track, k_ls, k_front = jax.random.split(key, 3)
    verdicts = []

    # (a) noise scale along training
    t = Timer()
    track, models = _track(k_track, data, cfg)  # (seeds, probes, [step, loss, b_simple, b_noise, ...])
    log_l, log_bn = np.log(track[:, :, 1]), np.log(np.abs(track[:, :, 3]))
    slopes = np.array([np.polyfit(log_l[s], log_bn[s], 1)[0] if np.all(np.isfinite(log_bn[s])) else np.nan
                       for s in range(track.shape[0])])
    ci = bootstrap_ci(slopes)
    verdicts.append(Verdict.decide(
        f"{_SRC}.b_noise_grows", "network", float(np.mean(slopes)), 0.0, kind="less", ci=ci, seconds=t.seconds,
        figure="mccandlish", statement="The gradient noise scale B_noise grows as the training loss falls.",
        note=(f"d log B_noise / d log L per seed: {np.round(slopes, 3).tolist()}; B_noise went from "
              f"{np.mean(track[:, 0, 3]):.3g} to {np.mean(track[:, -1, 3]):.3g} while L fell from "
              f"{np.mean(track[:, 0, 1]):.3g} to {np.mean(track[:, -1, 1]):.3g}.")))

    # (b) eps_opt(B) by line search at the final parameters of seed 0
    t = Timer()
    model0 = models[0]
    stats = _stats_from_row(track[0, -1], data.n_train)
    rel, curves, pred, loss0 = _line_search(k_ls, model0, data, cfg, stats)
    n_bad = count_nonfinite(curves)  # a step that overflowed the loss counts as an (infinitely) large increase
    curves = np.where(np.isfinite(curves), curves, 1e30)
    draws = np.transpose(curves, (1, 0, 2))  # (K, n_B, n_grid)

    def log2_ratio(sample, axis=0):  # measured/predicted ε_opt, mean of log2 over B
        return float(np.mean([np.log2(_argmin_eps(rel, sample[:, j].mean(axis=0))) for j in range(sample.shape[1])]))

    u = np.array([_argmin_eps(rel, c.mean(axis=0)) for c in curves])  # measured ε_opt / predicted
    meas = u * pred
    ci = bootstrap_ci(draws, stat=log2_ratio, n_boot=200)
    verdicts.append(Verdict.decide(
        f"{_SRC}.eps_opt", "network", log2_ratio(draws), 0.0, tolerance=1.0, ci=ci,
        seconds=t.seconds, figure="mccandlish",
        statement="At fixed θ the best step along a noisy minibatch gradient is ε_max/(1 + B_noise/B).",
        note=(f"mean over B={list(cfg['ls_batches'])} of log2(measured/predicted ε_opt); measured "
              f"{np.round(meas, 4).tolist()}, predicted {np.round(pred, 4).tolist()} (ε_max={stats.eps_max:.4g}, "
              f"B_noise={stats.b_noise:.4g}, from {cfg['ls_draws']} batch draws per B); {count_nonfinite(u)} minima "
              f"not bracketed by the grid (factor 8 around the prediction); {n_bad} overflowed losses.")))

    # (c) beyond 2 ε_opt the loss increases: E ΔL(3 ε_opt) / |E ΔL(ε_opt)| (3 for a quadratic)
    t = Timer()

    def rise(sample, axis=0):
        vals = []
        for j in range(sample.shape[1]):
            mc = sample[:, j].mean(axis=0)
            uj = _argmin_eps(rel, mc)
            if not (np.isfinite(uj) and 3 * uj <= rel[-1]):
                return math.nan
            x = np.log(rel)
            vals.append(np.interp(np.log(3 * uj), x, mc) / abs(np.interp(np.log(uj), x, mc)))
        return float(np.mean(vals))

    ci = bootstrap_ci(draws, stat=rise, n_boot=200)
    verdicts.append(Verdict.decide(
        f"{_SRC}.beyond_two_eps_opt", "network", rise(draws), 0.0, kind="greater", ci=ci, seconds=t.seconds,
        figure="mccandlish", statement="A step larger than twice ε_opt increases the expected loss.",
        note=(f"mean over B of E[L(θ − 3ε_opt g_B) − L(θ)] / |E[L(θ − ε_opt g_B) − L(θ)]| (a quadratic gives 3; "
              f"> 0 means the loss rises); L(θ)={loss0:.4g}.")))

    # (d) Pareto front: steps to target, best lr per (B, seed)
    t = Timer()
    sw = sweep(k_front, mlp_fn(data, cfg["widths"]), data, lrs=cfg["front_lrs"], batch_sizes=cfg["front_batches"],
               seeds=range(cfg["front_seeds"]), n_steps=cfg["front_steps"], momentum=0.0, record_every=cfg["record_every"])
    s_all = _steps_to_target(sw.curves["train_loss"], sw.curve_steps, cfg["target"])  # (lr, B, seed)
    s_best = np.nanmin(np.where(np.isnan(s_all), np.inf, s_all), axis=0)
    s_best[~np.isfinite(s_best)] = np.nan  # (B, seed)
    bs = np.asarray(cfg["front_batches"], np.float64)
    fit = fit_pareto_front(bs, s_best)

    def resid_sd(sample, axis=0):  # sample: (seed, B), resampled seeds
        try:
            return fit_pareto_front(bs, sample.T).residual_sd
        except ValueError:  # a resample with targets reached at fewer than 3 batch sizes
            return math.nan

    ci = bootstrap_ci(np.where(np.isfinite(s_best), s_best, -1.0).T, stat=lambda x, axis=0: resid_sd(np.where(x > 0, x, np.nan)),
                      n_boot=300, max_nan_fraction=0.1)
    verdicts.append(Verdict.decide(
        f"{_SRC}.pareto_front", "network", fit.residual_sd, 0.0, tolerance=0.25, ci=ci, seconds=t.seconds,
        figure="mccandlish",
        statement="Steps and examples to a target loss lie on (S/S_min − 1)(E/E_min − 1) = 1.",
        note=(f"RMS residual of log S about the fitted front (relative scatter; CI: bootstrap over seeds) with "
              f"S_min={fit.s_min:.4g} "
              f"{_r(fit.s_min_ci)}, E_min={fit.e_min:.4g} {_r(fit.e_min_ci)}; {fit.n_points} points, "
              f"{fit.n_unreached} (B, seed) runs never reached loss {cfg['target']} at any lr.")))
    at_target = np.argmin(np.abs(track[:, :, 1] - cfg["target"]), axis=1)
    bn_t = float(np.mean(track[np.arange(track.shape[0]), at_target, 3]))
    bsim_t = float(np.mean(track[np.arange(track.shape[0]), at_target, 2]))
    for name, ref in (("b_noise", bn_t), ("b_simple", bsim_t)):
        lr10 = math.log10(fit.b_crit / ref) if ref > 0 else math.nan
        ci = tuple(math.log10(c / ref) for c in fit.b_crit_ci) if ref > 0 else None
        verdicts.append(Verdict.decide(
            f"{_SRC}.b_crit_vs_{name}", "network", lr10, 0.0, tolerance=1.0, ci=ci, seconds=t.seconds,
            figure="mccandlish",
            statement=f"The critical batch E_min/S_min is within an order of magnitude of {name.replace('b_', 'B_')}.",
            note=(f"log10(B_crit/{name}): B_crit={fit.b_crit:.4g} {_r(fit.b_crit_ci)}, {name}={ref:.4g} "
                  f"(measured along training at the probe nearest the target loss {cfg['target']}).")))

    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    data_out = {
        "track": track, "ls_rel_grid": rel, "ls_curves": curves.mean(axis=1), "ls_batches": np.asarray(cfg["ls_batches"]),
        "eps_opt_measured": meas, "eps_opt_predicted": pred, "eps_max": np.asarray(stats.eps_max),
        "b_noise_ls": np.asarray(stats.b_noise), "front_batches": bs, "front_steps": s_best,
        "front_fit": np.array([fit.s_min, fit.e_min, fit.b_crit, *fit.b_crit_ci]),
        "b_noise_at_target": np.asarray(bn_t), "b_simple_at_target": np.asarray(bsim_t),
    }
    return make_result("mccandlish", CITATION, verdicts, data_out, config, key)


def _r(ci):
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def figure(result: ExperimentResult, out_dir):
    """Three panels from the saved result: (a) B_noise and B_simple vs training loss; (b) ε_opt(B)
    measured by line search vs McCandlish's prediction; (c) steps vs examples to the target with
    the fitted front."""
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    with paper_style():
        fig, ax = plt.subplots(1, 3, figsize=(10.5, 3.2), constrained_layout=True)
        tr = d["track"]
        for s in range(tr.shape[0]):
            ax[0].plot(tr[s, :, 1], tr[s, :, 3], "o-", color="C0", alpha=0.7, ms=3, label="B_noise (network)" if s == 0 else None)
            ax[0].plot(tr[s, :, 1], tr[s, :, 2], "s--", color="C1", alpha=0.7, ms=3, label="B_simple (network)" if s == 0 else None)
        ax[0].set(xscale="log", yscale="log", xlabel="training loss L", ylabel="noise scale (examples)",
                  title="(a) noise scale along training")
        ax[0].invert_xaxis()
        ticks = [x for x in (0.1, 0.25, 0.5, 1.0, 2.0) if tr[:, :, 1].min() / 1.2 <= x <= tr[:, :, 1].max() * 1.2]
        ax[0].set_xticks(ticks, [f"{x:g}" for x in ticks])
        ax[0].xaxis.set_minor_formatter(plt.NullFormatter())
        ax[0].legend(frameon=False)
        B = d["ls_batches"].astype(float)
        bb = np.geomspace(B.min() / 2, B.max() * 2, 100)
        from ..theory import eps_opt

        ax[1].plot(bb, eps_opt(bb, float(d["eps_max"]), max(float(d["b_noise_ls"]), 0.0)), "-", color="k",
                   label="theory ε_max/(1+B_noise/B)")
        ax[1].plot(B, d["eps_opt_measured"], "o", color="C3", label="network (line search)")
        ax[1].axhline(float(d["eps_max"]), color="gray", lw=0.8, ls=":")
        ax[1].set(xscale="log", yscale="log", xlabel="batch size B", ylabel="optimal step ε_opt",
                  title="(b) ε_opt(B) at fixed θ")
        ax[1].legend(frameon=False)
        fb, fs = d["front_batches"], d["front_steps"]
        s_min, e_min, b_crit = d["front_fit"][:3]
        for j in range(fs.shape[1]):
            ax[2].plot(fs[:, j] * fb, fs[:, j], "o", color="C2", alpha=0.6, ms=4, label="network runs" if j == 0 else None)
        bg = np.geomspace(fb.min() / 4, fb.max() * 4, 200)
        S = s_min * (1 + b_crit / bg)
        ax[2].plot(S * bg, S, "-", color="k", label=f"fit, B_crit={b_crit:.3g}")
        ax[2].axhline(s_min, color="gray", lw=0.8, ls=":")
        ax[2].axvline(e_min, color="gray", lw=0.8, ls=":")
        ax[2].set(xscale="log", yscale="log", xlabel="examples E = B·S", ylabel="steps S",
                  title="(c) Pareto front to the target loss")
        ax[2].legend(frameon=False)
        return save_figure(fig, out_dir, result)
