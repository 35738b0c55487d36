"""DeePMD-kit npy folders: round trip of arrays written here, agreement with dpdata (the
reference reader) where installed, parent folders of systems, and the errors for malformed
folders."""

from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data.deepmd import load_deepmd
from workbench.data.loaders import load_dataset

TYPES = np.array([0, 1, 1, 0, 1, 1])  # two waters
NAMES = ["O", "H"]


def _frames(n, seed, box=(9.0, 10.0, 11.0)):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0.0, 8.0, (n, TYPES.size, 3))
    forces = rng.normal(size=(n, TYPES.size, 3))
    energies = rng.normal(-400.0, 1.0, n)
    cells = np.broadcast_to(np.diag(box), (n, 3, 3)).copy()
    return coords, forces, energies, cells


def write_system(folder: Path, coords, forces, energies, cells, set_size=3, type_map=True,
                 nopbc=False):
    """The DeePMD layout as DeePMD-kit documents it (float64 arrays, sets of set_size)."""
    folder.mkdir(parents=True)
    np.savetxt(folder / "type.raw", TYPES, fmt="%d")
    if type_map:
        (folder / "type_map.raw").write_text("\n".join(NAMES) + "\n")
    if nopbc:
        (folder / "nopbc").write_text("")
    n = coords.shape[0]
    for k, start in enumerate(range(0, n, set_size)):
        s = folder / f"set.{k:03d}"
        s.mkdir()
        sl = slice(start, start + set_size)
        np.save(s / "coord.npy", coords[sl].reshape(-1, TYPES.size * 3))
        np.save(s / "force.npy", forces[sl].reshape(-1, TYPES.size * 3))
        np.save(s / "energy.npy", energies[sl])
        if not nopbc:
            np.save(s / "box.npy", cells[sl].reshape(-1, 9))


def test_round_trip_of_written_arrays(tmp_path):
    coords, forces, energies, cells = _frames(7, 0)
    write_system(tmp_path / "sys", coords, forces, energies, cells)
    ds = load_dataset(tmp_path / "sys")
    # exact: float64 written, float64 read, no unit conversion (DeePMD is Å, eV, eV/Å)
    np.testing.assert_array_equal(ds.positions, coords)
    np.testing.assert_array_equal(ds.forces, forces)
    np.testing.assert_array_equal(ds.energies, energies)
    np.testing.assert_array_equal(ds.box, [9.0, 10.0, 11.0])
    assert ds.pbc.all() and ds.species.tolist() == [8, 1, 1, 8, 1, 1]
    assert ds.provenance["format"] == "deepmd" and ds.provenance["type_map"] == NAMES


def test_agrees_with_dpdata(tmp_path):
    dpdata = pytest.importorskip("dpdata")
    coords, forces, energies, cells = _frames(5, 1)
    write_system(tmp_path / "sys", coords, forces, energies, cells, set_size=2)
    ref = dpdata.LabeledSystem(str(tmp_path / "sys"), fmt="deepmd/npy")
    ds = load_deepmd(tmp_path / "sys")
    names = np.array(ref["atom_names"])[ref["atom_types"]]
    assert ds.symbols == names.tolist()
    np.testing.assert_array_equal(ds.positions, ref["coords"])
    np.testing.assert_array_equal(ds.forces, ref["forces"])
    np.testing.assert_array_equal(ds.energies, ref["energies"])
    np.testing.assert_array_equal(np.broadcast_to(ds.box, (5, 3)),
                                  np.diagonal(ref["cells"], axis1=1, axis2=2))


def test_nopbc_and_type_map_argument(tmp_path):
    coords, forces, energies, cells = _frames(4, 2)
    write_system(tmp_path / "sys", coords, forces, energies, cells, type_map=False, nopbc=True)
    with pytest.raises(ValueError, match="no type_map.raw; pass type_map"):
        load_dataset(tmp_path / "sys")
    ds = load_dataset(tmp_path / "sys", type_map=["O", "H"])
    assert ds.box is None and not ds.pbc.any() and ds.boundary == "isolated"
    with pytest.raises(ValueError, match="element symbols"):
        load_dataset(tmp_path / "sys", type_map=["Type_0", "Type_1"])


def test_parent_folder_concatenates_systems(tmp_path):
    a, b = _frames(4, 3), _frames(2, 4)
    write_system(tmp_path / "all" / "run1", *a)
    write_system(tmp_path / "all" / "run2", *b)
    ds = load_dataset(tmp_path / "all")
    assert ds.n_frames == 6
    np.testing.assert_array_equal(ds.positions, np.concatenate([a[0], b[0]]))
    assert len(ds.provenance["systems"]) == 2


def test_parent_folder_refuses_different_atoms(tmp_path):
    write_system(tmp_path / "all" / "run1", *_frames(2, 5))
    other = tmp_path / "all" / "run2"
    write_system(other, *_frames(2, 6))
    np.savetxt(other / "type.raw", TYPES[::-1], fmt="%d")
    with pytest.raises(ValueError, match="differ; a dataset holds one system"):
        load_dataset(tmp_path / "all")


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "set.000" / "coord.npy").unlink(), "coord.npy is missing"),
    (lambda d: np.save(d / "set.000" / "energy.npy", np.zeros(2)), "2 frames, but coord.npy"),
    (lambda d: np.save(d / "set.000" / "force.npy", np.zeros((3, 5))), r"expected shape"),
    (lambda d: (d / "set.001" / "energy.npy").unlink(), "energy.npy is in 1 of the 2 sets"),
    (lambda d: (d / "set.000" / "box.npy").unlink(), "box.npy is missing"),
    (lambda d: np.save(d / "set.000" / "box.npy",
                       np.tile([9.0, 1.0, 0, 0, 10.0, 0, 0, 0, 11.0], (3, 1))),
     "only orthorhombic cells are supported"),
    (lambda d: (d / "type.raw").write_text("0 1 x\n"), "type.raw"),
    (lambda d: (d / "set.000" / "coord.npy").write_bytes(b"junk"), "cannot be read|not a"),
])
def test_malformed_folders(tmp_path, damage, match):
    write_system(tmp_path / "sys", *_frames(6, 7))
    damage(tmp_path / "sys")
    with pytest.raises(ValueError, match=match):
        load_dataset(tmp_path / "sys")


def test_empty_folder_and_other_arrays(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no type.raw"):
        load_dataset(tmp_path / "empty")
    write_system(tmp_path / "sys", *_frames(3, 8))
    np.save(tmp_path / "sys" / "set.000" / "virial.npy", np.zeros((3, 9)))
    with pytest.warns(UserWarning, match="not loaded: virial.npy"):
        ds = load_dataset(tmp_path / "sys")
    assert ds.provenance["not_loaded"] == ["virial.npy"]


def test_data_info_reads_a_folder(tmp_path, capsys):
    write_system(tmp_path / "sys", *_frames(3, 9), type_map=False)
    assert main(["data", "info", str(tmp_path / "sys"), "--type-map", "O,H"]) == 0
    assert "3 frames x 6 atoms" in capsys.readouterr().out
