"""``load_dataset``: read public reference-data formats into a ``Dataset`` (ASE units).

Formats, chosen by ``format=`` or else by the file name and content:

- ``"workbench"``: this package's own ``.npz`` (``Dataset.save``), recognised by its
  ``metadata`` entry.
- ``"md17"``: MD17 / rMD17 ``.npz``. MD17 keys ``R`` (Å), ``F``, ``E`` (shape [n] or [n, 1]),
  ``z``; rMD17 keys ``coords``, ``forces``, ``energies``, ``nuclear_charges``. Both store
  energies in kcal/mol and forces in kcal/mol/Å; they are converted to eV and eV/Å with
  ``ase.units`` (``energy_unit=`` overrides the source unit) and the conversion is recorded in
  the provenance.
- ``"extxyz"`` (``.xyz``, ``.extxyz``) and ``"traj"`` (ASE ``.traj``): read with ``ase.io``;
  energies and forces come from each frame's calculator, else from ``info["energy"]`` and the
  ``forces`` per-atom array. Frames made by ``workbench.io.write_extxyz`` for an LJ system
  (dummy atoms ``X`` with a ``species_name`` array) load as an LJ-unit dataset.
- ``"xtc"``, ``"dcd"``: trajectories read with MDAnalysis beside a ``topology`` file (PDB, PSF,
  GRO, ...): positions (Å) and the box from the frame dimensions; no energies or forces.

A missing, malformed or inconsistent file (missing keys, frame counts that disagree, a
trajectory whose atom count differs from its topology, non-finite values, arrays stored as
pickled objects) raises ``ValueError`` naming the file and the problem. Nothing is ever
unpickled: ``.npz`` files are opened with ``allow_pickle=False``.

Parsing is left to ASE, MDAnalysis and NumPy; what is written here is the choice of reader,
the MD17 key variants and unit conversion, and the checks.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.dataset import Dataset

__all__ = ["ENERGY_UNITS", "FORMATS", "load_dataset"]

FORMATS = ("workbench", "md17", "extxyz", "traj", "xtc", "dcd")
_EXTENSIONS = {".xyz": "extxyz", ".extxyz": "extxyz", ".traj": "traj", ".xtc": "xtc",
               ".dcd": "dcd"}
_MD17_KEYS = {  # field: accepted keys, MD17 first, then rMD17
    "positions": ("R", "coords"),
    "forces": ("F", "forces"),
    "energies": ("E", "energies"),
    "species": ("z", "nuclear_charges"),
}


def _energy_units() -> dict[str, float]:
    from ase import units

    return {"eV": 1.0, "kcal/mol": units.kcal / units.mol, "kJ/mol": units.kJ / units.mol,
            "Hartree": units.Hartree, "meV": 1e-3}


ENERGY_UNITS = tuple(_energy_units())
"""Source energy units the MD17 loader converts from (forces: the same per Å)."""


def load_dataset(path: str | os.PathLike[str], *, topology: str | os.PathLike[str] | None = None,
                 format: str | None = None, energy_unit: str | None = None) -> Dataset:
    """Read ``path`` into a :class:`Dataset` (module docstring lists the formats).

    Args:
        path: the data file.
        topology: for XTC / DCD, the topology file (PDB, PSF, GRO) naming the atoms.
        format: one of ``FORMATS``; guessed from the extension and content when None.
        energy_unit: for MD17 files, the unit the file's energies are in (default
            ``"kcal/mol"``; forces are taken to be in the same unit per Å). One of
            ``ENERGY_UNITS``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot load dataset {path}: no such file")
    fmt = format or _guess_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"cannot load dataset {path}: unknown format {fmt!r}; known: "
                         f"{list(FORMATS)}")
    if energy_unit is not None and fmt != "md17":
        raise ValueError(f"{path}: energy_unit applies to MD17 files only (format {fmt!r} is "
                         "read in eV)")
    if fmt in ("xtc", "dcd"):
        return _load_mdanalysis(path, topology, fmt)
    if topology is not None:
        raise ValueError(f"{path}: a topology is only used with XTC / DCD trajectories")
    if fmt == "workbench":
        return Dataset.load(path)
    if fmt == "md17":
        return _load_md17(path, energy_unit or "kcal/mol")
    return _load_ase(path, fmt)


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


def _read_npz(path: Path, wanted: dict[str, tuple[str, ...]]) -> dict[str, np.ndarray]:
    """The first present key of each ``wanted`` field, read with ``allow_pickle=False``."""
    out = {}
    with _open_npz(path) as data:
        for field, keys in wanted.items():
            key = next((k for k in keys if k in data.files), None)
            if key is None:
                raise ValueError(f"{path}: no {field} array (looked for keys {list(keys)}; "
                                 f"the file has {sorted(data.files)})")
            try:
                out[field] = data[key]
            except ValueError as exc:  # object arrays: would need pickle
                raise ValueError(f"{path}: array {key!r} is stored as pickled Python objects, "
                                 f"which are not loaded ({exc})") from None
            except Exception as exc:  # a damaged member of the archive
                raise ValueError(f"{path}: cannot read array {key!r} ({exc})") from None
    return out


def _load_md17(path: Path, energy_unit: str) -> Dataset:
    factors = _energy_units()
    if energy_unit not in factors:
        raise ValueError(f"{path}: unknown energy unit {energy_unit!r}; use one of "
                         f"{list(factors)}")
    factor = factors[energy_unit]
    a = _read_npz(path, _MD17_KEYS)
    pos, forces, energies, z = a["positions"], a["forces"], a["energies"], a["species"]
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise ValueError(f"{path}: positions must have shape [n_frames, n_atoms, 3], got "
                         f"{pos.shape}")
    if energies.ndim == 2 and energies.shape[1] == 1:
        energies = energies[:, 0]
    if energies.ndim != 1:
        raise ValueError(f"{path}: energies must have shape [n] or [n, 1], got "
                         f"{a['energies'].shape}")
    counts = {"positions": len(pos), "forces": len(forces), "energies": len(energies)}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{path}: frame counts disagree: {counts}")
    z = np.asarray(z).reshape(-1)
    provenance = {"source": str(path), "format": "md17", "energy_unit_in_file": energy_unit,
                  "force_unit_in_file": f"{energy_unit}/Å",
                  "converted_to": {"energy": "eV", "forces": "eV/Å"},
                  "energy_factor_to_eV": factor}
    try:
        return Dataset(positions=pos.astype(np.float64), species=z,
                       forces=forces.astype(np.float64) * factor,
                       energies=energies.astype(np.float64) * factor, units="ase",
                       provenance=provenance)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _frame_results(atoms: Any) -> tuple[float | None, np.ndarray | None]:
    energy = forces = None
    calc = atoms.calc
    if calc is not None:
        results = getattr(calc, "results", {})
        energy = results.get("energy", results.get("free_energy"))
        forces = results.get("forces")
    if energy is None:
        energy = next((atoms.info[k] for k in ("energy", "Energy", "potential_energy")
                       if k in atoms.info), None)
    if forces is None:
        forces = next((atoms.arrays[k] for k in ("forces", "force") if k in atoms.arrays),
                      None)
    return energy, forces


def _load_ase(path: Path, fmt: str) -> Dataset:
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
    results = [_frame_results(a) for a in images]
    energies = [e for e, _ in results]
    forces = [f for _, f in results]
    for name, values in (("energies", energies), ("forces", forces)):
        have = sum(v is not None for v in values)
        if 0 < have < len(values):
            raise ValueError(f"{path}: {name} are given for {have} of {len(values)} frames")
    box, pbc = _ase_box(path, images)
    lj = bool(np.all(numbers == 0)) and "species_name" in first.arrays
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
    try:
        return Dataset(positions=np.stack([a.positions for a in images]), species=species,
                       forces=None if forces[0] is None else np.stack(forces),
                       energies=None if energies[0] is None else np.array(energies, float),
                       box=box, pbc=pbc, masses=masses, units="lj" if lj else "ase",
                       species_names=species_names,
                       provenance={"source": str(path), "format": fmt})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _ase_box(path: Path, images: list) -> tuple[np.ndarray | None, np.ndarray]:
    pbc = np.asarray(images[0].pbc, bool)
    cells = np.stack([np.asarray(a.cell) for a in images])
    if not np.any(cells) and not pbc.any():
        return None, pbc
    off_diagonal = cells - np.einsum("fij,ij->fij", cells, np.eye(3))
    if np.any(np.abs(off_diagonal) > 1e-8):
        raise ValueError(f"{path}: non-orthorhombic cells are not supported")
    lengths = np.einsum("fii->fi", cells)
    if not pbc.any() and np.any(lengths <= 0):
        return None, pbc
    return (lengths[0] if np.all(lengths == lengths[0]) else lengths), pbc


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
                boxes.append(None if ts.dimensions is None else np.array(ts.dimensions, float))
    except Exception as exc:
        raise ValueError(f"{path} with topology {topology}: {type(exc).__name__}: {exc}") from None
    if not positions:
        raise ValueError(f"{path}: no frames")
    species = _elements(u, path, topology)
    box = None
    if all(b is not None and np.all(b[:3] > 0) for b in boxes):
        dims = np.stack(boxes)
        if np.any(np.abs(dims[:, 3:] - 90.0) > 1e-3):
            raise ValueError(f"{path}: non-orthorhombic boxes are not supported")
        box = dims[0, :3] if np.all(dims[:, :3] == dims[0, :3]) else dims[:, :3]
    masses = u.atoms.masses if hasattr(u.atoms, "masses") else None
    if masses is not None and np.any(np.asarray(masses) <= 0):
        masses = None
    try:
        return Dataset(positions=np.stack(positions), species=species, box=box, masses=masses,
                       units="ase", provenance={"source": str(path), "format": fmt,
                                                "topology": str(topology)})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


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
