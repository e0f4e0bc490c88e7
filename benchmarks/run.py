"""Time ``sgd_sde.simulate`` against hand-written JAX, diffrax and NumPy on the same SDE update.

Usage::

    python benchmarks/run.py --quick                 # ~1-2 min smoke run, same code paths
    python benchmarks/run.py                         # the full sizes of benchmarks/RESULTS.md
    python benchmarks/run.py --device gpu --out DIR  # on a GPU (adds d=10, P=10^6)

Methodology: one warm-up call (reported as "first call", compile included), then the median of
``--repeats`` (≥ 3) timed calls, each ending in ``block_until_ready``. ``simulate`` runs with
observables off and a single save at the end, so every implementation does the same work.
The machine's ceilings are measured here: the float32 matmul peak (square ``jnp.dot``), the
rates of standard normals and uniforms drawn with threefry inside a ``lax.scan``, and memory
bandwidth; every row reports the roofline bound of its algorithm (random numbers, memory or
matmul; :func:`benchmarks.cases.roofline`) and the fraction of it reached. A separate A/B times
``simulate``'s default observables against ``observables=()``. Shared CPUs are noisy
(±20% between runs): compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._bootstrap import N_BOOT, bootstrap_medians  # noqa: E402
from benchmarks.cases import (  # noqa: E402
    CASES, ENGINE_GENERATOR, GPU_CASES, implementations, make_problem, roofline, serial_bound_s,
)


def _timeit(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def measure_ceilings(quick: bool, gpu: bool) -> dict[str, float]:
    """The machine's rates that bound the cases (the roofline of :func:`benchmarks.cases.roofline`):
    float32 matmul peak (GFLOP/s, square ``jnp.dot``), threefry normals (``jax.random.normal`` and the
    engine's :func:`sgd_sde.noise.standard_normal`) and uniforms drawn inside a ``lax.scan`` with the
    engine's ``fold_in(key, t)`` (M/s), and memory bandwidth (GB/s, read +
    write of a float32 array far larger than the caches, updated in a scan: ``x ← a x + b``)."""
    import jax
    import jax.numpy as jnp

    from sgd_sde.noise import standard_normal

    n = 8192 if gpu else (1024 if quick else 2048)
    a = jnp.ones((n, n), jnp.float32)
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()
    best = min(_timeit(lambda: mm(a).block_until_ready(), 1)[1] for _ in range(5))
    shape = (16, 1 << 20) if gpu else (16, 65536)
    steps = 200 if gpu else (20 if quick else 100)
    key = jax.random.key(1)

    def rate(draw_fn):
        @jax.jit
        def draw(c):
            return jax.lax.scan(lambda c, t: (c + draw_fn(jax.random.fold_in(key, t), shape), None), c,
                                jnp.arange(steps))[0]

        c0 = jnp.zeros(shape, jnp.float32)
        _, t = _timeit(lambda: draw(c0).block_until_ready(), 3)
        return shape[0] * shape[1] * steps / t / 1e6

    words = (1 << 26) if gpu else (1 << 23)  # 256 MB / 32 MB of float32, beyond the last-level cache
    passes = 50 if gpu else (5 if quick else 20)

    @jax.jit
    def stream(x):
        return jax.lax.fori_loop(0, passes, lambda i, x: x * 0.999 + 0.001, x)

    x0 = jnp.ones(words, jnp.float32)
    stream(x0).block_until_ready()
    t_mem = min(_timeit(lambda: stream(x0).block_until_ready(), 1)[1] for _ in range(3))
    return {"matmul_gflops": 2 * n**3 / best / 1e9, "matmul_n": n,
            "normals_M_per_s": rate(lambda k, sh: jax.random.normal(k, sh)),
            "engine_normals_M_per_s": rate(lambda k, sh: standard_normal(k, sh)),
            "uniforms_M_per_s": rate(lambda k, sh: jax.random.uniform(k, sh)),
            "membw_GB_per_s": 8 * words * passes / t_mem / 1e9}


# pause between timed calls: OpenBLAS worker threads (the NumPy contenders) spin-wait after a
# call, and whoever runs next in the same process pays for it (issue 18: the low-rank default-bound
# row always followed the NumPy loop; results/cpu-amd-stop14-fixed-order is that fixed-order run)
SETTLE_S = 0.2


def run_case(case, device: str, repeats: int, skip: list[str], ceilings: dict) -> list[dict]:
    """Warm up every implementation, then time them round-robin (so load drift hits all alike).

    Each round runs the implementations in a new order (a fixed-seed shuffle, recorded in the
    rows), with :data:`SETTLE_S` between calls, so that no implementation always follows the same
    one: a contender's after-effects (spinning BLAS threads, a cache it flushed) do not fall on one
    neighbour in every repetition."""
    pb = make_problem(case)
    built = {}
    for name, builder in implementations(case, device).items():
        if any(s.lower() in name.lower() for s in skip):
            continue
        fn, wk = builder(pb)
        t0 = time.perf_counter()
        fn()
        built[name] = (fn, wk, time.perf_counter() - t0, [])
    order_rng = random.Random(f"{case.name}-order")
    orders = []
    for _ in range(repeats):
        names = list(built)
        order_rng.shuffle(names)
        orders.append(names)
        for name in names:
            fn, _, _, times = built[name]
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    rows = []
    for name, (fn, wk, first, times) in built.items():
        t = statistics.median(times)
        row = {
            "case": case.name, "impl": name, "d": case.d, "P": int(wk.particle_steps // case.S), "S": case.S,
            "first_s": first, "median_s": t, "Msteps_per_s": wk.particle_steps / t / 1e6,
            "times_s": times, "position_in_round": [o.index(name) for o in orders],
            "gflops": wk.flops / t / 1e9, "Mvariates_per_s": wk.variates / t / 1e6,
        }
        row["pct_matmul_peak"] = 100 * row["gflops"] / ceilings["matmul_gflops"]
        row["pct_normal_rate"] = 100 * row["Mvariates_per_s"] / ceilings["normals_M_per_s"]
        own = {"normal": "normals_M_per_s", "engine normal": "engine_normals_M_per_s", "uniform": "uniforms_M_per_s"}
        row["pct_rng_rate"] = 100 * row["Mvariates_per_s"] / ceilings[own[wk.rng]]  # of its own generator's rate
        roof = roofline(wk, ceilings)  # this implementation's own algorithm's least time
        row.update(roofline_bound=roof["bound"], roofline_bound_s=roof["bound_s"],
                   roofline_components_s=roof["bound_components_s"], pct_of_bound=100 * roof["bound_s"] / t,
                   variates=wk.variates, bytes=wk.bytes, flops=wk.flops, rng=wk.rng)
        rows.append(row)
        print(f"  {name:48s} {t:8.3f}s  {row['Msteps_per_s']:9.3f} M p-steps/s  {row['gflops']:7.1f} GFLOP/s "
              f"({row['pct_matmul_peak']:4.0f}% mm, {row['pct_rng_rate']:4.0f}% rng)  "
              f"{row['pct_of_bound']:4.0f}% of its {roof['bound']} bound  first {first:.2f}s", flush=True)
    # the case's bound: the least of its algorithms' bounds (per particle-step, as VBT rows run
    # fewer particles), and every row's fraction of it
    best = min(r["roofline_bound_s"] / (r["P"] * r["S"]) for r in rows) if rows else float("nan")
    for r in rows:
        r["case_bound"] = min(rows, key=lambda o: o["roofline_bound_s"] / (o["P"] * o["S"]))["roofline_bound"]
        r["pct_of_case_bound"] = 100 * best * r["P"] * r["S"] / r["median_s"]
    # ratios: sgd_sde against every other implementation of the same variant
    # (the default divergence_bound, and bound=inf: only non-finite values, checked per block)
    for r in rows:
        low = "low-rank" in r["impl"]
        ours = [o for o in rows if o["impl"].startswith("sgd_sde") and ("low-rank" in o["impl"]) == low]
        for key, inf in (("sgd_sde_speedup", False), ("sgd_sde_inf_speedup", True)):
            mine = [o for o in ours if o["impl"].endswith("bound=inf") == inf]
            if mine:
                r[key] = mine[0]["Msteps_per_s"] / r["Msteps_per_s"]
    return rows


def memory_check(quick: bool) -> dict:
    """Peak RSS *during* a long run with observables every 100 steps (fresh process).

    The process's high-water mark is reset (``/proc/self/clear_refs``) after imports and set-up,
    so the import-time peak does not hide the run's own footprint.
    """
    P, S, every = (10_000, 2_000, 20) if quick else (100_000, 10_000, 100)
    code = f"""
import jax, jax.numpy as jnp, numpy as np
from sgd_sde import simulate
from sgd_sde.landscapes import Quadratic
from sgd_sde.dynamics import EulerMaruyama
from sgd_sde.noise import Diagonal
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
d = 10
H = np.diag(np.logspace(-2, 0, d)).astype(np.float32)
args = (Quadratic(H), EulerMaruyama(0.01, 32), jnp.ones(d, jnp.float32))
kw = dict(noise=Diagonal(np.diag(H)), n_particles={P}, save_every={every}, observables=("loss", "distance_from_init"),
          progress=False)
simulate(jax.random.key(0), *args, n_steps={every}, **kw)  # compile outside the measured window
before = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
t = simulate(jax.random.key(0), *args, n_steps={S}, **kw)
print(before, rss("VmHWM"), sum(v.nbytes for v in t.saved.values()))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, peak, saved = map(float, res.stdout.split()[-3:])
    d = 10
    out = {
        "P": P, "S": S, "save_every": every, "rss_before_MB": before, "peak_rss_MB": peak,
        "growth_MB": peak - before, "saved_MB": saved / 2**20, "state_MB": d * P * 4 / 2**20,
        "O(P*steps*d)_MB": P * S * d * 4 / 2**20,
    }
    print(f"  memory: d=10, P={P}, S={S}, saves every {every}: RSS {before:.0f} MB before, peak {peak:.0f} MB during "
          f"the run (+{out['growth_MB']:.0f} MB; state {out['state_MB']:.1f} MB, saved observables {out['saved_MB']:.1f} MB; "
          f"a full trajectory would be {out['O(P*steps*d)_MB']:.0f} MB)")
    return out


def sweep_check(quick: bool, repeats: int) -> dict:
    """``simulate.sweep`` over 8 learning rates (one vmapped program) against 8 ``simulate`` calls
    and a hand-written ``(d, P)`` scan vmapped over ``lr`` (dense noise, d=100)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.cases import BATCH, LR, Case, make_problem
    from sgd_sde import simulate
    from sgd_sde.dynamics import EulerMaruyama
    from sgd_sde.landscapes import Quadratic
    from sgd_sde.noise import Dense
    from sgd_sde.simulate import sweep

    P, S = (32, 100) if quick else (256, 1000)
    pb = make_problem(Case("sweep-d100", "dense", d=100, P=P, S=S))
    land, dyn, noise = Quadratic(pb.H), EulerMaruyama(lr=LR, batch_size=BATCH), Dense(pb.H)
    lrs = LR * 2.0 ** -np.arange(8)
    th0, key = jnp.ones((P, 100), jnp.float32), jax.random.key(0)
    kw = dict(noise=noise, n_steps=S, save_at=[S], observables=(), progress=False)

    def one_program():
        return [t.theta for t in sweep(key, land, dyn, th0, lrs=lrs, **kw).values()]

    def separate():
        return [simulate(key, land, EulerMaruyama(lr=float(a), batch_size=BATCH), th0, **kw).theta for a in lrs]

    H, L = jnp.asarray(pb.H), jnp.asarray(pb.L)

    @jax.jit
    def hand(lr_vec):
        def run(lr):
            def step(th, t):
                xi = jax.random.normal(jax.random.fold_in(key, t), th.shape, th.dtype)
                return th - lr * (H @ th) + jnp.sqrt(lr * lr / BATCH) * (L @ xi), None
            return jax.lax.scan(step, jnp.ones((100, P), jnp.float32), jnp.arange(S))[0]
        return jax.vmap(run)(lr_vec)

    lr_vec = jnp.asarray(lrs, jnp.float32)
    fns = {"sweep (one program)": one_program, "8 x simulate": separate,
           "hand scan, vmap over lr": lambda: hand(lr_vec).block_until_ready()}
    out = {"P": P, "S": S, "n_lrs": 8, "median_s": {}}
    for name, fn in fns.items():
        first, med = _timeit(fn, repeats)
        out["median_s"][name] = med
        print(f"  {name:<28s} {med:.3f}s  ({8 * P * S / med / 1e6:.3f} M p-steps/s)  first {first:.2f}s", flush=True)
    return out


def observables_check(quick: bool, repeats: int) -> dict:
    """A/B of simulate's defaults (``"loss"`` and ``"distance_from_init"`` at about 100 save points)
    against ``observables=()`` at the same save points, dense d=100 (the case of issue 18).

    The two are timed alternately, ``max(repeats, 5)`` pairs; the result is the median of the
    per-pair ratios with their min and max (the spread on this machine), so drift between pairs
    cancels. A ratio of 1.00 means the default observables cost nothing measurable.
    """
    import dataclasses

    from benchmarks.cases import sgd_sde_simulate

    case = CASES["dense-d100"]
    # quick: fewer particles but all the steps, so the saves are 10 steps apart as in the full case
    # (with S/10 every step would be a save point, which times the interval bookkeeping instead)
    case = case.scaled(8, 1) if quick else case
    pb = make_problem(case)
    fns = {}
    for label, obs in (("defaults", None), ("observables=()", ())):
        fn, _ = sgd_sde_simulate("dense", observables=obs, save_at_end=False)(pb)
        fn()  # compile
        fns[label] = fn
    times = {label: [] for label in fns}
    for _ in range(max(repeats, 5)):
        for label, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(times["defaults"], times["observables=()"])]
    out = {"case": dataclasses.asdict(case), "median_s": {k: statistics.median(v) for k, v in times.items()},
           "times_s": times, "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
           "ratio_max": max(ratios)}
    print(f"  defaults {out['median_s']['defaults']:.3f}s, observables=() {out['median_s']['observables=()']:.3f}s: "
          f"time ratio {out['ratio_median']:.3f} (pairs {out['ratio_min']:.3f}..{out['ratio_max']:.3f})", flush=True)
    return out


def overhead_check(quick: bool, repeats: int, device: str) -> list[dict]:
    """Per-step cost and fixed per-call cost of ``simulate`` and the hand-written ``(d, P)`` scan.

    The per-step cost is the slope between runs of ``S`` and ``5 S`` steps; the per-call cost
    (validation, set-up, dispatch, the copy of the final state to the host) is the median time of
    a one-step call minus one step. Short GPU runs are dominated by the per-call cost. All four
    cases: dense d=100, diagonal d=10, low-rank d=1000 (against the low-rank hand scan) and exact
    minibatches (against the hand scan with the engine's sampler, row key ``"JAX scan (d,P)"`` and
    its name under ``"hand"``). On CPU the runs are shorter (200 steps; 100 and P/10 at d=10; 40 at
    d=1000 and for minibatches) so the check takes seconds.
    """
    import dataclasses

    from benchmarks.cases import jax_scan, sgd_sde_simulate

    gpu = device == "gpu"
    all_cases = dict(GPU_CASES, **CASES)
    # (case, particle divisor, S, sgd_sde variant, hand scan, its label); the exact-minibatch hand scan
    # samples with the engine's sampler (the top_k one is far slower: its split would say nothing)
    sizes = [("dense-d100", 1, 1000 if gpu else 200, "dense", jax_scan("dP"), "JAX scan (d,P)"),
             ("diag-d10-P1e6" if gpu else "diag-d10", 1 if gpu else 10, 1000 if gpu else 100, "dense",
              jax_scan("dP"), "JAX scan (d,P)"),
             ("lowrank-d1000", 1, 200 if gpu else 40, "lowrank", jax_scan("dP", "lowrank"), "JAX scan (d,P), low-rank"),
             ("minibatch-linreg", 1, 200 if gpu else 40, "auto", jax_scan("dP", engine_normals=True),
              "JAX scan (d,P), sgd_sde sampler")]
    out = []
    for n, p_div, s1, variant, hand, hand_label in sizes:
        base = all_cases[n]
        base = dataclasses.replace(base, P=max(8, base.P // (p_div * (8 if quick else 1))), S=max(10, s1 // (10 if quick else 1)))
        s1 = base.S
        row = {"case": n, "d": base.d, "P": base.P, "S": [1, s1, 5 * s1], "hand": hand_label}
        for label, builder in (("sgd_sde.simulate", sgd_sde_simulate(variant)), ("JAX scan (d,P)", hand)):
            t = []
            for s in (1, s1, 5 * s1):
                fn, _ = builder(make_problem(dataclasses.replace(base, S=s)))
                t.append(_timeit(fn, max(repeats, 21) if s == 1 else repeats)[1])
            per_step = (t[2] - t[1]) / (4 * s1)
            row[label] = {"median_s": t, "us_per_step": 1e6 * per_step, "ms_per_call": 1e3 * (t[0] - per_step)}
            shown = label if label == "sgd_sde.simulate" else hand_label
            print(f"  {n} (P={base.P}) {shown:<32s} {1e6 * per_step:9.2f} us/step  {row[label]['ms_per_call']:8.3f} ms/call",
                  flush=True)
        out.append(row)
    return out


def _versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for p in ("jax", "jaxlib", "equinox", "diffrax", "lineax", "numpy"):
        try:
            out[p] = version(p)
        except Exception:  # noqa: BLE001
            out[p] = "n/a"
    return out


def to_markdown(result: dict) -> str:
    lines = [f"Device: {result['device']}; {result['machine']}", f"Versions: {result['versions']}",
             f"Ceilings: matmul {result['ceilings']['matmul_gflops']:.0f} GFLOP/s (f32, n={result['ceilings']['matmul_n']}), "
             f"normals {result['ceilings']['normals_M_per_s']:.0f} M/s (`jax.random.normal`), "
             f"{result['ceilings']['engine_normals_M_per_s']:.0f} M/s (`sgd_sde.noise.standard_normal`), uniforms "
             f"{result['ceilings']['uniforms_M_per_s']:.0f} M/s (threefry in a scan), memory "
             f"{result['ceilings']['membw_GB_per_s']:.1f} GB/s (read + write)", "",
             "Roofline: each implementation's least time is max(variates / rng rate, bytes / memory bandwidth, "
             "flops / matmul rate) for its own algorithm's counts; \"bound\" names the largest term and \"% of "
             "bound\" is that time over the measured one. \"% of case bound\" uses the case's least bound "
             "over all algorithms (e.g. low-rank noise draws N < d normals).", ""]
    lines.append("| case | implementation | median s | M particle-steps/s | GFLOP/s | % matmul peak | % of its rng rate | "
                 "bound | % of bound | % of case bound | sgd_sde speed-up | bound=inf speed-up | first call s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} (d={r['d']}, P={r['P']}, S={r['S']}) | {r['impl']} | {r['median_s']:.3f} | {r['Msteps_per_s']:.3g} | "
            f"{r['gflops']:.3g} | {r['pct_matmul_peak']:.0f}% | {r['pct_rng_rate']:.0f}% | "
            f"{r['roofline_bound']} | {r['pct_of_bound']:.0f}% | {r['pct_of_case_bound']:.0f}% | "
            f"{r.get('sgd_sde_speedup', float('nan')):.2f}× | {r.get('sgd_sde_inf_speedup', float('nan')):.2f}× | {r['first_s']:.2f} |")
    if "observables" in result:
        o = result["observables"]
        lines += ["", f"Default observables (\"loss\", \"distance_from_init\" at about 100 save points) against "
                  f"observables=() at the same save points, dense d=100, P={o['case']['P']}, S={o['case']['S']}: "
                  f"{o['median_s']['defaults']:.3f} s vs {o['median_s']['observables=()']:.3f} s, time ratio "
                  f"{o['ratio_median']:.3f} (median of {len(o['times_s']['defaults'])} alternating pairs; "
                  f"{o['ratio_min']:.3f}..{o['ratio_max']:.3f})."]
    if "sweep" in result:
        sw = result["sweep"]
        base = sw["median_s"]["sweep (one program)"]
        lines += ["", f"Sweep (8 learning rates, d=100, P={sw['P']}, S={sw['S']}, dense noise): "
                  + "; ".join(f"{k} {v:.3f} s ({v / base:.2f}× the sweep's time)" for k, v in sw["median_s"].items())]
    if "overhead" in result:
        lines += ["", "Per-step and per-call cost (per step: slope between S and 5 S steps; per call: a one-step "
                  "call minus one step):", "",
                  "| case | implementation | µs per step | ms per call |", "|---|---|---|---|"]
        for o in result["overhead"]:
            for impl in ("sgd_sde.simulate", "JAX scan (d,P)"):
                shown = o.get("hand", impl) if impl != "sgd_sde.simulate" else impl
                lines.append(f"| {o['case']} (d={o['d']}, P={o['P']}) | {shown} | {o[impl]['us_per_step']:.2f} | "
                             f"{o[impl]['ms_per_call']:.2f} |")
    if "memory" in result:
        m = result["memory"]
        lines += ["", f"Memory (d=10, P={m['P']}, {m['S']} steps, observables every {m['save_every']}): RSS "
                  f"{m['rss_before_MB']:.0f} MB before the run, peak {m['peak_rss_MB']:.0f} MB during it "
                  f"(+{m['growth_MB']:.0f} MB; state {m['state_MB']:.1f} MB, saved observables {m['saved_MB']:.1f} MB); "
                  f"storing every step would need {m['O(P*steps*d)_MB']:.0f} MB."]
    return "\n".join(lines) + "\n"


def _backend(result: dict) -> str:
    """``"cpu"`` or ``"gpu"``: the backend a saved run ran on (its ``device`` ends in ``(cpu)``/``(gpu)``)."""
    return "cpu" if "(cpu)" in result["device"] else "gpu"


def default_cases(backend: str) -> dict:
    """The cases a run without ``--cases`` times on ``backend`` (the GPU adds ``GPU_CASES``)."""
    return dict(GPU_CASES, **CASES) if backend == "gpu" else dict(CASES)


def _markers(result: dict, name: str) -> tuple[str, str]:
    """One RESULTS.md section per saved run: ``<!-- run.py:cpu:NAME:begin -->`` … for the run saved
    in ``results/NAME/`` (``gpu`` for a GPU run), so that runs on different machines stand side by side."""
    backend = _backend(result)
    return f"<!-- run.py:{backend}:{name}:begin -->", f"<!-- run.py:{backend}:{name}:end -->"


def summary_rows(result: dict) -> list[dict]:
    """Issue 18's targets per case, from one run: ``simulate`` (default bound and ``bound=inf``)
    against the best hand-written scan of either layout drawing with ``jax.random.normal`` (what
    a user writes), the same ``(d, P)`` scan drawing with the engine's generator (the loop alone),
    diffrax's best configuration and its documented vmap recipe; and each one's roofline fraction.
    Ratios are throughputs (particle-steps/s: the VBT rows run fewer particles)."""
    out = []
    by_case: dict[str, list[dict]] = {}
    for r in result["rows"]:
        by_case.setdefault(r["case"], []).append(r)
    for case, rows in by_case.items():
        named = {r["impl"]: r for r in rows}
        for tag in ("",) if case.startswith("minibatch") else ("", ", low-rank N=512"):
            base = "sgd_sde.simulate (ExactMinibatch)" if case.startswith("minibatch") else f"sgd_sde.simulate{tag}"
            if base not in named:
                continue
            ours, inf = named[base], named.get(base + ", bound=inf")
            low = "low-rank" in tag
            scans = [r for r in rows if r["impl"].startswith("JAX scan") and ("low-rank" in r["impl"]) == low]
            hands = [r for r in scans if not r["impl"].endswith(ENGINE_GENERATOR)]
            best = max(hands, key=lambda r: r["Msteps_per_s"]) if hands else None
            same = next((r for r in scans if r["impl"].startswith("JAX scan (d,P)") and r["impl"].endswith(ENGINE_GENERATOR)), None)
            diffrax = [r for r in rows if r["impl"].startswith("diffrax")]
            best_dx = max(diffrax, key=lambda r: r["Msteps_per_s"]) if diffrax else None
            vmap = named.get("diffrax Euler+UBP, vmap")

            def ratio(other, mine=ours):
                return None if other is None or mine is None else mine["Msteps_per_s"] / other["Msteps_per_s"]

            def names(other, mine=ours):
                return None if other is None or mine is None else (mine["impl"], other["impl"])

            def pct_serial(row):  # runs saved before the components were recorded: None
                if row is None or "roofline_components_s" not in row:
                    return None
                return 100 * serial_bound_s(row["roofline_components_s"]) / row["median_s"]

            out.append({
                "pairs": {"vs_best_hand": names(best), "vs_best_hand_inf": names(best, inf),
                          "vs_best_diffrax": names(best_dx), "vs_diffrax_vmap": names(vmap)},
                "ours_impl": ours["impl"],
                "case": case, "variant": "low-rank N=512" if low else ("exact minibatch" if case.startswith("minibatch")
                                                                      else "dense" if case != "diag-d10" else "diagonal"),
                "d": ours["d"], "P": ours["P"], "S": ours["S"], "bound": ours["roofline_bound"],
                "pct_of_bound": ours["pct_of_bound"], "pct_of_bound_inf": inf["pct_of_bound"] if inf else None,
                "best_hand": best["impl"] if best else None, "best_hand_pct_of_bound": best["pct_of_bound"] if best else None,
                "best_hand_bound": best["roofline_bound"] if best else None,
                "pct_of_serial": pct_serial(ours), "best_hand_pct_of_serial": pct_serial(best),
                "vs_best_hand": ratio(best), "vs_best_hand_inf": ratio(best, inf),
                "vs_same_generator_hand": ratio(same), "same_generator_hand_pct_of_bound": same["pct_of_bound"] if same else None,
                "best_diffrax": best_dx["impl"] if best_dx else None, "vs_best_diffrax": ratio(best_dx),
                "vs_diffrax_vmap": ratio(vmap),
            })
    return out


def _least(result: dict, items: list, times) -> np.ndarray:
    """The least of ``items`` (see :func:`least_interval`) with implementation ``k``'s time
    ``times(k)`` (its median, or an array of bootstrap medians)."""
    rows = {(r["case"], r["impl"]): r for r in result["rows"]}
    vals = []
    for c, a, b in items:
        ra = rows[(c, a)]
        if b is None:
            vals.append(ra["roofline_bound_s"] / times(rows, (c, a)))
        else:  # throughput ratio; work = particle-steps (the VBT rows run fewer particles)
            rb = rows[(c, b)]
            vals.append((ra["Msteps_per_s"] * ra["median_s"] / times(rows, (c, a)))
                        / (rb["Msteps_per_s"] * rb["median_s"] / times(rows, (c, b))))
    return np.min(vals, axis=0)


def least_point(result: dict, items: list) -> float:
    """The least of ``items`` (see :func:`least_interval`) from each implementation's median time."""
    return float(_least(result, items, lambda rows, k: rows[k]["median_s"]))


def least_interval(result: dict, items: list, n_boot: int = N_BOOT, seed: int = 0):
    """95% bootstrap interval of the least of several quantities of one run, or ``None`` for a run
    saved without its individual times (before ``times_s`` was recorded).

    ``items`` holds ``(case, mine, other)``: the throughput ratio of implementation ``mine`` over
    ``other`` in ``case``; with ``other=None``, ``mine``'s fraction of its roofline bound. Each
    implementation's repetition times are resampled with replacement (fixed seed), its median
    recomputed, and the least of the quantities taken per resample: the interval says how far the
    verdict's number could move with other draws of the same machine noise. With 5 repetitions it
    is coarse, but it keeps a verdict from resting on one median."""
    rows = {(r["case"], r["impl"]): r for r in result["rows"]}
    keys = sorted({(c, n) for c, a, b in items for n in (a, b) if n is not None})
    if not items or any("times_s" not in rows[k] for k in keys):
        return None
    rng = np.random.default_rng(seed)
    boot = {k: bootstrap_medians(rows[k]["times_s"], rng, n_boot) for k in keys}
    lo, hi = np.percentile(_least(result, items, lambda _, k: boot[k]), [2.5, 97.5])
    return float(lo), float(hi)


def summary_markdown(result: dict, source: str) -> str:
    """The RESULTS.md section of one saved run (``--write-results DIR``): issue 18's ratios and
    roofline fractions per case, each target's verdict decided from the numbers."""
    from sgd_sde.verdicts import Verdict

    c = result["ceilings"]

    def x(v):
        return "–" if v is None else f"{v:.2f}×"

    def pct(v):
        return "–" if v is None else f"{v:.0f}%"

    rows = summary_rows(result)
    begin, end = _markers(result, Path(source).name)
    shuffled = (f", each round in a new order with {result['settle_s']} s between calls"
                if "settle_s" in result else "")
    lines = [
        begin,
        f"## simulate against hand-written scans and diffrax (`benchmarks/run.py`, {result['device']})",
        "",
        f"Written by `python benchmarks/run.py --write-results {source}` from that run ({result['machine']}; "
        f"{result['versions']}; medians of {result['repeats']} round-robin repetitions after one warm-up "
        f"each{shuffled}; 1-minute load average {result['loadavg_before'][0]:.1f} before the run). Ceilings measured by the run: "
        f"matmul {c['matmul_gflops']:.0f} GFLOP/s, normals {c['normals_M_per_s']:.0f} M/s with `jax.random.normal` and "
        f"{c['engine_normals_M_per_s']:.0f} M/s with the engine's `sgd_sde.noise.standard_normal`, uniforms "
        f"{c['uniforms_M_per_s']:.0f} M/s, memory {c['membw_GB_per_s']:.1f} GB/s. Ratios are sgd_sde's throughput over "
        "the other's (default `divergence_bound` / `bound=inf`). Each implementation's roofline bound is for its own "
        "algorithm and its own generator. The full table: `results.md` next to the JSON.",
        "",
        "| case | bound | sgd_sde % of bound | best hand scan (`jax.random.normal`) | its % of bound "
        "| % of the serial bound: sgd_sde / best hand scan | vs best hand scan "
        "| vs the same `(d,P)` scan with the engine's generator | vs diffrax's best | vs diffrax vmap recipe |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        inf = "" if r["vs_best_hand_inf"] is None else f" / {x(r['vs_best_hand_inf'])}"
        pinf = "" if r["pct_of_bound_inf"] is None else f" / {pct(r['pct_of_bound_inf'])}"
        lines.append(
            f"| {r['case']} {r['variant']} (d={r['d']}, P={r['P']}, S={r['S']}) | {r['bound']} | {pct(r['pct_of_bound'])}{pinf} "
            f"| {r['best_hand'] or '–'} | {pct(r['best_hand_pct_of_bound'])} ({r['best_hand_bound']}) "
            f"| {pct(r['pct_of_serial'])} / {pct(r['best_hand_pct_of_serial'])} | {x(r['vs_best_hand'])}{inf} "
            f"| {x(r['vs_same_generator_hand'])} | {x(r['vs_best_diffrax'])} ({r['best_diffrax'] or '–'}) | {x(r['vs_diffrax_vmap'])} |")

    def verdict(name, items, threshold):
        if not items:
            return "not measured"
        least, ci = least_point(result, items), least_interval(result, items)
        v = Verdict.decide(f"benchmarks.{name}", "simulation", least, threshold, kind="greater", ci=ci)
        how = ("point estimates of medians" if ci is None else
               f"95% bootstrap interval over the repetitions [{ci[0]:.2f}, {ci[1]:.2f}]")
        return f"**{v.verdict}** (least {least:.2f}×, threshold {threshold}×, {how})"

    def pairs(key, subset=None):
        return [(r["case"], *r["pairs"][key]) for r in (rows if subset is None else subset) if r["pairs"][key]]

    dense = [r for r in rows if r["case"] == "dense-d100"]
    absent = sorted(set(default_cases(_backend(result))) - {r["case"] for r in rows})
    scope = "every case" if not absent else "every case of this run"
    lines += [
        "",
        "Targets (issue 18), decided from the table:" if not absent else
        f"Targets (issue 18), decided from the table. This run covers a subset of the cases (not run: "
        f"{', '.join(absent)}), so its verdicts speak for its own cases only:",
        "",
        f"- simulate ≥ 1.0× the best hand-written scan on {scope}: "
        f"{verdict('simulate_vs_hand', pairs('vs_best_hand'), 1.0)}; "
        f"with `divergence_bound=inf`: {verdict('simulate_inf_vs_hand', pairs('vs_best_hand_inf'), 1.0)}",
        f"- simulate ≥ 1.0× diffrax's best configuration: {verdict('simulate_vs_diffrax', pairs('vs_best_diffrax'), 1.0)}",
        f"- ≥ 1.4× diffrax's vmap recipe on the dense case: "
        f"{verdict('simulate_vs_diffrax_vmap', pairs('vs_diffrax_vmap', dense), 1.4)}",
        f"- roofline fraction ≥ 90% of the bound that applies: "
        f"{verdict('roofline_fraction', [(r['case'], r['ours_impl'], None) for r in rows], 0.9).replace('×', '')}",
        "",
        "The roofline verdict holds each row to its largest resource alone, as if drawing, memory traffic and "
        "matmuls overlapped. The serial bound adds the three times instead (`benchmarks.cases.serial_bound_s`): "
        "what a machine reaches that runs a step's kernels one after another, each on all cores, as XLA:CPU does. "
        "It is a reference, not a target of the issue, and not a strict bound (a fraction above 100% means "
        "kernels overlapped or a ceiling was measured low).",
        "",
        *_extras_markdown(result),
        "Where simulate leads a hand scan that draws with `jax.random.normal`, the column \"vs the same `(d,P)` scan "
        "with the engine's generator\" says how much of the lead is the generator (both words of every threefry block, "
        "`benchmarks/rng.py`) and how much the loop.",
        end,
    ]
    return "\n".join(lines) + "\n"


def _extras_markdown(result: dict) -> list[str]:
    """The observables A/B and the per-step / per-call split of the same run, when it has them."""
    out = []
    if "observables" in result:
        o = result["observables"]
        out += [f"Default observables (\"loss\", \"distance_from_init\" at about 100 save points) against "
                f"`observables=()` at the same save points, dense d=100, P={o['case']['P']}, S={o['case']['S']}: time "
                f"ratio **{o['ratio_median']:.3f}** (median of {len(o['times_s']['defaults'])} alternating pairs; "
                f"{o['ratio_min']:.3f}..{o['ratio_max']:.3f}).", ""]
    if "overhead" in result:
        parts = [f"{o['case']} (P={o['P']}): sgd_sde {o['sgd_sde.simulate']['us_per_step']:.0f} µs/step, "
                 f"{o['sgd_sde.simulate']['ms_per_call']:.2f} ms/call; hand {_hand_name(o)} {o['JAX scan (d,P)']['us_per_step']:.0f} "
                 f"µs/step, {o['JAX scan (d,P)']['ms_per_call']:.2f} ms/call" for o in result["overhead"]]
        out += ["Per step (slope between S and 5 S steps) and per call (a one-step call minus one step): "
                + "; ".join(parts) + ".", ""]
    if "sweep" in result:
        sw = result["sweep"]
        base = sw["median_s"]["sweep (one program)"]
        out += [f"Sweep (8 learning rates, d=100, P={sw['P']}, S={sw['S']}, dense noise): "
                + "; ".join(f"{k} {v:.3f} s ({v / base:.2f}× the sweep's time)" for k, v in sw["median_s"].items())
                + ".", ""]
    return out


def write_summary(out_dir: Path, md_path: Path) -> None:
    """Put (or replace) the run.py section of RESULTS.md, from ``out_dir/results.json``."""
    from benchmarks import _markdown

    root = Path(__file__).resolve().parents[1]
    out_dir = Path(out_dir).resolve()
    path = out_dir / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"--write-results: no results.json in {out_dir} (write one with --out {out_dir})")
    source = os.path.relpath(out_dir, root)
    begin, end = _markers(json.loads(path.read_text()), out_dir.name)
    _markdown.write_results(path, md_path, lambda res, _: summary_markdown(res, source), begin, end, root)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (P/8, S/10), same code paths")
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", nargs="*", default=None, help=f"subset of {sorted(CASES) + sorted(GPU_CASES)}")
    ap.add_argument("--skip", nargs="*", default=[], help="skip implementations whose name contains one of these")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS check")
    ap.add_argument("--no-sweep", action="store_true", help="skip the (lr) sweep timing")
    ap.add_argument("--no-overhead", action="store_true", help="skip the per-step / per-call cost split")
    ap.add_argument("--no-observables", action="store_true",
                    help="skip the A/B of the default observables against observables=()")
    ap.add_argument("--observables-only", action="store_true", help="run only the observables A/B")
    ap.add_argument("--memory-only", action="store_true", help="run only the peak-RSS check")
    ap.add_argument("--out", type=Path, default=None, help="directory for results.json and results.md")
    ap.add_argument("--write-results", type=Path, default=None, metavar="DIR",
                    help="write the summary section of benchmarks/RESULTS.md from DIR/results.json and exit")
    args = ap.parse_args(argv)
    if args.write_results is not None:
        write_summary(args.write_results, Path(__file__).resolve().parent / "RESULTS.md")
        return 0
    if args.repeats < 3:
        ap.error("--repeats must be >= 3 (median of at least 3)")
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if args.memory_only:
        m = memory_check(args.quick)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "memory.json").write_text(json.dumps(m, indent=1))
        return 0
    import jax

    if args.observables_only:
        o = observables_check(args.quick, args.repeats)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "observables.json").write_text(json.dumps(o, indent=1))
        return 0
    cases = default_cases(args.device)
    names = args.cases or list(cases)
    unknown = set(names) - set(cases)
    if unknown:
        ap.error(f"unknown cases {sorted(unknown)}")
    from sgd_sde.provenance import provenance

    load0 = os.getloadavg()
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind} ({jax.default_backend()}), {os.cpu_count()} cpu cores; versions {_versions()}")
    ceilings = measure_ceilings(args.quick, args.device == "gpu")
    print(f"ceilings: matmul {ceilings['matmul_gflops']:.0f} GFLOP/s, normals {ceilings['normals_M_per_s']:.0f} M/s")
    def result(rows):
        return {"device": f"{dev.device_kind} ({jax.default_backend()})",
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                "versions": _versions(), "quick": args.quick, "ceilings": ceilings, "rows": rows,
                "repeats": args.repeats, "settle_s": SETTLE_S, "loadavg_before": load0, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "provenance": provenance({"argv": sys.argv[1:] if argv is None else list(argv)})}

    rows = []
    for n in names:
        case = cases[n].scaled(8, 10) if args.quick else cases[n]
        print(f"{case.name}: d={case.d}, P={case.P}, S={case.S}", flush=True)
        rows += run_case(case, args.device, args.repeats, args.skip, ceilings)
        _write(args.out, result(rows))  # after every case, so a cut-off run keeps what it measured
    res = result(rows)
    if not args.no_sweep and args.cases is None:
        print("sweep-d100: 8 learning rates, d=100", flush=True)
        res["sweep"] = sweep_check(args.quick, args.repeats)
    if not args.no_overhead and args.cases is None:
        print("overhead: per-step (S vs 5 S steps) and per-call (one-step call) cost", flush=True)
        res["overhead"] = overhead_check(args.quick, args.repeats, args.device)
    if not args.no_observables and args.cases is None:
        print("observables: simulate's defaults against observables=() (dense d=100)", flush=True)
        res["observables"] = observables_check(args.quick, args.repeats)
    if not args.no_memory and args.device == "cpu":
        res["memory"] = memory_check(args.quick)
    _write(args.out, res)
    print()
    print(to_markdown(res))
    return 0


def _hand_name(o: dict) -> str:
    """The overhead row's hand scan as the summary names it (rows before the split covered four
    cases have no ``"hand"``: the plain ``(d,P)`` scan)."""
    hand = o.get("hand", "JAX scan (d,P)")
    return "`(d,P)` scan" + hand[len("JAX scan (d,P)"):]


def _write(out: Path | None, res: dict) -> None:
    """``results.json`` and ``results.md`` in ``out``, each replaced atomically (a cut-off run
    leaves the previous complete pair or the new one, never a half-written file)."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(res, indent=1)), ("results.md", to_markdown(res))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)


if __name__ == "__main__":
    raise SystemExit(main())
