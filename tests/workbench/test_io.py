"""Tests for workbench.io (atomic writes, npz without pickle, extxyz through ASE, thermo CSV) and
workbench.paths (folders from environment variables)."""

import csv
import json
import os
from pathlib import Path

import ase.io
import numpy as np
import pytest

from workbench import io, paths


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- paths -----------------------------------------------------------------------------------


def test_home_follows_mdwb_home(tmp_path):
    # conftest points MDWB_HOME at tmp_path / "mdwb-home".
    assert paths.home() == tmp_path / "mdwb-home"
    assert paths.runs_dir().is_dir()
    assert paths.runs_dir().parent == paths.home()


def test_xdg_fallbacks(tmp_path, monkeypatch):
    monkeypatch.delenv("MDWB_HOME")
    monkeypatch.delenv("MDWB_CACHE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.home() == tmp_path / "data" / "md-workbench"
    assert paths.cache_dir() == tmp_path / "cache" / "md-workbench"
    assert paths.cache_dir().is_dir()
    monkeypatch.setenv("MDWB_CACHE", str(tmp_path / "jaxcache"))
    assert paths.cache_dir() == tmp_path / "jaxcache"


# -- atomic JSON and text --------------------------------------------------------------------


def test_atomic_json_round_trip_with_numpy(tmp_path):
    path = tmp_path / "sub" / "config.json"
    obj = {
        "b_int": np.int64(3),
        "a_float": np.float32(0.5),
        "flag": np.bool_(True),
        "array": np.arange(4).reshape(2, 2),
        "nested": {"kT": 1.5, "path": Path("x/y")},
    }
    io.atomic_write_json(path, obj)
    text = path.read_text()
    assert text.index('"a_float"') < text.index('"b_int"')  # sort_keys
    assert json.loads(text) == {
        "a_float": 0.5,
        "array": [[0, 1], [2, 3]],
        "b_int": 3,
        "flag": True,
        "nested": {"kT": 1.5, "path": "x/y"},
    }
    assert io.read_json(path) == json.loads(text)
    assert _leftovers(path.parent) == []


def test_atomic_write_failure_keeps_old_file_and_no_temp(tmp_path):
    path = tmp_path / "metrics.json"
    io.atomic_write_json(path, {"old": 1})
    with pytest.raises(TypeError):
        io.atomic_write_json(path, {"new": object()})
    assert io.read_json(path) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_atomic_write_text_replaces(tmp_path):
    path = tmp_path / "notes.txt"
    io.atomic_write_text(path, "one")
    io.atomic_write_text(path, "two ✓")
    assert path.read_text(encoding="utf-8") == "two ✓"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_read_json_names_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        io.read_json(bad)


# -- npz -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["arrays.npz", "arrays", "arrays.bin"])
def test_npz_round_trip_keeps_exact_name(tmp_path, name):
    path = tmp_path / name
    rng = np.random.default_rng(0)
    arrays = {"R": rng.normal(size=(5, 3)), "species": np.arange(5, dtype=np.int32)}
    io.atomic_save_npz(path, **arrays)
    assert os.listdir(tmp_path) == [name]  # numpy did not append ".npz"
    loaded = io.load_npz(path)
    assert set(loaded) == {"R", "species"}
    np.testing.assert_array_equal(loaded["R"], arrays["R"])
    assert loaded["species"].dtype == np.int32


def test_save_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError, match="object"):
        io.atomic_save_npz(tmp_path / "x.npz", a=np.array([{"a": 1}], dtype=object))
    assert os.listdir(tmp_path) == []


def test_load_npz_rejects_pickled_object_array_in_npz(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}, None], dtype=object))  # pickled inside
    with pytest.raises(ValueError, match="evil.npz"):
        io.load_npz(path)


def test_load_npz_rejects_pickled_npy(tmp_path):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="evil.npz"):
        io.load_npz(path)


def test_load_npz_rejects_plain_npy_missing_and_corrupt(tmp_path):
    npy = tmp_path / "single.npy"
    np.save(npy, np.arange(3))
    with pytest.raises(ValueError, match="single.npy"):
        io.load_npz(npy)
    with pytest.raises(ValueError, match="missing.npz"):
        io.load_npz(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    io.atomic_save_npz(corrupt, a=np.arange(1000))
    corrupt.write_bytes(corrupt.read_bytes()[:50])
    with pytest.raises(ValueError, match="corrupt.npz"):
        io.load_npz(corrupt)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="text.npz"):
        io.load_npz(text)


# -- extxyz ----------------------------------------------------------------------------------


def test_extxyz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    n_frames, n = 3, 4
    frames = rng.uniform(0.0, 10.0, size=(n_frames, n, 3))
    cell = np.array([10.0, 11.0, 12.0])
    info = [{"step": 100 * i, "time_fs": np.float64(0.5 * i), "note": "ok"} for i in range(3)]
    vel = rng.normal(size=(n_frames, n, 3))
    path = tmp_path / "traj.extxyz"
    io.write_extxyz(
        path, frames, ["Ar", "Ar", "Kr", "Ar"], cell, info_per_frame=info, velocities=vel
    )
    assert _leftovers(tmp_path) == []

    images = ase.io.read(path, index=":")
    assert len(images) == n_frames
    for i, atoms in enumerate(images):
        # Tolerance: extxyz writes 8 decimals.
        np.testing.assert_allclose(atoms.positions, frames[i], atol=1e-6)
        np.testing.assert_allclose(atoms.cell[:], np.diag(cell), atol=1e-12)
        assert atoms.pbc.all()
        assert atoms.get_chemical_symbols() == ["Ar", "Ar", "Kr", "Ar"]
        assert atoms.info["step"] == info[i]["step"]
        assert atoms.info["time_fs"] == pytest.approx(info[i]["time_fs"])
        assert atoms.info["note"] == "ok"
        np.testing.assert_allclose(atoms.get_velocities(), vel[i], rtol=1e-6, atol=1e-6)

    via_reader = io.read_trajectory(path)
    np.testing.assert_allclose(via_reader[-1].positions, frames[-1], atol=1e-6)


def test_extxyz_species_names_and_full_cell(tmp_path):
    frames = np.zeros((2, 3))  # one frame, [n, 3]
    frames[1] = [1.0, 0.5, 0.25]
    cell = np.array([[5.0, 0.0, 0.0], [1.0, 5.0, 0.0], [0.0, 0.0, 6.0]])
    path = tmp_path / "lj.xyz"
    io.write_extxyz(path, frames, ["A", "B"], cell, pbc=[True, True, False])
    (atoms,) = io.read_trajectory(path)
    assert list(atoms.arrays["species_name"]) == ["A", "B"]
    np.testing.assert_allclose(atoms.cell[:], cell)
    assert atoms.pbc.tolist() == [True, True, False]
    np.testing.assert_allclose(atoms.positions, frames, atol=1e-6)


def test_write_extxyz_checks_shapes(tmp_path):
    with pytest.raises(ValueError, match="symbols"):
        io.write_extxyz(tmp_path / "x.xyz", np.zeros((1, 3, 3)), ["H", "H"], [1, 1, 1])
    with pytest.raises(ValueError, match="info"):
        io.write_extxyz(
            tmp_path / "x.xyz", np.zeros((2, 1, 3)), ["H"], [1, 1, 1], info_per_frame=[{}]
        )
    assert os.listdir(tmp_path) == []


def test_read_trajectory_names_file(tmp_path):
    with pytest.raises(ValueError, match="nothere.extxyz"):
        io.read_trajectory(tmp_path / "nothere.extxyz")
    bad = tmp_path / "garbage.extxyz"
    bad.write_text("3\n\nnot an atom line\n")
    with pytest.raises(ValueError, match="garbage.extxyz"):
        io.read_trajectory(bad)


# -- thermo CSV ------------------------------------------------------------------------------


def test_thermo_csv(tmp_path):
    path = tmp_path / "thermo.csv"
    thermo = {"temperature_K": np.array([300.0, 301.5]), "potential_energy_eV": [-1.0, -1.25]}
    io.write_thermo_csv(path, thermo, steps=[0, 10])
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["step", "temperature_K", "potential_energy_eV"],
        ["0", "300.0", "-1.0"],
        ["10", "301.5", "-1.25"],
    ]
    io.write_thermo_csv(path, {"step": np.array([5, 6]), "kT": np.array([0.1, 0.2])})
    assert path.read_text().splitlines() == ["step,kT", "5,0.1", "6,0.2"]
    with pytest.raises(ValueError, match="length"):
        io.write_thermo_csv(path, {"a": [1.0], "b": [1.0, 2.0]})
