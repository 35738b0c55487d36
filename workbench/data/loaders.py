"""``load_dataset``: read public reference-data formats into a ``Dataset`` (ASE units).

Formats, chosen by ``format=`` or else by the file name and content:

- ``"workbench"``: this package's own ``.npz`` (``Dataset.save``), recognised by its
  ``metadata`` entry; it declares its own units and fields, so no option below applies.
- ``"md17"``: NumPy ``.npz`` datasets in the MD17 family. Keys: MD17 / sGDML ``R``, ``F``,
  ``E`` (shape [n] or [n, 1]), ``z`` (shape [n_atoms], or [n_frames, n_atoms] with equal rows,
  or element symbols); rMD17 ``coords``, ``forces``, ``energies``, ``nuclear_charges``;
  ``energy_key=`` / ``forces_key=`` name other arrays (e.g. rMD17's ``old_energies``).
  Units: sGDML files declare ``e_unit`` and ``r_unit`` (``energy_unit`` / ``length_unit`` are
  read too) and these are honoured; forces are in energy per length. A file that declares
  nothing is taken to be in the MD17 convention, kcal/mol and Å, with a ``LoaderWarning``
  saying so: MDsim's re-saved MD17 files, for one, are already in eV and need
  ``energy_unit="eV"``. A sGDML ``lattice`` (3x3, lattice vectors as columns, in ``r_unit``)
  makes the dataset periodic; it must be orthorhombic (``workbench.data.cells``).
- ``"extxyz"`` (``.xyz``, ``.extxyz``) and ``"traj"`` (ASE ``.traj``): read with ``ase.io``,
  in eV and Å (ASE's convention; ``energy_unit`` / ``e_unit`` and ``length_unit`` / ``r_unit``
  in a frame's info are honoured). Since ASE 3.23 the extxyz reader moves ``energy``,
  ``free_energy``, ``stress`` ... of the comment line and the ``forces`` column into a
  ``SinglePointCalculator``; both places are searched. Energies and forces are taken from the
  one field whose name is ``energy`` or ``forces`` with an optional prefix ``REF_``, ``DFT_``,
  ``ref_``, ``dft_``, ``QM_``, ``true_``, ``target_`` (any case; the ACE / MACE / janus-core
  training-set convention), or ``total_energy``, ``free_energy``, ``potential_energy``,
  ``Energy``, ``force`` (sGDML). Several different candidates are an error listing them;
  ``energy_key=`` / ``forces_key=`` choose a field by name. Numeric per-frame or per-atom
  fields that are not loaded (``MACE_energy``, ``stress``, ``old_forces`` ...) are named in a
  ``LoaderWarning`` and in the provenance (``not_loaded``); ASE's own bookkeeping arrays
  (numbers, positions, masses, momenta, tags, species names) are not. Frames made by
  ``workbench.io.write_extxyz`` for an LJ system (dummy atoms ``X`` with a ``species_name``
  array) load as an LJ-unit dataset.
- ``"deepmd"``: a DeePMD-kit ``npy`` system folder (``type.raw``, ``set.*/coord.npy`` ...) or
  a folder of such systems with the same atoms, read by ``workbench.data.deepmd`` (always Å, eV,
  eV/Å; ``type_map=`` names the types when there is no ``type_map.raw``). Chosen for any folder.
- ``"xtc"``, ``"dcd"``: trajectories read with MDAnalysis beside a ``topology`` file (PDB, PSF,
  GRO, ...): positions (Å) and the box from the frame dimensions; no energies or forces.

Units: ``energy_unit=`` and ``length_unit=`` (names in ``ENERGY_UNITS``, ``LENGTH_UNITS`` and
the spellings of ``workbench.data.file_units``: ``"kcal mol-1"``, ``"Ha"``, ``"bohr"`` ...)
say what a file is in; they override a unit the file declares, with a warning. Conversion
factors come from ``ase.units``. The provenance records the units read, where each came from
(declared, argument, assumed), the factors, and the keys used.

Cells: periodic directions need an orthorhombic cell, up to round-off (float32 files pass),
with its vectors along x, y and z in any order or sign; a slab (``pbc="T T F"``, third vector
zero) loads with free boundaries along its non-periodic axis (see ``workbench.data.cells``).

A missing, malformed or inconsistent file (missing keys, frame counts that disagree, a
trajectory whose atom count differs from its topology, non-finite values, arrays stored as
pickled objects, an unknown declared unit) raises ``ValueError`` naming the file and the
problem, with the shapes as stored. Nothing is ever unpickled: ``.npz`` files are opened with
``allow_pickle=False``.

Parsing is left to ASE, MDAnalysis and NumPy; what is written here is the choice of reader,
the key variants and unit conversion, and the checks.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data import file_units
from workbench.data.cells import cells_to_box, dimensions_to_cells
from workbench.data.dataset import Dataset
from workbench.data.file_units import ENERGY_UNITS, LENGTH_UNITS

__all__ = ["ENERGY_UNITS", "FORMATS", "LENGTH_UNITS", "LoaderWarning", "load_dataset"]

FORMATS = ("workbench", "md17", "extxyz", "traj", "xtc", "dcd", "deepmd")
_EXTENSIONS = {".xyz": "extxyz", ".extxyz": "extxyz", ".traj": "traj", ".xtc": "xtc",
               ".dcd": "dcd"}
_NPZ_KEYS = {  # field: accepted keys, MD17 / sGDML first, then rMD17
    "positions": ("R", "coords"),
    "forces": ("F", "forces"),
    "energies": ("E", "energies"),
    "species": ("z", "nuclear_charges"),
}
_UNIT_KEYS = {"energy": ("e_unit", "energy_unit"), "length": ("r_unit", "length_unit")}
_PREFIX = r"(?:(?:ref|dft|qm|reference|true|target|label)_)?"
_SUFFIX = r"(?:_(?:ref|dft|reference))?"
_CANDIDATE = {
    "energies": re.compile(rf"^{_PREFIX}(?:(?:total|free|potential)_)?energy{_SUFFIX}$", re.I),
    "forces": re.compile(rf"^{_PREFIX}(?:total_)?forces?{_SUFFIX}$", re.I),
}
_IGNORED_ARRAYS = {"numbers", "positions", "species", "species_name", "masses", "momenta",
                   "tags", "initial_charges", "initial_magmoms", "move_mask"}
_IGNORED_INFO = {"step", "time", "time_fs", "frame", "index", "uid"}
_PER_ATOM_RESULTS = {"forces", "energies", "charges", "magmoms", "stresses",
                     "born_effective_charges"}


class LoaderWarning(UserWarning):
    """A loader assumed something (units) or left numeric data in the file unread."""


def load_dataset(path: str | os.PathLike[str], *, topology: str | os.PathLike[str] | None = None,
                 format: str | None = None, energy_unit: str | None = None,
                 length_unit: str | None = None, energy_key: str | None = None,
                 forces_key: str | None = None,
                 type_map: Sequence[str] | None = None) -> Dataset:
    """Read ``path`` into a :class:`Dataset` in ASE units (module docstring lists the formats).

    Args:
        path: the data file, or a DeePMD folder.
        topology: for XTC / DCD, the topology file (PDB, PSF, GRO) naming the atoms.
        format: one of ``FORMATS``; guessed from the extension and content when None.
        energy_unit: the unit the file's energies are in (forces: the same per length unit),
            e.g. ``"kcal/mol"``, ``"eV"``, ``"Hartree"``. Default: what the file declares,
            else kcal/mol for ``.npz`` (MD17, with a warning) and eV for ASE formats.
        length_unit: the unit of positions (and cells), e.g. ``"Å"``, ``"bohr"``, ``"nm"``.
            Default: what the file declares, else Å.
        energy_key: the field (``.npz`` key, extxyz / ``.traj`` info or calculator key) to
            read energies from, instead of the recognised names.
        forces_key: the field (``.npz`` key, per-atom array or calculator key) for forces.
        type_map: DeePMD only: element symbols of the types, for systems without
            ``type_map.raw``.

    Returns:
        The dataset; its ``provenance`` records the source, units and keys used.

    Raises:
        ValueError: naming the file and the problem.
    """
    path = Path(path)
    if path.is_dir() and format in (None, "deepmd"):
        given = [k for k, v in {"topology": topology, "energy_unit": energy_unit,
                                "length_unit": length_unit, "energy_key": energy_key,
                                "forces_key": forces_key}.items() if v is not None]
        if given:
            raise ValueError(f"{path}: {', '.join(given)} do not apply to DeePMD data (always "
                             "Å, eV, eV/Å; fields named by file)")
        from workbench.data.deepmd import load_deepmd

        return load_deepmd(path, type_map=type_map)
    if not path.is_file():
        raise ValueError(f"cannot load dataset {path}: no such file"
                         + (" (a DeePMD folder is read with format='deepmd' or None)"
                            if path.is_dir() else ""))
    if type_map is not None:
        raise ValueError(f"{path}: type_map applies to DeePMD folders only")
    fmt = format or _guess_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"cannot load dataset {path}: unknown format {fmt!r}; known: "
                         f"{list(FORMATS)}")
    options = {"energy_unit": energy_unit, "length_unit": length_unit, "energy_key": energy_key,
               "forces_key": forces_key}
    given = [k for k, v in options.items() if v is not None]
    if fmt in ("xtc", "dcd"):
        if given:
            raise ValueError(f"{path}: {', '.join(given)} do not apply to {fmt.upper()} "
                             "trajectories (positions only, converted to Å by MDAnalysis)")
        return _load_mdanalysis(path, topology, fmt)
    if fmt == "deepmd":
        raise ValueError(f"{path}: a DeePMD dataset is a folder (with type.raw), not a file")
    if topology is not None:
        raise ValueError(f"{path}: a topology is only used with XTC / DCD trajectories")
    if fmt == "workbench":
        if given:
            raise ValueError(f"{path}: a workbench dataset declares its own units and fields; "
                             f"{', '.join(given)} do not apply")
        return Dataset.load(path)
    if fmt == "md17":
        return _load_npz(path, options)
    return _load_ase(path, fmt, options)


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix == ".npz":
        keys = set(_npz_keys(path))
        if "metadata" in keys:
            return "workbench"
        if any(k in keys for k in ("R", "coords")):
            return "md17"
        raise ValueError(f"{path}: an .npz that is neither a workbench dataset (no 'metadata') "
                         f"nor MD17/rMD17 (no 'R' or 'coords'); its keys are {sorted(keys)}")
    raise ValueError(f"cannot tell the format of {path} from its name; pass format= (one of "
                     f"{list(FORMATS)})")


# --- units --------------------------------------------------------------------------------------
def _unit_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0].item() if value.size else ""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace")
    return str(value)


def _resolve_units(path: Path, declared: dict[str, tuple[str, Any]], options: dict[str, Any],
                   assumed: dict[str, str], convention: str,
                   warn_assumed: bool) -> tuple[float, float, dict[str, Any]]:
    """Energy and length factors to eV and Å, and the provenance entries saying where the
    units came from: an argument (which wins over a declaration, with a warning), the file's
    declaration, or the format's ``convention`` (``assumed``: kind -> unit)."""
    parse = {"energy": file_units.energy_unit, "length": file_units.length_unit}
    declared = {kind: (key, _unit_text(value)) for kind, (key, value) in declared.items()}
    prov: dict[str, Any] = {}
    factors: dict[str, float] = {}
    guessed = []
    for kind in ("energy", "length"):
        argument, stated = options[f"{kind}_unit"], declared.get(kind)
        if argument is not None:
            try:
                name, factor = parse[kind](argument)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            source = f"argument {kind}_unit"
            if stated is not None:
                key, value = stated
                try:
                    stated_name = parse[kind](value)[0]
                except ValueError:
                    stated_name = None
                if stated_name != name:
                    warnings.warn(f"{path}: the file declares {key}={value!r}, but "
                                  f"{kind}_unit={argument!r} was passed; reading {name} (the "
                                  "argument wins)", LoaderWarning, stacklevel=4)
                    source += f", overriding {key}={value!r} in the file"
        elif stated is not None:
            key, value = stated
            try:
                name, factor = parse[kind](value)
            except ValueError as exc:
                raise ValueError(f"{path}: the file declares {key}={value!r}: {exc}; "
                                 f"pass {kind}_unit= to say what it is") from None
            source = f"declared in the file as {key}"
        else:
            name, factor = parse[kind](assumed[kind])
            source = f"assumed: {convention}"
            guessed.append(kind)
        prov[f"{kind}_unit_in_file"] = name
        prov[f"{kind}_unit_source"] = source
        factors[kind] = factor
    if guessed and warn_assumed:
        what = {"energy": f"energies in {prov['energy_unit_in_file']} (forces in "
                          f"{prov['energy_unit_in_file']}/{prov['length_unit_in_file']})",
                "length": f"positions in {prov['length_unit_in_file']}"}
        keys = " / ".join(_UNIT_KEYS[k][0] for k in guessed)
        warnings.warn(
            f"{path}: the file declares no {keys}; assumed {' and '.join(what[k] for k in guessed)}"
            f", {convention}. If that is wrong pass "
            f"{' and '.join(f'{k}_unit=' for k in guessed)} to load_dataset (workbench data info "
            f"{' '.join(f'--{k}-unit' for k in guessed)}); MDsim's re-saved MD17 files, for one, "
            "are already in eV (energy_unit='eV')", LoaderWarning, stacklevel=4)
    energy, length = factors["energy"], factors["length"]
    prov["force_unit_in_file"] = f"{prov['energy_unit_in_file']}/{prov['length_unit_in_file']}"
    prov["converted_to"] = {"energy": "eV", "forces": "eV/Å", "positions": "Å"}
    prov["energy_factor_to_eV"] = energy
    prov["length_factor_to_angstrom"] = length
    return energy, length, prov


# --- NumPy .npz (MD17, rMD17, sGDML) -------------------------------------------------------------
def _open_npz(path: Path) -> Any:
    """``np.load(path, allow_pickle=False)`` as an ``NpzFile``, or ``ValueError`` naming the
    file (a pickled ``.npy``, a single array, not a zip archive)."""
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file without pickle ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive")
    return data


def _npz_keys(path: Path) -> list[str]:
    with _open_npz(path) as data:
        return list(data.files)


def _npz_array(path: Path, data: Any, key: str) -> np.ndarray:
    try:
        return data[key]
    except ValueError as exc:  # object arrays: would need pickle
        raise ValueError(f"{path}: array {key!r} is stored as pickled Python objects, which are "
                         f"not loaded ({exc})") from None
    except Exception as exc:  # a damaged member of the archive
        raise ValueError(f"{path}: cannot read array {key!r} ({exc})") from None


def _npz_header(data: Any, key: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype of an archive member without reading its data (None if unreadable)."""
    try:
        with data.zip.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                return None
            shape, _, dtype = read(fh)
            return shape, dtype
    except Exception:
        return None


def _load_npz(path: Path, options: dict[str, Any]) -> Dataset:
    keys: dict[str, str] = {}
    with _open_npz(path) as data:
        files = list(data.files)
        chosen = {"energies": ("energy_key", options["energy_key"]),
                  "forces": ("forces_key", options["forces_key"])}
        arrays = {}
        for field, names in _NPZ_KEYS.items():
            option, given = chosen.get(field, (None, None))
            names = (given,) if given is not None else names
            key = next((k for k in names if k in files), None)
            if key is None:
                how = f"{option}={given!r}" if given is not None else f"keys {list(names)}"
                raise ValueError(f"{path}: no {field} array (looked for {how}; the file has "
                                 f"{sorted(files)})")
            keys[field] = key
            arrays[field] = _npz_array(path, data, key)
        declared = {}
        for kind, names in _UNIT_KEYS.items():
            key = next((k for k in names if k in files), None)
            if key is not None:
                declared[kind] = (key, _npz_array(path, data, key))
        lattice = _npz_array(path, data, "lattice") if "lattice" in files else None
        used = set(keys.values()) | {k for k, _ in declared.values()} | {"lattice"}
        shapes = {k: v.shape for k, v in arrays.items()}
        headers = {k: _npz_header(data, k) for k in files if k not in used}
    energy, length, prov = _resolve_units(
        path, declared, options, {"energy": "kcal/mol", "length": "Å"},
        "the MD17 convention", warn_assumed=True)
    shown = ", ".join(f"{keys[f]} {shapes[f]}" for f in _NPZ_KEYS)
    pos, forces, energies = arrays["positions"], arrays["forces"], arrays["energies"]
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise ValueError(f"{path}: positions must have shape [n_frames, n_atoms, 3], got "
                         f"{pos.shape} (arrays in the file: {shown})")
    n_frames, n_atoms = pos.shape[:2]
    if energies.ndim == 2 and energies.shape[1] == 1:
        energies = energies[:, 0]
    if energies.ndim != 1:
        raise ValueError(f"{path}: energies must have shape [n] or [n, 1], got "
                         f"{shapes['energies']} (arrays in the file: {shown})")
    counts = {"positions": len(pos), "forces": len(forces), "energies": len(energies)}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{path}: frame counts disagree: {counts} (arrays in the file: {shown})")
    species, note = _npz_species(path, arrays["species"], keys["species"], n_atoms, shown)
    if note:
        prov["species_stored"] = note
    box = pbc = None
    if lattice is not None:
        cells = np.swapaxes(np.asarray(lattice, np.float64), -1, -2) * length
        try:
            box, pbc = cells_to_box(cells, np.ones(3, bool))
        except ValueError as exc:
            raise ValueError(f"{path}: lattice {np.shape(lattice)} (sGDML: vectors as columns, "
                             f"converted to Å): {exc}") from None
        prov["lattice"] = "sGDML lattice, vectors as columns"
    not_loaded = _npz_not_loaded(headers, n_frames, n_atoms)
    provenance = {"source": str(path), "format": "md17", "keys": keys, **prov}
    if not_loaded["per_frame"] or not_loaded["per_atom"]:
        provenance["not_loaded"] = not_loaded
        _warn_not_loaded(path, not_loaded)
    try:
        return Dataset(positions=pos.astype(np.float64) * length, species=species,
                       forces=forces.astype(np.float64) * (energy / length),
                       energies=energies.astype(np.float64) * energy, box=box, pbc=pbc,
                       units="ase", provenance=provenance)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc} (arrays in the file: {shown})") from None


def _npz_species(path: Path, z: np.ndarray, key: str, n_atoms: int,
                 shown: str) -> tuple[np.ndarray, str | None]:
    """Atomic numbers ``[n_atoms]`` from ``z`` as stored: ``[n_atoms]``, ``[n_frames, n_atoms]``
    with equal rows, ``[n_atoms, 1]``, or element symbols."""
    z = np.asarray(z)
    note = None
    if z.dtype.kind in "US":
        from ase.data import atomic_numbers

        symbols = [s.decode() if isinstance(s, bytes) else str(s) for s in z.reshape(-1)]
        unknown = sorted({s for s in symbols if s.strip().capitalize() not in atomic_numbers})
        if unknown:
            raise ValueError(f"{path}: species {key!r} hold unknown element symbols {unknown}")
        z = np.array([atomic_numbers[s.strip().capitalize()] for s in symbols]).reshape(z.shape)
        note = "element symbols"
    if z.ndim == 2 and z.shape == (n_atoms, 1) and n_atoms != 1:
        return z[:, 0], note
    if z.ndim == 2 and z.shape[1] == n_atoms:
        differ = np.flatnonzero(np.any(z != z[0], axis=1))
        if differ.size:
            raise ValueError(f"{path}: species {key!r} are stored per frame (shape {z.shape}) and "
                             f"differ between frame 0 and frame {differ[0]}; a dataset holds one "
                             f"system (arrays in the file: {shown})")
        return z[0], f"per frame, shape {list(z.shape)}, all rows equal"
    return z, note


def _npz_not_loaded(headers: dict[str, Any], n_frames: int, n_atoms: int) -> dict[str, list]:
    out: dict[str, list] = {"per_frame": [], "per_atom": []}
    for key, header in headers.items():
        if header is None:
            continue
        shape, dtype = header
        if dtype.kind not in "fiuc" or not shape:
            continue
        if shape[0] == n_frames:
            out["per_frame"].append(key)
        elif shape[0] == n_atoms:
            out["per_atom"].append(key)
    return out


def _warn_not_loaded(path: Path, not_loaded: dict[str, list]) -> None:
    for names in not_loaded.values():
        names.sort(key=str.lower)
    parts = [f"{kind.replace('_', '-')} {', '.join(names)}"
             for kind, names in not_loaded.items() if names]
    warnings.warn(f"{path}: numeric fields not loaded: {'; '.join(parts)}. A dataset keeps "
                  "positions, energies and forces; to read one of these as the energy or forces "
                  "pass energy_key= / forces_key= (workbench data info --energy-key / "
                  "--forces-key)", LoaderWarning, stacklevel=4)


# --- ASE formats (extxyz, .traj) -----------------------------------------------------------------
def _field(atoms: Any, source: str) -> dict[str, Any]:
    if source == "calculator":
        return dict(getattr(atoms.calc, "results", {}) or {}) if atoms.calc is not None else {}
    return atoms.info if source == "info" else atoms.arrays


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool | np.bool_ | str | bytes):
        return False
    try:
        arr = np.asarray(value)
    except Exception:
        return False
    return arr.dtype.kind in "fiuc" and arr.size > 0


def _fits(field: str, value: Any, n_atoms: int) -> bool:
    if not _is_numeric(value):
        return False
    return np.ndim(value) == 0 if field == "energies" else np.shape(value) == (n_atoms, 3)


def _pick(path: Path, images: list, field: str, key: str | None) -> tuple[list | None, str | None,
                                                                          set]:
    """Per-frame values of the energy or forces field, its name, and the (source, name) of
    fields used or found equal to it. ``key`` names the field; else the one recognised
    candidate (identical duplicates allowed), else None."""
    n_atoms = len(images[0])
    sources = ("calculator", "info" if field == "energies" else "arrays")
    found: list[tuple[str, str]] = []
    for atoms in images:
        for source in sources:
            for name, value in _field(atoms, source).items():
                match = name == key if key is not None else _CANDIDATE[field].match(name)
                if match and (source, name) not in found and _fits(field, value, n_atoms):
                    found.append((source, name))
    if key is not None and not found:
        option = "energy_key" if field == "energies" else "forces_key"
        present = sorted({n for a in images for s in sources for n in _field(a, s)})
        what = "per-frame number" if field == "energies" else "per-atom [n_atoms, 3] array"
        raise ValueError(f"{path}: no {what} named {key!r} ({option}); the fields where "
                         f"{field} are looked for ({', '.join(sources)}): {present}")
    if not found:
        return None, None, set()

    def values(candidate):
        return [_field(a, candidate[0]).get(candidate[1]) for a in images]

    columns = {c: values(c) for c in found}
    first = found[0]
    same = {c for c in found if all(
        (x is None and y is None)
        or (x is not None and y is not None and np.array_equal(x, y, equal_nan=True))
        for x, y in zip(columns[first], columns[c], strict=True))}
    if len(same) < len(found):
        labels = [_label(c, found) for c in found]
        if field == "energies":
            labels = [f"{lab} (frame 0: {columns[c][0]})" for lab, c in zip(labels, found,
                                                                          strict=True)]
        option = "energy_key" if field == "energies" else "forces_key"
        raise ValueError(f"{path}: several different fields could be the {field}: "
                         f"{', '.join(labels)}; pass "
                         f"{option}= (workbench data info --{option.replace('_', '-')}) to choose "
                         "one")
    chosen = columns[first]
    have = sum(v is not None for v in chosen)
    if have < len(images):
        raise ValueError(f"{path}: {field} are given for {have} of {len(images)} frames (field "
                         f"{_label(first, found)!r})")
    return chosen, _label(first, found), same


def _label(candidate: tuple[str, str], found: list[tuple[str, str]]) -> str:
    source, name = candidate
    if sum(n == name for _, n in found) > 1:
        return f"{name} ({source})"
    return name


def _ase_not_loaded(images: list, used: set) -> dict[str, list]:
    n_atoms = len(images[0])
    out: dict[str, list] = {"per_frame": [], "per_atom": []}
    for atoms in images:
        for source in ("calculator", "info", "arrays"):
            for name, value in _field(atoms, source).items():
                if (source, name) in used or not _is_numeric(value):
                    continue
                if (source == "arrays" and name in _IGNORED_ARRAYS) or (
                        source == "info" and name in _IGNORED_INFO):
                    continue
                per_atom = source == "arrays" or (
                    source == "calculator" and name in _PER_ATOM_RESULTS
                    and np.shape(value)[:1] == (n_atoms,))
                kind = "per_atom" if per_atom else "per_frame"
                if name not in out[kind]:
                    out[kind].append(name)
    return out


def _declared_ase_units(path: Path, images: list) -> dict[str, tuple[str, Any]]:
    declared = {}
    for kind, names in _UNIT_KEYS.items():
        key = next((k for k in names if k in images[0].info), None)
        if key is None:
            continue
        values = {_unit_text(a.info.get(key)) for a in images}
        if len(values) > 1:
            raise ValueError(f"{path}: frames declare different {key}: {sorted(values)}")
        declared[kind] = (key, images[0].info[key])
    return declared


def _load_ase(path: Path, fmt: str, options: dict[str, Any]) -> Dataset:
    import ase.io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc})") from None
    if not images:
        raise ValueError(f"{path}: no frames")
    first = images[0]
    numbers = first.numbers
    for i, atoms in enumerate(images):
        if len(atoms) != len(first) or not np.array_equal(atoms.numbers, numbers):
            raise ValueError(f"{path}: frame {i} has different atoms ({len(atoms)}) than frame 0 "
                             f"({len(first)}); a dataset holds one system")
        if not np.array_equal(atoms.pbc, first.pbc):
            raise ValueError(f"{path}: frame {i} has pbc {atoms.pbc.tolist()}, frame 0 "
                             f"{first.pbc.tolist()}; a dataset has one set of boundaries")
    energies, e_label, e_used = _pick(path, images, "energies", options["energy_key"])
    forces, f_label, f_used = _pick(path, images, "forces", options["forces_key"])
    lj = bool(np.all(numbers == 0)) and "species_name" in first.arrays
    declared = _declared_ase_units(path, images)
    if lj:
        if declared or options["energy_unit"] or options["length_unit"]:
            raise ValueError(f"{path}: a workbench LJ trajectory is in reduced units; "
                             "energy_unit / length_unit do not apply")
        energy = length = 1.0
        prov: dict[str, Any] = {}
    else:
        energy, length, prov = _resolve_units(
            path, declared, options, {"energy": "eV", "length": "Å"},
            "the ASE convention", warn_assumed=False)
    try:
        box, pbc = cells_to_box(np.stack([np.asarray(a.cell) for a in images]) * length,
                                first.pbc, unit="σ" if lj else "Å")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    species_names = None
    species = numbers
    if lj:
        names = [str(s) for s in first.arrays["species_name"]]
        species_names = list(dict.fromkeys(names))
        species = np.array([species_names.index(s) for s in names])
    elif np.any(numbers == 0):
        raise ValueError(f"{path}: dummy atoms (X) without a species_name array; ASE-unit "
                         "datasets need atomic numbers")
    masses = None if lj else first.get_masses()
    used = e_used | f_used | {("info", k) for k, _ in declared.values()}
    keys = {k: v for k, v in (("energies", e_label), ("forces", f_label)) if v is not None}
    provenance: dict[str, Any] = {"source": str(path), "format": fmt, **prov}
    if keys:
        provenance["keys"] = keys
    not_loaded = _ase_not_loaded(images, used)
    if not_loaded["per_frame"] or not_loaded["per_atom"]:
        provenance["not_loaded"] = not_loaded
        _warn_not_loaded(path, not_loaded)
    try:
        return Dataset(positions=np.stack([a.positions for a in images]) * length,
                       species=species,
                       forces=None if forces is None else np.stack(forces) * (energy / length),
                       energies=None if energies is None else np.array(energies, float) * energy,
                       box=box, pbc=pbc, masses=masses, units="lj" if lj else "ase",
                       species_names=species_names, provenance=provenance)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# --- MDAnalysis (XTC, DCD) -----------------------------------------------------------------------
def _load_mdanalysis(path: Path, topology: Any, fmt: str) -> Dataset:
    if topology is None:
        raise ValueError(f"{path}: {fmt.upper()} files hold coordinates only; pass topology= "
                         "(a PDB, PSF or GRO file naming the atoms)")
    topology = Path(topology)
    if not topology.is_file():
        raise ValueError(f"{path}: topology {topology} does not exist")
    import MDAnalysis as mda

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = mda.Universe(str(topology), str(path), format=fmt.upper())
            positions, boxes = [], []
            for ts in u.trajectory:
                positions.append(u.atoms.positions.astype(np.float64))
                dims = ts.dimensions
                boxes.append(np.zeros(6) if dims is None else np.array(dims, np.float64))
    except Exception as exc:
        raise ValueError(f"{path} with topology {topology}: {type(exc).__name__}: {exc}") from None
    if not positions:
        raise ValueError(f"{path}: no frames")
    species = _elements(u, path, topology)
    box, pbc = _mdanalysis_box(path, np.stack(boxes))
    masses = u.atoms.masses if hasattr(u.atoms, "masses") else None
    if masses is not None and np.any(np.asarray(masses) <= 0):
        masses = None
    try:
        return Dataset(positions=np.stack(positions), species=species, box=box, pbc=pbc,
                       masses=masses, units="ase",
                       provenance={"source": str(path), "format": fmt,
                                   "topology": str(topology)})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _mdanalysis_box(path: Path, dims: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Box and pbc from ``[n_frames, 6]`` dimensions; a side of 0 is a free axis."""
    if not np.all(np.isfinite(dims)):
        raise ValueError(f"{path}: box dimensions contain NaN or infinity")
    has_box = np.any(dims[:, :3] > 0, axis=1)
    if not has_box.any():
        return None, np.zeros(3, bool)
    periodic = dims[:, :3] > 0
    if not np.all(periodic == periodic[0]):
        f = int(np.flatnonzero(np.any(periodic != periodic[0], axis=1))[0])
        def shown(d):
            return "no box" if not np.any(d[:3]) else f"box dimensions {d.tolist()}"

        raise ValueError(f"{path}: frame {f} has {shown(dims[f])}, frame 0 {shown(dims[0])}; a "
                         "box must be given (or absent) along the same axes in every frame")
    try:
        return cells_to_box(dimensions_to_cells(dims), periodic[0])
    except ValueError as exc:
        shown = (f"= {dims[0].tolist()}" if np.all(dims == dims[0])
                 else f"per frame, frame 0 = {dims[0].tolist()}")
        raise ValueError(f"{path}: box dimensions [a, b, c, alpha, beta, gamma] {shown}: "
                         f"{exc}") from None


def _elements(u: Any, path: Path, topology: Path) -> np.ndarray:
    """Atomic numbers from the topology's elements (guessed by MDAnalysis if absent)."""
    from ase.data import atomic_numbers

    try:
        elements = u.atoms.elements
    except Exception:  # no elements attribute (PSF, GRO): let MDAnalysis guess them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u.guess_TopologyAttrs(to_guess=["elements"])
        elements = u.atoms.elements
    z = []
    for i, e in enumerate(elements):
        symbol = str(e).strip().capitalize()
        if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
            raise ValueError(f"{path}: atom {i} of topology {topology} has no known element "
                             f"({e!r})")
        z.append(atomic_numbers[symbol])
    return np.array(z)
