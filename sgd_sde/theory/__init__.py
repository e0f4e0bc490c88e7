"""SymPy derivations of the published SGD-as-SDE claims, verified symbolically, exported as numbers.

Every formula is a SymPy expression in its topic module and every numeric function is generated
from it (``sympy.lambdify`` to NumPy) or transcribed and checked against it; :func:`verify` re-runs
each derivation (SymPy simplification or exact rational arithmetic) and ``sgd-sde theory`` prints
the table. SymPy is imported on first use, never at import time.

Conventions: mean loss :math:`L = \\frac1N\\sum_i\\ell_i`; per-example gradient covariance
:math:`\\Sigma` normalised by :math:`1/N`; SGD :math:`\\theta \\leftarrow \\theta - \\eta\\,\\hat g_B`
with :math:`\\hat g_B` the minibatch mean gradient. Smith & Le's noise scale ``g``
(:func:`temperature`) is quoted in their summed-loss convention (see its docstring).

Topics: :mod:`.mccandlish` (optimal step, noise scale, critical batch), :mod:`.gibbs`
(Gibbs/Fokker–Planck, Smith & Le, McAllester, Adam, Hoffer), :mod:`.lyapunov` (stationary
covariance, Mandt et al.), :mod:`.robbins_monro`, :mod:`.minibatch` (Chaudhari & Soatto),
:mod:`.stability` (Wu, Ma & E; Zhu et al.), :mod:`.escape` (Kramers, first passage, Xie et al.),
:mod:`.svag` (Li, Malladi & Arora).
"""

from .escape import hessian_shaped_diffusion, kramers_time, mean_first_passage_time_1d, xie_log_tau_slope
from .lyapunov import discrete_lyapunov, least_squares_noise_covariance, mandt_optimal_lr, stationary_covariance
from .mccandlish import (
    b_noise,
    b_simple,
    delta_l_max,
    delta_l_opt,
    eps_max,
    eps_opt,
    expected_loss_after_step,
    steps_and_examples,
    two_batch_estimators,
)
from .minibatch import batch_variance_factor, minibatch_covariance
from .robbins_monro import RobbinsMonroResult, quadratic_second_moment, robbins_monro
from .stability import (
    mean_square_factor,
    mean_square_threshold,
    ou_expected_loss,
    sharpness_nonuniformity,
    zhu_escape_indicator,
)
from .svag import svag_coefficients
from .gibbs import isotropic_temperature, probability_current, scaled_lr, temperature
from .verify import Check, main_theory, verify

__all__ = [
    # McCandlish et al. 2018
    "expected_loss_after_step",
    "eps_max",
    "delta_l_max",
    "eps_opt",
    "delta_l_opt",
    "b_noise",
    "b_simple",
    "steps_and_examples",
    "two_batch_estimators",
    # temperature
    "temperature",
    "isotropic_temperature",
    "probability_current",
    "scaled_lr",
    # Lyapunov / Mandt et al. 2017
    "stationary_covariance",
    "least_squares_noise_covariance",
    "discrete_lyapunov",
    "mandt_optimal_lr",
    # Robbins–Monro
    "robbins_monro",
    "RobbinsMonroResult",
    "quadratic_second_moment",
    # minibatch noise
    "minibatch_covariance",
    "batch_variance_factor",
    # stability / escape
    "mean_square_factor",
    "mean_square_threshold",
    "sharpness_nonuniformity",
    "zhu_escape_indicator",
    "ou_expected_loss",
    "kramers_time",
    "mean_first_passage_time_1d",
    "hessian_shaped_diffusion",
    "xie_log_tau_slope",
    "svag_coefficients",
    # checks
    "Check",
    "verify",
    "main_theory",
]
