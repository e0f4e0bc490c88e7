"""Bad input to :class:`~sgd_sde.networks.MLP`, :class:`~sgd_sde.networks.CNN` and
:func:`~sgd_sde.networks.train` (issue 13 §5, found by ``tests/fuzz_report.py``): shapes that are
not integers or flat integer sequences, counts past int32 and architectures whose parameter draw
cannot exist are refused with an error naming the argument, before any weight is drawn.
"""

import equinox as eqx
import jax
import numpy as np
import pytest

from sgd_sde import _validate as V
from sgd_sde.networks import CNN, MLP, load_dataset, train

KEY = jax.random.key(0)

NOT_SIZES = {"None": None, "str": "abc", "bytes": b"\x00", "object": object(), "dict": {"a": 1}, "set": {4, 8},
             "complex": 1 + 1j, "2.5": 2.5, "nan": np.float32(np.nan), "huge-entries": np.full(2, 1e300),
             "fractional-entries": np.array([1.5, 2.0]), "2-d": np.ones((2, 2)), "complex-array": np.ones(2) * (1 + 1j),
             "list-strings": ["a"], "ragged": [[1], [1, 2]], "negative-entry": [4, -1], "2**31": 2**31, "2**63": 2**63}


@pytest.mark.parametrize("bad", list(NOT_SIZES.values()), ids=list(NOT_SIZES))
@pytest.mark.parametrize("arg", ["in_shape", "widths"])
def test_mlp_refuses_a_size_that_is_not_a_positive_int32_or_a_flat_sequence_of_them(arg, bad):
    kwargs = dict(in_shape=(4,), n_classes=2, widths=(8,))
    kwargs[arg] = bad
    with pytest.raises((TypeError, ValueError), match=arg):
        MLP(**kwargs, key=KEY)


@pytest.mark.parametrize("bad", [None, 2.5, 1 + 1j, "3", 0, 2**31, 2**63])
def test_mlp_refuses_n_classes(bad):
    with pytest.raises((TypeError, ValueError), match="n_classes"):
        MLP((4,), bad, (8,), key=KEY)


def test_mlp_refuses_a_parameter_draw_past_int32():
    # 9 x (2**31 - 1) parameters in one float32 uniform draw: past the int32 shape range (the
    # report's worker died with exit -6 on n_classes = 2**31)
    with pytest.raises(ValueError, match="n_classes.*parameters"):
        MLP((4,), V.MAX_COUNT, (8,), key=KEY)
    with pytest.raises(ValueError, match="widths.*parameters"):
        MLP((2**16,), 2, (2**16,), key=KEY)


def test_valid_shapes_keep_their_meaning():
    ref = MLP((1, 2, 2), 3, (8, 5), key=KEY)
    for in_shape, widths in [(4, [8, 5]), (np.int64(4), np.array([8, 5])), ([2, 2], (np.int32(8), 5.0)),
                             (np.ones(4, int) * [1, 1, 2, 2], jax.numpy.array([8, 5]))]:
        m = MLP(in_shape, 3, widths, key=KEY)
        assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool((a == b).all()),
                                                             eqx.filter(m, eqx.is_array), eqx.filter(ref, eqx.is_array)))
    assert len(MLP(4, 2, (), key=KEY).layers) == 1  # no hidden layer


@pytest.mark.parametrize("bad", [None, {1, 8, 9}, 8, (1, 8), "abc", (1, 8, 2**31)],
                         ids=["None", "set", "int", "2-tuple", "str", "2**31-entry"])
def test_cnn_refuses_in_shape(bad):
    with pytest.raises((TypeError, ValueError), match="in_shape"):
        CNN(bad, 10, key=KEY)


def test_cnn_refuses_channels_and_n_classes():
    with pytest.raises(TypeError, match="channels"):
        CNN((1, 8, 8), 10, {4, 8}, key=KEY)
    with pytest.raises(ValueError, match="n_classes"):
        CNN((1, 8, 8), 2**31, key=KEY)


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("teacher_student", n_train=8, n_test=4, d=3), MLP(3, 2, (4,), key=KEY)


@pytest.mark.parametrize("value", [2**31, 2**63])
def test_train_refuses_run_lengths_past_int32(tiny, value):
    data, model = tiny
    with pytest.raises(ValueError, match="n_steps"):
        train(KEY, model, data, n_steps=value, batch_schedule=4, progress=False)
    with pytest.raises(ValueError, match="n_epochs"):
        train(KEY, model, data, n_epochs=value, batch_schedule=4, progress=False)


def test_train_refuses_epochs_whose_steps_exceed_int32(tiny):
    data, model = tiny
    # 2**30 epochs of 8 examples in batches of 4: 2**31 steps, one past the int32 counter
    with pytest.raises(ValueError, match="n_epochs"):
        train(KEY, model, data, n_epochs=2**30, batch_schedule=4, progress=False)
