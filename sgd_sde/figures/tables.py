"""Results tables of ``papers/*.md``, written by code from the saved figure data.

A note holds a generated table between two markers::

    <!-- results:wu_ma_e:start -->
    ... (written by write_paper_tables; do not edit by hand) ...
    <!-- results:wu_ma_e:end -->

:func:`write_paper_tables` replaces what lies between each pair with the table :data:`TABLES`
renders from the figure's saved bundle (``figures/<folder>/<name>.npz``: arrays, measured numbers
and provenance in one checked file), ending with a line that says which data, code and key the
numbers come from. :func:`check_paper_tables` lists the tables that differ from what their data
gives, so a test fails when a table and its data disagree.

Examples:
    >>> sorted(TABLES)[:3]
    ['escape', 'first_passage', 'fractional']
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..io import load_arrays, marker_pair, replace_between_markers, split_at_markers

__all__ = ["TABLES", "render_table", "write_paper_tables", "check_paper_tables"]

_START = re.compile(r"<!-- results:([a-z0-9_]+):start -->")
_END = re.compile(r"<!-- results:([a-z0-9_]+):end -->")


def _f(x, d=4) -> str:
    """A number to ``d`` significant digits (``—`` for None/NaN)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{float(x):.{d}g}"


def _ci(ci, d=4) -> str:
    return f"[{_f(ci[0], d)}, {_f(ci[1], d)}]"


def _flags(fit: dict) -> str:
    """The bound/bootstrap flags of a :class:`~sgd_sde.diffusion.Fit` dict, or ``""``."""
    out = []
    if fit.get("at_bound"):
        out.append("**β at its search bound**")
    if fit.get("n_boot_failed"):
        out.append(f"{fit['n_boot_failed']}/{fit['n_boot']} bootstrap fits failed")
    if fit.get("n_boot_at_bound"):
        out.append(f"{fit['n_boot_at_bound']}/{fit['n_boot']} bootstrap fits at a bound")
    return "; ".join(out)


def _table(header, rows) -> str:
    cell = lambda c: str(c).replace("|", "\\|")  # noqa: E731  (a bar inside a cell, e.g. E|X|)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- tables
def _wu_ma_e(a, m) -> str:
    from .stability import WME_H

    r = m["results"]
    lr, h = r["lr"], WME_H
    logs = [math.log((1 - lr * (h[i] + h[j]) / 2) ** 2) for i, j in itertools.combinations(range(h.size), 2)]
    lb = " (lower bound: diverged particles included)" if r.get("factor_is_lower_bound") else ""
    rows = [
        [f"SGD factor at η = {lr}", _f(r["factor_exact"], 5),
         f"{_f(r['factor_simulated'], 5)}, 95% CI {_ci(r['factor_ci'], 5)} (T = {len(a['t']) - 1}){lb}"],
        [f"GD factor at η = {lr}", _f(r["gd_factor"], 4), _f(r["gd_factor"], 4) + " (deterministic)"],
        ["SGD threshold (B = 2)", _f(r["threshold_exact"], 5),
         f"bracket {_ci(r['bracket'], 3)}; contains exact: {'yes' if r['bracket_contains_exact'] else 'no'}"],
        ["GD threshold 2/a", _f(r["gd_threshold"], 4),
         "outside the bracket" if not (r["bracket"][0] < r["gd_threshold"] < r["bracket"][1]) else "inside the bracket"],
        [f"(lr, B) map, {a['lrs'].size} × {a['batch_sizes'].size} grid", "contour F = 1", _map_row(a, r)],
        [f"typical-path rate E log(1−ηĥ)² at {lr}", _f(float(np.mean(logs)), 4), _f(r["lyapunov_simulated"], 4)],
    ]
    return _table(["quantity", "exact", "simulated"], rows)


def _map_row(a, r) -> str:
    """Two-sided agreement of the (lr, B) map: at points with sampling noise, the share whose
    simulated 95% CI holds the exact factor, and the batch sizes (rows) whose every such point
    does; where B = n every particle sees the full batch (GD: the interval has zero width), the
    largest relative difference instead (float32 rounding)."""
    from .stability import map_agreement

    exact, lo, hi, fac = a["exact_factor"], a["sim_lo"], a["sim_hi"], a["sim_factor"]
    inside, _ = map_agreement(exact, lo, hi, fac)
    noisy = hi > lo
    out = (f"exact factor inside the simulated two-sided 95% CI at {int(inside[noisy].sum())} of {int(noisy.sum())} "
           f"points with sampling noise ({100 * inside[noisy].mean():.1f}%)")
    # one batch size's points share their minibatch draws (common random numbers over the lrs):
    # their errors move together, so rows are the independent units
    rows = noisy.any(axis=1)
    whole = (inside | ~noisy).all(axis=1)[rows]
    out += f"; batch sizes with every such point inside: {int(whole.sum())} of {int(rows.sum())}"
    if (~noisy).any():
        rel = float(np.max(np.abs(fac[~noisy] / exact[~noisy] - 1)))
        out += f"; at the {int((~noisy).sum())} points with B = n (no noise): max relative difference {rel:.1e}"
    return out + f"; {r['map_n_diverged']} diverged particles ({r['map_diverged']})"


def _radius(a, m) -> str:
    r = m["results"]
    rho = a["rhos"]
    fmt = lambda v: "**0**" if v == 0 else f"{v:.3f}"  # noqa: E731
    t1 = _table(["ρ(H)"] + [_f(x, 3) for x in rho],
                [["rim 2/√ρ"] + [f"{v:.3f}" for v in a["rim"]],
                 ["r, Hessian-shaped"] + [fmt(v) for v in a["hessian_radius"]],
                 ["r, isotropic (same tr)"] + [fmt(v) for v in a["isotropic_radius"]]])
    rows = []
    for name, label in (("hessian", "Hessian-shaped"), ("isotropic", "isotropic")):
        res = r[name]
        if res.get("slope") is None:
            rows.append([label, "—", "—", res.get("note", "")])
        else:
            rows.append([label, _f(res["slope"], 3), _ci(res["ci"], 3), "yes" if res["minus_one_in_ci"] else "no"])
    t2 = _table(["noise", "fitted slope (stable points)", "95% CI", "−1 in CI?"], rows)
    return t1 + "\n\n" + t2


def _escape(a, m) -> str:
    r = m["results"]
    rows = [[_f(x["T"], 3), f"{_f(x['simulated'], 5)} ± {_f(x['se'], 2)}", _f(x["exact"], 5),
             f"{100 * x['sim_rel_err']:+.1f}%", _f(x["kramers"], 5), f"{100 * x['kramers_rel_err']:+.1f}%"]
            for x in r["isotropic"]]
    t1 = _table(["T", "simulated τ ± SE", "exact (quadrature)", "sim. error", "Kramers", "Kramers error"], rows)
    dt = r["dt_control_T0.1"]
    xie = r["xie"]
    sf = r["sharp_flat"]
    ratios = a["ratios"]
    t_hess = _table(["B/η"] + [_f(x, 3) for x in ratios],
                    [["exact τ (quadrature)"] + [_f(x, 4) for x in a["xie_exact"]],
                     ["simulated τ ± SE"] + [f"{_f(x, 4)} ± {_f(e, 2)}" for x, e in zip(a["xie_mean"], a["xie_se"])]])
    t2 = _table(["quantity", "value"], [
        [f"τ at T = 0.1 with dt = {_f(dt['dt'], 3)} (time-step control)", f"{_f(dt['simulated'], 5)} ± {_f(dt['se'], 2)}"],
        ["Xie slope d log τ / d(B/η), exact", _f(xie["slope_exact"], 4)],
        ["… simulated (weighted fit)", f"{_f(xie['slope_simulated'], 4)} ± {_f(xie['slope_se'], 2)}"],
        ["… quadrature secant over the same B/η", _f(xie["slope_quadrature_secant"], 4)],
        ["τ_flat/τ_sharp, Hessian-shaped, exact (B/η = " + ", ".join(_f(x, 2) for x in a["sf_ratios"]) + ")",
         ", ".join(_f(x, 4) for x in sf["ratio_hessian_exact"])],
        ["… simulated (B/η = " + ", ".join(_f(x, 2) for x in a["sf_sim_ratios"]) + ")",
         ", ".join(_f(x, 4) for x in sf["ratio_hessian_sim"])],
        ["τ_flat/τ_sharp, isotropic, exact", ", ".join(_f(x, 4) for x in sf["ratio_isotropic_exact"])],
        ["… simulated", ", ".join(_f(x, 4) for x in sf["ratio_isotropic_sim"])],
    ] + ([["numerical blow-ups (excluded from the means, not escapes)",
           ", ".join(f"{k}: {v}" for k, v in r["blowups"].items())],
          ["smallest fraction escaped within max_steps (< 1: censored)",
           ", ".join(f"{k}: {_f(v, 4)}" for k, v in r["min_fraction_escaped"].items())]] if "blowups" in r else []))
    return t1 + "\n\n" + t_hess + "\n\n" + t2


def _zhu(a, m) -> str:
    r = m["results"]
    rows = [[name, _f(r["indicator"][name], 4), f"{100 * r['max_rel_err'][name]:.2f}%"]
            for name in ("top_eigenvector", "hessian", "isotropic") if name in r["indicator"]]
    return _table(["noise shape (tr Σ = 1)", "tr(HΣ)", "max |simulated/exact − 1| over t"], rows) + (
        f"\n\n{r['n_particles']} particles, Euler–Maruyama dt = {r['dt']}.")


def _sinai(a, m) -> str:
    rows = []
    for key, label in (("linearised", "√E|Xₙ| = a(log n − c), slope a (Kesten: √(5/6) = 0.913)"),
                       ("profile", "profile fit a(log n − c)^β, β"), ("loglog", "naive log-log exponent (c = 0)")):
        f = m[key]
        rows.append([label, _f(f["estimate"], 4), _ci(f["ci"], 4), _f(f["r2"], 5),
                     f"[{f['t_range'][0]}, {f['t_range'][1]}]", _flags(f)])
    t1 = _table(["fit", "estimate", "95% CI", "R²", "n range", "flags"], rows)
    steps = a["steps"]
    d = np.abs(a["positions"]).astype(np.float64)
    rows = []
    for k in (1 << 13, 1 << 16, 1 << 19, 1 << 22):
        hit = np.flatnonzero(steps == k)
        if hit.size:
            x = d[hit[0]] / math.log(k) ** 2
            rows.append([f"2^{int(math.log2(k))}", f"{x.mean():.3f} ± {x.std(ddof=1) / math.sqrt(x.size):.3f}"])
    t2 = _table(["n", "σ²E|Xₙ|/(log n)² ± SE"], rows)
    return t1 + "\n\n" + t2 + f"\n\n{m['n_walkers']} walkers, n ≤ {m['n_steps']}."


def _first_passage(a, m) -> str:
    rows = []
    for al in (0.5, 1.0, 1.5):
        f = m.get(f"beta_{al}")
        if f is None:
            continue
        rows.append([al, _f(2 / al, 4), _f(f["estimate"], 4), _ci(f["ci"], 4),
                     f"{100 * (f['estimate'] * al / 2 - 1):+.1f}%", _f(f["r2"], 5), _flags(f)])
    cfg = m["config"]
    return _table(["α", "2/α", "fitted β", "95% CI", "vs 2/α", "R²", "flags"], rows) + (
        f"\n\n{cfg['n_environments']} environments, L ≤ {a['distances'][-1]:.4g}, T = {cfg['temperature']}.")


def _fractional(a, m) -> str:
    rows = []
    for al in (0.5, 1.0, 1.5):
        for method in ("profile", "loglog"):
            f = m.get(f"{method}_{al}")
            if f is not None:
                rows.append([al, method, _f(2 / al, 4), _f(f["estimate"], 4), _ci(f["ci"], 4), _f(f["r2"], 4),
                             _flags(f)])
        p = m.get(f"power_{al}")
        if p is not None:
            rows.append([al, "E|X|^(α/2) vs log t (R² of a line)", "—", _f(p["estimate"], 4), _ci(p["ci"], 4),
                         _f(p["r2"], 4), _flags(p)])
    return _table(["α", "fit (t ≥ 10)", "2/α", "estimate", "95% CI", "R²", "flags"], rows)


def _hoffer(a, m) -> str:
    rules = m["rules"]
    bs = a["batch_sizes"]
    rows = []
    for i, rule in enumerate(rules):
        for j, b in enumerate(bs):
            rows.append([rule, int(b), _f(a["lrs"][i, j], 4), _f(a["slopes"][i, j], 4), _ci(a["slope_ci"][i, j], 4),
                         _f(a["r2"][i, j], 4), int(a["diverged"][i, j])])
    t1 = _table(["rule", "B", "lr", "slope of E‖w_t − w_0‖ vs log t", "95% CI", "R²", "diverged"], rows)
    spread = [[rule, _f(float(np.max(s) / np.min(s)), 3)] for rule, s in zip(rules, a["slopes"])]
    t2 = _table(["rule", "spread max/min slope over B"], spread)
    cfg = m["config"]
    return t1 + "\n\n" + t2 + (f"\n\nd = {cfg['dim']}, α = {cfg['alpha']}, {cfg['n_particles']} particles, "
                               f"K = {cfg['n_steps']} updates, fit window [{_f(m['window'][0], 4)}, "
                               f"{_f(m['window'][1], 4)}]; diverged particles {cfg.get('diverged', 'included')}.")


# ------------------------------------------------------------ Hoffer et al. 2017 / Bouchaud–Georges claims
#: σ²E|Xₙ|/(log n)² at n = 2^13, 2^16, 2^19, 2^22: the calibration of the theory anchors (§9, 2000
#: walkers) that claim S2 of papers/hoffer-2017.md compares with — expected values, not measurements.
SINAI_CALIBRATION = {1 << 13: 0.44, 1 << 16: 0.49, 1 << 19: 0.53, 1 << 22: 0.553}


def _all_of(outcomes) -> str:
    """One verdict for several checks of one claim: refuted if any is, supported if all are."""
    outcomes = list(outcomes)
    return "refuted" if "refuted" in outcomes else "supported" if all(o == "supported" for o in outcomes) else "inconclusive"


def _line_slope(x, y) -> float:
    return float(np.polyfit(np.asarray(x, np.float64), np.asarray(y, np.float64), 1)[0])


def _late_exponent(times, d, n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
    """Slope of log E|X| against log t over the last two octaves of ``times``, with its bootstrap SE
    over environments (the columns of ``d``; fixed seed, so the table is deterministic)."""
    keep = times >= times[-1] / 4
    lt, dk = np.log(times[keep]), np.abs(d[keep])
    rng = np.random.default_rng(seed)
    w = dk.shape[1]
    boots = [_line_slope(lt, np.log(dk[:, rng.integers(0, w, w)].mean(1))) for _ in range(n_boot)]
    return _line_slope(lt, np.log(dk.mean(1))), float(np.std(boots, ddof=1))


def _pow2(n) -> str:
    return f"2^{int(round(math.log2(n)))}"


def _hoffer_claims(bundles) -> str:
    """The measured column of the claims table of papers/hoffer-2017.md (S1–S3 Sinai 1982 / Kesten
    1986; B1–B3 Bouchaud & Georges 1990; H1–H3 Hoffer, Hubara & Soudry 2017, "Train longer,
    generalize better"), each with a verdict from :func:`sgd_sde.verdicts.judge` on the criterion
    stated in its row."""
    from ..diffusion.hoffer import HofferResult
    from ..verdicts import judge

    rows = []
    # --- Sinai's walk
    a, m = bundles["diffusion/sinai"]
    lin, loglog, prof = m["linearised"], m["loglog"], m["profile"]
    rows.append(["S1", f"a = {_f(lin['estimate'], 3)}, 95% CI {_ci(lin['ci'], 3)}, SE {_f(lin['se'], 2)}, "
                       f"c = {_f(lin['params']['c'], 3)}, R² = {_f(lin['r2'], 4)} (n ∈ [{_pow2(lin['t_range'][0])}, "
                       f"{_pow2(lin['t_range'][1])}], {m['n_walkers']} walkers)",
                 "95% CI of a inside [0.80, 0.95]", judge(lin["estimate"], 0.875, tolerance=0.075, ci=lin["ci"])])
    steps, d = a["steps"], np.abs(a["positions"]).astype(np.float64)
    cells, outcomes = [], []
    for n, ref in SINAI_CALIBRATION.items():
        hit = np.flatnonzero(steps == n)
        if hit.size:
            x = d[hit[0]] / math.log(n) ** 2
            mean, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
            cells.append(f"{mean:.3f} ± {se:.3f} ({(mean - ref) / se:+.1f} SE)")
            outcomes.append(judge(mean, ref, tolerance=4 * se))
    rows.append(["S2", "at " + ", ".join(_pow2(n) for n in SINAI_CALIBRATION) + ": " + ", ".join(cells),
                 "each within 4 SE of the calibration", _all_of(outcomes)])
    sq = np.sqrt(d.mean(1))
    local = [(lo, hi, _line_slope(np.log(steps[(steps >= lo) & (steps <= hi)]), sq[(steps >= lo) & (steps <= hi)]))
             for lo, hi in ((1 << 8, 1 << 16), tuple(lin["t_range"]))]
    rows.append(["S3", f"log-log β = {_f(loglog['estimate'], 3)} {_ci(loglog['ci'], 3)}; profile fit β = "
                       f"{_f(prof['estimate'], 3)} {_ci(prof['ci'], 3)}; local slope of √E|Xₙ| vs log n "
                       + ", ".join(f"{_f(s, 2)} on [{_pow2(lo)}, {_pow2(hi)}]" for lo, hi, s in local),
                 "log-log 95% CI above 2 (biased)", judge(loglog["estimate"], 2.0, kind="greater", ci=loglog["ci"])])
    # --- fractional potentials
    fm = bundles["diffusion/first_passage"][1]
    cells, outcomes, r2 = [], [], []
    for al in (0.5, 1.0, 1.5):
        f = fm.get(f"beta_{al}")
        if f is None:
            continue
        cells.append(f"α = {al}: β = {_f(f['estimate'], 4)} {_ci(f['ci'], 4)} ({100 * (f['estimate'] * al / 2 - 1):+.1f}% "
                     f"from 2/α = {_f(2 / al, 4)})")
        outcomes.append(judge(f["estimate"], 2 / al, tolerance=0.25 * 2 / al, ci=f["ci"]))
        r2.append(f["r2"])
    ra, rm = bundles["diffusion/fractional"]
    sim = [f"α = {al}: {_f(rm[f'loglog_{al}']['estimate'], 3)} {_ci(rm[f'loglog_{al}']['ci'], 3)}"
           for al in (0.5, 1.0, 1.5) if f"loglog_{al}" in rm]
    prof_ci = [_ci(rm[f"profile_{al}"]["ci"], 3) for al in (0.5, 1.0, 1.5) if f"profile_{al}" in rm]
    rows.append(["B1", "(a) exact first passage: " + "; ".join(cells) + f"; R² ≥ {_f(min(r2), 4)}. (b) simulated "
                       f"walks, log-log on t ∈ [{_f(rm['loglog_0.5']['t_range'][0], 3)}, "
                       f"{_f(rm['loglog_0.5']['t_range'][1], 3)}]: " + "; ".join(sim)
                       + "; 3-parameter profile CIs " + ", ".join(prof_ci),
                 "(a) each 95% CI inside ±25% of 2/α", _all_of(outcomes)])
    pw = [(al, rm[f"power_{al}"]["r2"]) for al in (0.5, 1.0, 1.5) if f"power_{al}" in rm]
    rows.append(["B2", "R² of E|X|^(α/2) vs log t: " + ", ".join(f"{_f(r, 3)} (α = {al})" for al, r in pw),
                 "every R² > 0.98", _all_of(judge(r, 0.98, kind="greater") for _, r in pw)])
    times = ra["times"]
    late = [(al, *_late_exponent(times, ra[f"distances_{al}"])) for al in (0.5, 1.0, 1.5) if f"distances_{al}" in ra]
    rows.append(["B3", "late exponent of E|X| vs t (t ∈ [" + f"{_f(times[-1] / 4, 3)}, {_f(times[-1], 3)}]): "
                       + ", ".join(f"{e:.3f} ± {se:.3f} (α = {al})" for al, e, se in late),
                 "3 SE below ½ (free diffusion)",
                 _all_of(judge(e, 0.5, kind="less", ci=(e - 3 * se, e + 3 * se)) for _, e, se in late)])
    # --- Hoffer's experiment
    ha, hm = bundles["diffusion/hoffer"]
    h = HofferResult(rules=tuple(hm["rules"]), window=tuple(hm["window"]), config=hm["config"],
                     provenance=hm.get("provenance"), **ha)
    i, j = np.unravel_index(int(np.argmin(h.r2)), h.r2.shape)
    md = h.mean_distance()
    keep = (h.steps >= h.window[0]) & (h.steps <= h.window[1])
    expo = [_line_slope(np.log(h.steps[keep]), np.log(md[r, b, keep])) for r in range(len(h.rules))
            for b in range(h.batch_sizes.size)]
    rows.append(["H1", f"R² ≥ {_f(h.r2.min(), 3)} in all {h.r2.size} runs (lowest: {h.rules[i]} rule, B = "
                       f"{int(h.batch_sizes[j])}); local exponents of E‖w_t − w_0‖ vs t on the fit window: "
                       f"{_f(min(expo), 2)}–{_f(max(expo), 2)}",
                 "every R² > 0.95", judge(float(h.r2.min()), 0.95, kind="greater")])
    spread = h.spread()
    boot = h.spread_bootstrap()
    ls = np.log(np.asarray([spread[r] for r in h.rules]))
    se = boot.std(0, ddof=1)
    rix = {r: k for k, r in enumerate(h.rules)}
    cells = [f"spread {' → '.join(_f(spread[r], 3) + '× (' + r + ')' for r in h.rules)}",
             "log-spread " + ", ".join(f"{v:.2f} ± {e:.2f}" for v, e in zip(ls, se))]
    verdict = "—"
    if "fixed" in rix and "sqrt" in rix:
        diff = boot[:, rix["fixed"]] - boot[:, rix["sqrt"]]
        dm, ds = float(ls[rix["fixed"]] - ls[rix["sqrt"]]), float(diff.std(ddof=1))
        cells.append(f"fixed − √B = {dm:.2f} ± {ds:.2f} (paired, {dm / ds:.1f} SE)")
        ks = rix["sqrt"]
        verdict = (f"shrinks: {judge(dm, 0.0, kind='greater', ci=(dm - 2 * ds, dm + 2 * ds))}; equalises: "
                   f"{judge(float(ls[ks]), 0.0, ci=(float(ls[ks] - 2 * se[ks]), float(ls[ks] + 2 * se[ks])))}")
    rows.append(["H2", "; ".join(cells) + " (slopes: table above)",
                 "shrinks: fixed − √B log-spread > 0 at 2 SE; equalises: √B log-spread = 0 within 2 SE", verdict])
    reg = h.regime_adaptation()
    cells, verdict = [], "—"
    for r in ("sqrt", "linear"):
        if r in rix:
            k = rix[r]
            cells.append(f"{r} rule: " + ", ".join(f"{v:.0f}" for v in reg["fixed_epochs"][k]) + " (same epochs) → "
                         + ", ".join(f"{v:.0f}" for v in reg["matched_updates"][k]) + " (same updates)")
    if "sqrt" in rix:
        k = rix["sqrt"]
        ratio = float(reg["matched_updates"][k, -1] / reg["matched_updates"][k, 0])
        gain = float(np.min(reg["matched_updates"][k, 1:] / reg["fixed_epochs"][k, 1:]) - 1)
        cells.append(f"√B, largest/smallest B with the same updates: {ratio:.2f}")
        verdict = f"more updates help: {judge(gain, 0.0, kind='greater')}; gap closed: {judge(ratio, 1.0, tolerance=0.1)}"
    rows.append(["H3", "final E‖w_K − w_0‖ over B = " + ", ".join(str(int(b)) for b in h.batch_sizes) + ": "
                       + "; ".join(cells),
                 "help: √B distance grows with the updates at every B > B₀; closed: largest/smallest B within 10% of 1",
                 verdict])
    return _table(["#", "measured", "criterion", "verdict (judge)"], rows)


#: table name -> (data stem relative to the figures root, renderer(arrays, metadata) -> markdown), or
#: (a tuple of stems, renderer({stem: (arrays, metadata)}) -> markdown) for a table drawn from several
#: saved bundles
TABLES: dict[str, tuple[str, Callable]] = {
    "wu_ma_e": ("stability/wu_ma_e", _wu_ma_e),
    "radius": ("stability/radius", _radius),
    "escape": ("stability/escape", _escape),
    "zhu": ("stability/zhu", _zhu),
    "sinai": ("diffusion/sinai", _sinai),
    "first_passage": ("diffusion/first_passage", _first_passage),
    "fractional": ("diffusion/fractional", _fractional),
    "hoffer": ("diffusion/hoffer", _hoffer),
    "hoffer_claims": (("diffusion/sinai", "diffusion/first_passage", "diffusion/fractional", "diffusion/hoffer"),
                      _hoffer_claims),
}


def _provenance_line(stem: str, meta: dict) -> str:
    prov = meta.get("provenance") or {}
    quick = meta.get("quick", (meta.get("config") or {}).get("quick"))
    commit = str(prov.get("git_commit", "unknown"))
    return (f"<sub>Written by `sgd_sde.figures.write_paper_tables` from `figures/{stem}.npz` "
            f"({'quick' if quick else 'full'} run, key {prov.get('key')!s}); code {prov.get('code', 'unknown')} "
            f"(sgd_sde {prov.get('version', '?')}, commit {commit[:12]}{'+dirty' if commit.endswith('+dirty') else ''}), "
            f"made {prov.get('date', '?')}. Do not edit by hand.</sub>")


def render_table(name: str, figures_dir="figures") -> str:
    """The markdown of table ``name`` from its saved data (without the markers).

    Raises:
        ValueError: an unknown ``name``, or data that cannot be read (naming the file).
        FileNotFoundError: no saved data.
    """
    if name not in TABLES:
        raise ValueError(f"unknown results table {name!r}; known: {sorted(TABLES)}")
    stem, render = TABLES[name]
    if isinstance(stem, tuple):
        bundles = {s: load_arrays(Path(figures_dir) / s) for s in stem}
        return (render(bundles) + "\n\n" + "<br>\n".join(_provenance_line(s, meta) for s, (_, meta) in bundles.items())
                + "\n")
    arrays, meta = load_arrays(Path(figures_dir) / stem)
    return render(arrays, meta) + "\n\n" + _provenance_line(stem, meta) + "\n"


def _blocks(path: Path, text: str) -> list[str]:
    """The names of the results blocks of one note, each checked to have exactly one start and one
    end marker (a ValueError naming the file otherwise)."""
    starts, ends = _START.findall(text), _END.findall(text)
    orphans = sorted(set(ends) - set(starts))
    if orphans:
        raise ValueError(f"{path}: unmatched results marker {marker_pair(orphans[0])[1]!r} (no start marker)")
    for name in dict.fromkeys(starts):
        split_at_markers(text, name, where=str(path))
    return list(dict.fromkeys(starts))


def write_paper_tables(papers_dir="papers", figures_dir="figures") -> dict[str, list[str]]:
    """Rewrite every ``<!-- results:NAME:start/end -->`` block in ``papers_dir/*.md`` from the data.

    Returns:
        ``{note path: [table names written]}`` for the notes that hold tables.

    Raises:
        ValueError: an unknown table name or an unmatched marker (naming them).
    """
    written = {}
    for path in sorted(Path(papers_dir).glob("*.md")):
        names = _blocks(path, path.read_text(encoding="utf-8"))
        bodies = {name: render_table(name, figures_dir) for name in names}  # all rendered before any write
        for name, body in bodies.items():
            replace_between_markers(path, name, "\n" + body)
        if names:
            written[str(path)] = names
    return written


def check_paper_tables(papers_dir="papers", figures_dir="figures") -> list[str]:
    """``"<note>: <table>"`` for every generated table whose text differs from what its data gives
    (empty when all agree)."""
    bad = []
    for path in sorted(Path(papers_dir).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for name in _blocks(path, text):
            if split_at_markers(text, name, where=str(path))[1] != "\n" + render_table(name, figures_dir):
                bad.append(f"{path}: {name}")
    return bad
