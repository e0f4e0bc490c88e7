r"""SGD against its SDE on a real network, through SVAG (Li, Malladi & Arora 2021).

Source: Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential
Equations (SDEs)" (NeurIPS). SVAG with parameter ``l`` steps
:math:`\theta \leftarrow \theta - \frac{\eta}{l}(r_1 g_{\gamma_1} + r_2 g_{\gamma_2})` with two
independent minibatch gradients and :math:`r_{1,2} = (1\pm\sqrt{2l-1})/2`
(:func:`sgd_sde.theory.svag_coefficients`); per unit of SDE time ``t = kη/l`` its drift and
diffusion equal SGD's, and as ``l → ∞`` it converges weakly to the SDE at fixed η; ``l = 1`` is
SGD. Model: an MLP on scikit-learn's digits. Claims, one sentence each:

* ``li2021svag.converges_in_l`` — the mean test-loss curve per unit SDE time converges as ``l``
  grows (measured at the largest η: ``D_{l_mid}/D_1``, the sup-distance to the largest-``l``
  curve at the middle ``l`` over that of SGD, < 1; weak order 1 predicts about ``(1/l_mid − 1/l_max)/(1 − 1/l_max)``).
* ``li2021svag.breaks_at_large_lr`` — SGD's distance to the SDE (``D_1``) grows with the learning
  rate (measured: ``D_1(η_max)/D_1(η_min)``, > 1), i.e. the SDE approximation breaks at large η.

All (lr, l, seed) members run in one vmapped, jit-compiled ``lax.scan`` of ``l_max·S`` inner
steps in which member ``l`` updates every ``l_max/l``-th step, so every member sees the same SDE
time grid (one compilation for the whole grid).
"""

from __future__ import annotations

import numpy as np

from ._common import Timer, as_key, bootstrap_ci, count_nonfinite, digits, make_result, mlp_fn, resolve_size
from ..verdicts import ExperimentResult, Verdict

__all__ = ["run", "figure", "svag_train", "CITATION"]

CITATION = ("Li, Malladi & Arora 2021, \"On the Validity of Modeling SGD with Stochastic Differential Equations "
            "(SDEs)\" (NeurIPS)")
_SRC = "li2021svag"

_SIZES = {
    "toy": dict(n_train=256, n_test=64, widths=(16,), ls=(1, 2, 4), lrs=(0.05, 0.5), seeds=3, batch=16, sde_steps=40,
                n_rec=8),
    "quick": dict(n_train=None, n_test=None, widths=(32,), ls=(1, 2, 4, 8), lrs=(0.05, 0.8), seeds=6, batch=16,
                  sde_steps=120, n_rec=12),
    "full": dict(n_train=None, n_test=None, widths=(64,), ls=(1, 2, 4, 8, 16), lrs=(0.025, 0.1, 0.4, 1.0), seeds=16,
                 batch=16, sde_steps=500, n_rec=25),
}


def svag_train(key, model_fn, data, *, lrs, ls, seeds, batch_size: int, sde_steps: int, n_rec: int):
    r"""Train every (lr, l, seed) member with SVAG on ``data``; record full train and test loss.

    Args:
        key: ``jax.random`` key; seed ``s`` uses the initial weights ``model_fn(fold_in(k0, s))``
            (shared by every ``lr`` and ``l``) and batch draws ``fold_in(k1, s)``.
        model_fn: ``key -> model`` (no batch norm).
        data: a :class:`~sgd_sde.networks.Dataset`.
        lrs: learning rates η; ls: SVAG parameters ``l ≥ 1`` dividing ``max(ls)``; seeds: int seeds.
        batch_size: ``B`` of each of the two batches (drawn with replacement).
        sde_steps: run length in SGD steps at ``l = 1`` (SDE time ``η·sde_steps``).
        n_rec: recordings (equally spaced in SDE time, plus time 0).

    Returns:
        dict with ``train_loss``, ``test_loss`` of shape ``(n_lr, n_l, n_seed, n_rec + 1)`` and
        ``sde_time`` ``(n_lr, n_rec + 1)``.

    Raises:
        ValueError: an ``l`` that does not divide ``max(ls)``, ``sde_steps`` not a multiple of
            ``n_rec``.

    References:
        Li, Malladi & Arora 2021, Section 4 (SVAG).
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from ..networks.models import cross_entropy
    from ..theory import svag_coefficients

    ls = [int(l) for l in ls]  # noqa: E741
    L = max(ls)
    if any(l < 1 or L % l for l in ls):  # noqa: E741
        raise ValueError(f"ls must be integers >= 1 dividing max(ls)={L}, got {ls}")
    if sde_steps % n_rec:
        raise ValueError(f"sde_steps must be a multiple of n_rec, got sde_steps={sde_steps}, n_rec={n_rec}")
    k0, k1 = jax.random.split(key)
    models = [model_fn(jax.random.fold_in(k0, int(s))) for s in seeds]
    static = eqx.partition(models[0], eqx.is_inexact_array)[1]
    members = [(lr, l, i) for lr in lrs for l in ls for i in range(len(seeds))]
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
    params = stack([eqx.filter(models[i], eqx.is_inexact_array) for _, _, i in members])
    r = np.array([svag_coefficients(l) for _, l, _ in members], np.float32)
    step_lr = np.array([lr / l for lr, l, _ in members], np.float32)
    every = np.array([L // l for _, l, _ in members], np.int32)
    keys = jnp.stack([jax.random.fold_in(k1, int(seeds[i])) for _, _, i in members])
    X, Y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    Xt, Yt = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    n = X.shape[0]
    inner = L * sde_steps // n_rec  # inner steps per recording

    def mean_loss(p, x, y):
        logits, _ = eqx.combine(p, static)(x, ())
        return jnp.mean(cross_entropy(logits, y))

    grad = jax.grad(mean_loss)

    def member(p, rr, slr, ev, k):
        def step(p, i):
            kk = jax.random.fold_in(k, i)
            idx = jax.random.randint(kk, (2, batch_size), 0, n)
            g1, g2 = grad(p, X[idx[0]], Y[idx[0]]), grad(p, X[idx[1]], Y[idx[1]])
            active = (i % ev) == 0
            new = jax.tree.map(lambda w, a, b: w - slr * (rr[0] * a + rr[1] * b), p, g1, g2)
            return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, p), None

        def record(p, j):
            p, _ = jax.lax.scan(step, p, j * inner + jnp.arange(inner))
            return p, (mean_loss(p, X, Y), mean_loss(p, Xt, Yt))

        p_end, (tr, te) = jax.lax.scan(record, p, jnp.arange(n_rec))
        return jnp.concatenate([mean_loss(p, X, Y)[None], tr]), jnp.concatenate([mean_loss(p, Xt, Yt)[None], te])

    run = jax.jit(jax.vmap(member))
    tr, te = run(params, jnp.asarray(r), jnp.asarray(step_lr), jnp.asarray(every), keys)
    shape = (len(lrs), len(ls), len(seeds), n_rec + 1)
    times = np.asarray(lrs, np.float64)[:, None] * np.arange(n_rec + 1)[None, :] * (sde_steps // n_rec)
    return {"train_loss": np.asarray(tr, np.float64).reshape(shape), "test_loss": np.asarray(te, np.float64).reshape(shape),
            "sde_time": times}


def _sup_dist(curves, ref):
    """``max_t |curve − ref|`` of seed-mean curves; ``curves``: ``(..., seed, t)``."""
    return np.max(np.abs(curves.mean(axis=-2) - ref.mean(axis=-2)), axis=-1)


def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """SVAG against SGD on an MLP trained on digits (claims in the module docstring).

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``,
            ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"svag"``.
    """
    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], cfg["n_test"])
    t = Timer()
    out = svag_train(key, mlp_fn(data, cfg["widths"]), data, lrs=cfg["lrs"], ls=cfg["ls"], seeds=list(range(cfg["seeds"])),
                     batch_size=cfg["batch"], sde_steps=cfg["sde_steps"], n_rec=cfg["n_rec"])
    te = out["test_loss"]  # (lr, l, seed, t)
    n_bad = count_nonfinite(te)
    ls = list(cfg["ls"])
    mid = ls[len(ls) // 2] if len(ls) > 2 else ls[-1]
    i_mid = ls.index(mid)
    seconds = t.seconds

    def conv_ratio(sample, axis=0):  # sample: (seed, lr, l, t) -> D_mid / D_1 at the largest lr
        s = np.moveaxis(sample, 0, -2)  # (lr, l, seed, t)
        d = _sup_dist(s[-1], s[-1, -1])  # (l,)
        return float(d[i_mid] / d[0])

    by_seed = np.moveaxis(te, 2, 0)  # (seed, lr, l, t)
    ratio = conv_ratio(by_seed)
    ci = bootstrap_ci(by_seed, stat=conv_ratio, n_boot=500)
    l_max = ls[-1]
    weak = (1 / mid - 1 / l_max) / (1 - 1 / l_max)
    verdicts = [Verdict.decide(
        f"{_SRC}.converges_in_l", "network", ratio, 1.0, kind="less", ci=ci, seconds=seconds, figure="svag",
        statement="Per unit of SDE time, SVAG's test-loss curve converges as l grows.",
        note=(f"D_l = max_t |mean test loss(l) − mean test loss(l={l_max})| at η={cfg['lrs'][-1]} (where SGD and "
              f"the SDE differ): {np.round(_sup_dist(te[-1], te[-1, -1]), 5).tolist()} for l={ls}; D_{mid}/D_1 = {ratio:.3g} "
              f"(weak order 1 predicts ≈ {weak:.3g}); {n_bad} non-finite losses.")),
    ]

    def lr_ratio(sample, axis=0):
        s = np.moveaxis(sample, 0, -2)
        d_hi = _sup_dist(s[-1, 0], s[-1, -1])
        d_lo = _sup_dist(s[0, 0], s[0, -1])
        return float(d_hi / d_lo)

    r2 = lr_ratio(by_seed)
    ci2 = bootstrap_ci(by_seed, stat=lr_ratio, n_boot=500)
    verdicts.append(Verdict.decide(
        f"{_SRC}.breaks_at_large_lr", "network", r2, 1.0, kind="greater", ci=ci2, seconds=seconds, figure="svag",
        statement="SGD's distance to its SDE grows with the learning rate: the SDE approximation breaks at large η.",
        note=(f"D_1(η={cfg['lrs'][-1]}) / D_1(η={cfg['lrs'][0]}) with D_1 = max_t |mean test loss(SGD) − "
              f"mean test loss(SVAG l={l_max})| over the same SDE time.")))
    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    data_out = {"train_loss": out["train_loss"], "test_loss": te, "sde_time": out["sde_time"],
                "ls": np.asarray(ls), "lrs": np.asarray(cfg["lrs"], np.float64)}
    return make_result("svag", CITATION, verdicts, data_out, config, key)


def figure(result: ExperimentResult, out_dir):
    """Test loss per unit SDE time for each ``l`` at the smallest and largest η, and the distance to
    the largest-``l`` curve against ``l`` with the weak-order-1 reference ``∝ 1/l − 1/l_max``."""
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    te, times, ls, lrs = d["test_loss"], d["sde_time"], d["ls"], d["lrs"]
    with paper_style():
        fig, ax = plt.subplots(1, 3, figsize=(10.5, 3.2), constrained_layout=True)
        for a, i in zip(ax[:2], (0, len(lrs) - 1)):
            for j, l in enumerate(ls):
                m = te[i, j].mean(axis=0)
                a.plot(times[i], m, "-o" if l == 1 else "-", ms=2.5, color=plt.cm.viridis(j / max(len(ls) - 1, 1)),
                       label="SGD (l=1)" if l == 1 else f"SVAG l={l}")
            a.set(xlabel="SDE time t = kη/l", ylabel="test loss (seed mean)", title=f"η = {lrs[i]:g}")
            a.legend(frameon=False)
        for i, lr in enumerate(lrs):
            dist = _sup_dist(te[i], te[i, -1])
            ax[2].plot(ls[:-1], dist[:-1], "o-", label=f"network, η={lr:g}")
        ref = (1 / ls[:-1] - 1 / ls[-1]) / (1 - 1 / ls[-1])
        d1 = _sup_dist(te[-1], te[-1, -1])[0]
        ax[2].plot(ls[:-1], d1 * ref, "k--", label="weak order 1 (∝ 1/l − 1/l_max)")
        ax[2].set(xscale="log", yscale="log", xlabel="l", ylabel=f"max_t |Δ test loss| vs l={ls[-1]}",
                  title="convergence in l")
        ax[2].set_xticks(ls[:-1], [str(x) for x in ls[:-1]])
        ax[2].xaxis.set_minor_formatter(plt.NullFormatter())
        ax[2].legend(frameon=False)
        return save_figure(fig, out_dir, result)
