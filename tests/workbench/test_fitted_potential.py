"""A fitted potential outside the fit: as a ``PairPotential`` (spline table, network or
analytic parameters from a saved fit run) that a ``Simulation`` runs, and as an ASE calculator
checked against ASE's own Lennard-Jones calculator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from kernels.learned_pair import NeuralPair
from workbench.builders import build_system
from workbench.calculator import PairCalculator
from workbench.fit import PotentialFit, fitted_potential, target_from_reference_system
from workbench.potential import PairPotential
from workbench.registry import RunRegistry
from workbench.simulation import Simulation


def _argon(n_rep=3, a=5.8):
    atoms = bulk("Ar", "fcc", a=a, cubic=True).repeat(n_rep)
    atoms.rattle(0.1, seed=1)
    return atoms


def test_ase_calculator_matches_ases_lennard_jones():
    # ASE's LennardJones shifts u to zero at rc (smooth=False): the workbench's "shifted" mode.
    sigma, eps, rc = 3.405, 0.0103, 8.0
    atoms = _argon()
    ref = LennardJones(sigma=sigma, epsilon=eps, rc=rc)
    ours = PairCalculator(PairPotential(family="lj", r_cutoff=rc / sigma, mode="shifted"),
                          length=sigma, energy=eps)
    e_ref = ref.get_potential_energy(atoms)
    f_ref = ref.get_forces(atoms)
    atoms.calc = ours
    assert atoms.get_potential_energy() == pytest.approx(e_ref, rel=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), f_ref, rtol=1e-8, atol=1e-12)
    atoms.positions += 0.05  # updated neighbour list, same answer as ASE
    atoms.calc = ref
    e2 = atoms.get_potential_energy()
    atoms.calc = ours
    assert atoms.get_potential_energy() == pytest.approx(e2, rel=1e-10)


def test_ase_calculator_rejects_foreign_species_and_open_cells():
    calc = PairCalculator(PairPotential(family="lj"), symbols=["Ar"], length=3.4, energy=0.01)
    atoms = _argon()
    atoms[0].symbol = "Kr"
    atoms.calc = calc
    with pytest.raises(ValueError, match="Kr"):
        atoms.get_potential_energy()
    atoms = _argon()
    atoms.pbc = False
    atoms.calc = calc
    with pytest.raises(ValueError, match="periodic orthorhombic"):
        atoms.get_potential_energy()


def test_spline_table_of_lj_runs_like_lj():
    # u(r) tabulated at 200 knots reproduces the analytic energy of an LJ liquid to 1e-4
    system = build_system("lj_fluid", n_atoms=256, density=0.8)
    lj = PairPotential(family="lj", r_cutoff=2.5)
    knots = np.linspace(0.8, 2.5, 200)
    table = PairPotential(family="spline", params={"u": [4 * (knots**-12 - knots**-6)]},
                          model={"r_min": 0.8}, r_cutoff=2.5)
    R = jnp.asarray(system.positions)
    energies = []
    for p in (lj, table):
        _, _, neighbor_fn, energy_fn, params = p.build(system.box, system.species, 1,
                                                       np.float64)
        energies.append(float(energy_fn(R, neighbor_fn.allocate(R), **params)))
    assert energies[1] == pytest.approx(energies[0], rel=1e-4)
    with pytest.raises(ValueError, match="spline table"):
        PairPotential(family="spline", params={"u": [[0.0, 1.0]]},
                      model={"r_min": 0.8}).full_params(1)


def test_neural_potential_round_trips_through_json_and_simulates():
    import jax

    net = NeuralPair(r_cutoff=2.5).init_params(jax.random.PRNGKey(0), 1)
    p = PairPotential(family="neural", params=net, model={"hidden": [32, 32]}, r_cutoff=2.5)
    again = PairPotential.from_dict(p.to_dict())
    system = build_system("lj_fluid", n_atoms=108, density=0.7, potential=again)
    sim = Simulation(system, temperature=1.2, n_steps=200, stride=50)
    sim.run(progress=False)
    assert sim.status == "completed" and np.isfinite(sim.trajectory.thermo["potential"]).all()


def test_a_fitted_networks_prior_travels_with_its_potential():
    # a neural fit's prior (FitSettings.neural_prior) is in the PairPotential it saves, and a
    # potential saved before priors were configurable keeps the old default (0.9, 1, 12)
    from workbench.fit.parameters import pair_model, to_pair_potential
    from workbench.fit.settings import FitSettings

    prior = {"prior_sigma": 1.1, "prior_epsilon": 0.3, "prior_power": 9.0}
    settings = FitSettings(family="neural", neural_prior=prior)
    model = pair_model(settings)
    potential = to_pair_potential(settings, model.init_params(jax.random.PRNGKey(0)))
    again = PairPotential.from_dict(potential.to_dict())._model()
    assert (again.prior_sigma, again.prior_epsilon, again.prior_power) == (1.1, 0.3, 9.0)
    old = PairPotential(family="neural", model={"hidden": [32, 32]})._model()
    assert (old.prior_sigma, old.prior_epsilon, old.prior_power) == (0.9, 1.0, 12.0)
    with pytest.raises(ValueError, match="neural_prior takes"):
        FitSettings(family="neural", neural_prior={"sigma": 1.0}, targets=[_flat()]).check()


def _flat():
    from workbench.targets import TargetRDF

    r = np.linspace(0.05, 2.5, 50)
    return TargetRDF(r=r, g=np.ones_like(r), density=0.7, temperature=1.2)


@pytest.mark.parametrize("family, start", [("lj", {"sigma": 0.95, "epsilon": 1.05}),
                                           ("spline", {})])
def test_fit_run_becomes_a_simulation_potential(family, start):
    target = target_from_reference_system(
        "lj_fluid", temperature=1.2, n_steps=1000, equilibration=200, stride=50,
        system_kwargs={"n_atoms": 108, "density": 0.7}, r_max=2.5, n_bins=50)
    fit = PotentialFit(target, family=family, method="ibi" if family == "spline" else "diffsim",
                       initial_params=start, n_atoms=108, equilibration=100,
                       steps_per_iteration=60, window=60, stride=20, n_bins=50,
                       eval_iterations=1)
    fit.step()
    run = fit.save(RunRegistry())
    potential = fitted_potential(RunRegistry().get(run.id))  # rebuilt from settings + params
    assert potential.family == family
    if family == "lj":
        assert potential.params["sigma"] == pytest.approx(float(fit.params["sigma"]))
    else:
        np.testing.assert_allclose(potential.params["u"], fit.params["u"])
    system = build_system("lj_fluid", n_atoms=108, density=0.7, potential=potential)
    sim = Simulation(system, temperature=1.2, n_steps=100, stride=50)
    sim.run(progress=False)
    assert sim.status == "completed"
