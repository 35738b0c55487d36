"""Per-species reference energies fitted by least squares before training, as is standard
(MACE's ``compute_average_E0s``, NequIP's per-species shifts): ``energies ~ counts @ shifts``,
so the network learns what is left (the binding part), an O(1) quantity.

When the compositions do not determine the shifts (every frame of one molecular system has the
same counts, so only ``counts @ shifts`` is fixed), the minimum-norm solution of
``numpy.linalg.lstsq`` is taken; the model's total energy is the same whichever solution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_shifts", "species_counts"]


def species_counts(species: Any, known: Any) -> np.ndarray:
    """``[n_frames, n_species]`` float64 atom counts of each species in ``known``.

    species: ``[n_atoms]`` (one system) or ``[n_frames, n_atoms]`` atomic numbers; known:
    ``[n_species]`` atomic numbers. ``ValueError`` for a species not in ``known``."""
    z = np.asarray(species, dtype=np.int64)
    z = z[None] if z.ndim == 1 else z
    known = np.asarray(known, dtype=np.int64)
    missing = sorted(set(np.unique(z).tolist()) - set(known.tolist()))
    if missing:
        raise ValueError(f"species {missing} are not among {known.tolist()}")
    return (z[..., None] == known).sum(axis=1).astype(np.float64)


def fit_shifts(counts: Any, energies: Any) -> np.ndarray:
    """Least-squares shifts ``[n_species]`` (eV) with ``energies ~ counts @ shifts``.

    counts: ``[n_frames, n_species]``, or ``[n_species]`` / ``[1, n_species]`` for one
    composition shared by every frame; energies: ``[n_frames]`` eV. ``ValueError`` for
    mismatched shapes or no frames."""
    e = np.asarray(energies, dtype=np.float64).reshape(-1)
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim == 1 or (c.ndim == 2 and c.shape[0] == 1):
        c = np.broadcast_to(c.reshape(1, -1), (e.size, c.size))
    if c.ndim != 2 or c.shape[0] != e.size or e.size == 0:
        raise ValueError(f"counts [n_frames, n_species] and energies [n_frames] must agree and "
                         f"be non-empty, got {c.shape} and {e.shape}")
    shifts, *_ = np.linalg.lstsq(c, e, rcond=None)
    return shifts
