"""Figures for Hoffer, Hubara & Soudry 2017 and Bouchaud & Georges 1990: ultra-slow diffusion.

* :func:`sinai_figure` — Sinai's walk: ``√E|X_n|`` linear in ``log n`` and the slow approach of
  ``σ² E|X_n| / (log n)²`` to Kesten's ``5/6``.
* :func:`fractional_figure` — Langevin on 1-D fractional potentials, ``α ∈ {0.5, 1, 1.5}``:
  ``E|X|^{α/2}`` against ``log t`` and the fitted exponent ``β`` against ``2/α``.
* :func:`first_passage_figure` — the exact first-passage form on the same potentials: typical
  ``log τ(L)`` against ``L^{α/2}`` up to ``L = 1.3·10⁵`` and the fitted ``β`` against ``2/α``.
* :func:`hoffer_figure` — ``E‖w_t − w_0‖`` against ``log t`` per batch size for the fixed, √B and
  linear learning-rate rules, and regime adaptation.

Each recipe computes its data (or loads it from ``out_dir`` when it was made by the running code with
the same settings and key: :mod:`sgd_sde.figures._cache`), saves it as one checked ``.npz`` with the
fits and the provenance in its metadata, then plots from the saved data. Fits that stopped at a
search bound are flagged (``at_bound``) in the data and marked in the figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np

from ..io import load_arrays
from ..provenance import stale_reason
from ._cache import cached
from .style import paper_style, plt, save_figure

__all__ = ["sinai_figure", "fractional_figure", "first_passage_figure", "hoffer_figure", "sinai_data",
           "fractional_data", "first_passage_data"]

KESTEN_MEAN = 5.0 / 6.0
CALIBRATION = {1 << 13: 0.44, 1 << 16: 0.49, 1 << 19: 0.53, 1 << 22: 0.553}  # theory-anchors section 9
ALPHAS = (0.5, 1.0, 1.5)


def _cached(stem: Path, key: int, quick: bool, settings, compute, force: bool = False):
    """``(arrays, meta)`` at ``stem``: reused if made by the running code with ``settings``/``key``,
    else recomputed; the fits are at the top level of ``meta``."""
    config = {"figure": stem.name, "quick": quick, "settings": settings}
    return cached(stem, config, key, compute, force=force)


# ----------------------------------------------------------------------------------------------- Sinai
def sinai_data(key: int = 0, quick: bool = False) -> tuple[dict, dict]:
    """Run :func:`~sgd_sde.diffusion.sinai_walk` (2000 walkers, ``2²²`` steps; quick: 400, ``2¹⁴``)
    and fit it; returns ``(arrays, fits)``."""
    import time

    from ..diffusion import log_growth_exponent, log_growth_slope, sinai_walk

    w, n = (400, 1 << 14) if quick else (2000, 1 << 22)
    t0 = time.perf_counter()
    steps, x = sinai_walk(jax.random.key(key), w, n, progress=not quick)
    wall = time.perf_counter() - t0
    d = np.abs(x)
    fits = {
        "linearised": log_growth_slope(steps, d, beta=2.0).to_dict(),
        "profile": log_growth_exponent(steps, d).to_dict(),
        "loglog": log_growth_exponent(steps, d, method="loglog").to_dict(),
        "wall_seconds": wall,
        "n_walkers": w,
        "n_steps": n,
    }
    return {"steps": steps, "positions": x}, fits


def sinai_figure(out_dir, quick: bool = False, key: int = 0, force: bool = False) -> Path:
    """Draw ``out_dir/sinai.png`` (data in ``out_dir/sinai.npz|json``).

    References:
        Sinai 1982; Kesten 1986, "The limit distribution of Sinai's random walk in random environment";
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media".
    """
    out_dir = Path(out_dir)
    arrays, meta = _cached(out_dir / "sinai", key, quick, None, lambda: sinai_data(key, quick), force)
    steps, d = arrays["steps"], np.abs(arrays["positions"]).astype(np.float64)
    keep = steps >= 4
    t, m = steps[keep], d[keep].mean(1)
    se = d[keep].std(1, ddof=1) / math.sqrt(d.shape[1])
    lin = meta["linearised"]
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8))
        a.errorbar(np.log(t), np.sqrt(m), yerr=se / (2 * np.sqrt(m)), fmt="o", ms=2.5, lw=0.8, label="simulation")
        lt = np.linspace(lin["t_range"][0], lin["t_range"][1], 2)
        lt = np.log(lt)
        a.plot(lt, math.sqrt(KESTEN_MEAN) * (lt - lin["params"]["c"]) + 0.6, "k:", lw=1,
               label="slope √(5/6) (Kesten), offset")
        a.plot(lt, lin["estimate"] * (lt - lin["params"]["c"]), "C3-", zorder=3,
               label=f"fit a = {lin['estimate']:.3f} [{lin['ci'][0]:.3f}, {lin['ci'][1]:.3f}]")
        a.set_xlabel("log n")
        a.set_ylabel("√E|Xₙ|")
        a.set_title(f"Sinai walk, σ = 1, {d.shape[1]} walkers")
        a.legend(frameon=False, loc="upper left")
        b.errorbar(np.log2(t), m / np.log(t) ** 2, yerr=se / np.log(t) ** 2, fmt="o", ms=2.5, lw=0.8,
                   label="σ²E|Xₙ|/(log n)²")
        cal = [(math.log2(k), v) for k, v in CALIBRATION.items() if k <= steps[-1]]
        if cal:
            b.plot(*zip(*cal), "s", mfc="none", color="C2", label="calibration (anchors §9)")
        b.axhline(KESTEN_MEAN, color="k", ls=":", label="limit E|b| = 5/6")
        b.set_xlabel("log₂ n")
        b.set_ylim(0, 0.9)
        naive, prof = meta["loglog"], meta["profile"]
        b.set_title(f"log-log exponent {naive['estimate']:.2f} (not 2): log convergence"
                    + ("\nprofile β at its search bound" if prof.get("at_bound") else ""))
        b.legend(frameon=False, loc="lower right")
        fig.tight_layout()
        out = out_dir / "sinai.png"
        save_figure(fig, out)
    return out


def _ci_bar(ax, x, estimate, ci, at_bound=False, **kw):
    """One point with its (asymmetric) confidence interval; a fit that stopped at a search bound
    of β is circled in red and labelled "at bound" (its value is the range's, not the data's)."""
    lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = estimate
    ax.errorbar(x, estimate, yerr=[[estimate - lo], [hi - estimate]], capsize=2, **kw)
    if at_bound:
        y = min(estimate, 7.6)  # the panels clip at β = 8
        ax.plot([x], [y], "o", ms=9, mfc="none", mec="red", mew=1.0)
        ax.annotate("at bound", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=6, color="red")


def _beta_frame(ax, title):
    """The ``β = 2/α`` line, the ±25 % band, labels and legend of a fitted-exponent panel."""
    g = np.linspace(1, 4.5, 2)
    ax.plot(g, g, "k:", lw=0.8, label="β = 2/α")
    ax.fill_between(g, 0.75 * g, 1.25 * g, color="0.9", label="±25 %")
    ax.set_xlabel("2/α")
    ax.set_ylabel("fitted β (95% CI)")
    ax.set_ylim(0, 8)
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)  # below: CI bars may reach any corner


# ------------------------------------------------------------------------------------------ fractional
FRACTIONAL = dict(n_particles=500, n_steps=1 << 18, temperature=1.0, lr=0.05, spacing=1.0, n_grid=8193)
LATE_WINDOW = 1e3  # start of the exponent fits (SDE time, units ℓ²/T): the last decade of the full run
FRACTIONAL_QUICK = dict(n_particles=100, n_steps=1 << 13, temperature=1.0, lr=0.05, spacing=1.0, n_grid=1025)


def fractional_data(key: int = 0, quick: bool = False) -> tuple[dict, dict]:
    """Langevin on 1-D fractional potentials for ``α ∈ {0.5, 1, 1.5}``; returns ``(arrays, fits)``."""
    import time

    from ..diffusion import log_growth_exponent, log_growth_slope, potential_diffusion

    cfg = FRACTIONAL_QUICK if quick else FRACTIONAL
    arrays, fits = {}, {"config": cfg}
    for i, a in enumerate(ALPHAS):
        t0 = time.perf_counter()
        steps, times, dist = potential_diffusion(jax.random.fold_in(jax.random.key(key), i), a, **cfg)
        fits[f"wall_seconds_{a}"] = time.perf_counter() - t0
        arrays[f"distances_{a}"] = dist
        arrays["steps"], arrays["times"] = steps, times
        window = (10.0, None)
        fits[f"profile_{a}"] = log_growth_exponent(times, dist, window=window).to_dict()
        fits[f"loglog_{a}"] = log_growth_exponent(times, dist, window=window, method="loglog").to_dict()
        fits[f"power_{a}"] = log_growth_slope(times, dist, beta=2 / a, moment="power", window=window).to_dict()
    return arrays, fits


def fractional_figure(out_dir, quick: bool = False, key: int = 0, force: bool = False) -> Path:
    """Draw ``out_dir/fractional.png`` (data in ``out_dir/fractional.npz|json``).

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media".
    """
    out_dir = Path(out_dir)
    arrays, meta = _cached(out_dir / "fractional", key, quick, FRACTIONAL_QUICK if quick else FRACTIONAL,
                           lambda: fractional_data(key, quick), force)
    times = arrays["times"]
    keep = times >= 1.0
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8))
        for i, al in enumerate(ALPHAS):
            d = arrays[f"distances_{al}"][keep]
            y = np.mean(d ** (al / 2), axis=1)
            p = meta[f"power_{al}"]
            a.plot(np.log(times[keep]), y / y[-1], "o", ms=2.5, color=f"C{i}",
                   label=f"α = {al}: R² = {p['r2']:.3f}")
        a.set_xlabel("log t")
        a.set_ylabel("E|X|^(α/2), normalised")
        a.set_title("generalised Sinai check: linear in log t")
        a.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)  # below, as the right panel's
        from ..diffusion import log_growth_exponent

        start = min(LATE_WINDOW, float(times[-1]) / 8)  # quick runs end at t = 410
        late = (start, None)
        for i, al in enumerate(ALPHAS):
            d = arrays[f"distances_{al}"]
            for j, (method, mk) in enumerate((("profile", "o"), ("loglog", "x"))):
                f = log_growth_exponent(times, d, window=late, method=method, n_boot=200)
                _ci_bar(b, 2 / al + 0.08 * (j - 0.5), f.estimate, f.ci, f.at_bound, fmt=mk, color=f"C{i}",
                        label=f"{method}, t ≥ {start:g}" if i == 0 else None)
        _beta_frame(b, "fitted β, late window (off-scale: clipped)")
        fig.tight_layout()
        out = out_dir / "fractional.png"
        save_figure(fig, out)
    return out


# ----------------------------------------------------------------------------------------- first passage
FIRST_PASSAGE = dict(n_environments=500, half_width=1 << 17, temperature=0.25)
FIRST_PASSAGE_QUICK = dict(n_environments=100, half_width=1 << 14, temperature=0.25)


def first_passage_data(key: int = 0, quick: bool = False) -> tuple[dict, dict]:
    """:func:`~sgd_sde.diffusion.first_passage_experiment` for ``α ∈ {0.5, 1, 1.5}`` and the
    exponent fits; returns ``(arrays, fits)``."""
    import time

    from ..diffusion import first_passage_experiment, first_passage_exponent

    cfg = FIRST_PASSAGE_QUICK if quick else FIRST_PASSAGE
    arrays, fits = {}, {"config": cfg}
    for i, a in enumerate(ALPHAS):
        t0 = time.perf_counter()
        L, lt = first_passage_experiment(jax.random.fold_in(jax.random.key(key), i), a, progress=not quick, **cfg)
        fits[f"wall_seconds_{a}"] = time.perf_counter() - t0
        arrays["distances"], arrays[f"log_times_{a}"] = L, lt
        fits[f"beta_{a}"] = first_passage_exponent(L, lt).to_dict()
    return arrays, fits


def first_passage_figure(out_dir, quick: bool = False, key: int = 0, force: bool = False) -> Path:
    """Draw ``out_dir/first_passage.png`` (data in ``out_dir/first_passage.npz|json``).

    Left: the typical log exit time ``E_env log τ(L)`` against ``L^{α/2}`` — a straight line is
    Bouchaud & Georges' law. Right: the fitted ``β`` (95% CI over environments) against ``2/α``,
    next to the exponents fitted to simulated walks at ``t ≤ 1.3·10⁴`` when
    ``out_dir/fractional.npz`` holds data of the same size (:func:`fractional_figure`); their
    legend says so when the two files were made by different code.

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media".
    """
    out_dir = Path(out_dir)
    arrays, meta = _cached(out_dir / "first_passage", key, quick, FIRST_PASSAGE_QUICK if quick else FIRST_PASSAGE,
                           lambda: first_passage_data(key, quick), force)
    return draw_first_passage(out_dir, arrays, meta)


def draw_first_passage(out_dir, arrays, meta) -> Path:
    """Draw ``out_dir/first_passage.png`` from saved first-passage data (and ``out_dir/fractional.npz``
    when it holds a run of the same size); no computation."""
    out_dir = Path(out_dir)
    L = arrays["distances"]
    try:
        _, sim = load_arrays(out_dir / "fractional")
    except (FileNotFoundError, ValueError):
        sim = {}
    if sim.get("quick") != meta.get("quick"):
        sim = {}  # another size: not drawn next to this data
    other_code = (sim.get("provenance") or {}).get("code") != (meta.get("provenance") or {}).get("code")
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8))
        for i, al in enumerate(ALPHAS):
            m = arrays[f"log_times_{al}"].mean(axis=1)
            x = L ** (al / 2)
            a.plot(x / x[-1], m / m[-1], "o-", ms=2.5, lw=0.8, color=f"C{i}", label=f"α = {al}")
        a.set_xlabel("L^(α/2), normalised")
        a.set_ylabel("E_env log τ(L), normalised")
        a.set_title(f"exit time to distance L ≤ {L[-1]:.3g}")
        a.legend(frameon=False)
        for i, al in enumerate(ALPHAS):
            f = meta[f"beta_{al}"]
            _ci_bar(b, 2 / al - 0.06, f["estimate"], f["ci"], f.get("at_bound", False), fmt="o", color=f"C{i}",
                    label="first passage (exact τ)" if i == 0 else None)
            if f"profile_{al}" in sim:
                g = sim[f"profile_{al}"]
                _ci_bar(b, 2 / al + 0.06, g["estimate"], g["ci"], g.get("at_bound", False), fmt="s", mfc="none",
                        color=f"C{i}", label=("simulated walk, t ≤ 1.3e4"
                                              + ("\n(its data: other code)" if other_code else "")) if i == 0 else None)
        _beta_frame(b, "distance ~ (log t − c)^β (off-scale: clipped)")
        fig.tight_layout()
        out = out_dir / "first_passage.png"
        save_figure(fig, out)
    return out


# ---------------------------------------------------------------------------------------------- Hoffer
def hoffer_figure(out_dir, quick: bool = False, key: int = 0, force: bool = False) -> Path:
    """Draw ``out_dir/hoffer.png`` from :func:`~sgd_sde.diffusion.hoffer_experiment` (data in
    ``out_dir/hoffer.npz|json``).

    References:
        Hoffer, Hubara & Soudry 2017, "Train longer, generalize better: closing the generalization gap
        in large batch training of neural networks" (Figure 1 and the regime-adaptation table).
    """
    from ..diffusion.hoffer import HofferResult, hoffer_experiment

    from ._cache import LAST_STATUS, write_readable_copy

    out_dir = Path(out_dir)
    stem = out_dir / "hoffer"
    try:
        res = HofferResult.load(stem)
        reason = stale_reason(res.provenance)
        if reason is None and (res.config.get("quick") != quick or res.config.get("key") != np.asarray(
                jax.random.key_data(jax.random.key(key))).tolist()):
            reason = "config or key differs"
    except (FileNotFoundError, ValueError) as err:
        reason = f"no usable saved data ({err})"
    if force or reason is not None:
        path = hoffer_experiment(jax.random.key(key), quick=quick).save(stem)
        write_readable_copy(path, *load_arrays(stem))
        res = HofferResult.load(stem)
        LAST_STATUS[str(stem)] = f"regenerated: {'forced' if force else reason}"
    else:
        LAST_STATUS[str(stem)] = "reused"
    titles = {"fixed": "fixed lr", "sqrt": "lr ∝ √B (Hoffer)", "linear": "lr ∝ B (linear rule)"}
    m = res.mean_distance()  # diverged particles excluded (their number is in the panel titles)
    keep = res.steps >= 1
    spread = res.spread()
    with paper_style():
        fig, axes = plt.subplots(1, len(res.rules) + 1, figsize=(2.4 * (len(res.rules) + 1), 2.6))
        for i, (ax, rule) in enumerate(zip(axes, res.rules)):
            for j, b in enumerate(res.batch_sizes):
                lo, hi = res.slope_ci[i, j]
                ax.plot(np.log(res.steps[keep]), m[i, j, keep], color=f"C{j}",
                        label=f"B={int(b)}: {res.slopes[i, j]:.3g} [{lo:.3g}, {hi:.3g}]")
            ax.axvspan(*np.log(res.window), color="0.93", zorder=0)
            ax.set_xlabel("log t (updates)")
            n_div = int(np.sum(res.diverged[i]))
            ax.set_title(f"{titles[rule]}; spread {spread[rule]:.2f}×" + (
                f"\n{n_div} diverged particles {res.config.get('diverged', 'included')}" if n_div else ""))
            ax.legend(frameon=False, fontsize=6, title="slope [95% CI]", title_fontsize=6)
        axes[0].set_ylabel("E‖w_t − w_0‖")
        ra = res.regime_adaptation()
        ax = axes[-1]
        x = np.arange(len(res.batch_sizes))
        r = res.rules.index("sqrt") if "sqrt" in res.rules else 0
        ax.bar(x - 0.2, ra["fixed_epochs"][r], 0.4, label="same epochs")
        ax.bar(x + 0.2, ra["matched_updates"][r], 0.4, label="same updates")
        ax.set_xticks(x, [str(int(b)) for b in res.batch_sizes])
        ax.set_xlabel("batch size B")
        ax.set_ylabel("final E‖w − w_0‖")
        ax.set_title("regime adaptation, " + titles[res.rules[r]].split(" (")[0])
        ax.set_ylim(0, 1.3 * float(np.max(ra["matched_updates"][r])))
        ax.legend(frameon=False, ncol=2, loc="upper center", fontsize=7)
        fig.tight_layout()
        out = out_dir / "hoffer.png"
        save_figure(fig, out)
    return out
