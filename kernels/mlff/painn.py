"""PaiNN: polarizable atom interaction neural network, with scalar and vector features.

Schütt, Unke, Gastegger, "Equivariant message passing for the prediction of tensorial
properties and molecular spectra", ICML 2021 (PMLR 139, 9377); blocks and defaults as in
schnetpack 2 (``schnetpack.representation.PaiNN``):

- scalar features ``s_i = Embed(species_i)`` ``[n_features]``, vector features ``v_i = 0``
  ``[3, n_features]``;
- ``n_interactions`` rounds of a message block (eq. 7-8 of the paper: ``phi(s_j) * W(r_ij)``
  split three ways into a scalar message, a gate on ``v_j`` and a gate on the edge direction;
  ``W`` a linear map of ``n_bessel`` Bessel functions times the cosine cutoff) and an update
  block (eq. 9-11: ``U v``, ``V v``, an MLP of ``[s, |V v|]`` split into three gates);
- an atom-wise output MLP ``n_features -> n_features / 2 (SiLU) -> 1``: the per-atom energy.

Vector features are equivariant (they rotate with the structure), scalars and the energy
invariant. Module interface as ``kernels.mlff``.

Written by hand because no maintained JAX package on PyPI offers PaiNN (schnetpack is PyTorch;
InstaDeep's ``mlip`` has MACE, NequIP and ViSNet only).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from kernels.mlff.radial import bessel_basis, cosine_cutoff

Array = jnp.ndarray
#: added under the square root of |V v| so that its gradient at v = 0 is finite (schnetpack)
NORM_EPS = 1e-8


def _cross_sum(v: Array, w: Array) -> Array:
    """``sum_j v_j x w_ij`` per channel: ``v [n, 3, F]``, ``w [n, n, 3, F]`` -> ``[n, 3, F]``."""
    t = jnp.einsum("jbf,ijcf->ibcf", v, w)
    return jnp.stack([t[:, 1, 2] - t[:, 2, 1], t[:, 2, 0] - t[:, 0, 2],
                      t[:, 0, 1] - t[:, 1, 0]], axis=1)


class PaiNNMessage(nn.Module):
    """Message block. ``s: [n_atoms + 1, F]``, ``v: [n_atoms + 1, 3, F]``, ``filt: [n_edges,
    3F]`` (radial filter times cutoff, zero on padding edges; ``[n_edges, 4F]`` with
    ``cross``), ``unit: [n_edges, 3]``; returns the updates ``(ds, dv)``.

    Dense form (``senders`` and ``receivers`` None): every pair of a complete graph, edge
    arrays ``[n, n, ...]`` indexed ``[receiver, sender]`` (the diagonal's filter zero), summed
    by ``einsum`` instead of gather and scatter (one molecule of tens of atoms).

    ``cross``: a fourth gate on ``v_j x unit_ij`` (the cross-product message of the CGVAE
    decoder, Wang et al., ICML 2022), so that vectors can leave the plane of their neighbours;
    the block is then equivariant to rotations but not to reflections (it sees chirality)."""

    n_features: int
    cross: bool = False

    @nn.compact
    def __call__(self, s, v, filt, unit, senders=None, receivers=None):
        F = self.n_features
        phi = nn.Dense((4 if self.cross else 3) * F)(jax.nn.silu(nn.Dense(F)(s)))
        if senders is None:
            ps, pv, pd = phi[:, :F], phi[:, F:2 * F], phi[:, 2 * F:3 * F]
            fs, fv, fd = filt[..., :F], filt[..., F:2 * F], filt[..., 2 * F:3 * F]
            ds = jnp.einsum("jf,ijf->if", ps, fs)
            dv = (jnp.einsum("jcf,ijf->icf", v * pv[:, None, :], fv)
                  + jnp.einsum("ijc,ijf->icf", unit, pd[None] * fd))
            if self.cross:
                gate = phi[None, :, 3 * F:] * filt[..., 3 * F:]
                dv = dv + _cross_sum(v, unit[..., :, None] * gate[..., None, :])
            return ds, dv
        x = phi[senders] * filt
        ds, gate_v, gate_dir = x[:, :F], x[:, F:2 * F], x[:, 2 * F:3 * F]
        dv = v[senders] * gate_v[:, None, :] + gate_dir[:, None, :] * unit[:, :, None]
        if self.cross:
            vj = v[senders]
            dv = dv + x[:, None, 3 * F:] * jnp.cross(
                vj, jnp.broadcast_to(unit[:, :, None], vj.shape), axis=1)
        n = s.shape[0]
        return (jax.ops.segment_sum(ds, receivers, num_segments=n),
                jax.ops.segment_sum(dv, receivers, num_segments=n))


class PaiNNUpdate(nn.Module):
    """Update block. ``s: [n, F]``, ``v: [n, 3, F]``; returns ``(ds, dv)``."""

    n_features: int

    @nn.compact
    def __call__(self, s, v):
        F = self.n_features
        uv = nn.Dense(F, use_bias=False)(v)
        vv = nn.Dense(F, use_bias=False)(v)
        vnorm = jnp.sqrt(jnp.sum(vv**2, axis=-2) + NORM_EPS)
        a = nn.Dense(3 * F)(jax.nn.silu(nn.Dense(F)(jnp.concatenate([s, vnorm], axis=-1))))
        a_vv, a_sv, a_ss = a[:, :F], a[:, F:2 * F], a[:, 2 * F:]
        dv = a_vv[:, None, :] * uv
        ds = a_ss + a_sv * jnp.sum(uv * vv, axis=-2)
        return ds, dv


class PaiNN(nn.Module):
    """PaiNN (module docstring). n_species: species count; cutoff: Å; n_features: width of
    scalar and vector features; n_interactions: message + update rounds; n_bessel: Bessel
    functions. Returns ``[n_atoms]`` per-atom energies (model units)."""

    n_species: int
    cutoff: float = 5.0
    n_features: int = 128
    n_interactions: int = 3
    n_bessel: int = 20

    @nn.compact
    def __call__(self, vectors, species, senders, receivers, edge_mask):
        n_atoms = species.shape[0]
        dtype = vectors.dtype
        F = self.n_features
        r = jnp.linalg.norm(vectors, axis=-1)
        unit = vectors / r[:, None]
        rbf = bessel_basis(r, self.cutoff, self.n_bessel)
        fcut = jnp.where(edge_mask, cosine_cutoff(r, self.cutoff), 0.0).astype(dtype)
        s = nn.Embed(self.n_species, F)(
            jnp.concatenate([species, jnp.zeros((1,), species.dtype)])).astype(dtype)
        v = jnp.zeros((n_atoms + 1, 3, F), dtype)
        for _ in range(self.n_interactions):
            filt = nn.Dense(3 * F)(rbf) * fcut[:, None]
            ds, dv = PaiNNMessage(F)(s, v, filt, unit, senders, receivers)
            s, v = s + ds, v + dv
            ds, dv = PaiNNUpdate(F)(s, v)
            s, v = s + ds, v + dv
        h = jax.nn.silu(nn.Dense(max(F // 2, 1))(s[:n_atoms]))
        return nn.Dense(1)(h)[:, 0]
