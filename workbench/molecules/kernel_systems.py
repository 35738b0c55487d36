"""Molecular systems made ready for the JAX kernel: OpenMM ``System`` -> jax_md arrays -> energy.

`forcefield_from_openmm` is jax_md's own OpenMM loader (``mm_forcefields.io.openmm.
convert_openmm_system``: forces -> kcal/mol and Å arrays) wrapped into a
``kernels.forcefields.ClassicalForceField``; `to_kernel` adds the energy, neighbour list and
space from ``kernels.forcefields.classical_energy`` and the starting positions, masses and box in
ASE units, so that a jax_md integrator or ``kernels.runner.simulator`` can run it:

    ks = kernel_system("water_spcfw", n_molecules=64)
    init, run = simulator(ks.energy_fn, ks.shift_fn, ks.displacement_fn, ks.neighbor_fn,
                          volume=float(np.prod(ks.box)), integrator="nve")
    state = init(key, ks.R0, ks.masses, {}, dt=0.5 * ase.units.fs, kT=300 * ase.units.kB)

Units (ASE): positions and box Å, energies eV, masses amu, time Å sqrt(amu/eV) (convert
femtoseconds with ``ase.units.fs``). OpenMM's nm become Å (x10) in the loader; kcal/mol become
eV in the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax_md import partition
from openmm import unit

from kernels.forcefields import ClassicalForceField, classical_energy
from workbench.molecules.openmm_systems import MolecularSystem, alanine_dipeptide, water_box


def forcefield_from_openmm(mol: MolecularSystem, precision: str = "double"
                           ) -> tuple[ClassicalForceField, np.ndarray]:
    """Convert ``mol.system`` with jax_md's OpenMM loader.

    Returns ``(force field, positions [n_atoms, 3] in Å)``; periodic positions come back wrapped
    into the box (the loader wraps them), as the kernel expects.
    """
    from jax_md.mm_forcefields.io.openmm import convert_openmm_system

    box = None if mol.box is None else mol.topology.getPeriodicBoxVectors()
    converted = convert_openmm_system(mol.system, mol.topology, mol.positions * unit.nanometer,
                                      box, precision=precision)
    grid = converted.recip_grid
    ff = ClassicalForceField(
        topology=converted.topology, params=converted.params, nb_options=converted.nb_options,
        box=converted.box_vectors,
        pme_alpha=None if converted.recip_alpha is None else float(converted.recip_alpha),
        pme_grid=None if grid is None else tuple(int(g) for g in np.asarray(grid)))
    return ff, np.asarray(converted.positions)


class KernelSystem(NamedTuple):
    """A molecular system ready for jax_md / ``kernels.runner`` (ASE units: Å, eV, amu).

    energy_fn: ``U(R, neighbor, strain=None) -> []`` eV. neighbor_fn: jax_md ``NeighborFn``.
    displacement_fn, shift_fn: jax_md space. R0: ``[n_atoms, 3]`` Å. masses: ``[n_atoms]`` amu.
    box: ``[3]`` Å or None (vacuum). species: ``[n_atoms]`` int indexing ``species_names``
    (element symbols). bonds: ``[n_bonds, 2]`` int. components_fn: named energy terms (eV).
    forcefield: the converted parameters. name: the system's name.
    """

    energy_fn: Callable
    neighbor_fn: partition.NeighborFn
    displacement_fn: Callable
    shift_fn: Callable
    R0: jnp.ndarray
    masses: jnp.ndarray
    box: jnp.ndarray | None
    species: np.ndarray
    species_names: list[str]
    bonds: np.ndarray
    components_fn: Callable
    forcefield: ClassicalForceField
    name: str


def to_kernel(mol: MolecularSystem, *, dtype: Any = jnp.float64, skin: float = 1.0
              ) -> KernelSystem:
    """Build the kernel-side system of ``mol`` (module docstring); ``skin`` in Å.

    ``dtype``: float64 (default; needs ``jax_enable_x64``) or float32.
    """
    ff, R0 = forcefield_from_openmm(mol)
    fns = classical_energy(ff, skin=skin, energy_unit="eV", dtype=dtype)
    names = list(dict.fromkeys(mol.elements))
    return KernelSystem(
        energy_fn=fns.energy_fn, neighbor_fn=fns.neighbor_fn,
        displacement_fn=fns.displacement_fn, shift_fn=fns.shift_fn,
        R0=jnp.asarray(R0, dtype), masses=jnp.asarray(mol.masses, dtype),
        box=None if mol.box is None else jnp.asarray(10.0 * mol.box, dtype),
        species=np.array([names.index(e) for e in mol.elements], dtype=np.int32),
        species_names=names, bonds=mol.bonds.copy(), components_fn=fns.components_fn,
        forcefield=ff, name=mol.name)


#: builders of the molecular systems, by name (``kernel_system`` and the dashboards list these).
MOLECULAR_SYSTEMS: dict[str, tuple[str, Callable[..., MolecularSystem]]] = {
    "water_spcfw": ("Flexible SPC/Fw water box, PME", water_box),
    "alanine_dipeptide_vacuum": ("Alanine dipeptide, AMBER ff14SB, vacuum",
                                 partial(alanine_dipeptide, None)),
    "alanine_dipeptide_water": ("Alanine dipeptide, AMBER ff14SB, TIP3P water, PME",
                                partial(alanine_dipeptide, "water")),
}


def kernel_system(name: str, *, dtype: Any = jnp.float64, skin: float = 1.0,
                  **builder_kwargs) -> KernelSystem:
    """`to_kernel` of the molecular system ``name`` (a key of `MOLECULAR_SYSTEMS`), built with
    ``builder_kwargs`` (e.g. ``n_molecules=64`` for water)."""
    if name not in MOLECULAR_SYSTEMS:
        raise ValueError(f"unknown molecular system {name!r}; known: {sorted(MOLECULAR_SYSTEMS)}")
    return to_kernel(MOLECULAR_SYSTEMS[name][1](**builder_kwargs), dtype=dtype, skin=skin)
