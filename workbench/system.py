"""``System``: positions, species, masses, periodic box, units and pair potential of one
simulation cell, with checks for unphysical input and conversion to and from ASE ``Atoms``.

Builders for the systems the dashboards offer live in ``workbench.builders``.
"""

from __future__ import annotations

import numpy as np
import param
from ase import Atoms

from workbench.potential import PairPotential
from workbench.units import get_units


class System(param.Parameterized):
    """One periodic, orthorhombic simulation cell.

    positions ``[n_atoms, 3]`` and box ``[3]`` in length units, masses ``[n_atoms]`` in mass
    units, species ``[n_atoms]`` ints indexing ``species_names``.
    """

    name = param.String(default="system")
    positions = param.Array(doc="[n_atoms, 3] positions (length units)")
    species = param.Array(doc="[n_atoms] species index (int)")
    species_names = param.List(default=["A"], item_type=str)
    masses = param.Array(doc="[n_atoms] masses (mass units)")
    box = param.Array(doc="[3] orthorhombic box side lengths (length units)")
    units = param.Selector(default="lj", objects=["lj", "ase"])
    potential = param.ClassSelector(class_=PairPotential, default=None)
    bonds = param.Array(default=None, allow_None=True, doc="[n_bonds, 2] atom indices, if any")

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_species(self) -> int:
        return len(self.species_names)

    @property
    def volume(self) -> float:
        return float(np.prod(self.box))

    @property
    def density(self) -> float:
        return self.n_atoms / self.volume

    @property
    def unit_system(self):
        return get_units(self.units)

    def validate(self) -> None:
        """Raise ``ValueError`` with a clear message for unphysical input: shapes, masses,
        potential parameters, a box smaller than twice the cutoff, overlapping atoms."""
        n = self.n_atoms
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise ValueError(f"positions must have shape [n_atoms, 3], got {self.positions.shape}")
        for name, arr in (("species", self.species), ("masses", self.masses)):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape [{n}], got {arr.shape}")
        if not np.all(np.isfinite(self.positions)):
            raise ValueError("positions contain NaN or infinity")
        if np.any(self.masses <= 0):
            raise ValueError("every mass must be > 0")
        if self.species.min() < 0 or self.species.max() >= self.n_species:
            raise ValueError(f"species indices must lie in [0, {self.n_species - 1}]")
        if self.box.shape != (3,) or np.any(self.box <= 0):
            raise ValueError(f"box must be three positive side lengths, got {self.box}")
        if self.potential is None:
            raise ValueError("the system has no potential")
        self.potential.full_params(self.n_species)
        rc = self.potential.r_cutoff
        if np.min(self.box) <= 2 * rc:
            raise ValueError(
                f"the box side {np.min(self.box):.4g} is not larger than twice the cutoff "
                f"({2 * rc:.4g}): the minimum-image convention would count pairs twice; use more "
                "atoms, a lower density or a shorter cutoff")
        self._check_overlaps(self.potential.contact_distance(self.n_species))

    def _check_overlaps(self, r_min: float) -> None:
        if r_min <= 0:
            return
        R, box = self.positions, self.box
        for start in range(0, self.n_atoms, 256):  # bounded memory for large systems
            d = R[start:start + 256, None, :] - R[None, :, :]
            d = np.linalg.norm(d - box * np.round(d / box), axis=-1)  # minimum image
            rows = np.arange(d.shape[0])
            d[rows, start + rows] = np.inf
            i, j = np.unravel_index(np.argmin(d), d.shape)
            if d[i, j] < r_min:
                raise ValueError(
                    f"atoms {start + i} and {j} overlap: distance {d[i, j]:.4g} < {r_min:.4g} "
                    f"{self.unit_system.length}; the forces would be enormous")

    def to_ase(self) -> Atoms:
        """ASE ``Atoms`` (positions wrapped into the box; non-element species become ``X``
        with the names kept in the ``species_name`` array)."""
        from ase.data import chemical_symbols

        names = [self.species_names[s] for s in self.species]
        symbols = [s if s in chemical_symbols[1:] else "X" for s in names]
        atoms = Atoms(symbols=symbols, positions=self.positions, cell=self.box, pbc=True,
                      masses=self.masses)
        atoms.set_array("species_name", np.array(names))
        atoms.info["units"] = self.units
        return atoms

    @classmethod
    def from_ase(cls, atoms: Atoms, potential: PairPotential, units: str = "ase",
                 name: str = "from-ase") -> System:
        """A system from ASE ``Atoms`` with an orthorhombic periodic cell."""
        cell = np.asarray(atoms.cell)
        if not np.allclose(cell, np.diag(np.diag(cell))) or not all(atoms.pbc):
            raise ValueError("only fully periodic orthorhombic cells are supported")
        names = (list(atoms.get_array("species_name")) if "species_name" in atoms.arrays
                 else atoms.get_chemical_symbols())
        species_names = list(dict.fromkeys(names))
        return cls(name=name, positions=atoms.get_positions(wrap=True),
                   species=np.array([species_names.index(s) for s in names]),
                   species_names=species_names, masses=atoms.get_masses(),
                   box=np.diag(cell).copy(), units=units, potential=potential)

    def to_dict(self) -> dict:
        """JSON-ready summary (no coordinates) for run configs."""
        return {"name": self.name, "n_atoms": self.n_atoms, "species_names": self.species_names,
                "species_counts": np.bincount(self.species, minlength=self.n_species).tolist(),
                "box": self.box.tolist(), "density": self.density, "units": self.units,
                "potential": self.potential.to_dict() if self.potential else None}
