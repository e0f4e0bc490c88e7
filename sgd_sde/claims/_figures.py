"""Figures drawn from the claims' own simulations (theory and simulation together).

Each recipe ``<name>_figure(out_dir, *, key=0, quick=False) -> Path`` computes its data with the
same cached simulations the claims use, saves it first (``<out_dir>/<name>.npz``: arrays + JSON
metadata with provenance, :func:`sgd_sde.io.save_bundle`), then plots from the saved arrays.

* ``gibbs`` — stationary SGD histograms at three temperatures ``T = ησ²/(2B)`` against
  ``exp(−L/T)`` (McAllester; Jastrzębski et al. 2017).
* ``gibbs_anisotropic`` — the non-Gibbs case: SGD with a dense noise covariance against the Gibbs
  ellipse ``T·H⁻¹`` and the Lyapunov ellipse (Chaudhari & Soatto 2018; Mandt et al. 2017).
* ``robbins_monro`` — ``E x_t²`` under ``η_t = 1/(t+1)`` and a constant rate, simulated and exact.
* ``mccandlish_eps_opt`` — the loss after one step vs ε/ε_opt and ε_opt(B) vs B (McCandlish 2018).
* ``temperature_quadratic`` — the stationary spread against η/B for the plain, heavy-ball and EMA-momentum
  runs the temperature claims use (Smith & Le 2018; McAllester).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figures.style import paper_style, plt, save_figure
from ..io import load_bundle, save_bundle
from ..provenance import provenance

__all__ = ["FIGURES", "gibbs_figure", "gibbs_anisotropic_figure", "robbins_monro_figure", "mccandlish_eps_opt_figure",
           "temperature_figure"]

COLORS = {"theory": "k", "simulation": "C0", "network": "C3"}


def _save(out_dir, name, arrays, config, key):
    path = Path(out_dir) / name
    save_bundle(path, arrays, {"figure": name, "config": config, "provenance": provenance(config, key=int(key))})
    return load_bundle(path)


def gibbs_figure(out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """Stationary SGD on a double well at three temperatures against ``exp(−L/T)``."""
    from ..theory import isotropic_temperature
    from ._sim import gibbs_cdf, gibbs_runs

    runs, land = gibbs_runs(key, quick)
    grid = np.linspace(-2.2, 2.2, 881)
    arrays = {"grid": grid}
    temps = []
    for b, x in runs.items():
        T = float(isotropic_temperature(0.01, b, 20.0))
        temps.append(T)
        _, dens = gibbs_cdf(land, T, grid)
        arrays[f"x_B{b}"] = x
        arrays[f"density_B{b}"] = dens
    arrays["batch_sizes"] = np.array(sorted(runs))
    arrays["temperatures"] = np.array(temps)
    arrays, meta = _save(out_dir, "gibbs", arrays, {"lr": 0.01, "noise_var": 20.0, "quick": quick}, key)
    with paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(9.0, 2.8), sharey=True)
        for ax, b, T in zip(axes, arrays["batch_sizes"], arrays["temperatures"]):
            ax.hist(arrays[f"x_B{b}"], bins=60, range=(-2.2, 2.2), density=True, color=COLORS["simulation"],
                    alpha=0.45, label="SGD (simulation)")
            ax.plot(arrays["grid"], arrays[f"density_B{b}"], color=COLORS["theory"], lw=1.2, label="exp(−L/T)/Z")
            ax.set_title(f"B = {b}: T = ησ²/2B = {T:.3g}")
            ax.set_xlabel("θ")
        axes[0].set_ylabel("stationary density")
        axes[0].legend(frameon=False, loc="upper center")
        fig.suptitle("Learning rate as temperature: SGD on a double well (η = 0.01, σ² = 20)", y=1.0)
        fig.tight_layout()
        out = Path(out_dir) / "gibbs.png"
        save_figure(fig, out)
    return out


def _ellipse(ax, cov, **kw):
    t = np.linspace(0, 2 * np.pi, 200)
    w, v = np.linalg.eigh(cov)
    pts = (v @ (np.sqrt(np.maximum(w, 0))[:, None] * np.stack([np.cos(t), np.sin(t)]))) * 2.0
    ax.plot(pts[0], pts[1], **kw)


def gibbs_anisotropic_figure(out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """Stationary covariance with anisotropic noise: simulation vs Lyapunov vs the best Gibbs guess."""
    from ..theory import stationary_covariance
    from ._sim import dense_ou

    panels = {}
    for iso in (True, False):
        H, C, per = dense_ou(key, quick, isotropic=iso)
        S_emp = per.mean(0)
        S_th = stationary_covariance(H, C, 0.02, 2, discrete=True)
        G = np.linalg.inv(H)
        T = float(np.sum(S_emp * G) / np.sum(G * G))
        panels["iso" if iso else "aniso"] = (S_emp, S_th, T * G, C)
    arrays = {f"{k}_{n}": v for k, (se, st, sg, c) in panels.items()
              for n, v in (("sim", se), ("lyapunov", st), ("gibbs", sg), ("noise_cov", c))}
    arrays, meta = _save(out_dir, "gibbs_anisotropic", arrays, {"H": [1, 4], "lr": 0.02, "B": 2, "quick": quick}, key)
    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4))
        for ax, k, title in zip(axes, ("iso", "aniso"), ("isotropic noise C = I: Gibbs", "dense noise C: not Gibbs")):
            scale = np.sqrt(np.trace(arrays[f"{k}_lyapunov"]))
            _ellipse(ax, arrays[f"{k}_lyapunov"] / scale**2, color=COLORS["theory"], lw=1.2, label="Lyapunov (theory)")
            _ellipse(ax, arrays[f"{k}_sim"] / scale**2, color=COLORS["simulation"], lw=1.2, ls="--",
                     label="SGD (simulation)")
            _ellipse(ax, arrays[f"{k}_gibbs"] / scale**2, color="C2", lw=1.0, ls=":", label="best Gibbs T·H⁻¹")
            ax.set_aspect("equal")
            ax.set_title(title)
            ax.set_xlabel("θ₁ (flat, h = 1) / √tr S")
            ax.set_ylabel("θ₂ (sharp, h = 4) / √tr S")
            lim = 2.4
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        axes[1].legend(frameon=False, fontsize=7, loc="lower right")
        fig.suptitle("2σ ellipses of the stationary law (Chaudhari & Soatto 2018)")
        fig.tight_layout()
        out = Path(out_dir) / "gibbs_anisotropic.png"
        save_figure(fig, out)
    return out


def robbins_monro_figure(out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """``E x_t²`` of SGD on ``x²/2`` with unit gradient noise: ``η_t = 1/(t+1)`` vs a constant ``η = 0.1``."""
    from ..theory import quadratic_second_moment
    from ._sim import robbins_monro_runs

    d = robbins_monro_runs(key, quick)
    steps = d["steps"]
    n = int(steps[-1])
    exact_dec = quadratic_second_moment(1.0 / (np.arange(n) + 1.0), 1.0, 2.0)
    exact_con = quadratic_second_moment(np.full(n, 0.1), 1.0, 2.0)
    arrays = {"steps": steps, "sim_inverse_t": d["inverse_t"].mean(1), "se_inverse_t": d["inverse_t"].std(1) /
              np.sqrt(d["inverse_t"].shape[1]), "sim_constant": d["constant"].mean(1),
              "se_constant": d["constant"].std(1) / np.sqrt(d["constant"].shape[1]),
              "exact_inverse_t": np.asarray(exact_dec), "exact_constant": np.asarray(exact_con)}
    arrays, meta = _save(out_dir, "robbins_monro", arrays, {"x0": 2.0, "sigma2": 1.0, "quick": quick}, key)
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(8.0, 3.0))
        t = np.arange(len(arrays["exact_inverse_t"]))
        k = arrays["steps"] > 0
        for name, c, lab in (("inverse_t", "C0", "η_t = 1/(t+1) (Robbins–Monro)"), ("constant", "C1", "η = 0.1")):
            a.loglog(t[1:], arrays[f"exact_{name}"][1:], color=COLORS["theory"], lw=0.8)
            a.errorbar(arrays["steps"][k], arrays[f"sim_{name}"][k], yerr=1.96 * arrays[f"se_{name}"][k], fmt="o",
                       ms=2.5, color=c, label=lab)
        a.set_xlabel("step t")
        a.set_ylabel("E x_t²")
        a.set_title("simulation (dots) vs exact recursion (lines)")
        a.legend(frameon=False, loc="lower left")
        tt = np.arange(1, 1001)
        for lab, lr, c in (("1/(t+1): Ση = ∞, Ση² < ∞", 1 / (tt + 1.0), "C0"), ("constant 0.1: Ση² = ∞", 0.1 + 0 * tt, "C1"),
                           ("1/(t+1)²: Ση < ∞", 1 / (tt + 1.0) ** 2, "C2"), ("1/√(t+1): Ση² = ∞", 1 / np.sqrt(tt + 1.0), "C4")):
            b.loglog(tt, lr, color=c, label=lab)
        b.set_xlabel("step t")
        b.set_ylabel("learning rate η_t")
        b.set_title("schedules and the Robbins–Monro conditions")
        b.legend(frameon=False, fontsize=7, loc="lower left")
        fig.tight_layout()
        out = Path(out_dir) / "robbins_monro.png"
        save_figure(fig, out)
    return out


def mccandlish_eps_opt_figure(out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """(a) Mean loss after one step vs ε/ε_opt: simulation vs the quadratic model; (b) ε_opt(B)/ε_max."""
    from ..theory import eps_opt, expected_loss_after_step
    from ._sim import mccandlish_setup, one_step_losses
    from .mccandlish2018 import B_STEP, FACTORS, _fit

    H, Sigma, theta0, G = mccandlish_setup()
    d = one_step_losses(key, quick, B_STEP, FACTORS)
    fine = np.linspace(0.05, 2.7, 120) * d["eps_opt"]
    theory = np.array([float(expected_loss_after_step(B_STEP, e, G, H, Sigma, d["loss0"])) for e in fine])
    bs = np.geomspace(0.05, 50, 80) * d["b_noise"]
    arrays = {"lrs": d["lrs"], "sim_mean": d["losses"].mean(0),
              "sim_se": d["losses"].std(0) / np.sqrt(d["losses"].shape[0]), "fine_lrs": fine, "theory": theory,
              "batch": bs, "eps_opt_curve": np.asarray(eps_opt(bs, d["eps_max"], d["b_noise"]), dtype=float),
              "scalars": np.array([d["eps_opt"], d["eps_max"], d["b_noise"], d["loss0"]]),
              "sim_argmin": np.array(_fit(d["lrs"], d["losses"], d["loss0"], np.arange(d["losses"].shape[0]))[0])}
    arrays, meta = _save(out_dir, "mccandlish_eps_opt", arrays, {"batch_size": B_STEP, "quick": quick}, key)
    eo, em, bn, l0 = arrays["scalars"]
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(8.0, 3.0))
        a.plot(arrays["fine_lrs"] / eo, arrays["theory"] - l0, color=COLORS["theory"], label="E L(θ−εĝ) − L (theory)")
        a.errorbar(arrays["lrs"] / eo, arrays["sim_mean"] - l0, yerr=1.96 * arrays["sim_se"], fmt="o", ms=3,
                   color=COLORS["simulation"], label="one SGD step (simulation)")
        a.axvline(1.0, color="0.6", lw=0.6, ls="--")
        a.axvline(2.0, color="0.6", lw=0.6, ls=":")
        a.axhline(0.0, color="0.6", lw=0.6)
        a.set_xlabel("ε / ε_opt(B)")
        a.set_ylabel("loss change after one step")
        a.set_title(f"B = {B_STEP}, B_noise = {bn:.2f}")
        a.legend(frameon=False, loc="upper left")
        b.loglog(arrays["batch"] / bn, arrays["eps_opt_curve"] / em, color=COLORS["theory"],
                 label="ε_opt/ε_max = 1/(1 + B_noise/B)")
        b.loglog([B_STEP / bn], [float(arrays["sim_argmin"]) / em], "o", mfc="none", ms=8, color=COLORS["simulation"],
                 label="simulated argmin (panel a)")
        b.set_xlabel("B / B_noise")
        b.set_ylabel("ε_opt(B) / ε_max")
        b.legend(frameon=False, loc="lower right")
        b.set_title("McCandlish et al. 2018")
        fig.tight_layout()
        out = Path(out_dir) / "mccandlish_eps_opt.png"
        save_figure(fig, out)
    return out


def temperature_figure(out_dir, *, key: int = 0, quick: bool = False) -> Path:
    """Stationary ``Var θ`` (flat direction) against ``η/B``; heavy-ball and EMA points at their effective rates."""
    from ..theory import stationary_covariance
    from ._sim import QUAD_H, stationary_moments

    base = stationary_moments(key, quick)
    mom = stationary_moments(key, quick, "sgd", 0.9, lrs=(0.002, 0.01), batch_sizes=(2, 20))
    ema = stationary_moments(key, quick, "ema", 0.9, lrs=(0.02,), batch_sizes=(2,))
    rows = [(lr / b, m[0], s[0], 0) for (lr, b), (m, s) in base.items()]
    rows += [(lr / (1 - 0.9) / b, m[0], s[0], 1) for (lr, b), (m, s) in mom.items()]
    rows += [(lr / b, m[0], s[0], 2) for (lr, b), (m, s) in ema.items()]
    rows = np.array(rows)
    x = np.geomspace(rows[:, 0].min() / 1.5, rows[:, 0].max() * 1.5, 50)
    H = np.diag(QUAD_H)
    theory = np.array([stationary_covariance(H, np.eye(2), v, 1, discrete=False)[0, 0] for v in x])
    arrays = {"points": rows, "x": x, "theory": theory}
    arrays, meta = _save(out_dir, "temperature_quadratic", arrays, {"h": QUAD_H, "noise_var": 1.0, "quick": quick}, key)
    with paper_style():
        fig, ax = plt.subplots(figsize=(4.6, 3.3))
        ax.loglog(arrays["x"], arrays["theory"], color=COLORS["theory"], lw=1.0, label="T/h = η/(2Bh) (SDE)")
        for g, lab, mk in ((0, "SGD", "o"), (1, "heavy ball μ = 0.9 at η/(1−μ)", "s"), (2, "EMA momentum β = 0.9", "^")):
            p = arrays["points"][arrays["points"][:, 3] == g]
            ax.errorbar(p[:, 0], p[:, 1], yerr=1.96 * p[:, 2], fmt=mk, ms=4, mfc="none", label=lab)
        ax.set_xlabel("effective η / B")
        ax.set_ylabel("stationary Var θ (h = 1)")
        ax.set_title("Temperature ∝ η/B (Smith & Le; McAllester)")
        ax.legend(frameon=False, fontsize=7, loc="upper left")
        fig.tight_layout()
        out = Path(out_dir) / "temperature_quadratic.png"
        save_figure(fig, out)
    return out


FIGURES = {
    "gibbs": gibbs_figure,
    "gibbs_anisotropic": gibbs_anisotropic_figure,
    "robbins_monro": robbins_monro_figure,
    "mccandlish_eps_opt": mccandlish_eps_opt_figure,
    "temperature_quadratic": temperature_figure,
}
