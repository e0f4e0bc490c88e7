r"""Smith, Kindermans, Ying & Le 2018 on a real network: increase the batch instead of decaying the rate.

Source: Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch
Size" (ICLR). The SGD noise scale :math:`g = \epsilon N/(B(1-m))` (:func:`sgd_sde.theory.temperature`,
:func:`sgd_sde.schedules.noise_scale`) sets the dynamics, so dividing ε by a factor and
multiplying B by it are equivalent, the second with fewer parameter updates. Model: an MLP on
scikit-learn's digits. Claims, one sentence each:

* ``smith2018.increase_batch_matches_decay`` — multiplying B by the factors by which a step schedule
  divides the learning rate gives the same test accuracy per epoch, with fewer updates (measured:
  mean test-accuracy difference over the last phase's epochs, 0 ± 0.01).
* ``smith2018.linear_scaling`` — scaling ε ∝ B keeps the final test accuracy at a fixed number of
  epochs while B is small (measured: accuracy at the second-smallest B minus the smallest, 0 ± 0.02).
* ``smith2018.momentum_rule`` — with momentum m, ε(1−m)⁻¹ plays the part of ε: momentum 0.9 at
  ε(1−m) matches plain SGD at ε (measured: final test-accuracy difference, 0 ± 0.02).
* ``smith2018.linear_scaling_breaks_near_b_noise`` — linear scaling breaks once B passes about the
  gradient noise scale (measured: ``log10(B_break/B_noise)``, 0 ± 1, with ``B_break`` the first
  batch whose final training loss exceeds the smallest batch's by 25% and ``B_noise`` measured by
  :func:`sgd_sde.measure.gradient_noise_stats` on the trained network).
"""

from __future__ import annotations

import math

import numpy as np

from ._common import Timer, as_key, bootstrap_ci, count_nonfinite, digits, make_result, mlp_fn, resolve_size
from ..verdicts import ExperimentResult, Verdict

__all__ = ["run", "figure", "CITATION"]

CITATION = ("Smith, Kindermans, Ying & Le 2018, \"Don't Decay the Learning Rate, Increase the Batch Size\" (ICLR)")
_SRC = "smith2018"

_SIZES = {
    "toy": dict(n_train=256, n_test=64, widths=(16,), lr=0.2, b0=16, factor=4, phase_epochs=1, seeds=2,
                scaling_batches=(16, 64, 128), scaling_epochs=3, mu=0.9, max_hvp=8),
    "quick": dict(n_train=None, n_test=None, widths=(32,), lr=0.2, b0=16, factor=4, phase_epochs=3, seeds=3,
                  scaling_batches=(16, 64, 256), scaling_epochs=6, mu=0.9, max_hvp=32),
    "full": dict(n_train=None, n_test=None, widths=(64,), lr=0.2, b0=16, factor=5, phase_epochs=10, seeds=8,
                 scaling_batches=(16, 32, 64, 128, 256, 512, 1024), scaling_epochs=20, mu=0.9, max_hvp=256),
}


def _schedule_arms(key, data, cfg):
    """Train the two arms per seed; return per-epoch test accuracy ``(arm, seed, epoch)``, updates
    per arm, and the decay arm's final model of seed 0."""
    import jax

    from .. import schedules
    from ..networks import probes, train

    N, B0, f, E = data.n_train, cfg["b0"], cfg["factor"], cfg["phase_epochs"]
    sizes = [B0, B0 * f, B0 * f * f]
    per_epoch = [N // b for b in sizes]
    # decay arm: B0 throughout, lr divided by f after each phase
    dec_steps = 3 * E * per_epoch[0]
    dec_bounds = [E * per_epoch[0], 2 * E * per_epoch[0]]
    dec_probe = [e * per_epoch[0] for e in range(1, 3 * E + 1)]
    # increase arm: lr fixed, B multiplied by f after each phase
    inc_ends = np.cumsum([per_epoch[p] for p in range(3) for _ in range(E)]).tolist()
    inc_bounds = [inc_ends[E - 1], inc_ends[2 * E - 1]]
    arms = {
        "decay": dict(lr_schedule=schedules.step_decay(cfg["lr"], dec_bounds, factor=1.0 / f), batch_schedule=B0,
                      n_steps=dec_steps, probe_every=dec_probe),
        "increase": dict(lr_schedule=cfg["lr"], batch_schedule=schedules.increase_batch(B0, inc_bounds, factor=f),
                         n_steps=inc_ends[-1], probe_every=inc_ends),
    }
    make = mlp_fn(data, cfg["widths"])
    acc = np.full((2, cfg["seeds"], 3 * E), np.nan)
    model0 = None
    for s in range(cfg["seeds"]):
        k_init, k_batch = jax.random.split(jax.random.fold_in(key, s))
        for a, (name, kw) in enumerate(arms.items()):
            out = train(k_batch, make(k_init), data, momentum=0.0, probes=[probes.metrics(train=False)], progress=False, **kw)
            acc[a, s] = out.history["test_acc"][1:]
            if name == "decay" and s == 0:
                model0 = out.model
    updates = np.array([dec_steps, inc_ends[-1]])
    return acc, updates, model0


def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """The Smith et al. 2018 checks on an MLP trained on digits (claims in the module docstring).

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``,
            ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"smith"``.
    """
    import jax

    from .. import measure
    from ..networks import example_loss, sweep

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    k_arm, k_sc, k_ns = jax.random.split(key, 3)
    E = cfg["phase_epochs"]
    verdicts = []

    t = Timer()
    acc, updates, model0 = _schedule_arms(k_arm, data, cfg)
    diff = (acc[1, :, 2 * E :] - acc[0, :, 2 * E :]).mean(axis=-1)  # last phase, per seed
    verdicts.append(Verdict.decide(
        f"{_SRC}.increase_batch_matches_decay", "network", float(np.mean(diff)), 0.0, tolerance=0.01,
        ci=bootstrap_ci(diff), seconds=t.seconds, figure="smith",
        statement=("Multiplying the batch size by the factors the learning rate would be divided by gives the same "
                   "test accuracy per epoch, with fewer parameter updates."),
        note=(f"increase − decay test accuracy over the last {E} epochs; final accuracy {acc[1, :, -1].mean():.4f} vs "
              f"{acc[0, :, -1].mean():.4f}; updates {int(updates[1])} vs {int(updates[0])} "
              f"({count_nonfinite(acc)} non-finite values).")))

    # linear scaling ε ∝ B at fixed epochs, one sweep per (ε, B) pair
    t = Timer()
    bs = np.asarray(cfg["scaling_batches"])
    if bs[0] != cfg["b0"]:
        raise ValueError(f"scaling_batches must start at b0={cfg['b0']} (its member is the momentum rule's baseline)")
    lrs = cfg["lr"] * bs / cfg["b0"]
    seeds = list(range(cfg["seeds"]))
    model_fn = mlp_fn(data, cfg["widths"])
    sc_acc, sc_loss = np.empty((bs.size, len(seeds))), np.empty((bs.size, len(seeds)))
    for j, (lr, B) in enumerate(zip(lrs, bs)):
        res = sweep(k_sc, model_fn, data, lrs=[float(lr)], batch_sizes=[int(B)], seeds=seeds, n_epochs=cfg["scaling_epochs"],
                    momentum=0.0)
        sc_acc[j], sc_loss[j] = res.metrics["test_acc"][0, 0], res.metrics["train_loss"][0, 0]
    d_lin = sc_acc[1] - sc_acc[0]
    verdicts.append(Verdict.decide(
        f"{_SRC}.linear_scaling", "network", float(np.mean(d_lin)), 0.0, tolerance=0.02, ci=bootstrap_ci(d_lin),
        seconds=t.seconds, figure="smith",
        statement="Scaling the learning rate with the batch size (ε ∝ B) keeps the test accuracy while B is small.",
        note=(f"test accuracy after {cfg['scaling_epochs']} epochs at (B, ε) = {list(zip(bs.tolist(), np.round(lrs, 4).tolist()))}: "
              f"{np.round(sc_acc.mean(axis=1), 4).tolist()}.")))

    # momentum rule: m = 0.9 at ε(1 − m) vs plain SGD at ε, B = b0 (the scaling grid's first member, same seeds)
    t = Timer()
    mu = cfg["mu"]
    B0 = cfg["b0"]
    res_m = sweep(k_sc, model_fn, data, lrs=[cfg["lr"] * (1 - mu), cfg["lr"]], batch_sizes=[B0], seeds=seeds,
                  n_epochs=cfg["scaling_epochs"], momentum=mu)
    plain = sc_acc[0]
    d_mom = res_m.metrics["test_acc"][0, 0] - plain
    verdicts.append(Verdict.decide(
        f"{_SRC}.momentum_rule", "network", float(np.mean(d_mom)), 0.0, tolerance=0.02, ci=bootstrap_ci(d_mom),
        seconds=t.seconds, figure="smith",
        statement="With momentum m the noise scale is εN/(B(1−m)): momentum at ε(1−m) matches plain SGD at ε.",
        note=(f"B={B0}: test accuracy with m={mu} at ε={cfg['lr'] * (1 - mu):g}: {res_m.metrics['test_acc'][0, 0].mean():.4f}; "
              f"plain SGD at ε={cfg['lr']:g}: {plain.mean():.4f}; m={mu} at ε={cfg['lr']:g} "
              f"(10× the noise scale): {res_m.metrics['test_acc'][1, 0].mean():.4f}.")))

    # where linear scaling breaks vs B_noise of the trained network
    t = Timer()
    loss_fn, params = example_loss(model0)
    ns = measure.gradient_noise_stats(loss_fn, params, data.x_train, data.y_train, max_hvp_examples=cfg["max_hvp"], key=k_ns,
                                      chunk_size=2048)

    def b_break(loss, axis=0):  # loss: (B, seeds) resampled seeds on the last axis
        m = np.mean(loss, axis=-1)
        over = np.flatnonzero(m > 1.25 * m[0])
        return float(bs[over[0]]) if over.size else math.nan

    bb = b_break(sc_loss)
    ci = bootstrap_ci(sc_loss.T, stat=lambda x, axis=0: b_break(x.T), n_boot=500, max_nan_fraction=0.1)
    ref = ns.b_noise if np.isfinite(ns.b_noise) and ns.b_noise > 0 else math.nan
    verdicts.append(Verdict.decide(
        f"{_SRC}.linear_scaling_breaks_near_b_noise", "network", math.log10(bb / ref) if np.isfinite(bb * ref) else math.nan,
        0.0, tolerance=1.0, ci=tuple(math.log10(c / ref) for c in ci) if np.all(np.isfinite(ci)) and np.isfinite(ref) else None,
        seconds=t.seconds, figure="smith",
        statement="Linear scaling breaks once the batch size grows past about the gradient noise scale B_noise.",
        note=(f"B_break={bb:g} (first B whose final train loss exceeds the smallest B's by 25%; losses "
              f"{np.round(sc_loss.mean(axis=1), 4).tolist()}), B_noise={ns.b_noise:.4g}, B_simple={ns.b_simple:.4g} "
              f"(at the end of the decay arm, seed 0), where 2ε_max = {2 * ns.eps_max:.3g}: a break at a learning rate "
              f"beyond it is a curvature (stability) limit rather than a noise-scale one.")))

    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    data_out = {"arm_test_acc": acc, "updates": updates, "scaling_batches": bs, "scaling_lrs": lrs, "scaling_test_acc": sc_acc,
                "scaling_train_loss": sc_loss, "b_noise": np.asarray(ns.b_noise), "b_simple": np.asarray(ns.b_simple),
                "momentum_test_acc": res_m.metrics["test_acc"][:, 0], "plain_test_acc": plain}
    return make_result("smith", CITATION, verdicts, data_out, config, key)


def figure(result: ExperimentResult, out_dir):
    """(a) Test accuracy per epoch: decaying ε vs increasing B (updates in the legend); (b) final
    train loss and test accuracy under ε ∝ B with ``B_noise`` marked."""
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    acc, upd = d["arm_test_acc"], d["updates"]
    with paper_style():
        fig, ax = plt.subplots(1, 2, figsize=(8.5, 3.2), constrained_layout=True)
        ep = np.arange(1, acc.shape[-1] + 1)
        for a, (name, c) in enumerate((("decay ε", "C0"), ("increase B", "C1"))):
            m, s = acc[a].mean(axis=0), acc[a].std(axis=0, ddof=1) if acc.shape[1] > 1 else 0 * acc[a, 0]
            ax[0].plot(ep, m, "o-", ms=3, color=c, label=f"{name} ({int(upd[a])} updates)")
            ax[0].fill_between(ep, m - s, m + s, color=c, alpha=0.2)
        ax[0].set(xlabel="epoch", ylabel="test accuracy (network, ±1 sd)", title="(a) decay ε vs increase B")
        ax[0].legend(frameon=False)
        bs = d["scaling_batches"]
        ax[1].plot(bs, d["scaling_train_loss"].mean(axis=1), "o-", color="C2", label="final train loss")
        ax[1].set(xscale="log", xlabel="batch size B (ε ∝ B)", ylabel="final train loss (network)",
                  title="(b) linear scaling and B_noise")
        ax[1].set_xticks(bs, [str(int(b)) for b in bs])
        ax[1].xaxis.set_minor_formatter(plt.NullFormatter())
        if np.isfinite(d["b_noise"]) and d["b_noise"] > 0:
            ax[1].axvline(float(d["b_noise"]), color="k", ls="--", lw=0.9, label=f"B_noise = {float(d['b_noise']):.3g}")
        ax2 = ax[1].twinx()
        ax2.plot(bs, d["scaling_test_acc"].mean(axis=1), "s--", color="C4", label="final test accuracy")
        ax2.set_ylabel("final test accuracy")
        ax2.spines["right"].set_visible(True)
        h1, l1 = ax[1].get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax[1].legend(h1 + h2, l1 + l2, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 0.2))
        return save_figure(fig, out_dir, result)
