"""``CGMapping``: which atoms form each coarse-grained bead, validated and stored as JSON, and
the hand-made and graph-based mappings.

A mapping gives the position map ``c [n_beads, n_atoms]`` (``R_I = sum_i c_Ii r_i``) and the
force map ``d [n_beads, n_atoms]`` (``F_I = sum_i d_Ii f_i``) of the multiscale
coarse-graining method (Noid et al., J. Chem. Phys. 128, 244114 (2008)); why this force map is
consistent with the position map is written in ``kernels.cg.mapping``. Every atom belongs to
exactly one bead (its ``assignment``); its position weight is its mass (centre of mass), 1
(centre of geometry), or 0 if it is left out of the position map (``position_mask``, e.g. every
atom but the C-alpha), and it always counts in the force map.

A mapping may instead be given as a weight matrix ``[n_beads, n_atoms]`` whose rows sum to 1,
with each atom's weight in one bead (non-negative; the force map is then the sum over each
bead's atoms with non-zero weight).

Factories (bonds ``[n_bonds, 2]`` from an OpenMM topology, ``MolecularSystem.bonds``, or from
ASE's covalent radii, ``workbench.analysis.natural_bonds``):

- ``identity_mapping``: one bead per atom;
- ``residue_mapping``: one bead per residue;
- ``heavy_atom_mapping``: each heavy atom with its bonded hydrogens;
- ``alpha_carbon_mapping``: a bead at each C-alpha, carrying its whole residue in the force map;
- ``girvan_newman_mapping``: Girvan-Newman communities of the bond graph (Girvan & Newman,
  PNAS 99, 7821 (2002), through networkx), cut at ``n_beads`` communities.

Beads with the same name share a bead type (and so the parameters of a CG potential).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workbench.io import atomic_write_text

FORMAT = "md-workbench CGMapping"
VERSION = 1
WEIGHTS = ("mass", "geometric", "matrix")
_TOL = 1e-6


class CGMapping:
    """Atoms to beads (module docstring).

    Args:
      assignment: ``[n_atoms]`` int bead index of every atom, or a ``[n_beads, n_atoms]``
        weight matrix (rows sum to 1, each atom in one bead).
      masses: ``[n_atoms]`` atom masses (mass units, > 0).
      weights: ``"mass"`` (centre of mass) or ``"geometric"`` (centre of geometry) with an
        index assignment; ``"matrix"`` (the default then) with a weight matrix.
      bead_names: ``n_beads`` names (bead types); default ``"B"`` for every bead.
      n_beads: number of beads of an index assignment (default: largest index + 1).
      position_mask: ``[n_atoms]`` bool, atoms that enter the position map (default all).

    Raises:
      ValueError: an atom not assigned (index < 0 or a zero matrix column) or in two beads, an
        empty bead, rows not summing to 1, negative or non-finite weights or masses, sizes that
        do not match.
    """

    def __init__(self, assignment, masses, *, weights: str | None = None,
                 bead_names: Sequence[str] | None = None, n_beads: int | None = None,
                 position_mask=None):
        a = np.asarray(assignment)
        self.masses = np.asarray(masses, dtype=np.float64)
        self.matrix: np.ndarray | None = None
        if a.ndim == 2:
            if weights not in (None, "matrix"):
                raise ValueError("a weight matrix sets the weights itself; got "
                                 f"weights={weights!r}")
            self.weights = "matrix"
            self.matrix = a.astype(np.float64)
            a = self._assignment_from_matrix(self.matrix, n_beads)
        elif a.ndim == 1:
            self.weights = "mass" if weights is None else weights
            if self.weights not in ("mass", "geometric"):
                raise ValueError(f"weights must be 'mass' or 'geometric', got {self.weights!r}")
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"assignment must be integer bead indices, got {a.dtype}")
        else:
            raise ValueError("assignment must be [n_atoms] bead indices or a [n_beads, n_atoms] "
                             f"weight matrix, got shape {a.shape}")
        self.assignment = a.astype(np.int64)
        n_beads = int(n_beads if n_beads is not None else
                      (len(self.matrix) if self.matrix is not None else a.max(initial=-1) + 1))
        self.n_beads = n_beads
        self.position_mask = None if position_mask is None else np.asarray(position_mask, bool)
        names = ["B"] * n_beads if bead_names is None else [str(x) for x in bead_names]
        self.bead_names = tuple(names)
        self._validate()

    @property
    def n_atoms(self) -> int:
        return int(self.assignment.size)

    def _assignment_from_matrix(self, c: np.ndarray, n_beads: int | None) -> np.ndarray:
        if n_beads is not None and c.shape[0] != n_beads:
            raise ValueError(f"the weight matrix has {c.shape[0]} rows for {n_beads} beads")
        if not np.all(np.isfinite(c)):
            raise ValueError("the weight matrix must be finite")
        if np.any(c < 0):
            raise ValueError("weights must be >= 0")
        nonzero = c != 0
        for bead in np.flatnonzero(~nonzero.any(axis=1)):
            raise ValueError(f"bead {bead} is empty (no atom has weight in it)")
        sums = c.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > _TOL)
        if bad.size:
            raise ValueError(f"the weights of bead {bad[0]} sum to {sums[bad[0]]:.6g}, not 1")
        per_atom = nonzero.sum(axis=0)
        if np.any(per_atom == 0):
            raise ValueError(f"atom {np.flatnonzero(per_atom == 0)[0]} is not assigned to a "
                             "bead (a zero column)")
        if np.any(per_atom > 1):
            i = np.flatnonzero(per_atom > 1)[0]
            raise ValueError(f"atom {i} is in beads {np.flatnonzero(nonzero[:, i]).tolist()}: "
                             "a consistent MS-CG map (Noid 2008) puts each atom in one bead")
        return np.argmax(nonzero, axis=0)

    def _validate(self) -> None:
        n = self.n_atoms
        if self.masses.shape != (n,):
            raise ValueError(f"masses must be [{n}] (one per atom), got {self.masses.shape}")
        if not np.all(np.isfinite(self.masses)) or np.any(self.masses <= 0):
            raise ValueError("masses must be finite and > 0")
        if len(self.bead_names) != self.n_beads:
            raise ValueError(f"{len(self.bead_names)} bead names for {self.n_beads} beads")
        if n == 0 or self.n_beads < 1:
            raise ValueError("a mapping needs at least one atom and one bead")
        unassigned = np.flatnonzero(self.assignment < 0)
        if unassigned.size:
            raise ValueError(f"atom {unassigned[0]} is not assigned to a bead "
                             f"(bead index {self.assignment[unassigned[0]]})")
        if self.assignment.max() >= self.n_beads:
            i = int(np.argmax(self.assignment))
            raise ValueError(f"atom {i} is assigned to bead {self.assignment[i]}, but there "
                             f"are {self.n_beads} beads")
        counts = np.bincount(self.assignment, minlength=self.n_beads)
        if np.any(counts == 0):
            raise ValueError(f"bead {np.flatnonzero(counts == 0)[0]} is empty (no atom "
                             "assigned)")
        if self.position_mask is not None:
            if self.matrix is not None:
                raise ValueError("a weight matrix already says which atoms enter the positions; "
                                 "give no position_mask")
            if self.position_mask.shape != (n,):
                raise ValueError(f"position_mask must be [{n}], got {self.position_mask.shape}")
            inside = np.bincount(self.assignment, weights=self.position_mask,
                                 minlength=self.n_beads)
            if np.any(inside == 0):
                raise ValueError(f"bead {np.flatnonzero(inside == 0)[0]} has no atom in the "
                                 "position map (position_mask)")

    def position_matrix(self) -> np.ndarray:
        """``c [n_beads, n_atoms]`` float64, rows summing to 1."""
        if self.matrix is not None:
            return self.matrix.copy()
        w = self.masses if self.weights == "mass" else np.ones(self.n_atoms)
        if self.position_mask is not None:
            w = w * self.position_mask
        c = np.zeros((self.n_beads, self.n_atoms))
        c[self.assignment, np.arange(self.n_atoms)] = w
        return c / c.sum(axis=1, keepdims=True)

    def force_matrix(self) -> np.ndarray:
        """``d [n_beads, n_atoms]`` float64: 1 where an atom belongs to a bead (the bead force is
        the sum of its atoms' forces; ``kernels.cg.mapping``)."""
        d = np.zeros((self.n_beads, self.n_atoms))
        d[self.assignment, np.arange(self.n_atoms)] = 1.0
        return d

    def bead_masses(self) -> np.ndarray:
        """``[n_beads]`` masses ``M_I = (sum_i c_Ii^2 / m_i)^-1`` that make the CG momenta
        consistent (Noid 2008); the total mass for a centre of mass (mass units)."""
        return 1.0 / np.sum(self.position_matrix() ** 2 / self.masses, axis=1)

    def bead_types(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """``(types [n_beads] int, names)``: bead types numbered by first appearance."""
        names = tuple(dict.fromkeys(self.bead_names))
        index = {name: k for k, name in enumerate(names)}
        return np.array([index[n] for n in self.bead_names], dtype=np.int64), names

    def cg_bonds(self, bonds: np.ndarray) -> np.ndarray:
        """``[n_cg_bonds, 2]`` bead pairs ``I < J`` joined by at least one of the atom
        ``bonds [n_bonds, 2]``."""
        b = self.assignment[np.asarray(bonds, dtype=np.int64).reshape(-1, 2)]
        b = np.sort(b[b[:, 0] != b[:, 1]], axis=1)
        return np.unique(b, axis=0).reshape(-1, 2)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "n_atoms": self.n_atoms,
                "n_beads": self.n_beads, "weights": self.weights,
                "assignment": self.assignment.tolist(), "masses": self.masses.tolist(),
                "bead_names": list(self.bead_names),
                "position_mask": None if self.position_mask is None else
                self.position_mask.tolist(),
                "matrix": None if self.matrix is None else self.matrix.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> CGMapping:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a CG mapping (format {d.get('format')!r})")
        if d.get("version") != VERSION:
            raise ValueError(f"CG mapping version {d.get('version')!r} is not {VERSION}")
        matrix = d.get("matrix")
        mapping = cls(matrix if matrix is not None else d["assignment"], d["masses"],
                      weights=d["weights"], bead_names=d["bead_names"], n_beads=d["n_beads"],
                      position_mask=d.get("position_mask"))
        if mapping.n_atoms != d["n_atoms"]:
            raise ValueError(f"the file says {d['n_atoms']} atoms, its assignment has "
                             f"{mapping.n_atoms}")
        return mapping

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> CGMapping:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        """Write the mapping as JSON (atomically: a temporary file, then ``os.replace``)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> CGMapping:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return (f"CGMapping({self.n_atoms} atoms -> {self.n_beads} beads, "
                f"weights={self.weights!r})")


class TopologyLabels(NamedTuple):
    """Per-atom labels of a topology: ``residue_index [n_atoms]`` int (0-based, in order),
    ``residue_names [n_residues]``, ``atom_names [n_atoms]``."""

    residue_index: np.ndarray
    residue_names: tuple[str, ...]
    atom_names: tuple[str, ...]


def topology_labels(topology) -> TopologyLabels:
    """Residues and atom names of an OpenMM ``Topology`` (or anything with ``atoms()`` whose
    atoms have ``name`` and ``residue`` with ``index`` and ``name``), without importing OpenMM."""
    atoms = list(topology.atoms())
    residues: dict[int, str] = {}
    for a in atoms:
        residues.setdefault(a.residue.index, a.residue.name)
    order = {r: k for k, r in enumerate(residues)}
    return TopologyLabels(np.array([order[a.residue.index] for a in atoms], dtype=np.int64),
                          tuple(residues.values()), tuple(a.name for a in atoms))


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels as bead indices 0.. in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def identity_mapping(masses, names: Sequence[str] | None = None) -> CGMapping:
    """One bead per atom (``names``: bead types, e.g. element symbols)."""
    masses = np.asarray(masses, float)
    return CGMapping(np.arange(masses.size), masses, bead_names=names)


def residue_mapping(residue_index, masses, residue_names: Sequence[str] | None = None,
                    weights: str = "mass") -> CGMapping:
    """One bead per residue, at its centre of mass (or geometry).

    Args:
      residue_index: ``[n_atoms]`` residue of each atom (``topology_labels``).
      masses: ``[n_atoms]`` (mass units).
      residue_names: name of each residue (indexed by ``residue_index``); the bead names.
    """
    residue_index = np.asarray(residue_index, np.int64)
    beads = _renumber(residue_index)
    names = None
    if residue_names is not None:
        first = [int(residue_index[np.flatnonzero(beads == b)[0]])
                 for b in range(beads.max() + 1)]
        names = [residue_names[r] for r in first]
    return CGMapping(beads, masses, weights=weights, bead_names=names)


def heavy_atom_mapping(atomic_numbers, bonds, masses, weights: str = "mass",
                       atom_names: Sequence[str] | None = None) -> CGMapping:
    """One bead per heavy (non-hydrogen) atom, with the hydrogens bonded to it; beads in the
    order of their heavy atoms, named by element (one bead type per element) or by the heavy
    atom's entry in ``atom_names`` (e.g. ``topology_labels(...).atom_names``: CA, CB, ...).

    Args:
      atomic_numbers: ``[n_atoms]`` int. bonds: ``[n_bonds, 2]`` atom pairs. masses:
        ``[n_atoms]`` (mass units).

    Raises:
      ValueError: a hydrogen bonded to no heavy atom, or to more than one.
    """
    from ase.data import chemical_symbols

    z = np.asarray(atomic_numbers, np.int64)
    heavy = np.flatnonzero(z > 1)
    bead_of = np.full(z.size, -1, np.int64)
    bead_of[heavy] = np.arange(heavy.size)
    for i, j in np.asarray(bonds, np.int64).reshape(-1, 2):
        for h, x in ((i, j), (j, i)):
            if z[h] == 1 and z[x] > 1:
                if bead_of[h] >= 0 and bead_of[h] != bead_of[x]:
                    raise ValueError(f"hydrogen {h} is bonded to two heavy atoms")
                bead_of[h] = bead_of[x]
    lone = np.flatnonzero(bead_of < 0)
    if lone.size:
        raise ValueError(f"hydrogen {lone[0]} is bonded to no heavy atom")
    names = [chemical_symbols[k] for k in z[heavy]] if atom_names is None else \
        [atom_names[i] for i in heavy]
    return CGMapping(bead_of, masses, weights=weights, bead_names=names)


def alpha_carbon_mapping(residue_index, atom_names: Sequence[str], masses,
                         residue_names: Sequence[str] | None = None,
                         ca_name: str = "CA") -> CGMapping:
    """A bead at each C-alpha (atom named ``ca_name``); every other atom of its residue counts
    in that bead's force map with zero position weight. Residues without a C-alpha (caps such as
    ACE and NME) join the nearest residue with one along the chain (the earlier one on a tie);
    take solvent out first (slice the atoms) for a solvent-free model.

    Args:
      residue_index: ``[n_atoms]`` residue of each atom; atom_names: ``n_atoms`` names;
      masses: ``[n_atoms]`` (mass units); residue_names: bead names (default ``"CA"``).

    Raises:
      ValueError: no C-alpha at all, or a residue with two.
    """
    residue_index = np.asarray(residue_index, np.int64)
    is_ca = np.array([n == ca_name for n in atom_names])
    ca_residues = residue_index[is_ca]
    if ca_residues.size == 0:
        raise ValueError(f"no atom is named {ca_name!r}")
    if np.unique(ca_residues).size != ca_residues.size:
        raise ValueError(f"a residue has two atoms named {ca_name!r}")
    order = np.argsort(ca_residues)
    ca_residues = ca_residues[order]
    distance = np.abs(residue_index[:, None] - ca_residues[None, :])
    beads = np.argmin(distance, axis=1)  # argmin takes the first (earlier) on a tie
    names = (["CA"] * ca_residues.size if residue_names is None else
             [residue_names[r] for r in ca_residues])
    return CGMapping(beads, masses, weights="mass", bead_names=names, position_mask=is_ca)


def girvan_newman_mapping(n_atoms: int, bonds, n_beads: int, masses,
                          weights: str = "mass") -> CGMapping:
    """Beads from Girvan-Newman community detection on the bond graph: edges of highest
    betweenness are removed until the graph splits into ``n_beads`` communities (networkx's
    ``girvan_newman``; Girvan & Newman, PNAS 99, 7821 (2002)). Beads are numbered by their
    lowest atom and named ``"G0", "G1", ...``. Cost grows as bonds^2 atoms: meant for one
    molecule, not a whole liquid.

    Args:
      n_atoms: atoms in the graph. bonds: ``[n_bonds, 2]``. n_beads: communities wanted.
      masses: ``[n_atoms]`` (mass units).

    Raises:
      ValueError: ``n_beads`` outside [number of connected fragments, n_atoms].
    """
    import networkx as nx
    from networkx.algorithms.community import girvan_newman

    graph = nx.Graph()
    graph.add_nodes_from(range(n_atoms))
    graph.add_edges_from(np.asarray(bonds, np.int64).reshape(-1, 2).tolist())
    n_fragments = nx.number_connected_components(graph)
    if not n_fragments <= n_beads <= n_atoms:
        raise ValueError(f"the number of beads must lie between {n_fragments} (the molecule's "
                         f"connected fragments) and {n_atoms} (its atoms), got {n_beads}")
    communities = list(nx.connected_components(graph))
    if n_fragments < n_beads:
        for communities in girvan_newman(graph):  # noqa: B007  (the last one is wanted)
            if len(communities) >= n_beads:
                break
    beads = np.empty(n_atoms, np.int64)
    for k, members in enumerate(sorted(communities, key=min)):
        beads[list(members)] = k
    return CGMapping(beads, masses, weights=weights,
                     bead_names=[f"G{k}" for k in range(len(communities))])
