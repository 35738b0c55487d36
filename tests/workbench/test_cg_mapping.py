"""CGMapping (workbench.mapping): hand-made mappings of alanine dipeptide, Girvan-Newman on a
molecule of two fragments, JSON round trip, and the validation messages."""

import numpy as np
import pytest

from workbench.analysis import natural_bonds
from workbench.mapping import (
    CGMapping,
    alpha_carbon_mapping,
    girvan_newman_mapping,
    heavy_atom_mapping,
    residue_mapping,
    topology_labels,
)
from workbench.molecules import alanine_dipeptide


@pytest.fixture(scope="module")
def dipeptide():
    return alanine_dipeptide()


def test_alanine_dipeptide_mappings(dipeptide, tmp_path):
    mol = dipeptide
    labels = topology_labels(mol.topology)
    # ACE-ALA-NME: three residues; 10 heavy atoms (ACE: CH3 C O, ALA: N CA CB C O, NME: N C)
    by_residue = residue_mapping(labels.residue_index, mol.masses, labels.residue_names)
    assert by_residue.n_beads == 3 and by_residue.bead_names == ("ACE", "ALA", "NME")
    heavy = heavy_atom_mapping(mol.atomic_numbers, mol.bonds, mol.masses)
    assert heavy.n_beads == 10 and sorted(heavy.bead_names) == ["C"] * 6 + ["N"] * 2 + ["O"] * 2
    named = heavy_atom_mapping(mol.atomic_numbers, mol.bonds, mol.masses,
                               atom_names=labels.atom_names)
    assert named.bead_names == ("CH3", "C", "O", "N", "CA", "CB", "C", "O", "N", "C")
    assert named.assignment.tolist() == heavy.assignment.tolist()
    # residue beads at the residues' centres of mass (the definition, in numpy)
    c = by_residue.position_matrix()
    for bead, atoms in enumerate([np.flatnonzero(labels.residue_index == r) for r in range(3)]):
        com = mol.masses[atoms] @ mol.positions[atoms] / mol.masses[atoms].sum()
        np.testing.assert_allclose(c[bead] @ mol.positions, com, rtol=1e-12)
    # bead masses (Noid 2008): a centre of mass weighs its atoms' total; the C-alpha bead, which
    # carries the whole peptide (caps join ALA) in its force map, weighs one carbon
    np.testing.assert_allclose(by_residue.bead_masses().sum(), mol.masses.sum(), rtol=1e-12)
    ca = alpha_carbon_mapping(labels.residue_index, labels.atom_names, mol.masses,
                              labels.residue_names)
    assert ca.n_beads == 1 and ca.bead_names == ("ALA",)
    np.testing.assert_allclose(ca.bead_masses(), [mol.masses[labels.atom_names.index("CA")]])
    # every map is consistent in the MS-CG sense: d c^T = identity
    for m in (by_residue, heavy, ca):
        np.testing.assert_allclose(m.force_matrix() @ m.position_matrix().T, np.eye(m.n_beads),
                                   atol=1e-12)
        m.save(tmp_path / "map.json")
        back = CGMapping.load(tmp_path / "map.json")
        assert back.to_dict() == m.to_dict()
        np.testing.assert_array_equal(back.position_matrix(), m.position_matrix())
        np.testing.assert_array_equal(back.bead_masses(), m.bead_masses())


def test_girvan_newman_finds_the_two_fragments():
    # biphenyl: two phenyl rings joined by one bond, which carries every shortest path between
    # them and so has the highest betweenness; cutting it leaves the two C6H5 fragments
    from rdkit import Chem

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1-c1ccccc1"))
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    masses = np.array([a.GetMass() for a in mol.GetAtoms()])
    mapping = girvan_newman_mapping(mol.GetNumAtoms(), bonds, 2, masses)
    bridge = next(b for b in mol.GetBonds() if not b.IsInRing())
    rings = Chem.GetMolFrags(Chem.FragmentOnBonds(mol, [bridge.GetIdx()], addDummies=False))
    beads = [{int(mapping.assignment[a]) for a in ring} for ring in rings]
    assert mapping.n_beads == 2 and beads == [{0}, {1}]
    assert np.bincount(mapping.assignment).tolist() == [11, 11]  # C6H5 each

    # two molecules far apart (bonds from ASE's covalent radii): the fragments themselves
    from ase.build import molecule

    water, methane = molecule("H2O"), molecule("CH4")
    methane.translate([10.0, 0.0, 0.0])
    both = water + methane
    apart = girvan_newman_mapping(len(both), natural_bonds(both.numbers, both.positions), 2,
                                  both.get_masses())
    assert apart.assignment.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"assignment": [0, -1, 1], "masses": [1.0, 1.0, 1.0]}, "atom 1 is not assigned"),
    ({"assignment": [0, 0, 2], "masses": [1.0, 1.0, 1.0]}, "bead 1 is empty"),
    ({"assignment": [0, 1], "masses": [1.0, 1.0, 1.0]}, r"masses must be \[2\]"),
    ({"assignment": [[0.5, 0.4, 0.0], [0.0, 0.0, 1.0]], "masses": [1.0] * 3}, "sum to 0.9"),
    ({"assignment": [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], "masses": [1.0] * 3},
     "atom 1 is in beads"),
    ({"assignment": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "masses": [1.0] * 3},
     "atom 2 is not assigned"),
    ({"assignment": [0, 0, 1], "masses": [1.0] * 3, "bead_names": ["A"]}, "1 bead names"),
    ({"assignment": [0, 0, 1], "masses": [1.0] * 3, "position_mask": [True, True, False]},
     "bead 1 has no atom in the position map"),
    ({"assignment": [0, 0, 1], "masses": [1.0] * 3, "weights": "charge"},
     "weights must be 'mass' or 'geometric'"),
])
def test_invalid_mappings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CGMapping(**kwargs)
