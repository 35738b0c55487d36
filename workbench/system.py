"""``System``: positions, species, masses, periodic box, units and interactions of one simulation
cell, with checks for unphysical input and conversion to and from ASE ``Atoms``.

The interactions are a ``PairPotential`` (simple fluids, reduced or ASE units), a
``ForceField`` (molecular systems: a classical force field built by ``workbench.molecules``, ASE
units, bonds) or a ``LearnedForceField`` (a trained machine-learned model, ASE units, species
named by element). A force-field or learned system may be non-periodic (``box`` None: free
space, as for a molecule in vacuum), or a ``CGPotential`` (a coarse-grained model fitted by force
matching, ``workbench.coarse``: one particle per bead, species are bead types, periodic or not).

Builders for the systems the dashboards offer live in ``workbench.builders``; a structure with a
learned model comes from ``workbench.learned_system.learned_system``.
"""

from __future__ import annotations

import numpy as np
import param
from ase import Atoms

from workbench.cg_potential import CGPotential
from workbench.forcefield import ForceField
from workbench.learned import LearnedForceField
from workbench.potential import PairPotential
from workbench.units import get_units

#: atoms of a force-field system closer than this (Å) and not bonded overlap
MOLECULAR_CONTACT = 0.5
#: a CGPotential's units -> the System's
CG_UNITS = {"reduced": "lj", "ase": "ase"}


class System(param.Parameterized):
    """One periodic, orthorhombic simulation cell (or free space for a molecular system).

    positions ``[n_atoms, 3]`` and box ``[3]`` in length units (box None: no periodic
    boundaries, force-field systems only), masses ``[n_atoms]`` in mass units, species
    ``[n_atoms]`` ints indexing ``species_names``. Exactly one of ``potential`` (pair potential)
    and ``forcefield`` (molecular force field) says how the atoms interact.
    """

    name = param.String(default="system")
    positions = param.Array(doc="[n_atoms, 3] positions (length units)")
    species = param.Array(doc="[n_atoms] species index (int)")
    species_names = param.List(default=["A"], item_type=str)
    masses = param.Array(doc="[n_atoms] masses (mass units)")
    box = param.Array(allow_None=True, doc="[3] orthorhombic box side lengths (length "
                      "units); None: free space (force-field systems only)")
    units = param.Selector(default="lj", objects=["lj", "ase"])
    potential = param.ClassSelector(class_=PairPotential, default=None)
    bonds = param.Array(default=None, allow_None=True, doc="[n_bonds, 2] atom indices, if any")
    forcefield = param.ClassSelector(class_=ForceField, default=None, allow_None=True,
                                     doc="Molecular force field (instead of a pair potential).")
    model = param.ClassSelector(class_=LearnedForceField, default=None, allow_None=True,
                                doc="Learned force field (instead of a pair potential or a "
                                "classical force field); species_names are element symbols.")
    cg = param.ClassSelector(class_=CGPotential, default=None, allow_None=True,
                             doc="Coarse-grained potential (instead of the others): one "
                             "particle per bead, species the bead types (System.from_cg).")

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_species(self) -> int:
        return len(self.species_names)

    @property
    def periodic(self) -> bool:
        return self.box is not None

    @property
    def molecular(self) -> bool:
        """True for a force-field system."""
        return self.forcefield is not None

    @property
    def learned(self) -> bool:
        """True for a system driven by a learned force field."""
        return self.model is not None

    @property
    def volume(self) -> float | None:
        """Box volume (length units cubed); None in free space."""
        return float(np.prod(self.box)) if self.periodic else None

    @property
    def density(self) -> float | None:
        """Atoms per length unit cubed; None in free space."""
        return self.n_atoms / self.volume if self.periodic else None

    @property
    def r_cutoff(self) -> float | None:
        """The interaction cutoff (length units); None for a force field without one."""
        if self.model is not None:
            return self.model.cutoff
        if self.cg is not None:
            return None if self.cg.model.pair is None else self.cg.model.pair.r_cutoff
        if self.forcefield is not None:
            return self.forcefield.r_cutoff
        return self.potential.r_cutoff if self.potential is not None else None

    @property
    def unit_system(self):
        return get_units(self.units)

    def validate(self) -> None:
        """Raise ``ValueError`` with a clear message for unphysical input: shapes, masses,
        potential parameters, a box smaller than twice the cutoff, overlapping atoms (for a
        force field: non-bonded atoms closer than 0.5 Å; bonded ones are the force field's
        business)."""
        n = self.n_atoms
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise ValueError(f"positions must have shape [n_atoms, 3], got {self.positions.shape}")
        for name, arr in (("species", self.species), ("masses", self.masses)):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape [{n}], got {arr.shape}")
        if not np.all(np.isfinite(self.positions)):
            raise ValueError("positions contain NaN or infinity")
        if not np.all(np.isfinite(self.masses)) or np.any(self.masses <= 0):
            raise ValueError("every mass must be a finite number > 0")
        if self.box is not None and not np.all(np.isfinite(self.box)):
            raise ValueError(f"box must be finite, got {self.box}")
        if self.species.min() < 0 or self.species.max() >= self.n_species:
            raise ValueError(f"species indices must lie in [0, {self.n_species - 1}]")
        if self.model is not None:
            self._validate_learned()
            return
        if self.cg is not None:
            self._validate_cg()
            return
        if self.forcefield is not None:
            self._validate_forcefield()
            return
        if self.box is None:
            raise ValueError("box must be three positive side lengths, got None")
        if self.potential is None:
            raise ValueError("the system has no potential")
        self.potential.full_params(self.n_species)
        self._check_box(self.potential.r_cutoff)
        self._check_overlaps(self.potential.contact_distance(self.n_species))

    def _validate_forcefield(self) -> None:
        ff = self.forcefield
        if self.potential is not None:
            raise ValueError("a system has either a pair potential or a force field, not both")
        if self.units != "ase":
            raise ValueError("force-field systems use ASE units (Å, eV, amu, fs)")
        if self.n_atoms != ff.molecule().n_atoms:
            raise ValueError(f"the force field describes {ff.molecule().n_atoms} atoms, the "
                             f"system has {self.n_atoms}")
        if ff.periodic != self.periodic:
            raise ValueError("the force field is " + ("periodic but the system has no box"
                                                      if ff.periodic else
                                                      "for free space but the system has a box"))
        if self.periodic:
            self._check_box(ff.r_cutoff)
        self._check_overlaps(MOLECULAR_CONTACT, exclude=self.bonds)

    def _validate_learned(self) -> None:
        """Units, one source of interactions, species the model knows, weights, and a box
        more than twice the model cutoff."""
        model = self.model
        if any(x is not None for x in (self.potential, self.forcefield, self.cg)):
            raise ValueError("a system has one source of interactions: a learned model, a pair "
                             "potential, a force field or a CG potential")
        if self.units != "ase":
            raise ValueError("learned-model systems use ASE units (Å, eV, amu, fs)")
        if model.params is None:
            raise ValueError("the learned force field has no weights (train or load it first)")
        self.model.species_index(self.atomic_numbers())  # ValueError naming missing elements
        if self.periodic:
            if self.box.shape != (3,) or np.any(self.box <= 0):
                raise ValueError(f"box must be three positive side lengths, got {self.box}")
            if np.min(self.box) <= 2 * model.cutoff:
                raise ValueError(
                    f"the model cutoff {model.cutoff:g} Å exceeds half the box "
                    f"({np.min(self.box):.4g} Å): the minimum-image convention would miss "
                    "neighbours; use a larger box (more molecules)")
        self._check_overlaps(MOLECULAR_CONTACT, exclude=self.bonds)

    def _validate_cg(self) -> None:
        """One source of interactions, the CG potential's units and beads, a box more than
        twice the pair cutoff, no two non-bonded beads within half the fitted range's start."""
        cg = self.cg
        if any(x is not None for x in (self.potential, self.forcefield, self.model)):
            raise ValueError("a system has one source of interactions: a CG potential, a pair "
                             "potential, a force field or a learned model")
        units = CG_UNITS[cg.units]
        if self.units != units:
            raise ValueError(f"the CG potential is in {cg.units} units, so the system's units "
                             f"must be {units!r}, not {self.units!r}")
        if self.n_atoms != cg.model.n_beads:
            raise ValueError(f"the CG potential has {cg.model.n_beads} beads, the system "
                             f"{self.n_atoms} particles")
        if list(self.species_names) != list(cg.type_names) or not np.array_equal(
                self.species, cg.model.bead_types):
            raise ValueError("species must be the CG potential's bead types (System.from_cg)")
        if self.periodic:
            self._check_box(self.r_cutoff)
        if cg.model.pair is not None:
            self._check_overlaps(0.5 * cg.model.pair.r_min, exclude=cg.model.excluded)

    @classmethod
    def from_cg(cls, cg: CGPotential, positions: np.ndarray, masses: np.ndarray,
                box: np.ndarray | None = None, name: str = "cg") -> System:
        """A system of ``cg``'s beads at ``positions [n_beads, 3]`` (length units) with
        ``masses [n_beads]`` (e.g. ``CGMapping.bead_masses``), in free space or a periodic
        ``box [3]``; bonds are the potential's CG bonds."""
        bonds = None if cg.model.bonds is None else np.asarray(cg.model.bonds.indices)
        if np.shape(positions) != (cg.model.n_beads, 3):
            raise ValueError(f"positions must be [{cg.model.n_beads}, 3] (one per bead of the CG "
                             f"potential), got {np.shape(positions)}")
        return cls(name=name, positions=np.asarray(positions, float),
                   species=np.asarray(cg.model.bead_types, np.int64),
                   species_names=list(cg.type_names), masses=np.asarray(masses, float),
                   box=None if box is None else np.broadcast_to(np.asarray(box, float),
                                                                (3,)).copy(),
                   units=CG_UNITS[cg.units], bonds=bonds, cg=cg)

    def atomic_numbers(self) -> np.ndarray:
        """``[n_atoms]`` int64 atomic numbers from ``species_names`` (element symbols);
        ``ValueError`` for a species that is not an element (a reduced-units bead)."""
        from ase.data import atomic_numbers

        unknown = [n for n in self.species_names if n not in atomic_numbers or n == "X"]
        if unknown:
            raise ValueError(f"species {unknown} are not chemical elements; a learned force "
                             "field needs element symbols")
        z = np.array([atomic_numbers[n] for n in self.species_names], dtype=np.int64)
        return z[np.asarray(self.species, dtype=np.int64)]

    def _check_box(self, rc: float | None) -> None:
        """Three positive sides, each more than twice the cutoff ``rc`` (None: no cutoff)."""
        if self.box.shape != (3,) or np.any(self.box <= 0):
            raise ValueError(f"box must be three positive side lengths, got {self.box}")
        if rc is not None and np.min(self.box) <= 2 * rc:
            raise ValueError(
                f"the box side {np.min(self.box):.4g} is not larger than twice the cutoff "
                f"({2 * rc:.4g}): the minimum-image convention would count pairs twice; use more "
                "atoms, a lower density or a shorter cutoff")

    def _check_overlaps(self, r_min: float, exclude: np.ndarray | None = None) -> None:
        """``ValueError`` if two atoms (not a pair in ``exclude`` ``[m, 2]``) are closer than
        ``r_min`` (minimum image when periodic)."""
        if r_min <= 0:
            return
        R, box, n = self.positions, self.box, self.n_atoms
        excluded = set()
        if exclude is not None and len(exclude):
            e = np.asarray(exclude, dtype=np.int64).reshape(-1, 2)
            excluded = set((e[:, 0] * n + e[:, 1]).tolist()) | set((e[:, 1] * n + e[:, 0])
                                                                     .tolist())
        for start in range(0, n, 256):  # bounded memory for large systems
            d = R[start:start + 256, None, :] - R[None, :, :]
            if box is not None:
                d = d - box * np.round(d / box)  # minimum image
            d = np.linalg.norm(d, axis=-1)
            rows = np.arange(d.shape[0])
            d[rows, start + rows] = np.inf
            for i, j in zip(*np.nonzero(d < r_min), strict=True):
                if (start + i) * n + j in excluded:
                    continue
                raise ValueError(
                    f"atoms {start + i} and {j} overlap: distance {d[i, j]:.4g} < {r_min:.4g} "
                    f"{self.unit_system.length}; the forces would be enormous")

    def to_ase(self) -> Atoms:
        """ASE ``Atoms`` (non-element species become ``X`` with the names kept in the
        ``species_name`` array; no cell and no periodicity in free space)."""
        from ase.data import chemical_symbols

        names = [self.species_names[s] for s in self.species]
        symbols = [s if s in chemical_symbols[1:] else "X" for s in names]
        atoms = Atoms(symbols=symbols, positions=self.positions, cell=self.box,
                      pbc=self.periodic, masses=self.masses)
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
        out = {"name": self.name, "n_atoms": self.n_atoms, "species_names": self.species_names,
               "species_counts": np.bincount(self.species, minlength=self.n_species).tolist(),
               "box": self.box.tolist() if self.periodic else None, "density": self.density,
               "units": self.units,
               "potential": self.potential.to_dict() if self.potential else None}
        if self.model is not None:
            out["model"] = {**self.model.to_dict(), "run_id": self.model.run_id}
        if self.cg is not None:
            out["cg"] = self.cg.to_dict()
        if self.forcefield is not None or self.model is not None or self.cg is not None:
            if self.forcefield is not None:
                out["forcefield"] = self.forcefield.to_dict()
            out["n_bonds"] = 0 if self.bonds is None else int(len(self.bonds))
        return out
