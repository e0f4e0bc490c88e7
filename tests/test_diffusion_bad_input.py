"""Bad input to :mod:`sgd_sde.diffusion` (issue 13 §5, found by ``tests/fuzz_report.py``): counts
past the int32 range, sizes whose arrays cannot fit in any machine's memory and a run that left its
tile are refused with a ``ValueError`` naming the argument, before anything is allocated or traced.

The memory cases ask for terabytes (far above any test machine), so they are refused everywhere;
each returns in milliseconds because the check runs before the allocation it guards.
"""

import jax
import numpy as np
import pytest

from sgd_sde import _validate as V
from sgd_sde.diffusion import (default_save_steps, first_passage_experiment, log_growth_slope, potential_diffusion,
                               sinai_walk)

KEY = jax.random.key(0)
HUGE = [2**31, 2**63]  # past the int32 step counters / shapes (2**63 also past int64)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("arg", ["n_steps", "per_octave"])
def test_default_save_steps_refuses_counts_past_int32(arg, value):
    with pytest.raises(ValueError, match=arg):
        default_save_steps(**{"n_steps": 100, arg: value})


def test_default_save_steps_refuses_a_grid_that_cannot_fit():
    # 31 octaves x (2**31 - 1) points per octave x 17 bytes ~ 1 TiB
    with pytest.raises(ValueError, match="per_octave.*memory"):
        default_save_steps(V.MAX_COUNT, per_octave=V.MAX_COUNT)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("arg", ["n_walkers", "n_steps"])
def test_sinai_walk_refuses_counts_past_int32(arg, value):
    with pytest.raises(ValueError, match=arg):
        sinai_walk(KEY, **{"n_walkers": 4, "n_steps": 16, arg: value})


def test_sinai_walk_refuses_walkers_that_cannot_fit():
    # (2**31 - 1) walkers x (64 uniforms + ~35 save rows) x 4 bytes ~ 800 GiB
    with pytest.raises(ValueError, match="n_walkers.*memory"):
        sinai_walk(KEY, n_walkers=V.MAX_COUNT, n_steps=2**30)


def test_sinai_walk_empty_save_at_and_sigma_zero_stay_valid():
    steps, x = sinai_walk(KEY, 3, 8, save_at=[], sigma=0.0)
    assert steps.tolist() == [0, 8] and x.shape == (2, 3)


@pytest.mark.parametrize("arg", ["n_environments", "half_width", "n_distances"])
@pytest.mark.parametrize("value", HUGE)
def test_first_passage_experiment_refuses_counts_past_int32(arg, value):
    kwargs = dict(n_environments=2, half_width=16, n_distances=3, batch=2)
    kwargs[arg] = value
    with pytest.raises(ValueError, match=arg):
        first_passage_experiment(KEY, 1.0, **kwargs)


@pytest.mark.parametrize("arg, kwargs", [
    ("half_width", dict(half_width=(V.MAX_COUNT - 1) // 2, batch=2)),  # 2 paths of 2**31 nodes: 512 GiB
    ("n_distances", dict(n_distances=V.MAX_COUNT)),  # 24 bytes x 2**31 distances: 48 GiB (skipped where it fits)
    ("n_environments", dict(n_environments=V.MAX_COUNT, half_width=2**20, n_distances=2**20)),  # 16 PiB of log times
])
def test_first_passage_experiment_refuses_arrays_that_cannot_fit(arg, kwargs):
    base = dict(n_environments=2, half_width=16, n_distances=3, batch=2)
    if arg == "n_distances" and 24.0 * V.MAX_COUNT <= V._physical_memory():
        pytest.skip("this machine could hold 48 GiB of distances")
    with pytest.raises(ValueError, match=f"{arg}.*memory"):
        first_passage_experiment(KEY, 1.0, **{**base, **kwargs})


def _growth():
    steps = np.arange(1, 33)
    return steps, np.log(steps)[:, None] * np.ones((1, 64)) + 1.0


@pytest.mark.parametrize("value", HUGE)
def test_log_growth_slope_refuses_n_boot_past_int32(value):
    with pytest.raises(ValueError, match="n_boot"):
        log_growth_slope(*_growth(), n_boot=value)


def test_log_growth_slope_refuses_replicates_that_cannot_fit():
    # (2**31 - 1) replicates x (2 x 64 walkers + 27 points) x 8 bytes ~ 2.4 TiB
    with pytest.raises(ValueError, match="n_boot.*memory"):
        log_growth_slope(*_growth(), n_boot=V.MAX_COUNT)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("arg", ["n_particles", "n_steps", "n_grid"])
def test_potential_diffusion_refuses_counts_past_int32(arg, value):
    with pytest.raises(ValueError, match=arg):
        potential_diffusion(KEY, 1.0, **{"n_particles": 2, "n_steps": 16, "n_grid": 65, arg: value})


def test_potential_diffusion_refuses_tiles_that_cannot_fit():
    # (2**31 - 1) tiles x 66 nodes x 16 bytes ~ 2 TiB: refused before the first tile is drawn
    # (building them one by one was the report's timeout)
    with pytest.raises(ValueError, match="n_particles.*memory"):
        potential_diffusion(KEY, 1.0, n_particles=V.MAX_COUNT, n_steps=16, n_grid=65)


def test_potential_diffusion_names_the_arguments_when_a_particle_leaves_its_tile():
    # a tile of length 64 x 1e-3 is crossed in one Langevin step of size sqrt(2 x 0.5) = 1
    with pytest.raises(ValueError, match=r"n_grid.*spacing.*lr") as info:
        potential_diffusion(KEY, 1.0, n_particles=2, n_steps=16, n_grid=65, lr=0.5, spacing=1e-3)
    assert "sqrt(2·lr·temperature) = 1" in str(info.value)
