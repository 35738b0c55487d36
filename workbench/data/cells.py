"""Orthorhombic boxes from the cells that data files carry: ASE cells (vectors as rows), sGDML
``lattice`` arrays, MDAnalysis box dimensions.

A ``Dataset`` holds a box as side lengths along x, y and z with ``pbc`` per axis. A cell in a
file is three vectors with a periodic flag each; ``cells_to_box`` decides whether they describe
such a box:

- periodic vectors must be non-zero, lie along the Cartesian axes (in any order, either sign)
  and meet at right angles, up to round-off: off-axis components at most ``REL_TOL`` of the
  vector's length and angles within ``ANGLE_TOL_DEG`` of 90 degrees, so cells written in
  float32 (off-diagonals of ~1e-6 Å, angles of 90.0000025 degrees) pass;
- the box side along an axis is the extent of the vector along it (the absolute value of its
  component): a vector along -z spans the same periodic lattice as one along +z, and a
  permuted cell (vectors along y, z, x) is the same box with its sides taken per axis.
  Positions are Cartesian and are kept exactly as they are;
- vectors along non-periodic directions are not periods: they may be zero (ASE's slabs) or
  anything; the box keeps their extent along the remaining axis, for information only.

Cells whose periodic vectors are orthogonal but turned away from the axes (the frames would
have to be rotated, forces included) and triclinic cells are refused, with the cell, its
lengths and its angles in the message.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ANGLE_TOL_DEG", "REL_TOL", "cells_to_box", "dimensions_to_cells"]

REL_TOL = 1e-5
"""Largest off-axis component of a periodic cell vector, relative to its length."""

ANGLE_TOL_DEG = 1e-4
"""Largest departure from 90 degrees of the angle between two periodic cell vectors."""

_PAIRS = ((1, 2), (0, 2), (0, 1))  # alpha (b, c), beta (a, c), gamma (a, b)


def _angles(cells: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """[n, 3] angles alpha, beta, gamma in degrees (NaN where a vector is zero)."""
    out = np.full(norms.shape, np.nan)
    for k, (i, j) in enumerate(_PAIRS):
        denom = norms[:, i] * norms[:, j]
        dot = np.einsum("fk,fk->f", cells[:, i], cells[:, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.clip(dot / denom, -1.0, 1.0)
        out[:, k] = np.where(denom > 0, np.degrees(np.arccos(cos)), np.nan)
    return out


def _describe(cell: np.ndarray, angles: np.ndarray, pbc: np.ndarray, unit: str) -> str:
    vectors = np.array2string(cell, separator=", ", formatter={"float_kind": "{:.9g}".format})
    lengths = ", ".join(f"{x:.9g}" for x in np.linalg.norm(cell, axis=1))
    angle_text = ", ".join(f"{name}={'n/a' if np.isnan(x) else f'{x:.7f}'}"
                           for name, x in zip(("alpha", "beta", "gamma"), angles, strict=True))
    return (f"cell vectors (rows, {unit}) {' '.join(vectors.split())}, lengths [{lengths}] "
            f"{unit}, angles {angle_text} degrees, pbc {np.asarray(pbc).tolist()}")


def cells_to_box(cells: np.ndarray, pbc: np.ndarray,
                 unit: str = "Å") -> tuple[np.ndarray | None, np.ndarray]:
    """The orthorhombic box of ``cells`` (see the module docstring).

    Args:
        cells: ``[3, 3]`` or ``[n_frames, 3, 3]``, cell vectors as rows, in ``unit``.
        pbc: ``[3]`` bools, periodic along each cell vector (as ``ase.Atoms.pbc``).
        unit: the length unit, for messages.

    Returns:
        ``(box, pbc_xyz)``: the side lengths along x, y and z (``[3]``, or ``[n_frames, 3]``
        when they change between frames; ``None`` when no direction is periodic and the cell is
        all zero) and ``pbc`` per Cartesian axis.

    Raises:
        ValueError: a periodic vector that is zero, a triclinic or rotated cell, periodic
            vectors that change axes between frames; the message shows the frame's cell.
    """
    cells = np.asarray(cells, dtype=np.float64)
    if cells.ndim == 2:
        cells = cells[None]
    if cells.ndim != 3 or cells.shape[1:] != (3, 3):
        raise ValueError(f"a cell must have shape [3, 3] or [n_frames, 3, 3], got {cells.shape}")
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    if not pbc.any() and not np.any(cells):
        return None, np.zeros(3, bool)
    if not np.all(np.isfinite(cells)):
        raise ValueError("the cell contains NaN or infinity")
    norms = np.linalg.norm(cells, axis=2)
    angles = _angles(cells, norms)
    periodic = np.flatnonzero(pbc)
    zero = norms[:, periodic] == 0
    if zero.any():
        f, j = np.argwhere(zero)[0]
        raise ValueError(f"the cell is periodic along vector {periodic[j] + 1}, but that vector "
                         f"is zero (frame {f}): {_describe(cells[f], angles[f], pbc, unit)}")
    mags = np.abs(cells)
    dominant = np.argmax(mags, axis=2)
    off_axis = np.where(np.arange(3) == dominant[..., None], 0.0, mags).max(axis=2)
    aligned = (off_axis <= REL_TOL * norms)[:, periodic].all(axis=1)
    right = np.ones(angles.shape, bool)
    for k, (i, j) in enumerate(_PAIRS):
        if pbc[i] and pbc[j]:
            right[:, k] = np.abs(angles[:, k] - 90.0) <= ANGLE_TOL_DEG
    bad = np.flatnonzero(~(aligned & right.all(axis=1)))
    if bad.size:
        f = bad[0]
        where = f"frame {f}: " if len(cells) > 1 else ""
        text = _describe(cells[f], angles[f], pbc, unit)
        if right[f].all():
            raise ValueError(
                f"the periodic cell vectors are at right angles but not along x, y and z (a "
                f"rotated orthorhombic cell; {where}{text}). A dataset's box lies along x, y "
                "and z: rotate positions and forces together first (for positions, ASE's "
                "atoms.set_cell(np.diag(atoms.cell.lengths()), scale_atoms=True) does it)")
        raise ValueError(
            f"non-orthorhombic cell ({where}{text}); supported: periodic cell vectors along x, "
            f"y and z (any order or sign) at right angles, up to round-off (angles within "
            f"{ANGLE_TOL_DEG:g} degrees of 90, off-axis components below {REL_TOL:g} of the "
            "vector's length)")
    axes = dominant[:, periodic]
    if np.any(axes != axes[0]):
        f = int(np.flatnonzero(np.any(axes != axes[0], axis=1))[0])
        raise ValueError(f"the periodic cell vectors change axes between frame 0 and frame {f} "
                         f"(frame {f}: {_describe(cells[f], angles[f], pbc, unit)})")
    axis_of = {int(i): int(a) for i, a in zip(periodic, axes[0], strict=True)}
    free = [a for a in range(3) if a not in axis_of.values()]
    loose = [i for i in range(3) if not pbc[i]]
    for i in loose:  # a non-periodic vector keeps its own axis where that is free
        a = int(dominant[0, i])
        if norms[0, i] > 0 and a in free:
            axis_of[i] = a
            free.remove(a)
    for i in loose:
        if i not in axis_of:
            axis_of[i] = free.pop(0)
    box = np.zeros((len(cells), 3))
    pbc_xyz = np.zeros(3, bool)
    for i, a in axis_of.items():
        box[:, a] = mags[:, i, a]
        pbc_xyz[a] = pbc[i]
    return (box[0] if np.all(box == box[0]) else box), pbc_xyz


def dimensions_to_cells(dimensions: np.ndarray) -> np.ndarray:
    """``[n_frames, 6]`` box dimensions ``[a, b, c, alpha, beta, gamma]`` (lengths, degrees; as
    MDAnalysis gives them) to ``[n_frames, 3, 3]`` cell vectors as rows, in float64, with ``a``
    along x and ``b`` in the xy plane. A zero length gives a zero vector (angles involving it
    are ignored)."""
    dims = np.asarray(dimensions, dtype=np.float64).reshape(-1, 6)
    a, b, c = dims[:, 0], dims[:, 1], dims[:, 2]
    right = np.pi / 2
    alpha = np.where((b > 0) & (c > 0), np.radians(dims[:, 3]), right)
    beta = np.where((a > 0) & (c > 0), np.radians(dims[:, 4]), right)
    gamma = np.where((a > 0) & (b > 0), np.radians(dims[:, 5]), right)
    cells = np.zeros((len(dims), 3, 3))
    cells[:, 0, 0] = a
    cells[:, 1, 0] = b * np.cos(gamma)
    cells[:, 1, 1] = b * np.sin(gamma)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = c * np.cos(beta)
        cy = c * (np.cos(alpha) - np.cos(beta) * np.cos(gamma)) / np.sin(gamma)
        cz = np.sqrt(np.maximum(c ** 2 - cx ** 2 - cy ** 2, 0.0))
    cells[:, 2] = np.stack([cx, cy, cz], axis=1)
    return cells
