"""Molecular systems: OpenMM-built force fields and structures (``openmm_systems``), shipped
starting structures (``structures``) and their conversion to the JAX kernel
(``kernel_systems``).

Units: the OpenMM objects (`MolecularSystem`) use OpenMM's nm, kJ/mol, ps, amu; the kernel side
(`KernelSystem`) uses ASE units, Å, eV, amu (time unit Å sqrt(amu/eV) ~ 10.18 fs).
"""

from workbench.molecules.kernel_systems import (
    MOLECULAR_SYSTEMS,
    KernelSystem,
    forcefield_from_openmm,
    kernel_system,
    to_kernel,
)
from workbench.molecules.openmm_systems import (
    SPCFW,
    MolecularSystem,
    alanine_dipeptide,
    phi_psi_indices,
    water_box,
)
from workbench.molecules.structures import alanine_dipeptide_pdb

__all__ = [
    "MOLECULAR_SYSTEMS",
    "SPCFW",
    "KernelSystem",
    "MolecularSystem",
    "alanine_dipeptide",
    "alanine_dipeptide_pdb",
    "forcefield_from_openmm",
    "kernel_system",
    "phi_psi_indices",
    "to_kernel",
    "water_box",
]
