"""Classical force fields in the kernel (``kernels.forcefields``: jax_md's AMBER energy with PME)
against OpenMM.

Expected numbers: OpenMM's Reference platform (double precision) on the same ``openmm.System``
and the same coordinates, with the PME alpha and grid pinned on the ``NonbondedForce`` (see
``workbench.molecules.openmm_systems``). Coordinates are the builders' starting structures with
a seeded 0.03 Å Gaussian displacement, so that no force vanishes by symmetry or at a minimum.
Tolerance: 1e-5 relative for energies and forces (float64 on both sides).
"""

import dataclasses

import ase.units
import jax
import jax.numpy as jnp
import numpy as np
import openmm as mm
import pytest
from openmm import unit

from kernels.forcefields import KCAL_PER_MOL_IN_EV, NONBONDED_COMPONENTS
from kernels.runner import simulator
from workbench.molecules import alanine_dipeptide, to_kernel, water_box

pytestmark = pytest.mark.physics
EV_PER_KJ_MOL = KCAL_PER_MOL_IN_EV / 4.184
RTOL = 1e-5
BUILDERS = {
    "water_64": lambda: water_box(64, seed=0),
    "water_64_switched": lambda: water_box(64, seed=1, switch_distance_nm=0.5),
    "alanine_dipeptide_vacuum": lambda: alanine_dipeptide(),
    "alanine_dipeptide_water": lambda: alanine_dipeptide("water"),
}
# OpenMM force class -> our component names
GROUPS = {
    "HarmonicBondForce": ("bond",),
    "HarmonicAngleForce": ("angle",),
    "PeriodicTorsionForce": ("torsion", "improper"),
    "CMAPTorsionForce": ("cmap",),
    "NonbondedForce": NONBONDED_COMPONENTS,
}


def _perturbed(mol, seed=0, sigma_nm=0.003):
    """A copy of ``mol`` with its own System (force groups set per force) and displaced atoms."""
    system = mm.XmlSerializer.clone(mol.system)
    for i, force in enumerate(system.getForces()):
        force.setForceGroup(i)
    shift = np.random.default_rng(seed).normal(0.0, sigma_nm, mol.positions.shape)
    return dataclasses.replace(mol, system=system, positions=mol.positions + shift)


def _openmm(mol, groups=None):
    """Energy (eV) and forces (eV/Å) from OpenMM's Reference platform."""
    state = mol.context("Reference").getState(getEnergy=True, getForces=True,
                                              **({} if groups is None else {"groups": groups}))
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) * EV_PER_KJ_MOL
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.angstrom)
    return energy, np.asarray(forces) * EV_PER_KJ_MOL


def _errors(E, F, E_ref, F_ref):
    """Relative energy error, Frobenius-relative force error, max-abs force error over max |F|."""
    return (abs(E - E_ref) / abs(E_ref), np.linalg.norm(F - F_ref) / np.linalg.norm(F_ref),
            np.abs(F - F_ref).max() / np.abs(F_ref).max())


@pytest.fixture(scope="module", params=list(BUILDERS))
def case(request):
    mol = _perturbed(BUILDERS[request.param]())
    ks = to_kernel(mol)
    nbrs = ks.neighbor_fn.allocate(ks.R0)
    return request.param, mol, ks, nbrs


def test_energy_and_forces_match_openmm(case):
    # Expected: OpenMM Reference, total potential energy and forces (module docstring).
    name, mol, ks, nbrs = case
    E, G = jax.jit(jax.value_and_grad(lambda R: ks.energy_fn(R, nbrs)))(ks.R0)
    E_ref, F_ref = _openmm(mol)
    err_e, err_f, err_fmax = _errors(float(E), -np.asarray(G), E_ref, F_ref)
    print(f"{name}: relative energy error {err_e:.2e}, force error |dF|/|F| {err_f:.2e}, "
          f"max|dF|/max|F| {err_fmax:.2e}")
    assert err_e < RTOL and err_f < RTOL and err_fmax < RTOL


def test_components_match_openmm_forces(case):
    # Expected: each OpenMM force on its own (force groups) equals the sum of our components
    # that make it up (GROUPS), energy and forces, 1e-5 relative.
    name, mol, ks, nbrs = case
    kinds = {type(f).__name__: i for i, f in enumerate(mol.system.getForces())
             if type(f).__name__ in GROUPS}

    @jax.jit
    def per_group(R):
        def energy(R, parts):
            c = ks.components_fn(R, nbrs)
            return sum(c[p] for p in parts)

        return {kind: jax.value_and_grad(energy)(R, GROUPS[kind]) for kind in kinds}

    for kind, (E, G) in per_group(ks.R0).items():
        E_ref, F_ref = _openmm(mol, groups={kinds[kind]})
        err_e, err_f, err_fmax = _errors(float(E), -np.asarray(G), E_ref, F_ref)
        print(f"{name} {kind}: energy {err_e:.1e}, forces {err_f:.1e} (max {err_fmax:.1e})")
        assert err_e < RTOL and err_f < RTOL and err_fmax < RTOL, kind


def test_strain_derivative_matches_openmm_finite_difference():
    # Expected: dU/ds of a uniform scaling of positions and box by (1 + s), the virial the
    # runner turns into a pressure, equals a central difference of OpenMM's Reference energy
    # (PME alpha and grid pinned, h = 1e-6: no pair crosses the cutoff), 1e-5 relative.
    mol = _perturbed(water_box(64, seed=0))
    ks = to_kernel(mol)
    nbrs = ks.neighbor_fn.allocate(ks.R0)
    dU = float(jax.jit(jax.grad(lambda s: ks.energy_fn(ks.R0, nbrs, strain=s)))(0.0))
    assert float(ks.energy_fn(ks.R0, nbrs, strain=0.0)) == pytest.approx(
        float(ks.energy_fn(ks.R0, nbrs)), rel=1e-12)

    def openmm_energy(s):
        scaled = dataclasses.replace(mol, positions=mol.positions * (1 + s), box=mol.box * (1 + s))
        return _openmm(scaled)[0]

    h = 1e-6
    fd = (openmm_energy(h) - openmm_energy(-h)) / (2 * h)
    print(f"dU/dstrain: kernel {dU:.8f} eV, OpenMM finite difference {fd:.8f} eV")
    assert dU == pytest.approx(fd, rel=RTOL)


@pytest.mark.slow
def test_water_nve_is_stable_and_conserves_energy():
    # 64 flexible SPC/Fw waters, float64, dt = 0.5 fs, through kernels.runner: 0.3 ps of
    # Langevin at 300 K from the lattice start, then 1 ps NVE. Measured (this machine, default
    # water_box: cut at 6 Å, Ewald tolerance 5e-4): total-energy drift ~ -0.4 meV/molecule/ps,
    # largest excursion ~ 0.8 meV/molecule, std(E_total)/std(E_kinetic) ~ 0.03; with an LJ
    # switch from 5 Å and tolerance 1e-5 they fall to ~0.02 meV/molecule/ps and 0.23 meV, so
    # the residue is the plain cutoff, not the integrator. Bounds below are ~2.5x those.
    ks = to_kernel(water_box(64, seed=0))
    volume = float(jnp.prod(ks.box))
    dt, kT = 0.5 * ase.units.fs, 300.0 * ase.units.kB
    init, run = simulator(ks.energy_fn, ks.shift_fn, ks.displacement_fn, ks.neighbor_fn,
                          volume=volume, integrator="langevin", gamma=1.0 / (10 * ase.units.fs))
    state = init(jax.random.PRNGKey(0), ks.R0, ks.masses, {}, dt=dt, kT=kT)
    state, _ = run(state, {}, n_frames=30, stride=20, dt=dt, kT=kT)
    init_nve, run_nve = simulator(ks.energy_fn, ks.shift_fn, ks.displacement_fn, ks.neighbor_fn,
                                  volume=volume, integrator="nve")
    nve = init_nve(jax.random.PRNGKey(1), state.md.position, ks.masses, {}, dt=dt, kT=kT)
    nve = nve.set(md=nve.md.set(momentum=state.md.momentum))
    nve, traj = run_nve(nve, {}, n_frames=100, stride=20, dt=dt, kT=kT)
    thermo = {k: np.asarray(v) for k, v in traj.thermo.items()}
    E, K = thermo["total"], thermo["kinetic"]
    t_ps = np.arange(len(E)) * 20 * 0.5e-3
    drift = np.polyfit(t_ps, E, 1)[0] / 64 * 1e3  # meV / molecule / ps
    excursion = np.abs(E - E[0]).max() / 64 * 1e3  # meV / molecule
    ratio = E.std() / K.std()
    T = thermo["temperature"] / ase.units.kB
    print(f"NVE: drift {drift:.3f} meV/molecule/ps, max excursion {excursion:.3f} meV/molecule, "
          f"std(E)/std(K) {ratio:.3f}, T {T.mean():.0f} K")
    assert np.all(np.isfinite(E)) and 200 < T.mean() < 450
    oh = np.linalg.norm(np.asarray(jax.vmap(ks.displacement_fn)(
        traj.positions[-1][ks.bonds[:, 0]], traj.positions[-1][ks.bonds[:, 1]])), axis=-1)
    assert 0.9 < oh.min() and oh.max() < 1.15  # Å: the molecules stay intact
    assert abs(drift) < 1.0 and excursion < 2.0 and ratio < 0.08
