"""Hoffer, Hubara & Soudry 2017 on a synthetic separable random potential (quick size)."""

import math

import jax
import numpy as np
import pytest

from sgd_sde.diffusion import HofferResult, hoffer_experiment, log_growth_slope


@pytest.fixture(scope="module")
def result():
    # 32 particles x 8 coordinates, 2^14 updates, B in {32, 512}: ~6 s. 32 particles give a paired bootstrap SE of
    # the log-spread difference ~0.1 (it scales like 1/sqrt(particles); 16 gave 0.13-0.17).
    return hoffer_experiment(jax.random.key(0), batch_sizes=(32, 512), rules=("fixed", "sqrt"), dim=8,
                             n_particles=32, n_steps=1 << 14, n_grid=4097)


def _half_window_slopes(steps, distances, lo, n_boot=400, seed=0):
    """Least-squares slopes of the walker-mean distance against log t on the two halves (in log t) of
    ``[lo, steps[-1]]``, and their difference for ``n_boot`` walker resamples (paired: both halves
    from the same resample)."""
    t = np.asarray(steps, np.float64)
    keep = t >= lo
    x, d = np.log(t[keep]), np.asarray(distances, np.float64)[keep]
    mid = 0.5 * (x[0] + x[-1])
    halves = [x <= mid, x >= mid]

    def slopes(curve):
        return [np.polyfit(x[h], curve[h], 1)[0] for h in halves]

    rng = np.random.default_rng(seed)
    boots = np.array([np.subtract(*slopes(d[:, rng.integers(0, d.shape[1], d.shape[1])].mean(axis=1)))
                      for _ in range(n_boot)])
    return slopes(d.mean(axis=1)), boots


def test_distance_is_linear_in_log_t_under_the_sqrt_rule(result):
    # alpha = 1.8 (2/alpha = 1.11): E||w_t - w_0|| against log t over the late window [2^10, 2^14], after the
    # initial slide into the first valley (the full-size run, 2^16 updates, uses [2^8, 2^16]; papers/hoffer-2017.md).
    # Growth: the slope's bootstrap interval lies above 0. Linearity: the slopes on the two halves of the window
    # (in log t) agree within 4 SE of their paired bootstrap difference (two-sided false alarm 6e-5 per batch
    # size if the curve is linear in log t). At this size (32 walkers, a factor 16 in t) the check has power against
    # a curve that stops growing — mutation tried: each walker's distance frozen from t = 2^12 on gives 8.3 SE at
    # B = 32 and fails — but not against a gentle power law: t^0.3 with the same noise differs by 0.8 SE. That
    # alternative is decided by the full-size run's exponent (papers/hoffer-2017.md, generated table).
    # (An R² > 0.95 threshold used here before failed for 1 of keys 0-7 with jax.random.normal's stream and 2 with
    # the engine's — R² 0.81-0.999 over keys — so it measured the key, not the claim.)
    i = result.rules.index("sqrt")
    for j in range(len(result.batch_sizes)):
        fit = log_growth_slope(result.steps, result.distances[i, j], beta=1.0, window=(1 << 10, None), n_boot=100)
        assert fit.ci[0] > 0, fit
        (s1, s2), boots = _half_window_slopes(result.steps, result.distances[i, j], 1 << 10)
        se = float(np.std(boots, ddof=1))
        assert abs(s1 - s2) < 4 * se, (result.batch_sizes[j], s1, s2, se)


def test_sqrt_rule_shrinks_the_spread_of_slopes(result):
    # log spread = log(max slope / min slope) across B. The runs share particles, starts and noise draws, so the
    # difference between rules is paired: its SE is the spread of the jointly bootstrapped difference. 4 SE.
    spread = result.spread()
    diff = math.log(spread["fixed"]) - math.log(spread["sqrt"])
    boots = result.spread_bootstrap(n_boot=400)
    se = float(np.std(boots[:, result.rules.index("fixed")] - boots[:, result.rules.index("sqrt")], ddof=1))
    assert diff > 4 * se, (spread, diff, se)


def test_regime_adaptation_recovers_distance(result):
    """H3 (papers/hoffer-2017.md): at a fixed sample budget the largest batch gets K·B0/B updates and
    falls short; matching the number of updates (K) recovers distance, but under the sqrt rule only
    partly — the largest batch still ends short of the smallest batch's distance at K. Both are
    paired comparisons over the same particles (shared landscape, starts and noise), each mean
    difference > 3 of its SEs (measured: 5.1 and 6.8 SE at this size). Mutation tried: a
    regime_adaptation whose "matched_updates" is the budget distance (the old assertion compared
    that number with itself and passed) fails the first check."""
    ra = result.regime_adaptation()
    i = result.rules.index("sqrt")
    k, b0, b = int(result.steps[-1]), int(result.batch_sizes[0]), int(result.batch_sizes[-1])
    at = lambda step: int(np.argmin(np.abs(result.steps - step)))
    budget, matched = result.distances[i, -1, at(k * b0 // b)], result.distances[i, -1, at(k)]
    small = result.distances[i, 0, at(k)]  # the smallest batch at K updates (its budget is K)
    np.testing.assert_allclose([ra["fixed_epochs"][i, -1], ra["matched_updates"][i, -1], ra["fixed_epochs"][i, 0]],
                               [budget.mean(), matched.mean(), small.mean()], rtol=1e-6)
    se = lambda d: float(np.std(d, ddof=1) / np.sqrt(d.size))
    gain, shortfall = matched - budget, small - matched
    assert gain.mean() > 3 * se(gain), (gain.mean(), se(gain))
    assert shortfall.mean() > 3 * se(shortfall), (shortfall.mean(), se(shortfall))


def test_save_load_roundtrip(result, tmp_path):
    result.save(tmp_path / "hoffer")
    back = HofferResult.load(tmp_path / "hoffer")
    assert back.rules == result.rules and back.config == result.config
    np.testing.assert_array_equal(back.distances, result.distances)
    assert back == result and back.provenance["code"].startswith("sha256:")  # equality, provenance recorded
    assert result.config["diverged"] == "excluded"
    with pytest.raises(ValueError, match="HofferResult"):
        from sgd_sde.io import save_arrays

        save_arrays(tmp_path / "other", {"x": np.zeros(1)}, {"kind": "x"})
        HofferResult.load(tmp_path / "other")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(alpha=2.5), "alpha"),
        (dict(batch_sizes=(64,)), "batch_sizes"),
        (dict(batch_sizes=(64, 32)), "batch_sizes"),
        (dict(rules=("cubic",)), "rules"),
        (dict(lr0=-1.0), "lr0"),
        (dict(n_particles=0), "n_particles"),
    ],
)
def test_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        hoffer_experiment(jax.random.key(0), **{"quick": True, **kwargs})


def test_diverged_particles_are_excluded_from_every_mean(result):
    """A particle marked diverged (NaN distances, as hoffer_experiment stores it by default) is left
    out of the means, the regime-adaptation numbers and the paired bootstrap, not averaged in."""
    import dataclasses

    d = result.distances.copy()
    d[:, :, :, 0] = np.nan
    bad = dataclasses.replace(result, distances=d)
    np.testing.assert_allclose(bad.mean_distance(), result.distances[..., 1:].mean(-1), rtol=1e-12)
    np.testing.assert_allclose(bad.regime_adaptation()["matched_updates"], result.distances[:, :, -1, 1:].mean(-1),
                               rtol=1e-12)
    assert np.all(np.isfinite(bad.spread_bootstrap(n_boot=20)))
    assert bad != result
    with pytest.raises(ValueError, match="diverged"):
        hoffer_experiment(jax.random.key(0), diverged="drop")


def test_r2_bootstrap_is_the_r2_of_resampled_walkers(result):
    # identical walkers: every resample has the same mean curve, so every replicate equals the fit's R²
    # exactly (the r2 field comes from log_growth_slope, a separate implementation of the same OLS)
    import dataclasses

    same = dataclasses.replace(result, distances=np.repeat(result.distances[..., :1], result.distances.shape[-1], -1))
    one = [[log_growth_slope(same.steps, same.distances[i, j], beta=1.0, window=tuple(same.window), n_boot=2).r2
            for j in range(len(same.batch_sizes))] for i in range(len(same.rules))]
    np.testing.assert_allclose(same.r2_bootstrap(n_boot=5), np.broadcast_to(one, (5, *np.shape(one))), rtol=1e-9)
    # distinct walkers: the replicates scatter around the fit's R² (median within the replicates' range)
    boots = result.r2_bootstrap(n_boot=200)
    assert boots.shape == (200, len(result.rules), len(result.batch_sizes))
    assert ((boots > 0) & (boots <= 1)).all()
    lo, hi = np.percentile(boots, [1, 99], axis=0)
    assert ((lo <= result.r2) & (result.r2 <= hi)).all()
