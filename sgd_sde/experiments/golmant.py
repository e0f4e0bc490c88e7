r"""Golmant ("Fine-tuned noise"), Chaudhari & Soatto 2018 and Zhu et al. 2019 on a real network:
the shape of minibatch noise near a minimum, and whether that shape helps escape a sharp one.

Sources: N. Golmant, "Fine-tuned Noise" (blog post: minibatch noise covariance ≈ Fisher ≈ a
scaled Hessian near a minimum; the Hessian of an over-parameterised net is highly degenerate;
anisotropic noise pushes out of sharp minima); Chaudhari & Soatto 2018, "Stochastic Gradient
Descent Performs Variational Inference, Converges to Limit Cycles for Deep Networks" (ICLR;
their Lemma on the minibatch covariance); Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in
Stochastic Gradient Descent: Its Behavior of Escaping from Sharp Minima and Regularization
Effects" (ICML; the indicator ``Tr(HΣ)``).

Set-up. An over-parameterised MLP (``d`` parameters ≫ ``N`` examples) on a subset of
scikit-learn's digits is trained by full-batch heavy-ball GD (the large-batch extreme, so its
solution is a sharp one) to a minimum ``θ*``. There the per-example gradients give the exact
covariance ``Σ`` (rank ≤ N − 1) and Fisher ``F``; ``d`` Hessian-vector products give the exact
Hessian ``H``. Claims, one sentence each (over seeds: bootstrap CI):

* ``golmant.cov_matches_fisher`` — near a minimum the noise covariance equals the (empirical)
  Fisher: the Frobenius cosine ``cos(Σ, F)`` is 1 within 0.05.
* ``golmant.cov_matches_hessian`` — the seed's second link: the noise covariance approaches the
  Hessian (Fisher = H at a well-specified minimum): ``cos(Σ, H)`` is 1 within 0.1.
* ``chaudhari2018.noise_aligned_with_hessian`` — the noise covariance is aligned with the Hessian
  better than isotropic noise is: ``cos(Σ, H) − cos(I, H) > 0``.
* ``golmant.hessian_degenerate`` — most Hessian eigenvalues are (near) zero: the fraction with
  ``|λ| ≤ 10⁻³ λ_max`` exceeds one half.
* ``zhu2019.trace_indicator`` — at equal total variance ``Tr Σ``, anisotropic noise has the
  larger ``Tr(HΣ)``: the ratio ``Tr(HΣ) / (Tr Σ · Tr H / d)`` exceeds 1.
* ``zhu2019.anisotropic_escapes_faster`` — full-batch GD with injected noise of the measured
  covariance leaves the sharp minimum sooner than with isotropic noise of the same total
  variance (``log`` of the ratio of restricted mean exit times, iso/aniso, > 0; bootstrap over
  particles). Exit: the training loss rises by ``delta`` above ``L(θ*)``.
* ``golmant.quadratic_model_predicts_escape`` — the quadratic model at the measured ``H`` and
  ``Σ``, simulated in the engine (:func:`sgd_sde.simulate` with :class:`sgd_sde.noise.LowRank`
  and :class:`sgd_sde.noise.Isotropic`), predicts the network's log ratio within ``log 2``.
* ``golmant.quadratic_model_predicts_exit_time`` — it predicts the network's (restricted) mean
  exit time under the anisotropic noise within a factor 2.

The escape runs use ``η = lr_frac / λ_max`` (stable GD) and noise of covariance ``Σ/B`` (SGD's at
batch ``B = batch_size``; isotropic: ``(Tr Σ/d) I/B``, the same total variance); the threshold
``delta`` is ``noise_ratio`` times the anisotropic run's stationary excess loss in the quadratic
model, ``η Tr(HΣ)/(4B)`` (the small-``η`` SDE value). Exit times are censored at ``max_steps``; the
effect is the log ratio of restricted mean exit times ``E min(τ, max_steps)``, which is a lower
bound of the log ratio of mean exit times when the isotropic runs are censored. The quadratic model is simulated on the
range of ``H`` (eigenvalues above ``rank_tol · λ_max``; ``H`` clipped to PSD), where it is exact
for the loss: null directions of ``H`` never change it. The network escape loop is a
``lax.scan`` over steps in this module, :func:`exit_steps`: its exit test compares every particle
with the noiseless GD path run alongside, which an exit test on one particle's ``θ`` alone (the
engine's ``sgd_sde.stability.escape_time(..., exited=...)``) cannot express; both runs use per-step exit checks.

Run: ``python -m sgd_sde.experiments.golmant`` (``--size full`` for the full size).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..verdicts import ExperimentResult, Verdict
from ._sharpness_common import single_blas_thread
from ._common import Timer, as_key, bootstrap_ci, digits, make_result, mean_ci, mlp_fn, resolve_size

__all__ = ["run", "figure", "CITATION", "exit_steps"]

CITATION = ("Golmant, \"Fine-tuned Noise\" (blog post); Chaudhari & Soatto 2018, \"Stochastic Gradient Descent "
            "Performs Variational Inference, Converges to Limit Cycles for Deep Networks\" (ICLR); Zhu, Wu, Yu, Wu & "
            "Ma 2019, \"The Anisotropic Noise in Stochastic Gradient Descent: Its Behavior of Escaping from Sharp "
            "Minima and Regularization Effects\" (ICML)")

_SIZES = {
    # data, widths, seeds, full-batch GD (steps, lr, momentum); escape: η = lr_frac/λ_max, noise at batch
    # size batch_size, threshold noise_ratio × the isotropic stationary excess loss, particles, steps;
    # eigenvalue tolerance; SLQ settings; quadratic-model particles
    "toy": dict(n_train=64, widths=(8,), seeds=2, train_steps=150, train_lr=0.1, momentum=0.9, lr_frac=0.5,
                batch_size=4, noise_ratio=2.0, n_particles=8, max_steps=150, rank_tol=1e-3, slq_iter=20, slq_probes=2,
                quad_particles=64),
    "quick": dict(n_train=128, widths=(8,), seeds=3, train_steps=300, train_lr=0.1, momentum=0.9, lr_frac=0.5,
                  batch_size=4, noise_ratio=2.0, n_particles=16, max_steps=400, rank_tol=1e-3, slq_iter=40,
                  slq_probes=4, quad_particles=256),
    "full": dict(n_train=256, widths=(16,), seeds=6, train_steps=1000, train_lr=0.1, momentum=0.9, lr_frac=0.5,
                 batch_size=4, noise_ratio=2.0, n_particles=64, max_steps=3000, rank_tol=1e-3, slq_iter=80,
                 slq_probes=8, quad_particles=1024),
}


def _flat_loss(loss_fn, unravel, X, Y):
    def f(theta):
        return jnp.mean(jax.vmap(loss_fn, in_axes=(None, 0, 0))(unravel(theta), X, Y))

    return f


def exit_steps(key, value_and_grad, theta0, noise_factor, *, lr: float, delta: float, n_particles: int,
               max_steps: int) -> np.ndarray:
    r"""First step at which injected noise raises the loss of full-batch GD by ``delta`` (per particle).

    ``θ_{k+1} = θ_k − η (∇L(θ_k) + A z_k)`` with ``z_k ~ N(0, I_m)`` (``A = noise_factor``, ``d × m``:
    the noise covariance is ``A Aᵀ``), from ``θ_0 = theta0`` for every particle; the noiseless GD path
    ``θ̄_k`` from the same start runs alongside, and a particle exits at the first ``k`` with
    ``L(θ_k) − L(θ̄_k) ≥ delta`` — the rise due to the noise, so that a start that is not exactly
    stationary (GD still descending) does not bias the comparison. Step ``k`` draws from
    ``fold_in(key, k)``; exited particles are frozen. One ``lax.scan`` over steps, ``vmap`` over particles.

    Args:
        key: ``jax.random`` key.
        value_and_grad: ``θ -> (L(θ), ∇L(θ))`` (traceable).
        theta0: ``(d,)`` start.
        noise_factor: ``(d, m)`` matrix ``A``.
        lr: ``η > 0``; delta: the loss rise that counts as an exit (> 0).
        n_particles, max_steps: ensemble size and step budget.

    Returns:
        ``(n_particles,)`` int: the exit step ``k`` (``-1``: still inside after ``max_steps``; a
        non-finite loss counts as an exit).

    Raises:
        ValueError: a non-positive ``lr``, ``delta``, ``n_particles`` or ``max_steps``, or a factor
            whose first dimension is not ``d``.
    """
    from .. import _validate as V

    lr, delta = V.positive("lr", lr), V.positive("delta", delta)
    P, T = V.positive_int("n_particles", n_particles), V.positive_int("max_steps", max_steps)
    A = jnp.asarray(noise_factor, theta0.dtype)
    if A.ndim != 2 or A.shape[0] != theta0.shape[0]:
        raise ValueError(f"noise_factor must have shape (d, m) with d={theta0.shape[0]}, got {A.shape}")
    th = jnp.broadcast_to(theta0, (P + 1,) + theta0.shape)  # row P: the noiseless GD path
    on = jnp.concatenate([jnp.ones(P, theta0.dtype), jnp.zeros(1, theta0.dtype)])[:, None]
    vg = jax.vmap(value_and_grad)

    @jax.jit
    def go(th, A):
        def step(c, k):
            th, ex = c
            loss, g = vg(th)
            rise = loss[:P] - loss[P]
            out = (~jnp.isfinite(rise)) | (rise >= delta)
            ex = jnp.where((ex < 0) & out, k, ex)
            z = jax.random.normal(jax.random.fold_in(key, k), (P + 1, A.shape[1]), th.dtype)
            new = th - lr * (g + on * (z @ A.T))
            frozen = jnp.concatenate([ex >= 0, jnp.zeros(1, bool)])
            th = jnp.where(frozen[:, None], th, new)
            return (th, ex), None

        (_, ex), _ = jax.lax.scan(step, (th, jnp.full((P,), -1, jnp.int32)), jnp.arange(T))
        return ex

    return np.asarray(go(th, A))


def _restricted_mean(ex, max_steps):
    """Mean of ``min(T, max_steps)`` per column (``T = −1``: censored at ``max_steps``)."""
    t = np.where(ex < 0, max_steps, ex).astype(np.float64)
    return t.mean(axis=0)


def _survival(ex, max_steps):
    t = np.where(ex < 0, max_steps + 1, ex)
    grid = np.arange(max_steps + 1)
    return (t[None, :] > grid[:, None]).mean(axis=1)


@single_blas_thread
def run(key, *, quick: bool = False, size: str | None = None) -> ExperimentResult:
    """Measure the noise/Fisher/Hessian geometry at full-batch minima and run the escape comparison.

    Args:
        key: ``jax.random`` key or int seed.
        quick: the small configuration (same code path); ``size`` overrides (``"toy"``, ``"quick"``, ``"full"``).

    Returns:
        :class:`~sgd_sde.verdicts.ExperimentResult` named ``"golmant"``; data: per-seed cosines,
        degeneracy and trace ratios, the exact Hessian eigenvalues and the SLQ density of seed 0,
        the exit steps (network and quadratic model, anisotropic and isotropic) and their survival curves.

    Raises:
        ValueError, TypeError: a bad ``size``, ``quick`` or ``key``.
    """
    from .. import measure
    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..measure._core import Objective
    from ..networks import example_loss
    from ..noise import Isotropic, LowRank
    from ..simulate import simulate
    from ._sharpness_common import divergence_note, evaluate_members, member, train_ensemble

    size = resolve_size(quick, size)
    key = as_key(key)
    cfg = _SIZES[size]
    data = digits(cfg["n_train"], None)
    N = data.n_train
    X, Y = data.x_train, data.y_train
    k_train, k_meas, k_net, k_quad = jax.random.split(key, 4)
    seeds = list(range(cfg["seeds"]))
    ns = len(seeds)
    timer = Timer()
    r = train_ensemble(k_train, mlp_fn(data, cfg["widths"]), data, seeds=seeds, lr_scales=[cfg["train_lr"]],
                       batch_size=N, n_steps=cfg["train_steps"], momentum=cfg["momentum"])
    train_loss, train_acc = evaluate_members(r.static, r.params, r.bn_state, X, Y)
    t_train = timer.seconds

    cos = np.zeros((ns, 4))  # cos(Σ,F), cos(Σ,H), cos(F,H), cos(I,H)
    degenerate, trace_ratio, lam_max, grad_norm, rank = (np.zeros(ns) for _ in range(5))
    for i in range(ns):
        loss_fn, p = example_loss(eqx.combine(member(r.params, i), r.static))
        al = measure.covariance_alignment(loss_fn, p, X, Y)
        obj = Objective(loss_fn, p, X, Y)
        d = obj.dim
        H = obj.hvps(np.eye(d, dtype=obj.dtype)).astype(np.float64)
        H = 0.5 * (H + H.T)
        lam, Q = np.linalg.eigh(H)
        g = np.concatenate([b for _, b in obj.grad_blocks()]).astype(np.float64)
        dev = g - g.mean(0)
        tr_sigma = float(np.sum(dev**2) / N)
        tr_h_sigma = float(np.sum(dev * (dev @ H)) / N)
        cos[i] = (al["cos_cov_fisher"], al["cos_cov_hessian"], al["cos_fisher_hessian"],
                  np.trace(H) / (math.sqrt(d) * np.linalg.norm(H)))
        lam_max[i] = lam[-1]
        degenerate[i] = np.mean(np.abs(lam) <= cfg["rank_tol"] * lam[-1])
        rank[i] = np.sum(np.abs(lam) > cfg["rank_tol"] * lam[-1])
        trace_ratio[i] = tr_h_sigma / (tr_sigma * np.trace(H) / d)
        grad_norm[i] = float(np.linalg.norm(g.mean(0)))
        if i == 0:
            keep = dict(lam=lam, Q=Q, dev=dev, H=H, obj=obj, loss_fn=loss_fn, p=p, tr_sigma=tr_sigma,
                        tr_h_sigma=tr_h_sigma, tr_h=float(np.trace(H)))
    t_geom = timer.seconds - t_train

    # ---- Hessian spectral density (seed 0): exact eigenvalues and stochastic Lanczos quadrature
    slq = measure.hessian_spectral_density(keep["loss_fn"], keep["p"], X, Y, key=k_meas, n_probes=cfg["slq_probes"],
                                           n_iter=cfg["slq_iter"])

    # ---- escape from the sharp minimum of seed 0: network, then the quadratic model in the engine
    timer2 = Timer()
    lam, Q, dev, H = keep["lam"], keep["Q"], keep["dev"], keep["H"]
    d = H.shape[0]
    eta = cfg["lr_frac"] / lam[-1]
    s2 = 1.0 / cfg["batch_size"]
    sigma2_iso = keep["tr_sigma"] / d
    # threshold: noise_ratio × the anisotropic run's stationary excess loss in the quadratic model
    delta = cfg["noise_ratio"] * eta * s2 * keep["tr_h_sigma"] / 4.0
    aniso_factor = math.sqrt(s2) * dev.T / math.sqrt(N)  # (d, N): A Aᵀ = s² Σ
    iso_factor = math.sqrt(s2 * sigma2_iso) * np.eye(d)
    theta0 = keep["obj"].theta
    f = _flat_loss(keep["loss_fn"], keep["obj"].unravel, jnp.asarray(X), jnp.asarray(Y))
    L0 = float(f(theta0))
    vg = jax.value_and_grad(f)
    P, T = cfg["n_particles"], cfg["max_steps"]
    net = np.stack([exit_steps(jax.random.fold_in(k_net, j), vg, theta0, A, lr=eta, delta=delta,
                               n_particles=P, max_steps=T) for j, A in enumerate((aniso_factor, iso_factor))], axis=1)
    t_net = timer2.seconds

    pos = lam > cfg["rank_tol"] * lam[-1]
    Qr, lr_ = Q[:, pos], lam[pos]
    quad = Quadratic(np.diag(lr_).astype(np.float32))
    noises = (LowRank((Qr.T @ aniso_factor).astype(np.float32)), Isotropic(float(s2 * sigma2_iso)))
    Pq = cfg["quad_particles"]
    qx = []
    for j, nz in enumerate(noises):
        traj = simulate(jax.random.fold_in(k_quad, j), quad, SGD(lr=float(eta), batch_size=1), np.zeros(pos.sum(), np.float32),
                        noise=nz, n_steps=T, n_particles=Pq, save_every=1, observables=("loss",), progress=False)
        hit = traj.saved["loss"] >= delta  # (T+1, Pq)
        qx.append(np.where(hit.any(0), hit.argmax(0), -1))
    quad_ex = np.stack(qx, axis=1)
    t_quad = timer2.seconds - t_net

    # ---- verdicts
    verdicts = []
    common = (f"{ns} full-batch GD minima (N={N}, d={d}, train loss {train_loss.mean():.3g}, ‖∇L‖ {grad_norm.mean():.2g}, "
              f"λ_max {lam_max.mean():.3g}). {divergence_note(r)}")

    def add(claim, values, expected, statement, note, kind="greater", tolerance=None, seconds=t_geom / 4):
        m, ci = mean_ci(values)
        verdicts.append(Verdict.decide(claim, "network", m, expected, ci=ci, kind=kind, tolerance=tolerance,
                                       seconds=seconds, figure="golmant", statement=statement, note=f"{note} {common}"))

    add("golmant.cov_matches_fisher", cos[:, 0], 1.0,
        "Near a minimum the minibatch noise covariance equals the (empirical) Fisher.",
        f"cos(Σ, F) = {cos[:, 0].mean():.4f}. The empirical Fisher is Σ + ḡḡᵀ, so this measures how small the mean "
        "gradient is against the per-example spread; it is the first link of the seed's chain, not evidence that "
        "the noise is Hessian-shaped (see golmant.cov_matches_hessian).", kind="equal", tolerance=0.05)
    add("golmant.cov_matches_hessian", cos[:, 1], 1.0,
        "Near a minimum of a negative log-likelihood the noise covariance approaches the Hessian (Fisher = H).",
        f"cos(Σ, H) = {cos[:, 1].mean():.4f} (cos(F, H) = {cos[:, 2].mean():.4f}); the Fisher equals the Hessian only "
        "where the model's predictive distribution matches the labels'.", kind="equal", tolerance=0.1)
    add("chaudhari2018.noise_aligned_with_hessian", cos[:, 1] - cos[:, 3], 0.0,
        "The minibatch noise covariance is aligned with the Hessian, better than isotropic noise.",
        f"cos(Σ, H) = {cos[:, 1].mean():.4f} vs isotropic cos(I, H) = {cos[:, 3].mean():.4f} (cos(F, H) = {cos[:, 2].mean():.4f}).")
    add("golmant.hessian_degenerate", degenerate, 0.5, "The Hessian of an over-parameterised net is highly degenerate.",
        f"Fraction of eigenvalues with |λ| ≤ {cfg['rank_tol']:g}·λ_max: {degenerate.mean():.3f}; numerical rank "
        f"{rank.mean():.0f} of d = {d} (N = {N} examples, {data.n_classes} classes).")
    add("zhu2019.trace_indicator", trace_ratio, 1.0,
        "At equal total variance, anisotropic minibatch noise has a larger Tr(HΣ) than isotropic noise.",
        f"Tr(HΣ)/(TrΣ·TrH/d) = {trace_ratio.mean():.3g}; seed 0: Tr(HΣ_aniso) = {keep['tr_h_sigma']:.4g}, "
        f"Tr(HΣ_iso) = {keep['tr_sigma'] * keep['tr_h'] / d:.4g}.")

    def log_ratio(ex, axis=0):
        m = _restricted_mean(ex, T)
        return float(np.log(m[1] / m[0]))

    lr_net = log_ratio(net)
    ci_net = bootstrap_ci(net, stat=log_ratio, n_boot=1000)
    lr_quad = log_ratio(quad_ex)
    frac = lambda ex: (ex >= 0).mean(axis=0)
    censored = (" No isotropic particle exited in either ensemble, so both ratios are lower bounds set by the budget "
                "and the comparison reduces to the anisotropic exit times." if frac(net)[1] == 0 and frac(quad_ex)[1] == 0
                else "")
    esc = (f"Exit when L − L(θ*) ≥ {delta:.4g}; η = {cfg['lr_frac']}/λ_max = {eta:.3g}, noise amplitude s² = {s2:.3g} "
           f"(effective B = {1 / s2:.3g}), {T} steps. Escaped fraction network aniso {frac(net)[0]:.2f}, iso "
           f"{frac(net)[1]:.2f}; quadratic model aniso {frac(quad_ex)[0]:.2f}, iso {frac(quad_ex)[1]:.2f}. Restricted "
           f"mean exit step network aniso {_restricted_mean(net, T)[0]:.1f}, iso {_restricted_mean(net, T)[1]:.1f}.")
    verdicts.append(Verdict.decide(
        "zhu2019.anisotropic_escapes_faster", "network", lr_net, 0.0, ci=ci_net, kind="greater", seconds=t_net,
        figure="golmant", statement="Anisotropic (minibatch-shaped) noise escapes a sharp minimum faster than "
        "isotropic noise of the same total variance.",
        note=(f"log(τ_iso/τ_aniso) of restricted means on the network ({P} particles each; a lower bound when "
              f"isotropic runs are censored). {esc}")))
    verdicts.append(Verdict.decide(
        "golmant.quadratic_model_predicts_escape", "simulation", lr_net, lr_quad, tolerance=math.log(2.0), ci=ci_net,
        kind="equal", seconds=t_quad, figure="golmant",
        statement="The quadratic model at the measured H and Σ predicts the network's escape-time ratio.",
        note=(f"Network log(τ_iso/τ_aniso) {lr_net:.3f} vs quadratic model {lr_quad:.3f} (engine: simulate, Quadratic on "
              f"the {int(pos.sum())}-dim range of H, LowRank/Isotropic noise, {Pq} particles); tolerance log 2."
              f"{censored} {esc}")))

    log_t = lambda ex, axis=0: float(np.log(_restricted_mean(ex[:, :1], T)[0]))
    verdicts.append(Verdict.decide(
        "golmant.quadratic_model_predicts_exit_time", "simulation", log_t(net), log_t(quad_ex), tolerance=math.log(2.0),
        ci=bootstrap_ci(net, stat=log_t, n_boot=1000), kind="equal", seconds=t_quad, figure="golmant",
        statement="The quadratic model at the measured H and Σ predicts how fast minibatch-shaped noise leaves the minimum.",
        note=(f"log of the restricted mean exit step under anisotropic noise: network {log_t(net):.3f} vs quadratic model "
              f"{log_t(quad_ex):.3f}; tolerance log 2. {esc}")))

    config = {"size": size, "quick": size != "full", **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}
    out = {"cosines": cos, "degenerate_fraction": degenerate, "rank": rank, "trace_ratio": trace_ratio, "lambda_max": lam_max,
           "train_loss": train_loss, "train_acc": train_acc, "grad_norm": grad_norm,
           "eigenvalues": lam, "slq_grid": slq.grid, "slq_density": slq.density,
           "net_exit": net, "quad_exit": quad_ex, "net_survival": np.stack([_survival(net[:, j], T) for j in range(2)]),
           "quad_survival": np.stack([_survival(quad_ex[:, j], T) for j in range(2)]),
           "escape_params": np.array([eta, s2, delta, L0, keep["tr_h_sigma"], keep["tr_sigma"] * keep["tr_h"] / d,
                                      int(pos.sum())])}
    return make_result("golmant", CITATION, verdicts, out, config, key)


def figure(result: ExperimentResult, out_dir):
    """Three panels from the saved result: (a) Hessian eigenvalue density at the seed-0 minimum
    (exact eigenvalues as a histogram, stochastic Lanczos quadrature as a curve); (b) Frobenius
    cosines of Σ with F and H, of F with H and of I with H (dots: seeds); (c) survival (fraction
    not yet escaped) against steps, anisotropic vs isotropic noise, network and quadratic model,
    with Tr(HΣ) of each."""
    from ._sharpness_common import check_result

    check_result(result, "golmant")
    from ..figures.style import paper_style, plt
    from ._common import save_figure

    d = result.data
    with paper_style():
        fig, ax = plt.subplots(1, 3, figsize=(11.0, 3.4), constrained_layout=True)
        lam = d["eigenvalues"]
        bins = np.linspace(lam.min(), lam.max(), 60)
        hist = ax[0].hist(lam, bins=bins, density=True, color="C0", alpha=0.5, label=f"exact (d = {lam.size})")[0]
        ax[0].plot(d["slq_grid"], d["slq_density"], color="C3", lw=1.0, label="Lanczos quadrature")
        ax[0].set(yscale="log", xlabel="Hessian eigenvalue λ", ylabel="density", ylim=(1e-4, 5 * hist.max()),
                  title=f"(a) Hessian spectrum, {d['degenerate_fraction'][0]:.0%} of λ ≈ 0")
        ax[0].legend(frameon=False)
        c = d["cosines"]
        labels = ("cos(Σ, F)", "cos(Σ, H)", "cos(F, H)", "cos(I, H)")
        for j in range(4):
            ax[1].bar(j, c[:, j].mean(), color="C7" if j == 3 else "C2", alpha=0.7)
            ax[1].plot(np.full(c.shape[0], j), c[:, j], "k.", ms=4)
        ax[1].set_xticks(range(4), labels, fontsize=8)
        ax[1].set(ylim=(0, 1.05), ylabel="Frobenius cosine", title="(b) noise vs Fisher vs Hessian")
        eta, s2, delta, L0, th_a, th_i, r = d["escape_params"]
        T = d["net_survival"].shape[1]
        t = np.arange(T) + 1  # survival after step k, drawn at k + 1 on the log axis
        for j, (lab, col, tr) in enumerate((("anisotropic", "C3", th_a), ("isotropic", "C0", th_i))):
            ax[2].step(t, d["net_survival"][j], where="post", color=col, label=f"network, {lab} (Tr HΣ/B = {tr * s2:.3g})")
            ax[2].step(t, d["quad_survival"][j], where="post", color=col, ls="--", label=f"quadratic model, {lab}")
        ax[2].set(xscale="log", xlabel="steps + 1", ylabel="fraction not exited", ylim=(-0.02, 1.1),
                  title=f"(c) exit: loss rise ≥ δ = {delta:.3g}, equal Tr Σ")
        ax[2].legend(frameon=False, fontsize=7, loc="center right")
        return save_figure(fig, out_dir, result)


if __name__ == "__main__":
    from ._sharpness_common import main

    main("golmant")
