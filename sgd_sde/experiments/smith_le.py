r"""Smith & Le 2018 on a real network: the optimal batch size scales as ``B_opt ∝ ε·N``.

Source: Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient
Descent" (ICLR). Their SGD noise scale is :math:`g = \epsilon(N/B - 1) \approx \epsilon N/B`
(:func:`sgd_sde.theory.temperature`); an optimal noise scale maximises the test accuracy, so at
fixed learning rate ``ε`` the accuracy peaks at a batch size ``B_opt ∝ εN``. Model: an MLP on
subsets of scikit-learn's digits (``N`` varies), trained for a fixed number of epochs; each
(ε, N) cell is one :func:`sgd_sde.networks.sweep` over batch sizes and seeds. Claims, one
sentence each:

* ``smithle2018.b_opt_lr_exponent`` — ``B_opt`` grows linearly with the learning rate (measured:
  the exponent α of ``B_opt ∝ ε^α N^β`` fitted over the cells, 1 ± 0.5).
* ``smithle2018.b_opt_n_exponent`` — ``B_opt`` grows linearly with the training-set size
  (measured: β, 1 ± 0.5).
* ``smithle2018.constant_noise_scale`` — the noise scale at the peaks, ``g = εN/B_opt``, is the
  same in every cell (measured: the standard deviation of ``log10 g`` over the cells, < 0.3).

``B_opt`` of a cell is the maximiser of the seed-mean test accuracy over ``log B`` (a parabola
through the best grid point and its neighbours; NaN when the peak is at the grid's edge, and such
cells are counted and left out of the fit). CIs: bootstrap over seeds.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import Timer, as_key, bootstrap_ci, count_nonfinite, digits, make_result, mlp_fn, resolve_size
from ..verdicts import ExperimentResult, Verdict

__all__ = ["run", "figure", "peak_batch_size", "fit_exponents", "CITATION"]

CITATION = ("Smith & Le 2018, \"A Bayesian Perspective on Generalization and Stochastic Gradient Descent\" (ICLR)")
_SRC = "smithle2018"

_SIZES = {
    "toy": dict(n_test=None, widths=(16,), ns=(256, 512), lrs=(0.1, 0.4), batches=(4, 16, 64, 256), seeds=2, epochs=3),
    "quick": dict(n_test=None, widths=(32,), ns=(360, 1438), lrs=(0.08, 0.2, 0.5), batches=(2, 4, 8, 16, 32),
                  seeds=4, epochs=4),
    "full": dict(n_test=None, widths=(64,), ns=(360, 720, 1438), lrs=(0.02, 0.05, 0.12, 0.3, 0.75),
                 batches=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), seeds=8, epochs=20),
}


def peak_batch_size(batch_sizes, accuracy) -> float:
    """Maximiser of ``accuracy`` over ``log B``: a parabola through the best point and its two
    neighbours (NaN if the best point is at either end: the peak is not bracketed).

    Examples:
        >>> B = np.array([4.0, 16, 64, 256])
        >>> round(peak_batch_size(B, -(np.log(B) - np.log(32.0)) ** 2), 6)
        32.0
    """
    b = np.log(np.asarray(batch_sizes, np.float64))
    a = np.asarray(accuracy, np.float64)
    if count_nonfinite(a):
        return math.nan
    i = int(np.argmax(a))
    if i == 0 or i == a.size - 1:
        return math.nan
    c = np.polyfit(b[i - 1 : i + 2], a[i - 1 : i + 2], 2)
    if c[0] >= 0:
        return float(np.exp(b[i]))
    return float(np.exp(np.clip(-c[1] / (2 * c[0]), b[i - 1], b[i + 1])))


def fit_exponents(lrs, ns, b_opt) -> tuple[float, float, float]:
    """Least-squares ``log B_opt = c + α log ε + β log N`` over the finite cells of ``b_opt``
    (shape ``(n_lr, n_N)``); returns ``(α, β, c)`` (NaN if fewer than 3 finite cells or the design
    is rank-deficient).

    Examples:
        >>> lr, n = np.array([0.1, 0.4]), np.array([100.0, 400.0])
        >>> a, b, c = fit_exponents(lr, n, 2.0 * lr[:, None] * n[None, :])
        >>> round(a, 9), round(b, 9)
        (1.0, 1.0)
    """
    L, N = np.meshgrid(np.log(np.asarray(lrs, np.float64)), np.log(np.asarray(ns, np.float64)), indexing="ij")
    y = np.log(np.asarray(b_opt, np.float64))
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return (math.nan, math.nan, math.nan)
    A = np.stack([L[ok], N[ok], np.ones(ok.sum())], axis=1)
    if np.linalg.matrix_rank(A) < 3:
        return (math.nan, math.nan, math.nan)
    coef = np.linalg.lstsq(A, y[ok], rcond=None)[0]
    return (float(coef[0]), float(coef[1]), float(coef[2]))


def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Test accuracy against batch size for several learning rates and training-set sizes.

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``,
            ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"smith_le"``; ``data["test_acc"]`` has
        shape ``(n_lr, n_N, n_B, n_seed)`` (NaN where ``B > N``).
    """
    import jax

    from ..networks import sweep

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    full = digits()
    lrs, ns, bs = (np.asarray(cfg[k], np.float64) for k in ("lrs", "ns", "batches"))
    seeds = list(range(cfg["seeds"]))
    acc = np.full((lrs.size, ns.size, bs.size, len(seeds)), np.nan)
    t = Timer()
    for j, n in enumerate(ns.astype(int)):
        data = full.subset(int(n), cfg["n_test"])
        keep = bs <= n
        res = sweep(jax.random.fold_in(key, j), mlp_fn(data, cfg["widths"]), data, lrs=lrs, batch_sizes=bs[keep].astype(int),
                    seeds=seeds, n_epochs=cfg["epochs"], momentum=0.0)
        acc[:, j, keep, :] = res.metrics["test_acc"]
    seconds = t.seconds

    def b_opt_of(a):  # a: (lr, N, B, seed) -> (lr, N)
        m = a.mean(axis=-1)
        return np.array([[peak_batch_size(bs[np.isfinite(m[i, j])], m[i, j][np.isfinite(m[i, j])])
                          for j in range(ns.size)] for i in range(lrs.size)])

    # bootstrap over seed indices (acc holds structural NaN where B > N, which is not divergence)
    by_seed = np.arange(len(seeds), dtype=np.float64)
    to_cells = lambda idx: acc[..., np.asarray(idx, int)]
    b_opt = b_opt_of(acc)
    alpha, beta, _ = fit_exponents(lrs, ns, b_opt)
    n_edge = int(np.sum(~np.isfinite(b_opt)))

    def stat(k):
        def f(sample, axis=0):
            return fit_exponents(lrs, ns, b_opt_of(to_cells(sample)))[k]
        return f

    g = lrs[:, None] * ns[None, :] / b_opt

    def g_spread(sample, axis=0):
        bo = b_opt_of(to_cells(sample))
        lg = np.log10(lrs[:, None] * ns[None, :] / bo)
        lg = lg[np.isfinite(lg)]
        return float(np.std(lg, ddof=1)) if lg.size >= 2 else math.nan

    common = dict(seconds=seconds, figure="smith_le")
    where = f"B_opt per (ε, N) cell: {np.round(b_opt, 1).tolist()} for ε={lrs.tolist()}, N={ns.astype(int).tolist()}; " \
            f"{n_edge} cells peak at the grid's edge (left out)."
    verdicts = [
        Verdict.decide(f"{_SRC}.b_opt_lr_exponent", "network", alpha, 1.0, tolerance=0.5,
                       ci=bootstrap_ci(by_seed, stat=stat(0), n_boot=300, max_nan_fraction=0.1),
                       statement="At fixed N the test-accuracy-optimal batch size grows linearly with the learning rate.",
                       note=f"α of B_opt ∝ ε^α N^β. {where}", **common),
        Verdict.decide(f"{_SRC}.b_opt_n_exponent", "network", beta, 1.0, tolerance=0.5,
                       ci=bootstrap_ci(by_seed, stat=stat(1), n_boot=300, max_nan_fraction=0.1),
                       statement="At fixed learning rate the optimal batch size grows linearly with the training-set size.",
                       note=f"β of B_opt ∝ ε^α N^β. {where}", **common),
        Verdict.decide(f"{_SRC}.constant_noise_scale", "network", g_spread(by_seed), 0.3, kind="less",
                       ci=bootstrap_ci(by_seed, stat=g_spread, n_boot=300, max_nan_fraction=0.1),
                       statement="The noise scale g = εN/B at the accuracy peak is the same for every ε and N.",
                       note=f"sd of log10 g over cells; g at the peaks: {np.round(g, 2).tolist()}.", **common),
    ]
    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    data_out = {"test_acc": acc, "lrs": lrs, "ns": ns, "batches": bs, "b_opt": b_opt, "g_at_peak": g}
    return make_result("smith_le", CITATION, verdicts, data_out, config, key)


def figure(result: ExperimentResult, out_dir):
    """(a) Test accuracy vs B per (ε, N) with the peaks marked; (b) B_opt against εN with the
    linear prediction ``B_opt = εN/ḡ`` (ḡ the geometric mean noise scale at the peaks)."""
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    acc, lrs, ns, bs, bo = d["test_acc"], d["lrs"], d["ns"], d["batches"], d["b_opt"]
    with paper_style():
        fig, ax = plt.subplots(1, 2, figsize=(8.5, 3.7), layout="constrained")
        ls_ = ["-", "--", ":", "-."]
        for i, lr in enumerate(lrs):
            for j, n in enumerate(ns):
                m = acc[i, j].mean(axis=-1)
                ok = np.isfinite(m)
                ax[0].plot(bs[ok], m[ok], ls_[j % 4], color=f"C{i}", marker="o", ms=2.5,
                           label=f"ε={lr:g}, N={int(n)}")
                if np.isfinite(bo[i, j]):
                    ax[0].axvline(bo[i, j], color=f"C{i}", ls=ls_[j % 4], lw=0.6, alpha=0.6)
        ax[0].set(xscale="log", xlabel="batch size B", ylabel="test accuracy (seed mean)",
                  title="(a) accuracy peaks at B_opt (network)")
        ax[0].set_xticks(bs, [f"{b:g}" for b in bs])
        ax[0].xaxis.set_minor_formatter(plt.NullFormatter())
        fig.legend(*ax[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(lrs.size * ns.size, 6),
                   frameon=False, fontsize=7, handlelength=3)
        x = lrs[:, None] * ns[None, :]
        ok = np.isfinite(bo)
        for j, n in enumerate(ns):
            ax[1].plot(x[:, j][ok[:, j]], bo[:, j][ok[:, j]], "o", color=f"C{j}", label=f"network, N={int(n)}")
        if ok.any():
            gbar = float(np.exp(np.mean(np.log(x[ok] / bo[ok]))))
            xx = np.geomspace(x.min() / 2, x.max() * 2, 50)
            ax[1].plot(xx, xx / gbar, "k--", label=f"theory B_opt = εN/g, g={gbar:.3g}")
        ax[1].set(xscale="log", yscale="log", xlabel="ε·N", ylabel="B_opt", title="(b) B_opt ∝ εN")
        ax[1].legend(frameon=False, fontsize=7)
        return save_figure(fig, out_dir, result)
