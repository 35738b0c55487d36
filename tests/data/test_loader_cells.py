"""Cells: slabs (``pbc="T T F"`` with a zero third vector), orthorhombic cells up to float32
round-off, permuted and negative-handed axes, and the refusals (triclinic, rotated), through
ASE files, MDAnalysis box dimensions and sGDML ``lattice`` arrays.

Expected boxes are the cell vectors' lengths written into each file; positions must come back
unchanged (a box is a set of lattice translations, which permuting or negating vectors keeps).
"""

import warnings

import ase.io
import numpy as np
import pytest
from ase import Atoms

from workbench.data import Dataset, load_dataset
from workbench.data.cells import cells_to_box

H2 = [[1.0, 1.2, 1.3], [1.0, 1.2, 2.04]]

# A cell as another ML-MD benchmark code writes it: float32 round-off off the diagonal
FLOAT32_CELL = np.array([[12.4, 5e-7, -2e-6], [1e-6, 12.4, 5e-7], [-2e-6, 1.5e-6, 12.4]])


def _slab_xyz(path, third="0.0 0.0 0.0"):
    with open(path, "w") as fh:
        for i in range(2):
            fh.write(f'2\nLattice="5.0 0.0 0.0 0.0 6.0 0.0 {third}" Properties=species:S:1:pos:R:3'
                     f':forces:R:3 energy={-3.5 - i} pbc="T T F"\n')
            fh.write("Pt 0.0 0.0 0.0 0.1 0.2 0.3\nO 0.0 0.0 2.0 -0.1 -0.2 -0.3\n")
    return path


# --- kind 3: partially periodic cells -------------------------------------------------------------
def test_slab_with_a_zero_third_vector_loads_with_a_free_z_axis(tmp_path):
    ds = load_dataset(_slab_xyz(tmp_path / "slab.xyz"))
    np.testing.assert_array_equal(ds.box, [5.0, 6.0, 0.0])
    assert ds.pbc.tolist() == [True, True, False]
    assert ds.boundary == "slab"
    np.testing.assert_array_equal(ds.energies, [-3.5, -4.5])
    text = ds.summary()
    assert "slab: periodic along x, y; free along z" in text
    with pytest.raises(ValueError, match=r"RDF supports fully periodic boxes .* and isolated "
                                         r"systems .* only; this dataset is a slab: periodic "
                                         r"along x, y; free along z"):
        ds.periodic_box("RDF")
    vacuum = load_dataset(_slab_xyz(tmp_path / "vacuum.xyz", third="0.0 0.0 30.0"))
    np.testing.assert_array_equal(vacuum.box, [5.0, 6.0, 30.0])  # kept, but not a period
    assert vacuum.pbc.tolist() == [True, True, False]


def test_slab_round_trips_through_save_load_and_ase(tmp_path):
    ds = load_dataset(_slab_xyz(tmp_path / "slab.xyz"))
    back = Dataset.load(ds.save(tmp_path / "slab.npz"))
    np.testing.assert_array_equal(back.box, ds.box)
    np.testing.assert_array_equal(back.pbc, ds.pbc)
    atoms = ds.to_ase()[0]
    assert atoms.pbc.tolist() == [True, True, False]
    np.testing.assert_array_equal(atoms.cell.lengths(), [5.0, 6.0, 0.0])
    ase.io.write(tmp_path / "again.xyz", ds.to_ase())
    again = load_dataset(tmp_path / "again.xyz")
    np.testing.assert_array_equal(again.box, ds.box)
    np.testing.assert_array_equal(again.pbc, ds.pbc)
    np.testing.assert_allclose(again.forces, ds.forces)


@pytest.mark.parametrize("box, pbc", [([5.0, 6.0, 0.0], [True, True, False]),
                                      ([5.0, 6.0, -1.0], [True, True, False]),
                                      ([5.0, 0.0, 0.0], [True, False, False]),
                                      ([0.0, 0.0, 0.0], [False, False, False])])
def test_any_box_value_is_accepted_along_a_free_axis(box, pbc):
    ds = Dataset(positions=np.array([H2]), species=[1, 1], box=box, pbc=pbc)
    assert ds.pbc.tolist() == pbc


def test_a_periodic_axis_still_needs_a_positive_side():
    with pytest.raises(ValueError, match=r"box side lengths must be > 0 along the periodic axes "
                                         r"\(pbc \[True, True, True\]\), got \[5.0, 6.0, 0.0\]"):
        Dataset(positions=np.array([H2]), species=[1, 1], box=[5.0, 6.0, 0.0])
    ds = Dataset(positions=np.array([H2]), species=[1, 1], box=[5.0, 6.0, 7.0])
    np.testing.assert_array_equal(ds.periodic_box(), [5.0, 6.0, 7.0])
    assert Dataset(positions=np.array([H2]), species=[1, 1]).periodic_box() is None


def test_concatenate_refuses_different_boundaries():
    a = Dataset(positions=np.array([H2]), species=[1, 1], box=[5.0, 6.0, 0.0],
                pbc=[True, True, False])
    b = Dataset(positions=np.array([H2]), species=[1, 1], box=[5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="pbc"):
        Dataset.concatenate([a, b])


def test_a_periodic_zero_vector_is_refused():
    with pytest.raises(ValueError, match=r"periodic along vector 3, but that vector is zero"):
        cells_to_box(np.diag([5.0, 6.0, 0.0]), [True, True, True])


# --- kind 4: orthorhombic up to round-off, permuted axes, refusals --------------------------------
def test_float32_round_off_cells_are_orthorhombic(tmp_path):
    atoms = Atoms("H2", positions=H2, cell=FLOAT32_CELL, pbc=True)
    angles = atoms.cell.angles()
    assert np.all(np.abs(angles - 90) < 2e-5) and np.any(angles != 90)
    ase.io.write(tmp_path / "benchmark.traj", [atoms, atoms])
    ds = load_dataset(tmp_path / "benchmark.traj")
    np.testing.assert_array_equal(ds.box, [12.4, 12.4, 12.4])
    np.testing.assert_array_equal(ds.positions[0], H2)


def test_an_angle_of_90_0000025_degrees_passes_and_half_a_degree_does_not():
    for gamma, ok in ((90.0000025, True), (90.5, False)):
        g = np.radians(gamma)
        cell = [[10.0, 0, 0], [10.0 * np.cos(g), 10.0 * np.sin(g), 0], [0, 0, 10.0]]
        if ok:
            np.testing.assert_allclose(cells_to_box(cell, [True] * 3)[0], 10.0, rtol=1e-12)
        else:
            with pytest.raises(ValueError, match=r"non-orthorhombic cell.*gamma=90.5000000"):
                cells_to_box(cell, [True] * 3)


@pytest.mark.parametrize("cell, pbc, box, pbc_xyz", [
    # vectors along y, z, x: the box sides are the x, y, z extents
    ([[0, 5.0, 0], [0, 0, 6.0], [7.0, 0, 0]], [True] * 3, [7.0, 5.0, 6.0], [True] * 3),
    # and a per-vector pbc follows its vector to its axis
    ([[0, 5.0, 0], [0, 0, 6.0], [7.0, 0, 0]], [True, False, True], [7.0, 5.0, 6.0],
     [True, True, False]),
    # negative-handed: -z spans the same lattice as +z
    ([[8.0, 0, 0], [0, 9.0, 0], [0, 0, -10.0]], [True] * 3, [8.0, 9.0, 10.0], [True] * 3),
    ([[0, -9.0, 0], [8.0, 0, 0], [0, 0, 10.0]], [True] * 3, [8.0, 9.0, 10.0], [True] * 3),
])
def test_permuted_and_negative_axes(tmp_path, cell, pbc, box, pbc_xyz):
    atoms = Atoms("H2", positions=H2, cell=cell, pbc=pbc)
    ase.io.write(tmp_path / "perm.traj", atoms)
    ds = load_dataset(tmp_path / "perm.traj")
    np.testing.assert_array_equal(ds.box, box)
    assert ds.pbc.tolist() == pbc_xyz
    np.testing.assert_array_equal(ds.positions[0], H2)  # Cartesian positions are kept


def test_triclinic_and_rotated_cells_are_refused_with_the_cell_and_its_angles(tmp_path):
    atoms = Atoms("H2", positions=H2, cell=[10.0, 11.0, 12.0, 90.0, 90.0, 100.0], pbc=True)
    ase.io.write(tmp_path / "tri.traj", atoms)
    with pytest.raises(ValueError, match=r"tri.traj: non-orthorhombic cell \(cell vectors \(rows, "
                                         r"Å\) \[\[10, 0, 0\].*gamma=100.0000000 degrees"):
        load_dataset(tmp_path / "tri.traj")
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    atoms = Atoms("H2", positions=H2, cell=[[10 * c, 10 * s, 0], [-10 * s, 10 * c, 0],
                                            [0, 0, 10]], pbc=True)
    ase.io.write(tmp_path / "rot.traj", atoms)
    with pytest.raises(ValueError, match=r"rot.traj: the periodic cell vectors are at right "
                                         r"angles but not along x, y and z.*gamma=90.0000000.*"
                                         r"rotate positions and forces"):
        load_dataset(tmp_path / "rot.traj")


def test_a_free_axis_may_carry_any_cell_vector():
    cell = [[5.0, 0, 0], [0, 6.0, 0], [0.5, 0.3, 20.0]]  # tilted vacuum vector of a slab
    box, pbc = cells_to_box(cell, [True, True, False])
    np.testing.assert_array_equal(box, [5.0, 6.0, 20.0])
    assert pbc.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="non-orthorhombic"):
        cells_to_box(cell, [True, True, True])


def test_sgdml_lattice_columns_permuted_and_float32(tmp_path):
    rng = np.random.default_rng(0)
    R, F = rng.random((2, 2, 3)), rng.random((2, 2, 3))
    path = tmp_path / "lattice.npz"
    lattice = FLOAT32_CELL.T[:, [1, 2, 0]]  # vectors as columns, along y, z, x
    np.savez(path, R=R, E=[0.0, 1.0], F=F, z=[1, 1], e_unit=np.array("eV"),
             r_unit=np.array("Ang"), lattice=lattice)
    ds = load_dataset(path)
    np.testing.assert_array_equal(ds.box, [12.4, 12.4, 12.4])
    assert ds.pbc.tolist() == [True, True, True]
    np.savez(path, R=R, E=[0.0, 1.0], F=F, z=[1, 1], e_unit=np.array("eV"),
             r_unit=np.array("Ang"), lattice=[[10.0, 1.0, 0], [0, 10.0, 0], [0, 0, 10.0]])
    with pytest.raises(ValueError, match=r"lattice.npz: lattice \(3, 3\).*non-orthorhombic.*"
                                         r"gamma=84.2894"):
        load_dataset(path)


def _dcd(tmp_path, dims):
    import MDAnalysis as mda

    atoms = Atoms("H2", positions=H2)
    pdb = tmp_path / "h2.pdb"
    ase.io.write(pdb, atoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(pdb))
        with mda.Writer(str(tmp_path / "h2.dcd"), n_atoms=2) as w:
            for d in dims:
                u.dimensions = d
                w.write(u.atoms)
    return tmp_path / "h2.dcd", pdb


@pytest.mark.parametrize("dims, box, pbc", [
    ([20.0, 21.0, 22.0, 90.0, 90.0, 90.0000025], [20.0, 21.0, 22.0], [True] * 3),
    ([20.0, 21.0, 0.0, 90.0, 90.0, 90.0], [20.0, 21.0, 0.0], [True, True, False]),
])
def test_mdanalysis_boxes(tmp_path, dims, box, pbc):
    traj, pdb = _dcd(tmp_path, [dims, dims])
    ds = load_dataset(traj, topology=pdb)
    np.testing.assert_allclose(ds.box, box, rtol=1e-6)
    assert ds.pbc.tolist() == pbc


def test_mdanalysis_refusals_show_the_box(tmp_path):
    traj, pdb = _dcd(tmp_path, [[20.0, 21.0, 22.0, 90.0, 90.0, 100.0]])
    with pytest.raises(ValueError, match=r"h2.dcd: box dimensions \[a, b, c, alpha, beta, gamma\]"
                                         r" = \[20.0, 21.0, 22.0, 90.0, 90.0, 100.0\]: "
                                         r"non-orthorhombic.*gamma=100.0000000"):
        load_dataset(traj, topology=pdb)
    traj, pdb = _dcd(tmp_path, [[20.0, 21.0, 22.0, 90.0, 90.0, 90.0], [0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"frame 1 has no box, frame 0 box dimensions"):
        load_dataset(traj, topology=pdb)
