"""Hypothesis strategies for property-testing your own claims about SGD and its SDE.

Examples:
    >>> from hypothesis import given, settings
    >>> from sgd_sde.testing import spd_matrices
    >>> import numpy as np
    >>> @settings(max_examples=5, derandomize=True)
    ... @given(spd_matrices(dim=3))
    ... def check(h):
    ...     assert np.all(np.linalg.eigvalsh(h) > 0)
    >>> check()

Every strategy draws valid inputs for the library's constructors (so a property failing means the
*claim* failed, not the input), with sizes kept small enough for fast tests.
"""

from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as err:  # pragma: no cover - hypothesis is in the `test` extra
    raise ImportError("sgd_sde.testing needs hypothesis: pip install 'sgd_sde[test]'") from err

__all__ = [
    "spd_matrices",
    "psd_matrices",
    "quadratics",
    "linear_regressions",
    "learning_rates",
    "batch_sizes",
    "noise_models",
    "dynamics",
    "robbins_monro_powers",
]


@st.composite
def spd_matrices(draw, dim: int | None = None, max_dim: int = 6, min_eig: float = 1e-2, max_eig: float = 1e2):
    """Symmetric positive-definite ``(d, d)`` float64 matrices with eigenvalues in ``[min_eig, max_eig]``."""
    d = dim if dim is not None else draw(st.integers(1, max_dim))
    eig = draw(st.lists(st.floats(min_eig, max_eig), min_size=d, max_size=d))
    seed = draw(st.integers(0, 2**31 - 1))
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    h = (q * np.asarray(eig)) @ q.T
    return 0.5 * (h + h.T)


@st.composite
def psd_matrices(draw, dim: int | None = None, max_dim: int = 6, max_rank: int | None = None):
    """Symmetric positive semi-definite matrices ``F Fᵀ`` of rank ≤ ``max_rank``."""
    d = dim if dim is not None else draw(st.integers(1, max_dim))
    r = draw(st.integers(1, max_rank or d))
    seed = draw(st.integers(0, 2**31 - 1))
    f = np.random.default_rng(seed).normal(size=(d, r))
    return f @ f.T


@st.composite
def quadratics(draw, dim: int | None = None, max_dim: int = 6):
    """:class:`~sgd_sde.landscapes.Quadratic` landscapes with SPD Hessians and random minima."""
    from .landscapes import Quadratic

    h = draw(spd_matrices(dim=dim, max_dim=max_dim))
    m = draw(st.lists(st.floats(-5, 5), min_size=h.shape[0], max_size=h.shape[0]))
    return Quadratic(h, np.asarray(m))


@st.composite
def linear_regressions(draw, max_examples: int = 64, max_dim: int = 5):
    """:class:`~sgd_sde.landscapes.LinearRegression` on Gaussian data with ``N ≥ d``."""
    from .landscapes import LinearRegression

    d = draw(st.integers(1, max_dim))
    n = draw(st.integers(max(d, 2), max_examples))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return LinearRegression(X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n))


def learning_rates(max_lr: float = 1.0):
    """Positive learning rates, log-uniform-ish in ``[1e-4, max_lr]``."""
    return st.floats(-4, np.log10(max_lr)).map(lambda e: float(10.0**e))


def batch_sizes(max_batch: int = 256):
    """Batch sizes in ``[1, max_batch]``."""
    return st.integers(1, max_batch)


def _jax_float():
    """The float dtype JAX computes in now (float64 only with x64 on): the noise models' arrays are
    drawn in it, so that building them never triggers the float64-downcast warning."""
    import jax

    return np.float64 if jax.config.jax_enable_x64 else np.float32


@st.composite
def noise_models(draw, dim: int):
    """A Gaussian noise model of dimension ``dim`` (isotropic, diagonal, dense or low-rank), its arrays
    in the float dtype JAX computes in (float32 unless x64 is on)."""
    from . import noise as N

    kind = draw(st.sampled_from(["isotropic", "diagonal", "dense", "lowrank"]))
    if kind == "isotropic":
        return N.Isotropic(draw(st.floats(0.0, 10.0)))
    if kind == "diagonal":
        return N.Diagonal(draw(st.lists(st.floats(0.0, 10.0), min_size=dim, max_size=dim)))
    if kind == "dense":
        return N.Dense(draw(psd_matrices(dim=dim)).astype(_jax_float()))
    r = draw(st.integers(1, dim + 2))
    seed = draw(st.integers(0, 2**31 - 1))
    return N.LowRank(np.random.default_rng(seed).normal(size=(dim, r)).astype(_jax_float()))


@st.composite
def dynamics(draw, max_lr: float = 0.5):
    """One of SGD (with or without momentum), EulerMaruyama, SVAG with valid parameters."""
    from . import dynamics as D

    lr = draw(learning_rates(max_lr))
    b = draw(batch_sizes(64))
    kind = draw(st.sampled_from(["sgd", "momentum", "em", "svag"]))
    if kind == "sgd":
        return D.SGD(lr, b)
    if kind == "momentum":
        return D.SGD(lr, b, momentum=draw(st.floats(0.0, 0.99)))
    if kind == "em":
        return D.EulerMaruyama(lr, b, substeps=draw(st.integers(1, 8)))
    return D.SVAG(lr, b, l=draw(st.floats(1.0, 16.0)))


def robbins_monro_powers():
    """Exponents ``p`` of ``η_t = c/(t+t0)^p`` with the Robbins–Monro verdict: ``(p, holds)``."""
    return st.fractions(0, 3, max_denominator=8).map(lambda p: (p, bool(p > 0.5 and p <= 1)))
