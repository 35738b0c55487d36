"""Classical molecular-mechanics force fields (AMBER form) from ``jax_md.mm_forcefields``.

The physics is jax_md's: ``mm_forcefields.amber.energy`` evaluates harmonic bonds and angles,
periodic torsions (AMBER impropers are periodic torsions too), CMAP, Lennard-Jones with
Lorentz-Berthelot mixing, per-pair nonbonded exceptions (scaled 1-4 pairs and exclusions),
OpenMM's analytic long-range dispersion correction, and Coulomb either without cutoff or by
particle-mesh Ewald (order-5 B-splines and OpenMM's influence function, so that it reproduces
OpenMM given the same Ewald ``alpha`` and grid; its reciprocal sum is evaluated by the copy in
``kernels.pme``, which computes in the positions' dtype). It works in kcal/mol and Å.

The parameters come from an OpenMM ``System`` through jax_md's ``io.openmm.convert_openmm_system``.
That loader imports OpenMM, so the conversion lives in ``workbench.molecules``; this module only
takes the converted arrays (a `ClassicalForceField`) and never imports OpenMM.

Hand-written here, because jax_md has no equivalent:

- units: lengths in Å; energies in eV (ASE units, the workbench convention for molecular systems)
  or kcal/mol (jax_md's). 1 kcal/mol = 4184 / (N_A e) eV = 0.0433641042... eV with the exact
  2019-SI values of N_A and e;
- a scalar ``energy_fn(R, neighbor, strain=None)`` for jax_md's integrators and the workbench
  runner, and ``components_fn`` with named terms;
- the ``strain`` keyword: ``energy_fn(R, neighbor, strain=s)`` is the energy after scaling every
  position and the box by ``1 + s``, so ``dU/ds`` at 0 is the virial that the runner turns into a
  pressure. jax_md's ``perturbation`` keyword scales every real-space displacement (bonded terms,
  real-space pairs, exceptions) and the box volume (dispersion correction, PME), but its PME
  reciprocal term then sees unscaled positions in a scaled box; the missing
  ``d/ds E_recip((1 + s) R)`` is added back (``_strain_correction``). Checked against a finite
  difference of OpenMM's energy in ``tests/kernels/test_forcefields.py``.

Agreement with OpenMM's Reference platform (double precision, same System and coordinates, tests
in ``tests/kernels/test_forcefields.py``): total energies to 1e-8 - 3e-7 relative, forces to
better than 2e-7 relative. The largest term-wise difference is jax_md's bond angle, which
measures ``|d + 1e-7|`` instead of ``|d|`` for the bond vectors (``base.compute_angle``): about
1e-7 relative in angle energies and 1e-6 in angle forces.

Shapes: ``R: [n_atoms, 3]`` in Å (wrapped into the box for periodic systems); box ``[3]`` Å
(orthorhombic; jax_md's triclinic path is not wired here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition
from jax_md.mm_forcefields.amber.energy import energy as amber_energy
from jax_md.mm_forcefields.base import NonbondedOptions, Topology
from jax_md.mm_forcefields.nonbonded.electrostatics import COULOMB_CONSTANT, CutoffCoulomb
from jax_md.mm_forcefields.oplsaa.params import Parameters

from kernels.pme import TypedPMECoulomb
from kernels.precision import float_dtype

Array = jnp.ndarray

#: eV per kcal/mol: 4184 J / (N_A e), exact 2019-SI N_A and e.
KCAL_PER_MOL_IN_EV = 4184.0 / (6.02214076e23 * 1.602176634e-19)
ENERGY_UNITS = {"eV": KCAL_PER_MOL_IN_EV, "kcal/mol": 1.0}

#: jax_md's energy terms (kcal/mol) under the names ``components_fn`` returns.
COMPONENTS = {
    "bond": "bond_pot",
    "angle": "angle_pot",
    "torsion": "torsion_pot",
    "improper": "improper_pot",
    "cmap": "cmap_pot",
    "lennard_jones": "lj_pot",
    "lennard_jones_exceptions": "lj_exc_pot",
    "coulomb": "coul_pot",
    "coulomb_exceptions": "coul_exc_pot",
    "dispersion_correction": "disp_pot",
    "total": "etotal",
}
#: the terms that make up OpenMM's ``NonbondedForce``.
NONBONDED_COMPONENTS = ("lennard_jones", "lennard_jones_exceptions", "coulomb",
                        "coulomb_exceptions", "dispersion_correction")


@dataclass(frozen=True)
class ClassicalForceField:
    """Converted force-field arrays of one molecular system (jax_md ``mm_forcefields`` types).

    topology: jax_md ``Topology`` (bonds, angles, torsions, CMAP atoms, exception pairs).
    params: jax_md ``Parameters`` (kcal/mol, Å, radians, e).
    nb_options: jax_md ``NonbondedOptions`` (cutoff ``r_cut`` in Å or None, dispersion coefficient).
    box: ``[3]`` orthorhombic box side lengths in Å, or None for a non-periodic system.
    pme_alpha: Ewald splitting parameter in 1/Å (PME systems), else None.
    pme_grid: PME grid points per box side ``(nx, ny, nz)``, else None.
    """

    topology: Topology
    params: Parameters
    nb_options: NonbondedOptions
    box: Array | None = None
    pme_alpha: float | None = None
    pme_grid: tuple[int, int, int] | None = None

    @property
    def periodic(self) -> bool:
        return self.box is not None

    @property
    def n_atoms(self) -> int:
        return int(self.topology.n_atoms)

    def astype(self, dtype: Any) -> ClassicalForceField:
        """The same force field with every floating-point parameter array (and the box) cast to
        ``dtype``; scalars become Python floats so they follow the positions' precision."""

        def cast(x):
            if isinstance(x, (jnp.ndarray, np.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating):
                return jnp.asarray(x, dtype)
            return x

        nb = self.nb_options._replace(
            disp_coef=float(self.nb_options.disp_coef),
            r_cut=None if self.nb_options.r_cut is None else float(self.nb_options.r_cut))
        return replace(self, params=jax.tree.map(cast, self.params), nb_options=nb,
                       box=None if self.box is None else jnp.asarray(self.box, dtype))


class ForceFieldFns(NamedTuple):
    """What `classical_energy` returns.

    energy_fn: ``U(R, neighbor, strain=None, **kwargs) -> []`` in the chosen energy unit.
    components_fn: ``(R, neighbor) -> dict`` of named terms (`COMPONENTS`), same unit.
    neighbor_fn: jax_md ``NeighborFn`` (cutoff + skin, exclusions masked out).
    displacement_fn, shift_fn: the jax_md ``space`` functions of the system.
    """

    energy_fn: Callable[..., Array]
    components_fn: Callable[..., dict]
    neighbor_fn: partition.NeighborFn
    displacement_fn: Callable
    shift_fn: Callable


def classical_energy(
    ff: ClassicalForceField,
    *,
    skin: float = 1.0,
    energy_unit: str = "eV",
    dtype: Any = None,
    neighbor_format: partition.NeighborListFormat = partition.OrderedSparse,
) -> ForceFieldFns:
    """Energy, components, neighbour list and space of a converted force field (module docstring).

    Args:
      ff: the converted force field.
      skin: neighbour-list skin in Å (the list holds pairs within ``r_cut + skin``; ignored
        without a cutoff, where every pair is listed).
      energy_unit: ``"eV"`` (default, ASE units) or ``"kcal/mol"``.
      dtype: cast the parameters to this floating type (positions must match); default: as
        converted. Energies come out in the positions' dtype, and the PME reciprocal sum is
        computed in it (``kernels.pme``), so float32 stays float32 with ``jax_enable_x64`` on;
        float64 needs it on (``kernels.precision``).
      neighbor_format: jax_md neighbour-list format.
    """
    if energy_unit not in ENERGY_UNITS:
        raise ValueError(f"energy_unit must be one of {sorted(ENERGY_UNITS)}, got {energy_unit!r}")
    if dtype is not None:
        ff = ff.astype(float_dtype(dtype))
    scale = ENERGY_UNITS[energy_unit]
    nb = ff.nb_options._replace(dr_threshold=float(skin), nb_format=neighbor_format)
    if ff.pme_alpha is not None:
        grid = np.asarray(ff.pme_grid, dtype=np.int32)
        coulomb = TypedPMECoulomb(grid_size=grid, alpha=float(ff.pme_alpha), r_cut=nb.r_cut)
    elif nb.r_cut is None:
        # no cutoff: jax_md evaluates plain 1/r over every listed pair (its r_cut is unused)
        coulomb = CutoffCoulomb(r_cut=float("inf"))
    else:
        raise NotImplementedError("only NoCutoff and PME electrostatics are supported")
    terms_fn, neighbor_fn, displacement_fn, shift_fn = amber_energy(
        ff.params, ff.topology, ff.box, coulomb, nb)

    recip_fn = None
    if isinstance(coulomb, TypedPMECoulomb):  # the reciprocal term as the energy builds it
        recip_fn = coulomb.coulomb_recip_pme(ff.params.nonbonded.charges, ff.box, grid,
                                             alpha=coulomb.alpha)

    def _strain_correction(R: Array, strain: Array) -> Array:
        """``f(s) - stop_gradient(f(s))`` with ``f(s) = E_recip((1 + s) R)`` in the unscaled box:
        zero in value, ``grad_R E_recip . R`` in derivative (module docstring)."""
        if recip_fn is None:
            return jnp.zeros((), R.dtype)
        f = COULOMB_CONSTANT * recip_fn(R * (1.0 + strain))
        return f - jax.lax.stop_gradient(f)

    def energy_fn(R: Array, neighbor: partition.NeighborList, strain: Array | None = None,
                  **kwargs) -> Array:
        """Potential energy of ``R: [n_atoms, 3]`` (Å); see the module docstring for ``strain``."""
        # in R's dtype: jax_md returns a few constant terms (no CMAP, no soft-core
        # correction) as float64 zeros, which would promote a float32 energy
        if strain is None:
            return (scale * terms_fn(R, neighbor, **kwargs)["etotal"]).astype(R.dtype)
        perturbation = (1.0 + strain) * jnp.eye(R.shape[-1], dtype=R.dtype)
        e = terms_fn(R, neighbor, perturbation=perturbation, **kwargs)["etotal"]
        return (scale * (e + _strain_correction(R, strain))).astype(R.dtype)

    def components_fn(R: Array, neighbor: partition.NeighborList, **kwargs) -> dict:
        """Named energy terms (`COMPONENTS`) of ``R: [n_atoms, 3]`` (Å), in R's dtype."""
        terms = terms_fn(R, neighbor, **kwargs)
        return {name: (scale * terms[key]).astype(R.dtype) for name, key in COMPONENTS.items()}

    return ForceFieldFns(energy_fn, components_fn, neighbor_fn, displacement_fn, shift_fn)
