"""Random walks on random potentials: Sinai's walk, fractional potentials, Hoffer's log-t law.

* :func:`sinai_walk` — the exact lattice walk in a random environment (Sinai 1982).
* :func:`log_growth_exponent`, :func:`log_growth_slope` — fits of ``distance ~ a (log t − c)^β``
  with bootstrap confidence intervals over walkers (:class:`Fit`).
* :func:`exit_time_profile`, :func:`first_passage_experiment`, :func:`first_passage_exponent` — the
  exact first-passage form of the same law, ``log τ(L)`` at distances up to ``10⁵``.
* :func:`potential_diffusion` — Langevin particles on a 1-D
  :class:`~sgd_sde.landscapes.RandomPotential` (Bouchaud & Georges 1990).
* :func:`hoffer_experiment` — Hoffer, Hubara & Soudry 2017 on a high-dimensional random potential.
"""

from .exit_time import exit_time_profile, first_passage_experiment
from .fit import Fit, first_passage_exponent, log_growth_exponent, log_growth_slope
from .sinai import default_save_steps, sinai_environment, sinai_walk

__all__ = [
    "sinai_walk",
    "sinai_environment",
    "default_save_steps",
    "Fit",
    "log_growth_exponent",
    "log_growth_slope",
    "exit_time_profile",
    "first_passage_experiment",
    "first_passage_exponent",
    "potential_diffusion",
    "hoffer_experiment",
    "HofferResult",
]


def __getattr__(name):
    if name == "potential_diffusion":
        from .fractional import potential_diffusion

        return potential_diffusion
    if name in ("hoffer_experiment", "HofferResult"):
        from . import hoffer

        return getattr(hoffer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
