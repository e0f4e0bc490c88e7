"""Learning-rate policies (LRBench), temporarily minimal."""
from .policies import FAMILIES, PARAMETERS, POLICIES, AbstractPolicy, Policy, policy
