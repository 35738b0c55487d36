"""Bond lengths, bond angles and dihedrals of hand-built configurations (also across the box)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from jax_md import space

from kernels.observables import angles, bond_lengths, dihedrals

L = 5.0
OFFSET = np.array([4.6, 4.7, 4.3])  # puts the molecules across the periodic boundary of box L


def _butane_like(phi_deg: float) -> np.ndarray:
    """Atoms i, j, k, l with j-k along +z, i along +x from j, and l at azimuth phi from +x.

    Looking along j -> k (down +z), an azimuth phi > 0 (counter-clockwise seen from +z) is a
    clockwise turn for the viewer, so the IUPAC dihedral is +phi.
    """
    phi = np.deg2rad(phi_deg)
    return np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 1.5],
            [np.cos(phi), np.sin(phi), 1.5],
        ]
    )


@pytest.mark.parametrize("phi_deg", [60.0, -120.0, 0.0, 180.0, 179.0, -179.0, 90.0])
def test_dihedral_value_and_sign(phi_deg):
    # Expected: the IUPAC dihedral of the hand-built geometry is phi itself (see _butane_like),
    # in (-pi, pi] (so trans is +pi), and it agrees mod 360 deg with ASE's Atoms.get_dihedral.
    R = _butane_like(phi_deg)
    quads = jnp.array([[0, 1, 2, 3]])
    expected = np.deg2rad(phi_deg)  # 180 must come back as +pi, not -pi
    free_disp, _ = space.free()
    np.testing.assert_allclose(dihedrals(free_disp, jnp.asarray(R), quads), [expected], atol=1e-12)
    periodic_disp, _ = space.periodic(L)
    wrapped = jnp.asarray((R + OFFSET) % L)
    np.testing.assert_allclose(dihedrals(periodic_disp, wrapped, quads), [expected], atol=1e-12)
    ase_deg = Atoms("C4", positions=R).get_dihedral(0, 1, 2, 3)
    assert abs((ase_deg - phi_deg + 180.0) % 360.0 - 180.0) < 1e-8


def test_dihedral_reverse_order_and_mirror():
    # Expected (symmetry): reading l-k-j-i gives the same dihedral; a mirror image flips its sign.
    disp, _ = space.free()
    R = jnp.asarray(_butane_like(60.0))
    forward = dihedrals(disp, R, jnp.array([[0, 1, 2, 3]]))
    backward = dihedrals(disp, R, jnp.array([[3, 2, 1, 0]]))
    mirrored = dihedrals(disp, R * jnp.array([1.0, -1.0, 1.0]), jnp.array([[0, 1, 2, 3]]))
    np.testing.assert_allclose(backward, forward, atol=1e-12)
    np.testing.assert_allclose(mirrored, -forward, atol=1e-12)


def test_angles_and_bond_lengths_of_water_across_the_box():
    # Expected: a hand-built water molecule with r(OH) = 0.9572 and angle HOH = 104.52 deg
    # (TIP3P geometry), split across the periodic boundary, for two frames (second rotated).
    r, theta = 0.9572, np.deg2rad(104.52)
    mol = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0], [r * np.cos(theta), r * np.sin(theta), 0.0]])
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    frames = jnp.asarray(np.stack([mol + OFFSET, mol @ rot.T + OFFSET]) % L)
    disp, _ = space.periodic(L)
    lengths = bond_lengths(disp, frames, jnp.array([[0, 1], [0, 2], [1, 2]]))
    hh = 2 * r * np.sin(theta / 2)  # law of cosines for the H-H distance
    np.testing.assert_allclose(lengths, [[r, r, hh]] * 2, atol=1e-12)
    ang = angles(disp, frames, jnp.array([[1, 0, 2], [0, 1, 2]]))
    h_angle = (np.pi - theta) / 2  # isosceles triangle: the two angles at H are equal
    np.testing.assert_allclose(ang, [[theta, h_angle]] * 2, atol=1e-12)


def test_dihedral_gradient_is_finite():
    # Expected: d(phi)/dR is finite away from collinear geometry; for the rotation of atom l
    # about the j-k axis, d(phi)/d(azimuth) = 1 (phi equals the azimuth, see _butane_like).
    disp, _ = space.free()

    def phi_of_azimuth(a):
        R = jnp.asarray(_butane_like(0.0)).at[3, :2].set(jnp.array([jnp.cos(a), jnp.sin(a)]))
        return dihedrals(disp, R, jnp.array([[0, 1, 2, 3]]))[0]

    np.testing.assert_allclose(jax.grad(phi_of_azimuth)(0.4), 1.0, rtol=1e-12)
