"""The claims registry: every quantitative claim of the source papers, checked three ways.

One module per source registers its :class:`Claim` objects; each claim (id
``"<source>.<name>"``) has up to three checks — ``"symbolic"`` (SymPy, :mod:`sgd_sde.theory`),
``"simulation"`` (:func:`sgd_sde.simulate`, :mod:`sgd_sde.stability`, :mod:`sgd_sde.diffusion`)
and ``"network"`` (:mod:`sgd_sde.experiments`, :mod:`sgd_sde.lrbench`) — that measure something
and return a :class:`~sgd_sde.verdicts.Verdict` decided from the numbers. ``sgd-sde reproduce``
runs them all; ``sgd-sde list`` lists them. Register your own claim the same way (see
docs/howto/own-claim.md).
"""

from ._registry import SOURCES, Claim, all_claims, get_claim, register, run_check, run_claims, select, unregister

__all__ = ["Claim", "register", "unregister", "all_claims", "get_claim", "select", "run_claims", "run_check", "SOURCES"]
