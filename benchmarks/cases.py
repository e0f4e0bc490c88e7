"""Benchmark problems and the implementations timed against each other.

Every implementation runs the *same* update on the same problem (same constants, same flops):
Euler–Maruyama / SGD with Gaussian noise on a quadratic ``L = ½ θᵀHθ`` with ``H`` of condition
number 100,

    θ ← θ − η H θ + (η / √B) · C^{1/2} ξ,      η = 0.01, B = 32, ξ ~ N(0, I),

(the SGD-SDE with ``dt = η``), plus exact-minibatch SGD on linear regression. A builder takes a
:class:`Problem` and returns a zero-argument callable that runs the whole thing and blocks on
the result, and the work it does (particle-steps, flops, random variates).

Flop counts (per particle-step): dense noise ``4d²`` (two mat-vecs), low-rank noise
``2d² + 2Nd``, diagonal noise ``2d² + 2d``, exact minibatch ``4Bd``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

LR, BATCH = 0.01, 32


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark size."""

    name: str
    kind: str  # "dense" | "lowrank" | "diag" | "minibatch"
    d: int
    P: int
    S: int
    N: int = 0  # examples (low-rank factor width / regression data)

    def scaled(self, p_div: int, s_div: int) -> Case:
        return dataclasses.replace(self, P=max(8, self.P // p_div), S=max(10, self.S // s_div))


CASES = {
    "dense-d100": Case("dense-d100", "dense", d=100, P=1024, S=1000),
    "lowrank-d1000": Case("lowrank-d1000", "lowrank", d=1000, P=256, S=200, N=512),
    "diag-d10": Case("diag-d10", "diag", d=10, P=100_000, S=1000),
    "minibatch-linreg": Case("minibatch-linreg", "minibatch", d=64, P=1024, S=200, N=4096),
}
GPU_CASES = {"diag-d10-P1e6": Case("diag-d10-P1e6", "diag", d=10, P=1_000_000, S=1000)}


@dataclasses.dataclass
class Problem:
    case: Case
    H: np.ndarray  # (d, d) float32 Hessian, cond 100
    L: np.ndarray  # (d, d) Cholesky of C = H (dense cases) or diag std (diag case, shape (d,))
    G: np.ndarray | None = None  # (N, d) per-example gradients (low-rank case)
    X: np.ndarray | None = None  # regression data
    y: np.ndarray | None = None

    @property
    def noise_scale(self) -> float:
        return LR / math.sqrt(BATCH)


def make_problem(case: Case, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    d = case.d
    if case.kind == "minibatch":
        X = rng.standard_normal((case.N, d)).astype(np.float32) / math.sqrt(d)
        theta_true = rng.standard_normal(d).astype(np.float32)
        y = (X @ theta_true + 0.1 * rng.standard_normal(case.N)).astype(np.float32)
        H = (X.T @ X / case.N).astype(np.float32)
        return Problem(case, H, np.zeros((0,)), X=X, y=y)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.logspace(-2, 0, d)
    H64 = (q * lam) @ q.T
    H64 = 0.5 * (H64 + H64.T)
    H = H64.astype(np.float32)
    if case.kind == "diag":
        return Problem(case, H, np.sqrt(np.diag(H64)).astype(np.float32))
    L = np.linalg.cholesky(H64).astype(np.float32)
    G = rng.standard_normal((case.N, d)).astype(np.float32) if case.kind == "lowrank" else None
    return Problem(case, H, L, G=G)


def lowrank_factor(G: np.ndarray) -> np.ndarray:
    """``F`` (d, N) with ``F Fᵀ = C`` (centred per-example covariance), as sgd_sde builds it."""
    c = G.astype(np.float64) - G.mean(0, dtype=np.float64)
    return (c.T / math.sqrt(G.shape[0])).astype(np.float32)


@dataclasses.dataclass
class Work:
    particle_steps: float
    flops: float
    variates: float  # random numbers drawn
    bytes: float = 0.0  # least memory traffic: the state read and written once per step (+ gathered data)
    # what the variates are: "normal" (jax.random.normal), "engine normal" (sgd_sde.noise.standard_normal,
    # the engine's Gaussian source) or "uniform" (index sampling)
    rng: str = "normal"


def work(pb: Problem, variant: str, P: int | None = None) -> Work:
    """Per-run counts of one implementation's algorithm (``variant``): particle-steps, flops,
    random variates and least bytes moved (float32 state read + written each step: ``8d`` bytes per
    particle-step; exact minibatch also reads its ``B`` gathered rows of ``X`` and targets)."""
    c = pb.case
    P = c.P if P is None else P
    ps = float(P) * c.S
    d = c.d
    state = ps * 8 * d
    if c.kind == "minibatch":
        draws = c.N if variant == "topk" else BATCH
        return Work(ps, ps * 4 * BATCH * d, ps * draws, state + ps * 4 * BATCH * (d + 1), rng="uniform")
    if variant == "lowrank":
        return Work(ps, ps * (2 * d * d + 2 * c.N * d), ps * c.N, state)
    if c.kind == "diag":
        return Work(ps, ps * (2 * d * d + 2 * d), ps * d, state)
    return Work(ps, ps * 4 * d * d, ps * d, state)


BOUNDS = ("random numbers", "memory", "matmul")


def roofline(wk: Work, ceilings: dict) -> dict:
    """The least time ``wk`` can take on a machine with the measured ``ceilings``, and which
    resource sets it: ``max(variates / rng rate, bytes / memory bandwidth, flops / matmul rate)``.

    The three resources are taken to overlap (the classic roofline); on a CPU where one core
    both draws and multiplies they do not fully, so a fraction of 100% is not reachable there.
    ``ceilings`` holds ``normals_M_per_s``, ``engine_normals_M_per_s``, ``uniforms_M_per_s``,
    ``membw_GB_per_s`` and ``matmul_gflops`` (``benchmarks/run.py::measure_ceilings``): each
    implementation is held to the rate of the generator it uses.
    """
    rate = {"normal": ceilings["normals_M_per_s"], "engine normal": ceilings["engine_normals_M_per_s"],
            "uniform": ceilings["uniforms_M_per_s"]}[wk.rng]
    seconds = {
        "random numbers": wk.variates / (rate * 1e6),
        "memory": wk.bytes / (ceilings["membw_GB_per_s"] * 1e9),
        "matmul": wk.flops / (ceilings["matmul_gflops"] * 1e9),
    }
    bound = max(BOUNDS, key=seconds.__getitem__)
    return {"bound": bound, "bound_s": seconds[bound], "bound_components_s": seconds}


def serial_bound_s(components: dict) -> float:
    """The least time if the three resources of :func:`roofline` are used one after another
    (their times add): the reference for a machine that runs a step's kernels in sequence, each
    on all cores, as XLA:CPU does. Not a strict bound — kernels that overlap, or a ceiling
    measured low, give a fraction above 100%."""
    return float(sum(components[b] for b in BOUNDS))


# ------------------------------------------------------------------------------------ builders
Builder = Callable[[Problem], tuple[Callable[[], object], Work]]


def sgd_sde_simulate(variant: str = "auto", devices=None, divergence_bound: float = 1e6,
                     observables=(), save_at_end: bool = True) -> Builder:
    """``sgd_sde.simulate`` with observables off and a single save at the end (apples to apples).

    ``divergence_bound=math.inf`` counts only non-finite values as divergence, checked once per
    block of 32 steps instead of every step (same results for these updates; see simulate).
    ``observables=None`` and ``save_at_end=False`` give simulate's defaults (the ``"loss"`` and
    ``"distance_from_init"`` observables at about 100 save points), for the observables A/B.
    """

    def build(pb: Problem):
        import jax
        import jax.numpy as jnp

        from sgd_sde import simulate
        from sgd_sde.dynamics import SGD, EulerMaruyama
        from sgd_sde.landscapes import LinearRegression, Quadratic
        from sgd_sde.noise import Dense, Diagonal, ExactMinibatch, from_per_example_grads

        c = pb.case
        key = jax.random.key(0)
        if c.kind == "minibatch":
            land = LinearRegression(pb.X, pb.y)
            dyn, noise = SGD(lr=LR, batch_size=BATCH), ExactMinibatch(replace=False)
            wk = work(pb, "floyd")  # B <= 64 and B² <= 32 N: Floyd sampler, B draws
        else:
            land = Quadratic(pb.H)
            dyn = EulerMaruyama(lr=LR, batch_size=BATCH)
            if c.kind == "diag":
                noise = Diagonal(np.diag(pb.H))
            elif variant == "lowrank":
                noise = from_per_example_grads(pb.G)  # N < d: picks LowRank automatically
            else:
                noise = Dense(pb.H)
            wk = dataclasses.replace(work(pb, variant), rng="engine normal")  # float32: standard_normal's fast path
        theta0 = jnp.ones((c.P, c.d), jnp.float32)

        kw = dict(progress=False, devices=devices, divergence_bound=divergence_bound)
        if save_at_end:
            kw["save_at"] = [c.S]
        if observables is not None:
            kw["observables"] = observables

        def run():
            return simulate(key, land, dyn, theta0, noise=noise, n_steps=c.S, **kw).theta

        return run, wk

    return build


def hand_step(pb: Problem, layout: str = "dP", variant: str = "dense", engine_normals: bool = False):
    """The hand-written update of :func:`jax_scan`, ``step(theta, t) -> theta``, with the state's
    shape and the run's :class:`Work`. Step ``t`` draws with ``fold_in(key(0), t)``, from
    ``jax.random.normal`` — or, with ``engine_normals``, from the engine's own source
    :func:`sgd_sde.noise.standard_normal`. Exact minibatch samples with ``top_k`` of uniforms —
    or, with ``engine_normals``, with the engine's own sampler (``ExactMinibatch.sample``: Floyd's
    algorithm on :func:`sgd_sde.noise.uniform_below`)."""
    import jax
    import jax.numpy as jnp

    from sgd_sde.noise import standard_normal

    c = pb.case
    key = jax.random.key(0)
    draw = standard_normal if engine_normals else jax.random.normal
    H = jnp.asarray(pb.H)
    s = pb.noise_scale
    dp = layout == "dP"
    if c.kind == "minibatch":
        from sgd_sde.landscapes import LinearRegression
        from sgd_sde.noise import ExactMinibatch

        X, y = jnp.asarray(pb.X), jnp.asarray(pb.y)
        land, sampler = LinearRegression(pb.X, pb.y), ExactMinibatch(replace=False)

        def indices(k, n_particles):  # (P, B)
            if engine_normals:
                return sampler.sample(k, land, n_particles, BATCH, jnp.float32).T
            return jax.lax.top_k(jax.random.uniform(k, (n_particles, c.N)), BATCH)[1]

        def step(th, t):  # th (d, P)
            idx = indices(jax.random.fold_in(key, t), th.shape[1])
            xb = X[idx]  # (P, B, d)
            r = jnp.einsum("pbd,dp->pb", xb, th) - y[idx]
            g = jnp.einsum("pbd,pb->dp", xb, r) / BATCH
            return th - LR * g

        return step, (c.d, c.P), work(pb, "floyd" if engine_normals else "topk")
    if c.kind == "diag":
        sd = jnp.asarray(pb.L * s)
        noise = (lambda xi: sd[:, None] * xi) if dp else (lambda xi: xi * sd)
        m = c.d
    elif variant == "lowrank":
        F = jnp.asarray(lowrank_factor(pb.G) * s)
        noise = (lambda xi: F @ xi) if dp else (lambda xi: xi @ F.T)
        m = c.N
    else:
        Ls = jnp.asarray(pb.L * s)
        noise = (lambda xi: Ls @ xi) if dp else (lambda xi: xi @ Ls.T)
        m = c.d
    zshape = (m, c.P) if dp else (c.P, m)

    def step(th, t):
        xi = draw(jax.random.fold_in(key, t), zshape, th.dtype)
        return th - LR * ((H @ th) if dp else (th @ H)) + noise(xi)

    wk = dataclasses.replace(work(pb, variant), rng="engine normal" if engine_normals else "normal")
    return step, ((c.d, c.P) if dp else (c.P, c.d)), wk


def jax_scan(layout: str, variant: str = "dense", engine_normals: bool = False) -> Builder:
    """Hand-written ``lax.scan`` of :func:`hand_step`'s update (the same loop with the same
    generator as ``simulate`` when ``engine_normals``)."""

    def build(pb: Problem):
        import jax
        import jax.numpy as jnp

        step, shape, wk = hand_step(pb, layout, variant, engine_normals)

        @jax.jit
        def scan(th):
            return jax.lax.scan(lambda th, t: (step(th, t), None), th, jnp.arange(pb.case.S))[0]

        th0 = jnp.ones(shape, jnp.float32)
        return (lambda: scan(th0).block_until_ready()), wk

    return build


def diffrax_euler(brownian: str, batched: bool, p_div: int = 1) -> Builder:
    """diffrax ``Euler`` on the same SDE, ``dt = η``; UnsafeBrownianPath or VirtualBrownianTree.

    ``batched=False`` is the documented recipe (``jax.vmap`` over particles, state ``(d,)``);
    ``batched=True`` is one ``(d, P)`` state with a lineax operator as the diffusion.
    """

    def build(pb: Problem):
        import diffrax as dfx
        import jax
        import jax.numpy as jnp
        import lineax as lx

        c = pb.case
        P = max(1, c.P // p_div)
        H = jnp.asarray(pb.H)
        sc = math.sqrt(LR / BATCH)  # diffusion sqrt(η/B) C^{1/2}; Brownian increment has variance dt
        diag = c.kind == "diag"
        sL = jnp.asarray(pb.L * sc)
        dt, t1 = LR, c.S * LR
        f32 = jnp.float32

        def bm_for(shape, k):
            if brownian == "ubp":
                return dfx.UnsafeBrownianPath(shape=shape, key=k)
            return dfx.VirtualBrownianTree(0.0, t1, tol=dt / 2, shape=shape, key=k)

        def solve(terms, y0):
            return dfx.diffeqsolve(terms, dfx.Euler(), 0.0, t1, dt0=dt, y0=y0, saveat=dfx.SaveAt(t1=True),
                                   max_steps=c.S + 16, adjoint=dfx.ForwardMode())

        if batched:
            def run_all(y0, key):
                struct = jax.ShapeDtypeStruct((c.d, P), f32)
                op = lx.FunctionLinearOperator((lambda w: sL[:, None] * w) if diag else (lambda w: sL @ w), struct)
                drift = dfx.ODETerm(lambda t, y, a: -(H @ y))
                terms = dfx.MultiTerm(drift, dfx.ControlTerm(lambda t, y, a: op, bm_for((c.d, P), key)))
                sol = solve(terms, y0)
                return sol.ys[-1], sol.stats["num_steps"]

            y0 = jnp.ones((c.d, P), f32)
        else:
            def one(y0, k):
                diff = lx.DiagonalLinearOperator(sL) if diag else sL
                terms = dfx.MultiTerm(dfx.ODETerm(lambda t, y, a: -(H @ y)),
                                      dfx.ControlTerm(lambda t, y, a: diff, bm_for((c.d,), k)))
                sol = solve(terms, y0)
                return sol.ys[-1], sol.stats["num_steps"]

            def run_all(y0, key):
                ys, n = jax.vmap(one)(y0, jax.random.split(key, P))
                return ys, n[0]

            y0 = jnp.ones((P, c.d), f32)
        fn = jax.jit(run_all)
        key = jax.random.key(0)

        def run():
            ys, n = fn(y0, key)
            ys.block_until_ready()
            if int(n) != c.S:
                raise RuntimeError(f"diffrax took {int(n)} steps, expected {c.S}")
            return ys

        return run, work(pb, "dense", P=P)

    return build


def numpy_loop(variant: str = "dense") -> Builder:
    """NumPy loop in the ``(P, d)`` layout (PCG64 normals, OpenBLAS sgemm)."""

    def build(pb: Problem):
        c = pb.case
        s = np.float32(pb.noise_scale)
        H = pb.H
        lr = np.float32(LR)

        if c.kind == "minibatch":
            X, y = pb.X, pb.y

            def run():
                rng = np.random.default_rng(0)
                th = np.ones((c.P, c.d), np.float32)
                rows = np.arange(c.P)[:, None]
                for _ in range(c.S):
                    idx = np.argpartition(rng.random((c.P, c.N), dtype=np.float32), BATCH, axis=1)[:, :BATCH]
                    xb = X[idx]  # (P, B, d)
                    r = np.einsum("pbd,pd->pb", xb, th) - y[idx]
                    th = th - lr * np.einsum("pbd,pb->pd", xb, r) / np.float32(BATCH)
                del rows
                return th

            return run, work(pb, "topk")
        if c.kind == "diag":
            sd = (pb.L * s).astype(np.float32)
            m, apply = c.d, (lambda xi: xi * sd)
        elif variant == "lowrank":
            FT = np.ascontiguousarray((lowrank_factor(pb.G) * s).T)
            m, apply = c.N, (lambda xi: xi @ FT)
        else:
            LT = np.ascontiguousarray((pb.L * s).T)
            m, apply = c.d, (lambda xi: xi @ LT)

        def run():
            rng = np.random.default_rng(0)
            th = np.ones((c.P, c.d), np.float32)
            for _ in range(c.S):
                th = th - lr * (th @ H) + apply(rng.standard_normal((c.P, m), dtype=np.float32))
            return th

        return run, work(pb, variant)

    return build


#: name endings of the hand scans that draw with the engine's own generator (normals; minibatch
#: sampler): run.py's same-generator column, kept out of the best-hand-scan comparison
ENGINE_GENERATOR = ("sgd_sde normals", "sgd_sde sampler")


def implementations(case: Case, device: str) -> dict[str, Builder]:
    """The implementations timed on ``case`` (NumPy only on CPU; VBT on fewer particles)."""
    out: dict[str, Builder] = {}
    if case.kind == "minibatch":
        out["sgd_sde.simulate (ExactMinibatch)"] = sgd_sde_simulate("auto")
        out["sgd_sde.simulate (ExactMinibatch), bound=inf"] = sgd_sde_simulate("auto", divergence_bound=math.inf)
        out["JAX scan (d,P), top_k sampler"] = jax_scan("dP")
        out[f"JAX scan (d,P), {ENGINE_GENERATOR[1]}"] = jax_scan("dP", engine_normals=True)
        if device == "cpu":
            out["NumPy loop (P,d)"] = numpy_loop()
        return out
    lr_variant = ["dense"] + (["lowrank"] if case.kind == "lowrank" else [])
    for v in lr_variant:
        tag = "" if v == "dense" else ", low-rank N=512"
        out[f"sgd_sde.simulate{tag}"] = sgd_sde_simulate(v)
        out[f"sgd_sde.simulate{tag}, bound=inf"] = sgd_sde_simulate(v, divergence_bound=math.inf)
        out[f"JAX scan (d,P){tag}"] = jax_scan("dP", v)
        out[f"JAX scan (P,d){tag}"] = jax_scan("Pd", v)
        out[f"JAX scan (d,P){tag}, {ENGINE_GENERATOR[0]}"] = jax_scan("dP", v, engine_normals=True)
        if device == "cpu":
            out[f"NumPy loop (P,d){tag}"] = numpy_loop(v)
    out["diffrax Euler+UBP, vmap"] = diffrax_euler("ubp", batched=False)
    out["diffrax Euler+UBP, batched (d,P)+lineax"] = diffrax_euler("ubp", batched=True)
    p_div = {"diag": 64, "dense": 8, "lowrank": 4}[case.kind]
    if device != "cpu":
        p_div = {"diag": 8, "dense": 1, "lowrank": 1}[case.kind]
    out[f"diffrax Euler+VBT, vmap (P/{p_div})"] = diffrax_euler("vbt", batched=False, p_div=p_div)
    return out
