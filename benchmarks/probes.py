"""Eight diagnostics behind issue 18's closing notes, kept so that their numbers can be re-measured.

``order``: does a contender timed right after the NumPy (OpenBLAS) loop pay for it? Low-rank case
(d = 1000, P = 256, N = 512, 200 steps). Each round times the NumPy loop, then contender A, then
contender B, for (A, B) = (default bound, bound=inf), (bound=inf, default), (hand (P,d) scan,
default); the medians of "X after NumPy" and "X after a JAX contender" are printed. This is why
``run.py`` shuffles its order and pauses between calls.

``observables``: the cost of simulate's default observables per save point, amplified by saving
at every step (dense d = 100, P = 1024): alternating pairs of ``observables=("loss",
"distance_from_init")`` and ``observables=()``, median of the per-pair time ratios.

``check``: what the engine's per-step divergence check costs, in a hand-written ``(d, P)`` scan with
the engine's generator, in blocks of ``BLOCK`` steps as the engine runs them: no check; the
engine's check (a reduction over ``d`` of ``|θ| ≤ bound`` on the state each step starts from, and
the block's last state); and an alternative, an elementwise OR of ``¬(|θ| ≤ bound)`` of each new
state into a ``(d, P)`` boolean reduced once per block. Dense d = 100, d = 1000 (``lowrank-d1000``
with its dense Cholesky noise) and diagonal d = 10; medians of the per-round time ratios to the arm
with no check, rounds in a new order each time.

``indices``: what the minibatch indices cost with the engine's :func:`sgd_sde.noise.uniform_below`
against ``jax.random.randint`` (the engine's sampler before), on the exact-minibatch case
(N = 4096, B = 32, P = 1024, 200 steps): the index draws alone in a scan, with replacement and
without (Floyd's algorithm on either source), and ``simulate`` end to end with ``ExactMinibatch``
against a subclass whose ``sample`` draws with ``randint``; medians of per-round time ratios
(randint's time over uniform_below's), rounds in a new order each time.

``floyd``: Floyd's subsets (sampling without replacement, :func:`sgd_sde._samplers._floyd_subsets`)
in its two forms, which give the same subsets: a ``fori_loop`` of ``B − 1`` steps, each comparing
all ``B`` rows (the engine's form on CPU), and the ``B²/2`` compares unrolled, one kernel per row
(its form elsewhere), N = 4096, B = 32, 200 steps: the subsets alone in a scan at P = 256, 1024
and 8192, and ``simulate`` end to end with ``ExactMinibatch`` on the exact-minibatch case (checked
first). Medians of per-round time ratios (unrolled's time over the loop's).

``minibatch``: where an exact-minibatch step's time goes (the exact-minibatch case, N = 4096,
d = 64, B = 32, P = 1024, 200 steps, each part alone in a scan of as many steps, its output
materialised as the step needs it): the index draws (``uniform_below``), Floyd's subsets (draws
and dedup), the gather of the ``(P, B, d)`` rows, the two batched mat-vecs of the linear-regression
gradient on already gathered rows, the whole hand-written step (``jax_scan`` with the engine's
sampler) and ``simulate`` (observables off); medians over rounds in a new order each time, each
as a fraction of ``simulate``'s time. Floyd's subsets include the index draws; Floyd, the gather
and the mat-vecs overlap nowhere, so their sum against the whole step says how much fusion saves.

``consumer``: what recording a value derived from the drift product costs in a hand-written
``(d, P)`` scan of the dense case (d = 100, P = 1024, 300 steps, a value recorded every step):
nothing recorded; ``½ θ·Hθ`` (the loss, from the step's own ``Hθ``); one row of ``Hθ`` (no
arithmetic at all, only a second reader of the product); ``|θ − θ₀|²`` (a reduction that does not
read ``Hθ``). Medians over rounds in a new order each time, as time ratios to "nothing". Run it
once more with ``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false`` to see how
much of the difference is XLA:CPU's scheduler overlapping the drift matmul with the noise draws.

``percall``: where a one-step ``simulate`` call's time goes (validation of ``theta0``, carry
set-up, the compiled chunk, copies to the host, the ``Trajectory``, the rest of the Python),
against a one-step call of the hand-written ``(d, P)`` scan, for the four cases of ``run.py``'s
per-call split (:func:`percall`).

    python benchmarks/probes.py order --repeats 6
    python benchmarks/probes.py check --repeats 15
    python benchmarks/probes.py indices --repeats 15
    python benchmarks/probes.py floyd --repeats 9
    python benchmarks/probes.py minibatch --repeats 9
    python benchmarks/probes.py consumer --repeats 9
    python benchmarks/probes.py percall --repeats 51
    XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false python benchmarks/probes.py consumer
    python benchmarks/probes.py observables --repeats 15 --steps 300
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot python benchmarks/probes.py observables

Scripts, not tests: they print, nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from benchmarks.cases import BATCH, CASES, LR, hand_step, jax_scan, make_problem, numpy_loop, sgd_sde_simulate  # noqa: E402


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


def check(repeats: int, cases: list[str]) -> dict[str, dict[str, float]]:
    import random

    import jax
    import jax.numpy as jnp

    from sgd_sde._engine import BLOCK

    bound = 1e6
    results = {}
    for name in cases:
        case = CASES[name]
        pb = make_problem(case)
        d, P = case.d, case.P
        n_blocks = max(1, case.S // BLOCK)
        update = hand_step(pb, "dP", "dense", engine_normals=True)[0]  # run.py's same-generator hand scan

        def make(arm):
            def outside(th):
                return ~(jnp.abs(th) <= bound)

            def body(b, i, c):
                th, acc = c
                new = update(th, b * BLOCK + i)
                if arm == "engine's":
                    acc = acc | jnp.any(outside(th), axis=0)
                elif arm == "elementwise, per block":
                    acc = acc | outside(new)
                return new, acc

            def block(th, b):
                acc = jnp.zeros((d, P) if arm == "elementwise, per block" else (P,), bool)
                th, acc = jax.lax.fori_loop(0, BLOCK, lambda i, c: body(b, i, c), (th, acc))
                out = jnp.any(acc, axis=0) if acc.ndim == 2 else acc | jnp.any(outside(th), axis=0)
                # the engine re-runs a block with a crossing; here it is only flagged
                return th, jnp.any(out)

            fn = jax.jit(lambda th: jax.lax.scan(block, th, jnp.arange(n_blocks)))
            th0 = jnp.ones((d, P), jnp.float32)
            return lambda: jax.block_until_ready(fn(th0))

        arms = {a: make(a) for a in ("no check", "engine's", "elementwise, per block")}
        for fn in arms.values():
            fn()
        t = {a: [] for a in arms}
        for _ in range(repeats):
            order_ = list(arms)
            random.shuffle(order_)
            for a in order_:
                t[a].append(_timed(arms[a]))
        out = {a: statistics.median(x / y for x, y in zip(t[a], t["no check"])) for a in arms}
        results[name] = out
        print(f"{name} (d={d}, P={P}, {n_blocks * BLOCK} steps): no check {statistics.median(t['no check']):.3f} s; "
              + ", ".join(f"{a} {r:.3f}x its time" for a, r in out.items() if a != "no check")
              + f" (medians of {repeats} per-round ratios)", flush=True)
    return results


def _rounds(fns: dict, repeats: int) -> dict:
    """Each callable of ``fns`` warmed up once, then ``repeats`` rounds, each in a new order: the
    times per key."""
    import random

    names = list(fns)
    for nm in names:
        fns[nm]()  # compile / warm up
    t = {nm: [] for nm in names}
    for _ in range(repeats):
        random.shuffle(names)
        for nm in names:
            t[nm].append(_timed(fns[nm]))
    return t


def _paired(pairs: dict, a: str, b: str, repeats: int) -> dict[str, float]:
    """For each ``pairs[label] = {a: fn, b: fn}``: the median of the per-round ratios of ``a``'s
    time to ``b``'s (all arms timed in the same shuffled rounds), printed and returned by label."""
    t = _rounds({(p, src): fn for p in pairs for src, fn in pairs[p].items()}, repeats)
    out = {}
    for p in pairs:
        ratio = statistics.median(x / y for x, y in zip(t[(p, a)], t[(p, b)]))
        out[p] = ratio
        print(f"{p}: {a} {statistics.median(t[(p, a)]):.4f} s, {b} {statistics.median(t[(p, b)]):.4f} s; "
              f"{a} / {b} {ratio:.2f} (median of {repeats} per-round ratios)", flush=True)
    return out


def indices(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    from sgd_sde import simulate
    from sgd_sde._samplers import _floyd_subsets
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import LinearRegression
    from sgd_sde.noise import ExactMinibatch, uniform_below

    case = CASES["minibatch-linreg"]
    pb = make_problem(case)
    n, P, S = case.N, case.P, case.S
    key = jax.random.key(0)

    def randint(k, shape, maxval):
        return jax.random.randint(k, shape, 0, maxval, dtype=jnp.int32)

    def in_scan(draw):
        fn = jax.jit(lambda: jax.lax.scan(lambda acc, t: (acc + draw(jax.random.fold_in(key, t)).sum(0), None),
                                          jnp.zeros(P, jnp.int32), jnp.arange(S))[0])
        return lambda: jax.block_until_ready(fn())

    class RandintMinibatch(ExactMinibatch):
        def sample(self, k, landscape, n_particles, batch_size, dtype):
            if self.replace:
                return randint(k, (int(batch_size), n_particles), landscape.n_examples)
            return _floyd_subsets(k, landscape.n_examples, int(batch_size), n_particles, below=randint)

    land = LinearRegression(pb.X, pb.y)

    def sim(noise):
        def run():
            return simulate(key, land, SGD(LR, BATCH), jnp.ones(case.d, jnp.float32), noise=noise, n_steps=S,
                            n_particles=P, progress=False, observables=(), save_at=[S]).theta
        return run

    pairs = {}
    for src, below in (("randint", randint), ("uniform_below", uniform_below)):
        pairs.setdefault("with replacement, draws alone", {})[src] = in_scan(lambda k, f=below: f(k, (BATCH, P), n))
        pairs.setdefault("Floyd (without replacement), draws alone", {})[src] = in_scan(
            lambda k, f=below: _floyd_subsets(k, n, BATCH, P, below=f))
    for replace in (True, False):
        label = f"simulate, ExactMinibatch(replace={replace})"
        pairs[label] = {"randint": sim(RandintMinibatch(replace=replace)), "uniform_below": sim(ExactMinibatch(replace=replace))}
    return _paired(pairs, "randint", "uniform_below", repeats)


def floyd(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from sgd_sde import simulate
    from sgd_sde._samplers import _floyd_subsets
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import LinearRegression
    from sgd_sde.noise import ExactMinibatch

    case = CASES["minibatch-linreg"]
    pb = make_problem(case)
    n, S = case.N, case.S
    key = jax.random.key(0)

    unrolled, looped = (functools.partial(_floyd_subsets, loop=form) for form in (False, True))

    for P in (256, 1024, 8192):
        same = np.array_equal(looped(key, n, BATCH, P), unrolled(key, n, BATCH, P))
        if not same:
            raise AssertionError(f"the two forms of Floyd's algorithm differ at P={P}")

    def in_scan(draw, P):
        # the subsets materialised each step (as the gather that uses them needs), one row kept
        def body(acc, t):
            idx = jax.lax.optimization_barrier(draw(jax.random.fold_in(key, t), n, BATCH, P))
            return acc + idx[0], None
        fn = jax.jit(lambda: jax.lax.scan(body, jnp.zeros(P, jnp.int32), jnp.arange(S))[0])
        return lambda: jax.block_until_ready(fn())

    class FormMinibatch(ExactMinibatch):  # ExactMinibatch without replacement, Floyd's subsets in one form
        loop: bool = True

        def sample(self, k, landscape, n_particles, batch_size, dtype):
            return _floyd_subsets(k, landscape.n_examples, int(batch_size), n_particles, loop=self.loop)

    land = LinearRegression(pb.X, pb.y)

    def sim(noise):
        def run():
            return simulate(key, land, SGD(LR, BATCH), jnp.ones(case.d, jnp.float32), noise=noise, n_steps=S,
                            n_particles=case.P, progress=False, observables=(), save_at=[S]).theta
        return run

    pairs = {f"subsets alone, P={P}": {"unrolled": in_scan(unrolled, P), "loop": in_scan(looped, P)}
             for P in (256, 1024, 8192)}
    pairs[f"simulate, ExactMinibatch, P={case.P}"] = {"unrolled": sim(FormMinibatch(loop=False)), "loop": sim(FormMinibatch(loop=True))}
    return _paired(pairs, "unrolled", "loop", repeats)


def minibatch(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from sgd_sde._samplers import _floyd_subsets
    from sgd_sde.noise import uniform_below

    case = CASES["minibatch-linreg"]
    pb = make_problem(case)
    n, P, S, d = case.N, case.P, case.S, case.d
    key = jax.random.key(0)
    X = jnp.asarray(pb.X)
    idx0 = _floyd_subsets(key, n, BATCH, P).T  # (P, B): fixed indices for the parts after sampling
    rows0 = X[idx0]
    bar = jax.lax.optimization_barrier

    def scan(body, init):
        fn = jax.jit(lambda: jax.lax.scan(lambda c, t: (body(c, t), None), init, jnp.arange(S))[0])
        return lambda: jax.block_until_ready(fn())

    zi, zt = jnp.zeros(P, jnp.int32), jnp.zeros((d, P), jnp.float32)
    maxval = np.arange(n - BATCH + 1, n + 1, dtype=np.int32)[:, None]
    parts = {
        "index draws (uniform_below)": scan(lambda a, t: a + bar(uniform_below(jax.random.fold_in(key, t), (BATCH, P), maxval))[0], zi),
        "Floyd's subsets (draws + dedup)": scan(lambda a, t: a + bar(_floyd_subsets(jax.random.fold_in(key, t), n, BATCH, P))[0], zi),
        "gather of the (P, B, d) rows": scan(lambda th, t: th + bar(X[(idx0 + t) % n])[:, 0, :].T, zt),
        "two batched mat-vecs on gathered rows": scan(
            lambda th, t: th - LR * jnp.einsum("pbd,pb->dp", (xb := bar(rows0 + t.astype(jnp.float32))),
                                               jnp.einsum("pbd,dp->pb", xb, th)) / BATCH, zt),
    }
    parts["hand-written step (engine sampler)"] = jax_scan("dP", engine_normals=True)(pb)[0]
    parts["simulate (ExactMinibatch)"] = sgd_sde_simulate("auto")(pb)[0]
    t = _rounds(parts, repeats)
    whole = statistics.median(t["simulate (ExactMinibatch)"])
    out = {}
    for nm in parts:
        med = statistics.median(t[nm])
        out[nm] = med
        print(f"{nm}: {med:.4f} s ({med / whole:.2f} of simulate's time; median of {repeats})", flush=True)
    return out


def consumer(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    from sgd_sde.noise import standard_normal

    case = CASES["dense-d100"]
    pb = make_problem(case)
    d, P, S = case.d, case.P, 300
    H, L = jnp.asarray(pb.H), jnp.asarray(pb.L * pb.noise_scale)
    key = jax.random.key(0)
    th0 = jnp.ones((d, P), jnp.float32)
    records = {
        "nothing": lambda th, g: jnp.zeros((), jnp.float32),
        "loss ½θ·Hθ": lambda th, g: 0.5 * jnp.sum(th * g, axis=0),
        "one row of Hθ": lambda th, g: g[0],
        "|θ − θ₀|² (no Hθ)": lambda th, g: jnp.sum((th - th0) ** 2, axis=0),
    }

    def scan(record):
        def body(th, t):
            g = H @ th
            z = standard_normal(jax.random.fold_in(key, t), (d, P))
            return th - LR * g + L @ z, record(th, g)
        fn = jax.jit(lambda: jax.lax.scan(body, th0, jnp.arange(S)))
        return lambda: jax.block_until_ready(fn())

    arms = {name: scan(rec) for name, rec in records.items()}
    t = _rounds(arms, repeats)
    out = {}
    for nm in arms:
        ratio = statistics.median(a / b for a, b in zip(t[nm], t["nothing"]))
        out[nm] = ratio
        print(f"{nm}: {statistics.median(t[nm]):.4f} s, {ratio:.3f}× the time of recording nothing "
              f"(median of {repeats} per-round ratios); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}", flush=True)
    return out


def percall(repeats: int) -> dict[str, dict[str, float]]:
    """Where a one-step ``simulate`` call's time goes, against a one-step call of the hand-written
    ``(d, P)`` scan (its result copied to the host, as simulate's is), for the four cases of the
    per-call split in ``run.py`` (dense d = 100, diagonal d = 10 at P/10, low-rank N = 512 at
    d = 1000, exact minibatches). The library's own functions are wrapped in timers for the timed
    calls (``mock.patch``, nothing copied): validation of ``theta0`` (its on-device finiteness
    check included), the carry set-up (``initial_carry``), the compiled chunk (dispatch and the
    one step), the copies to the host and the ``Trajectory``; the rest of the call is Python
    (argument checks, save points, metadata). The wrapped compiled calls block until their result
    is ready, so the parts add up to the call. Medians over rounds in a new order each time."""
    import dataclasses
    import importlib
    from unittest import mock

    import jax
    import numpy as np

    sim = importlib.import_module("sgd_sde.simulate")
    eng = importlib.import_module("sgd_sde._engine")
    spent: dict[str, float] = {}

    def timer(part, fn, block=False):
        def wrapped(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            if block:
                jax.block_until_ready(out)
            spent[part] = spent.get(part, 0.0) + time.perf_counter() - t0
            return out
        return wrapped

    patches = [mock.patch.object(sim, "_validate_theta0", timer("validation of theta0", sim._validate_theta0)),
               mock.patch.object(eng, "initial_carry", timer("carry set-up", eng.initial_carry, block=True)),
               mock.patch.object(eng, "run_chunk", timer("compiled chunk (dispatch + 1 step)", eng.run_chunk, block=True)),
               mock.patch.object(sim, "_to_host", timer("copies to the host", sim._to_host)),
               mock.patch.object(sim, "Trajectory", timer("Trajectory", sim.Trajectory))]
    sizes = [("dense-d100", 1, "dense"), ("diag-d10", 10, "dense"), ("lowrank-d1000", 1, "lowrank"),
             ("minibatch-linreg", 1, "auto")]
    results = {}
    for name, p_div, variant in sizes:
        case = dataclasses.replace(CASES[name], S=1, P=CASES[name].P // p_div)
        pb = make_problem(case)
        run = sgd_sde_simulate(variant)(pb)[0]
        hand = jax_scan("dP", "lowrank" if variant == "lowrank" else "dense", engine_normals=True)(pb)[0]
        parts: dict[str, list[float]] = {}

        def timed_run():
            spent.clear()
            t0 = time.perf_counter()
            for pt in patches:
                pt.start()
            try:
                run()
            finally:
                for pt in patches:
                    pt.stop()
            total = time.perf_counter() - t0
            for part, v in spent.items():
                parts.setdefault(part, []).append(v)
            parts.setdefault("rest (Python)", []).append(total - sum(spent.values()))
            parts.setdefault("simulate, whole call", []).append(total)

        def hand_call():
            parts.setdefault("hand scan, whole call", []).append(_timed(lambda: np.asarray(hand())))

        _rounds({"simulate": timed_run, "hand": hand_call}, repeats)
        out = {part: 1e3 * statistics.median(v[1:]) for part, v in parts.items()}  # [0]: the warm-up call
        results[name] = out
        print(f"{name} (d={case.d}, P={case.P}, one step), ms, medians of {repeats}: "
              + "; ".join(f"{part} {ms:.3f}" for part, ms in out.items()), flush=True)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="probe", required=True)
    o = sub.add_parser("order", help="is a contender timed after the NumPy loop slower?")
    o.add_argument("--repeats", type=int, default=6)
    b = sub.add_parser("observables", help="default observables' cost per save point")
    b.add_argument("--repeats", type=int, default=15)
    b.add_argument("--steps", type=int, default=300)
    b.add_argument("--save-every", type=int, default=1)
    c = sub.add_parser("check", help="the per-step divergence check's cost, and an elementwise alternative")
    c.add_argument("--repeats", type=int, default=15)
    gaussian = sorted(k for k, v in CASES.items() if v.kind != "minibatch")  # the update with Gaussian noise
    c.add_argument("--cases", nargs="+", default=gaussian, choices=gaussian)
    i = sub.add_parser("indices", help="minibatch indices: uniform_below against jax.random.randint")
    i.add_argument("--repeats", type=int, default=15)
    f = sub.add_parser("floyd", help="Floyd's subsets: the engine's loop against the unrolled form")
    f.add_argument("--repeats", type=int, default=9)
    m = sub.add_parser("minibatch", help="where an exact-minibatch step's time goes")
    m.add_argument("--repeats", type=int, default=9)
    k = sub.add_parser("consumer", help="what a second reader of the drift product Hθ costs")
    k.add_argument("--repeats", type=int, default=9)
    q = sub.add_parser("percall", help="where a one-step simulate call's time goes, against the hand scan's")
    q.add_argument("--repeats", type=int, default=51)
    args = ap.parse_args(argv)
    if args.repeats < 3:
        ap.error("--repeats must be >= 3")
    if args.probe == "order":
        order(args.repeats)
    elif args.probe == "check":
        check(args.repeats, args.cases)
    elif args.probe == "indices":
        indices(args.repeats)
    elif args.probe == "floyd":
        floyd(args.repeats)
    elif args.probe == "minibatch":
        minibatch(args.repeats)
    elif args.probe == "consumer":
        consumer(args.repeats)
    elif args.probe == "percall":
        percall(args.repeats)
    else:
        if args.steps < 1 or args.save_every < 1:
            ap.error("--steps and --save-every must be >= 1")
        observables(args.repeats, args.steps, args.save_every)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
