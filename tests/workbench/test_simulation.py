"""Simulation workflow: background control, failure handling that keeps good frames, runs saved
to and reloaded from the registry, the command line."""

import time

import numpy as np
import pytest

import workbench as wb
from workbench import cli, io
from workbench.registry import RunRegistry


def _sim(**kw):
    s = wb.build_system("lj_fluid", n_atoms=108, density=0.8442, r_cutoff=2.0)
    return wb.Simulation(s, **{"temperature": 0.72, "n_steps": 400, "stride": 20,
                               "frames_per_chunk": 2, **kw})


def _wait_for(cond, timeout=60.0):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError
        time.sleep(0.02)


def test_background_pause_resume_stop_and_subscribers():
    sim = _sim(n_steps=1_000_000)
    seen = []
    sim.subscribe(lambda s, chunk: seen.append(len(chunk)))
    sim.start()
    assert sim.status == "running"
    _wait_for(lambda: sim.step >= 80)
    sim.pause()
    _wait_for(lambda: sim.status == "paused")
    time.sleep(0.5)
    frozen = sim.step
    time.sleep(0.5)
    assert sim.step == frozen  # at most the chunk in flight finished
    sim.resume()
    _wait_for(lambda: sim.step > frozen)
    sim.stop()
    assert sim.status == "stopped" and "stopped at step" in sim.message
    traj = sim.trajectory
    assert len(traj) == sim.step // 20 == sum(seen)
    assert np.all(np.diff(traj.steps) == 20)


def test_exploding_simulation_stops_with_step_and_keeps_good_frames():
    sim = _sim(integrator="nve", timestep=0.05, n_steps=2000, stride=5)
    traj = sim.run(progress=False)
    assert sim.status == "failed"
    assert "unstable at step" in sim.message and "timestep" in sim.message
    assert np.all(np.isfinite(traj.positions))
    assert np.all(traj.thermo["temperature"] < 50 * 0.72)


def test_invalid_system_fails_with_message_not_traceback():
    sim = _sim()
    sim.system.potential.params = {"sigma": -1}
    sim.start()
    sim.wait(30)
    assert sim.status == "failed" and "'sigma' must be > 0" in sim.message


def test_run_reset_and_deterministic_seed():
    a = _sim(seed=5).run(progress=False)
    sim = _sim(seed=5)
    sim.run(progress=False)
    sim.reset()
    assert sim.step == 0 and len(sim.trajectory) == 0
    b = sim.run(progress=False)
    np.testing.assert_array_equal(a.positions, b.positions)  # same seed, same trajectory


def test_progress_counts_the_steps_a_run_takes():
    # frames every 7 steps: 100 steps end at step 105, and progress says so (not 105 / 100)
    sim = _sim(n_steps=100, stride=7)
    assert sim.total == 105
    sim.run(progress=False)
    assert sim.step == sim.done == sim.total == 105 and sim.status == "completed"
    sim.n_steps = 120  # and on: 15 more steps from 105 end at 126
    assert sim.total == 126


def test_save_and_reload_run():
    sim = _sim()
    traj = sim.run(progress=False)
    run = sim.save(name="unit")
    reg = RunRegistry()
    again = reg.get(run.id)
    assert again.status == "completed" and again.config["temperature"] == 0.72
    assert again.metrics["frames"] == len(traj)
    arrays = again.load_arrays("trajectory")
    np.testing.assert_array_equal(arrays["positions"], traj.positions)
    frames = io.read_trajectory(again.file("trajectory.extxyz"))
    assert len(frames) == len(traj)
    np.testing.assert_allclose(frames[-1].get_positions(), traj.positions[-1], atol=1e-5)
    assert frames[-1].info["step"] == traj.steps[-1]
    assert (again.path / "thermo.csv").read_text().startswith("step,")


def test_cli_run_and_runs(capsys):
    assert cli.main(["run", "--n-atoms", "108", "--cutoff", "2.0", "--steps", "200",
                     "--stride", "50", "--temperature", "0.8", "--name", "cli"]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "saved run" in out
    assert cli.main(["runs"]) == 0
    assert "cli" in capsys.readouterr().out
    assert cli.main(["run", "--param", "sigma=-2", "--steps", "10"]) == 2
    assert "'sigma' must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--potential", "lenard-jones"])


def test_cli_unstable_run_is_registered_failed_with_a_true_message(capsys):
    # dt = 2.0 tau is ~400x LJ's stable step: the first recorded frame (step 20) already blew up
    code = cli.main(["run", "--n-atoms", "108", "--dt", "2.0", "--steps", "400", "--stride",
                     "20", "--name", "unstable"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "unstable at step 20" in captured.out and "No frame was kept" in captured.out
    assert "<T> = n/a" in captured.out
    run = RunRegistry().list(kind="simulation")[0]
    assert run.name == "unstable" and run.status == "failed"
    assert "unstable at step 20" in run.metrics["message"] and run.metrics["frames"] == 0
