"""Reference-data generators: values checked against the engines called directly, determinism
for a seed, and resumed runs equal to uninterrupted ones."""

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as u
import pytest
from ase import units

from workbench.data import Dataset, generate, generate_openmm

KJ_MOL_NM = units.kJ / units.mol / 10.0  # kJ/mol/nm in eV/Å


class Stop(Exception):
    pass


def stop_after(frames):
    def progress(done, total):
        if done >= frames:
            raise Stop

    return progress


def argon(n_side=3, spacing_nm=0.6):
    """A small periodic argon gas: LJ through OpenMM's NonbondedForce (sigma 0.34 nm,
    epsilon 0.997 kJ/mol), built here so the generic OpenMM generator is tested on its own."""
    box = n_side * spacing_nm
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(*(mm.Vec3(*(box * np.eye(3)[i])) for i in range(3)))
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(0.85)
    topology = app.Topology()
    residue = topology.addResidue("AR", topology.addChain())
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for i in range(len(grid)):
        system.addParticle(39.948)
        nb.addParticle(0.0, 0.34, 0.997)
        topology.addAtom(f"AR{i}", app.Element.getBySymbol("Ar"), residue)
    system.addForce(nb)
    topology.setPeriodicBoxVectors(system.getDefaultPeriodicBoxVectors())
    rng = np.random.default_rng(0)
    positions = (grid + 0.5) * spacing_nm + 0.02 * rng.standard_normal(grid.shape)
    return topology, system, positions


ARGON = {"stride": 5, "equilibration_steps": 20, "timestep_fs": 5.0}


def _same(a: Dataset, b: Dataset) -> None:
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.forces, b.forces)
    np.testing.assert_array_equal(a.energies, b.energies)


def test_openmm_forces_and_energies_equal_openmm_on_the_same_frame(tmp_path):
    topology, system, positions = argon()
    ds = generate_openmm(topology, system, positions, 6, tmp_path / "ar.npz", seed=1,
                         chunk_frames=3, **ARGON)
    assert len(ds) == 6 and ds.units == "ase" and ds.species.tolist() == [18] * 27
    np.testing.assert_allclose(ds.box, [18.0, 18.0, 18.0])
    np.testing.assert_allclose(ds.masses, 39.948)
    assert np.ptp(ds.energies) > 0 and np.abs(ds.forces).max() > 1e-4
    context = mm.Context(system, mm.VerletIntegrator(0.001),
                         mm.Platform.getPlatformByName("Reference"))
    for i in (0, 5):
        context.setPositions(ds.positions[i] / 10.0)  # Å -> nm
        state = context.getState(getForces=True, getEnergy=True)
        forces = state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
        energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        # the generator runs the CPU platform (single-precision nonbonded forces)
        np.testing.assert_allclose(ds.forces[i], forces * KJ_MOL_NM, rtol=1e-4, atol=1e-7)
        assert ds.energies[i] == pytest.approx(energy * units.kJ / units.mol, rel=1e-5)
    prov = ds.provenance
    assert prov["generator"] == "openmm" and prov["seed"] == 1
    assert prov["engine"]["name"] == "openmm" and prov["engine"]["version"] == mm.__version__
    assert prov["settings"]["temperature_K"] == 300.0 and "date" in prov


def test_openmm_same_seed_same_frames_and_resume_equals_uninterrupted(tmp_path):
    topology, system, positions = argon()
    whole = generate_openmm(topology, system, positions, 7, tmp_path / "a.npz", seed=3,
                            chunk_frames=3, **ARGON)
    again = generate_openmm(topology, system, positions, 7, tmp_path / "b.npz", seed=3,
                            chunk_frames=3, **ARGON)
    _same(whole, again)
    out = tmp_path / "resumed.npz"
    with pytest.raises(Stop):
        generate_openmm(topology, system, positions, 7, out, seed=3, chunk_frames=3,
                        progress=stop_after(3), **ARGON)
    parts = tmp_path / "resumed.npz.parts"
    assert not out.exists() and (parts / "chunk-00000.npz").exists()
    assert not (parts / "chunk-00001.npz").exists()
    seen = []
    resumed = generate_openmm(topology, system, positions, 7, out, seed=3, chunk_frames=3,
                              progress=lambda d, n: seen.append((d, n)), **ARGON)
    assert seen == [(3, 7), (6, 7), (7, 7)]
    _same(resumed, whole)
    _same(Dataset.load(out), whole)
    assert not parts.exists()
    other = generate_openmm(topology, system, positions, 7, tmp_path / "c.npz", seed=4,
                            chunk_frames=3, **ARGON)
    assert not np.array_equal(other.positions, whole.positions)


def test_settings_must_match_saved_chunks_and_output(tmp_path):
    topology, system, positions = argon()
    out = tmp_path / "ar.npz"
    with pytest.raises(Stop):
        generate_openmm(topology, system, positions, 4, out, seed=0, chunk_frames=2,
                        progress=stop_after(2), **ARGON)
    with pytest.raises(ValueError, match="chunks of a run with other settings"):
        generate_openmm(topology, system, positions, 4, out, seed=1, chunk_frames=2, **ARGON)
    ds = generate_openmm(topology, system, positions, 4, out, seed=0, chunk_frames=2, **ARGON)
    again = generate_openmm(topology, system, positions, 4, out, seed=0, chunk_frames=2,
                            **ARGON)  # finished: returned as is
    _same(ds, again)
    with pytest.raises(ValueError, match="exists and was made with other settings"):
        generate_openmm(topology, system, positions, 4, out, seed=0, chunk_frames=2,
                        **{**ARGON, "stride": 6})
    other = generate_openmm(topology, system, positions, 4, out, seed=0, chunk_frames=2,
                            overwrite=True, **{**ARGON, "stride": 6})
    assert other.provenance["settings"]["stride"] == 6


def test_tblite_ethanol_matches_a_direct_ase_calculation(tmp_path):
    from tblite.ase import TBLite

    opts = {"stride": 2, "equilibration_steps": 4}
    ds = generate("ethanol", 4, tmp_path / "eth.npz", seed=0, chunk_frames=2, **opts)
    assert ds.species.tolist().count(6) == 2 and ds.n_atoms == 9 and ds.box is None
    atoms = ds.to_ase()[0]
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    # SCF from a fresh guess here, from the previous step's wavefunction in the generator
    assert ds.energies[0] == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
    np.testing.assert_allclose(ds.forces[0], atoms.get_forces(), atol=1e-4)
    assert ds.provenance["settings"]["calculator"]["method"] == "GFN2-xTB"
    out = tmp_path / "eth-resumed.npz"
    with pytest.raises(Stop):
        generate("ethanol", 4, out, seed=0, chunk_frames=2, progress=stop_after(2), **opts)
    _same(generate("ethanol", 4, out, seed=0, chunk_frames=2, **opts), ds)


def test_any_molecule_from_smiles(tmp_path):
    opts = {"stride": 2, "equilibration_steps": 4}
    ds = generate("smiles", 2, tmp_path / "ipa.npz", smiles="CC(C)O", **opts)
    assert sorted(ds.symbols) == sorted("CCCO" + "H" * 8) and ds.box is None
    calculator = ds.provenance["settings"]["calculator"]
    assert calculator["smiles"] == "CC(C)O"
    assert "charge" not in calculator  # neutral: as recorded before charges were (shipped data)
    # the same engine as the named recipes: SMILES "CCO" gives the ethanol recipe's frames
    eth = generate("ethanol", 2, tmp_path / "eth.npz", **opts)
    cco = generate("smiles", 2, tmp_path / "cco.npz", smiles="CCO", **opts)
    np.testing.assert_array_equal(cco.positions, eth.positions)
    with pytest.raises(ValueError, match="needs a molecule: smiles="):
        generate("smiles", 2, tmp_path / "none.npz")
    with pytest.raises(ValueError, match="cannot parse SMILES"):
        generate("smiles", 2, tmp_path / "bad.npz", smiles="C1CC")
    with pytest.raises(ValueError, match="2 disconnected fragments"):
        generate("smiles", 2, tmp_path / "salt.npz", smiles="[Na+].[Cl-]")
    with pytest.raises(ValueError, match="stride must be a whole number, not 2.5"):
        generate("smiles", 2, tmp_path / "x.npz", smiles="CCO", stride=2.5)
    with pytest.raises(ValueError, match="recipe 'smiles': .*'foo'"):
        generate("smiles", 2, tmp_path / "x.npz", smiles="CCO", foo=1)


def test_a_charged_molecule_is_computed_with_its_charge(tmp_path):
    from tblite.ase import TBLite

    ds = generate("smiles", 2, tmp_path / "acetate.npz", smiles="CC(=O)[O-]", stride=2,
                  equilibration_steps=4)
    assert ds.provenance["settings"]["calculator"]["charge"] == -1
    atoms = ds.to_ase()[0]
    atoms.calc = TBLite(method="GFN2-xTB", charge=-1, verbosity=0)
    # the recorded forces are the anion's (at charge 0 GFN2-xTB would compute the neutral
    # radical, 8 eV higher in energy at this geometry, with other forces)
    np.testing.assert_allclose(ds.forces[0], atoms.get_forces(), atol=1e-4)


def _lj_brute_force(positions, box, r_cut=2.5):
    """Truncated LJ (sigma = epsilon = 1) energy and forces, minimum image, all pairs."""
    d = positions[:, None, :] - positions[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.sum(d**2, -1)
    np.fill_diagonal(r2, np.inf)
    inside = r2 < r_cut**2
    inv6 = np.where(inside, 1.0 / r2**3, 0.0)
    energy = 0.5 * np.sum(4.0 * (inv6**2 - inv6))
    coef = np.where(inside, 24.0 * (2.0 * inv6**2 - inv6) / r2, 0.0)
    return energy, np.sum(coef[..., None] * d, axis=1)


def test_lj_forces_and_energies_match_a_brute_force_sum_and_resume(tmp_path):
    opts = {"n_atoms": 108, "stride": 5, "equilibration_steps": 20}
    ds = generate("lj_liquid", 4, tmp_path / "lj.npz", seed=0, chunk_frames=2, **opts)
    assert ds.units == "lj" and ds.species_names == ["A"] and ds.n_atoms == 108
    box = (108 / 0.8442) ** (1 / 3)
    np.testing.assert_allclose(ds.box, box)
    for i in (0, 3):
        energy, forces = _lj_brute_force(ds.positions[i], box)
        assert ds.energies[i] == pytest.approx(energy, rel=1e-10)
        np.testing.assert_allclose(ds.forces[i], forces, rtol=1e-8, atol=1e-8)
    out = tmp_path / "lj-resumed.npz"
    with pytest.raises(Stop):
        generate("lj_liquid", 4, out, seed=0, chunk_frames=2, progress=stop_after(2), **opts)
    _same(generate("lj_liquid", 4, out, seed=0, chunk_frames=2, **opts), ds)


def test_unknown_generator():
    with pytest.raises(ValueError, match="unknown generator 'argon'"):
        generate("argon", 1, "x.npz")


def test_cli_generate_and_info(tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "eth.npz"
    args = ["data", "generate", "ethanol", "--frames", "3", "--out", str(out), "--seed", "2",
            "--chunk-frames", "2", "--set", "stride=2", "--set", "equilibration_steps=2"]
    assert main(args) == 0
    ds = Dataset.load(out)
    assert len(ds) == 3 and ds.provenance["seed"] == 2
    assert ds.provenance["settings"]["stride"] == 2
    assert main(["data", "info", str(out)]) == 0
    assert "3 frames x 9 atoms" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["data", "list"]) == 0
    assert "salicylic_acid" in capsys.readouterr().out


def test_generation_job_cancelled_in_background_keeps_chunks_and_resumes(tmp_path):
    from workbench.data.engines import OpenMMEngine
    from workbench.data.generate import GenerationJob

    topology, system, positions = argon()
    whole = generate_openmm(topology, system, positions, 6, tmp_path / "a.npz", seed=1,
                            chunk_frames=2, **ARGON)
    out = tmp_path / "job.npz"

    def job():
        engine = OpenMMEngine(topology, system, positions, **ARGON)
        return GenerationJob(engine, 6, out, seed=1, generator="openmm", chunk_frames=2)

    first = job()
    first.attach(first.cancel)  # cancel after the first chunk, from the worker thread
    first.start()
    assert first.wait(120)
    assert first.status == "stopped" and first.done == 2 and first.dataset is None
    assert (tmp_path / "job.npz.parts" / "chunk-00000.npz").exists() and not out.exists()
    second = job().run(progress=False)
    assert second.status == "completed" and second.done == second.total == 6
    _same(second.dataset, whole)  # resumed = uninterrupted, as in the module docstring
