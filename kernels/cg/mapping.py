"""Linear CG maps of positions and forces (Noid et al., J. Chem. Phys. 128, 244114 (2008),
"The multiscale coarse-graining method. I").

Position map: bead ``I`` sits at ``R_I = sum_i c_Ii r_i`` with ``sum_i c_Ii = 1`` (a centre of
mass, a centre of geometry, or one atom such as the C-alpha).

Force map: ``F_I = sum_i d_Ii f_i``. For the mapped force to be an unbiased sample of the mean
force ``-dW/dR_I`` (so that force matching is variational: Noid 2008, consistency in
configuration space), the force map must move exactly one bead: ``sum_i d_Ii c_Ji =
delta_IJ``. Shifting the atoms by ``d_I . x`` then shifts ``R_I`` by ``x`` and no other bead,
and that change of variables (a constant shift, Jacobian 1) in the constrained partition
function gives ``-dW/dR_I = < sum_i d_Ii f_i >_R``.

The force map used here: every atom belongs to exactly one bead (its *assignment*, also the
atoms with zero position weight such as the side chain of a C-alpha bead), ``c_Ii = 0`` unless
atom ``i`` belongs to ``I``, and ``d_Ii = 1`` if atom ``i`` belongs to ``I`` (0 otherwise): the
bead force is the sum of the forces on its atoms. Then ``sum_i d_Ii c_Ji = sum_{i in I} c_Ji``,
which is ``sum_i c_Ii = 1`` for ``J = I`` and 0 for ``J != I`` (``c_Ji`` vanishes outside ``J``):
consistent for centre-of-mass, centre-of-geometry and C-alpha maps alike. Summing all of a
bead's atoms (rather than only those with position weight) cancels the bead's internal forces
(Newton's third law), which lowers the noise of the mapped force without biasing its mean. With
each atom in at most one bead the map is also consistent in momentum space if bead ``I`` has the
mass ``M_I = (sum_i c_Ii^2 / m_i)^-1`` (Noid 2008, consistency in momentum space; the bead's
total mass for a centre of mass, the C-alpha's own mass for a C-alpha bead).

Shapes: positions and forces ``[..., n_atoms, 3]`` (leading axes such as frames), maps
``[n_beads, n_atoms]``; results ``[..., n_beads, 3]``. Units are those of the inputs.
"""

from __future__ import annotations

import jax.numpy as jnp

Array = jnp.ndarray


def map_positions(R: Array, c: Array, box: Array | None = None) -> Array:
    """Bead positions ``R_I = sum_i c_Ii r_i``.

    Args:
      R: ``[..., n_atoms, 3]`` atom positions (length).
      c: ``[n_beads, n_atoms]`` position map, rows summing to 1.
      box: None (free space), or the periodic box side(s) ``[]`` or ``[3]`` (length). Atoms
        may then be wrapped: each atom is first moved to the periodic image nearest to its
        bead's first atom (the first atom with ``c_Ii != 0``), so that a bead never straddles
        the boundary, and the bead positions are wrapped back into ``[0, box)``. This needs each
        atom's weight in one bead (a hard map) and beads smaller than half the box.

    Returns:
      ``[..., n_beads, 3]`` bead positions (length).
    """
    R, c = jnp.asarray(R), jnp.asarray(c)
    if box is None:
        return jnp.einsum("Ii,...id->...Id", c, R)
    box = jnp.asarray(box, R.dtype)
    first = jnp.argmax(c != 0, axis=1)  # [n_beads]: the anchor atom of each bead
    anchor = first[jnp.argmax(jnp.abs(c), axis=0)]  # [n_atoms]: anchor of the atom's bead
    d = R - R[..., anchor, :]
    d = d - box * jnp.round(d / box)
    beads = R[..., first, :] + jnp.einsum("Ii,...id->...Id", c, d)
    return jnp.mod(beads, box)


def map_forces(F: Array, d: Array) -> Array:
    """Bead forces ``F_I = sum_i d_Ii f_i`` (module docstring for which ``d`` is consistent).

    Args:
      F: ``[..., n_atoms, 3]`` atom forces (energy / length).
      d: ``[n_beads, n_atoms]`` force map; ``assignment_matrix`` gives the sum over each bead's
        atoms.

    Returns:
      ``[..., n_beads, 3]`` mapped forces (energy / length).
    """
    return jnp.einsum("Ii,...id->...Id", jnp.asarray(d), jnp.asarray(F))


def assignment_matrix(assignment: Array, n_beads: int, dtype=jnp.float32) -> Array:
    """``[n_beads, n_atoms]`` one-hot force map ``d_Ii = 1`` if ``assignment[i] == I``, from
    ``assignment: [n_atoms]`` int bead indices."""
    return (jnp.arange(n_beads)[:, None] == jnp.asarray(assignment)[None, :]).astype(dtype)
