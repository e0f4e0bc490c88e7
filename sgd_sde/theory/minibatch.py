r"""Covariance of a minibatch mean, with and without replacement.

For per-example gradients :math:`g_1,\dots,g_N` with mean :math:`\bar g` and covariance
:math:`\Sigma = \frac1N\sum_i(g_i-\bar g)(g_i-\bar g)^T`, the mean of a batch of ``B`` examples has

.. math::
    \mathrm{Cov} = \Sigma/B \;\text{(with replacement)}, \qquad
    \mathrm{Cov} = \frac{N-B}{B(N-1)}\,\Sigma \;\text{(without)}.

Derivation (without replacement): the inclusion indicators :math:`z_i` of a uniform ``B``-subset
have :math:`\mathrm{Var}\,z_i = p(1-p)`, :math:`\mathrm{Cov}(z_i,z_j) = -p(1-p)/(N-1)` with
:math:`p = B/N`; with centred :math:`c_i` (:math:`\sum_i c_i = 0`) the covariance of
:math:`\frac1B\sum_i z_ic_i` is :math:`\frac{N}{B^2}p(1-p)\frac{N}{N-1}\Sigma`. Lemma 2 of the
fine-tuned-noise seed, :math:`\mathbb E[x^TAx] = \mathrm{tr}(A\Sigma) + \mu^TA\mu`, then gives
:math:`\mathbb E|G_B|^2 = |G|^2 + \mathrm{tr}\,\mathrm{Cov}`.

References:
    Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
    converges to limit cycles for deep networks", Lemma 1 (eq. 5–6).
    Golmant 2018, "Fine-tuned Noise" (seed 04), Lemma 2.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from itertools import combinations

import numpy as np

from ._check import Check, exact, identity
from ._numeric import compiled, flag

__all__ = ["minibatch_covariance", "batch_variance_factor"]

_SOURCE = "Chaudhari & Soatto 2018"

_ARGS = {"factor_without": ("N", "B"), "factor_with": ("N", "B")}


@functools.cache
def _symbolic() -> dict:
    import sympy as sp

    N, B = sp.symbols("N B", positive=True)
    p = B / N
    var_z = p * (1 - p)
    cov_z = -B * (N - B) / (N**2 * (N - 1))  # E z_i z_j - p² with E z_i z_j = B(B-1)/(N(N-1))
    # Cov(mean) = (1/B²)[Var z Σc c + Cov z Σ_{i≠j} c_i c_jᵀ] and Σ_{i≠j} c_i c_jᵀ = -Σ c_i c_iᵀ = -NΣ
    without = sp.simplify(N / B**2 * (var_z - cov_z))
    return {"symbols": {"N": N, "B": B}, "factor_without": without, "factor_with": 1 / B + 0 * N,
            "var_z": var_z, "cov_z": cov_z}


def batch_variance_factor(batch_size, n_examples, replace: bool) -> float:
    """The factor ``κ`` with ``Cov(minibatch mean) = κ Σ``: ``1/B`` or ``(N-B)/(B(N-1))``.

    Args:
        batch_size: ``B ≥ 1`` (``≤ N`` without replacement).
        n_examples: ``N ≥ 1``.
        replace: sampling with replacement.

    Returns:
        ``κ`` (float; 0 for ``B = N`` without replacement).

    Raises:
        ValueError: ``B < 1``, ``N < 1``, or ``B > N`` without replacement.

    Examples:
        >>> batch_variance_factor(5, 20, replace=False)
        0.15789473684210525

    References:
        Chaudhari & Soatto 2018, Lemma 1.
    """
    from .. import _validate as V

    B = V.positive_int("batch_size", batch_size)
    N = V.positive_int("n_examples", n_examples)
    replace = flag("replace", replace)
    if not replace and B > N:
        raise ValueError(f"batch_size must be <= n_examples={N} without replacement, got batch_size={B}")
    if not replace and N == 1:
        return 0.0
    return float(compiled("minibatch", "factor_with" if replace else "factor_without")(float(N), float(B)))


def minibatch_covariance(per_example_grads, batch_size, replace: bool) -> np.ndarray:
    r"""Covariance of the mean of a uniformly drawn minibatch of per-example gradients.

    Args:
        per_example_grads: ``(N, d)`` array (``(N,)`` is treated as ``d = 1``).
        batch_size: ``B ≥ 1``; ``B ≤ N`` when ``replace=False``.
        replace: draw with replacement (``Σ/B``) or without (``(N-B)/(B(N-1)) Σ``).

    Returns:
        ``(d, d)`` float64 covariance.

    Raises:
        ValueError: wrong shape, non-finite entries, ``B < 1``, or ``B > N`` without replacement.
        TypeError: ``replace`` not a ``bool``.

    Examples:
        >>> import numpy as np
        >>> g = np.array([[1.0], [-1.0], [3.0], [-3.0]])   # Σ = 5
        >>> minibatch_covariance(g, 2, replace=True), minibatch_covariance(g, 2, replace=False)
        (array([[2.5]]), array([[1.66666667]]))

    References:
        Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
        converges to limit cycles for deep networks", Lemma 1.
    """
    from .. import _validate as V

    replace = flag("replace", replace)
    g = V.finite_array("per_example_grads", per_example_grads, ndim=(1, 2)).astype(np.float64)
    if g.ndim == 1:
        g = g[:, None]
    if g.shape[0] < 1:
        raise ValueError("per_example_grads must hold at least one example (shape (N, d), N >= 1)")
    kappa = batch_variance_factor(batch_size, g.shape[0], replace)
    c = g - g.mean(axis=0)
    return kappa * (c.T @ c) / g.shape[0]


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------


def _checks() -> list[Check]:
    import sympy as sp

    e = _symbolic()
    N, B = e["symbols"]["N"], e["symbols"]["B"]
    out = [identity("minibatch.without_replacement", e["factor_without"], (N - B) / (B * (N - 1)),
                    "indicator moments ⇒ Cov(mean) = (N-B)/(B(N-1)) Σ", _SOURCE)]
    # the indicator moments themselves, by enumerating all 3-subsets of 6 examples
    subsets = list(combinations(range(6), 3))
    p0 = Fraction(sum(1 for s in subsets if 0 in s), len(subsets))
    var0 = p0 * (1 - p0)
    cov01 = Fraction(sum(1 for s in subsets if 0 in s and 1 in s), len(subsets)) - p0 * p0
    ok = var0 == e["var_z"].subs({N: 6, B: 3}) and cov01 == e["cov_z"].subs({N: 6, B: 3})
    out.append(exact("minibatch.indicator_moments", ok,
                     f"all 20 subsets of 3 from 6: Var z_i = {var0}, Cov(z_i, z_j) = {cov01} as used", _SOURCE))
    # exact enumeration with rationals: N = 7 integer vectors in Z², B = 3 (35 batches)
    rng = np.random.default_rng(3)
    pts = [tuple(int(v) for v in row) for row in rng.integers(-5, 6, size=(7, 2))]
    n, b = len(pts), 3
    mean = [Fraction(sum(p[k] for p in pts), n) for k in range(2)]
    sigma = [[sum((p[i] - mean[i]) * (p[j] - mean[j]) for p in pts) / n for j in range(2)] for i in range(2)]
    batches = list(combinations(range(n), b))
    means = [[Fraction(sum(pts[i][k] for i in bt), b) for k in range(2)] for bt in batches]
    cov = [[sum((m[i] - mean[i]) * (m[j] - mean[j]) for m in means) / len(batches) for j in range(2)] for i in range(2)]
    kappa = Fraction(n - b, b * (n - 1))
    out.append(exact("minibatch.enumeration_exact", all(cov[i][j] == kappa * sigma[i][j] for i in range(2) for j in range(2)),
                     f"Fractions, all {len(batches)} batches of 3 from 7 points in Z²: Cov == (N-B)/(B(N-1)) Σ exactly",
                     _SOURCE))
    # with replacement: B i.i.d. uniform draws, exact over all N^B ordered tuples (N = 4, B = 3)
    pts1 = [Fraction(v) for v in (-3, 0, 1, 5)]
    m1 = sum(pts1) / 4
    s1 = sum((p - m1) ** 2 for p in pts1) / 4
    tuples = [(a, b_, c) for a in pts1 for b_ in pts1 for c in pts1]
    var = sum((sum(tp) / 3 - m1) ** 2 for tp in tuples) / len(tuples)
    out.append(exact("minibatch.with_replacement_exact", var == s1 / 3,
                     "Fractions, all 4³ ordered draws: Var(mean) == Σ/B exactly", _SOURCE))
    # Lemma 2: E[xᵀAx] = tr(AΣ) + μᵀAμ, x = μ + Lz with E z = 0, E zzᵀ = I (d = 3, symbolic A, μ, L)
    d = 3
    A = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"a{i}{j}"))
    mu = sp.Matrix(sp.symbols("mu0:3"))
    Lm = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"l{i}{j}") if j <= i else 0)
    z = sp.Matrix(sp.symbols("z0:3"))
    quad = sp.expand(((mu + Lm * z).T * A * (mu + Lm * z))[0])
    # expectation: drop odd z terms, z_i z_j → δ_ij
    poly = sp.Poly(quad, *z)
    expect = sum(coef * (1 if all(k == 0 for k in mon) else
                         (1 if sorted(mon) == [0, 0, 2] else 0))
                 for mon, coef in poly.terms())
    rhs = (A * Lm * Lm.T).trace() + (mu.T * A * mu)[0]
    out.append(identity("minibatch.lemma2", expect, rhs, "E[xᵀAx] = tr(AΣ) + μᵀAμ (d = 3, Σ = LLᵀ symbolic)",
                        "Golmant 2018 (seed 04)"))
    return out
