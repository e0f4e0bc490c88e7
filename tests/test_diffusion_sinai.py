"""Sinai's walk (Sinai 1982; Kesten 1986) and the ultra-slow growth fits (Bouchaud & Georges 1990)."""

import math

import jax
import numpy as np
import pytest

from sgd_sde.diffusion import default_save_steps, log_growth_exponent, log_growth_slope, sinai_environment, sinai_walk


@pytest.fixture(scope="module")
def walk():
    # 1000 walkers, 2^16 steps: ~3 s. Same key for every statistical test below.
    return sinai_walk(jax.random.key(2026), n_walkers=1000, n_steps=1 << 16)


def test_shapes_parity_and_determinism():
    steps, x = sinai_walk(jax.random.key(1), 16, 1000, save_at=[3, 10, 999])
    assert steps.tolist() == [0, 3, 10, 999, 1000]
    assert x.shape == (5, 16) and x.dtype == np.int32
    # nearest-neighbour steps: X_n has the parity of n and |X_n| <= n
    assert np.all((x - steps[:, None]) % 2 == 0) and np.all(np.abs(x) <= steps[:, None])
    _, y = sinai_walk(jax.random.key(1), 16, 1000, save_at=[3, 10, 999], chunk_size=7)
    np.testing.assert_array_equal(x, y)  # chunking does not change a step's randomness


def test_sigma_zero_is_the_simple_random_walk():
    # E X_n^2 = n; Var X_n^2 = 2n^2 - 2n, so SE of the mean over W walkers is sqrt(2/W) n; 4 SE
    n, w = 4096, 4000
    _, x = sinai_walk(jax.random.key(3), w, n, save_at=[], sigma=0.0)
    msd = float(np.mean(x[-1].astype(np.float64) ** 2))
    assert abs(msd - n) < 4 * math.sqrt(2.0 / w) * n


def test_first_step_follows_the_environment():
    # P(step right | eps_0 = +1) = p = 1/(1+e^{-sigma}), P(right | eps_0 = -1) = 1 - p; binomial SE, 4 SE
    key, w, sigma = jax.random.key(4), 20000, 1.3
    _, x = sinai_walk(key, w, 1, sigma=sigma)
    eps = sinai_environment(key, w, [0])[0]
    p = 1.0 / (1.0 + math.exp(-sigma))
    for sign, expect in ((1, p), (-1, 1.0 - p)):
        right = x[-1][eps == sign] == 1
        assert abs(right.mean() - expect) < 4 * math.sqrt(p * (1 - p) / right.size)


def test_environment_is_balanced_and_uncorrelated():
    # 2000 walkers x 2001 sites of +-1: mean and lag-1, lag-2 correlations are 0 with SE 1/sqrt(count); 4 SE
    eps = sinai_environment(jax.random.key(5), 2000, np.arange(-1000, 1001)).astype(np.float64)
    assert abs(eps.mean()) < 4 / math.sqrt(eps.size)
    for lag in (1, 2):
        c = np.mean(eps[lag:] * eps[:-lag])
        assert abs(c) < 4 / math.sqrt(eps[lag:].size)
    # different walkers see different environments
    assert np.mean(eps[:, 0] * eps[:, 1]) < 4 / math.sqrt(eps.shape[0])


def test_kesten_ratio_matches_calibration(walk):
    # sigma^2 E|X_n| / (log n)^2 = 0.44 at 2^13 and 0.49 at 2^16 (theory-anchors section 9, 2000 walkers,
    # calibration error ~2%). SE of our mean: std(|X_n|)/sqrt(W) / (log n)^2 (independent walkers);
    # tolerance 4 SE plus the calibration's own SE (2000 walkers) in quadrature.
    steps, x = walk
    for n, ref in ((1 << 13, 0.44), (1 << 16, 0.49)):
        i = int(np.searchsorted(steps, n))
        a = np.abs(x[i]).astype(np.float64) / math.log(n) ** 2
        se = a.std(ddof=1) / math.sqrt(a.size)
        se_ref = se * math.sqrt(a.size / 2000)
        assert abs(a.mean() - ref) < 4 * math.hypot(se, se_ref), (n, a.mean(), se)


def test_linearised_fit_is_in_the_kesten_band_and_loglog_is_biased(walk):
    steps, x = walk
    d = np.abs(x)
    fit = log_growth_slope(steps, d, beta=2.0, n_boot=400)
    # sqrt(E|X_n|) = a (log n - c): the full-size calibration (2000 walkers, n <= 2^22) has a = 0.866 and the
    # acceptance band [0.80, 0.95] (asymptote sqrt(5/6) = 0.913). At 2^16 and 1000 walkers we allow the band
    # widened by 3 bootstrap SE (SE ~ 0.02): still excludes a free random walk and a (log n)^1 law.
    assert 0.80 - 3 * fit.se < fit.estimate < 0.95 + 3 * fit.se, fit
    assert fit.r2 > 0.995 and fit.ci[0] < fit.estimate < fit.ci[1]
    # the naive c = 0 log-log exponent (theory-anchors: 2.47 at full size) is biased: its CI excludes 2
    naive = log_growth_exponent(steps, d, method="loglog", n_boot=200)
    assert naive.ci[0] > 2.1, naive


def test_fits_recover_exact_laws():
    t = np.unique(np.round(np.geomspace(4, 1e7, 40)))
    for beta, a, c in ((2.0, 0.9, 2.0), (1.0, 3.0, 1.0), (4.0 / 3.0, 1.5, 0.5)):
        m = (a * (np.log(t) - c)) ** beta
        f = log_growth_exponent(t, m, window=(50, None))
        assert f.estimate == pytest.approx(beta, rel=1e-4) and f.params["c"] == pytest.approx(c, abs=1e-3)
        s = log_growth_slope(t, m, beta=beta, window=(50, None))
        assert s.estimate == pytest.approx(a, rel=1e-9) and s.r2 == pytest.approx(1.0)
    # the naive fit is biased upward for c > 0 (here 2 -> > 2.3)
    assert log_growth_exponent(t, (0.9 * (np.log(t) - 2.0)) ** 2, method="loglog").estimate > 2.3


def test_bootstrap_ci_covers_and_is_deterministic():
    rng = np.random.default_rng(0)
    t = default_save_steps(1 << 20)
    d = (0.9 * (np.log(np.maximum(t, 2)) - 2.0)).clip(0)[:, None] ** 2 * rng.exponential(size=(1, 500))
    f1 = log_growth_slope(t, d, beta=2.0, seed=7)
    f2 = log_growth_slope(t, d, beta=2.0, seed=7)
    assert f1 == f2 and f1.ci[0] < f1.estimate < f1.ci[1] and f1.se > 0
    assert f1.to_dict()["quantity"] == "slope" and "slope" in str(f1)


def test_fit_at_search_bound_is_flagged_and_failed_replicates_are_counted():
    """A β = 4 law fitted with beta_bounds=(1, 3) stops at the bound 3: flagged, not reported as
    a fit. Half the walkers at distance 0: a replicate that draws only those has a zero mean and
    its fit fails — counted (P = (1/2)^4 per replicate with 4 walkers), not dropped silently."""
    from sgd_sde.diffusion import first_passage_exponent

    t = np.unique(np.round(np.geomspace(4, 1e7, 40)))
    m = (0.9 * (np.log(t) - 2.0)) ** 4
    free = log_growth_exponent(t, m, window=(50, None))
    assert not free.at_bound and not free.flagged and free.estimate == pytest.approx(4.0, rel=1e-3)
    capped = log_growth_exponent(t, np.stack([m, 1.01 * m], 1), window=(50, None), beta_bounds=(1.0, 3.0))
    assert capped.estimate == pytest.approx(3.0, rel=1e-4)  # the upper bound, not the law's 4
    assert capped.at_bound and capped.flagged and capped.n_boot_at_bound == capped.n_boot == 400
    assert "AT SEARCH BOUND" in str(capped) and capped.to_dict()["at_bound"] is True
    L = np.geomspace(10, 1e4, 20)
    lt = 3.0 + (L / 2.0) ** 0.25  # β = 4
    fp = first_passage_exponent(L, np.stack([lt, lt + 0.01], 1), beta_bounds=(0.05, 2.0))
    assert fp.at_bound and fp.flagged
    d = np.concatenate([np.repeat(m[:, None], 2, 1), np.zeros((t.size, 2))], axis=1)
    f = log_growth_exponent(t, d, window=(50, None), n_boot=400, seed=1)
    # each replicate is all-zero with probability (2/4)^4 = 1/16: about 25 of 400 (SD 4.8)
    assert 10 <= f.n_boot_failed <= 40 and f.n_boot == 400 and f.flagged
    assert np.isfinite(f.ci).all() and "bootstrap fits failed" in str(f)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: sinai_walk(jax.random.key(0), 0, 10), "n_walkers"),
        (lambda: sinai_walk(jax.random.key(0), -3, 10), "n_walkers"),
        (lambda: sinai_walk(jax.random.key(0), 2, 0), "n_steps"),
        (lambda: sinai_walk(jax.random.key(0), 2, 10, sigma=-1.0), "sigma"),
        (lambda: sinai_walk(jax.random.key(0), 2, 10, save_at=[11]), "save_at"),
        (lambda: log_growth_slope([1, 2, 4, 8], np.ones((4, 3)), window=(3, 5)), "window"),
        (lambda: log_growth_exponent([1, 2, 4, 8, 16], np.ones((5, 3)), window=(2, 4)), "window"),
        (lambda: log_growth_exponent([2, 4, 8], np.ones((4, 3))), "distances"),
        (lambda: log_growth_slope([2, 4, 8], -np.ones((3, 3))), "distances"),
        (lambda: log_growth_slope([2, 4, 8], np.ones((3, 3)), beta=0.0), "beta"),
        (lambda: log_growth_exponent([2, 4, 8], np.ones((3, 3)), method="ols"), "method"),
        (lambda: log_growth_slope([2, 4, 8], np.ones((3, 3)), confidence=1.0), "confidence"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_bad_key_is_a_type_error():
    with pytest.raises(TypeError, match="key"):
        sinai_walk(0, 2, 10)
