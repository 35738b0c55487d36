"""The ``water`` and ``alanine_dipeptide`` recipes (OpenMM systems from
``workbench.molecules.openmm_systems``), small: forces and energies equal those of the system's
own Reference-platform context at the recorded positions."""

import numpy as np
import pytest
from ase import units

openmm_systems = pytest.importorskip("workbench.molecules.openmm_systems")

from workbench.data import generate  # noqa: E402

SMALL = {"stride": 5, "equilibration_steps": 20}


def _check_against_openmm(ds, built, frames=(0, -1)):
    import openmm.unit as u

    context = built.context("Reference")
    for i in frames:
        context.setPositions(ds.positions[i] / 10.0)  # Å -> nm
        state = context.getState(getForces=True, getEnergy=True)
        forces = state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
        energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        scale = units.kJ / units.mol / 10.0  # kJ/mol/nm -> eV/Å
        # water runs the CPU platform (single-precision nonbonded), alanine in vacuum Reference
        np.testing.assert_allclose(ds.forces[i], forces * scale, rtol=1e-3,
                                   atol=1e-3 * np.abs(forces * scale).max())
        assert ds.energies[i] == pytest.approx(energy * units.kJ / units.mol, rel=1e-4)


def test_water_recipe(tmp_path):
    ds = generate("water", 4, tmp_path / "water.npz", seed=0, chunk_frames=2, **SMALL)
    built = openmm_systems.water_box(64, seed=0)
    assert ds.n_atoms == 192 and ds.species.tolist()[:3] == [8, 1, 1]
    np.testing.assert_allclose(ds.box, built.box * 10.0)
    # wrapped into the box (whole molecules, so a few atoms may stick out by a bond length)
    assert ds.positions.min() > -1.5 and (ds.positions.max(axis=(0, 1)) < ds.box + 1.5).all()
    _check_against_openmm(ds, built)
    assert ds.provenance["settings"]["timestep_fs"] == 0.5


def test_alanine_dipeptide_recipe(tmp_path):
    ds = generate("alanine_dipeptide", 4, tmp_path / "ala.npz", seed=0, chunk_frames=2, **SMALL)
    built = openmm_systems.alanine_dipeptide()
    assert ds.n_atoms == 22 and ds.box is None
    np.testing.assert_array_equal(ds.species, built.atomic_numbers)
    np.testing.assert_allclose(ds.masses, built.masses)
    _check_against_openmm(ds, built)
    again = generate("alanine_dipeptide", 4, tmp_path / "ala2.npz", seed=0, chunk_frames=2,
                     **SMALL)
    np.testing.assert_array_equal(again.positions, ds.positions)
