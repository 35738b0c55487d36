"""Builders for the systems the workbench offers, and the registry that lists them.

A builder is registered with ``@register_system(name, description)``; the Simulate dashboard and
the ``workbench run`` command list whatever is registered, so a system added later (water,
alanine dipeptide, ...) appears there by registering itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.potential import PairPotential
from workbench.system import System


@dataclass(frozen=True)
class SystemEntry:
    name: str
    description: str
    build: Callable[..., System]


SYSTEMS: dict[str, SystemEntry] = {}


def register_system(name: str, description: str) -> Callable:
    def deco(fn: Callable[..., System]) -> Callable[..., System]:
        SYSTEMS[name] = SystemEntry(name, description, fn)
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
