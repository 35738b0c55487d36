"""Observables of molecular systems: backbone dihedrals and Ramachandran free-energy surfaces of
alanine dipeptide, water partial RDFs, and the oxygen self-diffusion coefficient.

Thin compositions of the generic observables, not new estimators:

- phi/psi are `geometry.dihedrals` (IUPAC sign convention) of the quads C(i-1)-N-CA-C and
  N-CA-C-N(i+1) (indices from the topology, e.g. ``workbench.molecules.phi_psi_indices``);
- F(phi, psi) = -kT ln P(phi, psi) on a periodic grid of equal bins covering [-pi, pi) in each
  angle, shifted so that its minimum is 0; the 1-D profiles F(phi), F(psi) are the same for the
  marginal distributions. Bins never visited have F = +inf. This is the free-energy metric for
  alanine dipeptide of MDsim ("Forces are not enough", Fu et al. 2022). The periodic binning is
  written here (a few lines) because `histogram.hard_histogram` bins a closed interval;
- water g_OO, g_OH, g_HH are `rdf.partial_rdfs`; ``exclude_pairs`` removes listed pairs (the
  intramolecular O-H and H-H pairs, see `water_intramolecular_pairs`) with the same
  normalisation, so g_OH and g_HH become intermolecular;
- D_O is `dynamics.msd` of the oxygen atoms and `dynamics.diffusion_coefficient` (Einstein).

Shapes: positions ``[n, 3]`` or ``[n_frames, n, 3]``; angles in radians; F in the unit of kT;
lengths, times and D in the units of the inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax import Array

from kernels.observables.dynamics import diffusion_coefficient, msd
from kernels.observables.geometry import dihedrals, displacements
from kernels.observables.histogram import bin_edges, hard_histogram
from kernels.observables.rdf import partial_rdfs

DisplacementFn = Callable[..., Array]


def phi_psi(displacement_fn: DisplacementFn, R: Array, indices: Array) -> Array:
    """Backbone dihedrals phi and psi.

    Args:
      displacement_fn: `jax_md.space` displacement function.
      R: positions ``[..., n, 3]``.
      indices: ``[2, 4]`` (one residue: phi quad, psi quad) or ``[m, 2, 4]`` int atom indices.

    Returns:
      ``[..., 2]`` (or ``[..., m, 2]``) angles (phi, psi) in radians, in (-pi, pi].
    """
    idx = jnp.asarray(indices)
    quads = idx.reshape(-1, 4)
    angles = dihedrals(displacement_fn, R, quads)  # [..., 2 m]
    return angles.reshape(*angles.shape[:-1], *idx.shape[:-1])


def periodic_bin_centers(n_bins: int, dtype=None) -> Array:
    """Centres of ``n_bins`` equal bins covering [-pi, pi), ``[n_bins]`` radians of ``dtype``
    (default JAX's default float)."""
    return -jnp.pi + (jnp.arange(n_bins, dtype=dtype) + 0.5) * (2.0 * jnp.pi / n_bins)


def _periodic_bin(angle: Array, n_bins: int) -> Array:
    u = jnp.mod(angle + jnp.pi, 2.0 * jnp.pi) / (2.0 * jnp.pi)  # [0, 1)
    return jnp.clip(jnp.floor(u * n_bins).astype(jnp.int32), 0, n_bins - 1)


def _free_energy(counts: Array, kT: float | Array) -> Array:
    p = counts / jnp.sum(counts)
    f = -kT * jnp.log(jnp.where(p > 0, p, 1.0))
    f = jnp.where(p > 0, f, jnp.inf)
    return f - jnp.min(f)


def free_energy_profile(angle: Array, kT: float | Array, n_bins: int = 36,
                        weights: Array | None = None) -> tuple[Array, Array]:
    """1-D free energy F(theta) = -kT ln P(theta) of a periodic angle, minimum shifted to 0.

    Args:
      angle: samples in radians, any shape (wrapped into [-pi, pi)).
      kT: thermal energy (the unit of F).
      n_bins: bins on [-pi, pi) (static).
      weights: optional sample weights, shape of ``angle``.

    Returns:
      ``(centres [n_bins] radians, F [n_bins])``; unvisited bins are +inf.
    """
    a = jnp.ravel(jnp.asarray(angle))
    w = jnp.ones_like(a) if weights is None else jnp.ravel(jnp.asarray(weights, a.dtype))
    counts = jnp.zeros((n_bins,), a.dtype).at[_periodic_bin(a, n_bins)].add(w)
    return periodic_bin_centers(n_bins, a.dtype), _free_energy(counts, kT)


def ramachandran(phi: Array, psi: Array, kT: float | Array, n_bins: int = 36,
                 weights: Array | None = None) -> dict[str, Array]:
    """Ramachandran free-energy surface F(phi, psi) = -kT ln P(phi, psi) and its 1-D profiles.

    Args:
      phi, psi: samples in radians, same shape (e.g. ``[n_frames]``).
      kT: thermal energy (the unit of F).
      n_bins: bins per angle on [-pi, pi) (static).
      weights: optional sample weights, shape of ``phi``.

    Returns:
      dict with ``centers`` ``[n_bins]`` (radians, the same for phi and psi), ``F`` ``[n_bins,
      n_bins]`` (first index phi, second psi), ``F_phi`` and ``F_psi`` ``[n_bins]``; each F has
      its minimum at 0 and +inf in unvisited bins.
    """
    phi, psi = jnp.ravel(jnp.asarray(phi)), jnp.ravel(jnp.asarray(psi))
    w = jnp.ones_like(phi) if weights is None else jnp.ravel(jnp.asarray(weights, phi.dtype))
    flat = _periodic_bin(phi, n_bins) * n_bins + _periodic_bin(psi, n_bins)
    counts = jnp.zeros((n_bins * n_bins,), phi.dtype).at[flat].add(w).reshape(n_bins, n_bins)
    return {"centers": periodic_bin_centers(n_bins, phi.dtype), "F": _free_energy(counts, kT),
            "F_phi": _free_energy(counts.sum(axis=1), kT),
            "F_psi": _free_energy(counts.sum(axis=0), kT)}


def water_intramolecular_pairs(oxygens: Array, hydrogens: Array) -> np.ndarray:
    """``[3 m, 2]`` intramolecular pairs (O-H1, O-H2, H1-H2) of ``m`` waters.

    Args:
      oxygens: ``[m]`` oxygen indices. hydrogens: ``[m, 2]`` the two hydrogens of each oxygen.
    """
    o, h = np.asarray(oxygens), np.asarray(hydrogens)
    return np.concatenate([np.stack([o, h[:, 0]], 1), np.stack([o, h[:, 1]], 1), h]).astype(int)


def water_rdfs(
    displacement_fn: DisplacementFn,
    R: Array,
    box_volume: float | Array,
    is_oxygen: Array,
    r_max: float,
    n_bins: int,
    exclude_pairs: Array | None = None,
) -> dict[str, Array]:
    """Water partial RDFs g_OO, g_OH, g_HH (histograms) of a frame or trajectory.

    Args:
      displacement_fn, R, box_volume, r_max, n_bins: as in `rdf.rdf_histogram` (3-D).
      is_oxygen: ``[n]`` bool; every other atom counts as hydrogen.
      exclude_pairs: optional ``[m, 2]`` atom pairs left out of the counts (e.g.
        `water_intramolecular_pairs`), with the normalisation unchanged.

    Returns:
      dict ``r`` ``[n_bins]`` bin centres, ``OO``, ``OH``, ``HH`` ``[n_bins]``.
    """
    species = jnp.where(jnp.asarray(is_oxygen), 0, 1).astype(jnp.int32)
    g = partial_rdfs(displacement_fn, R, box_volume, species, r_max, n_bins,
                     species_values=(0, 1))
    out = {"OO": g[(0, 0)], "OH": g[(0, 1)], "HH": g[(1, 1)]}
    edges = bin_edges(0.0, r_max, n_bins, out["OO"].dtype)
    out["r"] = 0.5 * (edges[1:] + edges[:-1])
    if exclude_pairs is None:
        return out
    pairs = jnp.asarray(exclude_pairs)
    frames = R if R.ndim == 3 else R[None]
    d = jnp.linalg.norm(displacements(displacement_fn, frames[:, pairs[:, 0]],
                                      frames[:, pairs[:, 1]]), axis=-1)  # [frames, m]
    shell = 4.0 / 3.0 * jnp.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    n_o = jnp.sum(species == 0) * 1.0
    n_h = jnp.sum(species == 1) * 1.0
    s = species[pairs]
    for key, kind, n_pairs in (("OO", 0, n_o * (n_o - 1) / 2), ("OH", 1, n_o * n_h),
                               ("HH", 2, n_h * (n_h - 1) / 2)):
        w = jnp.broadcast_to(jnp.sum(s, axis=1) == kind, d.shape)
        counts = hard_histogram(d, w, 0.0, r_max, n_bins) / frames.shape[0]
        out[key] = out[key] - counts / (n_pairs / box_volume * shell)
    return out


def oxygen_diffusivity(unwrapped: Array, is_oxygen: Array, dt_frame: float | Array,
                       fit_range: tuple[float, float] = (0.1, 0.5),
                       max_lag: int | None = None) -> tuple[Array, Array]:
    """Oxygen self-diffusion coefficient from the Einstein relation (`dynamics.msd`).

    Args:
      unwrapped: continuous positions ``[n_frames, n, 3]`` (``dynamics.unwrap`` or the runner's
        ``Trajectory.unwrapped``).
      is_oxygen: ``[n]`` bool (concrete, not traced). dt_frame: time between frames.
      fit_range, max_lag: as in `dynamics.diffusion_coefficient` and `dynamics.msd`.

    Returns:
      ``(D, msd [n_lags])``: D in length^2 / time, MSD in length^2.
    """
    oxygen = np.flatnonzero(np.asarray(is_oxygen))
    m = msd(jnp.asarray(unwrapped)[:, oxygen], max_lag=max_lag)
    return diffusion_coefficient(m, dt_frame, fit_range), m
