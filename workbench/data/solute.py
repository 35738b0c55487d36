"""The solute of a solvated, periodic dataset: its largest molecule, made whole across the box.

A molecule in water (alanine dipeptide in TIP3P, or any trajectory with forces from another
code) is coarse-grained without its solvent: the beads are the solute's, and the forces on the
solute's atoms already contain the solvent's average push, which is what multiscale coarse
graining of an implicit-solvent model matches (Noid et al., J. Chem. Phys. 128, 244114
(2008)). ``solute(dataset)`` finds the molecules from covalent radii on the first frame
(``workbench.analysis.natural_bonds``, minimum image), keeps the largest, and unwraps it in
every frame along its bonds, so that it is whole wherever the box cut it.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from workbench.analysis import natural_bonds
from workbench.data.dataset import Dataset

__all__ = ["solute"]


def solute(dataset: Dataset) -> tuple[Dataset, np.ndarray]:
    """``(molecule, atoms)``: the largest molecule of ``dataset`` as a dataset in free space
    (positions unwrapped, forces as given; energies dropped, as they include the solvent) and
    its atom indices ``[n_solute]`` in the original.

    Raises:
      ValueError: no box, or no molecule larger than every other (e.g. pure water).
    """
    if dataset.box is None:
        raise ValueError("the dataset has no periodic box: there is no solvent to take away")
    box = np.asarray(dataset.box, float).reshape(-1, 3)[0]
    n = dataset.n_atoms
    bonds = natural_bonds(dataset.species, dataset.positions[0], box)
    graph = coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])), shape=(n, n))
    n_mol, label = connected_components(graph, directed=False)
    sizes = np.bincount(label, minlength=n_mol)
    order = np.argsort(sizes)[::-1]
    if n_mol > 1 and sizes[order[0]] == sizes[order[1]]:
        raise ValueError(f"no molecule stands out as the solute: the largest has "
                         f"{sizes[order[0]]} atoms and so does another (a pure liquid?)")
    atoms = np.flatnonzero(label == order[0])
    visit, parent = breadth_first_order(graph, atoms[0], directed=False)
    R = np.array(dataset.positions)
    for child in visit[1:]:  # each atom placed next to the one it is bonded to
        d = R[:, child] - R[:, parent[child]]
        R[:, child] = R[:, parent[child]] + d - box * np.round(d / box)
    molecule = Dataset(positions=R[:, atoms], species=dataset.species[atoms],
                       forces=None if dataset.forces is None else dataset.forces[:, atoms],
                       masses=None if dataset.masses is None else dataset.masses[atoms],
                       units=dataset.units, species_names=dataset.species_names,
                       provenance={**dataset.provenance,
                                   "solute": {"atoms": atoms.tolist(), "of": n}})
    return molecule, atoms
