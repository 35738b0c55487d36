"""Fixed-shape training batches: edges precomputed per frame on the host, padded to one
capacity for the whole dataset, frames grouped in batches of one size, so a jitted training
step compiles once.

- ``frame_edges``: the directed edges of one frame within the cutoff (minimum image in an
  orthorhombic box), from ``scipy.spatial.cKDTree`` (``boxsize`` for periodic boxes);
- ``GraphData``: a dataset's frames with their edges padded to ``capacity`` (padding edges point
  at atom ``n_atoms``, the ``kernels.mlff.graph`` convention), in float32 (or float64);
- ``GraphData.batches(indices, batch_size)``: ``Batch`` tuples of ``batch_size`` frames; the
  last batch is filled with copies of a real frame of weight 0, which leave a weighted loss
  unchanged.

This is the padded-batch recipe of jraph / mlip (static shapes under ``jit``), written for one
molecular system: every frame has the same atoms, so a batch is a stack ``[batch, n_atoms, ...]``
over which the model is ``vmap``-ed, with no graph concatenation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Batch", "GraphData", "check_cutoff", "frame_edges"]


class Batch(NamedTuple):
    """``batch_size`` frames of one system (host or device arrays).

    positions, forces: ``[B, n_atoms, 3]`` Å, eV/Å; energies: ``[B]`` eV; senders,
    receivers: ``[B, capacity]`` int32; box: ``[B, 3]`` Å or None (free boundaries);
    weights: ``[B]`` 1 for a frame, 0 for padding."""

    positions: Any
    forces: Any
    energies: Any
    senders: Any
    receivers: Any
    box: Any
    weights: Any


def check_cutoff(cutoff: float, box: np.ndarray | None) -> None:
    """``ValueError`` unless ``cutoff`` (Å) is positive and at most half the smallest box side
    (the minimum image needs it); ``box``: ``[3]`` or ``[n_frames, 3]`` Å, or None."""
    if not cutoff > 0:
        raise ValueError(f"the cutoff must be > 0 Å, got {cutoff}")
    if box is not None:
        smallest = float(np.min(box))
        if cutoff > smallest / 2:
            raise ValueError(f"the cutoff {cutoff:g} Å is larger than half the smallest box "
                             f"side ({smallest:g} Å / 2); the minimum image needs cutoff <= "
                             f"{smallest / 2:g} Å")


def frame_edges(positions: np.ndarray, box: np.ndarray | None, cutoff: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges ``(senders, receivers)`` (int32, each pair both ways) between the atoms
    of ``positions`` (``[n_atoms, 3]`` Å) closer than ``cutoff`` (Å), under the minimum image
    in the orthorhombic ``box`` (``[3]`` Å; None: free boundaries)."""
    from scipy.spatial import cKDTree

    R = np.asarray(positions, dtype=np.float64)
    if box is None:
        tree = cKDTree(R)
    else:
        L = np.asarray(box, dtype=np.float64)
        R = np.mod(R, L)
        R = np.where(R >= L, 0.0, R)  # mod can round up to L itself
        tree = cKDTree(R, boxsize=L)
    pairs = tree.query_pairs(cutoff, output_type="ndarray").astype(np.int32)
    return (np.concatenate([pairs[:, 0], pairs[:, 1]]),
            np.concatenate([pairs[:, 1], pairs[:, 0]]))


class GraphData:
    """The frames of a ``Dataset`` with padded edges (module docstring).

    Edges are computed once per frame when the dataset is read; they are kept (``int32``,
    ``[n_frames, capacity]`` twice) when that takes at most ``cache_bytes``, and computed
    again for each batch otherwise (large datasets: 10,000 frames of 64 waters with a 5 Å
    cutoff would take 0.8 GB).

    Args:
        dataset: a ``workbench.data.Dataset`` with forces and energies (ASE units), periodic
            or isolated.
        cutoff: Å, at most half the smallest box side.
        dtype: float dtype of positions, forces, energies and box (float32 for training).
        capacity: edges per frame; at least the largest count (the default).
        cache_bytes: the most memory the kept edges may take.

    Raises:
        ValueError: no forces or energies, a slab or wire, a cutoff too large, a capacity too
            small.
    """

    def __init__(self, dataset: Any, cutoff: float, dtype: Any = np.float32,
                 capacity: int | None = None, cache_bytes: int = 2 ** 30):
        missing = [name for name in ("energies", "forces") if getattr(dataset, name) is None]
        if missing:
            raise ValueError(f"training needs energies and forces; this dataset has no "
                             f"{' and no '.join(missing)}")
        box = dataset.periodic_box("training")
        check_cutoff(cutoff, box)
        self.n_frames, self.n_atoms = dataset.n_frames, dataset.n_atoms
        self.cutoff = float(cutoff)
        self.dtype = np.dtype(dtype)
        self.positions = np.asarray(dataset.positions, dtype=self.dtype)
        self.forces = np.asarray(dataset.forces, dtype=self.dtype)
        self.energies = np.asarray(dataset.energies, dtype=self.dtype)
        self._box64 = (None if box is None else
                       np.broadcast_to(np.asarray(box, dtype=np.float64), (self.n_frames, 3)))
        self.box = None if box is None else self._box64.astype(self.dtype)
        self._R64 = dataset.positions
        kept: list | None = []
        counts = np.zeros(self.n_frames, dtype=np.int64)
        for i in range(self.n_frames):
            s, r = self._frame(i)
            counts[i] = s.size
            if kept is not None:
                kept.append((s, r))
                if 8 * self.n_frames * int(counts[:i + 1].max()) > cache_bytes:
                    kept = None  # too large to keep: computed per batch instead
        largest = int(counts.max()) if counts.size else 0
        if capacity is None:
            capacity = max(largest, 1)
        elif capacity < largest:
            raise ValueError(f"capacity {capacity} is below the largest edge count {largest}")
        self.capacity = int(capacity)
        self.edge_counts = counts
        self.cached = kept is not None
        if self.cached:
            self._senders, self._receivers = self._pad(kept)

    def _frame(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return frame_edges(self._R64[i], None if self._box64 is None else self._box64[i],
                           self.cutoff)

    def _pad(self, edges: list) -> tuple[np.ndarray, np.ndarray]:
        senders = np.full((len(edges), self.capacity), self.n_atoms, dtype=np.int32)
        receivers = np.full_like(senders, self.n_atoms)
        for k, (s, r) in enumerate(edges):
            senders[k, :s.size] = s
            receivers[k, :r.size] = r
        return senders, receivers

    def edges(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        """Padded ``(senders, receivers)`` ``[len(indices), capacity]`` int32 of frames
        ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.cached:
            return self._senders[idx], self._receivers[idx]
        return self._pad([self._frame(int(i)) for i in idx])

    def batch(self, indices: np.ndarray, batch_size: int) -> Batch:
        """The frames ``indices`` (at most ``batch_size``, at least one) as a ``Batch`` of
        ``batch_size``, padded with weight-0 copies of the first frame."""
        idx = np.asarray(indices, dtype=np.int64)
        if not 0 < idx.size <= batch_size:
            raise ValueError(f"a batch holds 1 to {batch_size} frames, got {idx.size}")
        pad = batch_size - idx.size
        full = np.concatenate([idx, np.full(pad, idx[0], dtype=np.int64)])
        weights = np.concatenate([np.ones(idx.size), np.zeros(pad)]).astype(self.dtype)
        senders, receivers = self.edges(full)
        return Batch(self.positions[full], self.forces[full], self.energies[full], senders,
                     receivers, None if self.box is None else self.box[full], weights)

    def batches(self, indices: np.ndarray, batch_size: int, start: int = 0
                ) -> Iterator[Batch]:
        """``Batch``es of ``indices`` in order, from batch number ``start``."""
        idx = np.asarray(indices, dtype=np.int64)
        for k in range(start, n_batches(idx.size, batch_size)):
            yield self.batch(idx[k * batch_size:(k + 1) * batch_size], batch_size)


def n_batches(n_frames: int, batch_size: int) -> int:
    """Batches of ``batch_size`` needed for ``n_frames`` (the last one padded)."""
    return -(-int(n_frames) // int(batch_size))
