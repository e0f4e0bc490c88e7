r"""Learning-rate policies and their benchmark (LRBench / LRBench++), wired into the SDE view.

* :func:`policy` — every LRBench policy (FIX, STEP, NSTEP, EXP, INV, POLY, SIG; the triangular,
  sine and cosine cycles with their D-/UP- variants; the restart families) as a pure, hashable
  schedule ``k -> η_k`` on NumPy and traced ints, accepted by :func:`sgd_sde.networks.train`,
  :func:`sgd_sde.networks.sweep` and :func:`sgd_sde.simulate`. Each knows its theory:
  :meth:`~AbstractPolicy.robbins_monro` and :meth:`~AbstractPolicy.temperature` (``η_t/B_t`` up to
  ``N``: the noise scale ``η_t(N/B_t − 1)``).
* :func:`compose`, :func:`warmup`, :func:`with_noise_scale` — composition.
* :func:`reduce_on_plateau`, :func:`change_on_plateau` — state-based policies driven by the probe
  loss inside :func:`sgd_sde.networks.train`.
* :func:`lr_range_test`, :func:`search` — exploration, through :func:`sgd_sde.networks.sweep`.
* :func:`benchmark` — every policy on the digits MLP over several seeds, LRBench's metrics, a tidy
  table saved with provenance; :mod:`sgd_sde.lrbench.plots` draws its three figures;
  ``sgd-sde lrbench`` runs it.

References:
    Wu, Liu, Chow, Zhang, Wei, Yu, Wu 2019, "Demystifying Learning Rate Policies for High Accuracy
    Training of Deep Neural Networks"; Jin, Wei, Wang, Zhang & Wu 2023, "Rethinking Learning Rate
    Tuning in the Era of Large Language Models" (LRBench++); Smith, Kindermans, Ying & Le 2018,
    "Don't Decay the Learning Rate, Increase the Batch Size"; Robbins & Monro 1951.
"""

from .benchmark import METRICS, BenchmarkResult, benchmark, default_policies, write_report
from .compose import Composed, NoiseScaled, Warmup, compose, warmup, with_noise_scale
from .explore import RangeSchedule, lr_range_test, range_schedule, search
from .plateau import PlateauPolicy, PlateauState, change_on_plateau, reduce_on_plateau
from .plots import plot_accuracy, plot_metrics, plot_policies
from .policies import FAMILIES, PARAMETERS, POLICIES, AbstractPolicy, Policy, policy

__all__ = [
    "policy", "Policy", "AbstractPolicy", "POLICIES", "FAMILIES", "PARAMETERS",
    "compose", "warmup", "with_noise_scale", "Composed", "Warmup", "NoiseScaled",
    "reduce_on_plateau", "change_on_plateau", "PlateauPolicy", "PlateauState",
    "lr_range_test", "search", "range_schedule", "RangeSchedule",
    "benchmark", "BenchmarkResult", "default_policies", "write_report", "METRICS",
    "plot_policies", "plot_accuracy", "plot_metrics",
]
