"""Mean-square stability at an interpolating minimum (Wu, Ma & E 2018) and Zhu et al. 2019's escape
indicator, against enumeration, SymPy and numpy simulation."""

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory import stability

H_CAL = np.array([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9])


def test_calibration_numbers():
    a, s = theory.sharpness_nonuniformity(H_CAL)
    assert a == 3.0 and s == pytest.approx(2.5397, abs=5e-5)
    assert theory.mean_square_factor(0.1, H_CAL, 2) == pytest.approx(0.51867, abs=5e-6)
    assert theory.mean_square_factor(0.2, H_CAL, 2) == pytest.approx(0.27467, abs=5e-6)
    assert theory.mean_square_threshold(H_CAL, 2) == pytest.approx(0.50562, abs=5e-6)
    assert 2 / a == pytest.approx(0.6667, abs=5e-5)
    assert theory.mean_square_factor(0.55, H_CAL, 2) == pytest.approx(1.290, abs=5e-4)  # SGD diverges …
    assert (1 - 0.55 * a) ** 2 < 1  # … while GD converges
    assert theory.mean_square_factor(theory.mean_square_threshold(H_CAL, 2), H_CAL, 2) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("eta", [0.1, 0.2, 0.55])
def test_enumerating_all_45_batches_matches_the_1d_formula(eta):
    idx = np.array(list(combinations(range(10), 2)))
    enum = np.mean((1 - eta * H_CAL[idx].mean(axis=1)) ** 2)
    assert abs(theory.mean_square_factor(eta, H_CAL, 2) - enum) < 1e-15


def test_dd_operator_matches_enumeration_and_1d_case():
    rng = np.random.default_rng(5)
    n, d, B, eta = 6, 3, 2, 0.15
    a = rng.normal(size=(n, d, d))
    Hs = np.einsum("nij,nkj->nik", a, a) / d  # PSD per-example Hessians
    idx = np.array(list(combinations(range(n), B)))
    steps = np.eye(d) - eta * Hs[idx].mean(axis=1)
    op = np.mean([np.kron(S, S) for S in steps], axis=0)  # E (I − ηĤ)⊗(I − ηĤ), all 15 batches
    rho = np.max(np.abs(np.linalg.eigvals(op)))
    assert theory.mean_square_factor(eta, Hs, B) == pytest.approx(rho, rel=1e-12)
    # d = 1 matrices reproduce the scalar formula
    assert theory.mean_square_factor(0.1, H_CAL[:, None, None], 2) == pytest.approx(
        theory.mean_square_factor(0.1, H_CAL, 2), rel=1e-13)


@given(eta=st.floats(0.01, 1.0), B=st.integers(1, 10), replace=st.booleans())
def test_factor_matches_sympy_source(eta, B, replace):
    e = stability._symbolic()
    s = e["symbols"]
    a, sd = theory.sharpness_nonuniformity(H_CAL)
    kappa = 1 / B if replace else (10 - B) / (B * 9)
    ref = float(e["factor_1d"].evalf(subs={s["lr"]: eta, s["a"]: a, s["s2"]: sd**2, s["kappa"]: kappa}))
    assert theory.mean_square_factor(eta, H_CAL, B, replace=replace) == pytest.approx(ref, rel=1e-12)


def test_simulated_sgd_second_moment_follows_the_factor():
    # 1-D linearised SGD at the interpolating minimum, 200k particles from x0 = 1, a uniform batch of
    # 2 of the 10 examples (without replacement) per particle and step. E x_t² = factor^t exactly.
    # x_t² is a product of i.i.d. factors, so Var(x_t²) = m4^t − m2^{2t} with m_k = E(1 − ηĥ)^k
    # known exactly by enumerating the 45 batches: the SE sqrt(Var/P) is exact, not estimated
    # (a sample std would under-state it for this skewed product). Accept within 4 SE.
    rng = np.random.default_rng(2018)
    P, t_steps = 200_000, 5
    idx = np.array(list(combinations(range(10), 2)))
    for eta in (0.45, 0.55):  # below and above the SGD threshold 0.50562
        f = 1 - eta * H_CAL[idx].mean(axis=1)
        m2, m4 = np.mean(f**2), np.mean(f**4)
        x = np.ones(P)
        for _ in range(t_steps):
            u = rng.random((P, 10)).argsort(axis=1)[:, :2]
            x = (1 - eta * H_CAL[u].mean(axis=1)) * x
        se = np.sqrt((m4**t_steps - m2 ** (2 * t_steps)) / P)
        assert abs(np.mean(x**2) - theory.mean_square_factor(eta, H_CAL, 2) ** t_steps) < 4 * se, (eta, np.mean(x**2), se)
    assert theory.mean_square_factor(0.55, H_CAL, 2) ** t_steps > 3  # grows although GD contracts


def test_zhu_indicator_values():
    H = np.diag([100.0] + [1.0] * 9)
    v_h = theory.zhu_escape_indicator(H, H / np.trace(H))
    v_top = theory.zhu_escape_indicator(H, np.diag([1.0] + [0.0] * 9))
    v_iso = theory.zhu_escape_indicator(H, np.eye(10) / 10)
    assert (round(v_h, 2), v_top, round(v_iso, 2)) == (91.83, 100.0, 10.9)
    assert v_h / v_iso == pytest.approx(10 * np.trace(H @ H) / np.trace(H) ** 2)


def test_ou_expected_loss_against_sympy_and_exact_ou_simulation():
    e = stability._symbolic()
    s = e["symbols"]
    for lam, sig, t in ((100.0, 0.3, 0.01), (1.0, 2.0, 0.5), (1e-6, 1.0, 2.0)):
        ref = float(e["ou_loss"].evalf(subs={s["lam"]: lam, s["sigma2"]: sig, s["t"]: t}))
        assert theory.ou_expected_loss(t, np.array([[lam]]), np.array([[sig]])) == pytest.approx(ref, rel=1e-9)
    # Zhu setting: H = diag(100, 1, …), Σ ∝ H with tr Σ = 1; exact OU transition per direction
    # (no discretisation error), 10⁴ paths; E L_t estimate within 4 SE.
    rng = np.random.default_rng(19)
    lam = np.array([100.0] + [1.0] * 9)
    Sig = np.diag(lam / lam.sum())
    t = 0.02
    var = np.diag(Sig) * (-np.expm1(-2 * lam * t)) / (2 * lam)
    theta = rng.normal(size=(10_000, 10)) * np.sqrt(var)
    L = 0.5 * (theta**2 * lam).sum(axis=1)
    assert abs(L.mean() - theory.ou_expected_loss(t, np.diag(lam), Sig)) < 4 * L.std() / np.sqrt(L.size)
    # the initial slope is ½ tr(HΣ)
    slope = theory.ou_expected_loss(1e-7, np.diag(lam), Sig) / 1e-7
    assert slope == pytest.approx(0.5 * np.trace(np.diag(lam) @ Sig), rel=1e-4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.mean_square_factor(0.1, H_CAL, 11), "batch_size must be <= n_examples"),
        (lambda: theory.mean_square_factor(0.1, H_CAL, 0), "batch_size must be a positive integer"),
        (lambda: theory.mean_square_factor(0.0, H_CAL, 2), "lr must be > 0"),
        (lambda: theory.mean_square_factor(0.1, np.ones((3, 2, 3)), 2), "shape \\(N,\\) or \\(N, d, d\\)"),
        (lambda: theory.mean_square_threshold(np.ones((3, 2, 2)), 2), "shape \\(N,\\)"),
        (lambda: theory.zhu_escape_indicator(-np.eye(2), np.eye(2)), "H must be positive semi-definite"),
        (lambda: theory.ou_expected_loss(-1.0, np.eye(2), np.eye(2)), "t must be >= 0"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
