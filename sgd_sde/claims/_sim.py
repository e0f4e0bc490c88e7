"""Simulations several claims share, each run once per process (cached on its arguments).

* :func:`stationary_moments` — the stationary second moment of SGD (plain, heavy-ball, EMA
  momentum, SVAG) on a diagonal quadratic with isotropic gradient noise, for a grid of
  ``(lr, B)`` in one compiled :func:`sgd_sde.simulate.sweep`;
* :func:`one_step_losses` — the loss after one SGD step at a grid of learning rates from a fixed
  point (McCandlish's optimal step), common random numbers across the grid;
* :func:`one_step_covariance` — the covariance of one exact-minibatch SGD update (Chaudhari &
  Soatto's Lemma 1, Hoffer's update covariance).

Every function returns plain NumPy numbers with standard errors computed over independent
particles (time averages inside one particle are correlated, so the particle is the unit).
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import np_rng, prng

__all__ = ["stationary_moments", "one_step_losses", "one_step_covariance", "mean_se", "QUAD_H"]

#: the diagonal Hessian of the quadratic the temperature claims use
QUAD_H = (1.0, 4.0)


def mean_se(x, axis=0):
    """Mean and standard error along ``axis`` (independent samples)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    return x.mean(axis), x.std(axis, ddof=1) / np.sqrt(n)


_DYNAMICS_SALT = {"sgd": 1, "ema": 2, "svag": 3}


@functools.lru_cache(maxsize=None)
def stationary_moments(key: int, quick: bool, dynamics: str = "sgd", param: float = 0.0,
                       lrs: tuple = (0.01, 0.02, 0.04), batch_sizes: tuple = (2, 4, 8), noise_var: float = 1.0,
                       h: tuple = QUAD_H) -> dict:
    """Stationary ``E θ_i²`` of an ensemble on ``Quadratic(diag(h))`` with ``Isotropic(noise_var)``.

    Args:
        key, quick: seed and size (quick: 1000 particles, 24 relaxation times; full: 4000, 60).
        dynamics: ``"sgd"`` (``param`` = heavy-ball momentum μ), ``"ema"`` (``param`` = β) or
            ``"svag"`` (``param`` = l).
        lrs, batch_sizes: the grid (swept in one compiled program).

    Returns:
        ``{(lr, B): (mean (d,), se (d,))}`` of the time-averaged ``θ_i²`` over the second half of
        the run.
    """
    import jax.numpy as jnp

    from ..dynamics import SGD, SVAG, EMAMomentum
    from ..landscapes import Quadratic
    from ..noise import Isotropic
    from ..simulate import sweep

    h_arr = np.asarray(h, dtype=np.float32)
    if dynamics == "sgd":
        dyn = SGD(lr=lrs[0], batch_size=batch_sizes[0], momentum=param)
        speed = 1.0 / (1.0 - param)  # heavy ball moves at the effective rate η/(1-μ)
    elif dynamics == "ema":
        dyn = EMAMomentum(lr=lrs[0], batch_size=batch_sizes[0], beta=param)
        speed = 1.0
    elif dynamics == "svag":
        dyn = SVAG(lr=lrs[0], batch_size=batch_sizes[0], l=param)
        speed = 1.0 / param  # SVAG advances SDE time η/l per step
    else:
        raise ValueError(f"dynamics must be 'sgd', 'ema' or 'svag', got {dynamics!r}")
    relax = 1.0 / (min(lrs) * float(h_arr.min()) * speed)  # steps per relaxation time of the slowest mode
    n_steps = int(np.ceil((24 if quick else 60) * relax / 100.0) * 100)
    n_particles = 1000 if quick else 4000
    save_every = max(1, n_steps // 200)
    # a fixed salt per dynamics: hash(str) changes with PYTHONHASHSEED, i.e. with every process
    runs = sweep(prng(key, 101, _DYNAMICS_SALT[dynamics]), Quadratic(jnp.diag(jnp.asarray(h_arr))), dyn,
                 jnp.zeros(len(h_arr), jnp.float32), lrs=list(lrs), batch_sizes=list(batch_sizes),
                 noise=Isotropic(noise_var), n_steps=n_steps, n_particles=n_particles, save_every=save_every,
                 observables={"sq": lambda ls, th, th0: th**2}, progress=False)
    out = {}
    for (lr, b), traj in runs.items():
        if traj.diverged.any():
            raise FloatingPointError(f"{int(traj.diverged.sum())} particles diverged at lr={lr}, B={b}")
        sq = traj.saved["sq"]  # (saves, P, d)
        per_particle = sq[sq.shape[0] // 2:].mean(0)
        out[(float(lr), int(b))] = mean_se(per_particle)
    return out


@functools.lru_cache(maxsize=None)
def mccandlish_setup():
    """A fixed point on a 6-D quadratic with a dense noise covariance, and its McCandlish numbers."""
    rng = np_rng(0, 7)
    d = 6
    h = np.geomspace(0.5, 8.0, d)
    H = np.diag(h)
    A = rng.normal(size=(d, d))
    Sigma = A @ A.T / d + 0.2 * np.eye(d)
    theta0 = 0.03 * rng.normal(size=d)  # close to the minimum: B_noise = tr(HΣ)/GᵀHG ≈ 10
    G = H @ theta0
    return H, Sigma, theta0, G


@functools.lru_cache(maxsize=None)
def one_step_losses(key: int, quick: bool, batch_size: int, lr_factors: tuple) -> dict:
    """Loss after one SGD step from :func:`mccandlish_setup`'s point, at ``lr = f · ε_opt(B)``.

    Returns:
        ``{"lrs", "losses" (P, K), "loss0", "eps_opt", "eps_max", "b_noise"}``; every lr sees the
        same minibatch noise (one :func:`~sgd_sde.simulate.sweep`).
    """
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..noise import Dense
    from ..simulate import sweep
    from ..theory import b_noise, eps_max, eps_opt

    H, Sigma, theta0, G = mccandlish_setup()
    bn = b_noise(G, H, Sigma)
    em = eps_max(G, H)
    eo = float(eps_opt(batch_size, em, bn))
    lrs = [eo * f for f in lr_factors]
    P = 20_000 if quick else 200_000
    land = Quadratic(jnp.asarray(H, jnp.float32))
    runs = sweep(prng(key, 202, batch_size), land, SGD(lr=lrs[0], batch_size=batch_size),
                 jnp.asarray(theta0, jnp.float32), lrs=lrs, noise=Dense(jnp.asarray(Sigma, jnp.float32)),
                 n_steps=1, n_particles=P, save_every=1, observables=("loss",), progress=False)
    losses = np.stack([np.asarray(runs[k].saved["loss"][-1], dtype=float) for k in runs], axis=1)
    return {"lrs": np.array(lrs), "losses": losses, "loss0": float(0.5 * theta0 @ H @ theta0), "eps_opt": eo,
            "eps_max": float(em), "b_noise": float(bn)}


@functools.lru_cache(maxsize=None)
def regression_problem(n_examples: int, dim: int = 4, seed: int = 0, noise: float = 0.5):
    """A linear regression data set ``y = X w + noise`` (fixed seed), as a :class:`LinearRegression`."""
    from ..landscapes import LinearRegression

    rng = np_rng(seed, n_examples, dim)
    X = rng.normal(size=(n_examples, dim))
    y = X @ np.linspace(1.0, -1.0, dim) + noise * rng.normal(size=n_examples)
    return LinearRegression(X.astype(np.float32), y.astype(np.float32))


@functools.lru_cache(maxsize=None)
def one_step_covariance(key: int, quick: bool, n_examples: int, batch_size: int, replace: bool, lr: float = 1.0):
    """Empirical covariance of one exact-minibatch SGD update ``Δθ = −η ĝ_B`` and its exact value.

    Returns:
        ``(trace_emp, trace_se, trace_exact_population_cov)``: the trace of the empirical update
        covariance, its standard error (over particles, by the delta method on ``|Δθ − mean|²``),
        and ``η² tr C`` with ``C`` the population covariance of the per-example gradients
        (normalised by ``1/N``).
    """
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..noise import ExactMinibatch
    from ..simulate import simulate

    land = regression_problem(n_examples)
    theta0 = jnp.zeros(land.dim, jnp.float32)
    P = 10_000 if quick else 100_000
    traj = simulate(prng(key, 303, n_examples, batch_size, int(replace)), land, SGD(lr=lr, batch_size=batch_size),
                    theta0, noise=ExactMinibatch(replace=replace), n_steps=1, n_particles=P, save_every=1,
                    observables=("theta",), progress=False)
    step = np.asarray(traj.theta, dtype=float) - 0.0
    dev = step - step.mean(0)
    sq = (dev**2).sum(1) * P / (P - 1)
    m, se = mean_se(sq)
    grads = np.asarray(land.per_example_grads(theta0), dtype=float)
    C = np.cov(grads.T, bias=True)
    return float(m), float(se), float(lr**2 * np.trace(C))


@functools.lru_cache(maxsize=None)
def dense_ou(key: int, quick: bool, isotropic: bool = False, lr: float = 0.02, batch_size: int = 2):
    """SGD on ``Quadratic(diag(1, 4))`` with a dense (non-commuting) noise covariance ``C``, at equilibrium.

    Returns:
        ``(H, C, per_particle)`` with ``per_particle`` the time average of ``θθᵀ`` over the second
        half of the run, shape ``(P, 2, 2)``; ``isotropic=True`` uses ``C = I`` (the Gibbs control).
    """
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..noise import Dense
    from ..simulate import simulate

    H = np.diag([1.0, 4.0])
    C = np.eye(2) if isotropic else np.array([[1.0, 0.8], [0.8, 1.0]])
    P = 1000 if quick else 4000
    n_steps = int((24 if quick else 60) / lr)
    traj = simulate(prng(key, 505, int(isotropic)), Quadratic(jnp.asarray(H, jnp.float32)),
                    SGD(lr=lr, batch_size=batch_size), jnp.zeros(2, jnp.float32),
                    noise=Dense(jnp.asarray(C, jnp.float32)), n_steps=n_steps, n_particles=P,
                    save_every=max(1, n_steps // 200),
                    observables={"outer": lambda ls, th, th0: jnp.outer(th, th)}, progress=False)
    if traj.diverged.any():
        raise FloatingPointError(f"{int(traj.diverged.sum())} particles diverged")
    outer = np.asarray(traj.saved["outer"], dtype=float)
    return H, C, outer[outer.shape[0] // 2:].mean(0)


@functools.lru_cache(maxsize=None)
def robbins_monro_runs(key: int, quick: bool, noise_var: float = 1.0, const_lr: float = 0.1):
    """SGD on ``L = x²/2`` with unit-variance gradient noise: ``η_t = 1/(t+1)`` and a constant ``η``.

    Returns:
        ``{"steps", "inverse_t" (saves, P), "constant" (saves, P)}`` of ``x²`` per particle.
    """
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import Quadratic
    from ..noise import Isotropic
    from ..schedules import inverse_power
    from ..simulate import simulate

    P = 4000 if quick else 40000
    n = 1000 if quick else 10000
    save_at = np.unique(np.geomspace(1, n, 40).astype(int))
    land = Quadratic(jnp.eye(1, dtype=jnp.float32))
    obs = {"x2": lambda ls, th, th0: jnp.sum(th**2)}
    x0 = jnp.full((1,), 2.0, jnp.float32)
    dec = simulate(prng(key, 606), land, SGD(lr=1.0, batch_size=1), x0, noise=Isotropic(noise_var), n_steps=n,
                   n_particles=P, save_at=save_at, observables=obs, schedule=inverse_power(1.0, 1.0, 1.0),
                   progress=False)
    con = simulate(prng(key, 607), land, SGD(lr=const_lr, batch_size=1), x0, noise=Isotropic(noise_var), n_steps=n,
                   n_particles=P, save_at=save_at, observables=obs, progress=False)
    return {"steps": np.asarray(dec.steps), "inverse_t": np.asarray(dec.saved["x2"], dtype=float),
            "constant": np.asarray(con.saved["x2"], dtype=float)}


@functools.lru_cache(maxsize=None)
def gibbs_runs(key: int, quick: bool, lr: float = 0.01, noise_var: float = 20.0, batch_sizes: tuple = (1, 2, 4)):
    """SGD with isotropic noise on a low-barrier :class:`~sgd_sde.landscapes.DoubleWell` at three
    temperatures ``T = ησ²/(2B)`` (one sweep over ``B``); final positions of every particle.

    Returns:
        ``{B: x (P,)}`` and the landscape.
    """
    import jax.numpy as jnp

    from ..dynamics import SGD
    from ..landscapes import DoubleWell
    from ..noise import Isotropic
    from ..simulate import sweep

    land = DoubleWell(barrier=0.05)
    P = 2000 if quick else 20000
    theta0 = jnp.linspace(-1.5, 1.5, P, dtype=jnp.float32)[:, None]
    runs = sweep(prng(key, 707), land, SGD(lr=lr, batch_size=batch_sizes[0]), theta0, lrs=[lr],
                 batch_sizes=list(batch_sizes), noise=Isotropic(noise_var), n_steps=6000 if quick else 20000,
                 n_particles=P, save_every=1000, observables=("loss",), progress=False)
    out = {}
    for (_, b), traj in runs.items():
        if traj.diverged.any():
            raise FloatingPointError(f"{int(traj.diverged.sum())} particles diverged at B={b}")
        out[int(b)] = np.asarray(traj.theta[:, 0], dtype=float)
    return out, land


def gibbs_cdf(land, temperature: float, grid):
    """CDF of ``exp(−L/T)`` on ``grid`` by trapezoidal quadrature of the landscape's loss."""
    import jax
    import jax.numpy as jnp

    L = np.asarray(jax.vmap(land.loss)(jnp.asarray(grid, jnp.float64 if jax.config.x64_enabled else jnp.float32)[:, None]),
                   dtype=float)
    w = np.exp(-(L - L.min()) / temperature)
    c = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(grid))])
    return c / c[-1], w / c[-1]
