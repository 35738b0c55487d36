"""``BenchmarkGrid`` (issue 13, items 4 and 6): cells a model cannot run are skipped with their
reason; a grid on a Dask ``LocalCluster`` scores every cell, writes one completed run per cell
and a benchmark run whose rows match; a worker killed mid-cell has its cell run again; the CLI
runs a grid and refuses bad input.

Numbers: alanine dipeptide's short protocol of 5 frames at 1 ps (MDsim's frame interval)
gives a stability of 5.0 ps when nothing collapses (``BondStability``: ``start_ps + (n - 1)
dt``); the classical force field is the reference's own (AMBER ff14SB, evaluated by OpenMM for
the reference and by the kernel here), so its force MAE is the kernel's agreement with OpenMM,
1.5e-7 eV/Å measured (bound 1e-5).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import psutil
import pytest

from tests.lj_pair_mlp import AR, lj_model
from workbench.benchmark import BenchmarkGrid, BenchmarkSystem, leaderboard
from workbench.registry import RunRegistry


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MDWB_HOME", str(tmp_path))
    return tmp_path


def test_plan_skips_what_a_model_cannot_run(home, tmp_path):
    argon = lj_model((AR,), cutoff=5.0, hidden=(8,))
    folder = argon.save(tmp_path / "argon-model")
    data = tmp_path / "ref.extxyz"
    from ase.build import molecule
    from ase.io import write
    write(data, [molecule("H2O")] * 3)
    own = BenchmarkSystem.from_reference(data, "molecule")
    grid = BenchmarkGrid(models=["classical", str(folder)],
                         systems=["alanine_dipeptide", own], seeds=[0, 1])
    cells, skipped = grid.plan()
    assert [(c["model"]["label"], c["system"]["name"], c["seed"]) for c in cells] == [
        ("classical force field", "alanine_dipeptide", 0),
        ("classical force field", "alanine_dipeptide", 1)]
    reasons = {(s["system"], s["model"].split(" ")[0]): s["reason"] for s in skipped}
    assert "has never seen H, C, N, O" in reasons[("alanine_dipeptide", "Pair")]
    assert "has no classical force field" in reasons[("ref", "classical")]
    assert "has never seen H, O" in reasons[("ref", "Pair")]
    with pytest.raises(ValueError, match="nothing to run"):
        BenchmarkGrid(models=[str(folder)], systems=[own]).plan()
    with pytest.raises(ValueError, match="unknown benchmark system"):
        BenchmarkGrid(systems=["watr"]).plan()
    with pytest.raises(ValueError, match="neither a folder"):
        BenchmarkGrid(models=["no-such-run"]).plan()


def test_leaderboard_means_over_seeds_and_counts_collapses():
    rows = [{"model": "a", "system": "w", "seed": s, "force_mae": f, "stability_ps": t,
             "collapsed": c, "rdf_mae": {"OO": 1.0, "HH": 2.0, "HO": 3.0 + s}}
            for s, f, t, c in [(0, 0.1, 5.0, False), (1, 0.3, 2.0, True)]]
    rows.append({"model": "b", "system": "w", "seed": 0, "status": "error",
                 "message": "boom"})
    table = leaderboard(rows)
    a = table[table.model == "a"].iloc[0]
    assert a.force_mae == pytest.approx(0.2) and a.stability_ps == pytest.approx(3.5)
    assert a.rdf_mae == pytest.approx((2.0 + 2.0 + 1.0 / 3.0) / 2)
    assert a.n_seeds == 2 and a.n_collapsed == 1 and a.n_errors == 0
    b = table[table.model == "b"].iloc[0]
    assert b.n_errors == 1 and np.isnan(b.force_mae)


@pytest.mark.slow
def test_grid_scores_every_cell_and_runs_a_killed_workers_cell_again(home):
    grid = BenchmarkGrid(models=["classical"], systems=["alanine_dipeptide"], seeds=[0, 1],
                         n_frames=5, n_workers=2, run_name="two seeds")
    killed = []

    def kill_a_worker():  # SIGKILL one Dask worker process while its cell runs, once
        if not killed and any(c["status"] == "running" for c in grid.cells.values()):
            worker = next(p for p in psutil.Process().children(recursive=True)
                          if "spawn_main" in " ".join(p.cmdline()))
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    grid.attach(kill_a_worker)
    grid.run(progress=False)
    assert killed, "no worker was seen running a cell"
    assert grid.status == "completed", grid.message
    assert sorted(r["seed"] for r in grid.rows) == [0, 1]
    registry = RunRegistry()
    for row in grid.rows:
        assert row["status"] == "completed" and not row["collapsed"]
        assert row["stability_ps"] == pytest.approx(5.0)
        assert row["force_mae"] < 1e-5
        assert np.isfinite(row["hr_mae"])
        assert row["fes_phi_mae"] > 0 and 0 < row["fes_coverage"] <= 1  # F(phi, psi) scored
        assert registry.get(row["run_id"]).status == "completed"
    assert all(c["status"] == "finished" for c in grid.cells.values())
    record = registry.get(grid.record.id)
    assert record.kind == "benchmark" and record.status == "completed"
    assert record.metrics["rows"] == json.loads(json.dumps(grid.rows))
    # one run per cell: the killed attempt wrote none (or left it incomplete, never completed)
    runs = registry.list(kind="simulation")
    assert sorted(r.id for r in runs if r.status == "completed") == sorted(
        r["run_id"] for r in grid.rows)
    assert all(r.status in ("completed", "incomplete") for r in runs)


def test_cli_refuses_bad_input(home):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "workbench.cli", "benchmark", "run", *args],
                              capture_output=True, text=True, timeout=300)

    out = cli("--systems", "watr")
    assert out.returncode == 2 and "unknown benchmark system 'watr'" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli("--models", "nope")
    assert out.returncode == 2 and "neither a folder" in out.stderr
