"""The linear backmapping baseline: every atom a fixed linear combination of the beads, fitted
by least squares (the "linear projection" baseline of CGVAE, Wang et al., ICML 2022).

Frames are centred on the centroid of their beads (the plain mean of ``X``, which the beads
alone give, whatever the mapping's weights): ``x - Xbar = D (X - Xbar)`` with ``D [n_atoms,
n_beads]`` minimising ``sum_frames |x - Xbar - D (X - Xbar)|^2``, ``D = (sum x Y^T)(sum Y
Y^T)^+``, ``Y = X - Xbar`` (a pseudo-inverse: centred beads are linearly dependent). ``D``
acts on the atom index only, so the map commutes with rotations and translations of the CG
frame; with one bead per atom it is exact. ``kernels.cg.autograin.least_squares_decoder`` is
the same fit centred on the atoms' centre of mass, which a CG frame does not give in general.
"""

from __future__ import annotations

import jax.numpy as jnp

from kernels.cg.mapping import map_positions

Array = jnp.ndarray


def fit(x: Array, weights: Array) -> Array:
    """``D [n_atoms, n_beads]`` from atom frames ``x [n_frames, n_atoms, 3]`` (length) and the
    position map ``weights [n_beads, n_atoms]``."""
    X = map_positions(x, weights.astype(x.dtype))
    centre = jnp.mean(X, axis=1, keepdims=True)
    Y, xc = X - centre, x - centre
    xy = jnp.einsum("tid,tId->iI", xc, Y)
    yy = jnp.einsum("tId,tJd->IJ", Y, Y)
    return xy @ jnp.linalg.pinv(yy, hermitian=True)


def backmap(D: Array, X: Array) -> Array:
    """Atoms ``[..., n_atoms, 3]`` from beads ``X [..., n_beads, 3]`` (length) with ``D``."""
    centre = jnp.mean(X, axis=-2, keepdims=True)
    return jnp.einsum("iI,...Id->...id", D.astype(X.dtype), X - centre) + centre
