"""The claims registry: :class:`Claim`, :func:`register`, :func:`all_claims`, :func:`run_claims`.

A claim is one quantitative statement from a source paper, with up to three checks — one per
level (``"symbolic"``, ``"simulation"``, ``"network"``). A check is a function
``check(key, quick: bool) -> Verdict`` that *measures* something with the library (theory,
simulate, stability, diffusion, experiments, lrbench) and builds its verdict with
:meth:`sgd_sde.verdicts.Verdict.decide` from the measured numbers; :func:`run_claims` runs the
checks, times them, turns an exception into an ``"error"`` verdict and fills in the statement.

Examples:
    >>> from sgd_sde.verdicts import Verdict
    >>> def exact_half(key, quick):
    ...     return Verdict.decide("mine.half", "symbolic", 1 / 2, 0.5, tolerance=0.0)
    >>> claim = Claim(id="mine.half", statement="One half is 0.5.", citation="Me 2024",
    ...               checks={"symbolic": exact_half})
    >>> [v.verdict for v in run_claims([claim], key=0, quick=True)]
    ['supported']
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from ..verdicts import LEVELS, Verdict

__all__ = ["Claim", "register", "unregister", "all_claims", "get_claim", "select", "run_claims", "run_check", "SOURCES"]

#: the claim modules, one per source (the ``<source>`` part of every id they register)
SOURCES = (
    "mccandlish2018", "keskar2017", "smithle2018", "smith2018", "izmailov2018", "hoffer2017", "lrbench2023",
    "golmant", "mcallester", "mandt2017", "chaudhari2018", "wuma2018", "zhu2019", "xie2021", "li2021svag",
    "bouchaud1990", "simsekli2019",
)

_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, Claim] = {}

Check = Callable[..., Verdict]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a source paper and the checks that test it.

    Attributes:
        id: ``"<source>.<name>"`` (lower case, digits and underscores), e.g.
            ``"mccandlish2018.b_crit_matches_b_noise"``.
        statement: the claim in one sentence, with its quantitative reading where the paper is
            qualitative.
        citation: author, year, title.
        checks: ``{level: check}`` with ``level`` in ``("symbolic", "simulation", "network")``; a
            check is ``check(key, quick: bool) -> Verdict``. A ``None`` check is dropped (a level
            whose implementation is not available in this installation).
        figure: the figure the claim feeds (optional).

    Raises:
        ValueError: a malformed id, an unknown level or no check at all.
        TypeError: a check that is not callable.
    """

    id: str
    statement: str
    citation: str
    checks: Mapping[str, Check]
    figure: str | None = None

    def __post_init__(self):
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise ValueError(f"id must look like '<source>.<name>' (lower case, digits, _), got {self.id!r}")
        if not isinstance(self.statement, str) or not self.statement.strip():
            raise ValueError(f"statement of {self.id} must be a non-empty sentence")
        if not isinstance(self.citation, str) or not self.citation.strip():
            raise ValueError(f"citation of {self.id} must be a non-empty string")
        checks = {lv: fn for lv, fn in dict(self.checks).items() if fn is not None}
        if not checks:
            raise ValueError(f"claim {self.id} needs at least one check (levels {LEVELS})")
        unknown = set(checks) - set(LEVELS)
        if unknown:
            raise ValueError(f"checks of {self.id} have unknown levels {sorted(unknown)}; allowed: {LEVELS}")
        for level, fn in checks.items():
            if not callable(fn):
                raise TypeError(f"check {self.id}/{level} must be callable (key, quick) -> Verdict, got {fn!r}")
        ordered = {lv: checks[lv] for lv in LEVELS if lv in checks}
        object.__setattr__(self, "checks", MappingProxyType(ordered))

    @property
    def source(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.checks)


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add ``claim`` to the registry (so :func:`all_claims` and ``sgd-sde reproduce`` see it).

    Args:
        claim: a :class:`Claim`.
        replace: allow re-registering an existing id (default: an error).

    Returns:
        ``claim`` (so it can be used as ``CLAIM = register(Claim(...))``).

    Raises:
        TypeError: ``claim`` is not a :class:`Claim`.
        ValueError: the id is already registered and ``replace`` is false.
    """
    if not isinstance(claim, Claim):
        raise TypeError(f"claim must be a Claim, got {type(claim).__name__}")
    if claim.id in _REGISTRY and not replace and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim {claim.id!r} is already registered (pass replace=True to overwrite)")
    _REGISTRY[claim.id] = claim
    return claim


def unregister(claim_id: str) -> None:
    """Remove a claim (e.g. one registered by a test). Unknown ids are ignored."""
    _REGISTRY.pop(claim_id, None)


def _load_sources() -> None:
    for name in SOURCES:
        importlib.import_module(f"sgd_sde.claims.{name}")


def all_claims() -> list[Claim]:
    """Every registered claim: the built-in sources' (imported on first call) and users' own, by id."""
    _load_sources()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_claim(claim_id: str) -> Claim:
    """The registered claim ``claim_id``.

    Raises:
        KeyError: an unknown id (the message lists close matches).
    """
    _load_sources()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(claim_id, list(_REGISTRY), n=3)
        raise KeyError(f"unknown claim {claim_id!r}; close matches: {near}") from None


def select(only: Iterable[str] | None = None, papers: Iterable[str] | None = None) -> list[Claim]:
    """Claims whose id is in ``only`` (an id, or a ``<source>`` prefix) and whose source is in ``papers``.

    Raises:
        ValueError: an entry of ``only`` or ``papers`` that matches nothing.
    """
    claims = all_claims()
    if only:
        only = list(only)
        bad = [o for o in only if not any(c.id == o or c.source == o for c in claims)]
        if bad:
            raise ValueError(f"only (--only): no claim matches {bad} by id or source; "
                             "all_claims() (`sgd-sde list`) lists them")
        claims = [c for c in claims if c.id in only or c.source in only]
    if papers:
        papers = list(papers)
        bad = [p for p in papers if p not in {c.source for c in all_claims()}]
        if bad:
            raise ValueError(f"papers (--paper): unknown source(s) {bad}; "
                             f"choose from {sorted({c.source for c in all_claims()})}")
        claims = [c for c in claims if c.source in papers]
    return claims


def run_check(claim: Claim, level: str, *, key: int = 0, quick: bool = True) -> Verdict:
    """Run one check of ``claim``: timed, an exception becomes an ``"error"`` verdict.

    The verdict gets the claim's id, level, statement and the wall time; a check that returns
    something other than a :class:`Verdict`, or one for another claim or level, is an error.
    """
    fn = claim.checks[level]
    t0 = time.perf_counter()
    try:
        v = fn(key, quick)
        if not isinstance(v, Verdict):
            raise TypeError(f"check returned {type(v).__name__}, not a Verdict")
        if v.claim != claim.id or v.level != level:
            raise ValueError(f"check returned a verdict for {v.claim}/{v.level}, expected {claim.id}/{level}")
    except Exception as err:  # a crashing check is reported, never hides the others
        return Verdict.error(claim.id, level, err, seconds=time.perf_counter() - t0, statement=claim.statement,
                             figure=claim.figure)
    return dataclasses.replace(v, seconds=time.perf_counter() - t0, statement=claim.statement,
                               figure=v.figure or claim.figure)


def run_claims(claims: Iterable[Claim] | None = None, *, key: int = 0, quick: bool = True,
               levels: Iterable[str] | None = None, progress: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Run every check of ``claims`` (default: :func:`all_claims`) in this process.

    Args:
        claims: the claims to run.
        key: integer seed each check derives its keys from.
        quick: the quick (smaller, same code path) versions of the checks.
        levels: restrict to these levels.
        progress: called with each verdict as it is made.

    Returns:
        one :class:`~sgd_sde.verdicts.Verdict` per (claim, level), in registry order.

    Raises:
        ValueError: an unknown level.
    """
    claims = all_claims() if claims is None else list(claims)
    levels = LEVELS if levels is None else tuple(levels)
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        raise ValueError(f"levels must be among {LEVELS}, got {bad}")
    out = []
    for claim in claims:
        for level in claim.levels:
            if level in levels:
                v = run_check(claim, level, key=key, quick=quick)
                out.append(v)
                if progress is not None:
                    progress(v)
    return out
