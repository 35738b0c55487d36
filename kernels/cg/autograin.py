"""Autograin: a coarse-graining auto-encoder that learns which atoms form each bead (Wang &
Gomez-Bombarelli, "Coarse-graining auto-encoders for molecular dynamics", npj Comput. Mater.
5, 125 (2019); the architecture and losses of their public code, the dense ``cgae`` model).

Parameters (``init_params``; a dict, so ``flax.serialization`` stores it):

- ``logits [n_atoms, n_beads]``: the encoder, one row of assignment logits per atom (the
  mapping does not depend on the configuration, as in the paper);
- ``decoder [n_atoms, n_beads]``: the linear decoder, every atom a learned linear combination
  of the bead positions, ``x_i = sum_I D_iI R_I``.

Forward pass on atom positions ``R [..., n_atoms, 3]`` (length) and forces
``F [..., n_atoms, 3]`` (energy / length):

1. centre every frame on its centre of mass (``centre``): translation drops out; the linear
   decoder acts on the atom index only, so a rotated frame decodes to the rotated atoms;
2. soft assignment ``w = gumbel_softmax(logits, temperature) [n_atoms, n_beads]`` (rows sum to
   1; ``hard=True``: one-hot rows with the soft gradient, the straight-through estimator);
3. bead positions through the position map ``c_Ii = m_i w_iI / sum_j m_j w_jI`` (each bead's
   column of mass-weighted shares normalised: a centre of mass at a hard assignment; a bead
   with no weight left sits at the centre instead of dividing by zero) with
   ``kernels.cg.mapping.map_positions``;
4. mapped forces through the force map ``d_Ii = w_iI`` (``kernels.cg.mapping.map_forces``): at a
   hard assignment the sum of each bead's atom forces, the consistent MS-CG map;
5. losses (``Losses``): ``reconstruction``, the mean over frames and atoms of ``|x - x_hat|^2``
   (length^2; its square root is the reconstruction RMSD), and ``force``, the mean over frames
   and beads of ``|F_I|^2`` ((energy / length)^2), the paper's force-matching regulariser: the
   mean force is the average of the instantaneous mapped force, so a small instantaneous norm
   means a smooth, low-noise CG force field. ``loss = reconstruction + rho * force``.

``assignment(params)`` is the hard mapping at the end (argmax of the logits, the limit of the
Gumbel-softmax as the temperature goes to 0); ``least_squares_decoder`` fits the best linear
decoder of a fixed mapping, so hand-made and learned mappings can be compared by the same
reconstruction RMSD. Every function is pure and jit-safe; ``masses [n_atoms]`` are arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kernels.cg.mapping import map_forces, map_positions

Array = jnp.ndarray
Params = dict[str, Array]

#: a bead whose summed mass-weighted share is below this is empty (sits at the centre)
EMPTY = 1e-12


class Losses(NamedTuple):
    """Loss terms of one batch: ``reconstruction`` (length^2) and ``force`` ((energy /
    length)^2), each a scalar."""

    reconstruction: Array
    force: Array


def init_params(key: Array, n_atoms: int, n_beads: int, dtype=jnp.float32) -> Params:
    """Encoder logits and decoder weights ``[n_atoms, n_beads]``, uniform in [0, 1) as in the
    reference code (near-uniform assignments at the start, so every bead gets atoms)."""
    k_enc, k_dec = jax.random.split(key)
    return {"logits": jax.random.uniform(k_enc, (n_atoms, n_beads), dtype),
            "decoder": jax.random.uniform(k_dec, (n_atoms, n_beads), dtype)}


def gumbel_softmax(key: Array | None, logits: Array, temperature: float | Array,
                   hard: bool = False) -> Array:
    """Gumbel-softmax relaxation of a categorical draw per row (Jang, Gu & Poole, ICLR 2017).

    Args:
      key: ``jax.random`` key for the Gumbel noise, or None for none (``softmax(logits / T)``).
      logits: ``[..., n_beads]``.
      temperature: ``T > 0``; low: nearly one-hot rows, high: nearly uniform rows.
      hard: one-hot rows forward, the soft rows' gradient backward (straight-through).

    Returns:
      ``[..., n_beads]`` rows summing to 1, in ``logits``' dtype.
    """
    y = logits
    if key is not None:
        y = y + jax.random.gumbel(key, logits.shape, logits.dtype)
    y = jax.nn.softmax(y / temperature, axis=-1)
    if hard:
        one_hot = jax.nn.one_hot(jnp.argmax(y, axis=-1), y.shape[-1], dtype=y.dtype)
        y = one_hot + (y - jax.lax.stop_gradient(y))  # exactly one-hot forward
    return y


def position_map(weights: Array, masses: Array) -> Array:
    """``c [n_beads, n_atoms]`` with ``c_Ii = m_i w_iI / sum_j m_j w_jI`` from the assignment
    ``weights [n_atoms, n_beads]`` and ``masses [n_atoms]`` (module docstring; an empty bead's
    row is 0)."""
    mw = weights.T * masses[None, :].astype(weights.dtype)
    total = jnp.sum(mw, axis=1, keepdims=True)
    return mw / jnp.where(total > EMPTY, total, 1.0)


def centre(R: Array, masses: Array) -> Array:
    """``R [..., n_atoms, 3]`` moved so that every frame's centre of mass is at the origin."""
    m = masses.astype(R.dtype)
    com = jnp.einsum("i,...id->...d", m, R) / jnp.sum(m)
    return R - com[..., None, :]


def decode(params: Params, beads: Array) -> Array:
    """Atoms ``[..., n_atoms, 3]`` from centred beads ``[..., n_beads, 3]`` (length)."""
    return jnp.einsum("iI,...Id->...id", params["decoder"].astype(beads.dtype), beads)


def encode(params: Params, R: Array, masses: Array, key: Array | None,
           temperature: float | Array, hard: bool = False) -> tuple[Array, Array]:
    """``(weights [n_atoms, n_beads], beads [..., n_beads, 3])`` of centred positions ``R [...,
    n_atoms, 3]`` (length): the sampled soft assignment and the bead positions."""
    w = gumbel_softmax(key, params["logits"].astype(R.dtype), temperature, hard)
    return w, map_positions(R, position_map(w, masses))


def loss_terms(params: Params, R: Array, F: Array, masses: Array, key: Array | None,
               temperature: float | Array, hard: bool = False) -> Losses:
    """``Losses`` of a batch: positions ``R`` and forces ``F`` ``[n_frames, n_atoms, 3]``
    (length, energy / length; ``R`` need not be centred), ``masses [n_atoms]``, one Gumbel draw
    from ``key`` shared by the batch, as in the reference code."""
    w = gumbel_softmax(key, params["logits"].astype(R.dtype), temperature, hard)
    rec = reconstruction_msd(R, position_map(w, masses), params["decoder"], masses)
    mapped = map_forces(F.astype(w.dtype), w.T)
    return Losses(rec, jnp.mean(jnp.sum(mapped ** 2, axis=-1)))


def loss_fn(params: Params, R: Array, F: Array, masses: Array, key: Array | None,
            temperature: float | Array, rho: float | Array, hard: bool = False
            ) -> tuple[Array, Losses]:
    """``(reconstruction + rho * force, Losses)`` (``loss_terms``); ``rho`` in length^4 /
    energy^2 weighs the force-matching regulariser. For ``jax.value_and_grad(...,
    has_aux=True)``."""
    terms = loss_terms(params, R, F, masses, key, temperature, hard)
    return terms.reconstruction + rho * terms.force, terms


def assignment(params: Params) -> Array:
    """``[n_atoms]`` int bead of every atom: the argmax of its logits (the hard mapping). A bead
    may be left empty; ``workbench.coarse.autograin`` renumbers the beads that are used."""
    return jnp.argmax(params["logits"], axis=-1)


def least_squares_decoder(R: Array, c: Array, masses: Array) -> Array:
    """The linear decoder ``D [n_atoms, n_beads]`` of a fixed position map ``c [n_beads,
    n_atoms]`` that minimises ``sum_frames |X - D c X|^2`` over frames ``R [n_frames, n_atoms,
    3]`` (length), ``X`` the centred frames: ``D = (sum X Y^T)(sum Y Y^T)^+`` with ``Y = c X``
    (a pseudo-inverse, as centred beads of a centre-of-mass map are linearly dependent)."""
    X = centre(R, masses)
    Y = map_positions(X, c.astype(X.dtype))
    xy = jnp.einsum("tid,tId->iI", X, Y)
    yy = jnp.einsum("tId,tJd->IJ", Y, Y)
    return xy @ jnp.linalg.pinv(yy, hermitian=True)


def reconstruction_msd(R: Array, c: Array, decoder: Array, masses: Array) -> Array:
    """Mean over frames and atoms of ``|x - x_hat|^2`` (length^2) when frames ``R [n_frames,
    n_atoms, 3]`` are mapped with ``c [n_beads, n_atoms]`` and decoded with ``decoder [n_atoms,
    n_beads]``, both centred."""
    X = centre(R, masses)
    err = decode({"decoder": decoder}, map_positions(X, c.astype(X.dtype))) - X
    return jnp.mean(jnp.sum(err ** 2, axis=-1))
