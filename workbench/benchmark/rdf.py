"""Partial RDFs g_ab(r) normalised as MDsim's water metric, and their MAE against a reference.

MDsim (Fu et al., TMLR 2023; ``get_water_rdfs`` in its ``observable.ipynb``) wraps positions
into the box, takes minimum-image distances between *every* atom of species a and every atom of
species b (both orders, self pairs included and then dropped as zero distances), histograms them
on ``np.linspace(1e-6, 6, 501)`` Å and divides by ``rho * 4/3 pi (r_k+1^3 - r_k^3)`` with
``rho = n_frames * n_a * n_b / V``. So g_ab -> 1 at large r for a != b and -> (n_a - 1) / n_a
for a == b, and intramolecular pairs (the O-H bond, H-O-H) are counted. That normalisation is
not the kernel's (``kernels.observables.rdf.partial_rdfs`` divides by n_a (n_a - 1) / 2 unordered
pairs: larger by n_a / (n_a - 1) for a == b) nor ``workbench.analysis.water_partial_rdfs``'s
(intermolecular pairs only), so it is written here, in numpy, frame by frame.

Keys name the pair by element symbols in ascending atomic number: water gives ``"HH"``,
``"HO"``, ``"OO"``, MDsim's names. The MAE is MDsim's ``mae(g, g_ref, xlim)``: the mean absolute
difference over the bins times r_max (6 Å), i.e. about the integral of |g - g_ref| dr in Å.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from itertools import combinations_with_replacement
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from kernels.observables.rdf import check_r_max
from workbench.benchmark.base import Metric, check_same_atoms, mdsim_mae, uniform_histogram
from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["R_MAX", "N_BINS", "PartialRDF", "RDFCounter", "species_pairs"]

R_MAX = 6.0
"""Å: MDsim's ``xlim`` for water RDFs."""
N_BINS = 500
"""MDsim's ``n_bins`` for water RDFs (bins ``np.linspace(1e-6, R_MAX, N_BINS + 1)``)."""


def species_pairs(numbers: np.ndarray) -> list[tuple[int, int]]:
    """Every unordered pair of the atomic numbers present, ascending: water ``[(1, 1), (1, 8),
    (8, 8)]``."""
    return list(combinations_with_replacement(sorted(set(int(z) for z in numbers)), 2))


def pair_name(pair: tuple[int, int]) -> str:
    return chemical_symbols[pair[0]] + chemical_symbols[pair[1]]


class RDFCounter:
    """Per-frame pair-distance histograms and MDsim's normalisation, for a fixed system.

    Args:
        numbers: ``[n_atoms]`` atomic numbers. box: ``[3]`` Å.
        pairs: atomic-number pairs (default ``species_pairs``). r_max: Å. n_bins: bins.

    Raises:
        ValueError: no box, or ``r_max`` beyond half the shortest box side.
    """

    def __init__(self, numbers: np.ndarray, box: np.ndarray | None,
                 pairs: list[tuple[int, int]] | None, r_max: float, n_bins: int) -> None:
        if box is None:
            raise ValueError("partial RDFs need a periodic box")
        check_r_max(r_max, box=box)
        self.box = np.asarray(box, dtype=np.float64)
        self.pairs = [tuple(sorted(p)) for p in (pairs or species_pairs(numbers))]
        self.names = [pair_name(p) for p in self.pairs]
        self.index = [(np.flatnonzero(numbers == a), np.flatnonzero(numbers == b))
                      for a, b in self.pairs]
        for name, (ia, ib) in zip(self.names, self.index, strict=True):
            if not ia.size or not ib.size:
                raise ValueError(f"no atoms for the pair {name}")
        self.edges = np.linspace(1e-6, r_max, n_bins + 1)
        self.r_centres = 0.5 * (self.edges[1:] + self.edges[:-1])
        shell = 4.0 / 3.0 * np.pi * (self.edges[1:] ** 3 - self.edges[:-1] ** 3)
        volume = float(np.prod(self.box))
        self.ideal = np.stack([ia.size * ib.size / volume * shell for ia, ib in self.index])

    def counts(self, positions: np.ndarray) -> np.ndarray:
        """``[n_pairs, n_bins]`` distance counts of one frame ``[n_atoms, 3]`` Å."""
        x = (positions / self.box % 1.0) * self.box
        out = np.empty((len(self.pairs), len(self.edges) - 1))
        for k, (ia, ib) in enumerate(self.index):
            delta = np.abs(x[ia][:, None, :] - x[ib][None, :, :])
            delta = np.where(delta > 0.5 * self.box, delta - self.box, delta)
            d = np.sqrt(np.einsum("ijk,ijk->ij", delta, delta))
            out[k] = uniform_histogram(d[d != 0], self.edges)
        return out

    def rdfs(self, counts: np.ndarray, n_frames: int) -> np.ndarray:
        """``[n_pairs, n_bins]`` g(r) from counts summed over ``n_frames`` frames."""
        return counts / (n_frames * self.ideal)


class PartialRDF(Metric):
    """Partial RDFs g_ab(r) of the frames before collapse and their MAE against the reference's
    (MDsim's water RDF metric; module docstring for the normalisation).

    Args:
        reference: a trajectory (``load_trajectory``) with a box; every frame counts (MDsim
            takes every 10th frame of its 0.01 ps reference, i.e. the run's 0.1 ps spacing).
        pairs: atomic-number pairs (default every pair of species present).
        r_max: Å (default 6, MDsim's). n_bins: default 500 (MDsim's).
        min_frames: fewer frames than this (MDsim: 10, 1 ps) and the metric is not available.

    ``run(trajectory, stability=RDFStability(...).run(trajectory).results)`` scores only the
    frames before the collapse (MDsim's ``traj[:collapse_pt]``).

    Results:
        ``r`` ``[n_bins]`` Å (bin centres), ``g`` and ``g_reference`` dicts of ``[n_bins]``
        curves keyed by pair name (``"OO"``...), ``mae`` dict of MDsim's MAE per pair (Å, the
        integral of |g - g_ref|), ``n_frames`` used, ``available``. Not available: ``mae``
        values ``inf`` and ``g`` None.

    Raises:
        ValueError: no box, r_max beyond half the box, atoms unlike the reference's.
    """

    def __init__(self, reference: Any, pairs: list[tuple[int, int]] | None = None,
                 r_max: float = R_MAX, n_bins: int = N_BINS, min_frames: int = 10) -> None:
        super().__init__()
        self.reference = load_trajectory(reference)
        self.counter = RDFCounter(self.reference.numbers, self.reference.box, pairs, r_max,
                                  n_bins)
        self.r_max, self.min_frames = float(r_max), int(min_frames)
        self.g_reference = reference_rdfs(self.counter, self.reference)

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)
        self._counts = np.zeros_like(self.counter.ideal)

    def _single_frame(self, k: int, positions: np.ndarray) -> None:
        self._counts += self.counter.counts(positions)

    def _conclude(self) -> None:
        n = len(self.frames)
        names = self.counter.names
        self.results.update(r=self.counter.r_centres, n_frames=n,
                            g_reference=dict(zip(names, self.g_reference, strict=True)))
        if n < self.min_frames or self.collapsed_at_start:
            self.results.update(available=False, g=None, mae=dict.fromkeys(names, np.inf))
            return
        g = self.counter.rdfs(self._counts, n)
        self.results.update(available=True, g=dict(zip(names, g, strict=True)),
                            mae={name: mdsim_mae(gk, gr, self.r_max) for name, gk, gr
                                 in zip(names, g, self.g_reference, strict=True)})


_REFERENCES: OrderedDict[tuple, np.ndarray] = OrderedDict()
_REFERENCES_LOCK = threading.Lock()
_REFERENCES_MAX = 8


def reference_rdfs(counter: RDFCounter, reference: Trajectory) -> np.ndarray:
    """``[n_pairs, n_bins]`` g(r) of every frame of ``reference`` pooled. Kept per content
    (positions, atoms, box) and histogram for the process, so the watch, the stability and the
    RDF metric of a benchmark cell count a reference once."""
    digest = hashlib.blake2b(np.ascontiguousarray(reference.positions).tobytes())
    digest.update(np.asarray(reference.numbers).tobytes())
    digest.update(np.asarray(counter.box).tobytes())
    key = (digest.hexdigest(), tuple(counter.pairs), counter.edges[-1], len(counter.edges))
    with _REFERENCES_LOCK:
        if key in _REFERENCES:
            _REFERENCES.move_to_end(key)
            return _REFERENCES[key]
    total = sum(counter.counts(p) for p in reference.positions)
    g = counter.rdfs(total, reference.n_frames)
    g.flags.writeable = False
    with _REFERENCES_LOCK:
        _REFERENCES[key] = g
        while len(_REFERENCES) > _REFERENCES_MAX:
            _REFERENCES.popitem(last=False)
    return g
