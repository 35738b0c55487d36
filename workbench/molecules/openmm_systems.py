"""Molecular systems as OpenMM objects: a flexible SPC/Fw water box and alanine dipeptide
(ACE-ALA-NME, AMBER ff14SB) in vacuum or in TIP3P water.

Each builder returns a `MolecularSystem`: the OpenMM ``Topology`` and ``System``, positions and
box in **nm** (OpenMM's units), masses in amu, atomic numbers, element symbols and bonds. The
same object feeds OpenMM (reference trajectories) and, through
``workbench.molecules.kernel_systems``, the JAX kernel (which converts to Å and eV).

What comes from where:

- alanine dipeptide: OpenMM's ForceField with its bundled ``amber14-all.xml`` (ff14SB) and
  ``amber14/tip3p.xml``; solvent placed by OpenMM's ``Modeller.addSolvent``; the starting
  structure is the shipped ``data/alanine_dipeptide.pdb`` (see ``structures.py``).
- water: OpenMM ships no flexible water model (its ``spce.xml``/``tip3p.xml`` are rigid or
  constrained), so the SPC/Fw ``System`` is built here by hand from the published parameters of
  Wu, Tepper & Voth, J. Chem. Phys. 124, 024503 (2006), Table I (`SPCFW`). Molecules start on a
  simple-cubic lattice at the requested density with random orientations (``seed``), at the
  SPC/Fw equilibrium geometry. The lattice is not a liquid: equilibrate before measuring (NVE
  straight from it melts the lattice and heats 64 molecules from 300 K to ~750 K).

PME: OpenMM picks the Ewald ``alpha`` and grid from ``ewaldErrorTolerance`` when a Context is
created, and its platforms may round the grid differently. The builders therefore read them once
from a Reference-platform Context (``getPMEParametersInContext``) and set them explicitly on the
``NonbondedForce`` (``setPMEParameters``), so every OpenMM platform and the JAX kernel use the
same ``alpha`` and grid.

Everything is flexible by default (``constraints=None``, flexible water): the kernel integrates
without constraints, so use a 0.5 fs time step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import openmm as mm
from openmm import app, unit
from scipy.spatial.transform import Rotation

from workbench.molecules.structures import alanine_dipeptide_pdb

NM = unit.nanometer

#: SPC/Fw (Wu, Tepper & Voth 2006, Table I). Energies E_bond = k_b/2 (r - r0)^2 and
#: E_angle = k_a/2 (theta - theta0)^2 (the LAMMPS SPC/Fw input halves them: 529.581, 37.95).
SPCFW = {
    "charge_O": -0.82,  # e
    "charge_H": 0.41,  # e
    "sigma_OO": 3.165492,  # Å
    "epsilon_OO": 0.1554253,  # kcal/mol
    "k_bond": 1059.162,  # kcal/(mol Å^2)
    "r_OH": 1.012,  # Å
    "k_angle": 75.90,  # kcal/(mol rad^2)
    "theta_HOH": 113.24,  # degrees
}
WATER_MASS_AMU = 2 * app.element.hydrogen.mass.value_in_unit(unit.dalton) + \
    app.element.oxygen.mass.value_in_unit(unit.dalton)
AVOGADRO = 6.02214076e23
_KCAL = 4.184  # kJ per kcal


@dataclass(frozen=True)
class MolecularSystem:
    """One molecular system in OpenMM's units.

    topology: ``openmm.app.Topology`` (with periodic box vectors if periodic).
    system: ``openmm.System`` (forces, masses, PME parameters pinned; see module docstring).
    positions: ``[n_atoms, 3]`` nm. box: ``[3]`` orthorhombic side lengths in nm, or None.
    masses: ``[n_atoms]`` amu. atomic_numbers: ``[n_atoms]`` int. elements: element symbols.
    bonds: ``[n_bonds, 2]`` int atom indices (chemical bonds, from the topology).
    """

    name: str
    topology: app.Topology
    system: mm.System
    positions: np.ndarray
    box: np.ndarray | None
    masses: np.ndarray
    atomic_numbers: np.ndarray
    elements: tuple[str, ...]
    bonds: np.ndarray
    description: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    def context(self, platform: str = "Reference", properties: dict | None = None,
                integrator: mm.Integrator | None = None) -> mm.Context:
        """An OpenMM ``Context`` at this system's positions (Reference platform, double
        precision, by default; ``properties`` such as ``{"Threads": "1"}`` for CPU)."""
        integrator = integrator or mm.VerletIntegrator(0.0005)
        ctx = mm.Context(self.system, integrator, mm.Platform.getPlatformByName(platform),
                         properties or {})
        if self.box is not None:
            ctx.setPeriodicBoxVectors(*_box_vectors(self.box))
        ctx.setPositions(self.positions)
        return ctx


def _box_vectors(box_nm: np.ndarray) -> list:
    a, b, c = (float(x) for x in box_nm)
    return unit.Quantity([mm.Vec3(a, 0, 0), mm.Vec3(0, b, 0), mm.Vec3(0, 0, c)], NM)


def _finish(name: str, topology: app.Topology, system: mm.System, positions_nm: np.ndarray,
            description: str, **info) -> MolecularSystem:
    vectors = topology.getPeriodicBoxVectors()
    box = None
    if vectors is not None and system.usesPeriodicBoundaryConditions():
        m = np.array([[v.x, v.y, v.z] for v in vectors.value_in_unit(NM)], dtype=np.float64)
        if not np.allclose(m, np.diag(np.diag(m))):
            raise ValueError("only orthorhombic boxes are supported")
        box = np.diag(m).copy()
        system.setDefaultPeriodicBoxVectors(*_box_vectors(box))
        _pin_pme_parameters(system, positions_nm)
    atoms = list(topology.atoms())
    return MolecularSystem(
        name=name, topology=topology, system=system,
        positions=np.asarray(positions_nm, dtype=np.float64), box=box,
        masses=np.array([system.getParticleMass(i).value_in_unit(unit.dalton)
                         for i in range(system.getNumParticles())]),
        atomic_numbers=np.array([a.element.atomic_number for a in atoms], dtype=np.int32),
        elements=tuple(a.element.symbol for a in atoms),
        bonds=np.array([(b.atom1.index, b.atom2.index) for b in topology.bonds()],
                       dtype=np.int32).reshape(-1, 2),
        description=description, info=info)


def _nonbonded(system: mm.System) -> mm.NonbondedForce:
    return next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))


def _pin_pme_parameters(system: mm.System, positions_nm: np.ndarray) -> None:
    """Read PME alpha and grid from a Reference Context and set them on the NonbondedForce."""
    force = _nonbonded(system)
    if force.getNonbondedMethod() != mm.NonbondedForce.PME:
        return
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions_nm)
    alpha, nx, ny, nz = force.getPMEParametersInContext(ctx)
    del ctx
    force.setPMEParameters(alpha, nx, ny, nz)


def _default_cutoff(box_nm: float, cutoff_nm: float | None) -> float:
    """0.9 nm, or the largest 0.01 nm step below 0.49 box (OpenMM needs cutoff < box / 2)."""
    if cutoff_nm is None:
        cutoff_nm = min(0.9, math.floor(49.0 * box_nm) / 100.0)
    if cutoff_nm >= 0.5 * box_nm:
        raise ValueError(f"cutoff {cutoff_nm} nm must be below half the box ({0.5 * box_nm} nm)")
    return float(cutoff_nm)


def water_box(
    n_molecules: int = 64,
    *,
    seed: int = 0,
    density_g_cm3: float = 0.997,
    cutoff_nm: float | None = None,
    switch_distance_nm: float | None = None,
    ewald_error_tolerance: float = 5e-4,
    dispersion_correction: bool = True,
) -> MolecularSystem:
    """A cubic periodic box of flexible SPC/Fw water with PME electrostatics.

    Args:
      n_molecules: number of water molecules (64 to 512 are the tested sizes).
      seed: lattice sites (when ``n_molecules`` is not a cube) and orientations.
      density_g_cm3: mass density, sets the box side (0.997 g/cm^3: liquid water at 298 K).
      cutoff_nm: real-space cutoff of LJ and Ewald direct space; default 0.9 nm, or below half
        the box (0.60 nm for 64 molecules).
      switch_distance_nm: optional LJ switching distance (OpenMM's switching function); default
        none, a plain cut as in OpenMM's default.
      ewald_error_tolerance: OpenMM's PME accuracy (default 5e-4, OpenMM's default).
      dispersion_correction: OpenMM's analytic long-range LJ correction.
    """
    if n_molecules < 2:
        raise ValueError("need at least 2 water molecules")
    grams = n_molecules * WATER_MASS_AMU / AVOGADRO
    side = (grams / density_g_cm3) ** (1.0 / 3.0) * 1e7  # cm -> nm
    cutoff = _default_cutoff(side, cutoff_nm)
    rng = np.random.default_rng(seed)
    k = math.ceil(n_molecules ** (1.0 / 3.0) - 1e-9)
    sites = (np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5)
    if len(sites) > n_molecules:
        sites = sites[np.sort(rng.choice(len(sites), n_molecules, replace=False))]
    sites = sites * (side / k)
    half = math.radians(SPCFW["theta_HOH"]) / 2
    r0 = SPCFW["r_OH"] / 10.0  # nm
    local = np.array([[0.0, 0.0, 0.0], [r0 * math.sin(half), r0 * math.cos(half), 0.0],
                      [-r0 * math.sin(half), r0 * math.cos(half), 0.0]])
    rotations = Rotation.random(n_molecules, random_state=rng).as_matrix()
    positions = (sites[:, None, :] + np.einsum("mij,aj->mai", rotations, local)).reshape(-1, 3)

    topology = app.Topology()
    chain = topology.addChain()
    system = mm.System()
    bonds_f, angles_f, nonbonded = mm.HarmonicBondForce(), mm.HarmonicAngleForce(), \
        mm.NonbondedForce()
    k_bond = SPCFW["k_bond"] * _KCAL * 100.0  # kcal/(mol Å^2) -> kJ/(mol nm^2)
    k_angle = SPCFW["k_angle"] * _KCAL
    sigma, eps = SPCFW["sigma_OO"] / 10.0, SPCFW["epsilon_OO"] * _KCAL
    pairs = []
    for m in range(n_molecules):
        res = topology.addResidue("HOH", chain)
        o = topology.addAtom("O", app.element.oxygen, res)
        h1 = topology.addAtom("H1", app.element.hydrogen, res)
        h2 = topology.addAtom("H2", app.element.hydrogen, res)
        topology.addBond(o, h1)
        topology.addBond(o, h2)
        for atom in (o, h1, h2):
            system.addParticle(atom.element.mass)
        i = 3 * m
        nonbonded.addParticle(SPCFW["charge_O"], sigma, eps)
        nonbonded.addParticle(SPCFW["charge_H"], 1.0, 0.0)
        nonbonded.addParticle(SPCFW["charge_H"], 1.0, 0.0)
        bonds_f.addBond(i, i + 1, r0, k_bond)
        bonds_f.addBond(i, i + 2, r0, k_bond)
        angles_f.addAngle(i + 1, i, i + 2, math.radians(SPCFW["theta_HOH"]), k_angle)
        pairs += [(i, i + 1), (i, i + 2)]
    nonbonded.createExceptionsFromBonds(pairs, 0.0, 0.0)  # no intramolecular nonbonded terms
    nonbonded.setNonbondedMethod(mm.NonbondedForce.PME)
    nonbonded.setCutoffDistance(cutoff)
    nonbonded.setEwaldErrorTolerance(ewald_error_tolerance)
    nonbonded.setUseDispersionCorrection(dispersion_correction)
    if switch_distance_nm is not None:
        nonbonded.setUseSwitchingFunction(True)
        nonbonded.setSwitchingDistance(switch_distance_nm)
    for f in (bonds_f, angles_f, nonbonded):
        system.addForce(f)
    topology.setPeriodicBoxVectors(_box_vectors(np.full(3, side)))
    return _finish(f"water_spcfw_{n_molecules}", topology, system, positions,
                   f"{n_molecules} flexible SPC/Fw waters, PME, {density_g_cm3} g/cm^3",
                   model="SPC/Fw", cutoff_nm=cutoff, seed=seed)


def alanine_dipeptide(
    solvent: str | None = None,
    *,
    box_nm: float = 2.7,
    cutoff_nm: float = 0.9,
    constraints: object = None,
    rigid_water: bool = False,
    ewald_error_tolerance: float = 5e-4,
    forcefield_files: tuple[str, ...] = ("amber14-all.xml", "amber14/tip3p.xml"),
) -> MolecularSystem:
    """Alanine dipeptide (ACE-ALA-NME) with AMBER ff14SB, in vacuum or in TIP3P water.

    Args:
      solvent: None (vacuum, no cutoff, non-periodic) or ``"water"`` (TIP3P filling a cubic
        periodic box of side ``box_nm`` around the peptide, PME).
      box_nm: water box side (nm); must exceed twice ``cutoff_nm``.
      cutoff_nm: real-space cutoff with water (nm).
      constraints, rigid_water: passed to ``ForceField.createSystem``; default fully flexible
        (what the JAX kernel integrates). ``app.HBonds`` and ``rigid_water=True`` give the usual
        2 fs OpenMM setup, but then constrained bonds carry no energy terms.
      ewald_error_tolerance: OpenMM's PME accuracy.
      forcefield_files: OpenMM force-field XML files.
    """
    if solvent not in (None, "water"):
        raise ValueError(f"solvent must be None or 'water', got {solvent!r}")
    pdb = app.PDBFile(str(alanine_dipeptide_pdb()))
    forcefield = app.ForceField(*forcefield_files)
    modeller = app.Modeller(pdb.topology, pdb.positions)
    if solvent is None:
        modeller.topology.setPeriodicBoxVectors(None)
        system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff,
                                         constraints=constraints, rigidWater=rigid_water)
        desc = "alanine dipeptide (ACE-ALA-NME), AMBER ff14SB, vacuum"
    else:
        _default_cutoff(box_nm, cutoff_nm)
        modeller.addSolvent(forcefield, model="tip3p", boxSize=mm.Vec3(box_nm, box_nm, box_nm) * NM,
                            neutralize=False)
        system = forcefield.createSystem(
            modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=cutoff_nm * NM,
            constraints=constraints, rigidWater=rigid_water,
            ewaldErrorTolerance=ewald_error_tolerance)
        n_water = sum(1 for r in modeller.topology.residues() if r.name == "HOH")
        desc = f"alanine dipeptide, AMBER ff14SB, {n_water} TIP3P waters, PME"
    positions = np.array(modeller.getPositions().value_in_unit(NM))
    name = "alanine_dipeptide_" + ("vacuum" if solvent is None else "water")
    return _finish(name, modeller.topology, system, positions, desc,
                   forcefield=list(forcefield_files), solvent=solvent)


def phi_psi_indices(topology: app.Topology) -> np.ndarray:
    """``[n_residues_inner, 2, 4]`` atom indices of the backbone dihedrals of every residue that
    has a preceding C and a following N: phi = C(i-1)-N-CA-C, psi = N-CA-C-N(i+1). For alanine
    dipeptide this is one residue (ALA), C(ACE)-N-CA-C and N-CA-C-N(NME)."""
    residues = [r for r in topology.residues() if r.name != "HOH"]
    names = [{a.name: a.index for a in r.atoms()} for r in residues]
    out = []
    for i in range(1, len(residues) - 1):
        prev, cur, nxt = names[i - 1], names[i], names[i + 1]
        if "C" in prev and {"N", "CA", "C"} <= cur.keys() and "N" in nxt:
            out.append([[prev["C"], cur["N"], cur["CA"], cur["C"]],
                        [cur["N"], cur["CA"], cur["C"], nxt["N"]]])
    return np.array(out, dtype=np.int32).reshape(-1, 2, 4)
