"""Force matching with a neural pair term: the mapped force is ``F = G_b(R) c + F_nn(R; theta)``,
bonded terms linear in ``c`` (``cg_force_design`` of the model without its pair term) and the
pair force of a ``kernels.learned_pair.NeuralPair`` (a repulsive prior plus a switched MLP),
summed over the model's non-excluded bead pairs within the cutoff. Both are fitted together by
gradient descent on the mean squared force error (CGnet-style force matching; Wang et al., ACS
Cent. Sci. 5, 755 (2019)); the non-linear network is what a linear least-squares solve cannot
fit.

Shapes: ``R, F: [n_beads, 3]`` per frame (batched with a leading ``[n_frames]``), ``pairs:
[2, n_pairs]`` padded with ``n_beads``, ``G_b: [n_beads * 3, n_bonded_coeffs]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.cg.force_matching import CGModel
from kernels.learned_pair import NeuralPair, pair_index_matrix

Array = jnp.ndarray


def neural_pair_energy(displacement_fn: space.DisplacementFn, model: CGModel,
                       pair: NeuralPair) -> Callable[[dict, Array, Array], Array]:
    """``energy(params, R, pairs) -> []``: the network's pair energy over the non-excluded
    pairs of ``model`` (its types and exclusions; its own pair term is not used) closer than
    ``pair.r_cutoff``."""
    n = model.n_beads
    excluded = jnp.asarray(model.excluded_matrix())
    types = jnp.asarray(np.append(model.bead_types, 0).astype(np.int32))
    pair_id = jnp.asarray(pair_index_matrix(max(model.n_bead_types, 1)))

    def energy(params: dict, R: Array, pairs: Array) -> Array:
        i, j = pairs[0], pairs[1]
        d = jax.vmap(displacement_fn)(R[jnp.minimum(i, n - 1)], R[jnp.minimum(j, n - 1)])
        r = space.distance(d)
        use = ~excluded[i, j] & (r < pair.r_cutoff)
        u = pair.pair_fn(params)(jnp.where(use, r, pair.r_cutoff), pair_id[types[i], types[j]])
        return jnp.sum(jnp.where(use, u, 0.0))

    return energy


def force_loss(displacement_fn: space.DisplacementFn, model: CGModel, pair: NeuralPair
               ) -> Callable[..., Array]:
    """``loss(params, R, F, pairs, G, free) -> []``: the mean over frames and components of
    ``(F - G c - F_nn)^2`` (force units squared) for ``params = {"c": [n_bonded], "nn":
    NeuralPair params}``, with ``R, F [n_frames, n_beads, 3]``, ``pairs [n_frames, 2, n_pairs]``,
    ``G [n_frames, 3 n_beads, n_bonded]`` and ``free [n_bonded]`` (0 for coefficients a fit
    holds at zero)."""
    energy = neural_pair_energy(displacement_fn, replace(model, pair=None), pair)
    forces = jax.vmap(jax.grad(lambda nn, R, p: -energy(nn, R, p), argnums=1),
                      in_axes=(None, 0, 0))

    def loss(params: dict, R: Array, F: Array, pairs: Array, G: Array, free: Array) -> Array:
        pred = forces(params["nn"], R, pairs).reshape(R.shape[0], -1)
        pred = pred + jnp.einsum("frk,k->fr", G, params["c"] * free)
        return jnp.mean((F.reshape(F.shape[0], -1) - pred) ** 2)

    return loss
