"""A run whose writer is killed (SIGKILL) at a random moment of a save is marked incomplete, never
listed as complete, and leaves no temporary files once a registry is opened again."""

import os
import re
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
    print("created", run.id, flush=True)
    run.save_arrays("trajectory", positions=positions)
    io.write_extxyz(run.file("trajectory.extxyz"), positions, ["Ar"] * 500, np.full(3, 20.0))
    run.save_metrics({"frames": 40})
    run.set_status("completed")
    print("done", run.id, flush=True)
"""


RUN_ID = re.compile(r"\d{8}-\d{6}-simulation-[0-9a-f]{8}")


def _kill_during_saves(root, delay_s: float) -> str | None:
    """Kill the writer ``delay_s`` after it is ready; the id of the run it had created and not
    yet reported done (None when the kill came between two runs)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    pending = None
    for line in proc.stdout.read().splitlines():
        parts = line.split()
        if len(parts) == 2 and RUN_ID.fullmatch(parts[1]):  # not a line the kill cut short
            pending = parts[1] if parts[0] == "created" else None
    return pending


def _temp_files(root):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_killed_saves_are_marked_incomplete_and_leave_no_debris(tmp_path):
    root = tmp_path / "runs"
    rng = np.random.default_rng(17)
    caught = 0
    for delay in rng.uniform(0.05, 1.0, size=6):  # random moments, seeded
        pending = _kill_during_saves(root, float(delay))
        with RunRegistry(root) as reg:  # start-up: dead writers' runs marked, debris removed
            runs = reg.list()
            assert runs, "the writer made no run"
            assert {r.status for r in runs} <= {"completed", "incomplete"}
            if pending is not None:  # the run being saved when the kill came
                status = reg.get(pending).status
                # completed only if the kill fell between its status and the writer's report
                assert status in ("incomplete", "completed")
                caught += status == "incomplete"
            for run in runs:
                if run.status == "completed":  # complete means every file is there and readable
                    assert run.load_arrays("trajectory")["positions"].shape == (40, 500, 3)
                    assert run.file("trajectory.extxyz").stat().st_size > 0
                    assert run.metrics == {"frames": 40}
            assert _temp_files(root) == []
    # the saves are nearly all of the writer's time, so most kills land inside one; a kill
    # between two runs, or inside create before the run is indexed, leaves none incomplete
    # (a fresh-clone run once killed there: the newest run listed was complete)
    assert caught >= 3
    with RunRegistry(root) as reg:
        statuses = {r.id: r.status for r in reg.list()}
        assert reg.reindex() >= len(statuses)
        after = {r.id: r.status for r in reg.list()}
        assert {k: after[k] for k in statuses} == statuses
        # a folder that a kill inside create left before it was indexed comes back incomplete
        assert all(after[k] == "incomplete" for k in after.keys() - statuses.keys())
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
