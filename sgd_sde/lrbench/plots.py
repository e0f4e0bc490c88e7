r"""The benchmark's three figures (paper style, deterministic for the saved data).

* :func:`plot_policies` — every policy's learning-rate curve, one panel per family (small multiples).
* :func:`plot_accuracy` — test accuracy vs step per benchmarked policy: the seed mean and the band
  between the worst and the best seed.
* :func:`plot_metrics` — the metrics table as a heat map (each column scaled to its range, better
  is darker; the cell text is the seed mean ± std).

References:
    Wu et al. 2019, "Demystifying Learning Rate Policies for High Accuracy Training of Deep Neural
    Networks"; Jin et al. 2023 (LRBench++: visualisation of policies and their metrics).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..figures.style import paper_style, plt, save_figure
from .policies import FAMILIES, PARAMETERS, policy

__all__ = ["example_policy", "plot_policies", "plot_accuracy", "plot_metrics"]


def example_policy(name: str, n_steps: int = 400):
    """``name`` with illustrative parameters for a run of ``n_steps`` (used by :func:`plot_policies`)."""
    values = {"k0": 0.01, "k1": 0.1, "gamma": 0.05 ** (1 / n_steps), "p": 2.0, "l": max(1, n_steps // 8)}
    single = {"STEP": dict(k0=0.1, gamma=0.5, l=n_steps // 4), "NSTEP": dict(k0=0.1, gamma=0.3, l=[n_steps // 2, 3 * n_steps // 4]),
              "EXP": dict(k0=0.1, gamma=0.05 ** (1 / n_steps)), "INV": dict(k0=0.1, gamma=20 / n_steps, p=0.75),
              "POLY": dict(k0=0.01, k1=0.1, p=2.0, l=n_steps), "SIG": dict(k0=0.1, gamma=-20 / n_steps, l=n_steps // 2),
              "FIX": dict(k0=0.05)}
    if name in single:
        return policy(name, **single[name])
    return policy(name, **{k: values[k] for k in PARAMETERS[name]})


def plot_policies(path, n_steps: int = 400) -> Path:
    """One panel per family with every policy's ``η_t`` for ``t < n_steps``; returns the PNG path."""
    steps = np.arange(n_steps)
    with paper_style():
        fig, axes = plt.subplots(1, len(FAMILIES), figsize=(13.0, 3.35), sharey=True)
        for ax, (family, names) in zip(axes, FAMILIES.items()):
            cmap = plt.get_cmap("tab10")
            for i, name in enumerate(names):
                ax.plot(steps, example_policy(name, n_steps)(steps), lw=1.0, color=cmap(i % 10), label=name,
                        ls="-" if i < 10 else "--")
            ax.set_title(family)
            ax.set_xlabel(r"step $t$")
            ax.legend(fontsize=6.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.28), frameon=False,
                      handlelength=1.6, columnspacing=0.8)
        axes[0].set_ylabel(r"learning rate $\eta_t$")
        axes[0].set_ylim(0, 0.135)
        fig.tight_layout()
        out = Path(path)
        save_figure(fig, out)
    return out


def plot_accuracy(result, path, *, ylim: tuple[float, float] | None = None) -> Path:
    """Test accuracy vs step per policy: seed mean (line) and worst–best seed band; the target dashed."""
    labels = result.labels
    ncol = min(5, len(labels))
    nrow = math.ceil(len(labels) / ncol)
    target = result.metadata["config"]["target_acc"]
    acc = result.test_acc
    lo = ylim[0] if ylim else max(0.0, float(np.floor(10 * np.nanmin(acc[:, :, acc.shape[-1] // 4:])) / 10) - 0.05)
    with paper_style():
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.3 * ncol, 1.9 * nrow + 0.3), sharex=True, sharey=True, squeeze=False)
        for k, ax in enumerate(axes.flat):
            if k >= len(labels):
                ax.axis("off")
                continue
            a = acc[k]
            ax.fill_between(result.eval_steps, np.nanmin(a, 0), np.nanmax(a, 0), alpha=0.3, color="C0", lw=0)
            ax.plot(result.eval_steps, np.nanmean(a, 0), color="C0", lw=1.2)
            ax.axhline(target, color="k", ls="--", lw=0.7)
            ax.set_title(labels[k])
            ax.set_ylim(lo, 1.0)
            if k % ncol == 0:
                ax.set_ylabel("test accuracy")
            if k // ncol == nrow - 1 or k + ncol >= len(labels):
                ax.set_xlabel("step")
                ax.tick_params(labelbottom=True)
        fig.suptitle(f"digits MLP, {result.seeds.size} seeds: mean and worst–best seed band; dashed: target {target:g}", fontsize=8)
        fig.tight_layout()
        out = Path(path)
        save_figure(fig, out)
    return out


_COLUMNS = (("final_test_acc", "final acc", True), ("best_test_acc", "best acc", True),
            ("steps_to_target", "steps to target", False), ("train_loss_auc", "train-loss AUC", False),
            ("wall_s", "wall s", False))


def plot_metrics(result, path) -> Path:
    """Heat map of the seed means (each column scaled to its range, darker is better), cell text mean ± std."""
    df = result.table()
    labels = list(result.labels)
    grid = np.full((len(labels), len(_COLUMNS)), np.nan)
    text = [["" for _ in _COLUMNS] for _ in labels]
    for i, lab in enumerate(labels):
        rows = df[df["policy"] == lab]
        for j, (col, _, higher) in enumerate(_COLUMNS):
            v = rows[col].to_numpy(float)
            reached = v[np.isfinite(v)]
            m = float(np.mean(v)) if col != "steps_to_target" else (float(np.mean(reached)) if reached.size else np.nan)
            grid[i, j] = m
            sd = float(np.std(v if col != "steps_to_target" else reached, ddof=1)) if (v.size > 1 and (col != "steps_to_target" or reached.size > 1)) else 0.0
            fmt = ".3f" if "acc" in col or "auc" in col else (".0f" if col == "steps_to_target" else ".2f")
            text[i][j] = "—" if not np.isfinite(m) else f"{m:{fmt}}±{sd:{fmt}}"
            if col == "steps_to_target" and reached.size < v.size:
                text[i][j] += f" ({reached.size}/{v.size})"
    score = np.zeros_like(grid)
    for j, (_, _, higher) in enumerate(_COLUMNS):
        c = grid[:, j]
        if not np.isfinite(c).any():  # e.g. no policy reached the target
            score[:, j] = np.nan
            continue
        lo, hi = np.nanmin(c), np.nanmax(c)
        s = (c - lo) / (hi - lo) if hi > lo else np.full_like(c, 0.5)
        score[:, j] = s if higher else 1 - s
    with paper_style():
        fig, ax = plt.subplots(figsize=(7.6, 0.32 * len(labels) + 1.1))
        ax.imshow(np.nan_to_num(score, nan=0.0), cmap="Blues", vmin=-0.15, vmax=1.25, aspect="auto")
        for i in range(len(labels)):
            for j in range(len(_COLUMNS)):
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=6.5,
                        color="white" if score[i, j] > 0.75 else "black")
        ax.set_xticks(range(len(_COLUMNS)), [c[1] for c in _COLUMNS])
        ax.set_yticks(range(len(labels)), labels)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(f"seed mean ± std over {result.seeds.size} seeds (darker: better within the column)", fontsize=8, pad=18)
        fig.tight_layout()
        out = Path(path)
        save_figure(fig, out)
    return out
