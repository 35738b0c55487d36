"""Internal coordinates of listed atoms: bond lengths, bond angles and dihedral angles.

Vectors between atoms come from a `jax_md.space` displacement function, so bonds that cross a
periodic boundary are measured correctly. Angles use atan2 of (|a x b|, a . b), which is accurate
near 0 and pi (unlike arccos). Dihedrals follow the IUPAC convention (IUPAC-IUB 1970, as in
Blondel & Karplus 1996 and most MD engines): for atoms i-j-k-l, looking along j -> k, the angle
is positive when the bond j-i must turn clockwise (by less than pi) to eclipse the bond k-l; cis
is 0 and trans is pi.

Shapes: `R` is `[n, dim]` or has leading batch axes `[..., n, dim]` (e.g. frames); index arrays
are int `[m, 2]`, `[m, 3]`, `[m, 4]`; results are `[..., m]`. Units: lengths in the unit of
`R`, angles in radians. Everything is differentiable (except at degenerate, collinear geometry).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array
from jax_md import space

DisplacementFn = Callable[..., Array]


def displacements(displacement_fn: DisplacementFn, Ra: Array, Rb: Array) -> Array:
    """`displacement_fn(Ra, Rb)` (= Ra - Rb, minimum image) over matching leading axes.

    Args:
      Ra, Rb: `[..., dim]` positions of the same shape.

    Returns:
      `[..., dim]` displacement vectors (length).
    """
    lead, dim = Ra.shape[:-1], Ra.shape[-1]
    d = jax.vmap(displacement_fn)(Ra.reshape(-1, dim), Rb.reshape(-1, dim))
    return d.reshape(*lead, dim)


def angle_between(a: Array, b: Array) -> Array:
    """Angle in [0, pi] between vectors `a`, `b` `[..., 3]` (radians)."""
    return jnp.arctan2(space.distance(jnp.cross(a, b)), jnp.sum(a * b, axis=-1))


def bond_lengths(displacement_fn: DisplacementFn, R: Array, bonds: Array) -> Array:
    """Lengths of `bonds: [n_bonds, 2]` int for `R: [..., n, dim]`: `[..., n_bonds]` (length)."""
    bonds = jnp.asarray(bonds)
    d = displacements(displacement_fn, R[..., bonds[:, 0], :], R[..., bonds[:, 1], :])
    return space.distance(d)


def angles(displacement_fn: DisplacementFn, R: Array, triplets: Array) -> Array:
    """Bond angles i-j-k (vertex j, the middle index) for `triplets: [m, 3]` int.

    Args:
      displacement_fn: `jax_md.space` displacement function.
      R: positions `[..., n, 3]`.
      triplets: `[m, 3]` atom indices `(i, j, k)`.

    Returns:
      `[..., m]` angles in radians, in [0, pi].
    """
    t = jnp.asarray(triplets)
    Rj = R[..., t[:, 1], :]
    a = displacements(displacement_fn, R[..., t[:, 0], :], Rj)
    b = displacements(displacement_fn, R[..., t[:, 2], :], Rj)
    return angle_between(a, b)


def dihedrals(displacement_fn: DisplacementFn, R: Array, quads: Array) -> Array:
    """Dihedral (torsion) angles i-j-k-l about the j-k bond for `quads: [m, 4]` int.

    Args:
      displacement_fn: `jax_md.space` displacement function.
      R: positions `[..., n, 3]`.
      quads: `[m, 4]` atom indices `(i, j, k, l)`.

    Returns:
      `[..., m]` dihedrals in radians, in (-pi, pi], IUPAC sign convention (module docstring).
    """
    q = jnp.asarray(quads)
    Ri, Rj, Rk, Rl = (R[..., q[:, c], :] for c in range(4))
    b1 = displacements(displacement_fn, Rj, Ri)
    b2 = displacements(displacement_fn, Rk, Rj)
    b3 = displacements(displacement_fn, Rl, Rk)
    n1 = jnp.cross(b1, b2)
    n2 = jnp.cross(b2, b3)
    y = space.distance(b2) * jnp.sum(b1 * n2, axis=-1)
    x = jnp.sum(n1 * n2, axis=-1)
    phi = jnp.arctan2(y, x)
    return jnp.where(phi <= -jnp.pi, phi + 2.0 * jnp.pi, phi)
