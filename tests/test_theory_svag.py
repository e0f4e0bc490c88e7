"""SVAG coefficients (Li, Malladi & Arora 2021): identities and a numpy check that SVAG keeps
SGD's noise per unit time."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory import svag


@given(l=st.floats(1, 1e6))
def test_identities_and_sympy_source(l):  # noqa: E741
    r1, r2 = theory.svag_coefficients(l)
    assert r1 + r2 == pytest.approx(1, abs=1e-9 * np.sqrt(l))
    assert r1**2 + r2**2 == pytest.approx(l, rel=1e-12)
    e = svag._symbolic()
    assert r1 == pytest.approx(float(e["r1"].evalf(subs={e["symbols"]["l"]: l})), rel=1e-12)


def test_svag_noise_per_unit_time_matches_sgd_monte_carlo():
    # One SVAG step of size η/l with r1 g1 + r2 g2 (independent batch gradients with variance σ²/B)
    # has variance (η/l)² l σ²/B; l steps cover time η like one SGD step of variance η² σ²/B.
    # 400k samples; the variance estimate's SE is var·sqrt(2/P) (Gaussian); 4 SE.
    rng = np.random.default_rng(21)
    eta, s2, B, l, P = 0.1, 2.0, 4, 8, 400_000
    r1, r2 = theory.svag_coefficients(l)
    xi = rng.normal(scale=np.sqrt(s2 / B), size=(P, l, 2))
    move = (eta / l * (r1 * xi[..., 0] + r2 * xi[..., 1])).sum(axis=1)  # l steps, gradient term only
    target = eta**2 * s2 / B
    assert abs(move.var() - target) < 4 * target * np.sqrt(2 / P)


@pytest.mark.parametrize("bad", [0.5, 0.0, -1.0])
def test_bad_l(bad):
    with pytest.raises(ValueError, match="l must be"):
        theory.svag_coefficients(bad)
