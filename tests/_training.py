"""A training run killed at a probe step, for the checkpoint/resume tests."""

import jax
import pytest

from sgd_sde.networks import train


class Killed(Exception):
    """Raised by the killing probe (stands for SIGKILL between two checkpoints)."""


def killed_at(model, data, ck, step, **kw):
    """Train with checkpoint ``ck`` until the probe at ``step`` raises; the last checkpoint is the one
    written before it."""

    def killer(model, state, data, s):
        if s == step:
            raise Killed
        return {}

    with pytest.raises(Killed):
        train(jax.random.key(1), model, data, checkpoint=ck, probes=[killer], **kw)
