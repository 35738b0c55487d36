"""Tests for workbench.registry: run folders, the SQLite index, compare tables, rebuilding the
index from folders, and concurrent use from threads."""

import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from workbench import paths
from workbench.registry import DB_NAME, Run, RunRegistry


@pytest.fixture
def registry():
    reg = RunRegistry()
    yield reg
    reg.close()


def _temp_files(root):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_default_root_is_runs_dir(registry):
    assert registry.root == paths.runs_dir()
    assert (registry.root / DB_NAME).is_file()


def test_create_writes_folder_and_index(registry):
    config = {"temperature_K": np.float64(300.0), "n_atoms": np.int64(64), "box": np.ones(3)}
    run = registry.create("simulation", config, name="first")
    assert re.fullmatch(r"\d{8}-\d{6}-simulation-[0-9a-f]{8}", run.id)
    assert run.path == registry.root / run.id
    assert run.status == "created"
    assert run.config == {"temperature_K": 300.0, "n_atoms": 64, "box": [1.0, 1.0, 1.0]}
    for name in ("config.json", "metrics.json", "run.json"):
        assert run.file(name).is_file()
    got = registry.get(run.id)
    assert (got.id, got.kind, got.name, got.status) == (run.id, "simulation", "first", "created")
    assert got.config == run.config
    assert got.created == pytest.approx(run.created)
    with pytest.raises(ValueError):
        registry.create("bad kind/with slash", {})
    with pytest.raises(KeyError):
        registry.get("nope")


def test_list_filters_newest_first(registry):
    a = registry.create("simulation", {"i": 0})
    time.sleep(0.01)
    b = registry.create("fit", {"i": 1})
    time.sleep(0.01)
    c = registry.create("simulation", {"i": 2})
    c.set_status("completed")
    assert [r.id for r in registry.list()] == [c.id, b.id, a.id]
    assert [r.id for r in registry.list(kind="simulation")] == [c.id, a.id]
    assert [r.id for r in registry.list(status="completed")] == [c.id]
    assert registry.list(kind="fit", status="completed") == []
    with pytest.raises(ValueError):
        c.set_status("exploded")


def test_metrics_merge_and_status(registry):
    run = registry.create("training", {"lr": 1e-3})
    run.save_metrics({"loss": 1.0, "epochs": 1})
    run.save_metrics({"loss": np.float32(0.5), "rdf_error": {"mae": 0.1}})
    expected = {"loss": 0.5, "epochs": 1, "rdf_error": {"mae": 0.1}}
    assert run.metrics == expected
    assert registry.get(run.id).metrics == expected
    # A second handle on the same run merges into what is on disk, losing nothing.
    other = registry.get(run.id)
    run.save_metrics({"a": 1})
    other.save_metrics({"b": 2})
    assert registry.get(run.id).metrics == {**expected, "a": 1, "b": 2}
    run.set_status("running")
    assert registry.get(run.id).status == "running"
    assert _temp_files(registry.root) == []


def test_arrays_and_files(registry):
    run = registry.create("simulation", {})
    R = np.arange(12.0).reshape(4, 3)
    path = run.save_arrays("final_state", R=R, species=np.zeros(4, dtype=int))
    assert path == run.path / "final_state.npz"
    loaded = run.load_arrays("final_state")
    np.testing.assert_array_equal(loaded["R"], R)
    assert run.load_arrays("final_state.npz").keys() == loaded.keys()
    assert run.file("traj.extxyz") == run.path / "traj.extxyz"
    with pytest.raises(ValueError):
        run.file("../escape.txt")
    with pytest.raises(ValueError, match="missing.npz"):
        run.load_arrays("missing")


def test_compare_table(registry):
    a = registry.create("simulation", {"temperature_K": 300.0, "system": {"n_atoms": 64}}, "a")
    b = registry.create("simulation", {"temperature_K": 350.0}, "b")
    a.save_metrics({"rdf_error": 0.1})
    table = registry.compare(
        [a.id, b.id], ["config.temperature_K", "config.system.n_atoms", "metrics.rdf_error"]
    )
    assert table == [
        {
            "id": a.id,
            "name": "a",
            "kind": "simulation",
            "status": "created",
            "config.temperature_K": 300.0,
            "config.system.n_atoms": 64,
            "metrics.rdf_error": 0.1,
        },
        {
            "id": b.id,
            "name": "b",
            "kind": "simulation",
            "status": "created",
            "config.temperature_K": 350.0,
            "config.system.n_atoms": None,
            "metrics.rdf_error": None,
        },
    ]
    all_keys = registry.compare([a.id, b.id])
    assert list(all_keys[0])[4:] == [
        "config.system.n_atoms",
        "config.temperature_K",
        "metrics.rdf_error",
    ]
    with pytest.raises(ValueError):
        registry.compare([a.id], ["temperature_K"])


def test_delete(registry):
    keep = registry.create("fit", {})
    gone = registry.create("fit", {})
    folder = gone.path
    registry.delete(gone.id)
    assert not folder.exists()
    assert [r.id for r in registry.list()] == [keep.id]
    assert [p.name for p in registry.root.iterdir() if p.is_dir()] == [keep.id]
    with pytest.raises(KeyError):
        registry.delete(gone.id)


def test_reindex_from_folders(tmp_path):
    root = tmp_path / "runs"
    with RunRegistry(root) as reg:
        a = reg.create("simulation", {"T": 1.0}, name="alpha")
        a.save_metrics({"msd": 2.0})
        a.set_status("completed")
        b = reg.create("fit", {"T": 2.0})
    # A folder without run.json (only config/metrics) is indexed from its name.
    bare = root / "20240102-030405-training-0123abcd"
    bare.mkdir()
    (bare / "config.json").write_text('{"lr": 0.01}')
    (root / "notes").mkdir()  # not a run folder: ignored
    (root / DB_NAME).unlink()

    with RunRegistry(root) as reg:  # index missing, folders present: rebuilt on open
        runs = {r.id: r for r in reg.list()}
        assert set(runs) == {a.id, b.id, bare.name}
        assert runs[a.id].name == "alpha"
        assert runs[a.id].status == "completed"
        assert runs[a.id].metrics == {"msd": 2.0}
        assert runs[a.id].created == pytest.approx(a.created)
        assert runs[bare.name].kind == "training"
        assert runs[bare.name].config == {"lr": 0.01}
        assert runs[bare.name].created == pytest.approx(
            time.mktime((2024, 1, 2, 3, 4, 5, 0, 0, -1))
        )
        # Rebuilding an existing index gives the same rows.
        with sqlite3.connect(root / DB_NAME) as conn:
            before = sorted(conn.execute("SELECT * FROM runs").fetchall())
        assert reg.reindex() == 3
        with sqlite3.connect(root / DB_NAME) as conn:
            assert sorted(conn.execute("SELECT * FROM runs").fetchall()) == before


def test_reindex_skips_corrupt_folder(tmp_path):
    with RunRegistry(tmp_path) as reg:
        good = reg.create("simulation", {})
        bad = reg.create("simulation", {})
        bad.file("config.json").write_text("{broken")
        with pytest.warns(UserWarning, match=bad.id):
            assert reg.reindex() == 1
        assert [r.id for r in reg.list()] == [good.id]


def test_concurrent_creates_from_threads(registry):
    n_threads, per_thread = 4, 10
    barrier = threading.Barrier(n_threads)

    def work(k: int) -> list[Run]:
        barrier.wait()  # start together so the creates really overlap
        runs = []
        for i in range(per_thread):
            run = registry.create("simulation", {"thread": k, "i": i})
            run.save_metrics({"done": True})
            run.set_status("completed")
            runs.append(run)
        return runs

    with ThreadPoolExecutor(n_threads) as pool:
        futures = [pool.submit(work, k) for k in range(n_threads)]
        created = [run for f in futures for run in f.result()]  # re-raises a thread's error
    listed = registry.list(status="completed")
    assert len(listed) == n_threads * per_thread
    assert {r.id for r in listed} == {r.id for r in created}
    assert all(r.metrics == {"done": True} for r in listed)
    assert _temp_files(registry.root) == []
    # A second registry object (another connection) sees the same index.
    with RunRegistry(registry.root) as other:
        assert len(other.list()) == n_threads * per_thread
