"""``ForceField``: the classical force field of a molecular ``System``, described by the name of
its builder in ``workbench.molecules.MOLECULAR_SYSTEMS`` and the builder's keyword arguments
(JSON-serialisable, so a run config says exactly which system ran), built into kernel functions.

A molecular system carries a ``ForceField`` where a simple fluid carries a ``PairPotential``:

    ff = ForceField(builder="water_spcfw", kwargs={"n_molecules": 64})
    mol = ff.molecule()                 # the OpenMM MolecularSystem (nm, kJ/mol), minimised
    ks = ff.build(jnp.float32)          # KernelSystem: energy_fn, neighbor_fn, space (Å, eV)

Both are cached, per description (and per floating type for the kernel), in this process: a
dashboard that previews, resets and restarts the same system builds OpenMM and converts the
force field once, and the jitted kernel functions stay the same objects (no re-tracing).

Starting structures are energy-minimised with OpenMM (``minimize_steps`` iterations of L-BFGS)
before the kernel sees them: the water lattice and Modeller's solvent start far above the
liquid's energy, and without it a 300 K run first heats to ~650 K. Set ``minimize_steps=0`` for
the builder's raw coordinates. Up to ``REFERENCE_ATOMS`` atoms the minimisation runs on OpenMM's
Reference platform (0.5 s for 64 waters), which is bit-reproducible: the same description gives
the same start, trajectory and neighbour-list size, so JAX's persistent compilation cache hits in
a new process. Larger systems use the CPU platform (1 s instead of 15 s for alanine dipeptide in
1,800 atoms of water), whose multithreaded sums are not reproducible to the last bit: their
starts differ between processes by ~0.1 Å (the same within one process, which caches them).

Units: the kernel side is in ASE units (Å, eV, amu; time Å sqrt(amu/eV)).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
import param

_CACHE_SIZE = 6
#: systems up to this size are minimised on OpenMM's Reference platform (module docstring)
REFERENCE_ATOMS = 1000
_molecules: OrderedDict[str, Any] = OrderedDict()
_kernels: OrderedDict[tuple[str, str], Any] = OrderedDict()
_lock = threading.RLock()


def _remember(cache: OrderedDict, key, value):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


def molecular_builders() -> dict[str, str]:
    """``{builder name: description}`` of ``workbench.molecules.MOLECULAR_SYSTEMS``."""
    from workbench.molecules import MOLECULAR_SYSTEMS  # here, not at the top: loads OpenMM

    return {name: desc for name, (desc, _) in MOLECULAR_SYSTEMS.items()}


class ForceField(param.Parameterized):
    """A classical force field (AMBER form, ``kernels.forcefields``) of one molecular system."""

    builder = param.String(default="water_spcfw", doc="Key of workbench.molecules."
                           "MOLECULAR_SYSTEMS (water_spcfw, alanine_dipeptide_vacuum, ...).")
    kwargs = param.Dict(default={}, doc="Builder keyword arguments (JSON values), e.g. "
                        "{'n_molecules': 64, 'seed': 0}.")
    minimize_steps = param.Integer(default=200, bounds=(0, None), doc="OpenMM energy "
                                   "minimisation iterations before the start (0: none).")
    skin = param.Number(default=1.0, bounds=(0, None), doc="Neighbour-list skin (Å).")

    # --- description --------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"builder": self.builder, "kwargs": dict(self.kwargs),
                "minimize_steps": self.minimize_steps, "skin": self.skin}

    @classmethod
    def from_dict(cls, d: dict) -> ForceField:
        return cls(**d)

    def _key(self) -> str:
        d = self.to_dict()
        d.pop("skin")
        return json.dumps(d, sort_keys=True)

    # --- building -----------------------------------------------------------------------
    def molecule(self):
        """The ``workbench.molecules.MolecularSystem`` (OpenMM units: nm), minimised as the
        module docstring says; cached. ``ValueError`` for an unknown builder or bad kwargs."""
        from workbench.molecules import MOLECULAR_SYSTEMS

        if self.builder not in MOLECULAR_SYSTEMS:
            raise ValueError(f"unknown molecular system {self.builder!r}; known: "
                             f"{sorted(MOLECULAR_SYSTEMS)}")
        key = self._key()
        with _lock:
            if key in _molecules:
                _molecules.move_to_end(key)
                return _molecules[key]
            try:
                mol = MOLECULAR_SYSTEMS[self.builder][1](**self.kwargs)
            except TypeError as exc:  # unknown keyword
                raise ValueError(f"{self.builder}: {exc}") from None
            if self.minimize_steps:
                mol = _minimized(mol, self.minimize_steps)
            return _remember(_molecules, key, mol)

    def build(self, dtype: Any = None):
        """The ``workbench.molecules.KernelSystem`` (energy, neighbour list, space; Å, eV) in
        ``dtype`` (default float32); cached per description and dtype."""
        import jax.numpy as jnp

        from workbench.molecules import to_kernel

        dtype = jnp.dtype(dtype or jnp.float32)
        key = (self._key() + f"|skin={self.skin}", dtype.name)
        with _lock:
            if key in _kernels:
                _kernels.move_to_end(key)
                return _kernels[key]
            return _remember(_kernels, key, to_kernel(self.molecule(), dtype=dtype,
                                                      skin=self.skin))

    # --- what the System needs -----------------------------------------------------------
    @property
    def periodic(self) -> bool:
        return self.molecule().box is not None

    @property
    def r_cutoff(self) -> float | None:
        """Real-space cutoff (Å) of the nonbonded terms, None without one (vacuum). The same
        number the kernel uses (``forcefield.nb_options.r_cut``), read from OpenMM's
        ``NonbondedForce`` without converting the force field."""
        import openmm as mm
        from openmm import unit

        mol = self.molecule()
        force = next(f for f in mol.system.getForces() if isinstance(f, mm.NonbondedForce))
        if force.getNonbondedMethod() == mm.NonbondedForce.NoCutoff:
            return None
        return 10.0 * force.getCutoffDistance().value_in_unit(unit.nanometer)

    def positions(self) -> np.ndarray:
        """``[n_atoms, 3]`` starting positions in Å, wrapped into the box when periodic (as the
        kernel expects)."""
        mol = self.molecule()
        R = 10.0 * np.asarray(mol.positions, dtype=np.float64)
        return R if mol.box is None else np.mod(R, 10.0 * mol.box)

    def phi_psi_indices(self) -> np.ndarray:
        """``[n_residues, 2, 4]`` atom quads of the backbone dihedrals phi, psi (empty ``[0, 2,
        4]`` for a system without a peptide backbone)."""
        from workbench.molecules import phi_psi_indices

        return phi_psi_indices(self.molecule().topology)

    def description(self) -> str:
        return self.molecule().description


def _minimized(mol, max_iterations: int):
    """``mol`` with OpenMM-minimised positions (Reference platform up to ``REFERENCE_ATOMS``,
    else CPU when there is one)."""
    import openmm as mm
    from openmm import unit

    ctx = None
    if mol.n_atoms > REFERENCE_ATOMS:
        try:
            ctx = mol.context("CPU")
        except Exception:  # no CPU platform: the Reference one is always there
            ctx = None
    ctx = ctx or mol.context("Reference")
    mm.LocalEnergyMinimizer.minimize(ctx, 10.0, int(max_iterations))
    R = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    del ctx
    return replace(mol, positions=np.asarray(R, dtype=np.float64),
                   info={**mol.info, "minimize_steps": int(max_iterations)})
