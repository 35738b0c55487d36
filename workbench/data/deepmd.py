"""``load_deepmd``: read DeePMD-kit's ``npy`` data layout into a ``Dataset`` (ASE units).

The layout (DeePMD-kit's documentation, "Data format"; read the same way as dpdata's
``deepmd/npy`` format, ``dpdata.formats.deepmd.comp``, the reference reader)::

    system/
        type.raw            one integer type per atom (whitespace separated)
        type_map.raw        optional: the element symbol of each type, in type order
        nopbc               optional, empty: free boundaries (no box.npy needed)
        set.000/
            coord.npy       [n_frames, n_atoms * 3] positions, Å
            box.npy         [n_frames, 9] cell vectors as rows, Å (unless nopbc)
            energy.npy      [n_frames] or [n_frames, 1] potential energy, eV (optional)
            force.npy       [n_frames, n_atoms * 3] forces, eV/Å (optional)
        set.001/ ...

DeePMD files carry no unit declaration; the convention (Å, eV, eV/Å) is what DeePMD-kit and
dpdata use, so nothing is converted. Frames are read from every ``set.*`` in sorted name order,
as dpdata does. A *parent* folder holding several such systems (found below it at any depth,
sorted by path) loads as one dataset when they have the same atoms in the same order (same
species per atom and the same boundaries); systems of different compositions are refused,
because a ``Dataset`` is one molecular system.

Types are mapped to atomic numbers through ``type_map.raw``, or the ``type_map`` argument
when the file is absent (dpdata's order of precedence); names must be element symbols.
Cells must be orthorhombic (``workbench.data.cells``); triclinic cells are refused with a
message saying so. Other arrays in a set (``virial.npy``, ``fparam.npy`` ...) are not loaded
and are named in a ``LoaderWarning`` and in the provenance (``not_loaded``). A missing
``type.raw`` or ``coord.npy``, frame counts that disagree, arrays of the wrong size, a field
present in some sets and not others, or arrays stored as pickled objects raise ``ValueError``
naming the file. Files are opened with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.data.cells import cells_to_box
from workbench.data.dataset import Dataset

__all__ = ["deepmd_systems", "is_deepmd_system", "load_deepmd"]

_LOADED = {"coord.npy", "box.npy", "energy.npy", "force.npy"}


def is_deepmd_system(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` is a DeePMD system (holds ``type.raw``)."""
    return (Path(folder) / "type.raw").is_file()


def deepmd_systems(path: str | os.PathLike[str]) -> list[Path]:
    """The DeePMD system folders at ``path``: itself when it is one, else every folder below
    it holding a ``type.raw``, sorted. ``ValueError`` when there is none."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder (a DeePMD system is a folder with type.raw)")
    if is_deepmd_system(path):
        return [path]
    systems = sorted(p.parent for p in path.rglob("type.raw") if p.is_file())
    if not systems:
        raise ValueError(f"{path}: not a DeePMD system (no type.raw) and no system below it")
    return systems


def load_deepmd(path: str | os.PathLike[str], type_map: Sequence[str] | None = None
                ) -> Dataset:
    """Read a DeePMD system folder, or a folder of systems with the same atoms, as one
    ``Dataset`` (module docstring).

    Args:
        path: a system folder (with ``type.raw``) or a folder holding systems.
        type_map: element symbols of the types in order, used when a system has no
            ``type_map.raw``.

    Returns:
        The frames of every system, in path then set order: positions [n_frames, n_atoms, 3]
        Å, forces eV/Å and energies eV where every set has them, the box (Å) unless ``nopbc``.

    Raises:
        ValueError: a malformed folder, unknown type names, a triclinic cell, or systems with
            different atoms; the message names the file.
    """
    systems = deepmd_systems(path)
    parts, names, skipped = [], None, set()
    for folder in systems:
        part, part_names, not_loaded = _load_system(folder, type_map)
        if parts:
            first = parts[0]
            if (part.n_atoms != first.n_atoms or not np.array_equal(part.species, first.species)
                    or not np.array_equal(part.pbc, first.pbc)):
                raise ValueError(
                    f"{path}: systems {systems[0]} ({first.n_atoms} atoms, {_formula(first)}, "
                    f"{first.boundary}) and {folder} ({part.n_atoms} atoms, {_formula(part)}, "
                    f"{part.boundary}) differ; a dataset holds one system, load them separately")
            for field in ("forces", "energies"):
                if (getattr(part, field) is None) != (getattr(first, field) is None):
                    have = systems[0] if getattr(first, field) is not None else folder
                    raise ValueError(f"{path}: {have} has {field} and another system has not")
        parts.append(part)
        names = names or part_names
        skipped |= not_loaded
    dataset = parts[0] if len(parts) == 1 else Dataset.concatenate(parts)
    dataset.provenance = {
        "source": str(path), "format": "deepmd", "systems": [str(s) for s in systems],
        "type_map": names, "energy_unit_in_file": "eV", "length_unit_in_file": "Å",
        "energy_unit_source": "DeePMD convention", "length_unit_source": "DeePMD convention",
        **({"not_loaded": sorted(skipped)} if skipped else {})}
    if skipped:
        from workbench.data.loaders import LoaderWarning

        warnings.warn(f"{path}: not loaded: {', '.join(sorted(skipped))}", LoaderWarning,
                      stacklevel=2)
    return dataset


def _formula(ds: Dataset) -> str:
    symbols, counts = np.unique(np.asarray(ds.symbols), return_counts=True)
    return "".join(f"{s}{n}" for s, n in zip(symbols, counts, strict=True))


def _npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a plain numeric array ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None


def _types(folder: Path, type_map: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Atomic numbers per atom and the type names, from type.raw and type_map.raw."""
    from ase.data import atomic_numbers

    type_file = folder / "type.raw"
    try:
        raw = np.loadtxt(type_file, ndmin=1, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{type_file}: not a list of integer types ({exc})") from None
    if raw.size == 0 or raw.ndim != 1 or np.any(raw != np.round(raw)) or np.any(raw < 0):
        raise ValueError(f"{type_file}: must hold one non-negative integer type per atom")
    types = raw.astype(np.int64)
    map_file = folder / "type_map.raw"
    if map_file.is_file():
        names = map_file.read_text(encoding="utf-8").split()
        source = str(map_file)
    elif type_map is not None:
        names, source = [str(n) for n in type_map], "the type_map argument"
    else:
        raise ValueError(f"{folder}: no type_map.raw; pass type_map (the element symbol of "
                         f"each type, in order: types 0..{types.max()})")
    if types.max() >= len(names):
        raise ValueError(f"{type_file}: type {types.max()} has no name in {source} ({names})")
    unknown = sorted({n for n in names if atomic_numbers.get(n, 0) == 0})
    if unknown:
        raise ValueError(f"{source}: type names must be element symbols, got {unknown}")
    return np.array([atomic_numbers[names[t]] for t in types], dtype=np.int64), names


def _load_system(folder: Path, type_map: Sequence[str] | None
                 ) -> tuple[Dataset, list[str], set[str]]:
    species, names = _types(folder, type_map)
    n_atoms = species.size
    nopbc = (folder / "nopbc").exists()
    sets = sorted(p for p in folder.glob("set.*") if p.is_dir())
    if not sets:
        raise ValueError(f"{folder}: no set.* folders (frames live in set.000/coord.npy ...)")
    fields: dict[str, list[np.ndarray]] = {"coord": [], "box": [], "energy": [], "force": []}
    not_loaded: set[str] = set()
    for s in sets:
        if not (s / "coord.npy").is_file():
            raise ValueError(f"{s}: coord.npy is missing")
        coord = _per_frame(s / "coord.npy", n_atoms * 3, n_atoms)
        n = coord.shape[0]
        fields["coord"].append(coord.reshape(n, n_atoms, 3))
        if not nopbc:
            if not (s / "box.npy").is_file():
                raise ValueError(f"{s}: box.npy is missing (add an empty 'nopbc' file to "
                                 f"{folder} for free boundaries)")
            fields["box"].append(_per_frame(s / "box.npy", 9, n_atoms, n).reshape(n, 3, 3))
        for name, size in (("energy", 1), ("force", n_atoms * 3)):
            f = s / f"{name}.npy"
            if f.is_file():
                fields[name].append(_per_frame(f, size, n_atoms, n))
        not_loaded |= {p.name for p in s.glob("*.npy") if p.name not in _LOADED}
    for name in ("energy", "force"):
        if 0 < len(fields[name]) < len(sets):
            raise ValueError(f"{folder}: {name}.npy is in {len(fields[name])} of the "
                             f"{len(sets)} sets; it must be in all of them or none")
    positions = np.concatenate(fields["coord"]).astype(np.float64)
    n_frames = positions.shape[0]
    box, pbc = None, np.zeros(3, bool)
    if not nopbc:
        cells = np.concatenate(fields["box"]).astype(np.float64)
        try:
            box, pbc = cells_to_box(cells, np.ones(3, bool))
        except ValueError as exc:
            raise ValueError(f"{folder}: only orthorhombic cells are supported (a Dataset "
                             f"holds box side lengths along x, y, z); box.npy: {exc}") from None
    energies = (np.concatenate(fields["energy"]).reshape(n_frames).astype(np.float64)
                if fields["energy"] else None)
    forces = (np.concatenate(fields["force"]).reshape(n_frames, n_atoms, 3).astype(np.float64)
              if fields["force"] else None)
    try:
        ds = Dataset(positions=positions, species=species, forces=forces, energies=energies,
                     box=box, pbc=pbc, units="ase", provenance={"source": str(folder)})
    except ValueError as exc:
        raise ValueError(f"{folder}: {exc}") from None
    return ds, names, not_loaded


def _per_frame(path: Path, size: int, n_atoms: int, n_frames: int | None = None
               ) -> np.ndarray:
    """``[n_frames, size]`` from ``path`` (``[n_frames]`` accepted for size 1), checked."""
    arr = _npy(path)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and size == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != size:
        what = f"{n_atoms} atoms x 3" if size == n_atoms * 3 else str(size)
        raise ValueError(f"{path}: expected shape [n_frames, {size}] ({what} per frame, from "
                         f"type.raw), got {arr.shape}")
    if n_frames is not None and arr.shape[0] != n_frames:
        raise ValueError(f"{path}: {arr.shape[0]} frames, but coord.npy of the same set has "
                         f"{n_frames}")
    return arr

