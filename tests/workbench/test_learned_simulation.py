"""MD with a learned force field through ``Simulation``: every integrator, periodic and free,
NVE energy conservation in float64 (SchNet's tabulated filters as well as the exact ones),
saving and reloading the run's model, ``learned_system`` and ``load_model``, and the clear
errors (elements the model lacks, a cutoff over half the box).

Models: small pair MLPs fitted to argon's Lennard-Jones (``tests.lj_pair_mlp``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.cluster import Icosahedron
from ase.lattice.cubic import FaceCenteredCubic

from tests.lj_pair_mlp import AR, lj_model
from workbench.architectures import architecture
from workbench.learned import LearnedForceField
from workbench.learned_system import learned_system, load_model, model_runs
from workbench.registry import RunRegistry
from workbench.simulation import Simulation


@pytest.fixture(scope="module")
def model():
    return lj_model((AR,), cutoff=5.0, hidden=(16, 16))


def _cluster(model):
    return learned_system(model, Icosahedron("Ar", 2, latticeconstant=5.26))  # 13 atoms, free


def _crystal(model):
    return learned_system(model, FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.9))


@pytest.mark.parametrize("integrator", ["nve", "langevin", "nose_hoover"])
@pytest.mark.parametrize("make", [_cluster, _crystal], ids=["free", "periodic"])
def test_every_integrator_runs(model, integrator, make):
    system = make(model)
    sim = Simulation(system, integrator=integrator, temperature=40.0, timestep=5.0,
                     friction=0.01, n_steps=40, stride=20, frames_per_chunk=2)
    traj = sim.run(progress=False)
    assert sim.status == "completed", sim.message
    assert traj.positions.shape == (2, system.n_atoms, 3)
    assert traj.positions.dtype == np.float32  # the default precision
    # argon near 40 K stays bound: potential energy per atom between -2 and 0 eps
    u = traj.thermo["potential"] / system.n_atoms
    assert np.all((u < 0) & (u > -2 * 0.0103)), u
    assert np.isfinite(traj.thermo["pressure"]).all() == system.periodic


def test_nve_conserves_energy_in_float64():
    # 13-atom argon cluster started at 30 K, 5 fs steps (~1/60 of the LJ vibration period,
    # 0.3 ps), 4,000 steps = 20 ps, float64. Measured (this model, seeds 0-2): peak-to-peak
    # total energy 3.7e-6 to 4.9e-6 eV, drift over the run < 2.8e-6 eV, against a mean kinetic
    # energy of 0.020-0.034 eV. Bound: 1e-4 eV, ~20x the measured spread and still well
    # below what a force that is not -grad E, or a missed neighbour, gives (>1e-3 eV).
    model = lj_model((AR,), cutoff=7.0)
    system = _cluster(model)
    sim = Simulation(system, integrator="nve", temperature=30.0, timestep=5.0, n_steps=4000,
                     stride=100, frames_per_chunk=40, precision="float64")
    traj = sim.run(progress=False)
    assert sim.status == "completed", sim.message
    assert traj.thermo["total"].dtype == np.float64
    total = traj.thermo["total"]
    assert np.ptp(total) < 1e-4, np.ptp(total)
    assert traj.thermo["kinetic"].mean() > 0.01  # it moved (measured 0.020-0.034 eV)


def test_save_keeps_the_model(model, tmp_path):
    sim = Simulation(_cluster(model), integrator="langevin", temperature=40.0, timestep=5.0,
                     friction=0.01, n_steps=20, stride=10, frames_per_chunk=2)
    sim.run(progress=False)
    registry = RunRegistry(tmp_path / "runs")
    run = sim.save(registry=registry)
    assert run.config["system"]["model"]["architecture"]["arch"] == "pair_mlp"
    assert run.config["system"]["model"]["species"] == [AR]
    again = LearnedForceField.load(run.file("model"))
    np.testing.assert_array_equal(again.params["params"]["Dense_0"]["kernel"],
                                  model.params["params"]["Dense_0"]["kernel"])
    assert run.file("trajectory.extxyz").is_file()


def test_load_model_by_folder_and_run_id(model, tmp_path):
    registry = RunRegistry(tmp_path / "runs")
    run = registry.create("mlff", {"arch": "pair_mlp"}, name="argon")
    model.save(run.path)
    registry.create("mlff", {}, name="unfinished")  # no model.json: not listed
    assert load_model(run.path).species == [AR]
    loaded = load_model(run.id, registry=registry)
    assert loaded.run_id == run.id and loaded.cutoff == model.cutoff
    assert model_runs(registry) == {f"argon ({run.id})": run.id}
    with pytest.raises(ValueError, match="neither a folder"):
        load_model("no-such-run", registry=registry)


def test_learned_system_from_a_system_and_a_box(model):
    crystal = _crystal(model)
    again = learned_system(model, crystal, name="again")
    np.testing.assert_array_equal(again.positions, crystal.positions)
    assert again.species_names == ["Ar"] and again.name == "again"
    boxed = learned_system(model, Icosahedron("Ar", 2, latticeconstant=5.26), box=15.0)
    np.testing.assert_array_equal(boxed.box, [15.0, 15.0, 15.0])
    assert boxed.to_dict()["model"]["species"] == [AR]


def test_species_the_model_lacks_are_named(model):
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with pytest.raises(ValueError, match=r"trained on Ar only.*H, O"):
        learned_system(model, water)


def test_cutoff_over_half_the_box_is_refused(model):
    atoms = FaceCenteredCubic("Ar", size=(1, 1, 1), latticeconstant=5.9)  # 5.9 Å < 2 x 5 Å
    with pytest.raises(ValueError, match="exceeds half the box"):
        learned_system(model, atoms)


def test_bad_structures_are_refused(model):
    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.9)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="orthorhombic"):
        learned_system(model, atoms)
    with pytest.raises(ValueError, match="unknown system"):
        learned_system(model, "no_such_system")
    with pytest.raises(ValueError, match="no weights"):
        learned_system(LearnedForceField(architecture=model.architecture, species=[AR],
                                         shifts=[0.0]), Icosahedron("Ar", 2))


def test_nve_with_tabulated_schnet_filters_conserves_energy_as_the_exact_ones(monkeypatch):
    # SchNet (small, random weights, seed 0, scale 0.02 eV) on the 13-atom argon cluster, 30 K,
    # 5 fs, 4,000 steps, float64. MD looks SchNet's filters up in cubic tables
    # (LearnedForceField.md_weights); the exact filters are the reference. Measured, seeds 0-2:
    # peak-to-peak total energy 1.9e-8 to 4.4e-8 eV, tabulated and exact equal to 1e-4
    # relative, while the potential energy moved by 1.2e-3 to 1.8e-3 eV. Bounds: 1e-6 eV and
    # 10 % of the exact run's.
    from kernels.mlff.graph import Edges

    lff = LearnedForceField(architecture=architecture(
        "schnet", n_features=16, n_filters=16, n_interactions=2, n_gaussians=10),
        species=[AR], shifts=[0.0], scale=0.02)
    atoms = Icosahedron("Ar", 2, latticeconstant=5.26)
    i, j = np.nonzero(~np.eye(len(atoms), dtype=bool))
    lff.params = lff.build_model().init_fn(
        jax.random.PRNGKey(0), jnp.asarray(atoms.positions),
        Edges(jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)),
        jnp.zeros(len(atoms), jnp.int32))
    assert "tables" in lff.md_weights()

    def total_energy():
        sim = Simulation(learned_system(lff, atoms), integrator="nve", temperature=30.0,
                         timestep=5.0, n_steps=4000, stride=100, frames_per_chunk=40,
                         precision="float64")
        traj = sim.run(progress=False)
        assert sim.status == "completed", sim.message
        return traj.thermo["total"], traj.thermo["potential"]

    tabulated, potential = total_energy()
    monkeypatch.setattr(LearnedForceField, "md_weights", lambda self: self.params)
    exact, _ = total_energy()
    assert np.ptp(potential) > 5e-4  # the cluster moved over the tables
    assert np.ptp(tabulated) < 1e-6
    assert np.ptp(tabulated) < 1.1 * np.ptp(exact), (np.ptp(tabulated), np.ptp(exact))
