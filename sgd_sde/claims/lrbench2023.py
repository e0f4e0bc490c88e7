"""Claims of LRBench++ (Jin et al. 2023; Wu et al. 2019, "Demystifying Learning Rate Policies for High
Accuracy Training of Deep Neural Networks").

Symbolic checks decide the Robbins–Monro conditions of the LRBench formula families with
:func:`sgd_sde.theory.robbins_monro`; network checks run :func:`sgd_sde.lrbench.benchmark`.

References:
    Wu, Liu, Chow et al. 2019, "Demystifying Learning Rate Policies for High Accuracy Training of Deep
    Neural Networks"; Jin et al. 2023, LRBench++.
"""

from __future__ import annotations

from ._registry import Claim, register

CITATION = ("Wu et al. 2019, Demystifying Learning Rate Policies for High Accuracy Training of Deep Neural Networks; "
            "LRBench++ 2023")
S = "lrbench2023"

CLAIMS: list[Claim] = []
for _c in CLAIMS:
    register(_c)
