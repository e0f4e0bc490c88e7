"""Claims of Golmant's blog post "Fine-tuned noise" (2018): the structure of minibatch noise and the
stochastic stability radius of a minimum.

Symbolic checks run :mod:`sgd_sde.theory.minibatch`; simulation checks measure the covariance of
exact-minibatch updates, the Fisher/Hessian match of a well-specified logistic regression and the
stability radius (:func:`sgd_sde.stability.stability_radius`) of
:class:`~sgd_sde.stability.FiniteDepthWell` basins of growing curvature; the network check reads
:mod:`sgd_sde.experiments.golmant`.

References:
    Golmant 2018, "Fine-tuned noise" (blog post; seed 04); Chaudhari & Soatto 2018 (Lemma 1).
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import decide, network_check, np_rng, prng, symbolic_check
from ._registry import Claim, register
from ._sim import one_step_covariance

CITATION = "Golmant 2018, Fine-tuned noise (blog post)"
S = "golmant"
RHOS = (1.0, 2.0, 4.0, 8.0)


def _sim_lemma1(key, quick):
    from ..theory import batch_variance_factor

    N, B = 64, 8
    m, se, trc = one_step_covariance(key, quick, N, B, True)
    exp = float(batch_variance_factor(B, N, replace=True)) * trc
    return decide(f"{S}.lemma1_with_replacement", "simulation", m / exp, 1.0, tolerance=0.05,
                  ci=((m - 1.96 * se) / exp, (m + 1.96 * se) / exp), key=key, config={"N": N, "B": B},
                  note=f"tr Cov(ĝ_B) with replacement / (tr C / B) = {m / exp:.4f}")


@functools.lru_cache(maxsize=None)
def _grads_and_hessian():
    import equinox as eqx

    return eqx.filter_jit(lambda land, th: (land.per_example_grads(th), land.hessian(th)))


def _fisher_gap(X, y, land_cls, theta):
    import jax.numpy as jnp

    g, H = _grads_and_hessian()(land_cls(X, y), jnp.asarray(theta, jnp.float32))
    g, H = np.asarray(g, dtype=float), np.asarray(H, dtype=float)
    C = g.T @ g / len(g)  # uncentred Fisher (the expected gradient is ~0 at the true parameter)
    return float(np.linalg.norm(C - H) / np.linalg.norm(H))


def _sim_fisher(key, quick):
    from ..landscapes import LogisticRegression

    rng = np_rng(key, 31)
    n, d = (4000 if quick else 40000), 3
    theta = np.array([1.0, -0.5, 0.25])
    gaps = []
    for _ in range(5 if quick else 20):
        X = rng.normal(size=(n, d)).astype(np.float32)
        y = (rng.random(n) < 1 / (1 + np.exp(-X @ theta))).astype(np.float32)
        gaps.append(_fisher_gap(X, y, LogisticRegression, theta))
    m = float(np.mean(gaps))
    se = float(np.std(gaps, ddof=1) / np.sqrt(len(gaps)))
    return decide(f"{S}.noise_covariance_approaches_hessian", "simulation", m, 0.0, tolerance=0.1,
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key, config={"n": n, "theta": theta.tolist()},
                  note=f"‖C − H‖/‖H‖ at the true parameter of a well-specified logistic model: {m:.4f} "
                       f"(finite-sample; → 0 as N → ∞)")


@functools.lru_cache(maxsize=None)
def _radii(key: int, quick: bool):
    from ..dynamics import SGD
    from ..noise import Dense
    from ..stability import FiniteDepthWell, stability_radius

    h1 = np.diag([1.0, 0.25])
    P, T = (300, 300) if quick else (1000, 1000)
    out = []
    for rho in RHOS:
        H = rho * h1
        res = stability_radius(prng(key, 41), FiniteDepthWell(H, 1.0), SGD(lr=0.01, batch_size=1), np.zeros(2),
                               noise=Dense(H.astype(np.float32)), n_steps=T, delta=0.1, n_particles=P, n_bisect=8 if quick else 10)
        out.append((res.radius, max(res.ci[0], 1e-6), res.ci[1]))
    return np.array(out)


def _sim_radius(key, quick):
    from ..stability import loglog_slope

    r = _radii(key, quick)
    ok = r[:, 0] > 0
    if ok.sum() < 3:
        raise RuntimeError(f"only {int(ok.sum())} of {len(RHOS)} curvatures have a non-zero radius")
    slope, ci, _ = loglog_slope(np.array(RHOS)[ok], r[ok, 0], r[ok, 1], r[ok, 2])
    return decide(f"{S}.radius_inverse_spectral_radius", "simulation", slope, -1.0, tolerance=0.2, ci=ci, key=key,
                  config={"rhos": RHOS, "basin": "FiniteDepthWell(ρ·diag(1, 1/4), depth 1)", "noise": "C = H",
                          "lr": 0.01, "delta": 0.1},
                  note=f"log-log slope of the stability radius vs ρ(H): {slope:.3f} (the rim of the basin scales as "
                       "ρ^-1/2)", figure="radius")


CLAIMS = [
    Claim(f"{S}.lemma1_with_replacement",
          "Lemma 1: with replacement the minibatch gradient has covariance C/B (ratio 1 ± 0.05).", CITATION,
          {"symbolic": symbolic_check(f"{S}.lemma1_with_replacement", ["minibatch.with_replacement_exact"]),
           "simulation": _sim_lemma1}),
    Claim(f"{S}.lemma2_quadratic_form",
          "Lemma 2: a random vector with mean μ and covariance Σ has E[xᵀAx] = tr(AΣ) + μᵀAμ.", CITATION,
          {"symbolic": symbolic_check(f"{S}.lemma2_quadratic_form", ["minibatch.lemma2"])}),
    Claim(f"{S}.noise_covariance_approaches_hessian",
          "Near a minimum of a negative log-likelihood the gradient-noise covariance approaches the Hessian "
          "(Fisher = H; in simulation ‖C − H‖/‖H‖ ≤ 0.1, on the network the Frobenius cosine cos(Σ, H) ≥ 0.9).", CITATION,
          {"simulation": _sim_fisher, "network": network_check(f"{S}.noise_covariance_approaches_hessian", "golmant",
                                                                f"{S}.cov_matches_hessian")}),
    Claim(f"{S}.hessian_degenerate",
          "An over-parameterised network's Hessian is highly degenerate (most eigenvalues near zero), so SGD "
          "travels along wide valleys.", CITATION,
          {"network": network_check(f"{S}.hessian_degenerate", "golmant")}, figure="golmant"),
    Claim(f"{S}.radius_inverse_spectral_radius",
          "Micro-theorem 1: the stability radius of a minimum is inversely proportional to ρ(H) (log-log slope "
          "−1 ± 0.2).", CITATION,
          {"simulation": _sim_radius},
          figure="radius"),
]
for _c in CLAIMS:
    register(_c)
