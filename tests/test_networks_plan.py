"""The training plan's minibatches follow their definition: epoch e is permutation(fold_in(key, e), N),
cut into consecutive slices; a batch that does not fit starts the next epoch."""

import jax
import numpy as np
import pytest

from sgd_sde.networks._plan import Plan


@pytest.mark.parametrize("n, batch, steps", [(100, 7, 60), (64, 64, 5), (50, 16, 40)])
def test_plan_indices_follow_the_per_epoch_permutations(n, batch, steps):
    key = jax.random.key(11)
    plan = Plan(key, n, np.full(steps, batch))
    per_epoch = n // batch
    want = []
    for k in range(steps):  # the definition, one permutation call per epoch
        e, slot = divmod(k, per_epoch)
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, e), n))
        want.append(perm[slot * batch:(slot + 1) * batch])
    want = np.asarray(want, np.int32)
    np.testing.assert_array_equal(plan.indices(0, steps), want)  # integer draws: exact
    np.testing.assert_array_equal(plan.indices(3, steps - 2), want[3:steps - 2])  # any window of steps
    assert plan.indices(0, steps).dtype == np.int32
