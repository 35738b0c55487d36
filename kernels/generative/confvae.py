"""ConfVAE: conformers from a molecular graph, a conditional VAE over interatomic distances
decoded to 3D by distance geometry inside the model (Xu, Wang, Luo, Bengio, Gómez-Bombarelli &
Tang, "An end-to-end framework for molecular conformation generation via bilevel programming",
ICML 2021; the structure of the authors' public code, ``ImplicitVAE``).

Molecules are padded to one shape (``MolGraphs``): ``n`` atoms (species 0 = padding) and ``e``
edges of the *extended* graph, every pair one, two or three bonds apart (bonds, bond angles,
torsions: ``extended_edges``), each with a type (the bond's order, or "1-3", "1-4").

- **encoder** ``q(z | R, G)``: message passing on the extended graph (the authors' ``GConv``:
  ``h_i <- h_i + sum_j softplus(h_j + e_ij)``) whose edge features are the edge type's
  embedding times a learned function of the edge's length in the conformer ``R``; with the
  molecule's sum pooled in, an MLP gives the mean and log-variance of a latent ``z_i`` per atom;
- **prior** ``p(z | G)``: the same on the graph alone (no lengths);
- **decoder** ``p(d | z, G)``: message passing from ``Dense(z_i)`` and the atom's embedding;
  every edge gets a Gaussian over its length (mean, log standard deviation) from its two
  atoms' features and its type. The authors decode with a continuous normalising flow per edge
  (their CGCF); a Gaussian keeps the bilevel structure and the losses and trains in seconds on
  a CPU, at the cost of a less flexible density of one edge given the latent;
- **inner problem** (``embed``): positions ``R* = argmin_R sum_e w_e (d_e - |r_i - r_j|)^2``
  over the edges, ``w_e = alpha^(order - 1)`` (``alpha = 0.5``), by Adam from a 2D depiction of
  the molecule (RDKit's, made by the caller) with Gaussian noise along z, as the authors do;
- **outer loss** (``loss_terms``): ``kl`` (``KL(q || p)`` summed over latent dimensions, mean
  over atoms), ``nll`` (the Gaussian negative log-likelihood of the conformer's edge lengths
  under the decoder, mean over edges, nats) and ``rmsd`` (Å) of ``R*`` from the conformer
  aligned onto it (Kabsch, no reflection). Its gradient reaches the distances through the last
  step of the inner optimisation only, the first-order approximation of the authors' code
  (``ImplicitEmbed3D``: all steps but the last without gradient).
  ``loss = nll + beta kl + gamma rmsd``.

Generation (``sample``): latents from the prior, lengths drawn from the decoder, then the inner
problem with more steps. Lengths of pairs up to three bonds apart do not fix a stereocentre's
handedness: as in the paper, chirality is not controlled.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from kernels.generative.cgvae import N_ELEMENTS, gaussian_kl

Array = jnp.ndarray
#: edge types: 1-4 bond orders single, double, triple, aromatic; 5 pairs two bonds apart
#: (1-3); 6 three bonds apart (1-4); 0 padding
BOND_TYPES = {1.0: 1, 2.0: 2, 3.0: 3, 1.5: 4}
N_EDGE_TYPES = 7


def extended_edges(bonds, bond_orders, n_atoms: int, max_order: int = 3):
    """``(pairs [e, 2], types [e], orders [e])`` of every pair ``i < j`` of a molecule at most
    ``max_order`` bonds apart (shortest path), from ``bonds [n_bonds, 2]`` and their orders
    ``[n_bonds]`` (1, 2, 3 or 1.5 for aromatic). Raises ValueError for another bond order."""
    b = np.asarray(bonds, np.int64).reshape(-1, 2)
    path = np.full((n_atoms, n_atoms), np.inf)
    np.fill_diagonal(path, 0)
    path[b[:, 0], b[:, 1]] = path[b[:, 1], b[:, 0]] = 1
    for k in range(n_atoms):  # Floyd-Warshall: molecules of tens of atoms
        path = np.minimum(path, path[:, k:k + 1] + path[k:k + 1, :])
    pairs = np.argwhere(np.triu((path >= 1) & (path <= max_order)))
    orders = path[pairs[:, 0], pairs[:, 1]].astype(np.int32)
    bond_type = {}
    for (i, j), o in zip(b, np.asarray(bond_orders, float).reshape(-1), strict=True):
        if float(o) not in BOND_TYPES:
            raise ValueError(f"bond {i}-{j} has order {o}; expected 1, 2, 3 or 1.5")
        bond_type[(min(i, j), max(i, j))] = BOND_TYPES[float(o)]
    types = np.array([bond_type[(i, j)] if o == 1 else 3 + o
                      for (i, j), o in zip(pairs.tolist(), orders, strict=True)], np.int32)
    return pairs.astype(np.int32), types, orders


class MolGraphs(NamedTuple):
    """Padded molecules, every array ``[n_molecules, ...]``: species ``[n]`` (0 = padding),
    node_mask ``[n]``, edges ``[e, 2]``, edge_type ``[e]`` (0 = padding), edge_order ``[e]``,
    edge_mask ``[e]``, init ``[n, 3]`` (Å) the start of the inner problem (a 2D depiction)."""

    species: Array
    node_mask: Array
    edges: Array
    edge_type: Array
    edge_order: Array
    edge_mask: Array
    init: Array


def pad_graphs(molecules, n_atoms: int | None = None, n_edges: int | None = None) -> MolGraphs:
    """``MolGraphs`` of ``molecules``: each a mapping with ``atomic_numbers [n_atoms]``,
    ``pairs``, ``types``, ``orders`` (``extended_edges``) and ``init [n_atoms, 3]``; padded to
    ``n_atoms`` / ``n_edges`` (default: the largest). ValueError if one is larger."""
    n = max(len(m["atomic_numbers"]) for m in molecules) if n_atoms is None else n_atoms
    e = max(len(m["pairs"]) for m in molecules) if n_edges is None else n_edges
    M = len(molecules)
    out = {"species": np.zeros((M, n), np.int32), "node_mask": np.zeros((M, n), np.float32),
           "edges": np.zeros((M, e, 2), np.int32), "edge_type": np.zeros((M, e), np.int32),
           "edge_order": np.ones((M, e), np.int32), "edge_mask": np.zeros((M, e), np.float32),
           "init": np.zeros((M, n, 3), np.float32)}
    for k, m in enumerate(molecules):
        na, ne = len(m["atomic_numbers"]), len(m["pairs"])
        if na > n or ne > e:
            raise ValueError(f"molecule {k} has {na} atoms and {ne} edges; the padding holds "
                             f"{n} and {e}")
        out["species"][k, :na] = m["atomic_numbers"]
        out["node_mask"][k, :na] = 1
        out["edges"][k, :ne] = m["pairs"]
        out["edge_type"][k, :ne] = m["types"]
        out["edge_order"][k, :ne] = m["orders"]
        out["edge_mask"][k, :ne] = 1
        out["init"][k, :na] = m["init"]
    return MolGraphs(**{k: jnp.asarray(v) for k, v in out.items()})


def cast(graphs: MolGraphs, dtype) -> MolGraphs:
    """``graphs`` with its float arrays (masks, ``init``) in ``dtype``."""
    return MolGraphs(*(a.astype(dtype) if a.dtype.kind == "f" else a for a in graphs))


def take(graphs: MolGraphs, index) -> MolGraphs:
    """The molecules ``graphs[index]`` (an int or an index array)."""
    return MolGraphs(*(a[index] for a in graphs))


def edge_lengths(x: Array, edges: Array) -> Array:
    """``[e]`` lengths of ``edges [e, 2]`` in ``x [n, 3]``."""
    d = x[edges[:, 0]] - x[edges[:, 1]]
    return jnp.sqrt(jnp.sum(d ** 2, axis=-1) + 1e-12)


class _GConv(nn.Module):
    """One round ``h_i <- LayerNorm(h_i + sum_j softplus(h_j + e_ij))`` over both directions
    of every (masked) edge."""

    @nn.compact
    def __call__(self, h, edges, edge_attr, edge_mask):
        n = h.shape[0]
        snd = jnp.concatenate([edges[:, 0], edges[:, 1]])
        rcv = jnp.concatenate([edges[:, 1], edges[:, 0]])
        attr = jnp.concatenate([edge_attr, edge_attr])
        mask = jnp.concatenate([edge_mask, edge_mask])[:, None]
        msg = jax.nn.softplus(h[snd] + attr) * mask
        return nn.LayerNorm()(h + jax.ops.segment_sum(msg, rcv, num_segments=n))


class _GraphNet(nn.Module):
    """Embeddings, ``n_rounds`` of ``_GConv`` and the molecule's sum pooled back in; returns
    ``[n, 2 F]`` per atom. ``lengths [e]`` (or None) scale the edge embeddings."""

    n_features: int
    n_rounds: int

    @nn.compact
    def __call__(self, g: MolGraphs, lengths=None, extra=None):
        F = self.n_features
        h = nn.Embed(N_ELEMENTS, F)(g.species)
        if extra is not None:
            h = jnp.concatenate([h, extra], axis=-1)
            h = nn.Dense(F)(h)
        e = nn.Embed(N_EDGE_TYPES, F)(g.edge_type)
        if lengths is not None:
            e = e * nn.Dense(F)(jax.nn.softplus(nn.Dense(F)(lengths[:, None])))
        for k in range(self.n_rounds):
            h = _GConv()(h, g.edges, e, g.edge_mask)
            if k < self.n_rounds - 1:
                h = jax.nn.softplus(h)
        pooled = jnp.sum(h * g.node_mask[:, None], axis=0) / jnp.sum(g.node_mask)
        return jnp.concatenate([h, jnp.broadcast_to(pooled, h.shape)], axis=-1)


class _Gaussian(nn.Module):
    """MLP to ``(mean, log-variance)`` of ``n_out`` values."""

    n_features: int
    n_out: int

    @nn.compact
    def __call__(self, x):
        x = jax.nn.softplus(nn.Dense(self.n_features)(x))
        x = jax.nn.softplus(nn.Dense(self.n_features // 2)(x))
        out = nn.Dense(2 * self.n_out)(x)
        return out[..., :self.n_out], out[..., self.n_out:]


class ConfVAE(nn.Module):
    """The model of one (unbatched) padded molecule ``g`` (``take(graphs, k)``); module
    docstring. ``__call__(g, x, key)`` -> ``((q_mu, q_logvar), (p_mu, p_logvar), (d_mu,
    d_logsigma))``: latents ``[n, n_latent]``, edge lengths ``[e]`` (Å)."""

    n_features: int = 64
    n_latent: int = 16
    n_rounds: int = 3

    def setup(self):
        F = self.n_features
        self.encoder_net = _GraphNet(F, self.n_rounds)
        self.encoder_head = _Gaussian(F, self.n_latent)
        self.prior_net = _GraphNet(F, self.n_rounds)
        self.prior_head = _Gaussian(F, self.n_latent)
        self.latent_in = nn.Dense(F)
        self.decoder_net = _GraphNet(F, self.n_rounds)
        self.edge_head = _Gaussian(F, 1)

    def encode(self, g: MolGraphs, x: Array):
        return self.encoder_head(self.encoder_net(g, edge_lengths(x, g.edges)))

    def prior(self, g: MolGraphs):
        return self.prior_head(self.prior_net(g))

    def decode(self, g: MolGraphs, z: Array):
        """``(mean [e], log sigma [e])`` of the edge lengths (Å); sigma between 0.007 and
        7 Å."""
        h = self.decoder_net(g, extra=self.latent_in(z))
        hi, hj = h[g.edges[:, 0]], h[g.edges[:, 1]]
        t = jax.nn.one_hot(g.edge_type, N_EDGE_TYPES, dtype=h.dtype)
        mu, log_var = self.edge_head(jnp.concatenate([hi + hj, hi * hj, t], axis=-1))
        # lengths are positive; bonds are about 1-1.5 Å, 1-4 pairs up to about 4 Å
        return jax.nn.softplus(mu[:, 0] + 1.5), 5.0 * jnp.tanh(0.1 * log_var[:, 0])

    def __call__(self, g: MolGraphs, x: Array, key: Array):
        q = self.encode(g, x)
        p = self.prior(g)
        z = q[0] + jnp.exp(0.5 * q[1]) * jax.random.normal(key, q[0].shape, q[0].dtype)
        return q, p, self.decode(g, z)


def _stress(x, g: MolGraphs, d, alpha: float):
    w = g.edge_mask * alpha ** (g.edge_order - 1).astype(x.dtype)
    return jnp.sum(w * (d - edge_lengths(x, g.edges)) ** 2) / jnp.maximum(jnp.sum(w), 1.0)


def embed(g: MolGraphs, d: Array, x0: Array, n_steps: int = 200, learning_rate: float = 0.05,
          alpha: float = 0.5) -> Array:
    """Distance geometry: positions ``[n, 3]`` (Å) whose edge lengths match ``d [e]``, by
    ``n_steps`` of Adam from ``x0 [n, 3]`` (its rate decaying from ``learning_rate`` (Å) to 1 %
    along a cosine); the gradient reaches ``d`` through the last step, a plain gradient step of
    size ``learning_rate``, only (module docstring)."""
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, n_steps, alpha=0.01))
    grad = jax.grad(_stress)

    def step(carry, _):
        x, state = carry
        upd, state = opt.update(grad(x, g, jax.lax.stop_gradient(d), alpha), state)
        return (optax.apply_updates(x, upd), state), None

    (x, _), _ = jax.lax.scan(step, (x0, opt.init(x0)), None, length=n_steps - 1)
    x = jax.lax.stop_gradient(x)
    x = x - learning_rate * grad(x, g, d, alpha)
    return x * g.node_mask[:, None]


def kabsch_align(x: Array, target: Array, mask: Array) -> Array:
    """``x [n, 3]`` rotated and translated onto ``target [n, 3]`` over the atoms where
    ``mask [n]`` is 1 (least squares, proper rotations only)."""
    w = mask[:, None] / jnp.sum(mask)
    cx, ct = jnp.sum(x * w, axis=0), jnp.sum(target * w, axis=0)
    h = ((x - cx) * w).T @ (target - ct)
    u, _, vt = jnp.linalg.svd(h)
    s = jnp.sign(jnp.linalg.det(u @ vt))
    u = u.at[:, -1].multiply(s)
    return (x - cx) @ (u @ vt) + ct


def masked_rmsd(x: Array, ref: Array, mask: Array) -> Array:
    """RMSD (Å) over the atoms where ``mask [n]`` is 1, no alignment."""
    return jnp.sqrt(jnp.sum(jnp.sum((x - ref) ** 2, axis=-1) * mask) / jnp.sum(mask))


def _masked_mean(a: Array, mask: Array) -> Array:
    return jnp.sum(jnp.where(mask > 0, a, 0.0)) / jnp.sum(mask)


class Losses(NamedTuple):
    """Loss terms (module docstring): nll and kl in nats, rmsd in Å."""

    nll: Array
    kl: Array
    rmsd: Array


def start_positions(g: MolGraphs, key: Array) -> Array:
    """The inner problem's start: the depiction with unit Gaussian noise along z (Å)."""
    noise = jax.random.normal(key, g.init.shape[:-1], g.init.dtype)
    return g.init.at[..., 2].add(noise) * g.node_mask[..., None]


def loss_terms(model: ConfVAE, params, graphs: MolGraphs, x: Array, key: Array,
               n_steps: int = 200) -> Losses:
    """``Losses`` averaged over a batch: padded molecules ``graphs`` (``[b, ...]``) and one
    conformer of each, ``x [b, n, 3]`` (Å); ``n_steps`` of the inner problem."""
    keys = jax.random.split(key, x.shape[0])

    def one(g, xf, k):
        k1, k2 = jax.random.split(k)
        q, p, (mu, log_sigma) = model.apply(params, g, xf, k1)
        kl = _masked_mean(gaussian_kl(*q, *p), g.node_mask)
        d = edge_lengths(xf, g.edges)
        nll = 0.5 * ((d - mu) / jnp.exp(log_sigma)) ** 2 + log_sigma + 0.5 * jnp.log(2 * jnp.pi)
        nll = _masked_mean(nll, g.edge_mask)
        pos = embed(g, mu, start_positions(g, k2), n_steps)
        target = jax.lax.stop_gradient(kabsch_align(xf, jax.lax.stop_gradient(pos), g.node_mask))
        return Losses(nll, kl, masked_rmsd(pos, target, g.node_mask))

    return jax.tree.map(jnp.mean, jax.vmap(one)(graphs, x, keys))


def sample(model: ConfVAE, params, g: MolGraphs, key: Array, n_samples: int,
           n_steps: int = 1000, length_noise: float = 1.0) -> Array:
    """``[n_samples, n, 3]`` conformers (Å) of one padded molecule ``g``: prior latents, edge
    lengths drawn from the decoder's Gaussian (as the authors draw them from their flow;
    ``length_noise`` scales its standard deviation, 0: the mean), ``n_steps`` of the inner
    problem."""
    def draw(k):
        k1, k2, k3 = jax.random.split(k, 3)
        mu, logvar = model.apply(params, g, method=ConfVAE.prior)
        z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(k1, mu.shape, mu.dtype)
        d, log_sigma = model.apply(params, g, z, method=ConfVAE.decode)
        d = d + length_noise * jnp.exp(log_sigma) * jax.random.normal(k3, d.shape, d.dtype)
        return embed(g, jnp.maximum(d, 0.5), start_positions(g, k2), n_steps)

    return jax.vmap(draw)(jax.random.split(key, n_samples))


def init_params(model: ConfVAE, graphs: MolGraphs, key: Array, dtype=jnp.float32):
    """Initial parameters (``model.init`` on the first molecule's depiction), cast to
    ``dtype``."""
    g = take(graphs, 0)
    params = model.init(key, g, g.init, key)
    return jax.tree.map(lambda a: a.astype(dtype), params)
