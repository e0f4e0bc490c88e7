"""Exact mean exit times on piecewise-linear potentials and the first-passage exponent (Bouchaud & Georges 1990).

Oracles: closed forms (flat and linear potentials), scipy's BVP solver (smooth potential), nested
scipy quadrature of the textbook Green's-function formula on a coarse piecewise-linear potential
(exactness of the cell integrals), mpmath for the two special functions, and Langevin simulation
through the core engine on one fBm environment.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.diffusion import exit_time_profile, first_passage_experiment, first_passage_exponent
from sgd_sde.diffusion.exit_time import _log_phi1, _log_phi2


def test_flat_potential_is_brownian_exit_time():
    # dX = sqrt(2T) dW: E tau(L) = L^2 / (2T)
    lt = exit_time_profile(np.zeros(401), spacing=0.05, temperature=0.7)
    L = 0.05 * np.arange(1, 201)
    np.testing.assert_allclose(np.exp(lt), L**2 / 1.4, rtol=1e-12)


@pytest.mark.parametrize("force", [-3.0, 0.4, 2.0])
def test_linear_potential_closed_form(force):
    # U = F x: drift v = -F, D = T; tau(x) on (a, b) = [(b-a)(1 - e^{-v(x-a)/D}) / (1 - e^{-v(b-a)/D}) - (x-a)] / v
    T, h = 0.5, 0.01
    x = h * np.arange(-300, 301)
    lt = exit_time_profile(force * x, spacing=h, temperature=T)
    L = h * np.arange(1, 301)
    v = -force
    exact = ((2 * L) * (-np.expm1(-v * L / T)) / (-np.expm1(-v * 2 * L / T)) - L) / v
    np.testing.assert_allclose(np.exp(lt), exact, rtol=1e-10)


def test_smooth_potential_matches_scipy_ode_shooting():
    # T tau'' - U' tau' = -1, tau(-L) = tau(L) = 0, by linear shooting with DOP853 (the ODE is linear in
    # the unknown slope s = tau'(-L), so two shots give s exactly)
    from scipy.integrate import solve_ivp

    T, L = 0.3, 2.0
    U = lambda x: 0.6 * np.sin(3 * x) + 0.25 * x**2 + 0.1 * x  # noqa: E731
    dU = lambda x: 1.8 * np.cos(3 * x) + 0.5 * x + 0.1  # noqa: E731

    def shoot(s, x_end):
        sol = solve_ivp(lambda x, y: [y[1], (dU(x) * y[1] - 1) / T], (-L, x_end), [0.0, s], method="DOP853",
                        rtol=1e-12, atol=1e-14)
        return sol.y[0, -1]

    y0, y1 = shoot(0.0, L), shoot(1.0, L)
    s = -y0 / (y1 - y0)
    tau0 = shoot(s, 0.0)
    xg = np.linspace(-L, L, 40001)  # h = 1e-4: interpolation error O(h^2) relative
    lt = exit_time_profile(U(xg), spacing=xg[1] - xg[0], temperature=T)
    assert abs(math.exp(lt[-1]) / tau0 - 1) < 1e-6, (math.exp(lt[-1]), tau0)


def test_piecewise_linear_cells_are_exact_against_nested_quadrature():
    # coarse grid with jumps of up to ~6 T per cell: a rectangle rule on the nodes would be far off,
    # the closed-form cell integrals are exact. Independent route: the Green's-function formula
    # tau(0) = int_{-L}^0 psi(y) [A - I(y)/T] dy, A = int psi I / (T int psi), by nested scipy quad.
    from scipy.integrate import quad

    rng = np.random.default_rng(3)
    h, T = 0.5, 0.4
    u = np.concatenate([[0.0], np.cumsum(rng.normal(0, 1.2, 20))])
    u = u - u[10]
    x = h * (np.arange(21) - 10)
    lt = exit_time_profile(u, spacing=h, temperature=T)
    for k in (1, 4, 10):
        lo, hi = -k * h, k * h
        pts = list(x[(x > lo) & (x < hi)])
        Uf = lambda y: np.interp(y, x, u)  # noqa: E731
        I = lambda y: quad(lambda z: math.exp(-Uf(z) / T), lo, y, points=[p for p in pts if p < y] or None,  # noqa: E731
                           epsabs=0, epsrel=1e-12, limit=200)[0]
        psi = lambda y: math.exp(Uf(y) / T)  # noqa: E731
        opts = dict(epsabs=0, epsrel=1e-11, limit=200)
        A = quad(lambda y: psi(y) * I(y), lo, hi, points=pts, **opts)[0] / (T * quad(psi, lo, hi, points=pts, **opts)[0])
        tau = quad(lambda y: psi(y) * (A - I(y) / T), lo, 0.0, points=[p for p in pts if p < 0] or None, **opts)[0]
        assert abs(math.exp(lt[k - 1]) / tau - 1) < 1e-8, (k, math.exp(lt[k - 1]), tau)


@pytest.mark.parametrize("d", [-700.0, -50.0, -1.0, -1.001e-3, -0.999e-3, -1e-7, 0.0, 1e-7, 0.999e-3, 1.001e-3, 1.0,
                               50.0, 700.0])
def test_special_functions_against_mpmath(d):
    import mpmath

    mpmath.mp.dps = 50
    D = mpmath.mpf(d)
    phi1 = mpmath.mpf(1) if d == 0 else mpmath.expm1(D) / D
    phi2 = mpmath.mpf(1) / 2 if d == 0 else (mpmath.expm1(D) - D) / D**2
    with jax.enable_x64(True):
        got1 = float(_log_phi1(jnp.float64(d)))
        got2 = float(_log_phi2(jnp.float64(d)))
    assert abs(got1 - float(mpmath.log(phi1))) < 1e-12 * max(1.0, abs(d))
    assert abs(got2 - float(mpmath.log(phi2))) < 1e-12 * max(1.0, abs(d))


def test_no_overflow_for_barriers_of_thousands_of_T():
    u = np.concatenate([np.linspace(0, 3000, 101), np.linspace(3000, 0, 101)[1:]])  # one huge symmetric hill
    lt = exit_time_profile(np.concatenate([u[::-1][:-1], u]), temperature=1.0)
    assert np.all(np.isfinite(lt)) and lt[-1] > 2900  # Arrhenius: log tau ~ barrier / T


def _outside(landscape, params, theta):
    return jnp.abs(theta[0]) >= params


def test_simulated_langevin_exit_times_match_the_formula():
    # One fBm environment (alpha = 1), 4000 Langevin particles from 0, first exit from (-L, L).
    # Discrete monitoring misses crossings between steps; Siegmund's continuity correction moves the
    # effective boundary out by 0.5826 sqrt(2 T eta) (Broadie, Glasserman & Kou 1997), so the
    # simulated barrier is placed at L_sim = L - 0.5826 sqrt(2 T eta) with L a grid node.
    # Statistics: mean of i.i.d. exit times, SE = sd / sqrt(n); pass if within 4 SE (the remaining
    # O(eta) Euler bias is < 1% here, below 0.3 SE).
    from sgd_sde.dynamics import Langevin
    from sgd_sde.landscapes import RandomPotential
    from sgd_sde.noise import NoNoise
    from sgd_sde.stability._exit import first_exit_steps

    T, eta, h, k = 1.0, 1e-3, 0.05, 60  # L = 3
    land = RandomPotential(jax.random.key(5), 1, 1.0, spacing=h, n_grid=401)
    lt = exit_time_profile(np.asarray(land.values, np.float64), spacing=h, temperature=T)
    assert land.origin == -200 * h  # start node = the grid centre
    shift = 0.5826 * math.sqrt(2 * T * eta)
    dyn = Langevin(lr=eta, temperature=T)
    n = 4000
    steps = first_exit_steps(jax.random.key(1), land, dyn, NoNoise().bind(land), jnp.zeros((n, 1)), _outside,
                             jnp.float32(k * h - shift), max_steps=400_000)
    assert np.all(steps > 0)
    times = steps * eta
    se = times.std(ddof=1) / math.sqrt(n)
    exact = math.exp(lt[k - 1])
    assert abs(times.mean() - exact) < 4 * se, (times.mean(), exact, se)


# Bouchaud & Georges: log tau(L) ~ c + (L/a)^{alpha/2}, i.e. L ~ a (log t - c)^{2/alpha}.
# CI size: 100 environments, L up to 2^14 lattice units, T = A/4 (full size: the figure recipe).
@pytest.fixture(scope="module")
def exponents():
    out = {}
    for i, a in enumerate((0.5, 1.0, 1.5)):
        L, lt = first_passage_experiment(jax.random.key(40 + i), a, n_environments=100, half_width=1 << 14)
        out[a] = first_passage_exponent(L, lt, n_boot=200)
    return out


def test_first_passage_exponent_is_two_over_alpha_within_25_percent(exponents):
    # the whole 95% bootstrap CI (over environments) must lie inside [0.75, 1.25] * 2/alpha
    for a, fit in exponents.items():
        lo, hi = fit.ci
        assert 0.75 * 2 / a < lo < fit.estimate < hi < 1.25 * 2 / a, (a, str(fit))
        assert fit.r2 > 0.99


def test_first_passage_exponents_distinguish_the_alphas(exponents):
    cis = sorted(f.ci for f in exponents.values())
    assert cis[0][1] < cis[1][0] and cis[1][1] < cis[2][0]


def test_experiment_does_not_depend_on_batch():
    kw = dict(n_environments=5, half_width=32, n_distances=6)
    L1, a = first_passage_experiment(jax.random.key(2), 0.7, batch=2, **kw)
    L2, b = first_passage_experiment(jax.random.key(2), 0.7, batch=25, **kw)
    np.testing.assert_array_equal(L1, L2)  # distances are integers times h: exact
    # Each environment's potential comes from its own key, so the draws are the same; the float64
    # profile is computed on batches of different shapes, where NumPy may take its SIMD loop for an
    # element in one batch and its scalar tail loop in the other (exp/log differ by an ulp or so):
    # a few ulp per term of sums over 2·32 + 1 sites, far below 1e-12 relative.
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=2.5), "alpha"),
        (dict(n_environments=1), "n_environments"),
        (dict(n_environments=0), "n_environments"),
        (dict(half_width=4), "half_width"),
        (dict(temperature=0.0), "temperature"),
        (dict(n_distances=2), "n_distances"),
    ],
)
def test_experiment_bad_input(kwargs, match):
    args = dict(alpha=1.0, n_environments=4, half_width=16) | kwargs
    with pytest.raises(ValueError, match=match):
        first_passage_experiment(jax.random.key(0), args.pop("alpha"), **args)


@pytest.mark.parametrize(
    "values, kwargs, match",
    [
        (np.zeros(2), {}, "3 nodes"),
        (np.array([0.0, np.nan, 0.0]), {}, "values"),
        (np.zeros(9), dict(centre=8), "centre"),
        (np.zeros(9), dict(spacing=-1.0), "spacing"),
        (np.zeros(9), dict(temperature=0.0), "temperature"),
    ],
)
def test_profile_bad_input(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exit_time_profile(values, **kwargs)


def test_fit_bad_input():
    L = np.geomspace(10, 1e3, 10)
    lt = np.ones((10, 3)) + L[:, None] ** 0.5
    with pytest.raises(ValueError, match="at least 3"):
        first_passage_exponent(L, lt, window=(10, 20))
    with pytest.raises(ValueError, match="2 environments"):
        first_passage_exponent(L, lt[:, :1])
    with pytest.raises(ValueError, match="increasing"):
        first_passage_exponent(L[::-1], lt)
    with pytest.raises(ValueError, match="shape"):
        first_passage_exponent(L[:5], lt)


def test_figure_recipe_saves_data_and_reuses_it(tmp_path, monkeypatch):
    import sgd_sde.figures.diffusion as figs
    from sgd_sde.io import load_arrays

    monkeypatch.setattr(figs, "FIRST_PASSAGE_QUICK", dict(n_environments=4, half_width=64, temperature=0.25))
    png = figs.first_passage_figure(tmp_path, quick=True)
    assert png.exists() and png.stat().st_size > 0
    arrays, meta = load_arrays(tmp_path / "first_passage")
    assert arrays["log_times_1.0"].shape[1] == 4 and "beta_0.5" in meta
    first = (tmp_path / "first_passage.npz").read_bytes()
    figs.first_passage_figure(tmp_path, quick=True)  # cached: the data file is not rewritten
    assert (tmp_path / "first_passage.npz").read_bytes() == first
