"""Per-frame analysis for live views and notebooks, in numpy (a few ms per frame, no
compilation; ``workbench.live`` runs them as a simulation goes): molecules made whole across the
periodic boundary for display, a fluid's g(r), backbone dihedrals, water partial RDFs, and which
observable suits a system.

The estimators are the kernel's (``kernels.observables.molecular``); these are numpy twins for
one frame at a time, checked against them in ``tests/workbench/test_molecular_simulation.py``:

- ``phi_psi_degrees``: IUPAC dihedrals of the quads from ``ForceField.phi_psi_indices`` (minimum
  image when periodic), like ``molecular.phi_psi``;
- ``pair_rdf``: g(r) of one frame, normalised as ASE's ``ase.geometry.rdf.get_rdf`` (density
  N / V; the kernel's ``rdf_histogram`` uses (N - 1) / V), from a sample of reference atoms;
- ``water_partial_rdfs``: intermolecular g_OO, g_OH, g_HH with the normalisation of
  ``molecular.water_rdfs(..., exclude_pairs=intramolecular pairs)``;
- ``natural_bonds``, ``bond_lengths``: covalent-radius bonds of a frame (ASE's
  ``natural_cutoffs``, as MDsim) and their lengths, for the stability watch of ``Simulation``
  and the benchmark's molecule stability.

Shapes: positions ``[n_atoms, 3]``, box ``[3]`` or None (free space), bonds ``[n_bonds, 2]``.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from kernels.observables.rdf import check_r_max


def _minimum_image(d: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    return d if box is None else d - box * np.round(d / box)


def unwrap(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``[n_frames, n_atoms, 3]`` continuous positions of a trajectory wrapped in an
    orthorhombic ``box`` ``[3]``: minimum-image steps between frames, summed (valid while no
    atom moves half a box between frames); frame 0 as given. The numpy twin of
    ``kernels.observables.dynamics.unwrap`` for analysis of stored frames."""
    steps = _minimum_image(np.diff(positions, axis=0), np.asarray(box, float))
    return np.concatenate([positions[:1], positions[:1] + np.cumsum(steps, axis=0)])


def natural_bonds(numbers: np.ndarray, positions: np.ndarray, box: np.ndarray | None = None
                  ) -> np.ndarray:
    """``[n_bonds, 2]`` atom pairs i < j closer than the sum of their ASE ``natural_cutoffs``
    (covalent radii) in one frame (``positions [n_atoms, 3]`` Å, ``numbers [n_atoms]``; minimum
    image in ``box [3]`` Å): the bonds of MDsim's molecule stability criterion."""
    from ase import Atoms
    from ase.neighborlist import NeighborList, natural_cutoffs

    atoms = Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions),
                  cell=None if box is None else np.asarray(box), pbc=box is not None)
    nl = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=False)
    nl.update(atoms)
    i, j = nl.get_connectivity_matrix(sparse=False).nonzero()
    bonds = np.unique(np.sort(np.stack([i, j], axis=1), axis=1), axis=0)
    return bonds.reshape(-1, 2).astype(np.int64)


def bond_lengths(positions: np.ndarray, bonds: np.ndarray, box: np.ndarray | None = None
                 ) -> np.ndarray:
    """``[..., n_bonds]`` lengths of ``bonds [n_bonds, 2]`` in ``positions [..., n_atoms, 3]``
    (minimum image when there is a ``box``, as MDsim's ``distance_pbc``). One Cartesian
    component at a time on contiguous copies: the same numbers as gathering ``[..., n_bonds, 3]``
    displacements, five times faster for a molecule's frames."""
    box = None if box is None else np.asarray(box, dtype=float)
    squared = 0.0
    for k, c in enumerate(np.ascontiguousarray(np.moveaxis(positions, -1, 0))):
        d = c[..., bonds[:, 1]] - c[..., bonds[:, 0]]
        squared = squared + (d if box is None else d - box[k] * np.round(d / box[k])) ** 2
    return np.sqrt(squared)


def molecule_ids(n_atoms: int, bonds: np.ndarray | None) -> np.ndarray:
    """``[n_atoms]`` int: the connected component (molecule) of each atom, numbered in order of
    first atom."""
    parent = np.arange(n_atoms)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if bonds is not None:
        for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
            a, b = root(int(i)), root(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = np.array([root(i) for i in range(n_atoms)])
    _, ids = np.unique(roots, return_inverse=True)
    return ids.astype(np.int64)


class WholePlan(NamedTuple):
    """Breadth-first walk over the bonds of every molecule: ``levels[k] = (parents, children)``
    index arrays; each child is placed at the minimum image of its parent."""

    levels: tuple[tuple[np.ndarray, np.ndarray], ...]


def whole_plan(n_atoms: int, bonds: np.ndarray | None) -> WholePlan:
    """The walk that ``make_whole`` follows (compute once per system)."""
    neighbours: list[list[int]] = [[] for _ in range(n_atoms)]
    if bonds is not None:
        for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
            neighbours[int(i)].append(int(j))
            neighbours[int(j)].append(int(i))
    depth = np.full(n_atoms, -1)
    parent = np.full(n_atoms, -1)
    for start in range(n_atoms):
        if depth[start] >= 0:
            continue
        depth[start] = 0
        queue = deque([start])
        while queue:
            i = queue.popleft()
            for j in neighbours[i]:
                if depth[j] < 0:
                    depth[j], parent[j] = depth[i] + 1, i
                    queue.append(j)
    levels = []
    for k in range(1, int(depth.max(initial=0)) + 1):
        children = np.flatnonzero(depth == k)
        levels.append((parent[children], children))
    return WholePlan(tuple(levels))


def make_whole(R: np.ndarray, box: np.ndarray | None, plan: WholePlan) -> np.ndarray:
    """Positions ``[n_atoms, 3]`` with every molecule whole: each bonded atom moved to the
    periodic image nearest its parent in ``plan`` (the first atom of each molecule stays where
    it is). Without a box, ``R`` is returned unchanged."""
    if box is None or not plan.levels:
        return R
    R = np.array(R, dtype=np.float32, copy=True)
    box = np.asarray(box, dtype=np.float32)
    for parents, children in plan.levels:
        R[children] = R[parents] + _minimum_image(R[children] - R[parents], box)
    return R


def dihedrals_degrees(R: np.ndarray, quads: np.ndarray, box: np.ndarray | None = None
                      ) -> np.ndarray:
    """IUPAC dihedral angles (degrees, in (-180, 180]) of ``quads`` ``[m, 4]`` in one frame
    ``[n_atoms, 3]`` or many ``[n_frames, n_atoms, 3]``; returns ``[m]`` or ``[n_frames, m]``."""
    R = np.asarray(R, dtype=np.float64)
    q = np.asarray(quads, dtype=np.int64).reshape(-1, 4)
    b1 = _minimum_image(R[..., q[:, 1], :] - R[..., q[:, 0], :], box)
    b2 = _minimum_image(R[..., q[:, 2], :] - R[..., q[:, 1], :], box)
    b3 = _minimum_image(R[..., q[:, 3], :] - R[..., q[:, 2], :], box)
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    y = np.linalg.norm(b2, axis=-1) * np.sum(b1 * n2, axis=-1)
    return np.degrees(np.arctan2(y, np.sum(n1 * n2, axis=-1)))


def phi_psi_degrees(R: np.ndarray, indices: np.ndarray, box: np.ndarray | None = None
                    ) -> np.ndarray:
    """Backbone (phi, psi) in degrees: ``indices`` ``[m, 2, 4]`` (``ForceField.phi_psi_indices``);
    returns ``[..., m, 2]`` for positions ``[..., n_atoms, 3]``."""
    idx = np.asarray(indices, dtype=np.int64)
    angles = dihedrals_degrees(R, idx.reshape(-1, 4), box)
    return angles.reshape(*angles.shape[:-1], *idx.shape[:-1])


def free_energy_surface(phi_deg: np.ndarray, psi_deg: np.ndarray, n_bins: int = 36
                        ) -> np.ndarray:
    """F(phi, psi) / kT = -ln P on ``n_bins`` x ``n_bins`` equal bins of [-180, 180) degrees
    (first index phi), minimum 0, NaN where no sample fell (the kernel's
    ``molecular.ramachandran`` in numpy, with NaN for its +inf)."""
    edges = np.linspace(-180.0, 180.0, n_bins + 1)
    wrap = lambda a: np.mod(np.asarray(a, float).ravel() + 180.0, 360.0) - 180.0
    counts, _, _ = np.histogram2d(wrap(phi_deg), wrap(psi_deg), bins=[edges, edges])
    with np.errstate(divide="ignore"):
        f = -np.log(counts / max(counts.sum(), 1))
    f[counts == 0] = np.nan
    return f - np.nanmin(f) if np.any(counts) else f


def pair_rdf(R: np.ndarray, box: np.ndarray, r_max: float, n_bins: int,
             max_atoms: int | None = 128) -> dict[str, np.ndarray]:
    """g(r) ``[n_bins]`` of one periodic frame ``[n_atoms, 3]`` (histogram on [0, r_max),
    minimum image; ``r_max`` at most half the shortest box side), and ``r`` the bin centres, in
    the length unit of ``R``. Distances are taken from about ``max_atoms`` evenly spaced
    reference atoms to every atom (all atoms when None) and normalised by the density N / V as
    ASE's ``get_rdf``, so the cost stays a few ms a frame (all 1,000 atoms of an LJ frame took
    45 ms); averaging over frames makes up for the smaller sample."""
    check_r_max(r_max, box=box)
    n = len(R)
    R = np.asarray(R, np.float32)
    box = np.asarray(box, np.float32)
    ref = R if max_atoms is None else R[:: max(1, -(-n // max_atoms))]
    d = _minimum_image(ref[:, None, :] - R[None, :, :], box)
    r = np.linalg.norm(d, axis=-1).ravel()
    counts, _ = np.histogram(r[(r > 1e-9) & (r < r_max)], bins=n_bins, range=(0, r_max))
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return {"r": 0.5 * (edges[1:] + edges[:-1]),
            "g": counts / (len(ref) * shell * n / float(np.prod(box)))}


def water_partial_rdfs(R: np.ndarray, box: np.ndarray, is_oxygen: np.ndarray,
                       molecule: np.ndarray, r_max: float, n_bins: int) -> dict[str, np.ndarray]:
    """Intermolecular g_OO, g_OH, g_HH ``[n_bins]`` of one frame (histogram on [0, r_max),
    minimum image), and ``r`` the bin centres. Pairs within one molecule are left out of the
    counts with the normalisation unchanged, as ``molecular.water_rdfs`` with
    ``exclude_pairs``."""
    check_r_max(r_max, box=box)
    R = np.asarray(R, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    o = np.flatnonzero(is_oxygen)
    h = np.flatnonzero(~np.asarray(is_oxygen, bool))
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    volume = float(np.prod(box))
    out = {"r": 0.5 * (edges[1:] + edges[:-1])}
    for key, a, b, n_pairs, same in (("OO", o, o, len(o) * (len(o) - 1) / 2, True),
                                     ("OH", o, h, len(o) * len(h), False),
                                     ("HH", h, h, len(h) * (len(h) - 1) / 2, True)):
        d = np.linalg.norm(_minimum_image(R[a][:, None] - R[b][None], box), axis=-1)
        keep = molecule[a][:, None] != molecule[b][None]
        if same:
            keep &= np.triu(np.ones(keep.shape, bool), 1)
        counts, _ = np.histogram(d[keep], bins=edges)
        out[key] = counts / (max(n_pairs, 1) / volume * shell)
    return out


def observable_kind(system) -> str:
    """Which structural observable suits ``system``: ``"ramachandran"`` (a peptide backbone),
    ``"water_rdfs"`` (periodic water: only O and H), ``"rdf"`` (a fluid's g(r), also any other
    periodic learned system) or ``"none"``."""
    if system.forcefield is not None or system.model is not None:
        if system.forcefield is not None and len(system.forcefield.phi_psi_indices()):
            return "ramachandran"
        if system.periodic and set(system.species_names) == {"O", "H"}:
            return "water_rdfs"
        return "rdf" if system.model is not None and system.periodic else "none"
    return "rdf"
