"""h(r), the distribution of all interatomic distances of a molecule, and its MAE against the
reference's: MDsim's structural metric for MD17 molecules (Fu et al., TMLR 2023; ``get_hr`` and
``load_run`` in its ``observable.ipynb``).

MDsim takes ``torch.cdist`` of every frame (all ordered pairs, self pairs included, no periodic
images) and ``np.histogram(..., bins=np.linspace(1e-6, 10, 501), density=True)``: the zero self
distances fall below the first edge and the two orders of a pair count alike, so h(r) is the
normalised density (1/Å, integral 1) of the distances of pairs i < j on (1e-6, 10] Å, pooled over
frames. ``kernels.observables.structure.bond_length_distribution(space.free(), R, None,
(1e-6, 10), 500)`` computes the same h(r) (checked in the tests); here the counts are summed over
blocks of ``BLOCK_FRAMES`` frames in float64 numpy, so a long reference (MD17: ~10^5 frames) is
never held as one ``[n_frames, n_pairs]`` array, and the edges are numpy's exactly. The MAE is
MDsim's ``mae(h, h_ref, xlim) = mean(|h - h_ref|) * 10``: the integral of |h - h_ref| dr,
unitless.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.analysis import bond_lengths
from workbench.benchmark.base import (
    BLOCK_FRAMES,
    Metric,
    check_same_atoms,
    mdsim_mae,
    uniform_histogram,
)
from workbench.benchmark.trajectory import load_trajectory

__all__ = ["HR", "HR_BINS", "HR_R_MAX"]

HR_R_MAX = 10.0
"""Å: MDsim's ``xlim`` for h(r)."""
HR_BINS = 500
"""MDsim's ``n_bins`` for h(r) (edges ``np.linspace(1e-6, HR_R_MAX, HR_BINS + 1)``)."""


class HR(Metric):
    """h(r) of the frames before collapse and its MAE against the reference's (module
    docstring).

    Args:
        reference: reference trajectory or dataset (``load_trajectory``); every frame pooled.
        r_max: Å (MDsim: 10). n_bins: MDsim: 500.

    ``run(trajectory, stability=BondStability(...).run(trajectory).results)`` scores MDsim's
    ``traj[0:collapse_pt]``. A run that collapsed at its first frame (stable time 0), or no
    frame at all, is not available (MDsim would still report the h(r) of that one frame).

    Results:
        ``r`` ``[n_bins]`` bin centres Å, ``h`` and ``h_reference`` ``[n_bins]`` 1/Å, ``mae``
        (unitless; ``inf`` when not available), ``n_frames``, ``available``.

    Raises:
        ValueError: atoms unlike the reference's.
    """

    def __init__(self, reference: Any, r_max: float = HR_R_MAX, n_bins: int = HR_BINS) -> None:
        super().__init__()
        self.reference = load_trajectory(reference)
        self.r_max = float(r_max)
        self.edges = np.linspace(1e-6, self.r_max, int(n_bins) + 1)
        self._pairs = np.stack(np.triu_indices(self.reference.n_atoms, k=1), axis=1)
        positions = self.reference.positions
        total = sum(self._counts_of(positions[k:k + BLOCK_FRAMES])
                    for k in range(0, len(positions), BLOCK_FRAMES))
        self.h_reference = self._density(total)

    def _counts_of(self, positions: np.ndarray) -> np.ndarray:
        """Distance counts of the frames ``positions [n, n_atoms, 3]`` pooled (one histogram
        call for the block: the same counts as frame by frame)."""
        return uniform_histogram(bond_lengths(positions, self._pairs), self.edges)

    def _density(self, counts: np.ndarray) -> np.ndarray:
        total = counts.sum()
        return counts / (max(total, 1) * np.diff(self.edges))

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)
        self._counts = np.zeros(len(self.edges) - 1)

    def _block(self, k: int, positions: np.ndarray) -> None:
        self._counts += self._counts_of(positions)

    def _conclude(self) -> None:
        n = len(self.frames)
        available = n >= 1 and not self.collapsed_at_start
        h = self._density(self._counts)
        self.results.update(
            r=0.5 * (self.edges[1:] + self.edges[:-1]), h_reference=self.h_reference,
            n_frames=n, available=available, h=h if available else None,
            mae=mdsim_mae(h, self.h_reference, self.r_max) if available else np.inf)
