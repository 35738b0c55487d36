"""Safe file input and output for run folders and user data.

Every write is atomic: the content goes to a temporary file in the destination folder, is flushed
and fsync'ed, and is then moved over the destination with ``os.replace``, so a reader sees either
the old file or the new one, never half of one. Arrays are stored in ``.npz`` and always loaded
with ``allow_pickle=False``; trajectories are extended XYZ written and read through ASE
(``ase.io``), which ASE, OVITO, VMD and MDAnalysis all read.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import ase

__all__ = [
    "atomic_open",
    "atomic_save_npz",
    "atomic_write_json",
    "atomic_write_text",
    "json_dumps",
    "load_npz",
    "load_saved_part",
    "read_json",
    "read_trajectory",
    "write_extxyz",
    "write_thermo_csv",
]

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    # Read once at import (os.umask has no read-only form and is not thread-safe to toggle).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    ``mode`` is ``"w"`` (text) or ``"wb"`` (binary). If the block raises, the temporary file is
    removed and ``path`` is left as it was. The parent folder is created if missing.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        kwargs = {"encoding": encoding, "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if hasattr(obj, "__array__"):  # numpy and JAX arrays
        return np.asarray(obj).tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def json_dumps(obj: Any) -> str:
    """JSON text for ``obj`` (sorted keys, indent 2); numpy/JAX scalars and arrays become
    numbers and lists, paths become strings. NaN and infinity are written as ``NaN`` /
    ``Infinity``, which Python's ``json`` reads back."""
    return json.dumps(obj, default=_json_default, sort_keys=True, indent=2)


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON (see :func:`json_dumps`) to ``path`` atomically."""
    atomic_write_text(path, json_dumps(obj) + "\n")


def read_json(path: PathLike) -> Any:
    """Read a JSON file; raise ``ValueError`` naming the file if it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read JSON file {path}: {exc}") from exc


def atomic_save_npz(path: PathLike, **arrays: ArrayLike) -> None:
    """Save ``arrays`` with ``np.savez_compressed`` to exactly ``path`` (no ``.npz`` appended),
    atomically. Object arrays are refused, since they could only be read back with pickle."""
    packed = {}
    for key, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise ValueError(f"array {key!r} has dtype object; it cannot be saved without pickle")
        packed[key] = arr
    with atomic_open(path, "wb") as fh:
        # A file object, not a name, so numpy does not append ".npz".
        np.savez_compressed(fh, **packed)


def load_npz(path: PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file into memory, with ``allow_pickle=False``.

    Raises ``ValueError`` naming the file if it is missing, corrupt, not an ``.npz`` archive, or
    holds pickled (object) data.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot load arrays from {path}: no such file")
    try:
        # Open the file here so it is closed even when numpy fails part-way.
        with open(path, "rb") as fh:
            data = np.load(fh, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                with data:
                    return {key: data[key] for key in data.files}
    except ValueError as exc:  # pickled content, object arrays
        raise ValueError(f"cannot load arrays from {path}: {exc}") from exc
    except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, zlib.error, ...
        raise ValueError(
            f"cannot load arrays from {path}: not a readable .npz file ({exc})"
        ) from exc
    raise ValueError(f"cannot load arrays from {path}: a single .npy array, not an .npz archive")


def load_saved_part(path: PathLike) -> dict[str, np.ndarray] | None:
    """``load_npz(path)``, or None when the file is missing or unreadable: a part of resumable
    work that is redone rather than trusted."""
    try:
        return load_npz(path)
    except ValueError:
        return None


def _np_info(value: Any) -> Any:
    """Plain Python values for an extxyz comment line."""
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__array__") and not isinstance(value, np.ndarray):
        return np.asarray(value)
    return value


def write_extxyz(
    path: PathLike,
    frames: ArrayLike,
    symbols: Sequence[str],
    cell: ArrayLike | None,
    pbc: bool | Sequence[bool] = True,
    info_per_frame: Sequence[Mapping[str, Any]] | None = None,
    velocities: ArrayLike | None = None,
) -> None:
    """Write a trajectory as extended XYZ through ASE, atomically.

    Args:
        path: destination file.
        frames: positions, ``[n_frames, n_atoms, 3]`` (or ``[n_atoms, 3]`` for one frame), in
            the system's length unit (Å for ASE-unit systems, σ for reduced LJ), written as is.
        symbols: ``[n_atoms]`` chemical symbols, or species names. If any name is not a
            chemical symbol (``"A"``, ``"CG1"``), every atom is written as the dummy element
            ``X`` and the names go into a per-atom string column ``species_name``.
        cell: box in the same length unit: box lengths ``[3]``, cell vectors as rows
            ``[3, 3]``, or one of those per frame (``[n_frames, 3]``, ``[n_frames, 3, 3]``);
            ``None`` for no cell (then ``pbc`` is False).
        pbc: periodic directions, one bool or three.
        info_per_frame: one dict per frame written to the comment line (e.g. ``step``,
            ``time_fs``, ``temperature_K``). ASE reads the keys ``energy``, ``free_energy``,
            ``stress``... back into ``atoms.calc`` rather than ``atoms.info``.
        velocities: ``[n_frames, n_atoms, 3]`` in ASE velocity units (Å per ASE time unit;
            Å/fs divided by ``ase.units.fs``), stored through ``Atoms.set_velocities`` (as a
            ``momenta`` column with ASE's element masses); ``Atoms.get_velocities()`` on the
            frames read back returns them.
    """
    import ase
    import ase.io
    from ase.data import chemical_symbols

    pos = np.asarray(frames, dtype=float)
    if pos.ndim == 2:
        pos = pos[None]
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise ValueError(f"frames must be [n_frames, n_atoms, 3], got shape {pos.shape}")
    n_frames, n_atoms, _ = pos.shape

    names = [str(s) for s in symbols]
    if len(names) != n_atoms:
        raise ValueError(f"{len(names)} symbols for {n_atoms} atoms")
    known = set(chemical_symbols[1:])
    dummy = not all(name in known for name in names)
    atom_symbols = ["X"] * n_atoms if dummy else names

    if cell is None:
        cells = [np.zeros((3, 3))] * n_frames
        pbc = False
    else:
        c = np.asarray(cell, dtype=float)
        if c.shape in ((3,), (3, 3)):
            c = np.broadcast_to(c, (n_frames, *c.shape))
        if c.shape not in ((n_frames, 3), (n_frames, 3, 3)):
            raise ValueError(
                f"cell must be [3], [3, 3], [n_frames, 3] or [n_frames, 3, 3], got {c.shape}"
            )
        cells = [np.diag(ci) if ci.ndim == 1 else ci for ci in c]

    if info_per_frame is not None and len(info_per_frame) != n_frames:
        raise ValueError(f"{len(info_per_frame)} info dicts for {n_frames} frames")
    vel = None
    if velocities is not None:
        vel = np.asarray(velocities, dtype=float).reshape(pos.shape)

    images = []
    for i in range(n_frames):
        atoms = ase.Atoms(atom_symbols, positions=pos[i], cell=cells[i], pbc=pbc)
        if dummy:
            atoms.new_array("species_name", np.array(names, dtype=str))
        if vel is not None:
            atoms.set_velocities(vel[i])
        if info_per_frame is not None:
            atoms.info.update({str(k): _np_info(v) for k, v in info_per_frame[i].items()})
        images.append(atoms)

    with atomic_open(path, "w") as fh:
        ase.io.write(fh, images, format="extxyz")


def read_trajectory(path: PathLike, format: str | None = None) -> list[ase.Atoms]:
    """Read every frame of a trajectory file (extxyz, ASE ``.traj``, ...) as ``ase.Atoms``.

    Uses ``ase.io.read(path, index=":")``; ``format`` is passed on (guessed from the name when
    None). Raises ``ValueError`` naming the file if it is missing or cannot be parsed.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot read trajectory {path}: no such file")
    try:
        images = ase.io.read(path, index=":", format=format)
    except Exception as exc:
        raise ValueError(f"cannot read trajectory {path}: {exc}") from exc
    return list(images)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, float) else value


def write_thermo_csv(
    path: PathLike, thermo: Mapping[str, ArrayLike], steps: ArrayLike | None = None
) -> None:
    """Write thermodynamic time series as CSV, atomically.

    Columns: ``step``, then the keys of ``thermo`` in the given order (name units in the keys,
    e.g. ``temperature_K``, ``potential_energy_eV``). Every series is 1-D of one length ``n``.
    The step column is ``thermo["step"]`` if present, else ``steps``, else ``0..n-1``. Floats
    are written with full precision.
    """
    columns = {k: np.asarray(v) for k, v in thermo.items() if k != "step"}
    step_values = thermo.get("step", steps)
    lengths = {k: v.shape for k, v in columns.items()}
    if any(len(s) != 1 for s in lengths.values()):
        raise ValueError(f"thermo series must be 1-D, got shapes {lengths}")
    ns = {s[0] for s in lengths.values()}
    if step_values is not None:
        step_arr = np.asarray(step_values)
        if step_arr.ndim != 1:
            raise ValueError(f"steps must be 1-D, got shape {step_arr.shape}")
        ns.add(step_arr.shape[0])
    if len(ns) > 1:
        raise ValueError(f"thermo series differ in length: {lengths}")
    n = ns.pop() if ns else 0
    if step_values is None:
        step_arr = np.arange(n)

    with atomic_open(path, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["step", *columns])
        for i in range(n):
            writer.writerow([_csv_cell(step_arr[i]), *(_csv_cell(v[i]) for v in columns.values())])
