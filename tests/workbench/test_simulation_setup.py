"""``SimulationSetup``'s rule for live settings: only the runtime keywords of the kernel's step
(temperature and time step) reach a running simulation; everything else waits for a rebuild."""

from workbench.simulation_setup import SimulationSetup


def test_live_settings_are_the_step_keywords_and_reach_a_simulation():
    setup = SimulationSetup(n_atoms=108, n_steps=100, stride=10)
    assert setup.live_settings() == {"temperature", "timestep"}
    assert setup.live_settings() <= setup.applicable()
    sim = setup.build()
    setup.param.update(temperature=1.5, timestep=0.002, friction=2.0, n_atoms=256)
    applied = setup.apply_live(sim, {"temperature", "timestep", "friction", "n_atoms"})
    assert applied == {"temperature", "timestep"}
    assert (sim.temperature, sim.timestep) == (1.5, 0.002)
    assert sim.friction == 1.0 and sim.system.n_atoms == 108  # not live: unchanged
    setup.temperature = 0.9
    assert setup.apply_live(sim) == {"temperature", "timestep"} and sim.temperature == 0.9


def test_bond_watch_is_offered_for_molecules_only():
    from workbench.simulation_setup import BOND_TOLERANCE

    molecule = SimulationSetup(system="alanine_dipeptide_vacuum", watch_bonds=True)
    assert "watch_bonds" in molecule.applicable()
    assert molecule.build().bond_tolerance == BOND_TOLERANCE == 0.5  # MDsim's 0.5 Å
    fluid = SimulationSetup(watch_bonds=True)
    assert "watch_bonds" not in fluid.applicable()
    assert fluid.build().bond_tolerance is None
