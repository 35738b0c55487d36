"""Molecular systems and fitted potentials in the Simulate workflow: ``SimulationSetup`` picks
water or alanine dipeptide with their units and defaults, a ``Simulation`` runs their force
field, the live-view analysis (``workbench.analysis``) agrees with the kernel's observables, and
a saved fit run becomes the potential of a simulation.

Numbers: SPC/Fw geometry (r_OH = 1.012 Å, Wu, Tepper & Voth 2006); the C7eq basin of alanine
dipeptide in vacuum (ff14SB minimum phi ~ -75, psi ~ 54 degrees, see
``workbench.molecules.structures``); equipartition for the thermostat's temperature.
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from kernels.observables.molecular import (
    phi_psi,
    ramachandran,
    water_intramolecular_pairs,
    water_rdfs,
)
from workbench import analysis
from workbench.builders import SYSTEMS, build_system
from workbench.registry import RunRegistry
from workbench.simulation_setup import SimulationSetup
from workbench.system import System


def test_setup_defaults_units_and_widgets_follow_the_system():
    setup = SimulationSetup(system="water")
    assert (setup.temperature, setup.timestep, setup.friction) == (300.0, 0.5, 0.01)
    assert setup.units().temperature == "K" and setup.units().time == "fs"
    assert setup.molecular and setup.potential() is None
    assert {"n_molecules", "seed"} <= setup.applicable()
    assert not {"family", "potential_params", "r_cutoff", "n_atoms", "fitted_run"} & \
        setup.applicable()
    assert SimulationSetup(system="water", temperature=280.0).temperature == 280.0
    setup.system = "lj_fluid"  # back to reduced units: the LJ defaults
    assert (setup.temperature, setup.timestep) == (0.72, 0.005)
    assert {"family", "r_cutoff", "fitted_run"} <= setup.applicable()
    setup.timestep = 0.5
    assert "timestep" in setup.problems()  # 0.5 tau is far too long for LJ
    assert SYSTEMS["alanine_dipeptide_vacuum"].molecular and not SYSTEMS["lj_fluid"].molecular


def test_molecular_system_validation_and_config():
    water = build_system("water", n_molecules=64)
    assert water.molecular and water.units == "ase" and water.potential is None
    assert water.n_atoms == 192 and len(water.bonds) == 128
    assert water.r_cutoff == pytest.approx(6.0)  # 0.60 nm below half the 12.43 Å box
    ks = water.forcefield.build(jnp.float32)
    assert float(ks.forcefield.nb_options.r_cut) == pytest.approx(water.r_cutoff)
    assert water.forcefield.build(jnp.float32) is ks  # cached: built once
    water.validate()
    config = json.loads(json.dumps(water.to_dict()))  # JSON-ready
    assert config["forcefield"]["builder"] == "water_spcfw"
    assert config["forcefield"]["kwargs"] == {"n_molecules": 64, "seed": 0}
    small = System(**{**{k: getattr(water, k) for k in ("positions", "species", "species_names",
                                                         "masses", "bonds", "forcefield")},
                      "units": "ase", "box": np.full(3, 11.0)})
    with pytest.raises(ValueError, match="twice the cutoff"):
        small.validate()
    bad = System(**{**{k: getattr(water, k) for k in ("species", "species_names", "masses",
                                                       "bonds", "forcefield", "box")},
                    "units": "ase", "positions": water.positions.copy()})
    bad.positions[3] = bad.positions[0] + 0.1  # an O on top of another molecule's O
    with pytest.raises(ValueError, match="overlap"):
        bad.validate()
    vacuum = build_system("alanine_dipeptide_vacuum")
    assert vacuum.box is None and vacuum.volume is None and vacuum.r_cutoff is None
    vacuum.validate()  # bonded atoms closer than 0.5 Å would not be reported; none are
    assert not vacuum.to_ase().pbc.any()


def test_water_runs_stable_at_300_K_after_equilibration():
    setup = SimulationSetup(system="water", n_steps=600, stride=50, frames_per_chunk=2,
                            friction=0.05)
    sim = setup.build()
    sim.run(progress=False)  # 300 fs of Langevin from the minimised lattice
    assert sim.status == "completed", sim.message
    sim.n_steps += 100
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
    traj = sim.trajectory
    after = traj.steps > 600
    assert after.sum() == 2
    T = traj.thermo["temperature"][after]
    # 192 atoms: one frame's T fluctuates by 300 sqrt(2 / 576) ~ 18 K about 300 K
    assert np.all(np.abs(T - 300.0) < 75.0), T
    assert np.all(np.isfinite(traj.thermo["potential"]))
    R, box, bonds = traj.positions[-1], sim.system.box, sim.system.bonds
    d = R[bonds[:, 1]] - R[bonds[:, 0]]
    r_oh = np.linalg.norm(d - box * np.round(d / box), axis=1)  # minimum image
    assert np.all((r_oh > 0.85) & (r_oh < 1.2)), (r_oh.min(), r_oh.max())  # r0 = 1.012 Å
    # for display, every molecule whole: the plain distances are the bond lengths
    whole = analysis.make_whole(R, box, analysis.whole_plan(sim.system.n_atoms, bonds))
    np.testing.assert_allclose(np.linalg.norm(whole[bonds[:, 1]] - whole[bonds[:, 0]], axis=1),
                               r_oh, atol=1e-4)
    assert np.abs(R[bonds[:, 1]] - R[bonds[:, 0]]).max() > 5  # some were split by the box


def test_alanine_dipeptide_phi_psi_from_the_run():
    setup = SimulationSetup(system="alanine_dipeptide_vacuum", n_steps=400, stride=20,
                            frames_per_chunk=10)
    sim = setup.build()
    traj = sim.run(progress=False)
    assert sim.status == "completed", sim.message
    assert np.all(np.isnan(traj.thermo["pressure"]))  # free space: no pressure
    assert sim.metrics()["mean_pressure"] is None
    idx = sim.system.forcefield.phi_psi_indices()
    assert idx.shape == (1, 2, 4)
    ks = sim.system.forcefield.build(jnp.float32)
    kernel = np.degrees(np.asarray(phi_psi(ks.displacement_fn, jnp.asarray(traj.positions),
                                           idx[0])))
    ours = analysis.phi_psi_degrees(traj.positions, idx)[:, 0]
    np.testing.assert_allclose(ours, kernel, atol=1e-3)
    # 200 fs at 300 K from the C7eq minimum (-75, 54 degrees): still in that basin
    assert -120 < ours[:, 0].mean() < -40 and 10 < ours[:, 1].mean() < 110
    F = analysis.free_energy_surface(ours[:, 0], ours[:, 1], n_bins=36)
    ref = np.asarray(ramachandran(np.radians(ours[:, 0]), np.radians(ours[:, 1]), kT=1.0,
                                  n_bins=36)["F"])
    np.testing.assert_allclose(np.nan_to_num(F, nan=np.inf), ref, atol=1e-5)


def test_water_partial_rdfs_match_the_kernel():
    water = build_system("water", n_molecules=64)
    ks = water.forcefield.build(jnp.float64)
    is_o = np.array([water.species_names[s] == "O" for s in water.species])
    o = np.flatnonzero(is_o)
    pairs = water_intramolecular_pairs(o, np.stack([o + 1, o + 2], 1))
    ref = water_rdfs(ks.displacement_fn, jnp.asarray(water.positions), water.volume,
                     jnp.asarray(is_o), 6.0, 60, exclude_pairs=pairs)
    ours = analysis.water_partial_rdfs(water.positions, water.box, is_o,
                                       analysis.molecule_ids(water.n_atoms, water.bonds), 6.0,
                                       60)
    for key in ("r", "OO", "OH", "HH"):
        np.testing.assert_allclose(ours[key], np.asarray(ref[key]), atol=1e-9)
    assert analysis.observable_kind(water) == "water_rdfs"
    assert analysis.observable_kind(build_system("alanine_dipeptide_vacuum")) == "ramachandran"
    assert analysis.observable_kind(build_system("lj_fluid", n_atoms=108)) == "rdf"


def test_saved_fit_run_runs_in_a_simulation():
    from workbench.fit import PotentialFit, fitted_potential, target_from_reference_system

    target = target_from_reference_system(
        "lj_fluid", temperature=1.2, n_steps=600, equilibration=200, stride=50,
        system_kwargs={"n_atoms": 108, "density": 0.7}, r_max=2.5, n_bins=50)
    fit = PotentialFit(target, family="lj", initial_params={"sigma": 0.95, "epsilon": 1.05},
                       n_atoms=108, equilibration=100, steps_per_iteration=60, window=60,
                       stride=20, n_bins=50, eval_iterations=1)
    fit.step()
    run = fit.save(RunRegistry(), name="unit fit")
    fits = SimulationSetup.fitted_runs()
    assert fits[f"fit: unit fit ({run.id})"] == run.id
    setup = SimulationSetup(n_atoms=108, density=0.7, temperature=1.2, n_steps=100,
                            stride=50, fitted_run=run.id)
    assert not {"family", "r_cutoff"} & setup.applicable()
    assert setup.fit_state_point()["temperature"] == 1.2
    sim = setup.build()
    expected = fitted_potential(RunRegistry().get(run.id))
    assert sim.system.potential.to_dict() == expected.to_dict()
    assert sim.system.potential.params["sigma"] == pytest.approx(float(fit.params["sigma"]))
    sim.run(progress=False)
    assert sim.status == "completed"
    assert "fitted_run" in SimulationSetup(fitted_run="no-such-run").problems()
