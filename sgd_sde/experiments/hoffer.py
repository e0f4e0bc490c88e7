r"""Hoffer et al. 2017 on a real network: ultra-slow diffusion and closing the generalisation gap.

Source: Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better: Closing the
Generalization Gap in Large Batch Training of Neural Networks" (NeurIPS). The synthetic version
(a random walk on a random potential) is :func:`sgd_sde.diffusion.hoffer_experiment`; this is the
real-network one. Model: an MLP with batch norm after each hidden layer (their F1 layout) on
scikit-learn's digits, heavy-ball SGD, several batch sizes ``B`` (the smallest, ``B₀``, is the
reference), a budget of ``n_epochs`` epochs, under four settings:

1. ``plain`` — the same learning rate ``η₀`` for every ``B``;
2. ``sqrt`` — ``η = η₀ √(B/B₀)`` (their rule: it keeps the update covariance ``η² Σ/B`` fixed);
3. ``sqrt+gbn`` — the same with Ghost Batch Norm over ghost batches of ``B₀``
   (:func:`sgd_sde.networks.ghost_batch_norm`);
4. ``sqrt+gbn+ra`` — and regime adaptation: every ``B`` makes as many updates as ``B₀`` does.

At ``B = B₀`` the four settings are the same run (ghost batches of ``B₀`` are ordinary batch norm).
Seeds are paired across settings and batch sizes. Claims, one sentence each (gaps are test
accuracy at ``B₀`` minus at the largest ``B``, per seed, with a bootstrap CI over seeds):

* ``hoffer2017.plain_gap`` — with a common learning rate the large batch generalises worse (gap > 0).
* ``hoffer2017.sqrt_lr_narrows_gap`` — the √B learning rate narrows the gap (plain − sqrt > 0).
* ``hoffer2017.ghost_bn_narrows_gap`` — Ghost BN narrows it further (sqrt − sqrt+gbn > 0).
* ``hoffer2017.regime_adaptation_closes_gap`` — with as many updates as the small batch the gap
  closes (|gap| within ``gap_tolerance``, 1 percentage point; otherwise the verdict says by how much not).
* ``hoffer2017.log_t_diffusion`` — ``‖w_t − w_0‖`` grows like ``log t``, not like a power of ``t``
  (:func:`box_cox_exponent`: the exponent ``γ`` of ``d = a + b (t^γ − 1)/γ``, ``γ → 0`` being
  ``log t``, is 0 within ``±gamma_tolerance``; an interval that straddles the band edge means no
  test can tell ``log t`` from ``t^γ`` at the reachable ``t``, and the verdict is ``inconclusive``).

Run: ``python -m sgd_sde.experiments.hoffer`` (``--size full`` for the full size).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as V
from ..verdicts import ExperimentResult, Verdict
from ._sharpness_common import single_blas_thread
from ._common import Timer, as_key, bootstrap_ci, digits, make_result, mean_ci, resolve_size

__all__ = ["run", "figure", "box_cox_exponent", "SETTINGS", "CITATION"]

CITATION = ("Hoffer, Hubara & Soudry 2017, \"Train Longer, Generalize Better: Closing the Generalization Gap in "
            "Large Batch Training of Neural Networks\" (NeurIPS)")
_SRC = "hoffer2017"
SETTINGS = ("plain", "sqrt", "sqrt+gbn", "sqrt+gbn+ra")

_SIZES = {
    "toy": dict(n_train=256, n_test=64, widths=(16,), seeds=2, batch_sizes=(16, 64), n_epochs=3, lr=0.05,
                momentum=0.9, fit_from=4, gap_tolerance=0.01, gamma_tolerance=0.1),
    "quick": dict(n_train=None, n_test=None, widths=(64, 64), seeds=4, batch_sizes=(16, 64, 256), n_epochs=3,
                  lr=0.05, momentum=0.9, fit_from=10, gap_tolerance=0.01, gamma_tolerance=0.1),
    "full": dict(n_train=None, n_test=None, widths=(128, 128), seeds=8, batch_sizes=(16, 64, 256, 1024), n_epochs=20,
                 lr=0.05, momentum=0.9, fit_from=10, gap_tolerance=0.01, gamma_tolerance=0.1),
}


def _box_cox(t, gamma):
    return np.log(t) if abs(gamma) < 1e-9 else (t**gamma - 1.0) / gamma


def _sse(t, d, gamma):
    x = _box_cox(t, gamma)
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, d, rcond=None)
    r = d - A @ coef
    return float(r @ r), coef


def box_cox_exponent(steps, distances, *, gammas=np.linspace(-1.0, 1.0, 401)):
    r"""Least-squares exponent ``γ`` of ``d(t) = a + b (t^γ − 1)/γ`` (``γ = 0``: ``a + b log t``).

    The family holds both hypotheses of Hoffer et al.'s diffusion question: ``log t`` at ``γ = 0``
    and a power ``t^γ`` (shifted and scaled) at ``γ > 0``, so the fitted ``γ`` and its interval
    over seeds say which one the data prefer — or, when the interval is wide, that at the
    reachable ``t`` the two cannot be told apart. The profile over ``gammas`` is minimised on the
    grid and refined with a bounded scalar search around the best grid point.

    Args:
        steps: ``(S,)`` times ``t > 0``.
        distances: ``(S,)`` mean distances at those times.
        gammas: the grid (ascending) of the profile.

    Returns:
        ``(gamma, sse_profile)`` — the fitted exponent and the residual sum of squares on ``gammas``.

    Raises:
        ValueError: fewer than 3 points, non-positive times, shape mismatch or non-finite values.

    Examples:
        >>> t = np.arange(1.0, 300.0)
        >>> round(box_cox_exponent(t, 2.0 + 0.5 * np.log(t))[0], 3)
        0.0
        >>> round(box_cox_exponent(t, 1.0 + 3.0 * t**0.3)[0], 3)
        0.3

    References:
        Box & Cox 1964, "An Analysis of Transformations"; Hoffer, Hubara & Soudry 2017 (``‖w_t − w_0‖ ∝ log t``).
    """
    t = V.finite_array("steps", steps, ndim=1).astype(np.float64)
    d = V.finite_array("distances", distances, ndim=1).astype(np.float64)
    if t.shape != d.shape or t.size < 3:
        raise ValueError(f"steps and distances must have the same length >= 3, got {t.shape} and {d.shape}")
    if np.any(t <= 0):
        raise ValueError("steps must be > 0")
    g = V.finite_array("gammas", gammas, ndim=1).astype(np.float64)
    prof = np.array([_sse(t, d, x)[0] for x in g])
    i = int(np.argmin(prof))
    import scipy.optimize

    lo, hi = g[max(i - 1, 0)], g[min(i + 1, g.size - 1)]
    if hi > lo:
        res = scipy.optimize.minimize_scalar(lambda x: _sse(t, d, x)[0], bounds=(lo, hi), method="bounded",
                                             options={"xatol": 1e-6})
        gamma = float(res.x) if res.fun <= prof[i] else float(g[i])
    else:
        gamma = float(g[i])
    return gamma, prof


@single_blas_thread
def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Run the four settings at every batch size and judge the claims (see the module docstring).

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``, ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"hoffer"``; data: ``distance``
        ``(4, nB, seeds, n_max)`` (NaN after a run's last step), ``test_acc`` and ``train_acc``
        ``(4, nB, seeds)``, ``steps_per_setting`` ``(4, nB)``, the Box–Cox profile and exponents.

    Raises:
        ValueError, TypeError: a bad ``size``, ``quick`` or ``key``.
    """
    import jax

    from ..networks import MLP
    from ._sharpness_common import divergence_note, evaluate_members, member, train_ensemble

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    N = data.n_train
    Bs = [int(b) for b in cfg["batch_sizes"]]
    b0 = Bs[0]
    seeds = list(range(cfg["seeds"]))
    ns, nB = len(seeds), len(Bs)
    shape, widths = data.input_shape, tuple(cfg["widths"])
    bn_fn = lambda k: MLP(shape, data.n_classes, widths, key=k, batch_norm=True)
    gbn_fn = lambda k: MLP(shape, data.n_classes, widths, key=k, batch_norm=True, ghost_batch_size=b0)
    budget = [cfg["n_epochs"] * (N // b) for b in Bs]
    n_ra = budget[0]
    steps = np.array([budget, budget, budget, [n_ra] * nB])  # (4, nB)
    dist = np.full((4, nB, ns, n_ra), np.nan)
    test_acc = np.zeros((4, nB, ns))
    train_acc = np.zeros((4, nB, ns))
    timer = Timer()
    runs = []

    def record(s_list, j, run_, idx, params, bn, n):
        runs.append(run_)
        for s in s_list:
            dist[s, j, :, :n] = run_.distance[idx, :n]
            _, test_acc[s, j] = evaluate_members(run_.static, params, bn, data.x_test, data.y_test)
            _, train_acc[s, j] = evaluate_members(run_.static, params, bn, data.x_train, data.y_train)

    for j, B in enumerate(Bs):
        lr_sqrt = cfg["lr"] * math.sqrt(B / b0)
        if B == b0:  # all four settings are this one run
            r = train_ensemble(key, gbn_fn, data, seeds=seeds, lr_scales=[cfg["lr"]], batch_size=B, n_steps=n_ra,
                               momentum=cfg["momentum"])
            record(range(4), j, r, slice(None), r.params, r.bn_state, n_ra)
            continue
        r = train_ensemble(key, bn_fn, data, seeds=seeds, lr_scales=[cfg["lr"], lr_sqrt], batch_size=B,
                           n_steps=budget[j], momentum=cfg["momentum"])
        for c, s in enumerate((0, 1)):
            sel = slice(c * ns, (c + 1) * ns)
            pick = lambda t: jax.tree.map(lambda x: x[sel], t)
            record([s], j, r, sel, pick(r.params), pick(r.bn_state), budget[j])
        r = train_ensemble(key, gbn_fn, data, seeds=seeds, lr_scales=[lr_sqrt], batch_size=B, n_steps=n_ra,
                           momentum=cfg["momentum"], snapshot_steps=[budget[j]])
        record([2], j, r, slice(None), member(r.snapshots, 0), member(r.snapshot_bn, 0), budget[j])
        record([3], j, r, slice(None), r.params, r.bn_state, n_ra)
    t_train = timer.seconds

    verdicts = []
    gaps = test_acc[:, 0, :] - test_acc[:, -1, :]  # (4, seeds)
    gap_ci = np.array([mean_ci(g)[1] for g in gaps])
    gap_txt = ", ".join(f"{s} {gaps[i].mean():+.4f} [{gap_ci[i, 0]:+.4f}, {gap_ci[i, 1]:+.4f}]"
                        for i, s in enumerate(SETTINGS))
    common = (f"Test-accuracy gaps B={b0} minus B={Bs[-1]} by setting (95% bootstrap CI): {gap_txt} ({ns} seeds, {cfg['n_epochs']} "
              f"epochs; B={Bs[-1]} makes {budget[-1]} updates, or {n_ra} with regime adaptation). "
              f"{divergence_note(*{id(r): r for r in runs}.values())}")

    def gt(name, diff, statement, what):
        m, ci = mean_ci(diff)
        verdicts.append(Verdict.decide(f"{_SRC}.{name}", "network", m, 0.0, ci=ci, kind="greater",
                                       seconds=t_train / 5, figure="hoffer", statement=statement, note=f"{what} {common}"))

    gt("plain_gap", gaps[0], "With a common learning rate, large-batch training generalises worse.",
       "Gap under the plain learning rate.")
    gt("sqrt_lr_narrows_gap", gaps[0] - gaps[1], "Scaling the learning rate as √B narrows the generalisation gap.",
       "Gap plain − gap √B.")
    gt("ghost_bn_narrows_gap", gaps[1] - gaps[2], "Ghost Batch Norm narrows the generalisation gap further.",
       "Gap √B − gap √B+GBN.")
    m, ci = mean_ci(gaps[3])
    tol = cfg["gap_tolerance"]
    verdicts.append(Verdict.decide(
        f"{_SRC}.regime_adaptation_closes_gap", "network", m, 0.0, tolerance=tol, ci=ci, kind="equal",
        seconds=t_train / 5, figure="hoffer",
        statement="With √B learning rate, Ghost BN and as many updates as the small batch, the generalisation gap closes.",
        note=(f"Gap under regime adaptation {m:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]; it closes if the interval lies within "
              f"±{tol}; the remaining gap is at most {max(abs(ci[0]), abs(ci[1])):.4f}. {common}")))

    # log t or a power of t: Box-Cox exponent of the mean distance curve at B0 (the longest run)
    timer2 = Timer()
    t_all = np.arange(1, n_ra + 1, dtype=np.float64)
    win = t_all >= cfg["fit_from"]
    d0 = dist[0, 0][:, win]  # (seeds, T)
    gamma, profile = box_cox_exponent(t_all[win], d0.mean(axis=0))
    ci = bootstrap_ci(d0, stat=lambda s, axis=0: box_cox_exponent(t_all[win], s.mean(axis=axis),
                                                                  gammas=np.linspace(-1, 1, 101))[0], n_boot=200)
    gtol = cfg["gamma_tolerance"]
    per = np.full((4, nB), np.nan)  # the same exponent for every run (figure/data only)
    for s in range(4):
        for j in range(nB):
            keep = win[: steps[s, j]]
            if keep.sum() >= 3:
                per[s, j] = box_cox_exponent(t_all[: steps[s, j]][keep], dist[s, j, :, : steps[s, j]].mean(0)[keep],
                                             gammas=np.linspace(-1, 1, 101))[0]
    verdicts.append(Verdict.decide(
        f"{_SRC}.log_t_diffusion", "network", gamma, 0.0, tolerance=gtol, ci=ci, kind="equal",
        seconds=timer2.seconds, figure="hoffer",
        statement="The distance from initialisation grows like log t (ultra-slow diffusion), not like a power of t.",
        note=(f"Box–Cox exponent γ of ‖w_t − w_0‖ = a + b (t^γ − 1)/γ at B={b0}, t ∈ [{cfg['fit_from']}, {n_ra}]: "
              f"γ = {gamma:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] (bootstrap over {ns} seeds); log t is γ = 0, a power "
              f"t^γ with γ ≥ {gtol} is distinguishable only if the interval excludes ±{gtol}.")))

    config = {"size": size, "quick": size != "full", "settings": list(SETTINGS), "ghost_batch_size": b0,
              **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    out = {"distance": dist, "gap_ci": gap_ci, "test_acc": test_acc, "train_acc": train_acc, "steps_per_setting": steps,
           "batch_sizes": np.asarray(Bs), "gaps": gaps, "gamma_grid": np.linspace(-1.0, 1.0, 401),
           "gamma_profile": profile, "gamma": np.array([gamma, *ci]), "gamma_per_run": per,
           "lrs": np.array([[cfg["lr"]] * nB] + [[cfg["lr"] * math.sqrt(b / b0) for b in Bs]] * 3)}
    return make_result("hoffer", CITATION, verdicts, out, config, key)


def figure(result: ExperimentResult, out_dir):
    """Six panels from the saved result: ``‖w_t − w_0‖`` against ``t`` (log axis) for every batch
    size under each of the four settings; the gap per setting with its CI; the Box–Cox profile."""
    from ._sharpness_common import check_result

    check_result(result, "hoffer")
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    dist, Bs = d["distance"], d["batch_sizes"]
    titles = ("plain η₀", "η ∝ √B", "η ∝ √B + Ghost BN", "η ∝ √B + GBN + regime adapt.")
    ymax = np.nanmax(dist)
    with paper_style():
        fig, axs = plt.subplots(2, 3, figsize=(10.5, 6.0), constrained_layout=True)
        ax = axs.ravel()
        for s in range(4):
            for j, B in enumerate(Bs):
                curve = dist[s, j]
                n = int(np.sum(np.isfinite(curve[0])))
                t = np.arange(1, n + 1)
                m = curve[:, :n].mean(0)
                ax[s].plot(t, m, color=f"C{j}", label=f"B={B}, test acc {d['test_acc'][s, j].mean():.3f}")
                ax[s].fill_between(t, curve[:, :n].min(0), curve[:, :n].max(0), color=f"C{j}", alpha=0.2, lw=0)
            ax[s].set(xscale="log", xlabel="updates t", ylabel="‖w_t − w₀‖", title=f"({'abcd'[s]}) {titles[s]}",
                      ylim=(0, 1.05 * ymax))
            ax[s].legend(frameon=False, fontsize=7, loc="upper left")
        gaps = d["gaps"]
        for s in range(4):
            m, (lo, hi) = gaps[s].mean(), d["gap_ci"][s]
            ax[4].bar(s, m, color="C7", alpha=0.7)
            ax[4].plot(np.full(gaps.shape[1], s), gaps[s], "k.", ms=4)
            if np.isfinite(lo):
                ax[4].errorbar(s, m, yerr=[[max(m - lo, 0)], [max(hi - m, 0)]], color="k", capsize=3)
        tol = result.config.get("gap_tolerance", 0.01)
        ax[4].axhspan(-tol, tol, color="C2", alpha=0.15, lw=0, label=f"±{tol} (gap closed)")
        ax[4].axhline(0, color="k", lw=0.6)
        ax[4].set_xticks(range(4), ["plain", "√B", "√B+GBN", "+RA"])
        ax[4].set(ylabel=f"test acc(B={Bs[0]}) − acc(B={Bs[-1]})", title="(e) generalisation gap, 95% CI (dots: seeds)")
        ax[4].legend(frameon=False, fontsize=7)
        g, lo, hi = d["gamma"]
        ax[5].plot(d["gamma_grid"], d["gamma_profile"] / d["gamma_profile"].min(), color="C0")
        ax[5].axvspan(lo, hi, color="C0", alpha=0.2, lw=0, label=f"γ = {g:.2f} [{lo:.2f}, {hi:.2f}]")
        gt = result.config.get("gamma_tolerance", 0.1)
        ax[5].axvspan(-gt, gt, color="C2", alpha=0.12, lw=0, label=f"log t band ±{gt}")
        ax[5].set(yscale="log", xlabel="Box–Cox exponent γ  (0: log t; >0: t^γ)", ylabel="SSE / min SSE",
                  title=f"(f) log t or a power of t? (B={Bs[0]})")
        ax[5].legend(frameon=False, fontsize=7)
        return save_figure(fig, out_dir, result)


if __name__ == "__main__":
    from ._sharpness_common import main

    main("hoffer")
