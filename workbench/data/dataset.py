"""``Dataset``: frames of one molecular system (positions, and forces and energies where known),
with its species, masses, box, units and provenance, stored as one ``.npz`` file.

The file format (``md-workbench-dataset``, version 1)
-----------------------------------------------------

One NumPy ``.npz`` archive, read with ``allow_pickle=False`` (no object arrays anywhere):

============== ========================== ===============================================
key            shape, dtype               content
============== ========================== ===============================================
``positions``  [n_frames, n_atoms, 3] f8  positions (Å, or σ in LJ units)
``species``    [n_atoms] int              atomic numbers (ASE units), or type ids indexing
                                          ``species_names`` (LJ units)
``masses``     [n_atoms] f8               masses (amu, or m in LJ units)
``pbc``        [3] bool                   periodic directions
``forces``     [n_frames, n_atoms, 3] f8  optional; eV/Å (or ε/σ)
``energies``   [n_frames] f8              optional; potential energy, eV (or ε)
``box``        [3] or [n_frames, 3] f8    optional; orthorhombic box side lengths along
                                          x, y, z (> 0 along periodic axes; along a
                                          non-periodic axis any value, e.g. 0, which is
                                          not a period)
``metadata``   0-d unicode string         JSON: ``{"format": "md-workbench-dataset",
                                          "version": 1, "units": "ase" | "lj",
                                          "species_names": [...] | null,
                                          "provenance": {...}}``
============== ========================== ===============================================

Units are ``"ase"`` (Å, eV, amu, fs, as ``ase.units``) or ``"lj"`` (reduced Lennard-Jones units);
see ``workbench.units``. ``provenance`` is a JSON object saying where the frames come from: for
generated data the generator, engine and version, settings, seed and date; for loaded data the
source file and any unit conversion applied.

Boundaries: ``pbc`` is per Cartesian axis. All True is a periodic box, all False an isolated
system (the box, if any, is only informational), anything else a *slab* (two periodic axes, e.g.
a surface read from an extxyz with ``pbc="T T F"`` and a zero third cell vector) or a *wire*
(one periodic axis). Such datasets load, save, convert to ASE and print as they are; code that
needs a fully periodic box or an isolated system asks :meth:`Dataset.periodic_box`, which
refuses a slab or wire with a message saying so.

Files are written atomically (``workbench.io.atomic_save_npz``: a temporary file, then a rename),
so a reader never sees half a file. ``to_ase`` gives ``ase.Atoms`` with a
``SinglePointCalculator`` holding energy and forces, so ASE's writers (extxyz, ``.traj``) export
a dataset. The container and its checks are written here because ASE's trajectory formats hold
one ``Atoms`` per frame (slow and large for 10^5 frames) and keep neither the unit system nor the
provenance; array storage is plain NumPy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench import io

if TYPE_CHECKING:
    import ase

__all__ = ["FORMAT", "VERSION", "Dataset"]

FORMAT = "md-workbench-dataset"
VERSION = 1
UNITS = ("ase", "lj")
_ARRAY_KEYS = ("positions", "species", "masses", "pbc", "forces", "energies", "box")


def _float_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numbers, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} contains NaN or infinity (first at index {bad})")


@dataclass(eq=False)
class Dataset:
    """Frames of one system; see the module docstring for shapes and units.

    ``species`` are atomic numbers when ``units == "ase"`` and type ids into ``species_names``
    when ``units == "lj"``. ``masses`` default to ASE's standard atomic masses (ASE units) or 1
    (LJ units). ``pbc`` defaults to periodic in all directions when a box is given. The
    constructor validates everything and raises ``ValueError`` naming the problem.
    """

    positions: np.ndarray
    species: np.ndarray
    forces: np.ndarray | None = None
    energies: np.ndarray | None = None
    box: np.ndarray | None = None
    pbc: np.ndarray | None = None
    masses: np.ndarray | None = None
    units: str = "ase"
    species_names: list[str] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = _float_array("positions", self.positions)
        self.species = np.asarray(self.species)
        if self.forces is not None:
            self.forces = _float_array("forces", self.forces)
        if self.energies is not None:
            self.energies = _float_array("energies", self.energies)
        if self.box is not None:
            self.box = _float_array("box", self.box)
        if self.masses is not None:
            self.masses = _float_array("masses", self.masses)
        if self.species_names is not None:
            self.species_names = [str(s) for s in self.species_names]
        self.provenance = dict(self.provenance or {})
        self.validate()

    # --- checks ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError`` for wrong shapes, non-finite values, bad species or units."""
        if self.units not in UNITS:
            raise ValueError(f"units must be one of {UNITS} ('ase': Å, eV, amu, fs; 'lj': "
                             f"reduced), got {self.units!r}")
        pos = self.positions
        if pos.ndim != 3 or pos.shape[-1] != 3:
            raise ValueError(f"positions must have shape [n_frames, n_atoms, 3], got {pos.shape}")
        n_frames, n_atoms, _ = pos.shape
        if n_atoms == 0:
            raise ValueError("positions hold no atoms")
        _check_finite("positions", pos)
        self._check_species(n_atoms)
        if self.forces is not None:
            if self.forces.shape != pos.shape:
                raise ValueError(f"forces must have the shape of positions {pos.shape}, got "
                                 f"{self.forces.shape}")
            _check_finite("forces", self.forces)
        if self.energies is not None:
            if self.energies.shape != (n_frames,):
                raise ValueError(f"energies must have shape [n_frames] = [{n_frames}], got "
                                 f"{self.energies.shape}")
            _check_finite("energies", self.energies)
        if self.masses is None:
            self.masses = self._default_masses()
        if self.masses.shape != (n_atoms,):
            raise ValueError(f"masses must have shape [n_atoms] = [{n_atoms}], got "
                             f"{self.masses.shape}")
        _check_finite("masses", self.masses)
        if np.any(self.masses <= 0):
            raise ValueError("every mass must be > 0")
        self._check_box(n_frames)
        try:
            json.loads(io.json_dumps(self.provenance))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"provenance must be JSON-serialisable: {exc}") from None

    def _check_species(self, n_atoms: int) -> None:
        z = self.species
        if z.shape != (n_atoms,):
            raise ValueError(f"species must have shape [n_atoms] = [{n_atoms}], got {z.shape}")
        if z.dtype.kind not in "iu":
            if z.dtype.kind == "f" and np.all(z == np.round(z)):
                z = z.astype(np.int64)
            else:
                raise ValueError(f"species must be integers, got dtype {z.dtype}")
        self.species = z.astype(np.int64)
        if self.units == "ase":
            if z.min() < 1 or z.max() > 118:
                raise ValueError("species must be atomic numbers 1..118 in ASE units, got "
                                 f"values {z.min()}..{z.max()}")
        else:
            names = self.species_names
            if not names:
                raise ValueError("LJ-unit datasets need species_names (one per type id)")
            if z.min() < 0 or z.max() >= len(names):
                raise ValueError(f"species type ids must lie in [0, {len(names) - 1}] "
                                 f"(species_names {names}), got {z.min()}..{z.max()}")

    def _check_box(self, n_frames: int) -> None:
        pbc = np.asarray(self.box is not None if self.pbc is None else self.pbc, bool)
        if pbc.shape in ((), (1,)):
            pbc = np.repeat(pbc.reshape(()), 3)
        if pbc.shape != (3,):
            raise ValueError(f"pbc must be one bool or three (x, y, z), got shape {pbc.shape}")
        self.pbc = pbc
        if self.box is None:
            if pbc.any():
                raise ValueError(f"a periodic dataset (pbc {pbc.tolist()}) needs a box")
            return
        if self.box.shape not in ((3,), (n_frames, 3)):
            raise ValueError(f"box must have shape [3] or [n_frames, 3] = [{n_frames}, 3], got "
                             f"{self.box.shape} (only orthorhombic boxes are supported)")
        _check_finite("box", self.box)
        bad = self.box[..., pbc] <= 0
        if np.any(bad):
            shown = self.box if self.box.ndim == 1 else self.box[np.argwhere(bad)[0][0]]
            raise ValueError(f"box side lengths must be > 0 along the periodic axes (pbc "
                             f"{pbc.tolist()}), got {shown.tolist()}; along a non-periodic axis "
                             "any value is accepted")

    def _default_masses(self) -> np.ndarray:
        if self.units == "lj":
            return np.ones(self.n_atoms)
        from ase.data import atomic_masses

        return np.asarray(atomic_masses[self.species], dtype=np.float64)

    # --- size and selection -----------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def symbols(self) -> list[str]:
        """Chemical symbols (ASE units) or species names (LJ units), one per atom."""
        if self.units == "lj":
            return [self.species_names[i] for i in self.species]
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.species]

    @property
    def boundary(self) -> str:
        """``"periodic"`` (pbc all True), ``"isolated"`` (all False), ``"slab"`` (two periodic
        axes) or ``"wire"`` (one)."""
        n = int(np.count_nonzero(self.pbc))
        return ("isolated", "wire", "slab", "periodic")[n]

    def describe_boundary(self) -> str:
        """E.g. ``"slab: periodic along x, y; free along z"``."""
        if self.boundary in ("periodic", "isolated"):
            return self.boundary
        on = ", ".join(a for a, p in zip("xyz", self.pbc, strict=True) if p)
        off = ", ".join(a for a, p in zip("xyz", self.pbc, strict=True) if not p)
        return f"{self.boundary}: periodic along {on}; free along {off}"

    def periodic_box(self, purpose: str = "this") -> np.ndarray | None:
        """The box (``[3]`` or ``[n_frames, 3]``) of a fully periodic dataset, ``None`` for an
        isolated one; for code that supports only those two cases.

        Raises:
            ValueError: for a slab or wire (partly periodic), saying so and what is supported.
        """
        if self.boundary == "periodic":
            return self.box
        if self.boundary == "isolated":
            return None
        box = self.box if self.box.ndim == 1 else self.box[0]
        raise ValueError(
            f"{purpose} supports fully periodic boxes (pbc all True) and isolated systems (pbc "
            f"all False) only; this dataset is a {self.describe_boundary()} (pbc "
            f"{self.pbc.tolist()}, box {np.round(box, 6).tolist()}; the box value along a free "
            "axis is not a period)")

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Dataset:
        """Frames ``index`` as a new ``Dataset``: an int gives one frame (still a dataset of
        length 1), a slice, integer array or boolean mask gives those frames."""
        if isinstance(index, int | np.integer):
            n = self.n_frames
            if not -n <= index < n:
                raise IndexError(f"frame {index} out of range for {n} frames")
            index = slice(int(index) % n, int(index) % n + 1)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype.kind not in "iub":
                raise TypeError(f"frames are selected by int, slice, int array or bool mask, not "
                                f"{index.dtype}")
        return self.take(index)

    def take(self, index: slice | np.ndarray) -> Dataset:
        def pick(a):
            return None if a is None else a[index]

        box = self.box[index] if self.box is not None and self.box.ndim == 2 else self.box
        return replace(self, positions=self.positions[index], forces=pick(self.forces),
                       energies=pick(self.energies), box=box,
                       provenance=dict(self.provenance))

    def split(self, sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
              shuffle: bool = True) -> tuple[Dataset, ...]:
        """Disjoint subsets, e.g. train / validation / test: the frames of
        :meth:`split_indices` (same arguments)."""
        return tuple(self.take(idx) for idx in self.split_indices(sizes, seed, shuffle))

    def split_indices(self, sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                      shuffle: bool = True) -> tuple[np.ndarray, ...]:
        """Frame indices (sorted int64 arrays) of disjoint subsets, e.g. train / validation /
        test, to record with a training run.

        ``sizes`` are fractions (floats; if they sum to 1 the last subset takes the remainder
        so every frame is used) or frame counts (ints). Frames are drawn in a random order
        from ``numpy.random.default_rng(seed)``, or in time order with ``shuffle=False`` (a
        time split). The same seed gives the same split.
        """
        n = self.n_frames
        if not sizes:
            raise ValueError("split needs at least one size")
        if all(isinstance(s, int | np.integer) for s in sizes):
            counts = [int(s) for s in sizes]
        else:
            fractions = [float(s) for s in sizes]
            if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
                raise ValueError(f"split fractions must be >= 0 and sum to at most 1, got "
                                 f"{fractions}")
            counts = [int(np.floor(f * n)) for f in fractions]
            if abs(sum(fractions) - 1) < 1e-9:
                counts[-1] = n - sum(counts[:-1])
        if any(c < 0 for c in counts) or sum(counts) > n:
            raise ValueError(f"split sizes {counts} need {sum(counts)} frames; the dataset has "
                             f"{n}")
        order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
        bounds = np.cumsum([0, *counts])
        return tuple(np.sort(order[a:b]).astype(np.int64)
                     for a, b in zip(bounds[:-1], bounds[1:], strict=True))

    @classmethod
    def concatenate(cls, parts: Sequence[Dataset]) -> Dataset:
        """One dataset from several of the same system (frames in order)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.n_atoms != first.n_atoms or not np.array_equal(p.species, first.species)
                    or p.units != first.units or not np.array_equal(p.pbc, first.pbc)):
                raise ValueError("datasets to concatenate must share atoms, species, units and "
                                 "pbc")

        def cat(name):
            values = [getattr(p, name) for p in parts]
            if any(v is None for v in values):
                if any(v is not None for v in values):
                    raise ValueError(f"some datasets have {name} and some do not")
                return None
            return np.concatenate(values)

        box = first.box
        if box is not None and (box.ndim == 2 or any(
                p.box is None or not np.array_equal(p.box, box) for p in parts)):
            box = np.concatenate([np.broadcast_to(p.box, (p.n_frames, 3)) for p in parts])
        return replace(first, positions=cat("positions"), forces=cat("forces"),
                       energies=cat("energies"), box=box)

    # --- files ------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "units": self.units,
                "species_names": self.species_names, "provenance": self.provenance}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the dataset to ``path`` (one ``.npz``, compressed), atomically."""
        arrays = {k: getattr(self, k) for k in _ARRAY_KEYS if getattr(self, k) is not None}
        io.atomic_save_npz(path, metadata=np.array(io.json_dumps(self.metadata())), **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        """Read a file written by :meth:`save` (``allow_pickle=False``); ``ValueError`` naming
        the file if it is not one or fails validation."""
        data = io.load_npz(path)
        return cls.from_arrays(data, source=path)

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], source: Any = "<arrays>") -> Dataset:
        """A dataset from the arrays of a saved file (see :meth:`load`)."""
        if "metadata" not in data:
            raise ValueError(f"{source}: not an {FORMAT} file (no 'metadata' entry)")
        try:
            meta = json.loads(str(data["metadata"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: metadata is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{source}: metadata does not name the format {FORMAT!r}")
        if int(meta.get("version", 0)) > VERSION:
            raise ValueError(f"{source}: format version {meta['version']} is newer than this "
                             f"reader ({VERSION})")
        missing = [k for k in ("positions", "species") if k not in data]
        if missing:
            raise ValueError(f"{source}: missing arrays {missing}")
        try:
            return cls(**{k: data.get(k) for k in _ARRAY_KEYS}, units=meta.get("units", "ase"),
                       species_names=meta.get("species_names"),
                       provenance=meta.get("provenance") or {})
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    # --- ASE --------------------------------------------------------------------------------
    def to_ase(self) -> list[ase.Atoms]:
        """One ``ase.Atoms`` per frame, with a ``SinglePointCalculator`` holding the energy and
        forces where known. LJ-unit datasets become dummy atoms ``X`` with the names in the
        per-atom array ``species_name`` and ``info["units"] = "lj"``."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        lj = self.units == "lj"
        numbers = np.zeros(self.n_atoms, int) if lj else self.species
        images = []
        for i in range(self.n_frames):
            cell = None
            if self.box is not None:
                cell = np.diag(self.box[i] if self.box.ndim == 2 else self.box)
            atoms = Atoms(numbers=numbers, positions=self.positions[i], cell=cell,
                          pbc=self.pbc, masses=self.masses)
            if lj:
                atoms.set_array("species_name", np.array(self.symbols, dtype=str))
                atoms.info["units"] = "lj"
            results = {}
            if self.energies is not None:
                results["energy"] = float(self.energies[i])
            if self.forces is not None:
                results["forces"] = self.forces[i].copy()
            if results:
                atoms.calc = SinglePointCalculator(atoms, **results)
            images.append(atoms)
        return images

    def summary(self) -> str:
        """A few lines describing the dataset (for ``workbench data info``)."""
        from workbench.units import get_units

        u = get_units(self.units)
        counts: dict[str, int] = {}
        for s in self.symbols:
            counts[s] = counts.get(s, 0) + 1
        formula = " ".join(f"{s}{n}" for s, n in counts.items())
        lines = [f"{self.n_frames} frames x {self.n_atoms} atoms ({formula}), units "
                 f"{self.units!r} ({u.length}, {u.energy}, {u.mass})"]
        if self.energies is not None and self.n_frames:
            lines.append(f"energies: {self.energies.min():.6g} .. {self.energies.max():.6g} "
                         f"{u.energy}")
        if self.forces is not None and self.n_frames:
            rms = float(np.sqrt(np.mean(self.forces ** 2)))
            lines.append(f"forces: rms component {rms:.4g} {u.energy}/{u.length}")
        if self.box is not None:
            box = self.box if self.box.ndim == 1 else self.box[0]
            lines.append(f"box: {np.round(box, 4).tolist()} {u.length}"
                         + (" (per frame)" if self.box.ndim == 2 else "")
                         + f", pbc {self.pbc.tolist()} ({self.describe_boundary()})")
        else:
            lines.append("box: none (isolated)")
        lines += _provenance_lines(self.provenance)
        if self.provenance:
            lines.append("provenance: " + json.dumps(self.provenance, sort_keys=True,
                                                      ensure_ascii=False, default=str))
        return "\n".join(lines)


def _provenance_lines(prov: dict[str, Any]) -> list[str]:
    """Readable lines for what a loader recorded: units read, keys used, fields not loaded."""
    lines = []
    if "energy_unit_in_file" in prov or "length_unit_in_file" in prov:
        parts = []
        for kind in ("energy", "length"):
            unit = prov.get(f"{kind}_unit_in_file")
            if unit is not None:
                source = prov.get(f"{kind}_unit_source")
                parts.append(f"{kind} {unit}" + (f" ({source})" if source else ""))
        lines.append("units read: " + ", ".join(parts) + "; converted to eV, Å, eV/Å")
    keys = prov.get("keys")
    if keys:
        lines.append("fields read: " + ", ".join(f"{k} from {v!r}" for k, v in keys.items()))
    for kind, names in (prov.get("not_loaded") or {}).items():
        if names:
            lines.append(f"not loaded ({kind.replace('_', '-')} fields): " + ", ".join(names))
    return lines
