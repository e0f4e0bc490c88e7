"""Learning-rate policies (LRBench), temporarily minimal."""
from .compose import Composed, NoiseScaled, Warmup, compose, warmup, with_noise_scale
from .plateau import PlateauPolicy, PlateauState, change_on_plateau, reduce_on_plateau
from .policies import FAMILIES, PARAMETERS, POLICIES, AbstractPolicy, Policy, policy
