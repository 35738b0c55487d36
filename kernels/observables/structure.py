"""Structural distributions: bond-length / interatomic-distance distribution h(r) and the ADF.

- h(r) is the normalised histogram density of distances (integral 1 over the range): over a
  list of bonds, or, with `bonds=None`, over all atom pairs, which is the h(r) that MDsim ("Forces
  are not enough", Fu et al. 2022) uses to score MD17 molecules (`np.histogram(..., density=True)`
  of all interatomic distances).
- The angle distribution function (ADF) is the density of angles j-i-k at every centre i over
  unordered neighbour pairs j < k with r_ij < r_cut and r_ik < r_cut (as in MDsim's water and
  DiffSim's structural targets).

Both accept `sigma` for a Gaussian-smeared, differentiable version (see `histogram.py`).
Shapes: `R: [n, 3]` or a trajectory `[n_frames, n, 3]` (pooled over frames). Units: distances
in the unit of `R`; angles in degrees by default (`degrees=False` for radians).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax_md import space

from kernels.observables.geometry import angle_between, bond_lengths
from kernels.observables.histogram import bin_centers, hard_histogram, smeared_histogram

DisplacementFn = Callable[..., Array]

_BLOCK_ELEMENTS = 2**22


def _histogram(
    x: Array, w: Array | None, lo: float, hi: float, n_bins: int, sigma: float | Array | None
) -> Array:
    if sigma is None:
        return hard_histogram(x, w, lo, hi, n_bins)
    return smeared_histogram(x, w, lo, hi, n_bins, sigma)


def _density(counts: Array, lo: float, hi: float, n_bins: int) -> Array:
    """Counts -> probability density on `[lo, hi]` (integral 1); zeros if there are no counts."""
    total = jnp.sum(counts)
    return counts / (jnp.where(total > 0, total, 1.0) * (hi - lo) / n_bins)


def bond_length_distribution(
    displacement_fn: DisplacementFn,
    R: Array,
    bonds: Array | None,
    r_range: tuple[float, float],
    n_bins: int,
    sigma: float | Array | None = None,
) -> tuple[Array, Array]:
    """h(r): normalised density of bond lengths (or of all interatomic distances).

    Args:
      displacement_fn: `jax_md.space` displacement function.
      R: positions `[n, dim]` or trajectory `[n_frames, n, dim]` (all frames pooled).
      bonds: `[n_bonds, 2]` int atom pairs, or None for all pairs i < j (MDsim's h(r) for
        molecules; O(n^2) memory per frame, meant for molecules, not bulk systems).
      r_range: `(r_lo, r_hi)` histogram range, length units.
      n_bins: number of bins (static).
      sigma: None for a histogram, or a Gaussian width (length) for the differentiable version.

    Returns:
      `(r, h)`: bin centres `[n_bins]` (length) and h `[n_bins]` (1/length), normalised so that
      `sum(h) * bin_width == 1` over the samples inside the range (numpy's `density=True`).
    """
    if bonds is None:
        bonds = np.stack(np.triu_indices(jnp.shape(R)[-2], k=1), axis=-1)
    lo, hi = r_range
    counts = _histogram(bond_lengths(displacement_fn, R, bonds), None, lo, hi, n_bins, sigma)
    return bin_centers(lo, hi, n_bins, counts.dtype), _density(counts, lo, hi, n_bins)


def _neighbour_vectors(
    displacement_fn: DisplacementFn,
    R: Array,
    i: Array,
    Ri: Array,
    r_cut: float | Array,
    max_neighbors: int | None,
) -> tuple[Array, Array]:
    """Vectors R_j - R_i `[K, dim]` to neighbours of atom i and their validity mask `[K]`."""
    n = R.shape[0]
    d = jax.vmap(displacement_fn, (0, None))(R, Ri)
    dist = space.distance(d)
    valid = (dist < r_cut) & (jnp.arange(n) != i)
    if max_neighbors is not None:
        _, nb = lax.top_k(jnp.where(valid, -dist, -jnp.inf), max_neighbors)
        d, valid = d[nb], valid[nb]
    # Invalid slots get a harmless unit vector so that angles (and their gradients) stay finite.
    safe = jnp.zeros_like(d).at[:, 0].set(1.0)
    return jnp.where(valid[:, None], d, safe), valid


def count_neighbors(displacement_fn: DisplacementFn, R: Array, r_cut: float | Array) -> Array:
    """Number of other atoms within `r_cut` of each atom: `R: [n, dim]` -> `[n]` int.

    Use it to choose `max_neighbors` for `angle_distribution` (it must be >= the maximum).
    """
    n = R.shape[0]
    metric = space.metric(displacement_fn)

    def row(args: tuple[Array, Array]) -> Array:
        i, Ri = args
        dist = jax.vmap(metric, (0, None))(R, Ri)
        return jnp.sum((dist < r_cut) & (jnp.arange(n) != i))

    batch = int(max(1, min(n, _BLOCK_ELEMENTS // (4 * n))))
    return lax.map(row, (jnp.arange(n), R), batch_size=batch)


def angle_distribution(
    displacement_fn: DisplacementFn,
    R: Array,
    r_cut: float | Array,
    n_bins: int,
    degrees: bool = True,
    max_neighbors: int | None = None,
    sigma: float | Array | None = None,
    row_batch: int | None = None,
) -> tuple[Array, Array]:
    """Angle distribution function: density of angles j-i-k over neighbour pairs of each atom i.

    Every centre i and every unordered pair j < k of its neighbours (r_ij, r_ik < r_cut, j, k != i)
    contributes one angle; frames of a trajectory are pooled.

    Args:
      displacement_fn: `jax_md.space` displacement function.
      R: positions `[n, 3]` or trajectory `[n_frames, n, 3]`.
      r_cut: neighbour cutoff, length units.
      n_bins: number of bins on `[0, 180]` degrees (or `[0, pi]`) (static).
      degrees: bins and density in degrees (default) or radians.
      max_neighbors: keep only the closest `max_neighbors` neighbours of each centre (static);
        faster, O(n * max_neighbors^2) instead of O(n^3), but neighbours beyond it are dropped
        silently, so it must be >= `count_neighbors(...).max()`. Default: all n - 1 atoms.
      sigma: None for a histogram, or a Gaussian width (in the angle unit) for the smooth,
        differentiable version.
      row_batch: centres processed at once (static); default bounds memory.

    Returns:
      `(theta, p)`: bin centres `[n_bins]` and density `[n_bins]` (per degree, or per radian),
      normalised so that `sum(p) * bin_width == 1`; all zeros if there are no triplets.
    """
    R = jnp.asarray(R)
    n = R.shape[-2]
    if max_neighbors is not None:
        max_neighbors = min(max_neighbors, n)
    k = n if max_neighbors is None else max_neighbors
    hi = 180.0 if degrees else float(np.pi)
    scale = 180.0 / np.pi if degrees else 1.0
    per_centre = k * k * (4 if sigma is None else n_bins + 4) + 4 * n
    batch = row_batch or int(max(1, min(n, _BLOCK_ELEMENTS // per_centre)))
    upper = jnp.triu(jnp.ones((k, k), bool), k=1)

    def frame(Rf: Array) -> Array:
        def centre(args: tuple[Array, Array]) -> Array:
            i, Ri = args
            d, valid = _neighbour_vectors(displacement_fn, Rf, i, Ri, r_cut, max_neighbors)
            theta = scale * angle_between(d[:, None, :], d[None, :, :])  # [k, k]
            w = valid[:, None] & valid[None, :] & upper
            return _histogram(theta, w, 0.0, hi, n_bins, sigma)

        if sigma is not None:
            centre = jax.checkpoint(centre)
        return jnp.sum(lax.map(centre, (jnp.arange(n), Rf), batch_size=batch), axis=0)

    counts = frame(R) if R.ndim == 2 else jnp.sum(lax.map(frame, R), axis=0)
    return bin_centers(0.0, hi, n_bins, counts.dtype), _density(counts, 0.0, hi, n_bins)
