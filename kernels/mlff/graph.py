"""Edges of a molecular graph from a jax_md neighbour list or from precomputed index arrays.

Message passing needs every edge in both directions; the workbench's neighbour lists are
``OrderedSparse`` (each pair once, ``idx[0] < idx[1]``), so ``edges`` symmetrises them. Padding
entries (index ``n_atoms``) stay padding, masked out by ``edge_mask``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax_md import partition

Array = jnp.ndarray
#: length (Å) given to padding edges, far beyond any cutoff, so that no 1/r or norm is singular
PADDING_LENGTH = 1.0e3


class Edges(NamedTuple):
    """Directed edges of one graph. senders, receivers: ``[n_edges]`` int32 (padding
    ``n_atoms``)."""

    senders: Array
    receivers: Array


def edges(neighbor: partition.NeighborList | Edges) -> Edges:
    """Directed ``Edges`` of a jax_md sparse neighbour list (``Sparse`` as is, ``OrderedSparse``
    both ways) or an ``Edges`` passed through. ``ValueError`` for a ``Dense`` list."""
    if isinstance(neighbor, Edges):
        return neighbor
    fmt = neighbor.format
    if fmt is partition.Sparse:
        return Edges(neighbor.idx[1], neighbor.idx[0])
    if fmt is partition.OrderedSparse:
        i, j = neighbor.idx
        return Edges(jnp.concatenate([i, j]), jnp.concatenate([j, i]))
    raise ValueError(f"learned force fields need a sparse neighbour list, got {fmt}")


def minimum_image(dR: Array, box: Array | None) -> Array:
    """``dR`` wrapped into the orthorhombic ``box`` (``[3]``, Å; None: free boundaries)."""
    if box is None:
        return dR
    return dR - box * jnp.round(dR / box)


def edge_vectors(positions: Array, e: Edges, box: Array | None) -> tuple[Array, Array]:
    """``(vectors [n_edges, 3], edge_mask [n_edges])`` for ``positions: [n_atoms, 3]``: vectors
    ``r_receiver - r_sender`` under the minimum image; padding edges get a vector of length
    ``PADDING_LENGTH`` and mask False."""
    n = positions.shape[0]
    mask = (e.senders < n) & (e.receivers < n) & (e.senders != e.receivers)
    R = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)])
    dR = minimum_image(R[e.receivers] - R[e.senders], box)
    far = jnp.zeros_like(dR).at[:, 0].set(PADDING_LENGTH)
    return jnp.where(mask[:, None], dR, far), mask
