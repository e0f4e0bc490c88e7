"""Claims of Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, "Averaging Weights Leads to Wider
Optima and Better Generalization" (SWA).

The simulation check runs SGD with the cyclic schedule (:func:`sgd_sde.schedules.cyclic`) on a
quadratic with gradient noise and averages the end-of-cycle iterates; network checks read
:mod:`sgd_sde.experiments.swa`.

References:
    Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, "Averaging Weights Leads to Wider Optima and
    Better Generalization" (UAI).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, network_check, prng
from ._registry import Claim, register
from ._sim import mean_se

CITATION = ("Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, Averaging Weights Leads to Wider Optima and "
            "Better Generalization")
S = "izmailov2018"
CYCLE = 50


def _sim_average(key, quick):
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..noise import Isotropic
    from ..schedules import cyclic
    from ..simulate import simulate

    h = np.array([1.0, 10.0])
    land = Quadratic(jnp.diag(jnp.asarray(h, jnp.float32)))
    P, n_cycles = (1000 if quick else 10000), 20
    ends = [CYCLE * (c + 1) for c in range(10, 10 + n_cycles)]  # after 10 cycles of burn-in
    traj = simulate(prng(key, 901), land, SGD(lr=0.1, batch_size=1), jnp.ones(2, jnp.float32),
                    noise=Isotropic(1.0), n_steps=ends[-1], n_particles=P, save_at=ends, observables=("theta",),
                    schedule=cyclic(0.1, 0.005, CYCLE), progress=False)
    th = np.asarray(traj.saved["theta"], dtype=float)[np.isin(np.asarray(traj.steps), ends)]  # (cycles, P, d)
    loss = 0.5 * (th**2 * h).sum(-1)  # L(θ) of each snapshot
    swa = th.mean(0)
    loss_swa = 0.5 * (swa**2 * h).sum(-1)
    r = np.log(loss_swa) - np.log(loss.mean(0))
    m, se = mean_se(r)
    return decide(f"{S}.average_of_iterates_is_better", "simulation", m, 0.0, kind="less",
                  ci=(m - 1.96 * se, m + 1.96 * se), key=key,
                  config={"schedule": f"cyclic(0.1, 0.005, {CYCLE})", "snapshots": n_cycles, "h": h.tolist()},
                  note=f"mean log(L(w_SWA) / mean L(w_i)) = {m:.3f}: the average of {n_cycles} end-of-cycle iterates "
                       f"has {np.exp(m):.3f}× their loss")


CLAIMS = [
    Claim(f"{S}.average_of_iterates_is_better",
          "With a cyclic learning rate the iterates circle the minimum without reaching it; their average is "
          "closer (lower loss than the snapshots' mean loss).", CITATION,
          {"simulation": _sim_average}, figure="swa"),
    Claim(f"{S}.swa_wider_optimum",
          "SWA finds wider optima: the loss rises less along random directions around w_SWA than around SGD's "
          "solution.", CITATION, {"network": network_check(f"{S}.swa_wider_optimum", "swa", f"{S}.swa_flatter")}, figure="swa"),
    Claim(f"{S}.swa_better_test_accuracy",
          "SWA improves test accuracy over the SGD solution at no extra training cost.", CITATION,
          {"network": network_check(f"{S}.swa_better_test_accuracy", "swa", f"{S}.swa_generalises_better")}, figure="swa"),
    Claim(f"{S}.swa_lower_test_loss", "The SWA solution has a lower test loss than the SGD solution it averages.",
          CITATION, {"network": network_check(f"{S}.swa_lower_test_loss", "swa")}, figure="swa"),
    Claim(f"{S}.swa_lower_top_eigenvalue",
          "The SWA solution has a smaller top Hessian eigenvalue (is flatter) than the SGD solution.", CITATION,
          {"network": network_check(f"{S}.swa_lower_top_eigenvalue", "swa")}, figure="swa"),
]
for _c in CLAIMS:
    register(_c)
