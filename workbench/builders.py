"""Builders for the systems the workbench offers, and the registry that lists them.

A builder is registered with ``@register_system(name, description)``; the Simulate dashboard and
the ``workbench run`` command list whatever is registered, so a system added later appears there
by registering itself. An entry also says what kind of system it builds (``"pair"``: a simple
fluid with a ``PairPotential``, reduced units; ``"forcefield"``: molecules with a classical
``ForceField``, ASE units), which ``SimulationSetup`` parameters its builder takes
(``options``), and the setup defaults that suit it (``defaults``: temperature, time step, ...).

Pair systems: ``lj_fluid``, ``binary_lj``. Molecular systems (``workbench.molecules``, energy
minimised with OpenMM before the start): ``water`` (flexible SPC/Fw, PME),
``alanine_dipeptide_vacuum`` (AMBER ff14SB, free space) and ``alanine_dipeptide_water`` (with
TIP3P water, PME). Their bonds are flexible: use a 0.5 fs time step.

No "molecule from SMILES" builder: an arbitrary molecule needs a general force field (GAFF or
OpenFF/SMIRNOFF) and its charges, and neither ``openmmforcefields`` nor ``openff-toolkit`` is
installable from PyPI (both are conda-only), so nothing offline assigns AMBER-form parameters to
an arbitrary graph. RDKit's MMFF94 is offline but has a functional form (quartic bonds, cubic
angles, stretch-bend, buffered 14-7 van der Waals) that the jax_md AMBER kernel does not
evaluate, and GFN2-xTB (tblite) is not a JAX kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workbench.forcefield import ForceField
from workbench.potential import PairPotential
from workbench.system import System

PAIR_OPTIONS = ("n_atoms", "density", "r_cutoff", "potential", "seed")
#: setup defaults of the pair systems (reduced LJ units)
PAIR_DEFAULTS = {"temperature": 0.72, "timestep": 0.005, "friction": 1.0}
#: setup defaults of the molecular systems (ASE units: K, fs, 1/fs)
MOLECULAR_DEFAULTS = {"temperature": 300.0, "timestep": 0.5, "friction": 0.01,
                      "integrator": "langevin"}


@dataclass(frozen=True)
class SystemEntry:
    """One registered system: its builder and what the Simulate setup needs to know about it.

    kind: ``"pair"`` or ``"forcefield"``. units: ``"lj"`` or ``"ase"``. options: the
    ``SimulationSetup`` parameters the builder takes as keywords. defaults: setup values that
    suit the system (applied when the choice moves to a system of other units).
    """

    name: str
    description: str
    build: Callable[..., System]
    kind: str = "pair"
    units: str = "lj"
    options: tuple[str, ...] = PAIR_OPTIONS
    defaults: dict = field(default_factory=lambda: dict(PAIR_DEFAULTS))

    @property
    def molecular(self) -> bool:
        return self.kind == "forcefield"


SYSTEMS: dict[str, SystemEntry] = {}


def register_system(name: str, description: str, *, kind: str = "pair", units: str = "lj",
                    options: tuple[str, ...] = PAIR_OPTIONS,
                    defaults: dict | None = None) -> Callable:
    """Register the decorated builder under ``name`` (see ``SystemEntry``)."""
    if kind not in ("pair", "forcefield"):
        raise ValueError(f"kind must be 'pair' or 'forcefield', got {kind!r}")
    if defaults is None:
        defaults = PAIR_DEFAULTS if kind == "pair" else MOLECULAR_DEFAULTS

    def deco(fn: Callable[..., System]) -> Callable[..., System]:
        SYSTEMS[name] = SystemEntry(name, description, fn, kind, units, tuple(options),
                                    dict(defaults))
        return fn

    return deco


def build_system(name: str, **kwargs) -> System:
    """Build the registered system ``name`` with the builder's keyword arguments."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {sorted(SYSTEMS)}")
    return SYSTEMS[name].build(**kwargs)


def fcc_positions(n_atoms: int, box_length: float, seed: int = 0) -> np.ndarray:
    """``[n_atoms, 3]`` sites of an fcc lattice filling a cubic box of side ``box_length``.

    With ``n_atoms = 4 k^3`` the lattice is perfect; otherwise the smallest lattice with enough
    sites is built and randomly chosen sites (``seed``) are left empty.
    """
    k = int(np.ceil((n_atoms / 4) ** (1 / 3) - 1e-9))
    a = box_length / k
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    sites = ((cells + basis) * a).reshape(-1, 3)
    if len(sites) > n_atoms:
        keep = np.sort(np.random.default_rng(seed).choice(len(sites), n_atoms, replace=False))
        sites = sites[keep]
    return sites + 0.25 * a  # keep atoms off the box faces


@register_system("lj_fluid", "Lennard-Jones fluid (fcc start), reduced units")
def lj_fluid(n_atoms: int = 500, density: float = 0.8442, r_cutoff: float = 2.5,
             potential: PairPotential | None = None, seed: int = 0) -> System:
    """A one-component LJ fluid at reduced ``density`` (atoms per sigma^3), fcc start; the
    default is LAMMPS's ``bench/in.lj`` state point."""
    return _fluid("lj_fluid", n_atoms, density, np.zeros(n_atoms, dtype=np.int32), ["A"],
                  potential or PairPotential(family="lj", r_cutoff=r_cutoff), seed)


def _fluid(name: str, n_atoms: int, density: float, species: np.ndarray, names: list[str],
           potential: PairPotential, seed: int) -> System:
    """A cubic box of unit-mass atoms on an fcc lattice, reduced LJ units."""
    if n_atoms < 2 or density <= 0:
        raise ValueError("need at least 2 atoms and a positive density")
    box = (n_atoms / density) ** (1 / 3)
    return System(name=name, positions=fcc_positions(n_atoms, box, seed), species=species,
                  species_names=names, masses=np.ones(n_atoms), box=np.full(3, box), units="lj",
                  potential=potential)


KOB_ANDERSEN = {  # Kob & Andersen, Phys. Rev. E 51, 4626 (1995)
    "sigma": [[1.0, 0.8], [0.8, 0.88]],
    "epsilon": [[1.0, 1.5], [1.5, 0.5]],
}


@register_system("binary_lj", "Binary LJ mixture (Kob-Andersen parameters), reduced units")
def binary_lj_mixture(n_atoms: int = 500, density: float = 1.2, fraction_b: float = 0.2,
                      r_cutoff: float = 2.5, potential: PairPotential | None = None,
                      seed: int = 0) -> System:
    """A binary A/B LJ mixture with a fraction ``fraction_b`` of B atoms placed at random on an
    fcc lattice; Kob-Andersen parameters unless a potential is given."""
    if not 0 <= fraction_b <= 1:
        raise ValueError("fraction_b must lie in [0, 1]")
    n_b = int(round(fraction_b * n_atoms))
    species = np.zeros(n_atoms, dtype=np.int32)
    species[np.random.default_rng(seed).choice(n_atoms, n_b, replace=False)] = 1
    return _fluid("binary_lj", n_atoms, density, species, ["A", "B"], potential
                  or PairPotential(family="lj", params=KOB_ANDERSEN, r_cutoff=r_cutoff), seed)


# --- molecular systems (classical force fields, ASE units) ----------------------------------

def molecular_system(builder: str, name: str, minimize_steps: int = 200,
                     **builder_kwargs) -> System:
    """A ``System`` of the molecular system ``builder`` (a key of
    ``workbench.molecules.MOLECULAR_SYSTEMS``) with its ``ForceField``: positions (Å, wrapped
    into the box when periodic; minimised with OpenMM), element species, masses (amu), bonds
    and box (Å, None in free space)."""
    ff = ForceField(builder=builder, kwargs=builder_kwargs, minimize_steps=minimize_steps)
    mol = ff.molecule()
    names = list(dict.fromkeys(mol.elements))
    return System(name=name, positions=ff.positions(),
                  species=np.array([names.index(e) for e in mol.elements], dtype=np.int32),
                  species_names=names, masses=np.asarray(mol.masses, dtype=np.float64),
                  box=None if mol.box is None else 10.0 * np.asarray(mol.box, dtype=np.float64),
                  units="ase", bonds=np.asarray(mol.bonds, dtype=np.int64).reshape(-1, 2),
                  forcefield=ff)


@register_system("water", "Water: flexible SPC/Fw, PME (Å, eV, fs)", kind="forcefield",
                 units="ase", options=("n_molecules", "seed"))
def water(n_molecules: int = 64, seed: int = 0, minimize_steps: int = 200) -> System:
    """``n_molecules`` flexible SPC/Fw waters at 0.997 g/cm^3 (cubic box; lattice start with
    random orientations from ``seed``, then minimised). Equilibrate before measuring."""
    if n_molecules < 8:
        raise ValueError("need at least 8 water molecules")
    return molecular_system("water_spcfw", "water", minimize_steps, n_molecules=int(n_molecules),
                            seed=int(seed))


@register_system("alanine_dipeptide_vacuum", "Alanine dipeptide, AMBER ff14SB, vacuum",
                 kind="forcefield", units="ase", options=())
def alanine_dipeptide_vacuum(minimize_steps: int = 200) -> System:
    """Alanine dipeptide (ACE-ALA-NME, 22 atoms) in free space, no cutoff."""
    return molecular_system("alanine_dipeptide_vacuum", "alanine_dipeptide_vacuum",
                            minimize_steps)


@register_system("alanine_dipeptide_water", "Alanine dipeptide in TIP3P water, PME",
                 kind="forcefield", units="ase", options=())
def alanine_dipeptide_water(minimize_steps: int = 200) -> System:
    """Alanine dipeptide in a 2.7 nm box of flexible TIP3P water (about 1,850 atoms), PME."""
    return molecular_system("alanine_dipeptide_water", "alanine_dipeptide_water",
                            minimize_steps)
