"""Two diagnostics behind issue 18's closing notes, kept so that their numbers can be re-measured.

``order``: does a contender timed right after the NumPy (OpenBLAS) loop pay for it? Low-rank case
(d = 1000, P = 256, N = 512, 200 steps). Each round times the NumPy loop, then contender A, then
contender B, for (A, B) = (default bound, bound=inf), (bound=inf, default), (hand (P,d) scan,
default); the medians of "X after NumPy" and "X after a JAX contender" are printed. This is why
``run.py`` shuffles its order and pauses between calls.

``observables``: the cost of simulate's default observables per save point, amplified by saving
at every step (dense d = 100, P = 1024): alternating pairs of ``observables=("loss",
"distance_from_init")`` and ``observables=()``, median of the per-pair time ratios.

    python benchmarks/probes.py order --repeats 6
    python benchmarks/probes.py observables --repeats 15 --steps 300
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot python benchmarks/probes.py observables

Scripts, not tests: they print, nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from benchmarks.cases import CASES, jax_scan, make_problem, numpy_loop, sgd_sde_simulate  # noqa: E402


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def order(repeats: int) -> dict[str, float]:
    pb = make_problem(CASES["lowrank-d1000"])
    fns = {"default": sgd_sde_simulate("lowrank")(pb)[0],
           "bound=inf": sgd_sde_simulate("lowrank", divergence_bound=math.inf)(pb)[0],
           "hand (P,d)": jax_scan("Pd", "lowrank")(pb)[0], "numpy": numpy_loop("lowrank")(pb)[0]}
    for fn in fns.values():
        fn()  # compile / warm up
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for a, b in (("default", "bound=inf"), ("bound=inf", "default"), ("hand (P,d)", "default")):
            _timed(fns["numpy"])
            times.setdefault(f"{a} after numpy", []).append(_timed(fns[a]))
            times.setdefault(f"{b} after jax", []).append(_timed(fns[b]))
    out = {k: statistics.median(v) for k, v in sorted(times.items())}
    for k, v in out.items():
        print(f"{k:22s} median {v:.3f} s (n={len(times[k])})")
    return out


def observables(repeats: int, steps: int, save_every: int) -> dict[str, float]:
    import dataclasses

    case = dataclasses.replace(CASES["dense-d100"], S=steps)
    pb = make_problem(case)
    import jax
    import jax.numpy as jnp

    from sgd_sde import simulate
    from sgd_sde.dynamics import EulerMaruyama
    from sgd_sde.landscapes import Quadratic
    from sgd_sde.noise import Dense

    theta0 = jnp.ones((case.P, case.d), jnp.float32)

    def make(obs):
        return lambda: simulate(jax.random.key(0), Quadratic(pb.H), EulerMaruyama(lr=0.01, batch_size=32), theta0,
                                noise=Dense(pb.H), n_steps=steps, save_every=save_every, observables=obs,
                                progress=False).theta
    arms = {"defaults": make(("loss", "distance_from_init")), "none": make(())}
    for fn in arms.values():
        fn()
    t = {k: [] for k in arms}
    for _ in range(repeats):
        for k, fn in arms.items():
            t[k].append(_timed(fn))
    ratios = [a / b for a, b in zip(t["defaults"], t["none"])]
    out = {"defaults_s": statistics.median(t["defaults"]), "none_s": statistics.median(t["none"]),
           "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
    print(f"{steps} steps, a save every {save_every}: defaults {out['defaults_s']:.3f} s, observables=() "
          f"{out['none_s']:.3f} s, ratio {out['ratio_median']:.3f} ({out['ratio_min']:.3f}..{out['ratio_max']:.3f}, "
          f"{repeats} pairs); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="probe", required=True)
    o = sub.add_parser("order", help="is a contender timed after the NumPy loop slower?")
    o.add_argument("--repeats", type=int, default=6)
    b = sub.add_parser("observables", help="default observables' cost per save point")
    b.add_argument("--repeats", type=int, default=15)
    b.add_argument("--steps", type=int, default=300)
    b.add_argument("--save-every", type=int, default=1)
    args = ap.parse_args(argv)
    if args.repeats < 3:
        ap.error("--repeats must be >= 3")
    if args.probe == "order":
        order(args.repeats)
    else:
        if args.steps < 1 or args.save_every < 1:
            ap.error("--steps and --save-every must be >= 1")
        observables(args.repeats, args.steps, args.save_every)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
