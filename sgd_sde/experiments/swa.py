r"""Izmailov et al. 2018 on a real network: stochastic weight averaging finds flatter, better minima.

Source: Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, "Averaging Weights Leads to Wider
Optima and Better Generalization" (UAI). Model: an MLP on scikit-learn's digits, heavy-ball SGD at
a constant learning rate for ``pre_steps`` steps, then ``n_cycles`` cycles of the cyclic schedule
(:func:`sgd_sde.schedules.cyclic`, linear from ``lr`` down to ``lr · low_ratio`` within each cycle);
the SWA weights are the running average (:func:`sgd_sde.networks.swa_update`) of the iterates at
the cycle ends, and the *SGD solution* is the last of them (the iterate SWA replaces, at the low
end of its cycle). The network has no batch norm, so no statistics need recomputing. Claims, one
sentence each (effects per seed, SGD and SWA from the same run, bootstrap CI over seeds):

* ``izmailov2018.swa_generalises_better`` — SWA has the higher test accuracy.
* ``izmailov2018.swa_lower_test_loss`` — SWA has the lower test cross-entropy.
* ``izmailov2018.swa_flatter`` — SWA has the lower ε-sharpness (Keskar et al.'s Metric 2.1, full
  space, ε = 1e-3).
* ``izmailov2018.swa_lower_top_eigenvalue`` — SWA has the smaller top Hessian eigenvalue.

The figure draws the paper's picture: train loss and test error on the plane through the first,
middle and last cycle-end snapshots (Garipov et al. 2018's construction) with the SWA point, and the train and
test loss along the line from the SGD solution to SWA (their Figures 1 and 5).

Run: ``python -m sgd_sde.experiments.swa`` (``--size full`` for the full size).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..verdicts import ExperimentResult, Verdict
from ._sharpness_common import single_blas_thread
from ._common import Timer, as_key, digits, make_result, mean_ci, mlp_fn, resolve_size

__all__ = ["run", "figure", "CITATION"]

CITATION = ("Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, \"Averaging Weights Leads to Wider Optima and "
            "Better Generalization\" (UAI)")
_SRC = "izmailov2018"

_SIZES = {
    # data, widths, seeds, batch, lr, momentum, steps at constant lr, cycle length and count, low end of
    # the cycle (fraction of lr), L-BFGS-B iterations, Lanczos cap, plane grid, points on the line
    "toy": dict(n_train=256, n_test=64, widths=(16,), seeds=2, batch_size=32, lr=0.1, momentum=0.9, pre_steps=60,
                cycle=20, n_cycles=3, low_ratio=0.1, sharpness_iter=4, hessian_iter=20, n_grid=7, n_alpha=9),
    "quick": dict(n_train=None, n_test=None, widths=(32,), seeds=4, batch_size=32, lr=0.1, momentum=0.9,
                  pre_steps=300, cycle=40, n_cycles=5, low_ratio=0.1, sharpness_iter=10, hessian_iter=60, n_grid=17,
                  n_alpha=17),
    "full": dict(n_train=None, n_test=None, widths=(128,), seeds=8, batch_size=32, lr=0.1, momentum=0.9,
                 pre_steps=2000, cycle=100, n_cycles=20, low_ratio=0.1, sharpness_iter=10, hessian_iter=100,
                 n_grid=31, n_alpha=41),
}


class _PreThenCyclic(eqx.Module):
    """``k -> 1`` for ``k < pre`` and Izmailov's cyclic factor afterwards (traceable, hashable)."""

    pre: int = eqx.field(static=True)
    cyclic: Callable = eqx.field(static=True)

    def __call__(self, k):
        k = jnp.asarray(k)
        return jnp.where(k < self.pre, 1.0, self.cyclic(jnp.maximum(k - self.pre, 0))).astype(jnp.float32)


def _plane(w1, w2, w3):
    """Orthonormal basis ``(e1, e2)`` of the plane through three flat vectors (origin ``w1``)."""
    u = w2 - w1
    v = (w3 - w1) - (np.dot(w3 - w1, u) / np.dot(u, u)) * u
    return u / np.linalg.norm(u), v / np.linalg.norm(v)


@single_blas_thread
def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Train with the cyclic schedule, average the cycle ends, compare SWA with the SGD solution.

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``, ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"swa"``; data: per-seed metrics
        ``(2, seeds)`` (row 0 SGD, row 1 SWA), the planes of seed 0 (``plane_train_loss``,
        ``plane_test_err`` on ``plane_x × plane_y``, the snapshot and SWA coordinates) and the
        line curves ``(seeds, n_alpha)``.

    Raises:
        ValueError, TypeError: a bad ``size``, ``quick`` or ``key``.
    """
    import jax
    from jax.flatten_util import ravel_pytree

    from .. import measure
    from ..networks import example_accuracy, example_loss, swa_update
    from ..schedules import cyclic
    from ._sharpness_common import divergence_note, evaluate_members, member, train_ensemble

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    k_train, k_meas = jax.random.split(key)
    seeds = list(range(cfg["seeds"]))
    ns = len(seeds)
    c, K, pre = cfg["cycle"], cfg["n_cycles"], cfg["pre_steps"]
    shape = _PreThenCyclic(pre, cyclic(1.0, cfg["low_ratio"], c))
    ends = [pre + (k + 1) * c for k in range(K)]
    timer = Timer()
    r = train_ensemble(k_train, mlp_fn(data, cfg["widths"]), data, seeds=seeds, lr_scales=[cfg["lr"]],
                       batch_size=cfg["batch_size"], n_steps=ends[-1], lr_shape=shape, momentum=cfg["momentum"],
                       snapshot_steps=ends)
    avg, n_avg = member(r.snapshots, 0), 1
    for k in range(1, K):
        avg, n_avg = swa_update(avg, n_avg, member(r.snapshots, k))
    sgd = member(r.snapshots, K - 1)
    sols = {"sgd": sgd, "swa": avg}
    metrics = {}
    for name, p in sols.items():
        tl, ta = evaluate_members(r.static, p, r.bn_state, data.x_test, data.y_test)
        rl, ra = evaluate_members(r.static, p, r.bn_state, data.x_train, data.y_train)
        metrics[name] = dict(test_loss=tl, test_acc=ta, train_loss=rl, train_acc=ra)
    t_train = timer.seconds

    X, Y = data.x_train, data.y_train
    sharp = np.zeros((2, ns))
    top = np.zeros((2, ns))
    alphas = np.linspace(-1.0, 2.0, cfg["n_alpha"])
    line = {k: np.zeros((ns, alphas.size)) for k in ("train_loss", "test_loss")}
    for i in range(ns):
        k_i = jax.random.fold_in(k_meas, i)
        for s_i, name in enumerate(("sgd", "swa")):
            loss_fn, p = example_loss(eqx.combine(member(sols[name], i), r.static))
            sharp[s_i, i] = float(measure.keskar_sharpness(loss_fn, p, X, Y, 1e-3, key=k_i, max_iter=cfg["sharpness_iter"]))
            top[s_i, i] = measure.hessian_top_eigs(loss_fn, p, X, Y, 1, key=k_i, max_iter=cfg["hessian_iter"])[0]
        loss_fn, p_sgd = example_loss(eqx.combine(member(sgd, i), r.static))
        p_swa = member(avg, i)
        for part, (x, y) in (("train", (X, Y)), ("test", (data.x_test, data.y_test))):
            line[f"{part}_loss"][i] = measure.interpolate(loss_fn, p_sgd, p_swa, x, y, alphas)["loss"]

    # the plane through the first, middle and last cycle ends of seed 0 (the last one is the SGD solution)
    flat = lambda t: np.asarray(ravel_pytree(t)[0], np.float64)
    picks = (0, K // 2, K - 1)
    w1, w2, w3 = (flat(member(member(r.snapshots, k), 0)) for k in picks)
    e1, e2 = _plane(w1, w2, w3)
    coords = lambda w: np.array([np.dot(w - w1, e1), np.dot(w - w1, e2)])
    pts = np.stack([coords(w) for w in (w1, w2, w3, flat(member(avg, 0)))])  # snapshots ×3, SWA (projected)
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.35 * (hi - lo).max()
    gx = np.linspace(lo[0] - pad, hi[0] + pad, cfg["n_grid"])
    gy = np.linspace(lo[1] - pad, hi[1] + pad, cfg["n_grid"])
    model0 = eqx.combine(member(member(r.snapshots, picks[0]), 0), r.static)
    loss_fn, p1 = example_loss(model0)
    acc_fn, _ = example_accuracy(model0)
    unravel = ravel_pytree(p1)[1]
    d1, d2 = unravel(jnp.asarray(e1, jnp.float32)), unravel(jnp.asarray(e2, jnp.float32))
    plane_loss = measure.loss_on_plane(loss_fn, p1, X, Y, d1, d2, gx, gy)
    plane_err = 1.0 - measure.loss_on_plane(acc_fn, p1, data.x_test, data.y_test, d1, d2, gx, gy)
    off_plane = float(np.linalg.norm((flat(member(avg, 0)) - w1) - pts[3, 0] * e1 - pts[3, 1] * e2))
    t_meas = timer.seconds - t_train

    common = (f"SGD = last of {K} cycle ends (cycle {c} steps, lr {cfg['lr']} → {cfg['lr'] * cfg['low_ratio']:.3g}, "
              f"after {pre} steps at lr {cfg['lr']}); SWA = their average; {ns} seeds. Train loss SGD "
              f"{metrics['sgd']['train_loss'].mean():.4g}, SWA {metrics['swa']['train_loss'].mean():.4g}. {divergence_note(r)}")
    verdicts = []

    def add(name, diff, statement, what, seconds):
        m, ci = mean_ci(diff)
        verdicts.append(Verdict.decide(f"{_SRC}.{name}", "network", m, 0.0, ci=ci, kind="greater", seconds=seconds,
                                       figure="swa", statement=statement, note=f"{what} {common}"))

    sg, sw = metrics["sgd"], metrics["swa"]
    add("swa_generalises_better", sw["test_acc"] - sg["test_acc"], "SWA generalises better than the SGD solution it averages.",
        f"Test accuracy SWA − SGD: SWA {sw['test_acc'].mean():.4f}, SGD {sg['test_acc'].mean():.4f}.", t_train)
    add("swa_lower_test_loss", sg["test_loss"] - sw["test_loss"], "SWA has a lower test loss than the SGD solution.",
        f"Test loss SGD − SWA: SGD {sg['test_loss'].mean():.4g}, SWA {sw['test_loss'].mean():.4g}.", t_train)
    add("swa_flatter", sharp[0] - sharp[1], "SWA finds a flatter solution (lower ε-sharpness, ε = 1e-3) than SGD.",
        f"ε-sharpness SGD − SWA: SGD {sharp[0].mean():.4g}, SWA {sharp[1].mean():.4g}.", t_meas / 2)
    add("swa_lower_top_eigenvalue", top[0] - top[1], "SWA sits where the Hessian's top eigenvalue is smaller.",
        f"λ_max SGD − SWA: SGD {top[0].mean():.4g}, SWA {top[1].mean():.4g}.", t_meas / 2)

    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    out = {"test_acc": np.stack([sg["test_acc"], sw["test_acc"]]), "test_loss": np.stack([sg["test_loss"], sw["test_loss"]]),
           "train_loss": np.stack([sg["train_loss"], sw["train_loss"]]), "sharpness": sharp, "top_eigenvalue": top,
           "alpha": alphas, "line_train_loss": line["train_loss"], "line_test_loss": line["test_loss"],
           "plane_x": gx, "plane_y": gy, "plane_train_loss": plane_loss, "plane_test_err": plane_err,
           "plane_points": pts, "plane_snapshots": np.asarray(picks), "swa_off_plane": np.asarray(off_plane), "cycle_ends": np.asarray(ends),
           "loss_curve": r.loss}
    return make_result("swa", CITATION, verdicts, out, config, key)


def figure(result: ExperimentResult, out_dir):
    """Three panels from the saved result: (a) test error and (b) train loss on the plane through
    three cycle-end snapshots (seed 0) with the SWA point; (c) train and test loss along the line
    from the SGD solution (α = 0) to SWA (α = 1), mean over seeds."""
    from ._sharpness_common import check_result

    check_result(result, "swa")
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    gx, gy, pts = d["plane_x"], d["plane_y"], d["plane_points"]
    with paper_style():
        fig, ax = plt.subplots(1, 3, figsize=(11.0, 3.8), layout="constrained")
        for a, key, lab, log in ((ax[0], "plane_test_err", "test error", False), (ax[1], "plane_train_loss", "train loss", True)):
            z = d[key].T
            zz = np.log10(np.maximum(z, 1e-8)) if log else z
            levels = np.linspace(zz.min(), np.quantile(zz, 0.9), 12)
            cs = a.contourf(gx, gy, zz, levels=levels, cmap="viridis", extend="max")
            cb = fig.colorbar(cs, ax=a, shrink=0.9)
            cb.set_label(f"log10 {lab}" if log else lab)
            a.plot(pts[:3, 0], pts[:3, 1], "o", color="w", mec="k", ms=6, label="cycle ends (first, middle, last)")
            a.plot(pts[2, 0], pts[2, 1], "s", color="C1", mec="k", ms=7, label="SGD (last snapshot)")
            a.plot(pts[3, 0], pts[3, 1], "*", color="C3", mec="k", ms=12, label="SWA")
            a.set(xlabel="distance along e₁", ylabel="distance along e₂", aspect="equal")
            a.set_title(f"({'ab'[a is ax[1]]}) {lab} on the plane (seed 0)")
        h, lab = ax[0].get_legend_handles_labels()
        fig.legend(h, lab, loc="outside lower center", ncol=3, frameon=False, fontsize=8)
        al = d["alpha"]
        for key, lab, col in (("line_train_loss", "train", "C0"), ("line_test_loss", "test", "C3")):
            c = d[key]
            ax[2].plot(al, c.mean(0), color=col, label=f"{lab} loss")
            ax[2].fill_between(al, c.min(0), c.max(0), color=col, alpha=0.2, lw=0)
        for x, lab in ((0.0, "SGD"), (1.0, "SWA")):
            ax[2].axvline(x, color="gray", lw=0.6, ls=":")
            ax[2].annotate(lab, (x, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=8)
        ax[2].set(yscale="log", xlabel="α   (θ = (1−α) θ_SGD + α θ_SWA)", ylabel="cross-entropy")
        ax[2].set_title("(c) SGD → SWA (mean, band: seeds)", pad=14)
        ax[2].legend(frameon=False)
        return save_figure(fig, out_dir, result)


if __name__ == "__main__":
    from ._sharpness_common import main

    main("swa")
