"""Units that files declare (sGDML ``e_unit`` / ``r_unit``, ``lattice``), units assumed when they
do not (MD17's kcal/mol, with a warning), overrides, and MD17 ``z`` stored per frame.

Expected factors are CODATA 2018 values typed in here, an independent check of ``ase.units``
(which uses CODATA 2014; the two agree to ~1e-8): 1 kcal/mol = 0.0433641 eV,
1 kJ/mol = 0.01036427 eV, 1 Hartree = 27.211386 eV, 1 bohr = 0.529177 Å.
"""

import warnings

import ase.io
import numpy as np
import pytest
from ase import units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from workbench.data import Dataset, load_dataset
from workbench.data.loaders import LoaderWarning

KCAL_MOL = 0.0433641  # eV
KJ_MOL = 0.01036427  # eV
HARTREE = 27.211386  # eV
BOHR = 0.529177  # Å


def _frames(n=2, n_atoms=2, seed=0):
    rng = np.random.default_rng(seed)
    R = rng.random((n, n_atoms, 3)) * 3.0
    F = rng.standard_normal((n, n_atoms, 3))
    return R, F


def test_declared_ev_and_angstrom_are_kept_as_they_are(tmp_path):
    # the example of the issue: an sGDML-style file in eV and Å gave [-1.375, -1.374]
    R, F = _frames()
    path = tmp_path / "h2_ev.npz"
    np.savez(path, R=R, E=[-31.70, -31.69], F=F, z=[1, 1], e_unit=np.array("eV"),
             r_unit=np.array("Ang"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoaderWarning)  # nothing was assumed
        ds = load_dataset(path)
    np.testing.assert_array_equal(ds.energies, [-31.70, -31.69])
    np.testing.assert_array_equal(ds.forces, F)
    np.testing.assert_array_equal(ds.positions, R)
    assert ds.provenance["energy_unit_in_file"] == "eV"
    assert ds.provenance["energy_unit_source"] == "declared in the file as e_unit"
    assert ds.provenance["length_unit_in_file"] == "Å"


@pytest.mark.parametrize("e_unit, e_factor", [
    ("eV", 1.0), ("kcal/mol", KCAL_MOL), ("kcal mol-1", KCAL_MOL), ("kcal mol^-1", KCAL_MOL),
    ("kJ/mol", KJ_MOL), ("kJ mol-1", KJ_MOL), ("Hartree", HARTREE), ("Ha", HARTREE),
    ("hartree", HARTREE), (b"kcal/mol", KCAL_MOL),
])
@pytest.mark.parametrize("r_unit, r_factor", [
    ("Ang", 1.0), ("Å", 1.0), ("angstrom", 1.0), ("bohr", BOHR), ("Bohr", BOHR), ("nm", 10.0),
])
def test_declared_units_convert_energies_forces_and_positions(tmp_path, e_unit, e_factor, r_unit,
                                                             r_factor):
    R, F = _frames()
    E = np.array([-97.1, -97.3])
    path = tmp_path / "declared.npz"
    np.savez(path, R=R, E=E, F=F, z=[1, 1], e_unit=np.array(e_unit), r_unit=np.array(r_unit))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoaderWarning)
        ds = load_dataset(path)
    np.testing.assert_allclose(ds.energies, E * e_factor, rtol=2e-6)
    np.testing.assert_allclose(ds.positions, R * r_factor, rtol=2e-6)
    np.testing.assert_allclose(ds.forces, F * e_factor / r_factor, rtol=4e-6)  # energy / length


def test_sgdml_lattice_is_converted_and_makes_the_dataset_periodic(tmp_path):
    R, F = _frames()
    path = tmp_path / "periodic.npz"
    np.savez(path, R=R, E=[-1.0, -1.1], F=F, z=[1, 1], e_unit=np.array("Hartree"),
             r_unit=np.array("bohr"), lattice=np.diag([20.0, 21.0, 22.0]))
    ds = load_dataset(path)
    np.testing.assert_allclose(ds.box, np.array([20.0, 21.0, 22.0]) * BOHR, rtol=2e-6)
    assert ds.pbc.tolist() == [True, True, True]
    np.testing.assert_allclose(ds.energies, [-HARTREE, -1.1 * HARTREE], rtol=2e-7)


def test_undeclared_units_are_assumed_md17_with_a_warning_and_can_be_overridden(tmp_path):
    R, F = _frames()
    E = np.array([-31.70, -31.69])
    path = tmp_path / "mdsim_md17.npz"  # MDsim re-saves MD17 in eV without saying so
    np.savez(path, R=R, E=E, F=F, z=[1, 1])
    with pytest.warns(LoaderWarning, match=r"declares no e_unit / r_unit.*kcal/mol.*energy_unit="):
        ds = load_dataset(path)
    np.testing.assert_allclose(ds.energies, E * KCAL_MOL, rtol=2e-6)  # the MD17 convention
    assert ds.provenance["energy_unit_source"].startswith("assumed")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoaderWarning)
        as_ev = load_dataset(path, energy_unit="eV", length_unit="Å")
    np.testing.assert_array_equal(as_ev.energies, E)
    np.testing.assert_array_equal(as_ev.forces, F)
    assert as_ev.provenance["energy_unit_source"] == "argument energy_unit"
    with pytest.warns(LoaderWarning, match=r"declares no r_unit; assumed positions in Å"):
        load_dataset(path, energy_unit="eV")  # the length is still an assumption
    in_bohr = load_dataset(path, energy_unit="Hartree", length_unit="bohr")
    np.testing.assert_allclose(in_bohr.forces, F * HARTREE / BOHR, rtol=4e-6)


def test_an_argument_overrides_a_declared_unit_with_a_warning(tmp_path):
    R, F = _frames()
    path = tmp_path / "kcal.npz"
    np.savez(path, R=R, E=[1.0, 2.0], F=F, z=[1, 1], e_unit=np.array("kcal/mol"),
             r_unit=np.array("Ang"))
    with pytest.warns(LoaderWarning, match=r"declares e_unit='kcal/mol'.*energy_unit='eV'"):
        ds = load_dataset(path, energy_unit="eV")
    np.testing.assert_array_equal(ds.energies, [1.0, 2.0])
    assert "overriding e_unit='kcal/mol'" in ds.provenance["energy_unit_source"]
    with warnings.catch_warnings():  # the same unit spelled differently is no contradiction
        warnings.simplefilter("error", LoaderWarning)
        load_dataset(path, energy_unit="kcal mol-1", length_unit="angstrom")


def test_unknown_units_are_errors_naming_them_and_the_known_ones(tmp_path):
    R, F = _frames()
    path = tmp_path / "odd.npz"
    np.savez(path, R=R, E=[1.0, 2.0], F=F, z=[1, 1], e_unit=np.array("Ry/atom"),
             r_unit=np.array("Ang"))
    with pytest.raises(ValueError, match=r"odd.npz.*e_unit='Ry/atom'.*known: eV.*kcal/mol"):
        load_dataset(path)
    np.savez(path, R=R, E=[1.0, 2.0], F=F, z=[1, 1], e_unit=np.array("eV"),
             r_unit=np.array("furlong"))
    with pytest.raises(ValueError, match=r"unknown length unit 'furlong'; known: Å.*bohr"):
        load_dataset(path)
    np.savez(path, R=R, E=[1.0, 2.0], F=F, z=[1, 1])
    with pytest.raises(ValueError, match="unknown energy unit 'cal'"):
        load_dataset(path, energy_unit="cal")


def _xyz_frames(tmp_path, n=2):
    rng = np.random.default_rng(4)
    images = []
    for _ in range(n):
        atoms = molecule("H2O", cell=[8.0, 9.0, 10.0], pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()),
                                           forces=rng.standard_normal((3, 3)))
        images.append(atoms)
    return images


def test_ase_formats_read_ev_and_angstrom_unless_told_or_declared(tmp_path):
    images = _xyz_frames(tmp_path)
    path = tmp_path / "water.xyz"
    ase.io.write(path, images, format="extxyz")
    energies = np.array([a.get_potential_energy() for a in images])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoaderWarning)  # ASE's convention: no warning
        ds = load_dataset(path)
    np.testing.assert_allclose(ds.energies, energies)  # as written (eV)
    assert ds.provenance["energy_unit_source"] == "assumed: the ASE convention"
    ha = load_dataset(path, energy_unit="Ha")
    np.testing.assert_allclose(ha.energies, ds.energies * HARTREE, rtol=2e-7)
    np.testing.assert_allclose(ha.forces, ds.forces * HARTREE, rtol=2e-7)
    np.testing.assert_allclose(ha.positions, ds.positions)
    for atoms in images:  # a unit declared in the comment line is honoured
        atoms.info["e_unit"], atoms.info["r_unit"] = "kcal/mol", "bohr"
    ase.io.write(path, images, format="extxyz")
    declared = load_dataset(path)
    np.testing.assert_allclose(declared.energies, ds.energies * KCAL_MOL, rtol=2e-6)
    np.testing.assert_allclose(declared.forces, ds.forces * KCAL_MOL / BOHR, rtol=4e-6)
    np.testing.assert_allclose(declared.box, np.array([8.0, 9.0, 10.0]) * BOHR, rtol=2e-6)


def test_unit_options_are_refused_where_they_do_not_apply(tmp_path):
    R, F = _frames()
    ds = Dataset(positions=R, species=[1, 1], energies=[1.0, 2.0], forces=F)
    ds.save(tmp_path / "mine.npz")
    with pytest.raises(ValueError, match="declares its own units"):
        load_dataset(tmp_path / "mine.npz", energy_unit="eV")
    (tmp_path / "t.xtc").write_bytes(b"")
    with pytest.raises(ValueError, match="length_unit do not apply to XTC"):
        load_dataset(tmp_path / "t.xtc", length_unit="nm")


def test_ase_units_agree_with_codata():
    assert units.kcal / units.mol == pytest.approx(KCAL_MOL, rel=2e-6)
    assert units.kJ / units.mol == pytest.approx(KJ_MOL, rel=2e-6)
    assert units.Hartree == pytest.approx(HARTREE, rel=2e-7)
    assert units.Bohr == pytest.approx(BOHR, rel=2e-6)


# --- kind 5: MD17 z stored per frame, and shape errors that show the shapes as stored ---------
def test_z_stored_per_frame_with_equal_rows_is_accepted(tmp_path):
    R, F = _frames(n=3, n_atoms=3)
    path = tmp_path / "z_per_frame.npz"
    np.savez(path, R=R, E=np.zeros(3), F=F, z=np.tile([8, 1, 1], (3, 1)), e_unit=np.array("eV"),
             r_unit=np.array("Ang"))
    ds = load_dataset(path)
    assert ds.species.tolist() == [8, 1, 1]
    assert "all rows equal" in ds.provenance["species_stored"]


def test_z_rows_that_differ_are_an_error(tmp_path):
    R, F = _frames(n=3, n_atoms=3)
    z = np.tile([8, 1, 1], (3, 1))
    z[2] = [1, 8, 1]
    path = tmp_path / "z_differ.npz"
    np.savez(path, R=R, E=np.zeros(3), F=F, z=z, e_unit=np.array("eV"), r_unit=np.array("Ang"))
    with pytest.raises(ValueError, match=r"z_differ.npz.*shape \(3, 3\).*differ between frame 0 "
                                         r"and frame 2"):
        load_dataset(path)


@pytest.mark.parametrize("z, shown", [
    ([8, 1], r"z \(2,\)"),                      # too few atoms
    (np.tile([8, 1], (3, 1)), r"z \(3, 2\)"),   # per frame, and too few atoms
    (np.zeros((3, 3, 1), int) + 1, r"z \(3, 3, 1\)"),
])
def test_species_shape_errors_show_the_shapes_in_the_file(tmp_path, z, shown):
    R, F = _frames(n=3, n_atoms=3)
    path = tmp_path / "bad_z.npz"
    np.savez(path, R=R, E=np.zeros((3, 1)), F=F, z=z, e_unit=np.array("eV"),
             r_unit=np.array("Ang"))
    with pytest.raises(ValueError, match=rf"bad_z.npz.*R \(3, 3, 3\), F \(3, 3, 3\), E \(3, 1\), "
                                         rf"{shown}"):
        load_dataset(path)
