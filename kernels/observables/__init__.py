"""Observables computed from trajectories (pure JAX): structure, dynamics, thermodynamics.

- `rdf`: g(r) as a histogram, as a differentiable smeared histogram, and partial g_ab.
- `structure`: bond-length / interatomic-distance distribution h(r) and angle distribution (ADF).
- `geometry`: bond lengths, bond angles and dihedrals of listed atoms.
- `dynamics`: unwrapping, MSD, VACF and diffusion coefficients (Einstein and Green-Kubo).
- `thermo`: kinetic energy, kinetic temperature, virial pressure.
- `histogram`: the shared hard and Gaussian-smeared histograms.
"""

from kernels.observables.dynamics import (
    diffusion_coefficient,
    diffusion_from_vacf,
    msd,
    unwrap,
    vacf,
)
from kernels.observables.geometry import angle_between, angles, bond_lengths, dihedrals
from kernels.observables.histogram import (
    bin_centers,
    bin_edges,
    hard_histogram,
    smeared_histogram,
)
from kernels.observables.rdf import check_r_max, partial_rdfs, rdf_histogram, rdf_smooth
from kernels.observables.structure import (
    angle_distribution,
    bond_length_distribution,
    count_neighbors,
)
from kernels.observables.thermo import (
    energy_and_virial,
    instantaneous,
    kinetic_energy,
    temperature,
    virial_pressure,
)

__all__ = [
    "angle_between",
    "angle_distribution",
    "angles",
    "bin_centers",
    "bin_edges",
    "bond_length_distribution",
    "bond_lengths",
    "count_neighbors",
    "diffusion_coefficient",
    "diffusion_from_vacf",
    "dihedrals",
    "energy_and_virial",
    "hard_histogram",
    "instantaneous",
    "kinetic_energy",
    "msd",
    "check_r_max",
    "partial_rdfs",
    "rdf_histogram",
    "rdf_smooth",
    "smeared_histogram",
    "temperature",
    "unwrap",
    "vacf",
    "virial_pressure",
]
