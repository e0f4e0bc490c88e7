r"""Mean-square linear stability of a minimum (Wu, Ma & E 2018), simulated and exact.

Near a global minimum of an over-parameterised model every per-example loss vanishes, and SGD
linearised there is :math:`x_{t+1} = (I - \eta\hat H_t)x_t` with the minibatch Hessian
:math:`\hat H_t`. Its second moment grows by the factor :math:`(1-\eta a)^2 + \eta^2 s^2\kappa` per
step in 1-D (sharpness ``a``, non-uniformity ``s``, :math:`\kappa = (n-B)/(B(n-1))` without
replacement), so SGD can be mean-square unstable where GD (factor :math:`(1-\eta a)^2`) is
stable. :func:`second_moment_growth` measures the factor by simulating SGD with the core engine;
:func:`stability_map` does it over an ``(lr, B)`` grid.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from . import _stats
from ._exit import check_common, check_key
from .radius import check_minimum

__all__ = ["MeanSquareResult", "exact_factor_1d", "second_moment_growth", "stability_map", "threshold_bracket",
           "matched_trace_covariances"]



def exact_factor_1d(lr, curvatures, batch_size, replace: bool = False) -> float:
    r"""Wu–Ma–E's exact 1-D factor :math:`(1-\eta a)^2 + \eta^2 s^2\kappa` from per-example curvatures.

    A thin adapter over :func:`sgd_sde.theory.mean_square_factor` (the SymPy-derived single
    source of the formula) taking the per-example curvatures of a 1-D interpolating minimum.

    Args:
        lr: learning rate ``η > 0``.
        curvatures: ``(N,)`` finite per-example curvatures ``h_i``, ``N ≥ 1``.
        batch_size: ``B ≥ 1`` (``≤ N`` without replacement).
        replace: ``bool``: minibatches with replacement (``κ = 1/B``) or without (default).

    Returns:
        The factor (float); the minimum is mean-square stable iff it is ``≤ 1``.

    Raises:
        TypeError: non-numeric ``lr``/``curvatures``/``batch_size``, ``replace`` not a ``bool``.
        ValueError: ``lr ≤ 0``, empty or non-finite ``curvatures``, a bad ``batch_size``, or
            ``lr`` and ``curvatures`` so large that the factor overflows float64.

    Examples:
        >>> round(exact_factor_1d(0.1, [0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9], 2), 5)
        0.51867

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A
        Dynamical Stability Perspective".
    """
    from ..theory import mean_square_factor

    lr = V.positive("lr", lr)
    h = V.finite_array("curvatures", curvatures, ndim=1).astype(np.float64)
    if h.size == 0:
        raise ValueError("curvatures must hold at least one per-example curvature, got an empty array")
    batch_size = V.positive_int("batch_size", batch_size)
    replace = V.flag("replace", replace)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            out = float(mean_square_factor(lr, h, batch_size, replace=bool(replace)))
    except OverflowError:
        out = math.inf
    except ValueError as err:  # the theory's checks name its own argument: say it under ours
        raise ValueError(str(err).replace("per_example_hessians", "curvatures")) from None
    if not math.isfinite(out):
        raise ValueError(f"the factor overflows float64 for lr={lr:.3g} and curvatures up to "
                         f"{float(np.max(np.abs(h))):.3g}: (lr·curvatures)² must stay below 1.8e308")
    return out


@dataclasses.dataclass(frozen=True)
class MeanSquareResult:
    """Simulated growth of :math:`\\mathbb E\\|\\theta_t-\\theta^*\\|^2`.

    Attributes:
        factor: per-step factor ``(m_T / m_0)^{1/T}`` with ``m_t`` the ensemble mean of
            ``‖θ_t − θ*‖²``.
        ci: its interval (normal interval on ``m_T`` mapped through the power).
        moments: ``m_t / m_0`` for ``t = 0..T``.
        lyapunov: ``mean_p log(‖θ_T − θ*‖² / r²) / T`` — the typical (almost-sure) rate; a path
            converges a.s. when it is ``< 0`` even if the second moment grows.
        diverged_fraction: fraction flagged as diverged by :func:`sgd_sde.simulate`.
        n_diverged: number of diverged particles.
        diverged: ``"included"`` (their last finite values are in every mean: the factor is then a
            lower bound, see :attr:`factor_is_lower_bound`) or ``"excluded"`` (dropped from every
            mean; :attr:`n_used` particles remain).
        n_used: particles in the means.
        factor_is_lower_bound: ``True`` when diverged particles are included (frozen values
            understate their second moment) or excluded (their growth is left out).
    """

    factor: float
    ci: tuple[float, float]
    moments: np.ndarray
    lyapunov: float
    diverged_fraction: float
    n_diverged: int = 0
    diverged: str = "included"
    n_used: int = 0
    factor_is_lower_bound: bool = False


def _sq_dist(landscape, theta, theta0):
    return jnp.sum(theta * theta)


def second_moment_growth(key, landscape, dynamics, minimum, *, noise=None, n_steps: int, n_particles: int,
                         radius: float = 1.0, level: float = 0.95, minimum_tol: float = 1e-4,
                         diverged: str = "include") -> MeanSquareResult:
    r"""Per-step growth factor of the second moment of ``θ_t − θ*``, by simulating with :func:`sgd_sde.simulate`.

    Particles start at ``θ* + radius·u`` (``u`` uniform on the sphere) and run ``n_steps`` steps.
    For linearised SGD (a quadratic per-example loss, e.g. ``LinearRegression`` with zero
    residuals) in one dimension :math:`\mathbb E x_t^2 = F^t x_0^2` exactly, with Wu–Ma–E's factor
    ``F``. In ``d > 1``, ``F`` (:func:`sgd_sde.theory.mean_square_factor`, the spectral radius of the
    second-moment map) is the rate that :math:`\mathbb E|x_t|^2` approaches as ``t`` grows; from a
    uniform start the first steps grow more slowly, so compare the two in 1-D or at large ``t``. The
    estimate's relative variance grows like :math:`(\mathbb E(1-\eta\hat h)^4/F^2)^T`, so keep
    ``n_steps`` small (a few to tens) and ``n_particles`` large. ``x_T²`` is a product of ``T``
    random factors, heavy-tailed: the interval is a studentized bootstrap on the log scale
    (:func:`sgd_sde.stability._stats.heavy_mean_ci`), not ``mean ± z·sd/√P``.

    Particles that :func:`sgd_sde.simulate` flags as diverged are counted (``n_diverged``) and,
    by default, included with their last finite values, so that a diverging second moment is not
    hidden; ``factor_is_lower_bound`` says that the factor then understates the growth.
    ``diverged="exclude"`` drops them from every mean instead (``n_used`` says how many remain).

    Args:
        key: ``jax.random.key`` (or an ``int`` seed in ``[0, 2**32 - 1]``).
        landscape, dynamics, noise: core objects (e.g. ``SGD`` with ``ExactMinibatch``).
        minimum: ``θ*`` (checked to be a minimum).
        n_steps: ``1 ≤ T ≤ 2**31 − 1`` (and the saved moments within memory).
        n_particles: ``2 ≤ P ≤ 2**31 − 1`` (and within memory).
        radius: starting distance ``> 0``, below ``1.8e19`` (float32 squares it).
        level: confidence level in ``(0, 1)``.
        minimum_tol: tolerance of the minimum check.
        diverged: ``"include"`` (default) or ``"exclude"`` diverged particles from the means.

    Returns:
        A :class:`MeanSquareResult`.

    Raises:
        ValueError: non-positive ``n_steps``/``radius``, ``n_particles < 2``, counts beyond int32
            or memory, ``radius`` beyond float32, ``minimum`` not a minimum, ``level`` outside
            ``(0, 1)``, ``diverged`` not ``"include"``/``"exclude"``, ``key`` an ``int`` outside
            ``[0, 2**32 - 1]``.

    Examples:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from sgd_sde.landscapes import LinearRegression
        >>> from sgd_sde.dynamics import SGD
        >>> from sgd_sde.noise import ExactMinibatch
        >>> h = np.array([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9])
        >>> ls = LinearRegression(np.sqrt(h)[:, None], np.zeros(10))    # ℓ_i = h_i x²/2
        >>> res = second_moment_growth(jax.random.key(0), ls, SGD(lr=0.1, batch_size=2), np.zeros(1),
        ...                            noise=ExactMinibatch(replace=False), n_steps=1, n_particles=20_000)
        >>> abs(res.factor - 0.51867) < 0.01
        True

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning: A
        Dynamical Stability Perspective", Section 3.
    """
    from ..simulate import simulate

    policy = _diverged_policy(diverged)
    key, theta0, obs, r, level = _prepare(key, landscape, dynamics, noise, minimum, n_steps, n_particles, radius,
                                          level, minimum_tol)
    traj = simulate(key, landscape, dynamics, theta0, noise=noise, n_steps=n_steps, save_every=1,
                    observables=obs, progress=False)
    return _summarise(traj, r, n_steps, level, policy)


def _diverged_policy(diverged) -> str:
    if diverged not in ("include", "exclude"):
        raise ValueError(f"diverged must be 'include' or 'exclude', got diverged={diverged!r}")
    return diverged


# float32 runs: ‖θ − θ*‖² must be representable, so distances stay below √(float32 max) ≈ 1.8e19
_MAX_DISTANCE = math.sqrt(float(np.finfo(np.float32).max))


def _prepare(key, landscape, dynamics, noise, minimum, n_steps, n_particles, radius, level, minimum_tol):
    key = check_key(key)
    check_common(landscape, dynamics, noise)
    n_steps = V.count("n_steps", n_steps)
    p = V.count("n_particles", n_particles, minimum=2)
    d = landscape.dim
    # host memory: the (p, d) float64 directions and float32 starts; the saved ‖θ_t − θ*‖² per step
    V.fits_in_memory("n_particles", p * (12 * d + 16), f"{p} starting points in {d} dimensions")
    V.fits_in_memory("n_steps", (n_steps + 1) * (8 * p + 16), f"the saved second moments of {n_steps} steps × {p} particles")
    r = V.positive("radius", radius)
    level = V.in_open_interval("level", level, 0.0, 1.0)
    m, _ = check_minimum(landscape, minimum, tol=V.positive("minimum_tol", minimum_tol))
    if not r + float(np.max(np.abs(m))) < _MAX_DISTANCE:
        raise ValueError(f"radius must be < {_MAX_DISTANCE:.3g} - |minimum| (the runs are float32 and square the "
                         f"distance), got radius={r:.3g}")
    k_dir, k_run = jax.random.split(key)
    u = np.asarray(jax.random.normal(k_dir, (p, d)), np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    theta0 = (m[None, :] + r * u).astype(np.float32)
    centre = np.asarray(m, np.float32)
    obs = {"sq": lambda ls, th, th0: jnp.sum((th - jnp.asarray(centre, th.dtype)) ** 2)}
    return k_run, theta0, obs, r, level


def _summarise(traj, r, n_steps, level, policy="include") -> MeanSquareResult:
    sq = np.asarray(traj.saved["sq"], np.float64) / r**2  # (T+1, P)
    div = np.asarray(traj.diverged, bool)
    n_div = int(div.sum())
    if policy == "exclude":
        sq = sq[:, ~div]
    p = sq.shape[1]
    if p == 0:
        nan = float("nan")
        return MeanSquareResult(nan, (nan, nan), np.full(sq.shape[0], nan), nan, float(np.mean(div)), n_div,
                                "excluded", 0, True)
    moments = sq.mean(axis=1)
    lo, hi = _stats.heavy_mean_ci(sq[-1], level)
    lo = max(lo, 1e-300)
    lyap = float(np.mean(np.log(np.maximum(sq[-1], 1e-300)))) / n_steps
    return MeanSquareResult(factor=float(moments[-1] ** (1.0 / n_steps)), ci=(lo ** (1.0 / n_steps), hi ** (1.0 / n_steps)),
                            moments=moments, lyapunov=lyap, diverged_fraction=float(np.mean(div)), n_diverged=n_div,
                            diverged="excluded" if policy == "exclude" else "included", n_used=p,
                            factor_is_lower_bound=n_div > 0)


def stability_map(key, landscape, dynamics, minimum, *, noise=None, lrs, batch_sizes, n_steps: int,
                  n_particles: int, level: float = 0.95, diverged: str = "include") -> dict[str, np.ndarray]:
    """:func:`second_moment_growth` over the grid ``batch_sizes × lrs`` (same key: common random numbers).

    Diverged particles are counted per grid point (``n_diverged``) and included (default; the
    factor is then a lower bound there) or excluded (``diverged="exclude"``), as in
    :func:`second_moment_growth`; ``"diverged"`` in the result says which.

    Returns:
        ``{"lrs", "batch_sizes", "factor", "lo", "hi", "lyapunov", "n_diverged", "diverged"}``;
        ``factor`` … ``n_diverged`` have shape ``(len(batch_sizes), len(lrs))``.

    Raises:
        ValueError: empty or invalid ``lrs``/``batch_sizes`` and anything :func:`second_moment_growth` raises.

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning".
    """
    from ..simulate import sweep

    lr_arr = np.asarray([V.positive("lrs", v) for v in np.ravel(V.finite_array("lrs", lrs))], np.float64)
    b_arr = np.asarray([V.positive_int("batch_sizes", v) for v in np.ravel(np.asarray(batch_sizes, dtype=object))],
                       np.int64)
    if lr_arr.size == 0 or b_arr.size == 0:
        raise ValueError("lrs and batch_sizes must be non-empty")
    for name, arr in (("lrs", lr_arr), ("batch_sizes", b_arr)):  # results are matched back by value
        if np.unique(arr).size != arr.size:
            raise ValueError(f"{name} must hold distinct values, got {name}={arr.tolist()}")
    policy = _diverged_policy(diverged)
    run_key, theta0, obs, r, level = _prepare(key, landscape, dynamics, noise, minimum, n_steps, n_particles, 1.0,
                                              level, 1e-4)
    for b in b_arr:
        check_common(landscape, dynamics, noise).check_batch_size(landscape, int(b))
    shape = (b_arr.size, lr_arr.size)
    out = {k: np.zeros(shape) for k in ("factor", "lo", "hi", "lyapunov")}
    out["n_diverged"] = np.zeros(shape, np.int64)
    runs = sweep(run_key, landscape, dynamics, theta0, lrs=[float(v) for v in lr_arr],
                 batch_sizes=[int(b) for b in b_arr], noise=noise, n_steps=n_steps, save_every=1,
                 observables=obs, progress=False)
    for (lr, b), traj in runs.items():
        i, j = int(np.flatnonzero(b_arr == b)[0]), int(np.flatnonzero(lr_arr == lr)[0])
        res = _summarise(traj, r, n_steps, level, policy)
        out["factor"][i, j], (out["lo"][i, j], out["hi"][i, j]), out["lyapunov"][i, j] = (
            res.factor, res.ci, res.lyapunov)
        out["n_diverged"][i, j] = res.n_diverged
    return {"lrs": lr_arr, "batch_sizes": b_arr, **out, "diverged": "excluded" if policy == "exclude" else "included"}


def threshold_bracket(lrs, lo, hi) -> tuple[float, float]:
    """``(largest lr whose factor CI is entirely < 1, smallest larger lr whose CI is entirely > 1)``.

    ``nan`` where no such learning rate was tested.

    Args:
        lrs: ``(n,)`` finite learning rates ``> 0``, ``n ≥ 1`` (any order).
        lo, hi: ``(n,)`` lower and upper ends of the factor's interval at each ``lr`` (as
            :func:`stability_map` returns them); ``nan`` (no particle left to measure) and
            ``±inf`` are allowed and decide nothing.

    Returns:
        ``(below, above)``.

    Raises:
        TypeError: non-numeric arrays.
        ValueError: ``lrs`` empty, non-finite or ``≤ 0``; arrays not 1-D or of different lengths.

    Examples:
        >>> threshold_bracket([0.1, 0.2, 0.3], [0.5, 0.9, 1.1], [0.7, 1.05, 1.3])
        (0.1, 0.3)

    References:
        Wu, Ma & E 2018, "How SGD Selects the Global Minima in Over-parameterized Learning".
    """
    lrs = V.finite_array("lrs", lrs, ndim=1).astype(np.float64)
    if lrs.size == 0 or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty array of learning rates > 0, got lrs={lrs.tolist()}")
    lo, hi = (_interval_end(name, v, lrs.size) for name, v in (("lo", lo), ("hi", hi)))
    order = np.argsort(lrs)
    lrs, lo, hi = lrs[order], lo[order], hi[order]
    stable = lrs[hi < 1.0]
    below = float(stable.max()) if stable.size else math.nan
    unstable = lrs[(lo > 1.0) & (lrs > (below if stable.size else -math.inf))]
    return below, (float(unstable.min()) if unstable.size else math.nan)


def _interval_end(name: str, value, n: int) -> np.ndarray:
    """A real ``(n,)`` array (NaN and ±inf allowed: an interval end that decides nothing)."""
    arr = V.concrete(name, value)
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have the shape of lrs ({n},), got {name} of shape {arr.shape}")
    return arr.astype(np.float64)


def matched_trace_covariances(hessian, trace: float = 1.0) -> dict[str, np.ndarray]:
    r"""Zhu et al.'s three noise shapes at equal :math:`\mathrm{tr}\Sigma`: ``∝ H``, top eigenvector, isotropic.

    Args:
        hessian: symmetric PSD ``(d, d)`` with ``tr H > 0``.
        trace: ``tr Σ > 0``.

    Returns:
        ``{"hessian": c·H/tr H, "top_eigenvector": c·v₁v₁ᵀ, "isotropic": c·I/d}``.

    Raises:
        ValueError: non-PSD ``hessian``, zero trace, non-positive ``trace``.

    Examples:
        >>> import numpy as np
        >>> H = np.diag([100.0] + [1.0] * 9)
        >>> {k: round(float(np.sum(H * S)), 2) for k, S in matched_trace_covariances(H).items()}
        {'hessian': 91.83, 'top_eigenvector': 100.0, 'isotropic': 10.9}

    References:
        Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent: Its
        Behavior of Escaping from Sharp Minima and Regularization Effects".
    """
    h = V.symmetric_psd("hessian", hessian).astype(np.float64)
    c = V.positive("trace", trace)
    tr = float(np.trace(h))
    if not tr > 0:
        raise ValueError("hessian must have a positive trace")
    lam, q = np.linalg.eigh(h)
    v = q[:, -1]
    d = h.shape[0]
    return {"hessian": c * h / tr, "top_eigenvector": c * np.outer(v, v), "isotropic": c * np.eye(d) / d}
