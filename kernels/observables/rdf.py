"""Radial distribution functions g(r): histogram, differentiable (smeared) and partial.

g(r) is the pair-distance histogram over unordered pairs i < j, divided by what an ideal gas of
the same number of pairs in the same volume would put in each shell,
``n_pairs / V * V_shell(r)``, so g -> 1 at large r in a fluid and g = 1 for uniform random
positions. Partial g_ab counts only pairs of species a and b, with ``n_pairs = N_a (N_a - 1) / 2``
for a == b and ``N_a N_b`` for a != b, so the partials of a random mixture are all 1.

`rdf_smooth` is the differentiable g(r) of DiffSim (Wang et al. 2023) and mdgrad (Wang et al.
2020): every pair distance is spread by a Gaussian of width `sigma` (see `histogram.py`; here the
kernel is integrated over each bin, which tends to the histogram as sigma -> 0). It can be used
inside `jit`, `vmap` and `grad`.

Distances are minimum-image distances from a `jax_md.space` displacement function, over all pairs
(the rows of the `space.map_product` pair matrix, taken a block of rows at a time with
`lax.map` so memory stays bounded; frames of a trajectory are also mapped one at a time). Cost is
O(n^2 n_bins) per frame: fine for n up to a few thousand. `r_max` must not exceed half the
shortest box side, where the minimum image stops seeing every neighbour and g(r) falls below 1
for an ideal gas: `check_r_max` refuses it (every estimator calls it: with the box side when it
is given, else from the volume, which catches any cubic box and every r_max beyond half the
mean side).

Shapes: `R: [n, dim]` (one frame) or `[n_frames, n, dim]` (averaged over frames);
`species: [n]` int. Units: `r` in the length unit of `R`; g is dimensionless. g and r are
computed in the dtype of `R`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax_md import space

from kernels.observables.histogram import (
    bin_centers,
    bin_edges,
    hard_histogram,
    smeared_histogram,
    support_bins,
)

DisplacementFn = Callable[..., Array]
HistFn = Callable[[Array, Array], Array]

_ROW_BLOCK_ELEMENTS = 2**22  # about 32 MB of float64 work per block of rows


def check_r_max(r_max: float | Array, *, box: Array | None = None,
                box_volume: float | Array | None = None, dim: int = 3) -> None:
    """``ValueError`` if ``r_max`` exceeds half the shortest box side (``box [dim]``), or,
    without ``box``, half the side of a cube of ``box_volume`` (no orthorhombic box of that
    volume has a shorter half-side to spare). Skipped for traced values (inside ``jit``, the
    caller checks before)."""
    values = [r_max, box, box_volume]
    if any(isinstance(v, jax.core.Tracer) for v in values if v is not None):
        return
    if box is not None:
        half = 0.5 * float(np.min(np.asarray(box)))
        what = f"half the shortest box side ({half:.4g})"
    elif box_volume is not None:
        half = 0.5 * float(box_volume) ** (1.0 / dim)
        what = f"half the side of a cube of the box's volume ({half:.4g})"
    else:
        return
    if float(r_max) > half * (1 + 1e-9):
        raise ValueError(
            f"r_max = {float(r_max):.4g} exceeds {what}: beyond it the minimum-image g(r) "
            "misses neighbours and is wrong (an ideal gas would fall below 1). Use r_max <= "
            f"{half:.4g}, or a larger box (more atoms)")


def _shell_volumes(r_max: float | Array, n_bins: int, dim: int, dtype) -> Array:
    """Volumes of the `n_bins` spherical shells on `[0, r_max]` in `dim` dimensions, `[n_bins]`
    of `dtype`."""
    edges = bin_edges(0.0, r_max, n_bins, dtype)
    unit_ball = math.exp(0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim + 1.0))
    return unit_ball * (edges[1:] ** dim - edges[:-1] ** dim)


def _support(r_max: float | Array, n_bins: int, width: float | Array) -> int | None:
    """Bins a Gaussian of ``width`` reaches (``support_bins``) when the numbers are known at
    trace time; None (every bin) when they are traced."""
    if isinstance(width, jax.core.Tracer) or isinstance(r_max, jax.core.Tracer):
        return None
    return support_bins(0.0, float(r_max), n_bins, float(width))


def _default_row_batch(n: int, per_pair: int) -> int:
    return int(max(1, min(n, _ROW_BLOCK_ELEMENTS // max(1, n * per_pair))))


def _pair_counts(
    displacement_fn: DisplacementFn,
    R: Array,
    species: Array | None,
    species_pair: tuple[int, int] | None,
    hist_fn: HistFn,
    row_batch: int,
    checkpoint: bool,
) -> Array:
    """Distance histogram over unordered pairs i < j (of species a, b) of one frame `[n, dim]`."""
    n = R.shape[0]
    metric = space.metric(displacement_fn)
    idx = jnp.arange(n)
    s = jnp.zeros((n,), jnp.int32) if species is None else jnp.asarray(species)
    a, b = (0, 0) if species_pair is None else species_pair

    def row(args: tuple[Array, Array, Array]) -> Array:
        i, Ri, si = args
        d = jax.vmap(metric, (None, 0))(Ri, R)  # [n]: row i of the map_product distance matrix
        w = idx > i
        if species is not None:
            w = w & (((si == a) & (s == b)) | ((si == b) & (s == a)))
        return hist_fn(d, w)

    if checkpoint:  # keep only the inputs of each block for the backward pass
        row = jax.checkpoint(row)
    return jnp.sum(lax.map(row, (idx, R, s), batch_size=row_batch), axis=0)


def _n_pairs(n: int, species: Array | None, species_pair: tuple[int, int] | None,
             dtype) -> Array:
    """Number of unordered pairs (of species a and b), a `dtype` scalar."""
    if species is None:
        return jnp.asarray(n * (n - 1) / 2.0, dtype)
    a, b = species_pair
    n_a = jnp.sum(species == a).astype(dtype)
    n_b = jnp.sum(species == b).astype(dtype)
    return jnp.where(a == b, n_a * (n_a - 1.0) / 2.0, n_a * n_b)


def _rdf(
    displacement_fn: DisplacementFn,
    R: Array,
    box_volume: float | Array,
    r_max: float | Array,
    n_bins: int,
    species: Array | None,
    species_pair: tuple[int, int] | None,
    hist_fn: HistFn,
    row_batch: int,
    checkpoint: bool,
) -> tuple[Array, Array]:
    if (species is None) != (species_pair is None):
        raise ValueError("give both `species` and `species_pair`, or neither")
    R = jnp.asarray(R)
    species = None if species is None else jnp.asarray(species)
    if R.ndim not in (2, 3):
        raise ValueError(f"R must be [n, dim] or [n_frames, n, dim], got shape {R.shape}")
    n, dim = R.shape[-2], R.shape[-1]
    check_r_max(r_max, box_volume=box_volume, dim=dim)

    def frame(Rf: Array) -> Array:
        return _pair_counts(
            displacement_fn, Rf, species, species_pair, hist_fn, row_batch, checkpoint
        )

    counts = frame(R) if R.ndim == 2 else jnp.mean(lax.map(frame, R), axis=0)
    ideal = (_n_pairs(n, species, species_pair, counts.dtype)
             / jnp.asarray(box_volume, counts.dtype)
             * _shell_volumes(r_max, n_bins, dim, counts.dtype))
    return bin_centers(0.0, r_max, n_bins, counts.dtype), counts / ideal


def rdf_histogram(
    displacement_fn: DisplacementFn,
    R: Array,
    box_volume: float | Array,
    r_max: float | Array,
    n_bins: int,
    species: Array | None = None,
    species_pair: tuple[int, int] | None = None,
    row_batch: int | None = None,
) -> tuple[Array, Array]:
    """Histogram radial distribution function g(r) (or partial g_ab) of a frame or trajectory.

    Args:
      displacement_fn: `jax_md.space` displacement function of the box.
      R: positions `[n, dim]` or a trajectory `[n_frames, n, dim]` (frames are averaged).
      box_volume: box volume in length^dim (area in 2D); one value for all frames.
      r_max: largest distance, length units (at most half the shortest box side).
      n_bins: number of bins on `[0, r_max]` (static).
      species: optional `[n]` int species; with `species_pair=(a, b)` gives the partial g_ab.
      species_pair: `(a, b)` species labels (Python ints or int scalars).
      row_batch: rows of the pair matrix processed at once (static); default bounds memory.

    Returns:
      `(r, g)`: bin centres `[n_bins]` (length) and g `[n_bins]` (dimensionless).
    """
    n = jnp.shape(R)[-2]
    batch = row_batch or _default_row_batch(n, 4)

    def hist(d: Array, w: Array) -> Array:
        return hard_histogram(d, w, 0.0, r_max, n_bins)

    return _rdf(
        displacement_fn,
        R,
        box_volume,
        r_max,
        n_bins,
        species,
        species_pair,
        hist,
        batch,
        checkpoint=False,
    )


def rdf_smooth(
    displacement_fn: DisplacementFn,
    R: Array,
    box_volume: float | Array,
    r_max: float | Array,
    n_bins: int,
    sigma: float | Array | None = None,
    species: Array | None = None,
    species_pair: tuple[int, int] | None = None,
    row_batch: int | None = None,
) -> tuple[Array, Array]:
    """Differentiable g(r): every pair distance is smeared by a Gaussian of width `sigma`.

    Same arguments, normalisation and return value as `rdf_histogram`, plus `sigma` (length
    units, default one bin width `r_max / n_bins`). Differentiable w.r.t. `R`, `sigma` and
    `box_volume`; usable inside `jit` (with `n_bins` and `row_batch` static) and `vmap`. The
    backward pass recomputes each block of rows (`jax.checkpoint`) rather than storing the
    `[n, n, n_bins]` kernel.
    """
    n = jnp.shape(R)[-2]
    width = r_max / n_bins if sigma is None else sigma
    support = _support(r_max, n_bins, width)
    batch = row_batch or _default_row_batch(n, n_bins + 1 if support is None else 2 * support + 2)

    def hist(d: Array, w: Array) -> Array:
        return smeared_histogram(d, w, 0.0, r_max, n_bins, width, support)

    return _rdf(
        displacement_fn,
        R,
        box_volume,
        r_max,
        n_bins,
        species,
        species_pair,
        hist,
        batch,
        checkpoint=True,
    )


def rdf_smooth_pairs(
    displacement_fn: DisplacementFn,
    R: Array,
    pairs: Array,
    box_volume: float | Array,
    r_max: float | Array,
    n_bins: int,
    sigma: float | Array | None = None,
    species: Array | None = None,
    species_pair: tuple[int, int] | None = None,
) -> tuple[Array, Array]:
    """`rdf_smooth` of one frame `R [n, dim]` over the pairs of a neighbour list: `pairs
    [2, capacity]` holding each unordered pair once (jax_md's `OrderedSparse` `idx`; entries
    equal to `n` are padding). Equal to `rdf_smooth` when the list holds every pair closer than
    `r_max` + 6 `sigma` (a list built with that cutoff); the cost is O(capacity n_bins) instead
    of O(n^2 n_bins), which in a liquid is some 10 times less."""
    if (species is None) != (species_pair is None):
        raise ValueError("give both `species` and `species_pair`, or neither")
    n, dim = R.shape
    i, j = pairs
    valid = (i < n) & (j < n)
    i, j = jnp.where(valid, i, 0), jnp.where(valid, j, 1 % n)
    check_r_max(r_max, box_volume=box_volume, dim=R.shape[-1])
    dR = jax.vmap(displacement_fn)(R[i], R[j])
    dR = jnp.where(valid[:, None], dR, r_max)  # padding far out, with a finite gradient
    w = valid
    if species is not None:
        a, b = species_pair
        si, sj = species[i], species[j]
        w = w & (((si == a) & (sj == b)) | ((si == b) & (sj == a)))
    width = r_max / n_bins if sigma is None else sigma
    counts = smeared_histogram(space.distance(dR), w, 0.0, r_max, n_bins, width,
                               _support(r_max, n_bins, width))
    ideal = (_n_pairs(n, species, species_pair, counts.dtype)
             / jnp.asarray(box_volume, counts.dtype)
             * _shell_volumes(r_max, n_bins, dim, counts.dtype))
    return bin_centers(0.0, r_max, n_bins, counts.dtype), counts / ideal


def partial_rdfs(
    displacement_fn: DisplacementFn,
    R: Array,
    box_volume: float | Array,
    species: Array,
    r_max: float | Array,
    n_bins: int,
    species_values: tuple[int, ...] | None = None,
    sigma: float | Array | None = None,
) -> dict[tuple[int, int], Array]:
    """All partial RDFs g_ab for a <= b, as a dict `{(a, b): g [n_bins]}`.

    Args:
      displacement_fn, R, box_volume, r_max, n_bins: as in `rdf_histogram`.
      species: `[n]` int species.
      species_values: the species labels to pair up. Default: the distinct values of `species`,
        which then must be concrete (not traced); pass them explicitly to use this under `jit`.
      sigma: None for histograms; a width (length units) for the smooth, differentiable version.

    Bin centres are `histogram.bin_centers(0.0, r_max, n_bins)`.
    """
    if species_values is None:
        species_values = tuple(int(v) for v in np.unique(np.asarray(species)))
    out = {}
    for i, a in enumerate(species_values):
        for b in species_values[i:]:
            if sigma is None:
                _, g = rdf_histogram(displacement_fn, R, box_volume, r_max, n_bins, species, (a, b))
            else:
                _, g = rdf_smooth(
                    displacement_fn, R, box_volume, r_max, n_bins, sigma, species, (a, b)
                )
            out[(a, b)] = g
    return out
