"""Measurements on any per-example loss ``loss_fn(params, x, y)`` and PyTree params.

Gradient noise (exact per-example statistics, McCandlish's two-batch estimator), the Hessian
(top eigenvalues, trace, spectral density — all from Hessian-vector products), Keskar sharpness,
covariance/Fisher/Hessian alignment, loss-landscape slices, the tail index of gradient noise and
parameter-space distances. Each function cites the paper it implements.
"""

from .alignment import covariance_alignment
from .hessian import HessianEigs, SpectralDensity, TraceEstimate, hessian_spectral_density, hessian_top_eigs, hessian_trace, lanczos
from .landscape_slices import filter_normalized_direction, interpolate, loss_along_line, loss_on_plane
from .noise_scale import NoiseStats, ema_noise_scale, gradient_noise_stats, two_batch_estimates, two_batch_noise_scale
from .sharpness import Sharpness, keskar_sharpness
from .tail_index import gradient_noise_tail_index, largest_divisor_below_sqrt, tail_index, tail_index_per_coordinate
from .weights import distance_from_init, tree_sq_norm, weight_norm

__all__ = [
    "gradient_noise_stats",
    "NoiseStats",
    "two_batch_estimates",
    "two_batch_noise_scale",
    "ema_noise_scale",
    "hessian_top_eigs",
    "HessianEigs",
    "hessian_trace",
    "TraceEstimate",
    "hessian_spectral_density",
    "SpectralDensity",
    "lanczos",
    "keskar_sharpness",
    "Sharpness",
    "covariance_alignment",
    "filter_normalized_direction",
    "loss_along_line",
    "loss_on_plane",
    "interpolate",
    "tail_index",
    "tail_index_per_coordinate",
    "gradient_noise_tail_index",
    "largest_divisor_below_sqrt",
    "distance_from_init",
    "weight_norm",
    "tree_sq_norm",
]
