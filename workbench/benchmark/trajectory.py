"""The trajectory every benchmark metric reads: positions, atomic numbers, box and the time
between frames, from arrays, ASE ``Atoms`` lists, trajectory files or workbench run folders.

A trajectory here is what MDsim's metrics read from an ASE ``atoms.traj`` (Fu et al., "Forces
are not enough", TMLR 2023): positions ``[n_frames, n_atoms, 3]`` in Å, atomic numbers
``[n_atoms]``, an orthorhombic box ``[3]`` in Å (or None: free space) and the time between
stored frames in ps (MDsim stores a frame every 0.05 ps for MD17, 0.1 ps for water).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Trajectory", "load_trajectory"]


@dataclass
class Trajectory:
    """Frames to score.

    Attributes:
        positions: ``[n_frames, n_atoms, 3]`` Å (unwrapped or wrapped; metrics that need one or
            the other say so).
        numbers: ``[n_atoms]`` atomic numbers.
        box: ``[3]`` orthorhombic box lengths in Å, or None for free space.
        frame_interval_ps: time between stored frames in ps, or None when unknown (metrics
            that report a time raise ``ValueError`` then).
        start_ps: time of the first frame since the start of the simulation, in ps: 0 when
            the start is a frame (MDsim's trajectories), one stride for a workbench run (its
            first frame is after ``stride`` steps). Stable times are times of frames.

    Raises:
        ValueError: wrong shapes, no frames, non-finite box or interval.
    """

    positions: np.ndarray
    numbers: np.ndarray
    box: np.ndarray | None = None
    frame_interval_ps: float | None = None
    start_ps: float = 0.0

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64)
        if self.positions.ndim == 2:
            self.positions = self.positions[None]
        if self.positions.ndim != 3 or self.positions.shape[-1] != 3 or not len(self.positions):
            raise ValueError("positions must be [n_frames, n_atoms, 3] with at least one frame, "
                             f"got shape {self.positions.shape}")
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        if self.numbers.size != self.positions.shape[1]:
            raise ValueError(f"{self.numbers.size} atomic numbers for "
                             f"{self.positions.shape[1]} atoms")
        if self.box is not None:
            box = np.asarray(self.box, dtype=np.float64).reshape(-1)
            if box.shape != (3,) or not np.all(np.isfinite(box)) or np.any(box <= 0):
                raise ValueError(f"box must be 3 positive lengths in Å, got {self.box!r}")
            self.box = box
        if self.frame_interval_ps is not None:
            dt = float(self.frame_interval_ps)
            if not np.isfinite(dt) or dt <= 0:
                raise ValueError(f"frame interval must be a positive time in ps, got {dt}")
            self.frame_interval_ps = dt

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    def interval_ps(self) -> float:
        """The time between frames in ps; ``ValueError`` if it is unknown."""
        if self.frame_interval_ps is None:
            raise ValueError("the time between frames is unknown: give frame_interval_ps "
                             "(--frame-interval PS on the command line)")
        return self.frame_interval_ps

    def head(self, n_frames: int) -> Trajectory:
        """The first ``n_frames`` frames (same atoms, box and interval)."""
        return Trajectory(self.positions[:n_frames], self.numbers, self.box,
                          self.frame_interval_ps, self.start_ps)

    def to_atoms(self) -> list[Any]:
        """The frames as ASE ``Atoms`` (periodic when there is a box)."""
        import ase

        cell = None if self.box is None else np.diag(self.box)
        return [ase.Atoms(numbers=self.numbers, positions=p, cell=cell,
                          pbc=self.box is not None) for p in self.positions]


def _box_of(atoms: Any) -> np.ndarray | None:
    if not np.any(atoms.pbc):
        return None
    cell = np.asarray(atoms.cell[:], dtype=np.float64)
    if not np.all(atoms.pbc) or np.any(np.abs(cell - np.diag(np.diag(cell))) > 1e-9):
        raise ValueError("only orthorhombic boxes periodic in x, y and z (or free space) are "
                         "supported")
    return np.diag(cell).copy()


def _interval_from_info(images: Sequence[Any]) -> float | None:
    if len(images) < 2:
        return None
    for key, to_ps in (("time_ps", 1.0), ("time_fs", 1e-3)):
        if key in images[0].info and key in images[1].info:
            return (float(images[1].info[key]) - float(images[0].info[key])) * to_ps
    return None


def _from_atoms(images: Sequence[Any], frame_interval_ps: float | None) -> Trajectory:
    if not len(images):
        raise ValueError("the trajectory has no frames")
    numbers = images[0].numbers
    for k, atoms in enumerate(images):
        if len(atoms) != len(numbers) or np.any(atoms.numbers != numbers):
            raise ValueError(f"frame {k} holds other atoms than frame 0")
    positions = np.stack([a.positions for a in images])
    dt = frame_interval_ps if frame_interval_ps is not None else _interval_from_info(images)
    return Trajectory(positions, numbers, _box_of(images[0]), dt)


class CollapsedAtStart(ValueError):
    """A run that collapsed before its first recorded frame (``Simulation``'s stability watch
    kept no frame): nothing to measure; ``collapse_ps`` is when it collapsed."""

    def __init__(self, run: str, collapse_ps: float):
        super().__init__(f"run {run} collapsed at {collapse_ps:g} ps, before its first frame")
        self.collapse_ps = collapse_ps


def _from_run(folder: Path, frame_interval_ps: float | None) -> Trajectory:
    from workbench import io

    config = io.read_json(folder / "config.json")
    metrics = io.read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() \
        else {}
    if metrics.get("frames") == 0 and metrics.get("collapse_time") is not None:
        if config.get("units", {}).get("time") != "fs":
            raise ValueError(f"run {folder.name} collapsed before its first frame")
        raise CollapsedAtStart(folder.name, float(metrics["collapse_time"]) * 1e-3)
    images = io.read_trajectory(folder / "trajectory.extxyz")
    if frame_interval_ps is None and "timestep" in config and "stride" in config:
        unit = config.get("units", {}).get("time")
        if unit != "fs":
            raise ValueError(f"run {folder.name} is in {unit!r} time units, not fs: give "
                             "frame_interval_ps")
        frame_interval_ps = float(config["timestep"]) * int(config["stride"]) * 1e-3
    traj = _from_atoms(images, frame_interval_ps)
    arrays = folder / "trajectory.npz"
    saved = io.load_npz(arrays) if arrays.is_file() else {}
    unwrapped = saved.get("unwrapped")  # continuous positions, better for the MSD
    if unwrapped is not None and unwrapped.shape == traj.positions.shape:
        traj.positions = np.asarray(unwrapped, dtype=np.float64)
    steps = saved.get("steps")
    if steps is not None and len(steps) and traj.frame_interval_ps is not None:
        traj.start_ps = int(steps[0]) / int(config.get("stride", 1)) * traj.frame_interval_ps
    return traj


def _interval_from_provenance(provenance: dict | None) -> float | None:
    """ps between the frames of a dataset the workbench generated (its provenance's
    ``timestep_fs`` times ``stride``), else None."""
    settings = (provenance or {}).get("settings") or {}
    if "timestep_fs" in settings and "stride" in settings:
        return float(settings["timestep_fs"]) * int(settings["stride"]) * 1e-3
    return None


def load_trajectory(source: Any, frame_interval_ps: float | None = None) -> Trajectory:
    """A ``Trajectory`` from whatever holds one.

    Args:
        source: a ``Trajectory``; a list of ASE ``Atoms``; a file ASE reads (``.traj``,
            extxyz, ...); a workbench run folder (``trajectory.extxyz`` and ``config.json``, the
            unwrapped positions of ``trajectory.npz`` when present) or a registered run's id; or
            a ``workbench.data.Dataset`` in ASE units (its frames, e.g. an MD17 reference).
        frame_interval_ps: time between frames in ps; overrides what the source says (a run's
            ``timestep * stride``, a generated dataset's provenance, or ``time_fs`` /
            ``time_ps`` in the frames' info).

    Raises:
        ValueError: missing or unreadable file, no frames, frames with different atoms, a
            non-orthorhombic cell.
    """
    if isinstance(source, Trajectory):
        if frame_interval_ps is None:
            return source
        return Trajectory(source.positions, source.numbers, source.box, frame_interval_ps)
    if isinstance(source, (list, tuple)):
        return _from_atoms(source, frame_interval_ps)
    if hasattr(source, "positions") and hasattr(source, "species"):  # a Dataset
        if getattr(source, "units", "ase") != "ase":
            raise ValueError("the dataset must be in ASE units (Å, atomic numbers)")
        box = None if source.box is None else np.asarray(source.box).reshape(-1, 3)[0]
        if frame_interval_ps is None:
            frame_interval_ps = _interval_from_provenance(getattr(source, "provenance", None))
        return Trajectory(source.positions, source.species, box, frame_interval_ps)
    path = Path(source)
    if path.is_dir():
        return _from_run(path, frame_interval_ps)
    if path.suffix == ".npz":
        from workbench.data.loaders import load_dataset

        return load_trajectory(load_dataset(path), frame_interval_ps)
    if not path.exists() and path.suffix == "" and "/" not in str(source):
        from workbench.registry import RunRegistry

        try:
            run = RunRegistry().get(str(source))
        except (KeyError, ValueError):
            pass
        else:
            return _from_run(Path(run.path), frame_interval_ps)
    from workbench import io

    return _from_atoms(io.read_trajectory(path), frame_interval_ps)
