"""``energy_model``: a per-atom-energy flax module (``kernels.mlff`` docstring) as an
``MLFFModel`` with the one interface every architecture shares.

The total energy (eV) is ``scale * sum_i e_i + sum_i shift[species_i]``: ``shifts``
(``[n_species]`` eV, per-species reference energies fitted by least squares before training) and
``scale`` (eV, typically the force RMS of the training set times a length) are constants of the
model, not trained, so the network learns an O(1) quantity. Parameters are cast to the
positions' dtype, so a float32 model runs in float64 for a finite-difference test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kernels.mlff.graph import Edges, edge_vectors, edges

Array = jnp.ndarray
Params = Any


class MLFFModel(NamedTuple):
    """A learned force field.

    init_fn: ``(key, positions [n_atoms, 3], neighbor, species [n_atoms], box [3] | None) ->
      params``.
    energy_fn: ``(params, positions, neighbor, species, box, strain=None) -> []`` potential
      energy in eV. ``strain``: optional ``[3, 3]`` symmetric strain tensor; every edge vector
      ``v`` becomes ``v (1 + strain)`` (a homogeneous deformation of positions and cell), so
      ``dE/dstrain / volume`` at 0 is the stress (``workbench.calculator.LearnedCalculator``).
    atom_energy_fn: the same, ``-> [n_atoms]`` per-atom energies in eV (shifts included).
    cutoff: Å; neighbour lists must hold every pair within it.
    tabulate_fn: ``params -> params`` for MD with fixed weights: the architecture's radial
      functions as cubic tables (``kernels.mlff.tables``; SchNet's filters), the same energies
      within float32 rounding and faster; the identity for architectures without tables.
      Training uses the untabulated ``params``.
    """

    init_fn: Callable[..., Params]
    energy_fn: Callable[..., Array]
    atom_energy_fn: Callable[..., Array]
    cutoff: float
    tabulate_fn: Callable[[Params], Params]


def cast_params(params: Params, dtype: Any) -> Params:
    """Floating leaves of ``params`` cast to ``dtype``; integer leaves kept."""
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating)
                        else x, params)


def energy_model(module: Any, cutoff: float, shifts: Any = None, scale: float = 1.0
                 ) -> MLFFModel:
    """``MLFFModel`` of ``module`` (see the module docstring for ``shifts`` and ``scale``)."""
    shifts = None if shifts is None else np.asarray(shifts, dtype=np.float64)

    def _inputs(positions, neighbor, species, box, strain=None):
        e = edges(neighbor)
        vectors, mask = edge_vectors(positions, e, box)
        if strain is not None:  # homogeneous deformation of every edge, minimum image kept
            eye = jnp.eye(3, dtype=positions.dtype)
            vectors = vectors @ (eye + jnp.asarray(strain, positions.dtype))
        return vectors, jnp.asarray(species, jnp.int32), e.senders, e.receivers, mask

    def init_fn(key, positions, neighbor, species, box=None):
        return module.init(key, *_inputs(positions, neighbor, species, box))

    def atom_energy_fn(params, positions, neighbor, species, box=None, strain=None):
        dtype = positions.dtype
        inputs = _inputs(positions, neighbor, species, box, strain)
        e = module.apply(cast_params(params, dtype), *inputs).astype(dtype) * scale
        if shifts is not None:
            e = e + jnp.asarray(shifts, dtype)[inputs[1]]
        return e

    def energy_fn(params, positions, neighbor, species, box=None, strain=None):
        return jnp.sum(atom_energy_fn(params, positions, neighbor, species, box, strain))

    # (not flax's Module.tabulate, a summary table)
    tabulate_fn = getattr(module, "md_tables", None) or (lambda params: params)
    return MLFFModel(init_fn, energy_fn, atom_energy_fn, float(cutoff), tabulate_fn)


__all__ = ["Edges", "MLFFModel", "cast_params", "energy_model"]
