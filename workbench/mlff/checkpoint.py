"""Files of a training run besides the model: the checkpoint (to resume from), the learning
curves (for the dashboard) and the split.

- ``checkpoint.msgpack``: weights, optimiser state, EMA weights, plateau state, best weights,
  counters and curves, serialised with ``flax.serialization`` (msgpack; no pickle). Restored
  into a template of the same structure (``from_state_dict``), so optax's state tuples come
  back as they were;
- ``curves.csv``: one row per epoch (``CURVE_COLUMNS``: epoch, optimiser step, cumulative wall
  time in s, learning rate, training loss and MAEs, validation MAEs and RMSEs in eV and eV/Å);
- ``split.npz``: ``train``, ``validation``, ``test`` frame indices (int64).

Writes are atomic (``workbench.io``).
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from workbench import io

__all__ = ["CHECKPOINT_FILE", "CURVES_FILE", "CURVE_COLUMNS", "SPLIT_FILE", "read_checkpoint",
           "read_curves", "write_checkpoint", "write_curves"]

CHECKPOINT_FILE = "checkpoint.msgpack"
CURVES_FILE = "curves.csv"
SPLIT_FILE = "split.npz"
CURVE_COLUMNS = ("epoch", "step", "wall_time_s", "learning_rate", "train_loss",
                 "train_energy_mae", "train_force_mae", "val_energy_mae", "val_force_mae",
                 "val_energy_rmse", "val_force_rmse")


def write_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` (a pytree of arrays, numbers and dicts) to ``path`` atomically."""
    host = jax.tree.map(np.asarray, jax.device_get(state))
    data = serialization.msgpack_serialize(serialization.to_state_dict(host))
    with io.atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def read_checkpoint(path: str | Path, template: dict[str, Any]) -> dict[str, Any]:
    """The state written by ``write_checkpoint``, restored into ``template``'s structure
    (leaves replaced). ``ValueError`` naming the file when it is damaged or does not fit."""
    path = Path(path)
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        return serialization.from_state_dict(template, raw)
    except FileNotFoundError:
        raise
    except Exception as exc:  # msgpack and flax raise several types for a bad file
        raise ValueError(f"{path}: not a checkpoint of this training ({exc})") from None


def write_curves(path: str | Path, curves: dict[str, list]) -> None:
    """Write ``curves`` (``CURVE_COLUMNS`` -> equal-length lists) as CSV, atomically."""
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for row in zip(*(curves[c] for c in CURVE_COLUMNS), strict=True):
        writer.writerow([repr(float(v)) if isinstance(v, float | np.floating) else v
                         for v in row])
    io.atomic_write_text(path, buf.getvalue())


def read_curves(path: str | Path) -> dict[str, np.ndarray]:
    """``curves.csv`` (or a run folder holding it) as ``{column: [n_epochs] float64}``."""
    path = Path(path)
    if path.is_dir():
        path = path / CURVES_FILE
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0]) != CURVE_COLUMNS:
        raise ValueError(f"{path}: not a learning-curve file (header {rows[:1]})")
    values = np.array(rows[1:], dtype=np.float64).reshape(-1, len(CURVE_COLUMNS))
    return {c: values[:, k] for k, c in enumerate(CURVE_COLUMNS)}
