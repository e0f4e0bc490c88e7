r"""Langevin particles on 1-D fractional random potentials (Bouchaud & Georges 1990).

Each particle gets its *own* realisation of the potential: the realisations are laid side by side
on one line, particle ``p`` starting at the centre of tile ``p`` (:class:`TiledPotential`), so a
single :func:`sgd_sde.simulate` call runs independent environments and the bootstrap over
particles is a bootstrap over environments. A run is rejected if a particle got within 10 % of
its tile's edge at a save point.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ..landscapes.base import AbstractLandscape
from ..landscapes.random_potential import RandomPotential, _alpha, _check_key

__all__ = ["TiledPotential", "potential_diffusion"]


class TiledPotential(AbstractLandscape):
    r"""``n_tiles`` independent 1-D :class:`~sgd_sde.landscapes.RandomPotential` grids side by side.

    Tile ``p`` covers ``[p L − L/2, p L + L/2)`` with ``L = (n_grid − 1) h`` and holds its own fBm
    path (centred so that ``U(p L) = 0``); ``θ`` is mapped to its tile by rounding ``θ / L``.
    Use it to run one particle per environment: start particle ``p`` at :meth:`centres` ``[p]``.

    Args:
        key: a ``jax.random.key``.
        n_tiles: number of independent realisations (≥ 1).
        alpha: exponent ``α ∈ (0, 2]``.
        amplitude, spacing, n_grid: as :class:`~sgd_sde.landscapes.RandomPotential`.

    Raises:
        ValueError: as :class:`~sgd_sde.landscapes.RandomPotential`, or ``n_tiles < 1``.

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media".
    """

    values: jax.Array  # (n_tiles, n_grid)
    spacing: float
    alpha: float
    citation: ClassVar[str] = "Bouchaud & Georges 1990, Anomalous diffusion in disordered media"

    def __init__(self, key, n_tiles: int, alpha: float, *, amplitude: float = 1.0, spacing: float = 1.0,
                 n_grid: int = 4097):
        key = _check_key(key)
        n = V.positive_int("n_tiles", n_tiles)
        g = V.positive_int("n_grid", n_grid)
        if g % 2 == 0:
            g += 1  # odd: the centre node sits at 0
        tiles = [RandomPotential(jax.random.fold_in(key, i), 1, alpha, amplitude=amplitude, spacing=spacing,
                                 n_grid=g).values for i in range(n)]
        self.values = jnp.stack(tiles)
        self.spacing = V.positive("spacing", spacing)
        self.alpha = _alpha(alpha)

    @property
    def dim(self) -> int:
        return 1

    @property
    def tile_length(self) -> float:
        return (self.values.shape[1] - 1) * self.spacing

    def centres(self) -> np.ndarray:
        """Starting points ``p L``, shape ``(n_tiles, 1)``."""
        return (np.arange(self.values.shape[0]) * self.tile_length)[:, None].astype(np.float64)

    def loss(self, theta):
        n, g = self.values.shape
        length = self.tile_length
        tile = jnp.clip(jnp.round(theta[0] / length), 0, n - 1).astype(jnp.int32)
        s = (theta[0] - tile * length) / self.spacing + (g - 1) / 2
        i = jnp.clip(jnp.floor(s), 0, g - 2).astype(jnp.int32)
        f = s - i
        flat = self.values.reshape(-1)
        lo, hi = flat[tile * g + i], flat[tile * g + i + 1]
        return (lo + f.astype(flat.dtype) * (hi - lo)).astype(theta.dtype)


def potential_diffusion(key, alpha: float, *, n_particles: int = 500, n_steps: int = 1 << 17,
                        temperature: float = 1.0, lr: float = 2e-3, amplitude: float = 1.0,
                        spacing: float = 0.1, n_grid: int = 8193, save_at=None,
                        progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Overdamped Langevin dynamics on independent 1-D fractional potentials; distances from the start.

    ``θ_{k+1} = θ_k − η U'(θ_k) + √(2ηT) ξ_k`` (:class:`~sgd_sde.dynamics.Langevin`), one particle
    per realisation of ``U`` with ``E[(U(x) − U(y))²] = A² |x − y|^α``. By scaling, only
    ``A/T`` and the discretisation (``spacing``, ``lr``) matter: lengths are in units of
    ``ℓ = (T/A)^{2/α}``, times of ``ℓ²/T``; barriers dominate once ``|x| ≫ ℓ``, where
    Bouchaud & Georges predict ``|x| ~ ℓ (log t)^{2/α}``.

    Args:
        key: a ``jax.random.key``.
        alpha: ``α ∈ (0, 2]``.
        n_particles: number of particles = environments.
        n_steps: Langevin steps; SDE time is ``t = k η``.
        temperature: ``T > 0``.
        lr: step ``η > 0`` (keep ``√(2ηT) <`` ``spacing``).
        amplitude: ``A > 0``.
        spacing: grid spacing ``h``.
        n_grid: grid nodes per environment (tile length ``(n_grid − 1) h``).
        save_at: save steps (default: 4 per octave).
        progress: tqdm bar (off by default: with log-spaced saves a bar makes
            :func:`~sgd_sde.simulate` compile one program per save interval).

    Returns:
        ``(steps, times, distances)`` with ``distances`` of shape ``(S, n_particles)``.

    Raises:
        ValueError: on invalid arguments, sizes whose arrays would not fit in memory, or if a
            particle travelled more than 40 % of its tile's length (the message names ``n_grid``,
            ``spacing``, ``lr`` and ``n_steps``, which set the tile and the distance travelled).

    Examples:
        >>> import jax
        >>> steps, times, d = potential_diffusion(jax.random.key(0), 1.0, n_particles=4, n_steps=64, n_grid=257)
        >>> d.shape[1]
        4

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
        models and physical applications"; Hoffer, Hubara & Soudry 2017, "Train longer, generalize
        better".
    """
    from ..dynamics import Langevin
    from ..simulate import simulate
    from .sinai import default_save_steps

    key = _check_key(key)
    a = _alpha(alpha)
    p = V.count("n_particles", n_particles)
    n = V.count("n_steps", n_steps)
    g = V.count("n_grid", n_grid, maximum=V.MAX_COUNT - 1)  # an even n_grid is made odd
    # before any environment is drawn: one fBm path (circulant embedding of ~2·n_grid nodes,
    # Gaussian draws and a complex FFT) and the (n_particles, n_grid) float64 tiles, built one by
    # one and then stacked
    V.fits_in_memory("n_grid", 128.0 * (g + 1), "an fBm path")
    V.fits_in_memory("n_particles × n_grid", 16.0 * p * (g + 1), "the tiled potentials")
    save = default_save_steps(n) if save_at is None else save_at
    dyn = Langevin(lr=lr, temperature=V.positive("temperature", temperature))
    # tiles put particles at |θ| up to n_particles · L: float32 would round θ to ~L·P·6e-8,
    # coarser than a Langevin step, so positions (only) are float64.
    with jax.enable_x64(True):
        land = TiledPotential(jax.random.fold_in(key, 0), p, a, amplitude=amplitude, spacing=spacing, n_grid=n_grid)
        traj = simulate(jax.random.fold_in(key, 1), land, dyn, land.centres(), n_steps=n, save_at=save,
                        observables=("distance_from_init",), progress=progress, divergence_bound=1e30)
    dist = traj.saved["distance_from_init"]
    if dist.max() > 0.4 * land.tile_length:
        step = float(np.sqrt(2.0 * dyn.lr * dyn.temperature))
        raise ValueError(
            f"a particle travelled {dist.max():.4g} > 40% of the tile length (n_grid - 1)·spacing = "
            f"{land.tile_length:.4g} (one Langevin step moves about sqrt(2·lr·temperature) = {step:.4g}); "
            "increase n_grid or spacing, or decrease lr or n_steps"
        )
    return traj.steps, traj.times, dist
