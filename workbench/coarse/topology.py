"""The bonded topology of a CG model from its bead bond graph: angles and dihedrals as paths of
two and three bonds, impropers at branch points, the bead pairs left out of the non-bonded
term, and term types named by their bead types (read in the canonical direction, so that A-B
and B-A are one type).

Shapes: bonds ``[n_bonds, 2]``, angles ``[n_angles, 3]``, dihedrals and impropers ``[m, 4]``
bead indices; names ``[n_beads]`` bead type names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _neighbours(n_beads: int, bonds: np.ndarray) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n_beads)]
    for i, j in np.asarray(bonds, np.int64).reshape(-1, 2):
        out[int(i)].add(int(j))
        out[int(j)].add(int(i))
    return out


def bond_paths(n_beads: int, bonds: np.ndarray, length: int) -> np.ndarray:
    """``[m, length + 1]`` bead paths of ``length`` bonds without repeated beads, each once
    (the direction whose first bead is smaller): angles for 2, dihedrals for 3."""
    nb = _neighbours(n_beads, bonds)
    paths = [[i] for i in range(n_beads)]
    for _ in range(length):
        paths = [p + [j] for p in paths for j in sorted(nb[p[-1]]) if j not in p]
    return np.array([p for p in paths if p[0] < p[-1]], dtype=np.int64).reshape(-1, length + 1)


def branch_impropers(n_beads: int, bonds: np.ndarray) -> np.ndarray:
    """``[m, 4]``: (centre, its three lowest-numbered bonded neighbours) for every bead with at
    least three CG bonds, whose dihedral fixes the branch's handedness (chirality)."""
    nb = _neighbours(n_beads, bonds)
    rows = [[i, *sorted(nb[i])[:3]] for i in range(n_beads) if len(nb[i]) >= 3]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def excluded_pairs(n_beads: int, bonds: np.ndarray, n_bonds_apart: int) -> np.ndarray:
    """``[m, 2]`` bead pairs ``i < j`` at most ``n_bonds_apart`` bonds apart (0: none)."""
    pairs = [bond_paths(n_beads, bonds, k)[:, [0, -1]] for k in range(1, n_bonds_apart + 1)]
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(pairs), axis=0).reshape(-1, 2)


def term_types(indices: np.ndarray, names: Sequence[str], reverse: bool = True
               ) -> tuple[np.ndarray, list[str]]:
    """``(types [m] int, type names)`` of bonded terms: the bead type names along each term,
    joined by ``-`` in the lexically smaller of its two directions (in the given order for
    ``reverse=False``: impropers, whose first bead is the centre)."""
    labels = []
    for row in np.asarray(indices, np.int64):
        forward = [names[i] for i in row]
        labels.append("-".join(min(forward, forward[::-1]) if reverse else forward))
    unique = list(dict.fromkeys(labels))
    index = {label: k for k, label in enumerate(unique)}
    return np.array([index[x] for x in labels], dtype=np.int64), unique
