"""ASE calculators: ``PairCalculator`` (a pair potential) and ``LearnedCalculator`` (a learned
force field).

``PairCalculator``: any ``PairPotential`` (analytic, or a fitted spline or network, e.g.
``workbench.fit.fitted_potential(fit_run)``) as an ASE calculator, so a potential tuned in the
workbench runs in ASE's dynamics, optimisers and analysis.

ASE works in Å and eV. A potential in ASE units is used as is; one in reduced LJ units needs the
scales that give it meaning: ``length`` (Å per sigma) and ``energy`` (eV per epsilon), e.g.
argon's 3.405 Å and 0.0103 eV. Energy and forces come from the kernel's energy by automatic
differentiation, for periodic orthorhombic cells. No stress: the kernel's strain hook is
isotropic (it gives the pressure, not the stress tensor). Atoms map to species by chemical
symbol (``symbols``, in species order); without ``symbols`` all atoms must be one element
(``ValueError`` otherwise: treating two elements as one species would be a silent error).

A cell narrower than twice the cutoff is replicated into the smallest supercell that is not
(the minimum-image convention then sees every periodic image within the cutoff, as ASE's
neighbour list does): the energy is the supercell's divided by the number of images and the
forces are those on the first image. Before the first evaluation of a cell the replicated
system passes ``System.validate`` (parameters, box, overlapping atoms), the checks every
simulation makes. The jitted functions are rebuilt only when the cell or the species change;
the neighbour list is updated between calls and re-allocated if it overflows
(``kernels.neighbors.retry_on_overflow``).

Precision: ``dtype`` float64 (default) or float32. float64 is computed in float64 (it needs
JAX's 64-bit mode, which ``import workbench`` turns on at start-up; otherwise a
``kernels.precision.PrecisionError``, never a silent float32).

``LearnedCalculator(model)``: a ``LearnedForceField`` (or a folder / run id,
``workbench.learned_system.load_model``) in ASE units as the model is: energy, per-atom
energies, forces (``-grad E``) and, for a periodic cell, the stress from the strain derivative,
``sigma = (1/V) dE/d(strain)`` (ASE's sign: positive under tension; Voigt order xx, yy, zz, yz,
xz, xy), through ``MLFFModel.energy_fn(..., strain=)``. Cells are orthorhombic and fully
periodic (the box more than twice the model cutoff, else ``ValueError``) or not periodic at all
(free space: no stress). The jitted functions and the neighbour list (cutoff + ``skin``, from
``kernels.mlff.md``) are kept per atom count, box and species, so an MD or optimiser loop
compiles once; the weights are a traced argument. Same ``dtype`` rule as ``PairCalculator``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from kernels.mlff.md import check_box, md_functions, md_params
from kernels.neighbors import retry_on_overflow
from kernels.precision import float_dtype
from workbench.learned import LearnedForceField
from workbench.learned_system import load_model
from workbench.potential import PairPotential
from workbench.system import System


class PairCalculator(Calculator):
    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, potential: PairPotential, *, symbols: list[str] | None = None,
                 length: float = 1.0, energy: float = 1.0, dtype=jnp.float64, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential
        self.symbols = list(symbols) if symbols else None
        self.length, self.energy = float(length), float(energy)
        self.dtype = float_dtype(dtype)
        self._built = None

    def _species(self, atoms) -> np.ndarray:
        symbols = atoms.get_chemical_symbols()
        if self.symbols is None:
            elements = sorted(set(symbols))
            if len(elements) > 1:
                raise ValueError(f"the atoms hold several elements {elements}; pass symbols= "
                                 "(one per species of the potential, in its species order)")
            return np.zeros(len(atoms), int)
        unknown = sorted(set(symbols) - set(self.symbols))
        if unknown:
            raise ValueError(f"the potential knows species {self.symbols}; the atoms also "
                             f"have {unknown}")
        return np.array([self.symbols.index(s) for s in symbols])

    def _box(self, atoms) -> np.ndarray:
        cell = np.asarray(atoms.cell)
        if not atoms.pbc.all() or not np.allclose(cell, np.diag(np.diag(cell))):
            raise ValueError("PairCalculator needs a periodic orthorhombic cell (pbc=True, a "
                             "diagonal cell)")
        return np.diag(cell) / self.length

    def _functions(self, atoms):
        species = self._species(atoms)
        box = self._box(atoms)
        key = (tuple(box), tuple(species))
        if self._built is None or self._built[0] != key:
            reps = np.floor(2 * self.potential.r_cutoff / box).astype(int) + 1
            grid = np.stack(np.meshgrid(*[np.arange(k) for k in reps], indexing="ij"), -1)
            shifts = grid.reshape(-1, 3) * box  # image 0 first: the atoms themselves
            n_species = len(self.symbols) if self.symbols else 1
            super_box, super_species = box * reps, np.tile(species, len(shifts))
            positions = np.mod(atoms.get_positions() / self.length, box)
            System(positions=(positions[None] + shifts[:, None]).reshape(-1, 3),
                   species=super_species, species_names=self.symbols or ["A"],
                   masses=np.ones(len(super_species)), box=super_box,
                   potential=self.potential).validate()
            _, _, neighbor_fn, energy_fn, params = self.potential.build(
                super_box, super_species, n_species, self.dtype)
            shifts_j = jnp.asarray(shifts, self.dtype)
            n_images = len(shifts)

            def supercell(R):
                return (R[None] + shifts_j[:, None]).reshape(-1, 3)

            @jax.jit
            def evaluate(R, neighbor):
                neighbor = neighbor.update(supercell(R))
                u, dR = jax.value_and_grad(lambda r: energy_fn(supercell(r), neighbor,
                                                               **params))(R)
                # dR sums the forces on every image of an atom, which are equal
                return u / n_images, -dR / n_images, neighbor

            self._built = (key, neighbor_fn, evaluate, box, supercell)
            self._neighbor = None
        return self._built[1:]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        neighbor_fn, evaluate, box, supercell = self._functions(self.atoms)
        R = jnp.mod(jnp.asarray(self.atoms.get_positions() / self.length, self.dtype),
                    jnp.asarray(box, self.dtype))
        if self._neighbor is None:
            self._neighbor = neighbor_fn.allocate(supercell(R))

        def attempt(nbrs):
            out = evaluate(R, nbrs)
            return out, out[2]

        # denser than when allocated: a larger list, from these positions, and again
        (u, forces, neighbor), _ = retry_on_overflow(
            attempt, self._neighbor,
            lambda extra: neighbor_fn.allocate(supercell(R), extra_capacity=extra))
        self._neighbor = neighbor
        self.results = {"energy": float(u) * self.energy, "free_energy": float(u) * self.energy,
                        "forces": np.asarray(forces) * self.energy / self.length}


class LearnedCalculator(Calculator):
    """A learned force field as an ASE calculator (module docstring). ``model``: a
    ``LearnedForceField``, a folder with ``model.json`` or a registered run id; ``dtype``:
    float64 (default) or float32; ``skin``: neighbour-list skin in Å; ``tabulate``: look the
    radial functions up in cubic tables as MD does (``LearnedForceField.md_weights``; default),
    or evaluate them exactly (False)."""

    implemented_properties = ("energy", "free_energy", "energies", "forces", "stress")

    def __init__(self, model: LearnedForceField | str, *, dtype=jnp.float64, skin: float = 1.0,
                 tabulate: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.model = load_model(model)
        self.dtype = float_dtype(dtype)
        self.skin = float(skin)
        self._mlff = self.model.build_model()
        weights = self.model.md_weights() if tabulate else self.model.params
        if weights is None:
            raise ValueError("the learned force field has no weights")
        self._params = md_params(weights, [], self.dtype)["params"]
        self._built: dict[tuple, tuple] = {}  # (n, box, species) -> (neighbor_fn, evaluate)
        self._neighbors: dict[tuple, object] = {}

    def _box(self, atoms) -> np.ndarray | None:
        if not atoms.pbc.any():
            return None
        cell = np.asarray(atoms.cell)
        if not atoms.pbc.all() or not np.allclose(cell, np.diag(np.diag(cell))):
            raise ValueError("LearnedCalculator needs an orthorhombic cell periodic on all three "
                             "axes, or no periodicity (free space)")
        return check_box(self.model.cutoff, np.diag(cell))

    def _functions(self, atoms):
        species = self.model.species_index(atoms.get_atomic_numbers())
        box = self._box(atoms)
        key = (len(atoms), None if box is None else tuple(box), tuple(species))
        if key not in self._built:
            fns = md_functions(self._mlff, box, dtype=self.dtype, skin=self.skin)
            energy_fn, atom_energy_fn = self._mlff.energy_fn, self._mlff.atom_energy_fn
            box_j = None if box is None else jnp.asarray(box, self.dtype)
            species_j = jnp.asarray(species, jnp.int32)

            @jax.jit
            def evaluate(params, R, neighbor):
                neighbor = neighbor.update(R)

                def energy(r, strain):
                    return energy_fn(params, r, neighbor, species_j, box_j, strain)

                zero = jnp.zeros((3, 3), R.dtype)
                u, (dR, dS) = jax.value_and_grad(energy, argnums=(0, 1))(R, zero)
                atoms_u = atom_energy_fn(params, R, neighbor, species_j, box_j)
                return u, atoms_u, -dR, 0.5 * (dS + dS.T), neighbor

            self._built[key] = (fns.neighbor_fn, evaluate)
        return key, box, self._built[key]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        key, box, (neighbor_fn, evaluate) = self._functions(self.atoms)
        R = jnp.asarray(self.atoms.get_positions(), self.dtype)
        if box is not None:
            R = jnp.mod(R, jnp.asarray(box, self.dtype))
        if key not in self._neighbors:
            self._neighbors[key] = neighbor_fn.allocate(R)

        def attempt(nbrs):
            out = evaluate(self._params, R, nbrs)
            return out, out[-1]

        (u, atom_u, forces, dS, neighbor), _ = retry_on_overflow(
            attempt, self._neighbors[key],
            lambda extra: neighbor_fn.allocate(R, extra_capacity=extra))
        self._neighbors[key] = neighbor
        self.results = {"energy": float(u), "free_energy": float(u),
                        "energies": np.asarray(atom_u, dtype=np.float64),
                        "forces": np.asarray(forces, dtype=np.float64)}
        if box is not None:
            sigma = np.asarray(dS, dtype=np.float64) / float(np.prod(box))
            self.results["stress"] = sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("no stress in free space (no cell)")
