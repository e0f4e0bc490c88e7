"""Real networks on real data: data sets (no download), small models with (ghost) batch norm,
a training loop with probes, checkpoints, SWA and (lr, B, seed) sweeps.

Measurements on the trained models live in :mod:`sgd_sde.measure`; :func:`example_loss` gives
the per-example loss they take.
"""

from . import probes
from .datasets import DATASETS, Dataset, load_dataset, read_idx
from .ghost_bn import BatchNorm, BNStats, ghost_batch_norm
from .models import CNN, MLP, AbstractModel, cross_entropy, example_accuracy, example_loss
from .swa import SWA, bn_update, swa_update
from .sweep import SweepResult, sweep
from .results import TrainResult
from .train import TrainState, make_optimizer, train

__all__ = [
    "load_dataset",
    "Dataset",
    "DATASETS",
    "read_idx",
    "MLP",
    "CNN",
    "AbstractModel",
    "BatchNorm",
    "BNStats",
    "ghost_batch_norm",
    "cross_entropy",
    "example_loss",
    "example_accuracy",
    "train",
    "TrainResult",
    "TrainState",
    "make_optimizer",
    "SWA",
    "swa_update",
    "bn_update",
    "sweep",
    "SweepResult",
    "probes",
]
