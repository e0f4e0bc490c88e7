r"""Keskar et al. 2017 on a real network: large batches find sharper minima and generalise worse.

Source: Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, "On Large-Batch Training for Deep
Learning: Generalization Gap and Sharp Minima" (ICLR). Model: an MLP on scikit-learn's digits
(fixed split), trained with heavy-ball SGD at one learning rate with a small batch (SB) and a
large batch (LB) from the same initial weights (paired seeds) until the full training loss first
falls below a common target (checked every ``snapshot_every`` steps), so both sides are compared
at the same training loss. Claims, one sentence each (effects are LB − SB or SB − LB per seed,
with a bootstrap CI over seeds):

* ``keskar2017.lb_sharper`` — the LB solution has the larger ε-sharpness (Metric 2.1, full
  space, ε = 1e-3).
* ``keskar2017.lb_sharper_small_box`` — the same with ε = 5e-4.
* ``keskar2017.lb_sharper_subspace`` — the same in a random ``p``-dimensional subspace
  (``p = 100``; SB and LB of a seed share the subspace), ε = 1e-3.
* ``keskar2017.lb_sharper_subspace_small_box`` — the subspace sharpness with ε = 5e-4.
* ``keskar2017.lb_larger_top_eigenvalue`` — the top Hessian eigenvalue is larger at the LB solution.
* ``keskar2017.lb_generalises_worse`` — the LB solution has the lower test accuracy.
* ``keskar2017.sb_farther_from_init`` — the SB solution is farther from the initial weights.

The figure has the paper's parametric plot (loss and accuracy along
``θ(α) = (1 − α) θ_SB + α θ_LB``, ``α ∈ [−1, 2]``, their Figure 3) and the sharpness bars.
Sharpness comes from :func:`sgd_sde.measure.keskar_sharpness` (L-BFGS-B, ``max_iter`` iterations
as in the paper), eigenvalues from :func:`sgd_sde.measure.hessian_top_eigs`, the line from
:func:`sgd_sde.measure.interpolate`, the training from :func:`._sharpness_common.train_ensemble`.

Run: ``python -m sgd_sde.experiments.keskar`` (``--full`` for the full size).
"""

from __future__ import annotations

import numpy as np

from ..verdicts import ExperimentResult, Verdict
from ._sharpness_common import single_blas_thread
from ._common import Timer, as_key, digits, make_result, mean_ci, mlp_fn, resolve_size

__all__ = ["run", "figure", "CITATION"]

CITATION = ("Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, \"On Large-Batch Training for Deep Learning: "
            "Generalization Gap and Sharp Minima\" (ICLR)")
_SRC = "keskar2017"

_SIZES = {
    # data (train, test), widths, seeds, SB/LB batch and steps, lr, momentum, snapshot interval,
    # target training loss, L-BFGS-B iterations, subspace dim, Lanczos cap, points on the line,
    # training examples the sharpness is measured on (None: all)
    "toy": dict(n_train=256, n_test=64, widths=(16,), seeds=2, small_batch=16, large_batch=128, small_steps=120,
                large_steps=240, lr=0.05, momentum=0.9, snapshot_every=20, target_loss=0.5, sharpness_iter=4,
                subspace=10, hessian_iter=20, n_alpha=7, sharpness_examples=None),
    "quick": dict(n_train=None, n_test=None, widths=(32,), seeds=4, small_batch=16, large_batch=256, small_steps=400,
                  large_steps=400, lr=0.05, momentum=0.9, snapshot_every=20, target_loss=0.15, sharpness_iter=10,
                  subspace=100, hessian_iter=40, n_alpha=13, sharpness_examples=512),
    "full": dict(n_train=None, n_test=None, widths=(128,), seeds=8, small_batch=16, large_batch=512, small_steps=3000,
                 large_steps=6000, lr=0.03, momentum=0.9, snapshot_every=20, target_loss=0.02, sharpness_iter=10,
                 subspace=100, hessian_iter=100, n_alpha=31, sharpness_examples=None),
}
EPS = (1e-3, 5e-4)
_KINDS = ("full, ε=1e-3", "full, ε=5e-4", "subspace, ε=1e-3", "subspace, ε=5e-4")


def _at_target(run, data, target):
    """Per member: the first snapshot whose full training loss is ``≤ target`` (else the last);
    returns the selected params and batch-norm state (stacked), their step, their training loss, and
    whether it was reached."""
    import jax
    import jax.numpy as jnp

    from ._sharpness_common import evaluate_members

    S, M = len(run.snapshot_steps), run.n_members
    flat = lambda t: jax.tree.map(lambda x: x.reshape((S * M,) + x.shape[2:]), t)
    losses = evaluate_members(run.static, flat(run.snapshots), flat(run.snapshot_bn), data.x_train,
                              data.y_train)[0].reshape(S, M)
    ok = losses <= target
    reached = ok.any(axis=0)
    j = np.where(reached, ok.argmax(axis=0), S - 1)
    m = np.arange(losses.shape[1])
    pick = lambda s: s[jnp.asarray(j), jnp.asarray(m)]
    return (jax.tree.map(pick, run.snapshots), jax.tree.map(pick, run.snapshot_bn), np.asarray(run.snapshot_steps)[j],
            losses[j, m], reached)


@single_blas_thread
def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Train SB and LB solutions to the same training loss and compare them (claims in the module docstring).

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``, ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"keskar"``; data: per-seed sharpness
        ``(2, 4, seeds)`` (SB/LB × the four kinds), top eigenvalues, distances, accuracies, and
        the interpolation curves ``(seeds, n_alpha)`` on train and test.

    Raises:
        ValueError, TypeError: a bad ``size``, ``quick`` or ``key``.
    """
    import equinox as eqx
    import jax

    from .. import measure
    from ..networks import example_accuracy, example_loss
    from ._sharpness_common import divergence_note, evaluate_members, member, train_ensemble

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    k_train, k_meas = jax.random.split(key)
    seeds = list(range(cfg["seeds"]))
    model_fn = mlp_fn(data, cfg["widths"])
    timer = Timer()

    sides = {}
    for side, B, n in (("sb", cfg["small_batch"], cfg["small_steps"]), ("lb", cfg["large_batch"], cfg["large_steps"])):
        snaps = list(range(cfg["snapshot_every"], n + 1, cfg["snapshot_every"]))
        r = train_ensemble(k_train, model_fn, data, seeds=seeds, lr_scales=[cfg["lr"]], batch_size=B, n_steps=n,
                           momentum=cfg["momentum"], snapshot_steps=snaps)
        params, bn, step, loss, reached = _at_target(r, data, cfg["target_loss"])
        _, test_acc = evaluate_members(r.static, params, bn, data.x_test, data.y_test)
        dist = np.asarray(jax.vmap(measure.distance_from_init)(params, r.params0), np.float64)
        sides[side] = dict(run=r, params=params, step=step, train_loss=loss, reached=reached, test_acc=test_acc,
                           distance=dist)
    t_train = timer.seconds

    # measurements at each solution (training set), SB and LB of a seed share keys (subspace, start points)
    X, Y = data.x_train, data.y_train
    m_s = X.shape[0] if cfg["sharpness_examples"] is None else min(cfg["sharpness_examples"], X.shape[0])
    Xs, Ys = X[:m_s], Y[:m_s]
    ns = len(seeds)
    sharp = np.zeros((2, len(_KINDS), ns))
    top = np.zeros((2, ns))
    alphas = np.linspace(-1.0, 2.0, cfg["n_alpha"])
    line = {k: np.zeros((ns, alphas.size)) for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    static = sides["sb"]["run"].static
    for i in range(ns):
        k_i = jax.random.fold_in(k_meas, i)
        models = {}
        for s_i, side in enumerate(("sb", "lb")):
            model = eqx.combine(member(sides[side]["params"], i), static)
            models[side] = model
            loss_fn, p = example_loss(model)
            for e_i, eps in enumerate(EPS):
                for sub_i, sub in enumerate((None, cfg["subspace"])):
                    sharp[s_i, 2 * sub_i + e_i, i] = float(measure.keskar_sharpness(
                        loss_fn, p, Xs, Ys, eps, sub, key=jax.random.fold_in(k_i, 2 * sub_i + e_i),
                        max_iter=cfg["sharpness_iter"]))
            top[s_i, i] = measure.hessian_top_eigs(loss_fn, p, X, Y, 1, key=k_i, max_iter=cfg["hessian_iter"])[0]
        loss_fn, p_sb = example_loss(models["sb"])
        acc_fn, _ = example_accuracy(models["sb"])
        p_lb = eqx.filter(models["lb"], eqx.is_inexact_array)
        for part, (x, y) in (("train", (X, Y)), ("test", (data.x_test, data.y_test))):
            out = measure.interpolate(loss_fn, p_sb, p_lb, x, y, alphas, metric_fn=acc_fn)
            line[f"{part}_loss"][i], line[f"{part}_acc"][i] = out["loss"], out["metric"]
    t_meas = timer.seconds - t_train

    sb, lb = sides["sb"], sides["lb"]
    n_unreached = int((~sb["reached"]).sum() + (~lb["reached"]).sum())
    common = (f"SB (B={cfg['small_batch']}) and LB (B={cfg['large_batch']}) at training loss "
              f"{np.mean(sb['train_loss']):.4g} and {np.mean(lb['train_loss']):.4g} (target {cfg['target_loss']}, "
              f"steps {np.mean(sb['step']):.0f} and {np.mean(lb['step']):.0f}; {n_unreached} of {2 * ns} runs did not "
              f"reach it and were taken at their last step); {ns} seeds; sharpness on {m_s} training examples. "
              f"{divergence_note(sb['run'], lb['run'])}")
    verdicts = []

    def add(name, diff, statement, what, seconds):
        m, ci = mean_ci(diff)
        verdicts.append(Verdict.decide(f"{_SRC}.{name}", "network", m, 0.0, ci=ci, kind="greater", seconds=seconds,
                                       figure="keskar", statement=statement,
                                       note=f"{what} {common}"))

    names = ("lb_sharper", "lb_sharper_small_box", "lb_sharper_subspace", "lb_sharper_subspace_small_box")
    for k, name in enumerate(names):
        a, b = sharp[1, k], sharp[0, k]
        add(name, a - b, f"Large-batch training converges to sharper minimisers (ε-sharpness, {_KINDS[k]}).",
            f"Sharpness LB − SB ({_KINDS[k]}): LB {a.mean():.4g}, SB {b.mean():.4g} (ratio {a.mean() / b.mean():.3g}).",
            t_meas / 6)
    add("lb_larger_top_eigenvalue", top[1] - top[0], "The Hessian's top eigenvalue is larger at the large-batch solution.",
        f"λ_max LB − SB: LB {top[1].mean():.4g}, SB {top[0].mean():.4g}.", t_meas / 6)
    add("lb_generalises_worse", sb["test_acc"] - lb["test_acc"],
        "Large-batch solutions generalise worse (lower test accuracy at the same training loss).",
        f"Test accuracy SB − LB: SB {sb['test_acc'].mean():.4f}, LB {lb['test_acc'].mean():.4f}.", t_train)
    add("sb_farther_from_init", sb["distance"] - lb["distance"],
        "Small-batch solutions lie farther from the initial weights than large-batch ones.",
        f"‖w − w0‖ SB − LB: SB {sb['distance'].mean():.4g}, LB {lb['distance'].mean():.4g}.", t_train)

    config = {"size": size, "quick": size != "full", "eps": list(EPS), "optimizer": "sgd",
              **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    out = {"sharpness": sharp, "top_eigenvalue": top, "alpha": alphas,
           "distance": np.stack([sb["distance"], lb["distance"]]), "test_acc": np.stack([sb["test_acc"], lb["test_acc"]]),
           "train_loss": np.stack([sb["train_loss"], lb["train_loss"]]), "step": np.stack([sb["step"], lb["step"]]),
           "reached": np.stack([sb["reached"], lb["reached"]]),
           **{f"line_{k}": v for k, v in line.items()}}
    return make_result("keskar", CITATION, verdicts, out, config, key)


def figure(result: ExperimentResult, out_dir):
    """Three panels from the saved result: (a) the parametric plot SB → LB (loss, log scale, and
    accuracy on train and test); (b) ε-sharpness bars, SB vs LB, per kind (mean over seeds, dots:
    seeds); (c) top Hessian eigenvalue and distance from initialisation, SB vs LB."""
    from ._sharpness_common import check_result

    check_result(result, "keskar")
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    with paper_style():
        fig, ax = plt.subplots(1, 3, figsize=(11.0, 3.7), layout="constrained")
        a = d["alpha"]
        for part, ls in (("train", "-"), ("test", "--")):
            ax[0].plot(a, d[f"line_{part}_loss"].mean(0), ls, color="C0", label=f"{part} loss")
        ax[0].set(yscale="log", xlabel="α   (θ = (1−α) θ_SB + α θ_LB)", ylabel="cross-entropy",
                  title="(a) SB (α=0) → LB (α=1)")
        ax[0].yaxis.label.set_color("C0")
        tw = ax[0].twinx()
        for part, ls in (("train", "-"), ("test", "--")):
            tw.plot(a, d[f"line_{part}_acc"].mean(0), ls, color="C3", label=f"{part} accuracy")
        tw.set_ylabel("accuracy", color="C3")
        tw.spines["right"].set_visible(True)
        for x in (0.0, 1.0):
            ax[0].axvline(x, color="gray", lw=0.6, ls=":")
        h1, l1 = ax[0].get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        fig.legend(h1 + h2, [f"(a) {x}" for x in l1 + l2], loc="outside lower center", ncol=4, frameon=False, fontsize=8)
        sharp = d["sharpness"]
        x = np.arange(sharp.shape[1])
        w = 0.38
        for s_i, (lab, col) in enumerate((("SB", "C0"), ("LB", "C3"))):
            ax[1].bar(x + (s_i - 0.5) * w, sharp[s_i].mean(-1), w, color=col, alpha=0.75, label=lab)
            for k in x:
                ax[1].plot(np.full(sharp.shape[2], k + (s_i - 0.5) * w), sharp[s_i, k], "k.", ms=3)
        ax[1].set_xticks(x, _KINDS, rotation=15, fontsize=7)
        ax[1].set(ylabel="ε-sharpness (Keskar Metric 2.1)", title="(b) sharpness, SB vs LB")
        ax[1].legend(frameon=False)
        vals = (("λ_max(H)", d["top_eigenvalue"]), ("‖w − w₀‖", d["distance"]))
        for v_i, (lab, arr) in enumerate(vals):
            axx = ax[2] if v_i == 0 else ax[2].twinx()
            for s_i, col in enumerate(("C0", "C3")):
                pos = 2 * v_i + (s_i - 0.5) * w
                axx.bar(pos, arr[s_i].mean(), w, color=col, alpha=0.75)
                axx.plot(np.full(arr.shape[1], pos), arr[s_i], "k.", ms=3)
            axx.set_ylabel(lab)
            if v_i:
                axx.spines["right"].set_visible(True)
        ax[2].set_xticks([0, 2], ["λ_max (left axis)", "‖w − w₀‖ (right axis)"], fontsize=7)
        ax[2].set_title("(c) curvature and distance, SB (blue) vs LB (red)")
        return save_figure(fig, out_dir, result)


if __name__ == "__main__":
    from ._sharpness_common import main

    main("keskar")
