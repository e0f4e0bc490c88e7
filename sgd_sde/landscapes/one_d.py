"""One-dimensional landscapes for escape and flat-versus-sharp experiments (``θ`` has shape ``(1,)``)."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from .. import _validate as V
from .base import AbstractLandscape

__all__ = ["DoubleWell", "SharpFlat1D"]


class DoubleWell(AbstractLandscape):
    r"""Symmetric double well :math:`V(x) = 4h\,(x^4/(4s^4) - x^2/(2s^2)) + c\,x`.

    With the defaults ``barrier=0.25, scale=1, tilt=0`` this is exactly ``x⁴/4 − x²/2``: minima at
    ``±scale`` with ``V = −barrier``, a barrier of height ``barrier`` at 0, curvature
    ``V''(±s) = 8h/s²`` at the minima and ``−4h/s²`` at the top.

    Args:
        barrier: barrier height ``h > 0`` (above the minima, for ``tilt = 0``).
        scale: position ``s > 0`` of the minima.
        tilt: linear tilt ``c`` (breaks the symmetry; 0 by default).

    Raises:
        ValueError: if ``barrier`` or ``scale`` is not positive, or ``tilt`` is not finite.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(DoubleWell().loss(jnp.array([1.0])))
        -0.25

    References:
        Kramers 1940, "Brownian motion in a field of force and the diffusion model of chemical
        reactions"; Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics".
    """

    barrier: float = 0.25
    scale: float = 1.0
    tilt: float = 0.0
    citation: ClassVar[str] = (
        "Kramers 1940, Brownian motion in a field of force; "
        "Xie, Sato & Sugiyama 2021, A Diffusion Theory for Deep Learning Dynamics"
    )

    def __check_init__(self):
        V.positive("barrier", self.barrier)
        V.positive("scale", self.scale)
        V.as_float("tilt", self.tilt)

    @property
    def dim(self) -> int:
        return 1

    def potential(self, x):
        """``V(x)`` for an array of scalars ``x`` (elementwise)."""
        u = x / self.scale
        return 4.0 * self.barrier * (0.25 * u**4 - 0.5 * u**2) + self.tilt * x

    def loss(self, theta):
        return self.potential(theta[0])

    def minimum(self):
        """The left minimum ``[−s]`` (``None`` with a tilt): one of two, so the observable
        ``distance_from_minimum`` of a particle in the right well is about ``2s``."""
        if self.tilt != 0.0:
            return None
        return jnp.array([-self.scale])


class SharpFlat1D(AbstractLandscape):
    r"""Keskar's picture in 1-D: a sharp and a flat minimum of exactly equal loss (zero).

    :math:`V(x) = (x-a)^2 (x-b)^2\, p(x)`, where ``a`` (sharp) and ``b`` (flat) are the minima and
    ``p > 0`` interpolates smoothly (log-linearly in a sigmoid of ``x``) so that
    ``V''(a) = sharp_curvature`` and ``V''(b) = flat_curvature`` exactly. ``V ≥ 0`` with zeros only at
    ``a`` and ``b``; it grows like ``x⁴`` far away.

    Args:
        sharp_curvature: ``V''`` at the sharp minimum (> flat_curvature).
        flat_curvature: ``V''`` at the flat minimum (> 0).
        sharp_at: position ``a`` of the sharp minimum.
        flat_at: position ``b`` of the flat minimum (``≠ a``).
        steepness: how fast ``p`` switches between the two values (> 0).

    Raises:
        ValueError: on non-positive curvatures, ``sharp_curvature <= flat_curvature``,
            ``sharp_at == flat_at`` or non-positive ``steepness``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> sf = SharpFlat1D(sharp_curvature=10.0, flat_curvature=1.0)
        >>> round(float(jax.hessian(sf.loss)(jnp.array([-1.0]))[0, 0]), 4)
        10.0

    References:
        Keskar, Mudigere, Nocedal, Smelyanskiy & Tang 2017, "On Large-Batch Training for Deep
        Learning: Generalization Gap and Sharp Minima" (Figure 1).
    """

    sharp_curvature: float = 10.0
    flat_curvature: float = 1.0
    sharp_at: float = -1.0
    flat_at: float = 1.0
    steepness: float = 4.0
    citation: ClassVar[str] = (
        "Keskar et al. 2017, On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima"
    )

    def __check_init__(self):
        V.positive("flat_curvature", self.flat_curvature)
        V.positive("sharp_curvature", self.sharp_curvature)
        if not self.sharp_curvature > self.flat_curvature:
            raise ValueError(
                f"sharp_curvature must be > flat_curvature, got {self.sharp_curvature} <= {self.flat_curvature}"
            )
        a, b = V.as_float("sharp_at", self.sharp_at), V.as_float("flat_at", self.flat_at)
        if a == b:
            raise ValueError("sharp_at and flat_at must differ")
        V.positive("steepness", self.steepness)

    @property
    def dim(self) -> int:
        return 1

    def potential(self, x):
        """``V(x)`` elementwise."""
        a, b = self.sharp_at, self.flat_at
        mid, delta2 = 0.5 * (a + b), (a - b) ** 2
        sign = 1.0 if b > a else -1.0
        u = jax.nn.sigmoid(sign * self.steepness * (x - mid))
        ua = jax.nn.sigmoid(sign * self.steepness * (a - mid))
        ub = jax.nn.sigmoid(sign * self.steepness * (b - mid))
        log_p = jnp.log(self.sharp_curvature / (2 * delta2)) + jnp.log(
            self.flat_curvature / self.sharp_curvature
        ) * (u - ua) / (ub - ua)
        return (x - a) ** 2 * (x - b) ** 2 * jnp.exp(log_p)

    def loss(self, theta):
        return self.potential(theta[0])

    def minimum(self):
        return jnp.array([self.flat_at])
