"""Minibatch gradient covariance with and without replacement (Chaudhari & Soatto 2018, Lemma 1)
and Lemma 2 of the fine-tuned-noise seed, checked by exhaustive enumeration."""

from itertools import combinations, product

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory


def test_enumerating_all_15504_batches_matches_without_replacement_formula():
    rng = np.random.default_rng(20)
    g = rng.normal(size=(20, 3))
    idx = np.array(list(combinations(range(20), 5)))
    assert len(idx) == 15504
    means = g[idx].mean(axis=1)
    c = means - means.mean(axis=0)
    enum = c.T @ c / len(idx)
    np.testing.assert_allclose(theory.minibatch_covariance(g, 5, replace=False), enum, rtol=0, atol=1e-12)
    np.testing.assert_allclose(means.mean(axis=0), g.mean(axis=0), atol=1e-12)


def test_enumerating_all_ordered_draws_matches_with_replacement_formula():
    rng = np.random.default_rng(4)
    g = rng.normal(size=(6, 2))
    idx = np.array(list(product(range(6), repeat=3)))
    means = g[idx].mean(axis=1)
    c = means - means.mean(axis=0)
    np.testing.assert_allclose(theory.minibatch_covariance(g, 3, replace=True), c.T @ c / len(idx), atol=1e-13)


@given(N=st.integers(1, 500), frac=st.floats(0, 1))
def test_factor_matches_sympy_source_and_limits(N, frac):
    from sgd_sde.theory import minibatch

    B = max(1, int(round(frac * N)))
    e = minibatch._symbolic()
    s = e["symbols"]
    got = theory.batch_variance_factor(B, N, replace=False)
    if N > 1:
        assert got == pytest.approx(float(e["factor_without"].evalf(subs={s["N"]: N, s["B"]: B})), rel=1e-12, abs=1e-15)
    assert 0 <= got <= 1 / B + 1e-15
    if B == N:
        assert got == 0.0  # the full batch has no noise


def test_lemma2_expected_quadratic_form_monte_carlo():
    # E[xᵀAx] = tr(AΣ) + μᵀAμ; SE of the sample mean of xᵀAx from its sample std; 4 SE.
    rng = np.random.default_rng(2)
    A = np.array([[2.0, 0.5, 0], [0.5, 1.0, -0.3], [0, -0.3, 3.0]])
    mu = np.array([1.0, -2.0, 0.5])
    L = rng.normal(size=(3, 3))
    Sigma = L @ L.T
    x = mu + rng.normal(size=(200_000, 3)) @ L.T
    q = np.einsum("pi,ij,pj->p", x, A, x)
    assert abs(q.mean() - (np.trace(A @ Sigma) + mu @ A @ mu)) < 4 * q.std() / np.sqrt(q.size)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.minibatch_covariance(np.ones((4, 2)), 5, replace=False), "batch_size must be <= n_examples"),
        (lambda: theory.minibatch_covariance(np.ones((4, 2)), 0, replace=True), "batch_size must be a positive integer"),
        (lambda: theory.minibatch_covariance(np.ones((4, 2, 2)), 2, replace=True), "per_example_grads must have ndim"),
        (lambda: theory.minibatch_covariance(np.array([[np.nan]]), 1, replace=True), "finite"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
