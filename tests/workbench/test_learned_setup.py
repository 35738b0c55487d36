"""``SimulationSetup`` with trained models: the registered model runs whose species cover the
chosen molecular system are offered, the others are named with the elements they lack; a model
whose cutoff exceeds half the box is a problem of ``model_run``; the setup builds a learned
``Simulation`` from the system's starting structure."""

import pytest

from tests.lj_pair_mlp import AR, silent_model
from workbench.registry import RunRegistry
from workbench.simulation_setup import SimulationSetup

HYDROGEN, OXYGEN = 1, 8


@pytest.fixture
def runs():
    registry = RunRegistry()  # the test's own home (tests/conftest.py)
    water = registry.create("mlff", {}, name="water model")
    silent_model((HYDROGEN, OXYGEN)).save(water.path)
    argon = registry.create("mlff", {}, name="argon model")
    silent_model((AR,)).save(argon.path)
    registry.create("mlff", {}, name="still training")  # no model.json yet: not listed
    return water.id, argon.id


def test_models_with_the_system_species_are_offered(runs):
    water_id, argon_id = runs
    setup = SimulationSetup(system="water", n_molecules=64)
    assert "model_run" in setup.applicable()
    offered, excluded = setup.model_choices()
    assert offered == {f"water model ({water_id})": water_id}
    assert excluded == {f"argon model ({argon_id})": "not trained on H, O"}
    setup.system = "alanine_dipeptide_vacuum"
    offered, excluded = setup.model_choices()
    assert offered == {}
    assert excluded[f"water model ({water_id})"] == "not trained on C, N"
    setup.system = "lj_fluid"
    assert setup.model_choices() == ({}, {}) and "model_run" not in setup.applicable()


def test_a_learned_water_simulation_is_built_and_runs(runs):
    water_id, argon_id = runs
    setup = SimulationSetup(system="water", n_molecules=64, model_run=water_id, n_steps=20,
                            stride=10, frames_per_chunk=2)
    assert setup.problems() == {}
    sim = setup.build()
    assert sim.system.model.run_id == water_id and sim.system.forcefield is None
    assert sim.system.n_atoms == 192 and len(sim.system.bonds) == 128
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
    setup.model_run = argon_id
    assert "trained on Ar only" in setup.problems()["model_run"]
    setup.param.update(model_run=water_id, n_molecules=8)  # 6.2 Å box, cutoff 5 Å
    assert "exceeds half the box" in setup.problems()["model_run"]
    with pytest.raises(ValueError, match="exceeds half the box"):
        setup.build()


def test_learned_simulation_takes_atoms_and_molecular_defaults():
    from ase.cluster import Icosahedron

    from workbench.simulation_setup import learned_simulation

    sim = learned_simulation(silent_model((AR,)), Icosahedron("Ar", 2), n_steps=10)
    assert (sim.integrator, sim.temperature, sim.timestep, sim.friction) == (
        "langevin", 300.0, 0.5, 0.01)
    assert sim.system.model is not None and not sim.system.periodic
    with pytest.raises(ValueError, match="exceeds half the box"):
        learned_simulation(silent_model((AR,)), Icosahedron("Ar", 2), box=8.0)
