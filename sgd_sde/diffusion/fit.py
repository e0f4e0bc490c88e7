r"""Fits of ultra-slow growth ``distance ~ a (log t − c)^β`` with bootstrap confidence intervals.

Why not a log-log fit. Sinai's walk obeys ``σ² X_n / (log n)² → b`` in law, yet at every reachable
``n`` the ratio ``σ² E|X_n| / (log n)²`` is still far from its limit ``E|b| = 5/6`` (0.44 at 2¹³,
0.55 at 2²²): the corrections are *additive in log n*, ``E|X_n| ≈ (a (log n − c))²`` with
``c ≈ 2``. Regressing ``log E|X_n|`` on ``log log n`` (``c = 0``) therefore absorbs the offset
into the exponent and returns ≈ 2.5 instead of 2 (theory-anchors §9). Both fits here keep the
offset:

* :func:`log_growth_slope` — the robust linearised fit for a *known* exponent ``β`` (``2/α``):
  ``(E d)^{1/β} = a (log t − c)``, an ordinary least-squares line (Sinai: ``√E|X_n|`` against
  ``log n``; Hoffer, ``α = 2``: ``E‖w_t − w_0‖`` against ``log t``).
* :func:`log_growth_exponent` — ``β`` itself, from the three-parameter model
  ``E d = a (log t − c)^β`` fitted by profiling: for each ``β`` the line
  ``(E d)^{1/β} = A + B log t`` is solved in closed form and the squared residuals of
  ``log E d`` are minimised over ``β``. ``method="loglog"`` gives the naive ``c = 0`` fit, for contrast.

Confidence intervals come from a percentile bootstrap over walkers (independent particles are
the independent units; save points of one walker are strongly correlated, so residual-based
standard errors would be far too small). Nothing is dropped silently: a point estimate of ``β``
that stopped at an end of the search range is flagged (``Fit.at_bound``), and bootstrap
replicates that failed or stopped at a bound are counted (``n_boot_failed``, ``n_boot_at_bound``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .. import _validate as V

__all__ = ["Fit", "first_passage_exponent", "log_growth_exponent", "log_growth_slope"]


@dataclasses.dataclass(frozen=True)
class Fit:
    """A fitted growth law with its bootstrap confidence interval.

    Attributes:
        quantity: what :attr:`estimate` is (``"beta"``: the exponent; ``"slope"``: ``a`` of the
            linearised fit).
        estimate: the point estimate (from all walkers).
        ci: ``(low, high)`` percentile-bootstrap interval at level :attr:`confidence`.
        se: bootstrap standard error.
        confidence: the level of :attr:`ci`.
        r2: coefficient of determination of the fit on the point estimate.
        t_range: ``(t_min, t_max)``, the first and last step used.
        n_points: number of save points in the fit.
        n_walkers: number of walkers (bootstrap units).
        params: all fitted parameters (``a``, ``c``, ``beta``; ``slope`` for the linearised fit).
        method: ``"profile"``, ``"loglog"`` or ``"linearised"``.
        at_bound: ``True`` if the point estimate of ``β`` lies in the first or last cell of the
            profile grid over ``beta_bounds`` (60 geometric points: within ≈ 11 % of an end for
            the default ``(0.05, 20)``): the search range, not the data, may have decided it
            (profile and first-passage fits only).
        n_boot: bootstrap replicates drawn.
        n_boot_failed: replicates whose fit failed (non-finite: e.g. a non-positive mean); the
            interval uses the others, and is ``nan`` when fewer than two succeeded.
        n_boot_at_bound: replicates whose ``β`` stopped at a search bound (kept in the interval,
            which then ends at the bound).
    """

    quantity: str
    estimate: float
    ci: tuple[float, float]
    se: float
    confidence: float
    r2: float
    t_range: tuple[int, int]
    n_points: int
    n_walkers: int
    params: dict[str, float]
    method: str
    at_bound: bool = False
    n_boot: int = 0
    n_boot_failed: int = 0
    n_boot_at_bound: int = 0

    @property
    def flagged(self) -> bool:
        """``True`` if the estimate is at a search bound or some bootstrap replicates failed or
        stopped at a bound: read the numbers with care (figures and paper tables mark these)."""
        return bool(self.at_bound or self.n_boot_failed or self.n_boot_at_bound)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for :func:`sgd_sde.io.save_arrays` metadata)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lo, hi = self.ci
        flags = (" AT SEARCH BOUND" if self.at_bound else "") + (
            f"; {self.n_boot_failed}/{self.n_boot} bootstrap fits failed" if self.n_boot_failed else "") + (
            f"; {self.n_boot_at_bound}/{self.n_boot} bootstrap fits at a bound" if self.n_boot_at_bound else "")
        return (f"{self.quantity} = {self.estimate:.4g} [{lo:.4g}, {hi:.4g}] ({100 * self.confidence:g}% CI, "
                f"R² = {self.r2:.4f}, t ∈ [{self.t_range[0]}, {self.t_range[1]}], {self.method}){flags}")


def _window(window, default: tuple[float, float], what: str) -> tuple[float, float]:
    """``(low, high)`` from a user ``window`` (``None`` ends are open), or ``default``."""
    if window is None:
        return default
    if len(window) != 2:
        raise ValueError(f"window must be {what}, got {window!r}")
    lo = -math.inf if window[0] is None else V.as_float("window", window[0])
    hi = math.inf if window[1] is None else V.as_float("window", window[1])
    return lo, hi


def _beta_bounds(beta_bounds) -> tuple[float, float]:
    lo, hi = V.positive("beta_bounds", beta_bounds[0]), V.positive("beta_bounds", beta_bounds[1])
    if not lo < hi:
        raise ValueError(f"beta_bounds must be (low, high) with 0 < low < high, got {beta_bounds!r}")
    return lo, hi


def _n_boot(n_boot, n_units: int, n_points: int) -> int:
    """``n_boot`` as a count whose replicate arrays (multinomial counts and means) fit in memory."""
    b = V.count("n_boot", n_boot)
    V.fits_in_memory("n_boot", 8.0 * b * (2 * n_units + n_points), "bootstrap replicates")
    return b


def _prepare(steps, distances, window, n_boot, confidence):
    conf = V.in_open_interval("confidence", confidence, 0.0, 1.0)
    t = V.finite_array("steps", steps, ndim=1).astype(np.float64)
    d = V.finite_array("distances", distances, ndim=(1, 2)).astype(np.float64)
    if d.ndim == 1:
        d = d[:, None]
    if d.shape[0] != t.shape[0]:
        raise ValueError(f"distances must have shape (len(steps), n_walkers) = ({t.shape[0]}, W), got {d.shape}")
    if np.any(d < 0):
        raise ValueError("distances must be >= 0 (absolute displacements or norms)")
    positive = t[t >= 2]
    lo, hi = _window(window, (math.sqrt(float(t.max())), float(t.max())), "(t_min, t_max)")
    keep = (t >= max(lo, 2.0)) & (t <= hi)
    if keep.sum() < 3:
        raise ValueError(
            f"window=({lo:g}, {hi:g}) selects {int(keep.sum())} save points with step >= 2 "
            f"(of {positive.size}); a fit needs at least 3"
        )
    b = _n_boot(n_boot, d.shape[1], int(keep.sum()))
    return t[keep], d[keep], b, conf


def _bootstrap_means(d, n_boot, seed):
    """Walker-bootstrap replicates of the mean over walkers: ``(n_boot, n_points)``."""
    w = d.shape[1]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(w, np.full(w, 1.0 / w), size=n_boot).astype(np.float64)
    return counts @ d.T / w


def _line(x, y):
    """OLS ``y = A + B x``: returns ``(A, B, fitted, r2)``."""
    xm, ym = x.mean(), y.mean()
    b = float(np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2))
    a = float(ym - b * xm)
    fitted = a + b * x
    sst = float(np.sum((y - ym) ** 2))
    r2 = 1.0 - float(np.sum((y - fitted) ** 2)) / sst if sst > 0 else 1.0
    return a, b, fitted, r2


def _profile_sse(beta, logt, m):
    y = m ** (1.0 / beta)
    a, b, fitted, _ = _line(logt, y)
    if b <= 0 or np.any(fitted <= 0):
        return math.inf, a, b
    r = np.log(m) - beta * np.log(fitted)
    return float(np.sum(r**2)), a, b


_GRID = 60  # profile grid over beta_bounds (geometric), refined by a bounded scalar search


def _fit_beta(logt, m, method, bounds):
    if np.any(m <= 0):
        return math.nan, {}, math.nan
    logm = np.log(m)
    sst = float(np.sum((logm - logm.mean()) ** 2))
    if method == "loglog":
        a0, beta, _, r2 = _line(np.log(logt), logm)
        return beta, {"a": math.exp(a0), "c": 0.0, "beta": beta}, r2
    from scipy.optimize import minimize_scalar

    grid = np.geomspace(bounds[0], bounds[1], _GRID)
    sse = [_profile_sse(bb, logt, m)[0] for bb in grid]
    i = int(np.argmin(sse))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    with np.errstate(invalid="ignore"):  # an infinite SSE (non-monotone line) at a bracket end is allowed
        res = minimize_scalar(lambda bb: _profile_sse(bb, logt, m)[0], bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-6})
    beta = float(res.x)
    s, a, b = _profile_sse(beta, logt, m)
    r2 = 1.0 - s / sst if sst > 0 else 1.0
    return beta, {"a": b**beta, "c": -a / b, "beta": beta}, r2


def _at_bound(beta, bounds) -> bool:
    """``β`` in the first or last cell of the profile grid over ``bounds``: the best grid point was an
    end of the search range, so the range, not the data, may have decided the estimate."""
    cell = (bounds[1] / bounds[0]) ** (1.0 / (_GRID - 1))
    return bool(np.isfinite(beta) and (beta < bounds[0] * cell or beta > bounds[1] / cell))


def _interval(estimate, boots, confidence):
    """``(ci, se, n_failed)``: percentile interval over the finite replicates; failures are counted."""
    ok = np.isfinite(boots)
    n_failed = int(boots.size - ok.sum())
    boots = boots[ok]
    q = (1.0 - confidence) / 2.0
    if boots.size < 2:
        return (math.nan, math.nan), math.nan, n_failed
    return ((float(np.quantile(boots, q)), float(np.quantile(boots, 1.0 - q))), float(np.std(boots, ddof=1)),
            n_failed)


def log_growth_exponent(steps, distances, *, window=None, method: str = "profile", n_boot: int = 400,
                        confidence: float = 0.95, seed: int = 0, beta_bounds=(0.05, 20.0)) -> Fit:
    r"""Fit ``E d(t) = a (log t − c)^β`` and return ``β`` with a bootstrap CI over walkers.

    Bouchaud & Georges (1990): on a random potential with ``E[(U(x) − U(y))²] ∝ |x − y|^α`` the
    distance grows as ``(log t)^{2/α}``; Hoffer, Hubara & Soudry (2017) measured ``α ≈ 2`` for
    neural networks. The offset ``c`` matters at every reachable ``t`` (see the module
    docstring): ``method="loglog"`` (``c = 0``) is provided only to show that bias.

    Args:
        steps: ``(S,)`` save steps ``t``.
        distances: ``(S, W)`` non-negative distances (``|X_t|`` or ``‖w_t − w_0‖``) of ``W`` walkers,
            or ``(S,)`` for one (then no CI).
        window: ``(t_min, t_max)`` of steps to fit (inclusive; steps < 2 are always dropped).
            Default ``(√t_max, t_max)``: the later half of the run in ``log t``.
        method: ``"profile"`` (three parameters, default) or ``"loglog"`` (naive, ``c = 0``).
        n_boot: bootstrap replicates (resampling walkers).
        confidence: level of the percentile interval, in ``(0, 1)``.
        seed: seed of the bootstrap resampling.
        beta_bounds: search range of ``β`` for the profile fit.

    Returns:
        A :class:`Fit` with ``quantity="beta"``; ``params`` holds ``a``, ``c``, ``beta``.

    Raises:
        ValueError: if the ``window`` holds fewer than 3 save points, shapes disagree,
            ``distances`` are negative, or ``method``, ``n_boot``, ``confidence`` are invalid.

    Examples:
        >>> import numpy as np
        >>> t = np.geomspace(10, 1e6, 30).round()
        >>> d = (0.9 * (np.log(t) - 2.0)) ** 2
        >>> fit = log_growth_exponent(t, d, window=(10, 1e6))
        >>> round(fit.estimate, 3), round(fit.params["c"], 3)
        (2.0, 2.0)

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
        models and physical applications"; Hoffer, Hubara & Soudry 2017, "Train longer, generalize
        better: closing the generalization gap in large batch training of neural networks".
    """
    if method not in ("profile", "loglog"):
        raise ValueError(f"method must be 'profile' or 'loglog', got {method!r}")
    t, d, n_boot, conf = _prepare(steps, distances, window, n_boot, confidence)
    bounds = _beta_bounds(beta_bounds)
    logt = np.log(t)
    beta, params, r2 = _fit_beta(logt, d.mean(axis=1), method, bounds)
    check = method == "profile"  # the log-log fit is a closed-form line: no search range
    if d.shape[1] > 1:
        boots = np.array([_fit_beta(logt, m, method, bounds)[0] for m in _bootstrap_means(d, n_boot, seed)])
        ci, se, failed = _interval(beta, boots, conf)
        at = int(sum(_at_bound(b, bounds) for b in boots)) if check else 0
        drawn = n_boot
    else:
        (ci, se), failed, at, drawn = ((math.nan, math.nan), math.nan), 0, 0, 0
    return Fit("beta", beta, ci, se, conf, r2, (int(t[0]), int(t[-1])), len(t), d.shape[1], params, method,
               check and _at_bound(beta, bounds), drawn, failed, at)


def log_growth_slope(steps, distances, *, beta: float = 1.0, moment: str = "mean", window=None,
                     n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> Fit:
    r"""The linearised fit ``(E d)^{1/β} = a (log t − c)`` for a known exponent ``β = 2/α``.

    For Sinai's walk (``α = 1``, ``β = 2``) this is ``√E|X_n| = a (log n − c)``; Kesten's limit law
    gives ``a → √(5/6) ≈ 0.913`` for ``σ = 1``, and at ``n ≤ 2²²`` the fit is linear to
    ``R² ≈ 0.9997`` with ``a ≈ 0.87`` (theory-anchors §9). For Hoffer's ``α = 2`` (``β = 1``) it
    is the slope of ``E‖w_t − w_0‖`` against ``log t``.

    Args:
        steps: ``(S,)`` save steps.
        distances: ``(S, W)`` non-negative distances of ``W`` walkers.
        beta: the exponent ``β > 0`` assumed known.
        moment: ``"mean"`` fits ``(E d)^{1/β}``; ``"power"`` fits ``E[d^{1/β}]`` (e.g. ``E|X|^{α/2}``).
        window: ``(t_min, t_max)``, as in :func:`log_growth_exponent`.
        n_boot: bootstrap replicates (resampling walkers).
        confidence: level of the percentile interval.
        seed: bootstrap seed.

    Returns:
        A :class:`Fit` with ``quantity="slope"``; ``params`` holds ``slope``, ``c``, ``beta``.

    Raises:
        ValueError: as :func:`log_growth_exponent`, or on ``beta <= 0`` or an unknown ``moment``.

    Examples:
        >>> import numpy as np
        >>> t = np.geomspace(10, 1e6, 30).round()
        >>> fit = log_growth_slope(t, (0.9 * (np.log(t) - 2.0)) ** 2, beta=2.0, window=(10, None))
        >>> round(fit.estimate, 6), round(fit.params["c"], 6), round(fit.r2, 6)
        (0.9, 2.0, 1.0)

    References:
        Kesten 1986, "The limit distribution of Sinai's random walk in random environment";
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media"; Hoffer, Hubara & Soudry
        2017, "Train longer, generalize better".
    """
    b = V.positive("beta", beta)
    if moment not in ("mean", "power"):
        raise ValueError(f"moment must be 'mean' or 'power', got {moment!r}")
    t, d, n_boot, conf = _prepare(steps, distances, window, n_boot, confidence)
    logt = np.log(t)
    if moment == "power":
        d = d ** (1.0 / b)

    def fit(m):
        y = m if moment == "power" else m ** (1.0 / b)
        a0, slope, _, r2 = _line(logt, y)
        return slope, (-a0 / slope if slope != 0 else math.nan), r2

    slope, c, r2 = fit(d.mean(axis=1))
    if d.shape[1] > 1:
        boots = np.array([fit(m)[0] for m in _bootstrap_means(d, n_boot, seed)])
        ci, se, failed = _interval(slope, boots, conf)
        drawn = n_boot
    else:
        (ci, se), failed, drawn = ((math.nan, math.nan), math.nan), 0, 0
    return Fit("slope", slope, ci, se, conf, r2, (int(t[0]), int(t[-1])), len(t), d.shape[1],
               {"slope": slope, "c": c, "beta": b}, "linearised", False, drawn, failed, 0)


def first_passage_exponent(distances, log_times, *, window=None, n_boot: int = 400, confidence: float = 0.95,
                           seed: int = 0, beta_bounds=(0.05, 20.0)) -> Fit:
    r"""Fit ``L = a (log t(L) − c)^β`` to first-passage data, with a bootstrap CI over environments.

    ``log t(L)`` is the environment average of ``log τ(L)``, the log mean time to first reach
    distance ``L`` (typical, not annealed: ``E_env τ`` is dominated by rare deep traps). This is
    the first-passage form of Bouchaud & Georges' ``distance ~ (log t)^{2/α}``: the distance
    reached by time ``t`` is the ``L`` with ``τ(L) = t``. The same profiled three-parameter model
    as :func:`log_growth_exponent` is used, so ``c`` absorbs the microscopic time scale.

    Args:
        distances: ``(S,)`` increasing positive distances ``L``.
        log_times: ``(S, E)`` values of ``log τ(L)`` for ``E ≥ 2`` environments (e.g. from
            :func:`~sgd_sde.diffusion.first_passage_experiment`).
        window: ``(L_min, L_max)`` (inclusive); default ``(L_max^{1/5}, L_max)``, which drops the
            lattice scale.
        n_boot: bootstrap replicates (resampling environments).
        confidence: level of the percentile interval, in ``(0, 1)``.
        seed: bootstrap seed.
        beta_bounds: search range of ``β``.

    Returns:
        A :class:`Fit` with ``quantity="beta"``, ``method="first-passage"``; ``t_range`` holds the
        distance range used (rounded to integers), ``n_walkers`` the number of environments.

    Raises:
        ValueError: shapes disagree, non-positive or non-increasing ``distances``, fewer than 2
            environments, a window with fewer than 3 points, or an invalid ``n_boot``/``confidence``.

    Examples:
        >>> import numpy as np
        >>> L = np.geomspace(10, 1e4, 20)
        >>> lt = 3.0 + (L / 2.0) ** 0.5  # L = 2 (log t − 3)^2
        >>> fit = first_passage_exponent(L, np.stack([lt, lt + 0.01], axis=1))
        >>> round(fit.estimate, 3)
        2.0

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
        models and physical applications"; Hoffer, Hubara & Soudry 2017, "Train longer, generalize
        better".
    """
    L = V.finite_array("distances", distances, ndim=1).astype(np.float64)
    lt = V.finite_array("log_times", log_times, ndim=2).astype(np.float64)
    if lt.shape[0] != L.shape[0]:
        raise ValueError(f"log_times must have shape (len(distances), E) = ({L.shape[0]}, E), got {lt.shape}")
    if lt.shape[1] < 2:
        raise ValueError(f"log_times needs at least 2 environments (columns), got {lt.shape[1]}")
    if np.any(L <= 0) or np.any(np.diff(L) <= 0):
        raise ValueError("distances must be positive and strictly increasing")
    b = _n_boot(n_boot, lt.shape[1], lt.shape[0])
    conf = V.in_open_interval("confidence", confidence, 0.0, 1.0)
    bounds = _beta_bounds(beta_bounds)
    lo, hi = _window(window, (float(L[-1]) ** 0.2, float(L[-1])), "(L_min, L_max)")
    keep = (L >= lo) & (L <= hi)
    if keep.sum() < 3:
        raise ValueError(f"window=({lo:g}, {hi:g}) selects {int(keep.sum())} distances; a fit needs at least 3")
    L, lt = L[keep], lt[keep]
    beta, params, r2 = _fit_beta(lt.mean(axis=1), L, "profile", bounds)
    boots = np.array([_fit_beta(m, L, "profile", bounds)[0] for m in _bootstrap_means(lt, b, seed)])
    ci, se, failed = _interval(beta, boots, conf)
    at = int(sum(_at_bound(x, bounds) for x in boots))
    return Fit("beta", beta, ci, se, conf, r2, (int(round(L[0])), int(round(L[-1]))), len(L), lt.shape[1], params,
               "first-passage", _at_bound(beta, bounds), b, failed, at)
