"""Loaders: real files written with numpy, ASE and MDAnalysis writers, read back; the errors."""

import warnings

import ase.io
import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from workbench.data import Dataset, load_dataset
from workbench.data.loaders import LoaderWarning

KCAL_MOL_IN_EV = 0.0433641  # 1 kcal/mol in eV (CODATA 2018), an independent check of ase.units


def _ethanol_md17(n=4, seed=0):
    rng = np.random.default_rng(seed)
    base = molecule("CH3CH2OH")
    R = base.positions + 0.05 * rng.standard_normal((n, len(base), 3))
    F = rng.standard_normal((n, len(base), 3)) * 30.0  # kcal/mol/Å
    E = -97000.0 + rng.standard_normal((n, 1))  # kcal/mol, shaped [n, 1] as in MD17
    return R, F, E, base.numbers


def test_ase_kcal_per_mol_agrees_with_codata():
    assert units.kcal / units.mol == pytest.approx(KCAL_MOL_IN_EV, rel=1e-5)


def test_md17_npz_converted_to_ev(tmp_path):
    R, F, E, z = _ethanol_md17()
    path = tmp_path / "ethanol_dft.npz"
    np.savez(path, R=R, F=F, E=E, z=z, name=np.array("ethanol"), theory=np.array("PBE+vdW-TS"))
    with pytest.warns(LoaderWarning, match="assumed energies in kcal/mol"):  # MD17 declares none
        ds = load_dataset(path)
    factor = units.kcal / units.mol
    np.testing.assert_array_equal(ds.positions, R)
    np.testing.assert_allclose(ds.energies, E[:, 0] * factor, rtol=1e-12)
    np.testing.assert_allclose(ds.forces, F * factor, rtol=1e-12)
    np.testing.assert_allclose(ds.energies, E[:, 0] * KCAL_MOL_IN_EV, rtol=1e-5)
    np.testing.assert_array_equal(ds.species, z)
    assert ds.units == "ase" and ds.box is None
    assert ds.provenance["energy_unit_in_file"] == "kcal/mol"
    assert ds.provenance["energy_factor_to_eV"] == pytest.approx(factor)


@pytest.mark.filterwarnings("ignore::workbench.data.loaders.LoaderWarning")
def test_rmd17_keys_and_energy_unit_override(tmp_path):
    R, F, E, z = _ethanol_md17()
    path = tmp_path / "rmd17_ethanol.npz"
    np.savez(path, coords=R, forces=F, energies=E[:, 0], nuclear_charges=z,
             old_indices=np.arange(len(R)))
    ds = load_dataset(path)
    np.testing.assert_allclose(ds.energies, E[:, 0] * units.kcal / units.mol, rtol=1e-12)
    as_ev = load_dataset(path, energy_unit="eV")
    np.testing.assert_array_equal(as_ev.energies, E[:, 0])
    np.testing.assert_array_equal(as_ev.forces, F)
    as_kj = load_dataset(path, format="md17", energy_unit="kJ/mol")
    np.testing.assert_allclose(as_kj.energies, E[:, 0] * units.kJ / units.mol, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown energy unit"):
        load_dataset(path, energy_unit="cal")


@pytest.mark.parametrize("arrays, message", [
    (lambda R, F, E, z: {"R": R, "F": F, "z": z}, r"no energies array.*\['E', 'energies'\]"),
    (lambda R, F, E, z: {"R": R, "F": F[:-1], "E": E, "z": z}, "frame counts disagree"),
    (lambda R, F, E, z: {"R": R, "F": F, "E": E, "z": z[:-1]}, "species must have shape"),
    (lambda R, F, E, z: {"R": np.where(R > 1.2, np.nan, R), "F": F, "E": E, "z": z},
     "positions contains NaN"),
    (lambda R, F, E, z: {"R": R, "F": F, "E": np.full_like(E, np.inf), "z": z},
     "energies contains NaN or infinity"),
    (lambda R, F, E, z: {"R": R, "F": F, "E": E[:, :, None], "z": z}, "energies must have"),
])
@pytest.mark.filterwarnings("ignore::workbench.data.loaders.LoaderWarning")
def test_malformed_md17_files(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays(*_ethanol_md17()))
    with pytest.raises(ValueError, match=message) as err:
        load_dataset(path)
    assert "bad.npz" in str(err.value)


def test_pickled_arrays_are_never_loaded(tmp_path):
    R, F, E, z = _ethanol_md17()
    obj = tmp_path / "objects.npz"
    np.savez(obj, R=np.array(list(R) + [None], dtype=object), F=F, E=E, z=z)
    with pytest.raises(ValueError, match="objects.npz.*pickled"):
        load_dataset(obj)
    # MDsim ships water.npy as a pickled dict; renamed to .npz it must not be unpickled
    npy = tmp_path / "water.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.array({"R": R}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="water.npz.*not a readable .npz"):
        load_dataset(npy)


def test_unrecognised_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz.*neither"):
        load_dataset(tmp_path / "other.npz")
    (tmp_path / "data.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        load_dataset(tmp_path / "data.csv")
    with pytest.raises(ValueError, match="no such file"):
        load_dataset(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="unknown format"):
        load_dataset(tmp_path / "data.csv", format="pdb")


def test_workbench_npz(tmp_path):
    R, F, E, z = _ethanol_md17()
    ds = Dataset(positions=R, species=z, forces=F, energies=E[:, 0],
                 provenance={"generator": "test"})
    ds.save(tmp_path / "mine.npz")
    back = load_dataset(tmp_path / "mine.npz")
    np.testing.assert_array_equal(back.forces, F)
    assert back.provenance == {"generator": "test"}


def _frames_with_results(n=3):
    rng = np.random.default_rng(1)
    images = []
    for _ in range(n):
        atoms = molecule("H2O", cell=[8.0, 9.0, 10.0], pbc=True)
        atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()),
                                           forces=rng.standard_normal((3, 3)))
        images.append(atoms)
    return images


@pytest.mark.parametrize("name, fmt", [("water.xyz", "extxyz"), ("water.traj", "traj")])
def test_ase_formats(tmp_path, name, fmt):
    images = _frames_with_results()
    ase.io.write(tmp_path / name, images, format=fmt)
    ds = load_dataset(tmp_path / name)
    assert ds.provenance["format"] == fmt
    np.testing.assert_allclose(ds.positions, [a.positions for a in images], atol=1e-8)
    np.testing.assert_allclose(ds.energies, [a.get_potential_energy() for a in images])
    np.testing.assert_allclose(ds.forces, [a.get_forces() for a in images], atol=1e-8)
    np.testing.assert_array_equal(ds.box, [8.0, 9.0, 10.0])
    assert ds.species.tolist() == [8, 1, 1]


def test_extxyz_energy_in_info_and_forces_in_arrays(tmp_path):
    path = tmp_path / "plain.extxyz"
    rng = np.random.default_rng(2)
    forces = rng.standard_normal((2, 3, 3))
    with open(path, "w") as fh:
        for i in range(2):
            fh.write("3\n")
            fh.write(f'Properties=species:S:1:pos:R:3:forces:R:3 energy={-10.0 - i} pbc="F F F"\n')
            for s, r, f in zip("OHH", molecule("H2O").positions, forces[i], strict=True):
                fh.write(f"{s} {r[0]} {r[1]} {r[2]} {f[0]} {f[1]} {f[2]}\n")
    ds = load_dataset(path)
    np.testing.assert_allclose(ds.energies, [-10.0, -11.0])
    np.testing.assert_allclose(ds.forces, forces)
    assert ds.box is None
    # a NaN force is named as such, not taken for a second candidate field (NaN != NaN)
    text = path.read_text().splitlines()
    text[2] = " ".join(text[2].split()[:-1] + ["nan"])
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match="forces contains NaN"):
        load_dataset(path)


def test_ase_frames_must_be_one_system(tmp_path):
    images = [molecule("H2O"), molecule("CH4")]
    ase.io.write(tmp_path / "mixed.xyz", images, format="extxyz")
    with pytest.raises(ValueError, match="mixed.xyz.*frame 1 has different atoms"):
        load_dataset(tmp_path / "mixed.xyz")
    images = _frames_with_results(2)
    images[1].calc = None
    ase.io.write(tmp_path / "partial.xyz", images, format="extxyz")
    with pytest.raises(ValueError, match=r"partial.xyz.*energies are given for 1 of 2"):
        load_dataset(tmp_path / "partial.xyz")


def test_workbench_lj_extxyz_loads_in_lj_units(tmp_path):
    from workbench.io import write_extxyz

    pos = np.random.default_rng(0).random((2, 3, 3)) * 4
    write_extxyz(tmp_path / "lj.extxyz", pos, ["A", "B", "A"], [4.0, 4.0, 4.0])
    ds = load_dataset(tmp_path / "lj.extxyz")
    assert ds.units == "lj" and ds.species_names == ["A", "B"]
    np.testing.assert_allclose(ds.positions, pos)


def _pdb_and_trajectory(tmp_path, fmt, n_frames=3, box=(20.0, 21.0, 22.0)):
    """A PDB written by ASE, and an XTC/DCD written by MDAnalysis from a Universe on it."""
    import MDAnalysis as mda

    atoms = molecule("CH3CH2OH")
    atoms.positions += 5.0
    atoms.cell, atoms.pbc = list(box), True
    pdb = tmp_path / "ethanol.pdb"
    ase.io.write(pdb, atoms)
    rng = np.random.default_rng(3)
    frames = atoms.positions + 0.1 * rng.standard_normal((n_frames, len(atoms), 3))
    traj = tmp_path / f"ethanol.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(pdb))
        with mda.Writer(str(traj), n_atoms=len(atoms)) as w:
            for f in frames:
                u.atoms.positions = f
                u.dimensions = [*box, 90.0, 90.0, 90.0]
                w.write(u.atoms)
    return atoms, pdb, traj, frames


@pytest.mark.parametrize("fmt, atol", [("xtc", 6e-3), ("dcd", 1e-4)])  # XTC keeps 0.001 nm
def test_xtc_dcd_with_topology(tmp_path, fmt, atol):
    atoms, pdb, traj, frames = _pdb_and_trajectory(tmp_path, fmt)
    ds = load_dataset(traj, topology=pdb)
    assert len(ds) == 3 and ds.forces is None and ds.energies is None
    np.testing.assert_allclose(ds.positions, frames, atol=atol)
    np.testing.assert_array_equal(ds.species, atoms.numbers)
    np.testing.assert_allclose(ds.box, [20.0, 21.0, 22.0], atol=1e-3)
    assert ds.provenance["topology"] == str(pdb)


def test_trajectory_topology_mismatch(tmp_path):
    _, _, traj, _ = _pdb_and_trajectory(tmp_path, "xtc")
    small = tmp_path / "water.pdb"
    ase.io.write(small, Atoms("OH2", positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match="ethanol.xtc.*water.pdb") as err:
        load_dataset(traj, topology=small)
    assert "atoms" in str(err.value).lower()
    with pytest.raises(ValueError, match="pass topology="):
        load_dataset(traj)
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(traj, topology=tmp_path / "nothing.pdb")
