"""A run whose writer is killed (SIGKILL) at a random moment of a save is marked incomplete, never
listed as complete, and leaves no temporary files once a registry is opened again."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from workbench.registry import RunRegistry

# Saves runs back to back as Simulation.save does (arrays, an extxyz trajectory of 500 atoms,
# metrics, then the status), so that a kill lands inside one of the writes.
WRITER = """
import sys
import numpy as np
from workbench import io
from workbench.registry import RunRegistry

reg = RunRegistry(sys.argv[1])
rng = np.random.default_rng(0)
positions = rng.uniform(0, 20, (40, 500, 3))
print("ready", flush=True)
while True:
    run = reg.create("simulation", {"n_atoms": 500})
    run.save_arrays("trajectory", positions=positions)
    io.write_extxyz(run.file("trajectory.extxyz"), positions, ["Ar"] * 500, np.full(3, 20.0))
    run.save_metrics({"frames": 40})
    run.set_status("completed")
"""


def _kill_during_saves(root, delay_s: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _temp_files(root):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_killed_saves_are_marked_incomplete_and_leave_no_debris(tmp_path):
    root = tmp_path / "runs"
    rng = np.random.default_rng(17)
    for delay in rng.uniform(0.05, 1.0, size=6):  # random moments, seeded
        _kill_during_saves(root, float(delay))
        with RunRegistry(root) as reg:  # start-up: dead writers' runs marked, debris removed
            runs = reg.list()
            assert runs, "the writer made no run"
            assert {r.status for r in runs} <= {"completed", "incomplete"}
            assert runs[0].status == "incomplete"  # the one being saved when the kill came
            for run in runs:
                if run.status == "completed":  # complete means every file is there and readable
                    assert run.load_arrays("trajectory")["positions"].shape == (40, 500, 3)
                    assert run.file("trajectory.extxyz").stat().st_size > 0
                    assert run.metrics == {"frames": 40}
            assert _temp_files(root) == []
    with RunRegistry(root) as reg:
        statuses = {r.id: r.status for r in reg.list()}
        assert reg.reindex() == len(statuses)
        assert {r.id: r.status for r in reg.list()} == statuses
        assert _temp_files(root) == []


def test_a_live_writers_run_is_not_marked(tmp_path):
    with RunRegistry(tmp_path) as reg:
        run = reg.create("simulation", {})
        reg.sweep()
        assert reg.get(run.id).status == "created"


def test_a_reused_pid_is_not_the_writer(tmp_path):
    """A run whose recorded pid now belongs to another process (different start time)."""
    with RunRegistry(tmp_path) as reg:
        run = reg.create("simulation", {})
        meta = run.file("run.json")
        text = meta.read_text()
        writer_start = str(run.writer["start"])
        if run.writer["start"] is None:
            pytest.skip("no /proc: process start times cannot be read here")
        meta.write_text(text.replace(f'"start": "{writer_start}"', '"start": "1"'))
        assert reg.sweep() == 1
        assert reg.get(run.id).status == "incomplete"
