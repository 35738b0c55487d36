"""The dataset format: validation, the .npz file (atomic, no pickle), selection, splits, ASE."""

import json
import os

import numpy as np
import pytest
from ase.data import atomic_masses

from workbench.data import Dataset


def _water_frames(n_frames=5, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    positions = pos + 0.05 * rng.standard_normal((n_frames, 3, 3))
    return Dataset(positions=positions, species=[8, 1, 1],
                   forces=rng.standard_normal((n_frames, 3, 3)),
                   energies=rng.standard_normal(n_frames), box=[10.0, 11.0, 12.0],
                   provenance={"generator": "test", "seed": seed})


def test_defaults_masses_from_ase_and_pbc_from_box():
    ds = _water_frames()
    assert len(ds) == 5 and ds.n_atoms == 3
    np.testing.assert_array_equal(ds.masses, atomic_masses[[8, 1, 1]])
    assert ds.pbc.tolist() == [True, True, True]
    assert ds.symbols == ["O", "H", "H"]


@pytest.mark.parametrize("change, message", [
    ({"positions": np.zeros((2, 3))}, "positions must have shape"),
    ({"forces": np.zeros((5, 3, 2))}, "forces must have the shape"),
    ({"energies": np.zeros((5, 1))}, "energies must have shape"),
    ({"species": [8, 1]}, "species must have shape"),
    ({"species": [8, 1, 0]}, "atomic numbers"),
    ({"box": [1.0, 2.0]}, "box must have shape"),
    ({"box": [1.0, -2.0, 3.0]}, "box side lengths"),
    ({"box": None, "pbc": True}, "needs a box"),
    ({"masses": [1.0, 0.0, 1.0]}, "every mass"),
    ({"units": "kcal"}, "units must be one of"),
    ({"provenance": {"x": object()}}, "JSON"),
])
def test_validation_errors(change, message):
    ds = _water_frames()
    fields = {k: getattr(ds, k) for k in ("positions", "species", "forces", "energies", "box",
                                          "provenance")}
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Dataset(**fields)


def test_non_finite_values_are_refused():
    ds = _water_frames()
    forces = ds.forces.copy()
    forces[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"forces contains NaN.*\(2, 1, 0\)"):
        Dataset(positions=ds.positions, species=ds.species, forces=forces)
    energies = ds.energies.copy()
    energies[0] = np.inf
    with pytest.raises(ValueError, match="energies contains NaN"):
        Dataset(positions=ds.positions, species=ds.species, energies=energies)


def test_lj_units_need_species_names():
    pos = np.random.default_rng(0).random((2, 4, 3))
    with pytest.raises(ValueError, match="species_names"):
        Dataset(positions=pos, species=[0, 0, 1, 1], units="lj")
    with pytest.raises(ValueError, match="type ids"):
        Dataset(positions=pos, species=[0, 0, 1, 2], units="lj", species_names=["A", "B"])
    ds = Dataset(positions=pos, species=[0, 0, 1, 1], units="lj", species_names=["A", "B"])
    np.testing.assert_array_equal(ds.masses, 1.0)
    assert ds.symbols == ["A", "A", "B", "B"]


def test_save_load_round_trip_without_pickle(tmp_path):
    ds = _water_frames()
    path = ds.save(tmp_path / "water.npz")
    assert sorted(os.listdir(tmp_path)) == ["water.npz"]  # no temporary files left behind
    with np.load(path, allow_pickle=False) as raw:
        assert set(raw.files) == {"positions", "species", "masses", "pbc", "forces", "energies",
                                  "box", "metadata"}
        meta = json.loads(str(raw["metadata"]))
    assert meta["format"] == "md-workbench-dataset" and meta["units"] == "ase"
    back = Dataset.load(path)
    for key in ("positions", "species", "forces", "energies", "box", "masses", "pbc"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ds, key))
    assert back.provenance == {"generator": "test", "seed": 0}


def test_load_refuses_other_files(tmp_path):
    np.savez(tmp_path / "plain.npz", positions=np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="plain.npz.*metadata"):
        Dataset.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "pickled.npz", positions=np.array([{"a": 1}], dtype=object),
             metadata=np.array("{}"))
    with pytest.raises(ValueError, match="pickled.npz"):
        Dataset.load(tmp_path / "pickled.npz")


def test_slicing_and_indexing():
    ds = _water_frames(6)
    one = ds[2]
    assert isinstance(one, Dataset) and len(one) == 1
    np.testing.assert_array_equal(one.positions[0], ds.positions[2])
    np.testing.assert_array_equal(ds[-1].energies, ds.energies[-1:])
    np.testing.assert_array_equal(ds[1:4].forces, ds.forces[1:4])
    np.testing.assert_array_equal(ds[[0, 5]].energies, ds.energies[[0, 5]])
    mask = ds.energies > 0
    assert len(ds[mask]) == mask.sum()
    with pytest.raises(IndexError):
        ds[6]


def test_per_frame_box_is_sliced_too():
    ds = _water_frames(4)
    boxes = np.array([[10.0, 10, 10], [11, 11, 11], [12, 12, 12], [13, 13, 13]])
    ds = Dataset(positions=ds.positions, species=ds.species, box=boxes)
    np.testing.assert_array_equal(ds[1:3].box, boxes[1:3])


def test_split_is_disjoint_complete_and_seeded():
    ds = _water_frames(20)
    train, val, test = ds.split((0.7, 0.2, 0.1), seed=3)
    assert (len(train), len(val), len(test)) == (14, 4, 2)
    all_e = np.concatenate([train.energies, val.energies, test.energies])
    np.testing.assert_array_equal(np.sort(all_e), np.sort(ds.energies))
    again = ds.split((0.7, 0.2, 0.1), seed=3)
    np.testing.assert_array_equal(again[0].energies, train.energies)
    other = ds.split((0.7, 0.2, 0.1), seed=4)
    assert not np.array_equal(other[0].energies, train.energies)
    a, b = ds.split((5, 3), shuffle=False)  # a time split by frame counts
    np.testing.assert_array_equal(a.energies, ds.energies[:5])
    np.testing.assert_array_equal(b.energies, ds.energies[5:8])
    with pytest.raises(ValueError, match="need 30 frames"):
        ds.split((25, 5))


def test_concatenate():
    ds = _water_frames(6)
    joined = Dataset.concatenate([ds[:2], ds[2:]])
    np.testing.assert_array_equal(joined.positions, ds.positions)
    np.testing.assert_array_equal(joined.energies, ds.energies)


def test_to_ase_carries_energies_forces_cell_and_masses():
    ds = _water_frames(3)
    images = ds.to_ase()
    assert len(images) == 3
    for i, atoms in enumerate(images):
        assert atoms.get_chemical_symbols() == ["O", "H", "H"]
        assert atoms.get_potential_energy() == pytest.approx(ds.energies[i])
        np.testing.assert_array_equal(atoms.get_forces(), ds.forces[i])
        np.testing.assert_array_equal(atoms.cell.lengths(), [10.0, 11.0, 12.0])
        np.testing.assert_array_equal(atoms.get_masses(), ds.masses)


def test_lj_to_ase_uses_dummy_atoms_with_names():
    pos = np.random.default_rng(0).random((1, 3, 3))
    ds = Dataset(positions=pos, species=[0, 1, 0], units="lj", species_names=["A", "B"],
                 box=[5.0, 5.0, 5.0])
    atoms = ds.to_ase()[0]
    assert atoms.get_chemical_symbols() == ["X", "X", "X"]
    assert list(atoms.get_array("species_name")) == ["A", "B", "A"]
    assert atoms.info["units"] == "lj"


def test_summary_mentions_size_and_units():
    text = _water_frames(3).summary()
    assert "3 frames x 3 atoms (O1 H2)" in text and "eV" in text
