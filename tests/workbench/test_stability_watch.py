"""The stability watch of ``Simulation`` (issue 13): with ``bond_tolerance`` a run stops at the
first recorded frame where a bond is off its starting length by more than the tolerance
(MDsim's molecule criterion, 0.5 Å), keeps every frame before it and records the collapse; with
``on_failure="smaller_timestep"`` it goes back to the last sound chunk and halves the time step,
at most three times.

The model: ethanol under a SchNet with random weights and a tiny energy scale (0.01 eV), so
nothing holds the atoms together and thermal motion at 300 K breaks a bond within tens of fs
while the temperature stays sane. Expected numbers come from the same run without the watch
(same seed: the same trajectory, float64), bond lengths by ``workbench.analysis``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels.mlff.graph import Edges
from workbench.analysis import bond_lengths, natural_bonds
from workbench.architectures import architecture
from workbench.data.generate import molecule_from_smiles
from workbench.learned import LearnedForceField
from workbench.learned_system import learned_system
from workbench.simulation import MAX_RETRIES, Simulation


@pytest.fixture(scope="module")
def ethanol():
    atoms = molecule_from_smiles("CCO", seed=0)
    lff = LearnedForceField(architecture=architecture(
        "schnet", n_features=8, n_filters=8, n_interactions=1, n_gaussians=8),
        species=[1, 6, 8], shifts=[0.0] * 3, scale=0.01)
    n = len(atoms)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    lff.params = lff.build_model().init_fn(
        jax.random.PRNGKey(0), jnp.asarray(atoms.positions),
        Edges(jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)),
        jnp.asarray(lff.species_index(atoms.numbers)))
    return learned_system(lff, atoms), atoms


def _sim(system, **kw):
    return Simulation(system, integrator="nve", temperature=300.0, timestep=0.5, n_steps=400,
                      stride=4, frames_per_chunk=10, precision="float64", seed=3, **kw)


def test_bond_watch_stops_at_the_first_broken_frame(ethanol):
    system, atoms = ethanol
    free = _sim(system)
    free.run(progress=False)
    bonds = natural_bonds(atoms.numbers, atoms.positions)
    assert len(bonds) == 8  # ethanol: C-C, C-O, O-H, 5 C-H
    deviation = np.abs(bond_lengths(free.trajectory.positions, bonds)
                       - bond_lengths(atoms.positions, bonds)).max(axis=1)
    first = int(np.argmax(deviation > 0.5))
    assert 0 < first < len(deviation) - 1, deviation  # breaks inside the run, not at once
    assert np.max(free.trajectory.thermo["temperature"][:first + 1]) < 3000.0  # not hot

    watched = _sim(system, bond_tolerance=0.5)
    watched.run(progress=False)
    assert watched.status == "failed"
    kept = watched.trajectory
    assert len(kept.steps) == first
    np.testing.assert_array_equal(kept.steps, free.trajectory.steps[:first])
    np.testing.assert_allclose(kept.positions, free.trajectory.positions[:first], atol=1e-12)
    [event] = watched.events
    step = int(free.trajectory.steps[first])
    assert event["step"] == step and event["action"] == "stopped"
    assert event["time"] == pytest.approx(step * 0.5)
    assert "bond" in event["cause"] and "bond_tolerance 0.5 Å" in watched.message


def test_smaller_timestep_goes_back_and_halves_it(ethanol):
    system, _ = ethanol
    sim = _sim(system, bond_tolerance=0.5, on_failure="smaller_timestep")
    sim.run(progress=False)
    # free atoms drift apart at any time step: every retry fails again, then it stops
    actions = [e["action"] for e in sim.events]
    assert len(actions) == MAX_RETRIES + 1 and actions[-1] == "stopped"
    assert actions[0].startswith("time step halved from 0.5 to 0.25 fs")
    assert sim.timestep == pytest.approx(0.5 / 2**MAX_RETRIES)
    assert sim.status == "failed"
    # the clock counts each step at its own time step: the collapse comes one frame (4 steps
    # at the last time step) after the last frame kept
    assert sim.events[-1]["time"] - sim.time == pytest.approx(4 * sim.timestep)
    assert np.all(np.diff(sim.trajectory.steps) == 4)


def test_bond_watch_needs_bonds():
    from workbench.builders import build_system

    sim = Simulation(build_system("lj_fluid", n_atoms=256), bond_tolerance=0.5, n_steps=10,
                     stride=5)
    with pytest.raises(ValueError, match="needs bonds"):
        sim.run(progress=False)


def test_the_saved_run_records_the_collapse(ethanol, tmp_path):
    from workbench.registry import RunRegistry

    system, _ = ethanol
    sim = _sim(system, bond_tolerance=0.5)
    sim.run(progress=False)
    run = sim.save(RunRegistry(tmp_path / "runs"))
    assert run.config["bond_tolerance"] == 0.5 and run.config["on_failure"] == "stop"
    assert run.metrics["collapse_time"] == pytest.approx(sim.events[0]["time"])
    assert run.metrics["events"][0]["action"] == "stopped" and run.status == "failed"
    # scored like MDsim: stable time is the time of the last sound frame, counted from the start
    # of the run (a workbench run's first frame is one stride in: 4 steps of 0.5 fs)
    from workbench.benchmark import BondStability, load_trajectory

    traj = load_trajectory(run.path)
    assert traj.frame_interval_ps == pytest.approx(0.002)
    assert traj.start_ps == pytest.approx(0.002)
    stability = BondStability(traj).run(traj).results
    assert not stability["collapsed"]
    assert stability["stable_time_ps"] == pytest.approx(sim.trajectory.steps[-1] * 0.5e-3)
