"""``LiquidWatch`` (issue 13, item 3): MDsim's liquid criterion checked while a ``Simulation``
runs stops it at the window that ``RDFStability`` finds afterwards on the same trajectory, keeps
every frame up to there, and with ``on_failure="smaller_timestep"`` goes back to the chunk
boundary before the bad window and halves the time step.

The liquid: 64 waters under a SchNet with random weights and a tiny energy scale (0.01 eV), so
nothing holds the molecules together and the O-H peak of g(r) melts away within tens of fs at
300 K. Expected numbers come from the same run without the watch (same seed, float64 NVE: the
same trajectory) scored by ``RDFStability``; the reference is OpenMM SPC/Fw water.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels.mlff.graph import Edges
from workbench.architectures import architecture
from workbench.benchmark import LiquidWatch, RDFStability, Trajectory
from workbench.builders import build_system
from workbench.data.generate import generate
from workbench.learned import LearnedForceField
from workbench.learned_system import learned_system
from workbench.simulation import MAX_RETRIES, Simulation

WINDOW_PS = 0.01  # 4 frames of 2.5 fs: the melting takes tens of fs


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    reference = generate("water", 10, tmp_path_factory.mktemp("ref") / "water.npz", seed=0,
                         equilibration_steps=400)
    structure = build_system("water", n_molecules=64)
    lff = LearnedForceField(architecture=architecture(
        "schnet", n_features=8, n_filters=8, n_interactions=1, n_gaussians=8, cutoff=4.0),
        species=[1, 8], shifts=[0.0] * 2, scale=0.01)
    numbers = structure.atomic_numbers()
    i, j = np.nonzero(~np.eye(4, dtype=bool))
    lff.params = lff.build_model().init_fn(
        jax.random.PRNGKey(0), jnp.asarray(structure.positions[:4]),
        Edges(jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)),
        jnp.asarray(lff.species_index(numbers[:4])))
    return learned_system(lff, structure), reference


def _sim(system, **kw):
    return Simulation(system, integrator="nve", temperature=300.0, timestep=0.5, n_steps=200,
                      stride=5, frames_per_chunk=6, precision="float64", seed=1, **kw)


def _scored(sim, reference, threshold):
    traj = sim.trajectory
    t = Trajectory(traj.positions, sim.system.atomic_numbers(), np.asarray(sim.system.box),
                   sim.timestep * sim.stride / 1000.0)
    return RDFStability(reference, threshold=threshold, window_ps=WINDOW_PS).run(t).results


@pytest.fixture(scope="module")
def free_run(water):
    system, reference = water
    free = _sim(system)
    free.run(progress=False)
    # a threshold the first windows pass and a later one does not: the melting crosses it
    maes = _scored(free, reference, np.inf)["window_mae"]
    threshold = float(0.5 * (maes[0] + maes.max()))
    return free, threshold


def test_watch_stops_where_rdf_stability_finds_the_collapse(water, free_run):
    system, reference = water
    free, threshold = free_run
    expected = _scored(free, reference, threshold)
    c, w = expected["collapse_frame"], expected["window_frames"]
    assert w == 4 and 2 < c < len(free.trajectory) - w - 1, expected["window_mae"]

    watched = _sim(system, watch=LiquidWatch(reference, threshold=threshold,
                                             window_ps=WINDOW_PS))
    watched.run(progress=False)
    assert watched.status == "failed" and "liquid collapsed" in watched.message
    event = watched.events[-1]
    assert event["action"] == "stopped"
    assert event["step"] == int(free.trajectory.steps[c])  # the window's first frame
    kept = len(watched.trajectory)
    assert c + w + 1 <= kept < c + w + 1 + watched.frames_per_chunk  # the chunk that saw it
    np.testing.assert_array_equal(watched.trajectory.positions,
                                  free.trajectory.positions[:kept])
    again = _scored(watched, reference, threshold)  # the saved frames show the same collapse
    assert again["collapse_frame"] == c
    assert watched.metrics()["collapse_time"] == pytest.approx(event["time"])


def test_smaller_timestep_goes_back_before_the_window(water, free_run):
    system, reference = water
    _, threshold = free_run
    sim = _sim(system, on_failure="smaller_timestep",
               watch=LiquidWatch(reference, threshold=threshold, window_ps=WINDOW_PS))
    sim.run(progress=False)
    halved = [e for e in sim.events if e["action"].startswith("time step halved")]
    assert 1 <= len(halved) <= MAX_RETRIES
    steps = sim.trajectory.steps
    assert np.all(np.diff(steps) > 0)  # frames after the checkpoint were dropped, not doubled
    assert sim.timestep == pytest.approx(0.5 / 2 ** len(halved))


def test_watch_refuses_another_system(water):
    _, reference = water
    small = build_system("water", n_molecules=32)
    sim = Simulation(small, watch=LiquidWatch(reference), temperature=300.0, timestep=0.5,
                     n_steps=10, stride=5)
    with pytest.raises(ValueError, match="other atoms"):
        sim.run(progress=False)
