"""Molecular systems (``workbench.molecules``): the OpenMM objects the builders return, the
shipped alanine dipeptide structure and its recipe, and the kernel-side conversion.

Expected numbers come from the published parameters (SPC/Fw: Wu, Tepper & Voth 2006), from
OpenMM's element masses and ff14SB templates, and from the construction itself (density, box).
"""

import jax
import numpy as np
import openmm as mm
import pytest
from openmm import app, unit

from workbench.molecules import (
    MOLECULAR_SYSTEMS,
    SPCFW,
    alanine_dipeptide,
    alanine_dipeptide_pdb,
    kernel_system,
    phi_psi_indices,
    water_box,
)
from workbench.molecules.openmm_systems import AVOGADRO, WATER_MASS_AMU
from workbench.molecules.structures import build_alanine_dipeptide


def _dihedral_deg(p, quad):
    b1, b2, b3 = p[quad[1]] - p[quad[0]], p[quad[2]] - p[quad[1]], p[quad[3]] - p[quad[2]]
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    return np.degrees(np.arctan2(np.linalg.norm(b2) * np.dot(b1, n2), np.dot(n1, n2)))


def _nonbonded(system):
    return next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))


@pytest.mark.parametrize("n_molecules", [64, 100])
def test_water_box_interface_and_geometry(n_molecules):
    # Expected: 3 atoms per molecule (O, H, H), OpenMM element masses, the box that gives
    # 0.997 g/cm^3, SPC/Fw equilibrium geometry (r_OH 1.012 Å, 113.24 deg) at the start.
    w = water_box(n_molecules, seed=3)
    n = 3 * n_molecules
    assert w.positions.shape == (n, 3) and w.masses.shape == (n,) and w.bonds.shape == (
        2 * n_molecules, 2)
    assert w.atomic_numbers.tolist()[:3] == [8, 1, 1] and w.elements[:3] == ("O", "H", "H")
    assert isinstance(w.topology, app.Topology) and isinstance(w.system, mm.System)
    assert w.system.getNumParticles() == n and w.topology.getNumAtoms() == n
    grams = n_molecules * WATER_MASS_AMU / AVOGADRO
    assert grams / (np.prod(w.box) * 1e-21) == pytest.approx(0.997, rel=1e-12)  # nm^3 -> cm^3
    assert np.all((w.positions > -0.2) & (w.positions < w.box[0] + 0.2))
    o, h1 = w.positions[0::3], w.positions[1::3]
    h2 = w.positions[2::3]
    np.testing.assert_allclose(np.linalg.norm(h1 - o, axis=1), SPCFW["r_OH"] / 10, rtol=1e-12)
    cos = np.sum((h1 - o) * (h2 - o), 1) / np.linalg.norm(h1 - o, axis=1) ** 2
    np.testing.assert_allclose(np.degrees(np.arccos(cos)), SPCFW["theta_HOH"], rtol=1e-10)
    # PME pinned (alpha and grid explicit), cutoff below half the box
    nb = _nonbonded(w.system)
    alpha, nx, ny, nz = nb.getPMEParameters()
    assert alpha.value_in_unit(unit.nanometer**-1) > 0 and min(nx, ny, nz) > 0
    assert nb.getCutoffDistance().value_in_unit(unit.nanometer) < 0.5 * w.box[0]
    assert nb.getNumExceptions() == 3 * n_molecules  # O-H, O-H, H-H of every molecule


def test_water_box_parameters_and_seed():
    # Expected: SPC/Fw Table I in OpenMM units (kJ/mol, nm): k_b = 1059.162 kcal/mol/Å^2,
    # k_a = 75.90 kcal/mol/rad^2, q_O = -0.82 e, sigma = 3.165492 Å, eps = 0.1554253 kcal/mol.
    w = water_box(64)
    forces = {type(f).__name__: f for f in w.system.getForces()}
    _, _, r0, kb = forces["HarmonicBondForce"].getBondParameters(0)
    assert r0.value_in_unit(unit.nanometer) == pytest.approx(0.1012)
    assert kb.value_in_unit(unit.kilojoule_per_mole / unit.nanometer**2) == pytest.approx(
        1059.162 * 4.184 * 100)
    _, _, _, theta, ka = forces["HarmonicAngleForce"].getAngleParameters(0)
    assert ka.value_in_unit(unit.kilojoule_per_mole / unit.radian**2) == pytest.approx(
        75.90 * 4.184)
    assert theta.value_in_unit(unit.degree) == pytest.approx(113.24)
    q, sigma, eps = forces["NonbondedForce"].getParticleParameters(0)
    assert q.value_in_unit(unit.elementary_charge) == pytest.approx(-0.82)
    assert sigma.value_in_unit(unit.nanometer) == pytest.approx(0.3165492)
    assert eps.value_in_unit(unit.kilojoule_per_mole) == pytest.approx(0.1554253 * 4.184)
    assert w.info["cutoff_nm"] == 0.6  # 64 molecules: box 1.243 nm
    np.testing.assert_array_equal(water_box(64, seed=0).positions, w.positions)
    assert not np.allclose(water_box(64, seed=1).positions, w.positions)


def test_alanine_dipeptide_vacuum():
    # Expected: 22 atoms ACE-ALA-NME, ff14SB (bonds, angles, torsions, nonbonded; no CMAP),
    # neutral, no box; the shipped structure is the C7eq minimum (phi ~ -75, psi ~ 54 deg).
    ala = alanine_dipeptide()
    assert ala.n_atoms == 22 and ala.box is None
    assert [r.name for r in ala.topology.residues()] == ["ACE", "ALA", "NME"]
    assert ala.bonds.shape == (21, 2)
    kinds = {type(f).__name__ for f in ala.system.getForces()}
    assert {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce",
            "NonbondedForce"} <= kinds
    nb = _nonbonded(ala.system)
    charge = sum(nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge)
                 for i in range(22))
    assert charge == pytest.approx(0.0, abs=1e-6)
    assert nb.getNonbondedMethod() == mm.NonbondedForce.NoCutoff
    assert not ala.system.usesPeriodicBoundaryConditions()
    (phi, psi), = phi_psi_indices(ala.topology)
    atoms = list(ala.topology.atoms())
    assert [(atoms[i].residue.name, atoms[i].name) for i in phi] == [
        ("ACE", "C"), ("ALA", "N"), ("ALA", "CA"), ("ALA", "C")]
    assert [(atoms[i].residue.name, atoms[i].name) for i in psi] == [
        ("ALA", "N"), ("ALA", "CA"), ("ALA", "C"), ("NME", "N")]
    assert _dihedral_deg(ala.positions, phi) == pytest.approx(-75.0, abs=2.0)
    assert _dihedral_deg(ala.positions, psi) == pytest.approx(54.0, abs=2.0)
    assert ala.masses.sum() == pytest.approx(144.17, abs=0.05)  # C6H12N2O2 (144.17 g/mol)


def test_alanine_dipeptide_in_water():
    # Expected: the peptide plus TIP3P waters (3 atoms each) in a 2.7 nm periodic box, PME with
    # a 0.9 nm cutoff, no net charge.
    solv = alanine_dipeptide("water")
    n_water = sum(1 for r in solv.topology.residues() if r.name == "HOH")
    assert n_water > 500 and solv.n_atoms == 22 + 3 * n_water
    np.testing.assert_allclose(solv.box, [2.7, 2.7, 2.7])
    nb = _nonbonded(solv.system)
    assert nb.getNonbondedMethod() == mm.NonbondedForce.PME
    assert nb.getCutoffDistance().value_in_unit(unit.nanometer) == pytest.approx(0.9)
    assert nb.getPMEParameters()[1] > 0
    assert solv.system.getNumConstraints() == 0  # flexible by default
    with pytest.raises(ValueError):
        alanine_dipeptide("octanol")


def test_shipped_structure_matches_its_recipe():
    # Expected: rebuilding with RDKit + OpenMM gives the same atoms, names, order and bonds as
    # the shipped PDB file, and a structure in the same (C7eq) basin.
    shipped = app.PDBFile(str(alanine_dipeptide_pdb()))
    import io

    rebuilt = app.PDBFile(io.StringIO(build_alanine_dipeptide()))

    def names(t):
        return [(a.residue.name, a.name, a.element.symbol) for a in t.atoms()]

    def bonds(t):
        return sorted(tuple(sorted((b.atom1.index, b.atom2.index))) for b in t.bonds())

    assert names(rebuilt.topology) == names(shipped.topology)
    assert bonds(rebuilt.topology) == bonds(shipped.topology)
    p = np.array(rebuilt.positions.value_in_unit(unit.nanometer))
    (phi, psi), = phi_psi_indices(rebuilt.topology)
    assert -100 < _dihedral_deg(p, phi) < -50 and 30 < _dihedral_deg(p, psi) < 100


@pytest.mark.parametrize("name", sorted(MOLECULAR_SYSTEMS))
def test_kernel_system_shapes_and_units(name):
    # Expected: positions and box in Å (10x OpenMM's nm), masses in amu, species indexing
    # element symbols; the energy (eV) at the start is finite.
    kwargs = {"n_molecules": 64} if name == "water_spcfw" else {}
    ks = kernel_system(name, **kwargs)
    mol = MOLECULAR_SYSTEMS[name][1](**kwargs)
    n = mol.n_atoms
    assert ks.R0.shape == (n, 3) and ks.masses.shape == (n,) and ks.species.shape == (n,)
    assert [ks.species_names[s] for s in ks.species] == list(mol.elements)
    np.testing.assert_allclose(ks.masses, mol.masses)
    if mol.box is None:
        assert ks.box is None
        np.testing.assert_allclose(ks.R0, 10 * mol.positions, atol=1e-12)
    else:
        np.testing.assert_allclose(ks.box, 10 * mol.box)
        wrapped = np.mod(10 * mol.positions, 10 * mol.box)
        np.testing.assert_allclose(ks.R0, wrapped, atol=1e-9)
    np.testing.assert_array_equal(ks.bonds, mol.bonds)
    nbrs = ks.neighbor_fn.allocate(ks.R0)
    assert np.isfinite(float(jax.jit(ks.energy_fn)(ks.R0, nbrs)))


def test_phi_psi_of_kernel_alanine_dipeptide():
    # Expected: the kernel observable on the kernel positions (Å) gives the shipped structure's
    # dihedrals computed here with numpy from OpenMM's positions (nm).
    from kernels.observables.molecular import phi_psi

    ks = kernel_system("alanine_dipeptide_vacuum")
    mol = alanine_dipeptide()
    idx = phi_psi_indices(mol.topology)[0]
    got = np.degrees(np.asarray(phi_psi(ks.displacement_fn, ks.R0, idx)))
    np.testing.assert_allclose(got, [_dihedral_deg(mol.positions, q) for q in idx], atol=1e-8)
