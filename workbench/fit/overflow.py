"""Neighbour-list overflow in a fit, handled in one place (``with_growing_capacity``) so that
it can be swapped for the single overflow path of ``kernels.neighbors`` when that lands.

Overflow is never silent (DESIGN.md): a call whose neighbour list overflowed is repeated with
a larger list, a few times, and then the fit fails with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_REALLOCATIONS = 6


def with_growing_capacity(attempt: Callable[[int], tuple[Any, bool, Any]], n_atoms: int,
                          failure: str) -> Any:
    """``attempt(extra)`` with ``extra`` (neighbour slots added to the list's capacity) 0
    first; it returns ``(result, overflowed, neighbor)`` where ``neighbor`` is the list it ran
    with (its ``idx [.., n_atoms * per_atom]``). While the list overflowed, ``extra`` grows by a
    quarter of the list's slots per atom and ``attempt`` runs again, at most
    ``MAX_REALLOCATIONS`` times; then ``RuntimeError(failure)``."""
    extra = 0
    for _ in range(MAX_REALLOCATIONS):
        result, overflowed, neighbor = attempt(extra)
        if not overflowed:
            return result
        per_atom = neighbor.idx.shape[-1] / n_atoms  # sparse lists: n_atoms * per atom
        extra += max(1, int(0.25 * per_atom))
    raise RuntimeError(failure)
