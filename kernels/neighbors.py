"""Neighbour lists: jax_md's, with an all-pairs rebuild for boxes too small for a cell list.

``neighbor_list(displacement_fn, box, cutoff, dr_threshold, ...)`` returns jax_md
``NeighborListFns`` whose lists are ordinary ``jax_md.partition.NeighborList`` objects, so every
jax_md energy, ``nbrs.update(R)`` and ``nbrs.did_buffer_overflow`` work unchanged.

Where the periodic box holds at least ``MIN_CELLS_PER_SIDE`` cells of ``cutoff + dr_threshold``
per side, it is jax_md's cell-list neighbour list. Below that the 27 neighbouring cells are the
whole box, and the list is rebuilt from all pairs here instead. That part is written by hand
because jax_md's rebuild spends its time compacting the candidate pairs (a cumulative sum and a
scatter over every candidate, which XLA runs slowly on CPU) and, with three cells per side,
looks at more candidates than there are atoms. For 1,000 LJ atoms on one CPU core (cutoff
2.5 sigma, skin 0.5) a rebuild took 92 ms with jax_md's cell list, 38-45 ms with its all-pairs
path and 7.5 ms here, where the cumulative sum is a matrix product within blocks of 32. The list
is rebuilt when an atom has moved more than half the skin, as jax_md does, and holds exactly
the pairs of jax_md's ``OrderedSparse`` list (``idx[0] < idx[1]``, padding ``N``), which a test
checks.

Overflow: a list holds a fixed number of pairs (a static shape), and when the atoms crowd
together more pairs than that fall within the cutoff; jax_md then flags the list
(``did_buffer_overflow``) and every force computed with it may have missed pairs. The one way
back used across the kernel (runner, differentiable simulation) and the workbench is here:
``retry_on_overflow(call, neighbor, reallocate)`` repeats a call with ever larger lists
(``extra_capacity`` is the growth rule; ``allocate`` also serves replicas) and raises
``NeighborListOverflowError`` after ``max_reallocations``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition, space

Array = jnp.ndarray
DEFAULT_SKIN = 0.5  # sigma: 1.45x the steps/s of 0.3 for LJ near its triple point (rebuilds
#                     every 15 steps instead of 9; they dominate a step on CPU)
MIN_CELLS_PER_SIDE = 4  # below this a cell list costs more than it saves
MAX_ALL_PAIRS_ATOMS = 4096  # N^2 work and memory; larger systems keep jax_md's list
_BLOCK = 32  # block length of the matrix-product cumulative sum
PEC = partition.PartitionErrorCode
MAX_REALLOCATIONS = 8  # attempts before an overflow is reported as an error
T = TypeVar("T")


def _block_cumsum(flags: Array) -> Array:
    """Inclusive cumulative sum of a 0/1 vector: a triangular matrix product within blocks of
    ``_BLOCK`` and a short cumulative sum over the block totals (exact: counts stay far below
    2**24 per block row in float32)."""
    n = flags.shape[0]
    padded = jnp.pad(flags.astype(jnp.float32), (0, -n % _BLOCK)).reshape(-1, _BLOCK)
    within = padded @ jnp.triu(jnp.ones((_BLOCK, _BLOCK), jnp.float32))
    totals = within[:, -1].astype(jnp.int32)
    offsets = jnp.cumsum(totals) - totals
    return (within.astype(jnp.int32) + offsets[:, None]).reshape(-1)[:n]


def _pair_mask(R: Array, box: Array, cutoff_sq: float) -> Array:
    """``[N, N]`` bool: ``j < i`` and the minimum-image distance below the cutoff."""
    box = jnp.broadcast_to(jnp.asarray(box, R.dtype), (R.shape[1],))
    d2 = 0.0
    for k in range(R.shape[1]):  # one coordinate at a time: contiguous [N, N] arrays
        x = R[:, k]
        dx = x[:, None] - x[None, :]
        d2 = d2 + (dx - box[k] * jnp.round(dx / box[k])) ** 2
    n = R.shape[0]
    i = jnp.arange(n, dtype=jnp.int32)
    lower = i[None, :] < i[:, None]
    return (d2 < cutoff_sq) & lower


def _all_pairs(R: Array, box: Array, cutoff_sq: float, capacity: int) -> tuple[Array, Array]:
    """``(idx [2, capacity], occupancy)``: pairs within the cutoff as jax_md's OrderedSparse
    (``idx[0]`` the lower index, padding ``N``)."""
    n = R.shape[0]
    flat = _pair_mask(R, box, cutoff_sq).reshape(-1)
    count = _block_cumsum(flat)
    slot = jnp.where(flat, count - 1, capacity)  # beyond the end: dropped
    k = jnp.arange(n * n, dtype=jnp.int32)
    fill = jnp.full(capacity, n, jnp.int32)
    receiver = fill.at[slot].set(k % n, mode="drop")
    sender = fill.at[slot].set(k // n, mode="drop")
    return jnp.stack([receiver, sender]), count[-1]


_all_pairs_jit = jax.jit(_all_pairs, static_argnums=(2, 3))
_n_pairs = jax.jit(lambda R, box, cutoff_sq: jnp.sum(_pair_mask(R, box, cutoff_sq)),
                   static_argnums=2)


def neighbor_list(displacement_fn: space.DisplacementFn, box: Array, cutoff: float,
                  dr_threshold: float, *, format: partition.NeighborListFormat =
                  partition.OrderedSparse, capacity_multiplier: float = 1.25,
                  **kwargs) -> partition.NeighborListFns:
    """Neighbour list of a periodic orthorhombic ``box`` (``[]`` or ``[3]``; module docstring).

    Arguments as ``jax_md.partition.neighbor_list``; extra keyword arguments go to it."""
    box_np = np.asarray(box, dtype=float)
    skin = cutoff + dr_threshold
    small_box = float(box_np.min()) / skin < MIN_CELLS_PER_SIDE
    fallback = partition.neighbor_list(
        displacement_fn, box, cutoff, dr_threshold, format=format,
        capacity_multiplier=capacity_multiplier, disable_cell_list=small_box, **kwargs)
    if not small_box or format is not partition.OrderedSparse or kwargs:
        return fallback

    cutoff_sq = skin**2
    threshold_sq = (dr_threshold / 2.0) ** 2
    displacement = space.map_bond(displacement_fn)

    def build(R: Array, capacity: int, error) -> partition.NeighborList:
        idx, occupancy = _all_pairs_jit(R, jnp.asarray(box_np, R.dtype), cutoff_sq, capacity)
        error = error.update(PEC.NEIGHBOR_LIST_OVERFLOW, occupancy > capacity)
        return partition.NeighborList(idx, R, error, None, capacity, format, None, None, update)

    def update(R: Array, nbrs: partition.NeighborList, **kw) -> partition.NeighborList:
        if kw:
            raise ValueError(f"this neighbour list takes no {sorted(kw)} (fixed box)")
        moved = jnp.any(jnp.sum(displacement(R, nbrs.reference_position) ** 2, axis=-1)
                        > threshold_sq)
        return jax.lax.cond(moved, lambda: build(R, nbrs.max_occupancy, nbrs.error),
                            lambda: nbrs)

    def allocate(R: Array, extra_capacity: int = 0, **kw) -> partition.NeighborList:
        n = R.shape[0]
        if n > MAX_ALL_PAIRS_ATOMS or kw:
            return fallback.allocate(R, extra_capacity, **kw)
        occupancy = int(_n_pairs(R, jnp.asarray(box_np, R.dtype), cutoff_sq))
        capacity = int(occupancy * capacity_multiplier + n * extra_capacity)
        capacity = max(1, min(capacity, n * (n - 1) // 2))
        return build(R, capacity, partition.PartitionError(jnp.zeros((), jnp.uint8)))

    return partition.NeighborListFns(allocate, update)



def free_all_pairs(n_atoms: int) -> partition.NeighborListFns:
    """A fixed neighbour list of every pair ``i < j`` of ``n_atoms`` particles in free space
    (a molecule in vacuum), never rebuilt and never overflowing, with jax_md's
    ``OrderedSparse`` layout (``idx: [2, n_atoms (n_atoms - 1) / 2]``): the energy applies its
    own cutoff. For a few hundred particles at most (the list grows as ``n_atoms^2``)."""
    i, j = np.triu_indices(n_atoms, k=1)
    idx = jnp.asarray(np.stack([i, j]), jnp.int32)

    def update(R: Array, nbrs: partition.NeighborList, **kw) -> partition.NeighborList:
        return nbrs

    def allocate(R: Array, extra_capacity: int = 0, **kw) -> partition.NeighborList:
        if R.shape[0] != n_atoms:
            raise ValueError(f"this list is for {n_atoms} particles, not {R.shape[0]}")
        error = partition.PartitionError(jnp.zeros((), jnp.uint8))
        return partition.NeighborList(idx, R, error, None, idx.shape[1],
                                      partition.OrderedSparse, None, None, update)

    return partition.NeighborListFns(allocate, update)

# --- overflow: the one recovery path -----------------------------------------------------------


class NeighborListOverflowError(RuntimeError):
    """A neighbour list kept overflowing after every re-allocation allowed."""


def allocate(neighbor_fn: partition.NeighborFn, R: Array, extra_capacity: int = 0,
             replicas: bool = False) -> partition.NeighborList:
    """A neighbour list for ``R: [n_atoms, 3]`` with ``extra_capacity`` spare slots per atom
    (jax_md's meaning); with ``replicas``, ``R: [n_replicas, n_atoms, 3]`` and one list per
    replica, all with the capacity of the largest any of them needs (stacked along axis 0)."""
    if not replicas:
        return neighbor_fn.allocate(R, extra_capacity=extra_capacity)
    lists = [neighbor_fn.allocate(r, extra_capacity=extra_capacity) for r in R]
    biggest = max(lists, key=lambda n: n.idx.shape[-1])
    return jax.vmap(lambda r: biggest.update(r))(R)


def extra_capacity(neighbor: partition.NeighborList, attempt: int = 0) -> int:
    """The capacity-growth rule: the ``extra_capacity`` (slots per atom, as jax_md's
    ``allocate`` counts them) for re-allocation number ``attempt`` (0, 1, ...) after
    ``neighbor`` overflowed: a quarter of its current slots per atom, times ``attempt + 1``,
    at least 1. On top of a fresh count of the pairs, so even the first attempt has room for a
    denser liquid than the one that overflowed."""
    n_atoms = neighbor.reference_position.shape[-2]
    slots = neighbor.idx.shape[-1]
    per_atom = slots / n_atoms if partition.is_sparse(neighbor.format) else slots
    return max(1, int(0.25 * per_atom * (attempt + 1)))


def overflowed(flag: Any) -> bool:
    """True if ``flag`` (a neighbour list, or an overflow flag, with replica axes or not) says
    that a buffer overflowed. Synchronises with the device."""
    if isinstance(flag, partition.NeighborList):
        flag = flag.did_buffer_overflow
    return bool(jnp.any(flag))


def retry_on_overflow(call: Callable[[partition.NeighborList], tuple[T, Any]],
                      neighbor: partition.NeighborList,
                      reallocate: Callable[[int], partition.NeighborList], *,
                      max_reallocations: int = MAX_REALLOCATIONS
                      ) -> tuple[T, partition.NeighborList]:
    """Call ``call(neighbor) -> (out, overflow)`` and, while ``overflow`` (a flag or a list,
    see ``overflowed``) says the list overflowed, make a larger one with
    ``reallocate(extra_capacity)`` and call again from the same inputs.

    ``call`` must start from the inputs it started from the first time (only the list
    changes), so a repeated call gives what a call with an ample list would have given; it
    should also recompute anything derived from the old list (forces). ``reallocate(extra)``
    typically is ``lambda extra: allocate(neighbor_fn, R_start, extra)``; ``extra`` follows
    ``extra_capacity``, growing with every attempt.

    Returns ``(out, the list the successful call used)``. Raises
    ``NeighborListOverflowError`` when the list still overflows after ``max_reallocations``
    re-allocations (a collapsing or exploding system).
    """
    for attempt in range(max_reallocations + 1):
        out, overflow = call(neighbor)
        if not overflowed(overflow):
            return out, neighbor
        if attempt < max_reallocations:
            neighbor = reallocate(extra_capacity(neighbor, attempt))
    raise NeighborListOverflowError(
        f"neighbour list still overflowing after {max_reallocations} re-allocations (last "
        f"capacity {neighbor.idx.shape[-1]} slots); the system is probably collapsing or "
        "exploding: check the potential, the time step and the density")
