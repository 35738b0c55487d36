"""The pair-MLP baseline: ``E = sum_{i<j} u_{s_i s_j}(r_ij)``, an MLP of a Gaussian radial
basis with one output per unordered species pair, times a cosine cutoff.

It is the simplest learned model (no many-body terms) and the floor that MDsim-style tables
compare message-passing models against. Module interface as ``kernels.mlff``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from kernels.mlff.radial import cosine_cutoff, gaussian_basis


class PairMLP(nn.Module):
    """Pair MLP. n_species: species count; cutoff: Å; n_basis: Gaussians on [0, cutoff];
    hidden: widths of the hidden layers (SiLU)."""

    n_species: int
    cutoff: float = 5.0
    n_basis: int = 32
    hidden: tuple[int, ...] = (64, 64)

    @nn.compact
    def __call__(self, vectors, species, senders, receivers, edge_mask):
        n_atoms = species.shape[0]
        r = jnp.linalg.norm(vectors, axis=-1)
        h = gaussian_basis(r, self.cutoff, self.n_basis)
        for width in self.hidden:
            h = jax.nn.silu(nn.Dense(width)(h))
        u = nn.Dense(self.n_species * self.n_species)(h)
        s = jnp.concatenate([species, jnp.zeros((1,), species.dtype)])
        a, b = s[senders], s[receivers]
        # symmetric in the species pair: average the (a, b) and (b, a) outputs
        pair = 0.5 * (jnp.take_along_axis(u, (a * self.n_species + b)[:, None], axis=1)
                      + jnp.take_along_axis(u, (b * self.n_species + a)[:, None], axis=1))[:, 0]
        pair = jnp.where(edge_mask, pair * cosine_cutoff(r, self.cutoff), 0.0)
        # each pair appears in both directions: half to the receiver each time
        return jax.ops.segment_sum(0.5 * pair, receivers, num_segments=n_atoms + 1)[:n_atoms]
