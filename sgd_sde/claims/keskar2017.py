"""Claims of Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, "On Large-Batch Training for Deep
Learning: Generalization Gap and Sharp Minima".

Simulation checks run SGD on :class:`~sgd_sde.landscapes.SharpFlat1D` (Keskar's Figure 1: a sharp
and a flat minimum of equal loss) and evaluate :func:`sgd_sde.measure.keskar_sharpness` against its
closed form on a quadratic; network checks read :mod:`sgd_sde.experiments.keskar`.

References:
    Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima".
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import decide, network_check, prng
from ._registry import Claim, register

CITATION = ("Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, On Large-Batch Training for Deep Learning: "
            "Generalization Gap and Sharp Minima")
S = "keskar2017"
SMALL_B, LARGE_B = 1, 64


@functools.lru_cache(maxsize=None)
def _flat_fractions(key: int, quick: bool, start: str) -> dict:
    """Fraction of particles in the flat basin (x > 0) after SGD at a small and a large batch."""
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import SharpFlat1D
    from ..noise import Isotropic
    from ..simulate import sweep

    land = SharpFlat1D(sharp_curvature=10.0, flat_curvature=1.0)
    P = 1000 if quick else 5000
    if start == "uniform":
        theta0 = jnp.linspace(-2.0, 2.0, P, dtype=jnp.float32)[:, None]
    else:  # at the sharp minimum
        theta0 = jnp.full((P, 1), land.sharp_at, jnp.float32)
    runs = sweep(prng(key, 401, start == "uniform"), land, SGD(lr=0.05, batch_size=SMALL_B), theta0, lrs=[0.05],
                 batch_sizes=[SMALL_B, LARGE_B], noise=Isotropic(8.0), n_steps=2000 if quick else 8000,
                 n_particles=P, save_every=100, observables=("theta",), progress=False)
    out = {}
    for (lr, b), traj in runs.items():
        x = np.asarray(traj.theta[:, 0])
        out[int(b)] = (int((x > 0).sum()), int(len(x)), int(traj.diverged.sum()))
    return out


def _diff_ci(k1, n1, k2, n2):
    p1, p2 = k1 / n1, k2 / n2
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    d = p1 - p2
    return d, (d - 1.96 * se, d + 1.96 * se)


def _sim_sharper(key, quick):
    f = _flat_fractions(key, quick, "uniform")
    (k1, n1, dv1), (k2, n2, dv2) = f[SMALL_B], f[LARGE_B]
    if dv1 or dv2:
        raise FloatingPointError(f"{dv1 + dv2} particles diverged")
    d, ci = _diff_ci(k1, n1, k2, n2)
    return decide(f"{S}.large_batch_sharper", "simulation", d, 0.0, kind="greater", ci=ci, key=key,
                  config={"landscape": "SharpFlat1D(10, 1)", "B": [SMALL_B, LARGE_B], "start": "uniform [-2, 2]"},
                  note=f"fraction in the flat basin: B={SMALL_B} {k1 / n1:.3f}, B={LARGE_B} {k2 / n2:.3f}")


def _sim_escape(key, quick):
    f = _flat_fractions(key, quick, "sharp")
    (k1, n1, dv1), (k2, n2, dv2) = f[SMALL_B], f[LARGE_B]
    if dv1 or dv2:
        raise FloatingPointError(f"{dv1 + dv2} particles diverged")
    d, ci = _diff_ci(k1, n1, k2, n2)
    return decide(f"{S}.noise_escapes_sharp_basin", "simulation", d, 0.0, kind="greater", ci=ci, key=key,
                  config={"landscape": "SharpFlat1D(10, 1)", "B": [SMALL_B, LARGE_B], "start": "sharp minimum"},
                  note=f"fraction that left the sharp basin: B={SMALL_B} {k1 / n1:.3f}, B={LARGE_B} {k2 / n2:.3f}")


def _sim_metric(key, quick):
    """keskar_sharpness at the minimum of a quadratic equals its closed form 100·½ Σ h_i ε²."""
    import jax.numpy as jnp

    from ..measure import keskar_sharpness

    h = np.array([0.5, 2.0, 8.0])
    X = np.diag(np.sqrt(h)).astype(np.float32) * np.sqrt(3.0)  # mean of ½(x_i·θ)² over 3 rows = ½ θᵀ diag(h) θ
    y = np.zeros(3, np.float32)
    loss_fn = lambda p, x, t: 0.5 * (x @ p - t) ** 2  # noqa: E731
    eps = 1e-2
    s = keskar_sharpness(loss_fn, jnp.zeros(3, jnp.float32), X, y, eps=eps)
    exact = 100 * 0.5 * float(h.sum()) * eps**2
    return decide(f"{S}.sharpness_metric", "simulation", float(s) / exact, 1.0, tolerance=1e-3, key=key,
                  config={"h": h.tolist(), "eps": eps},
                  note=f"ε-sharpness {float(s):.6g} vs closed form {exact:.6g} (box corner maximiser)")


CLAIMS = [
    Claim(f"{S}.large_batch_sharper",
          "Large-batch SGD converges to sharper minima than small-batch SGD (measured: the small batch ends in the "
          "flat basin more often, and a real net's top Hessian eigenvalue is larger at large B).", CITATION,
          {"simulation": _sim_sharper, "network": network_check(f"{S}.large_batch_sharper", "keskar", f"{S}.lb_sharper")},
          figure="keskar"),
    Claim(f"{S}.generalization_gap",
          "Large-batch training reaches similar training loss but lower test accuracy (test-accuracy gap > 0).",
          CITATION, {"network": network_check(f"{S}.generalization_gap", "keskar", f"{S}.lb_generalises_worse")}, figure="keskar"),
    Claim(f"{S}.large_batch_closer_to_init",
          "Large-batch solutions lie closer to the initial point than small-batch ones.", CITATION,
          {"network": network_check(f"{S}.large_batch_closer_to_init", "keskar", f"{S}.sb_farther_from_init")}, figure="keskar"),
    Claim(f"{S}.large_batch_larger_hessian_eigenvalues",
          "Large-batch minimisers have larger top Hessian eigenvalues than small-batch ones.", CITATION,
          {"network": network_check(f"{S}.large_batch_larger_hessian_eigenvalues", "keskar",
                                    f"{S}.lb_larger_top_eigenvalue")}, figure="keskar"),
    Claim(f"{S}.sharper_in_a_random_subspace",
          "The large-batch minimiser is also sharper when the ε-box is taken in a random low-dimensional subspace.",
          CITATION, {"network": network_check(f"{S}.sharper_in_a_random_subspace", "keskar", f"{S}.lb_sharper_subspace")},
          figure="keskar"),
    Claim(f"{S}.noise_escapes_sharp_basin",
          "Small-batch gradient noise pushes iterates out of a sharp basin (more particles leave it at small B).",
          CITATION, {"simulation": _sim_escape}),
    Claim(f"{S}.sharpness_metric",
          "The ε-sharpness metric (max relative loss rise in an ε-box) equals 100·½Σhᵢε² at a quadratic minimum.",
          CITATION, {"simulation": _sim_metric}),
]
for _c in CLAIMS:
    register(_c)
