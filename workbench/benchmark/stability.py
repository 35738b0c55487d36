"""Stability of a simulation, as MDsim defines it (Fu et al., "Forces are not enough", TMLR
2023; the ``load_run`` functions of its ``observable.ipynb``).

- Molecules (``BondStability``): bonds are the pairs ASE's ``NeighborList(natural_cutoffs(atoms),
  self_interaction=False)`` connects in the first frame of the simulated trajectory (MDsim's
  ``Trajectory(md_dir / 'atoms.traj')[0]``); their reference lengths are the means over every
  reference frame (minimum image in the reference's box, if any). The run collapses at the first
  frame where any bond deviates from its reference mean by more than 0.5 Å.
- Liquids (``RDFStability``): the first window of 1 ps (MDsim: 10 frames at 0.1 ps), starting
  at frame 1, whose O-O, H-H or H-O g(r) (normalised as ``rdf.py``) has MDsim's MAE (mean
  absolute difference times 6 Å) above 3.0 against the reference's. Windows start at frames
  ``1 .. n_frames - window - 1`` (MDsim's ``range(1, len(T) - rdf_check_interval)``).

Both follow MDsim's bookkeeping: ``collapse_pt`` (here ``n_stable_frames``) is the number of
leading frames the structural metrics may use (``traj[:collapse_pt]``), and the stability is
``(collapse_pt - 1) * frame_interval`` in ps (MDsim's ``(collapse_pt - 1) / 20`` for 0.05 ps
frames, ``/ 10`` for 0.1 ps). For molecules ``collapse_pt`` is the first bad frame + 1, so the
stable time is the time of the first bad frame and the h(r) includes that frame, as MDsim's;
for liquids ``collapse_pt`` is the start of the first bad window, so the RDFs use only frames
before it. A run that never collapses has ``n_stable_frames = n_frames`` and its full length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench import analysis
from workbench.analysis import bond_lengths
from workbench.benchmark.base import BLOCK_FRAMES, Metric, check_same_atoms, mdsim_mae
from workbench.benchmark.rdf import N_BINS, R_MAX, RDFCounter, reference_rdfs
from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["BondStability", "RDFStability", "natural_bonds", "scan_windows"]


def natural_bonds(frame: Trajectory) -> np.ndarray:
    """``[n_bonds, 2]`` atom pairs i < j that ASE's ``NeighborList(natural_cutoffs(atoms),
    self_interaction=False)`` connects in the first frame of ``frame`` (MDsim's bonds;
    ``workbench.analysis.natural_bonds``)."""
    return analysis.natural_bonds(frame.numbers, frame.positions[0], frame.box)


class BondStability(Metric):
    """Molecule stability: time until any bond length leaves its reference mean by more than
    ``threshold_A`` (module docstring).

    Args:
        reference: the reference trajectory or dataset (``load_trajectory``), same atoms.
        threshold_A: Å, MDsim's 0.5.
        bonds: ``[n_bonds, 2]`` atom pairs; default ``natural_bonds`` of the first frame of the
            scored trajectory (MDsim), or of the reference with ``bonds_from="reference"``.

    Results:
        ``stable_time_ps`` (ps), ``collapsed`` (bool), ``collapse_frame`` (first frame over the
        threshold, or None), ``n_stable_frames`` (MDsim's ``collapse_pt``),
        ``max_deviation_A`` ``[n_frames]`` (Å; nan after the collapse, not computed),
        ``bonds`` ``[n_bonds, 2]``, ``reference_lengths_A`` ``[n_bonds]``, ``threshold_A``.

    Raises:
        ValueError: atoms unlike the reference's, no bonds found, unknown frame interval.
    """

    def __init__(self, reference: Any, threshold_A: float = 0.5,
                 bonds: np.ndarray | None = None, bonds_from: str = "trajectory") -> None:
        super().__init__()
        if bonds_from not in ("trajectory", "reference"):
            raise ValueError(f"bonds_from must be 'trajectory' or 'reference', got {bonds_from}")
        self.reference = load_trajectory(reference)
        self.threshold_A = float(threshold_A)
        self.bonds = None if bonds is None else np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        self.bonds_from = bonds_from

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)
        source = self.trajectory if self.bonds_from == "trajectory" else self.reference
        self._bonds = self.bonds if self.bonds is not None else natural_bonds(source)
        if not len(self._bonds):
            raise ValueError("no bonds: natural_cutoffs connects no atoms in the first frame")
        positions = self.reference.positions
        self._mean = sum(bond_lengths(positions[k:k + BLOCK_FRAMES], self._bonds,
                                      self.reference.box).sum(axis=0)
                         for k in range(0, len(positions), BLOCK_FRAMES)) / len(positions)
        self._deviation = np.full(len(self.frames), np.nan)
        self._first_bad: int | None = None

    def _block(self, k: int, positions: np.ndarray) -> None:
        if self._first_bad is not None:
            return
        d = bond_lengths(positions, self._bonds, self.trajectory.box)
        deviation = np.max(np.abs(d - self._mean), axis=1)
        bad = ~(deviation <= self.threshold_A)  # nan (exploded) counts as collapse
        n = int(np.argmax(bad)) + 1 if bad.any() else len(deviation)
        self._deviation[k:k + n] = deviation[:n]  # nan after the collapse: not computed
        if bad.any():
            self._first_bad = k + n - 1

    def _conclude(self) -> None:
        dt = self.trajectory.interval_ps()
        n = len(self.frames)
        n_stable = n if self._first_bad is None else self._first_bad + 1
        self.results.update(
            stable_time_ps=self.trajectory.start_ps + (n_stable - 1) * dt,
            collapsed=self._first_bad is not None,
            collapse_frame=self._first_bad, n_stable_frames=n_stable,
            max_deviation_A=self._deviation, bonds=self._bonds,
            reference_lengths_A=self._mean, threshold_A=self.threshold_A)


class RDFStability(Metric):
    """Liquid stability: time until the first ``window_ps`` window whose partial RDFs have an
    MDsim MAE above ``threshold`` (module docstring).

    Args:
        reference: reference trajectory with a box (every frame pooled for its RDFs).
        threshold: MDsim's 3.0 (on ``mean |g - g_ref| * r_max``, Å).
        window_ps: 1 ps (MDsim: ``rdf_check_interval = 10`` frames of 0.1 ps); rounded to
            whole frames, at least one.
        pairs, r_max, n_bins: as ``rdf.PartialRDF`` (MDsim: O-O, H-H, H-O; 6 Å; 500 bins).

    Results:
        ``stable_time_ps`` (ps), ``collapsed``, ``collapse_frame`` (first frame of the first
        bad window, or None), ``n_stable_frames`` (MDsim's ``collapse_pt``), ``window_frames``,
        ``window_mae`` ``[n_windows]`` (the largest pair MAE of each window checked, Å),
        ``threshold``.

    Raises:
        ValueError: no box, atoms unlike the reference's, unknown frame interval.
    """

    def __init__(self, reference: Any, threshold: float = 3.0, window_ps: float = 1.0,
                 pairs: list[tuple[int, int]] | None = None, r_max: float = R_MAX,
                 n_bins: int = N_BINS) -> None:
        super().__init__()
        self.reference = load_trajectory(reference)
        self.counter = RDFCounter(self.reference.numbers, self.reference.box, pairs, r_max,
                                  n_bins)
        self.threshold, self.window_ps, self.r_max = float(threshold), window_ps, float(r_max)
        self.g_reference = reference_rdfs(self.counter, self.reference)

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)
        self._counts = np.zeros((len(self.frames), *self.counter.ideal.shape))

    def _single_frame(self, k: int, positions: np.ndarray) -> None:
        self._counts[k] = self.counter.counts(positions)

    def _conclude(self) -> None:
        dt = self.trajectory.interval_ps()
        w = max(1, round(self.window_ps / dt))
        n = len(self.frames)
        bad, worst = scan_windows(self.counter, self.g_reference, self._counts, w, 1,
                                  self.threshold, self.r_max)
        n_stable = n if bad is None else bad
        collapsed = n_stable < n
        self.results.update(
            stable_time_ps=self.trajectory.start_ps + (n_stable - 1) * dt, collapsed=collapsed,
            collapse_frame=n_stable if collapsed else None, n_stable_frames=n_stable,
            window_frames=w, window_mae=np.asarray(worst), threshold=self.threshold)


def scan_windows(counter: RDFCounter, g_reference: np.ndarray, counts: np.ndarray, w: int,
                 first: int, threshold: float, r_max: float) -> tuple[int | None, list[float]]:
    """MDsim's liquid check over per-frame counts ``[n_frames, n_pairs, n_bins]``: windows of
    ``w`` frames starting at ``first .. n_frames - w - 1`` (MDsim's ``range(1, len(T) -
    rdf_check_interval)``), in order, until one has a pair MAE above ``threshold``. Returns
    ``(start of that window or None, [largest pair MAE of each window checked])``."""
    n = len(counts)
    cumulative = np.concatenate([np.zeros_like(counts[:1]), np.cumsum(counts, axis=0)])
    worst: list[float] = []
    for i in range(first, n - w):
        g = counter.rdfs(cumulative[i + w] - cumulative[i], w)
        worst.append(max(mdsim_mae(gk, gr, r_max) for gk, gr in zip(g, g_reference, strict=True)))
        if worst[-1] > threshold:
            return i, worst
    return None, worst
