"""Claims of Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size".

Simulation checks run SGD on a quadratic with a learning-rate decay and with the matching
batch-size increase (:class:`sgd_sde.schedules.Schedule`); network checks read
:mod:`sgd_sde.experiments.smith`.

References:
    Smith, Kindermans, Ying & Le 2018, "Don't Decay the Learning Rate, Increase the Batch Size" (ICLR).
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import decide, network_check, prng, symbolic_check
from ._registry import Claim, register
from ._sim import mean_se
from ._temperature import moment, ratio

CITATION = "Smith, Kindermans, Ying & Le 2018, Don't Decay the Learning Rate, Increase the Batch Size"
S = "smith2018"
BOUNDARIES = (500, 2500)
FACTOR = 4
LR0 = 0.04
N_STEPS = 4500


@functools.lru_cache(maxsize=None)
def _schedules(key: int, quick: bool):
    """Final loss of SGD with (a) lr decayed ×1/5 at the boundaries and (b) B increased ×5 there."""
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..noise import Isotropic
    from ..schedules import Schedule, constant, increase_batch, step_decay
    from ..simulate import simulate

    land = Quadratic(jnp.diag(jnp.array([1.0, 2.0], jnp.float32)))
    P = 1000 if quick else 10000
    n = N_STEPS
    x0 = jnp.full(2, 2.0, jnp.float32)
    common = dict(noise=Isotropic(1.0), n_steps=n, n_particles=P, save_at=[n - 200 + 20 * i for i in range(11)],
                  progress=False, observables=("loss",))
    decay = simulate(prng(key, 801), land, SGD(lr=LR0, batch_size=2), x0,
                     schedule=Schedule(lr=step_decay(LR0, list(BOUNDARIES), 1 / FACTOR)), **common)
    grow = simulate(prng(key, 802), land, SGD(lr=LR0, batch_size=2), x0,
                    schedule=Schedule(lr=constant(LR0), batch_size=increase_batch(2, list(BOUNDARIES), FACTOR)),
                    **common)
    late = lambda t: np.asarray(t.saved["loss"], dtype=float)[np.asarray(t.steps) >= n - 200].mean(0)  # noqa: E731
    return late(decay), late(grow)


def _sim_equivalent(key, quick):
    decay, grow = _schedules(key, quick)
    r, ci = ratio(mean_se(grow), mean_se(decay))
    return decide(f"{S}.increase_batch_equals_decay_lr", "simulation", r, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"boundaries": BOUNDARIES, "factor": FACTOR, "lr0": LR0, "B0": 2, "h": [1, 2]},
                  note=f"final stationary loss, B×{FACTOR} schedule / lr÷{FACTOR} schedule = {r:.4f}")


def _updates():
    """Updates needed for the same number of examples: B×5 at each boundary vs lr decay (exact count)."""
    from ..schedules import evaluate, increase_batch

    n_epochs_examples = 2 * N_STEPS  # examples seen by the lr-decay run (B = 2)
    b = evaluate(increase_batch(2, list(BOUNDARIES), FACTOR), 100_000, name="batch")
    steps = int(np.searchsorted(np.cumsum(b), n_epochs_examples) + 1)
    return steps / N_STEPS, 1.0, f"updates for {n_epochs_examples} examples: {steps} (increase B) vs {N_STEPS} (decay lr)"


def _sym_fewer(key, quick):
    r, _, what = _updates()
    return decide(f"{S}.fewer_parameter_updates", "symbolic", r, 1.0, kind="less", key=key,
                  config={"boundaries": BOUNDARIES, "factor": FACTOR}, note=what)


def _sim_momentum(key, quick):
    r, ci = ratio(moment(key, quick, "sgd", 0.9, (0.01, 20), lrs=(0.002, 0.01), batch_sizes=(2, 20)),
                  moment(key, quick, "sgd", 0.0, (0.01, 2)))
    return decide(f"{S}.batch_scales_with_momentum", "simulation", r, 1.0, tolerance=0.1, ci=ci, key=key,
                  config={"momentum": 0.9, "points": [(0.01, 20), (0.01, 2)]},
                  note=f"Var θ at (ε, B, m) = (0.01, 20, 0.9) / at (0.01, 2, 0): {r:.4f} (B ∝ 1/(1−m) keeps g)")


CLAIMS = [
    Claim(f"{S}.increase_batch_equals_decay_lr",
          "Increasing the batch size by a factor k gives the same result as decaying the learning rate by k "
          "(final loss ratio 1 ± 0.1; on a real net, final test accuracies equal).", CITATION,
          {"simulation": _sim_equivalent, "network": network_check(f"{S}.increase_batch_equals_decay_lr", "smith",
                                                                               f"{S}.increase_batch_matches_decay")},
          figure="smith"),
    Claim(f"{S}.fewer_parameter_updates",
          "Increasing the batch size instead of decaying the learning rate needs fewer parameter updates for the "
          "same number of training examples.", CITATION,
          {"symbolic": _sym_fewer}),
    Claim(f"{S}.batch_scales_with_momentum",
          "Raising the momentum m keeps the noise scale if B ∝ 1/(1−m) (stationary spread ratio 1 ± 0.1).",
          CITATION,
          {"symbolic": symbolic_check(f"{S}.batch_scales_with_momentum", ["gibbs.momentum"]),
           "simulation": _sim_momentum,
           "network": network_check(f"{S}.batch_scales_with_momentum", "smith", f"{S}.momentum_rule")}),
    Claim(f"{S}.linear_scaling_rule",
          "Scaling the learning rate with the batch size (ε ∝ B) keeps the final test accuracy.", CITATION,
          {"network": network_check(f"{S}.linear_scaling_rule", "smith", f"{S}.linear_scaling")}, figure="smith"),
    Claim(f"{S}.linear_scaling_breaks_near_b_noise",
          "The linear scaling rule keeps working as B approaches the gradient noise scale (the accuracy drop there "
          "stays within tolerance).", CITATION,
          {"network": network_check(f"{S}.linear_scaling_breaks_near_b_noise", "smith")}, figure="smith"),
]
for _c in CLAIMS:
    register(_c)
