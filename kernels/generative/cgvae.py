"""CGVAE: backmap coarse-grained structures to atoms with an equivariant variational
auto-encoder (Wang, Xu, Cai, Miller, Smidt, Wang, Tang & Gómez-Bombarelli, "Generative
coarse-graining of molecular conformations", ICML 2022; the architecture of the authors' public
code, ``CGequiVAE``).

One molecule, a fixed mapping (every atom ``i`` in one bead ``I = bead[i]``), positions in Å:

- **encoder** ``q(z | x, X)``: PaiNN message passing on the atom graph (``kernels.mlff.painn``
  blocks, without the cross product as in the authors' encoder, whose gradient costs four
  times more on CPU), then, every round, a contraction of the atoms' scalar features into their
  bead (a continuous filter of ``|x_i - X_I|``); two MLPs give the mean and log-variance of an
  invariant latent ``z_I [n_latent]`` per bead. Atoms start from an embedding of their atomic
  number plus one of their index: the authors embed the atomic number only, which makes the
  encoder blind to which of a methyl group's three hydrogens sits where (its sum over a bead's
  atoms is the same when they trade places), so that their labelled positions can only be
  reconstructed on average, collapsed onto the C-H axis; the model is per molecule, so the
  index is a fixed label;
- **prior** ``p(z | X)``: the same message passing on the CG graph from the bead types, so that
  samples follow the CG structure (the authors' ``CGprior``);
- **decoder** ``x(X, z)``: PaiNN message passing on the CG graph from ``h_I = Dense(z_I)`` and
  ``v_I = 0``, with the cross-product message (``PaiNNMessage(cross=True)``) so that vectors
  leave the plane of three beads; a linear map of the vector channels (no bias: equivariant)
  gives ``n_channels`` vectors per bead, and atom ``i`` takes channel ``channel[i]`` (its rank
  in its bead) as its offset from its bead. Offsets are shifted so that the position map of the
  result gives back ``X`` exactly (``sum_i c_Ii x_i = X_I``; the authors' offset for centres of
  geometry, here for any weights).

The latent is invariant under rotations, reflections and translations; the decoder is
equivariant under rotations and translations of the CG structure and sees chirality (the cross
product), as a molecule's mirror image is another molecule. With two beads every equivariant
vector lies on their axis, so a two-bead decoder can only place atoms on a line: use three
beads or more.

Graphs are complete (every pair, in the dense form of ``PaiNNMessage``) with smooth cosine
cutoffs (``atom_cutoff``, ``cg_cutoff``): meant for one molecule of tens to a few hundred
atoms, as in the paper's benchmarks.

Loss of one frame (``loss_terms``): ``reconstruction`` (mean over atoms of ``|x_hat - x|^2``,
Å^2), ``kl`` (``KL(q || p)`` summed over latent dimensions, mean over beads) and ``distance``
(mean over ``pairs`` of the squared error of their distance, Å^2: the authors' graph loss on
bonds, here also on pairs two bonds apart (``distance_pairs``), which fixes bond angles and so
the hydrogens of a methyl group relative to each other);
``loss = reconstruction + beta kl + gamma distance``.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from kernels.mlff.painn import PaiNNMessage, PaiNNUpdate
from kernels.mlff.radial import bessel_basis, cosine_cutoff

Array = jnp.ndarray
#: atomic numbers embedded (1 ... 118)
N_ELEMENTS = 119


class BackmapGraph(NamedTuple):
    """The fixed topology of one molecule and its mapping (int arrays int32).

    species ``[n_atoms]`` atomic numbers; bead ``[n_atoms]`` bead of every atom; channel
    ``[n_atoms]`` rank of the atom in its bead; weights ``[n_beads, n_atoms]`` the position map
    ``c`` (rows sum to 1); bead_types ``[n_beads]``; pairs ``[n_pairs, 2]`` whose distances
    the loss matches."""

    species: Array
    bead: Array
    channel: Array
    weights: Array
    bead_types: Array
    pairs: Array


def make_graph(atomic_numbers, bead, weights, bead_types=None, pairs=None) -> BackmapGraph:
    """``BackmapGraph`` from ``atomic_numbers [n_atoms]``, ``bead [n_atoms]`` (every bead used),
    the position map ``weights [n_beads, n_atoms]``, ``bead_types [n_beads]`` (default all 0)
    and distance ``pairs [n_pairs, 2]`` (default none; ``distance_pairs``).

    Raises:
      ValueError: sizes that do not match, an empty bead, or an atomic number outside 1-118.
    """
    z = np.asarray(atomic_numbers, np.int32)
    b = np.asarray(bead, np.int32)
    c = np.asarray(weights, np.float64)
    n_beads = c.shape[0]
    if b.shape != z.shape or c.shape != (n_beads, z.size):
        raise ValueError(f"atomic_numbers {z.shape}, bead {b.shape} and weights {c.shape} do "
                         "not match")
    if np.any(z < 1) or np.any(z >= N_ELEMENTS):
        raise ValueError("atomic numbers must lie in 1-118")
    counts = np.bincount(b, minlength=n_beads)
    if b.min(initial=0) < 0 or b.max(initial=0) >= n_beads or np.any(counts == 0):
        raise ValueError(f"every atom needs a bead in 0-{n_beads - 1} and every bead an atom")
    channel = np.zeros_like(b)
    for k in range(n_beads):
        channel[b == k] = np.arange(counts[k])
    types = np.zeros(n_beads, np.int32) if bead_types is None else \
        np.asarray(bead_types, np.int32)
    pairs = np.zeros((0, 2), np.int32) if pairs is None else \
        np.asarray(pairs, np.int32).reshape(-1, 2)
    return BackmapGraph(z, b, channel, c, types, pairs)


def distance_pairs(bonds, n_atoms: int) -> np.ndarray:
    """``[n_pairs, 2]`` pairs ``i < j`` that are bonded (``bonds [n_bonds, 2]``) or two bonds
    apart (the ends of a bond angle)."""
    a = np.zeros((n_atoms, n_atoms), np.int64)
    b = np.asarray(bonds, np.int64).reshape(-1, 2)
    a[b[:, 0], b[:, 1]] = a[b[:, 1], b[:, 0]] = 1
    near = (a + a @ a) > 0
    return np.argwhere(np.triu(near, k=1)).astype(np.int32)


def _unit_and_radial(positions: Array, cutoff: float, n_rbf: int):
    """Every pair of ``positions [n, 3]``: unit vectors ``[n, n, 3]`` (receiver minus sender;
    zero on the diagonal), radial basis ``[n, n, n_rbf]`` and cutoff ``[n, n]`` (zero on the
    diagonal)."""
    d = positions[:, None, :] - positions[None, :, :]
    eye = jnp.eye(positions.shape[0], dtype=bool)
    r = jnp.sqrt(jnp.where(eye, 1.0, jnp.sum(d ** 2, axis=-1)))
    fcut = jnp.where(eye, 0.0, cosine_cutoff(r, cutoff))
    return d / r[..., None], bessel_basis(r, cutoff, n_rbf), fcut


class _MLP(nn.Module):
    features: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for k, f in enumerate(self.features):
            x = nn.Dense(f)(x)
            if k < len(self.features) - 1:
                x = jax.nn.silu(x)
        return x


class _Equivariant(nn.Module):
    """Rounds of PaiNN message (dense, every pair; ``cross``: with the cross product) and
    update; returns ``(s [n, F], v [n, 3, F])``."""

    n_features: int
    n_rounds: int
    cutoff: float
    n_rbf: int
    cross: bool = True

    @nn.compact
    def __call__(self, s, v, positions):
        F = self.n_features
        unit, rbf, fcut = _unit_and_radial(positions, self.cutoff, self.n_rbf)
        for _ in range(self.n_rounds):
            filt = nn.Dense((4 if self.cross else 3) * F)(rbf) * fcut[..., None]
            ds, dv = PaiNNMessage(F, cross=self.cross)(s, v, filt, unit)
            s, v = s + ds, v + dv
            ds, dv = PaiNNUpdate(F)(s, v)
            s, v = s + ds, v + dv
        return s, v


class CGVAE(nn.Module):
    """The model (module docstring). n_channels: at least the most atoms in one bead; n_atoms:
    atoms of the molecule; n_bead_types: bead types of the prior; lengths in Å."""

    n_channels: int
    n_atoms: int
    n_bead_types: int = 1
    n_features: int = 64
    n_latent: int = 32
    n_rbf: int = 16
    atom_cutoff: float = 5.0
    cg_cutoff: float = 12.0
    n_encoder: int = 3
    n_decoder: int = 4
    n_prior: int = 2

    def setup(self):
        F, L = self.n_features, self.n_latent
        self.atom_embed = nn.Embed(N_ELEMENTS, F)
        self.index_embed = nn.Embed(self.n_atoms, F)
        self.atom_rounds = [_Equivariant(F, 1, self.atom_cutoff, self.n_rbf, cross=False)
                            for _ in range(self.n_encoder)]
        self.contract_filter = [nn.Dense(F) for _ in range(self.n_encoder)]
        self.contract_atom = [nn.Dense(F) for _ in range(self.n_encoder)]
        self.bead_update = [_MLP((F, F)) for _ in range(self.n_encoder)]
        self.q_mu, self.q_logvar = _MLP((F, L)), _MLP((F, L))
        self.type_embed = nn.Embed(max(self.n_bead_types, 1), F)
        self.prior_rounds = _Equivariant(F, self.n_prior, self.cg_cutoff, self.n_rbf)
        self.p_mu, self.p_logvar = _MLP((F, L)), _MLP((F, L))
        self.latent_in = nn.Dense(F)
        self.decoder_rounds = _Equivariant(F, self.n_decoder, self.cg_cutoff, self.n_rbf)
        self.channels_out = nn.Dense(self.n_channels, use_bias=False)

    def encode(self, graph: BackmapGraph, x: Array, X: Array) -> tuple[Array, Array]:
        """``(mu, logvar)`` ``[n_beads, n_latent]`` of ``q(z | x, X)`` for atoms ``x [n_atoms,
        3]`` and beads ``X [n_beads, 3]`` (Å)."""
        n_beads = graph.weights.shape[0]
        index = jnp.arange(graph.species.shape[0])
        s = (self.atom_embed(graph.species) + self.index_embed(index)).astype(x.dtype)
        v = jnp.zeros(s.shape[:1] + (3,) + s.shape[1:], x.dtype)
        r_iI = jnp.linalg.norm(x - X[graph.bead], axis=-1)
        rbf_iI = bessel_basis(r_iI, self.cg_cutoff, self.n_rbf)
        H = jnp.zeros((n_beads, self.n_features), x.dtype)
        for k in range(self.n_encoder):
            s, v = self.atom_rounds[k](s, v, x)
            msg = self.contract_atom[k](s) * self.contract_filter[k](rbf_iI)
            H = H + jax.ops.segment_sum(msg, graph.bead, num_segments=n_beads)
            H = H + self.bead_update[k](H)
        return self.q_mu(H), self.q_logvar(H)

    def prior(self, graph: BackmapGraph, X: Array) -> tuple[Array, Array]:
        """``(mu, logvar)`` ``[n_beads, n_latent]`` of ``p(z | X)`` for beads ``X [n_beads,
        3]`` (Å)."""
        s = self.type_embed(graph.bead_types).astype(X.dtype)
        v = jnp.zeros(s.shape[:1] + (3,) + s.shape[1:], X.dtype)
        s, _ = self.prior_rounds(s, v, X)
        return self.p_mu(s), self.p_logvar(s)

    def decode(self, graph: BackmapGraph, X: Array, z: Array) -> Array:
        """Atoms ``[n_atoms, 3]`` (Å) from beads ``X [n_beads, 3]`` (Å) and latent ``z
        [n_beads, n_latent]``."""
        s = self.latent_in(z.astype(X.dtype))
        v = jnp.zeros(s.shape[:1] + (3,) + s.shape[1:], X.dtype)
        _, v = self.decoder_rounds(s, v, X)
        out = self.channels_out(v)                              # [n_beads, 3, n_channels]
        rel = out[graph.bead, :, graph.channel]                 # [n_atoms, 3]
        rel = rel - (graph.weights.astype(rel.dtype) @ rel)[graph.bead]
        return X[graph.bead] + rel

    def __call__(self, graph: BackmapGraph, x: Array, key: Array):
        """``(x_hat, (mu_q, logvar_q), (mu_p, logvar_p))`` of one frame ``x [n_atoms, 3]``: the
        reconstruction through one draw of ``q`` (``key``)."""
        X = graph.weights.astype(x.dtype) @ x
        mu_q, logvar_q = self.encode(graph, x, X)
        mu_p, logvar_p = self.prior(graph, X)
        z = mu_q + jnp.exp(0.5 * logvar_q) * jax.random.normal(key, mu_q.shape, x.dtype)
        return self.decode(graph, X, z), (mu_q, logvar_q), (mu_p, logvar_p)


class Losses(NamedTuple):
    """Loss terms (module docstring): reconstruction and distance in Å^2, kl in nats."""

    reconstruction: Array
    kl: Array
    distance: Array


def gaussian_kl(mu_q: Array, logvar_q: Array, mu_p: Array, logvar_p: Array) -> Array:
    """``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))`` summed over the last axis."""
    return 0.5 * jnp.sum(logvar_p - logvar_q + (jnp.exp(logvar_q) + (mu_q - mu_p) ** 2)
                         / jnp.exp(logvar_p) - 1.0, axis=-1)


def pair_distances(x: Array, pairs: Array) -> Array:
    """``[..., n_pairs]`` distances of ``pairs [n_pairs, 2]`` in ``x [..., n_atoms, 3]``."""
    return jnp.linalg.norm(x[..., pairs[:, 0], :] - x[..., pairs[:, 1], :], axis=-1)


def loss_terms(model: CGVAE, params, graph: BackmapGraph, x: Array, key: Array) -> Losses:
    """``Losses`` averaged over frames ``x [n_frames, n_atoms, 3]`` (Å), one draw each."""
    keys = jax.random.split(key, x.shape[0])

    def one(xf, k):
        x_hat, q, p = model.apply(params, graph, xf, k)
        rec = jnp.mean(jnp.sum((x_hat - xf) ** 2, axis=-1))
        kl = jnp.mean(gaussian_kl(*q, *p))
        if graph.pairs.shape[0]:
            dist = jnp.mean((pair_distances(x_hat, graph.pairs)
                             - pair_distances(xf, graph.pairs)) ** 2)
        else:
            dist = jnp.zeros((), xf.dtype)
        return Losses(rec, kl, dist)

    return jax.tree.map(jnp.mean, jax.vmap(one)(x, keys))


def reconstruct(model: CGVAE, params, graph: BackmapGraph, x: Array) -> Array:
    """Reconstructions ``[n_frames, n_atoms, 3]`` of ``x [n_frames, n_atoms, 3]`` (Å) through the
    posterior mean (no noise)."""
    def one(xf):
        X = graph.weights.astype(xf.dtype) @ xf
        mu, _ = model.apply(params, graph, xf, X, method=CGVAE.encode)
        return model.apply(params, graph, X, mu, method=CGVAE.decode)

    return jax.vmap(one)(x)


def sample(model: CGVAE, params, graph: BackmapGraph, X: Array, key: Array,
           n_samples: int) -> Array:
    """``[n_frames, n_samples, n_atoms, 3]`` atoms (Å) drawn for CG frames ``X [n_frames,
    n_beads, 3]`` (Å): latents from the prior ``p(z | X)``, decoded."""
    keys = jax.random.split(key, X.shape[0] * n_samples).reshape(X.shape[0], n_samples, -1)

    def one(Xf, ks):
        mu, logvar = model.apply(params, graph, Xf, method=CGVAE.prior)

        def draw(k):
            z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(k, mu.shape, Xf.dtype)
            return model.apply(params, graph, Xf, z, method=CGVAE.decode)

        return jax.vmap(draw)(ks)

    return jax.vmap(one)(X, keys)


def init_params(model: CGVAE, graph: BackmapGraph, key: Array, dtype=jnp.float32):
    """Initial parameters (``model.init`` on a dummy frame), cast to ``dtype``."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(graph.species.size, 3)), dtype)
    params = model.init(key, graph, x, key)
    return jax.tree.map(lambda a: a.astype(dtype), params)
