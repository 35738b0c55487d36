"""A learned force field as the MD runner's energy: the adapter from the ``MLFFModel`` interface
(``energy_fn(params, positions, neighbor, species, box) -> eV``) to the runner's
(``U(R, neighbor=, strain=0., **params)``, ``kernels.runner.simulator``), with the space and the
neighbour list the model needs.

    fns = md_functions(model, box, skin=1.0)            # box [3] Å, or None: free space
    init_fn, run_fn = simulator(fns.energy_fn, fns.shift_fn, fns.displacement_fn,
                                fns.neighbor_fn, volume=..., integrator="nve")
    params = md_params(weights, species, dtype)          # {"params": pytree, "species": [n]}
    state = init_fn(key, R, mass, params, dt=dt, kT=kT)

The model's weights and the structure's species indices travel in the runner's traced
``params`` dictionary, so new weights (a model trained further, another run of the same
architecture) or another composition of the same size never recompile the chunk.

``strain`` (the runner's virial hook, ``kernels.observables.thermo``) scales the positions and
the box by ``1 + strain``: every edge vector, minimum image included, scales by it, which is
the homogeneous dilation whose derivative at 0 is the virial. Free space: the positions only.

Neighbour lists hold every pair within ``cutoff + skin`` (the model applies its own smooth
cutoff to the edges in the skin): in a periodic box ``kernels.neighbors.neighbor_list``
(jax_md's cell list, or the all-pairs rebuild for small boxes); in free space jax_md's
``partition.neighbor_list`` without a cell list (``space.free`` has no box to divide), so the
rebuild looks at all pairs (fine for molecules; clusters of thousands of atoms would want a cell
list in a bounding box). Both are ``OrderedSparse`` and overflow like every list in the
project (``kernels.neighbors.retry_on_overflow``, done by the runner).

Units: Å, eV (the model's); dtype follows the positions (``kernels.mlff.model`` casts the
weights to it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition, space

from kernels.mlff.model import MLFFModel
from kernels.neighbors import neighbor_list

Array = jnp.ndarray


class LearnedMDFunctions(NamedTuple):
    """What ``md_functions`` returns.

    energy_fn: ``U(R [n_atoms, 3], neighbor, strain=None, *, params, species [n_atoms]) -> []``
      eV, the runner's signature (``params``: the model's weights; ``species``: int32 indices
      into the model's species list).
    neighbor_fn: jax_md ``NeighborFn`` at ``cutoff + skin`` (``OrderedSparse``).
    displacement_fn, shift_fn: ``jax_md.space.periodic(box)`` or ``space.free()``.
    box: ``[3]`` Å (float64 numpy) or None.
    """

    energy_fn: Callable[..., Array]
    neighbor_fn: partition.NeighborFn
    displacement_fn: Callable
    shift_fn: Callable
    box: np.ndarray | None


def check_box(cutoff: float, box: Any) -> np.ndarray | None:
    """``box`` as a ``[3]`` float64 array (None stays None, free space); ``ValueError`` for a box
    that is not three positive lengths or whose shortest side is not longer than twice the
    model ``cutoff`` (Å): the minimum image would then miss periodic neighbours."""
    if box is None:
        return None
    box = np.asarray(box, dtype=np.float64)
    if box.ndim == 0:
        box = np.full(3, float(box), dtype=np.float64)
    if box.shape != (3,) or not np.all(np.isfinite(box)) or np.any(box <= 0):
        raise ValueError(f"box must be three positive side lengths (Å), got {box}")
    if float(box.min()) <= 2.0 * cutoff:
        raise ValueError(f"the model cutoff {cutoff:g} Å exceeds half the box ({box.min():.4g} "
                         f"Å): the minimum-image convention would miss neighbours; use a larger "
                         f"box (more molecules)")
    return box


def md_functions(model: MLFFModel, box: Any = None, *, dtype: Any = jnp.float32,
                 skin: float = 1.0, capacity_multiplier: float = 1.25) -> LearnedMDFunctions:
    """The runner's energy, neighbour list and space for ``model`` (module docstring).

    Args:
      model: ``kernels.mlff.model.MLFFModel`` (any architecture).
      box: ``[3]`` orthorhombic side lengths in Å (or a scalar for a cube); None: free space.
      dtype: floating type of the run (the positions'); the periodic space is built in it, so
        that shifted positions keep it.
      skin: neighbour-list skin in Å (pairs within ``model.cutoff + skin`` are listed; the list
        is rebuilt when an atom has moved half of it).
      capacity_multiplier: spare room of the list, as jax_md's.

    Raises ``ValueError`` for a bad box or a cutoff over half of it (``check_box``) and a
    negative skin.
    """
    if skin < 0:
        raise ValueError(f"skin must be >= 0 Å, got {skin}")
    box = check_box(model.cutoff, box)
    if box is None:
        displacement_fn, shift_fn = space.free()
        neighbor_fn = partition.neighbor_list(
            displacement_fn, 1.0, model.cutoff, skin, capacity_multiplier=capacity_multiplier,
            disable_cell_list=True, format=partition.OrderedSparse)
    else:
        displacement_fn, shift_fn = space.periodic(jnp.asarray(box, dtype))
        neighbor_fn = neighbor_list(displacement_fn, box, model.cutoff, skin,
                                    format=partition.OrderedSparse,
                                    capacity_multiplier=capacity_multiplier)

    def energy_fn(R: Array, neighbor: Any, strain: Array | None = None, *, params: Any,
                  species: Array, **unused: Any) -> Array:
        b = None if box is None else jnp.asarray(box, R.dtype)
        if strain is not None:
            factor = 1.0 + jnp.asarray(strain, R.dtype)
            R = R * factor
            b = None if b is None else b * factor
        return model.energy_fn(params, R, neighbor, species, b)

    return LearnedMDFunctions(energy_fn, neighbor_fn, displacement_fn, shift_fn, box)


def md_params(params: Any, species: Any, dtype: Any) -> dict[str, Any]:
    """The runner's ``params`` dictionary: the weights (floating leaves cast to ``dtype``, so the
    compiled step has no cast and no float64 in a float32 run) and the species indices
    (``[n_atoms]`` int32; ``[n_replicas, n_atoms]`` is not needed: replicas share them)."""
    weights = jax.tree.map(
        lambda x: jnp.asarray(x, dtype) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
        else jnp.asarray(x), params)
    return {"params": weights, "species": jnp.asarray(np.asarray(species), jnp.int32)}
