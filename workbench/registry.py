"""The run registry: one folder per simulation, fit or training run, indexed in SQLite.

Each run gets a folder ``<YYYYmmdd-HHMMSS>-<kind>-<short uuid>`` (local time) under the runs root
(``paths.runs_dir()`` unless another root is given). The folder holds ``run.json`` (id, kind,
name, created, status), ``config.json``, ``metrics.json`` and whatever arrays and trajectories
the caller adds. The files are the record; the embedded SQLite database ``registry.sqlite`` in the
runs root is an index over them, so dashboards can list, reload and compare runs quickly, and
:meth:`RunRegistry.reindex` rebuilds it from the folders. Every file write is atomic
(:mod:`workbench.io`), every index update is one transaction, and a registry object may be shared
between threads (one connection guarded by a lock).

A run records the process writing it (host, pid and the process's start time, so a reused pid is
not mistaken for it). A run still ``created`` or ``running`` whose writer has died (killed, out of
memory, power lost) is marked ``incomplete`` when the registry is opened, listed or reindexed,
and the temporary files its writer left (``.<name>.*.tmp`` of :func:`workbench.io.atomic_open`)
are removed then, as are the hidden ``.deleted-*`` folders of an interrupted :meth:`delete`.
A run is ``completed`` only after everything it saves has been written, so a half-written run is
never listed as complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from workbench import io, paths

__all__ = ["STATUSES", "Run", "RunRegistry"]

STATUSES = ("created", "running", "completed", "stopped", "failed", "incomplete")
"""The states a run can be in; ``incomplete``: its writer died before it finished."""

_OPEN = ("created", "running")
_ORPHAN_AGE_S = 3600.0
"""A temporary file untouched this long is an orphan even in a run that may still be written."""

DB_NAME = "registry.sqlite"
_KIND_RE = re.compile(r"^[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*$")
_FOLDER_RE = re.compile(r"^(\d{8}-\d{6})-(.+)-([0-9a-f]{8})$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    status TEXT NOT NULL,
    path TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
"""


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), to tell a
    reused pid from the original process; None where ``/proc`` is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _this_writer() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def _writer_alive(writer: Any) -> bool:
    """Whether the process recorded in ``writer`` may still be writing. A writer on another host
    cannot be checked and counts as alive; a run without a record (older registries) as dead."""
    if not isinstance(writer, dict) or "pid" not in writer:
        return False
    if writer.get("host") != socket.gethostname():
        return True
    pid = int(writer["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    start = _process_start(pid)
    return start is None or writer.get("start") in (None, start)


def _jsonable(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as it reads back from JSON (numpy values become numbers and lists)."""
    return json.loads(io.json_dumps(obj))


def _flatten(d: dict[str, Any], prefix: str) -> list[str]:
    """Dotted keys of the leaves of a nested dict: {"a": {"b": 1}} -> ["prefix.a.b"]."""
    keys = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            keys.extend(_flatten(v, f"{prefix}.{k}"))
        else:
            keys.append(f"{prefix}.{k}")
    return keys


@dataclass
class Run:
    """One run: its index fields, its config and metrics, and its folder.

    ``created`` is seconds since the epoch. Obtain runs from a :class:`RunRegistry`; the methods
    write to the folder atomically and keep the index in step.
    """

    id: str
    kind: str
    name: str
    created: float
    status: str
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    writer: dict[str, Any] | None = field(default=None, repr=False)
    _registry: RunRegistry | None = field(default=None, repr=False, compare=False)

    def _reg(self) -> RunRegistry:
        if self._registry is None:
            raise RuntimeError(f"run {self.id} is not attached to a registry")
        return self._registry

    def file(self, name: str) -> Path:
        """Path of a file inside the run folder (not created). Sub-folders are allowed;
        absolute paths and ``..`` are not."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"{name!r} is not a file name inside run folder {self.path}")
        return self.path / rel

    def save_metrics(self, metrics: dict[str, Any]) -> None:
        """Merge ``metrics`` into the run's metrics (top-level keys replace), write
        ``metrics.json`` atomically and update the index."""
        self._reg()._save_metrics(self, metrics)

    def set_status(self, status: str) -> None:
        """Set the status, one of :data:`STATUSES`; written to ``run.json`` and the index."""
        self._reg()._set_status(self, status)

    def save_arrays(self, name: str, **arrays: ArrayLike) -> Path:
        """Save arrays as ``<name>.npz`` in the run folder, atomically; returns the path."""
        path = self.file(name if name.endswith(".npz") else f"{name}.npz")
        io.atomic_save_npz(path, **arrays)
        return path

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        """Load ``<name>.npz`` from the run folder (``allow_pickle=False``)."""
        return io.load_npz(self.file(name if name.endswith(".npz") else f"{name}.npz"))

    def to_dict(self) -> dict[str, Any]:
        """The run's index fields, config and metrics as plain JSON-able values."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "created": self.created,
            "status": self.status,
            "path": str(self.path),
            "config": self.config,
            "metrics": self.metrics,
        }


class RunRegistry:
    """Create, find, compare and delete runs under one runs root.

    Args:
        root: the runs root; ``paths.runs_dir()`` when None. Created if missing. If the index
            database is missing but run folders exist, the index is rebuilt from them.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / DB_NAME
        fresh = not self.db_path.exists()
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.db_path, timeout=30.0, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
        if fresh and any(self._run_folders()):
            self.reindex()
        else:
            self.sweep()

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the index connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunRegistry({str(self.root)!r})"

    # -- public API --------------------------------------------------------------------------

    def create(self, kind: str, config: dict[str, Any], name: str = "") -> Run:
        """Create a run folder with ``config.json``, an empty ``metrics.json`` and ``run.json``
        (status ``"created"``), index it and return it. ``kind`` (e.g. ``"simulation"``,
        ``"fit"``, ``"training"``) is letters, digits, ``_`` and inner ``-``."""
        if not _KIND_RE.match(kind):
            raise ValueError(f"run kind {kind!r} must be letters, digits, '_' and inner '-'")
        created = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(created))
        while True:
            run_id = f"{stamp}-{kind}-{uuid.uuid4().hex[:8]}"
            folder = self.root / run_id
            try:
                folder.mkdir()
                break
            except FileExistsError:  # a short-uuid collision within the same second
                continue
        run = Run(
            id=run_id,
            kind=kind,
            name=name,
            created=created,
            status="created",
            path=folder,
            config=_jsonable(config),
            metrics={},
            writer=_this_writer(),
            _registry=self,
        )
        io.atomic_write_json(run.file("config.json"), run.config)
        io.atomic_write_json(run.file("metrics.json"), run.metrics)
        self._write_meta(run)
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO runs (id, kind, name, created, status, path, config, metrics) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self._row_values(run),
            )
        return run

    def get(self, run_id: str) -> Run:
        """The run with this id; ``KeyError`` if the index has none."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in registry {self.root}")
        return self._from_row(row)

    def list(self, kind: str | None = None, status: str | None = None) -> list[Run]:
        """Runs, newest first, optionally only those of one kind and/or status. Runs whose writer
        died are marked ``incomplete`` first."""
        self._mark_dead_writers()
        clauses, args = [], []
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT * FROM runs{where} ORDER BY created DESC, id DESC"
        with self._lock:
            rows = self._conn.execute(query, args).fetchall()
        return [self._from_row(row) for row in rows]

    def delete(self, run_id: str) -> None:
        """Remove a run from the index and delete its folder. ``KeyError`` if unknown.

        The folder is first renamed to a hidden name (atomic), so a half-deleted folder is never
        mistaken for a run by :meth:`reindex`.
        """
        run = self.get(run_id)
        trash = self.root / f".deleted-{run_id}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            if run.path.exists():
                run.path.rename(trash)
            with self._conn:
                self._conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(trash, ignore_errors=True)

    def compare(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """A flat table, one dict per run, of ``id``, ``name``, ``kind``, ``status`` and the
        chosen keys.

        Keys are dotted paths into the config or metrics, e.g. ``"config.temperature_K"`` or
        ``"metrics.rdf_error.mae"``; ``"created"`` and ``"path"`` are allowed too. A key a run
        lacks gives None. With ``keys=None``, every leaf of every run's config then metrics.
        """
        runs = [self.get(run_id) for run_id in run_ids]
        if keys is None:
            chosen: dict[str, None] = {}
            for section in ("config", "metrics"):
                for run in runs:
                    chosen.update(dict.fromkeys(_flatten(getattr(run, section), section)))
            keys = list(chosen)
        table = []
        for run in runs:
            row: dict[str, Any] = {
                "id": run.id,
                "name": run.name,
                "kind": run.kind,
                "status": run.status,
            }
            for key in keys:
                row[key] = self._lookup(run, key)
            table.append(row)
        return table

    def reindex(self) -> int:
        """Rebuild the index from the run folders' ``run.json``, ``config.json`` and
        ``metrics.json``; returns the number of runs indexed. Folders that cannot be read are
        skipped with a warning. Without ``run.json``, kind and time come from the folder name
        and the status is ``"created"``."""
        runs = []
        for folder in self._run_folders():
            try:
                runs.append(self._read_folder(folder))
            except ValueError as exc:
                warnings.warn(f"reindex: skipping {folder}: {exc}", stacklevel=2)
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM runs")
            self._conn.executemany(
                "INSERT INTO runs (id, kind, name, created, status, path, config, metrics) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [self._row_values(run) for run in runs],
            )
        self.sweep()
        return len(runs)

    def sweep(self) -> int:
        """Mark runs whose writer died ``incomplete`` and remove what interrupted writes left:
        the temporary files of atomic writes (``.*.tmp``) in incomplete runs (in any run, once an
        hour old) and the hidden folders of an interrupted :meth:`delete`. Runs when a registry
        is opened and in :meth:`reindex`; returns the number of runs marked."""
        marked = self._mark_dead_writers()
        now = time.time()
        for folder in self.root.iterdir():
            if folder.name.startswith(".deleted-") and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                continue
            temps = list(folder.rglob(".*.tmp")) if folder.is_dir() else []
            abandoned = bool(temps) and self._read_meta(folder).get("status") == "incomplete"
            for tmp in temps:
                try:
                    if abandoned or now - tmp.stat().st_mtime > _ORPHAN_AGE_S:
                        tmp.unlink()
                except FileNotFoundError:  # its writer finished meanwhile
                    pass
        return marked

    # -- internals ---------------------------------------------------------------------------

    def _mark_dead_writers(self) -> int:
        marks = ",".join("?" * len(_OPEN))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id FROM runs WHERE status IN ({marks})", _OPEN).fetchall()
        marked = 0
        for row in rows:
            folder = self.root / row["id"]
            if folder.is_dir() and not _writer_alive(self._read_meta(folder).get("writer")):
                self._set_status(self._read_folder(folder), "incomplete")
                marked += 1
        return marked

    @staticmethod
    def _read_meta(folder: Path) -> dict[str, Any]:
        try:
            meta = io.read_json(folder / "run.json")
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _run_folders(self) -> Iterable[Path]:
        for child in sorted(self.root.iterdir()):
            if (
                child.is_dir()
                and not child.name.startswith(".")
                and ((child / "run.json").exists() or _FOLDER_RE.match(child.name))
            ):
                yield child

    def _read_folder(self, folder: Path) -> Run:
        if (folder / "run.json").exists():
            meta = io.read_json(folder / "run.json")
        else:
            match = _FOLDER_RE.match(folder.name)
            if match is None:
                raise ValueError("no run.json and not a run folder name")
            created = time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
            meta = {"kind": match.group(2), "created": created, "status": "created"}
        config_file, metrics_file = folder / "config.json", folder / "metrics.json"
        config = io.read_json(config_file) if config_file.exists() else {}
        metrics = io.read_json(metrics_file) if metrics_file.exists() else {}
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            # ValueError: a bad file, not a bad argument; reindex skips it.
            raise ValueError("config.json and metrics.json must hold JSON objects")  # noqa: TRY004
        return Run(
            id=folder.name,
            kind=str(meta.get("kind", "")),
            name=str(meta.get("name", "")),
            created=float(meta.get("created", folder.stat().st_mtime)),
            status=str(meta.get("status", "created")),
            path=folder,
            config=config,
            metrics=metrics,
            writer=meta.get("writer"),
            _registry=self,
        )

    def _write_meta(self, run: Run) -> None:
        meta = {k: getattr(run, k) for k in ("id", "kind", "name", "created", "status")}
        writer = run.writer or self._read_meta(run.path).get("writer")
        if writer:
            meta["writer"] = writer
        io.atomic_write_json(run.file("run.json"), meta)

    def _row_values(self, run: Run) -> tuple:
        return (
            run.id,
            run.kind,
            run.name,
            run.created,
            run.status,
            str(run.path),
            io.json_dumps(run.config),
            io.json_dumps(run.metrics),
        )

    def _from_row(self, row: sqlite3.Row) -> Run:
        return Run(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            created=row["created"],
            status=row["status"],
            path=self.root / row["id"],
            config=json.loads(row["config"]),
            metrics=json.loads(row["metrics"]),
            _registry=self,
        )

    def _save_metrics(self, run: Run, metrics: dict[str, Any]) -> None:
        with self._lock:
            # Merge into what is on disk, so two Run objects for one run do not lose keys.
            metrics_file = run.file("metrics.json")
            merged = io.read_json(metrics_file) if metrics_file.exists() else {}
            merged.update(_jsonable(metrics))
            io.atomic_write_json(metrics_file, merged)
            run.metrics = merged
            with self._conn:
                self._conn.execute(
                    "UPDATE runs SET metrics = ? WHERE id = ?", (io.json_dumps(merged), run.id)
                )

    def _set_status(self, run: Run, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        with self._lock:
            run.status = status
            self._write_meta(run)
            with self._conn:
                self._conn.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run.id))

    @staticmethod
    def _lookup(run: Run, key: str) -> Any:
        head, _, rest = key.partition(".")
        if head in ("created", "path") and not rest:
            return str(run.path) if head == "path" else run.created
        if head not in ("config", "metrics") or not rest:
            raise ValueError(
                f"compare key {key!r} must be 'config.<key>', 'metrics.<key>', 'created' or 'path'"
            )
        value: Any = getattr(run, head)
        for part in rest.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value
