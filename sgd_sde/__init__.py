"""sgd_sde: stochastic gradient descent as a stochastic differential equation.

Simulate SGD exactly (real minibatches) or as its SDE (Fisher/Hessian-shaped Langevin noise) over
thousands of particles, check the published claims about batch size, learning rate, momentum and
noise symbolically (:mod:`sgd_sde.theory`), in simulation and on real networks
(:mod:`sgd_sde.networks`).

The front door is :func:`simulate`; landscapes, noise models and dynamics plug into it.
"""

from . import dynamics, landscapes, noise, schedules
from .simulate import simulate
from .trajectory import Trajectory

__version__ = "0.1.0"

__all__ = ["simulate", "Trajectory", "landscapes", "noise", "dynamics", "schedules", "__version__"]
