"""CG position and force maps (kernels.cg.mapping): the mapped force of a harmonic toy system is
the analytic mean force, and a bead never straddles a periodic boundary."""

import jax
import jax.numpy as jnp
import numpy as np

from kernels.cg.mapping import assignment_matrix, map_forces, map_positions

K_IN, K_X, KT = 2.0, 1.0, 1.0  # energy / length^2 and energy (reduced units)
#: The toy: beads A = {a1, a2} and B = {b1, b2}, springs of zero rest length a1-a2 and b1-b2
#: (K_IN) and a2-b1 (K_X). With R_A, R_B the centres, s_A = a2 - a1, s_B = b2 - b1 and
#: D = R_A - R_B, u = K_IN/2 (s_A^2 + s_B^2) + K_X/2 |D + (s_A + s_B)/2|^2. Integrating out
#: t = (s_A + s_B)/2 (stiffness 2 K_IN) leaves springs 2 K_IN and K_X in series: the PMF is
#: K_EFF/2 |D|^2 with 1/K_EFF = 1/K_X + 1/(2 K_IN), so the mean force on A is -K_EFF D.
K_EFF = 1.0 / (1.0 / K_X + 1.0 / (2.0 * K_IN))  # = 0.8
ASSIGNMENT = np.array([0, 0, 1, 1])
C = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])  # equal masses: centres


def toy_energy(x):
    """``u`` of the toy for atom positions ``x [4, 3]`` (a1, a2, b1, b2)."""
    a1, a2, b1, b2 = x
    sq = lambda v: jnp.sum(v * v)
    return 0.5 * K_IN * (sq(a2 - a1) + sq(b2 - b1)) + 0.5 * K_X * sq(a2 - b1)


def harmonic_dimers(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, forces) [n, 4, 3]`` of the toy drawn exactly from its Boltzmann
    distribution at KT: ``(D, s_A, s_B)`` per Cartesian component is Gaussian with covariance
    ``KT H^-1`` (``H`` the Hessian of ``u`` in those variables), the centre uniform."""
    h = np.array([[K_X, K_X / 2, K_X / 2],
                  [K_X / 2, K_IN + K_X / 4, K_X / 4],
                  [K_X / 2, K_X / 4, K_IN + K_X / 4]])
    rng = np.random.default_rng(seed)
    d, s_a, s_b = np.moveaxis(rng.multivariate_normal(np.zeros(3), KT * np.linalg.inv(h),
                                                      size=(n, 3)), -1, 0)  # each [n, 3]
    centre = rng.uniform(-5.0, 5.0, size=(n, 3))
    r_a, r_b = centre + d / 2, centre - d / 2
    x = np.stack([r_a - s_a / 2, r_a + s_a / 2, r_b - s_b / 2, r_b + s_b / 2], axis=1)
    forces = -jax.vmap(jax.grad(toy_energy))(jnp.asarray(x))
    return x, np.asarray(forces)


def test_mapped_force_of_harmonic_toy_is_the_analytic_mean_force():
    x, f = harmonic_dimers(20000)
    beads = np.asarray(map_positions(x, C))
    forces = np.asarray(map_forces(f, assignment_matrix(ASSIGNMENT, 2, jnp.float64)))
    d = beads[:, 0] - beads[:, 1]
    # internal forces cancel: the bead forces are -+ K_X (a2 - b1), and the pair's total is 0
    np.testing.assert_allclose(forces[:, 0], -K_X * (x[:, 1] - x[:, 2]), atol=1e-12)
    np.testing.assert_allclose(forces.sum(axis=1), 0.0, atol=1e-12)
    # the conditional mean <F_A | D> = -K_EFF D: least-squares slope over 3 x 20,000 samples;
    # its standard error is sqrt(K_X^2 / (2 K_IN + K_X) / (60000 * KT / K_EFF)) = 0.0016
    slope = np.sum(forces[:, 0] * d) / np.sum(d * d)
    assert abs(slope + K_EFF) < 0.01, slope
    # and the noise about it has the variance of K_X t given D: K_X^2 KT / (2 K_IN + K_X)
    noise = forces[:, 0] + K_EFF * d
    np.testing.assert_allclose(noise.var(), K_X**2 * KT / (2 * K_IN + K_X), rtol=0.03)


def test_bead_across_the_boundary_is_whole():
    # two atoms 0.2 apart across the x boundary of a box of 5: their centre is at x = 0
    # (wrapped into [0, 5)), not at 2.5 as a naive average of wrapped positions would put it
    box = jnp.array([5.0, 5.0, 5.0])
    R = jnp.array([[[4.9, 1.0, 1.0], [0.1, 1.2, 1.0], [2.0, 2.0, 2.0]]])
    c = jnp.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    beads = np.asarray(map_positions(R, c, box))[0]
    x = beads[0, 0] if beads[0, 0] < 2.5 else beads[0, 0] - 5.0
    np.testing.assert_allclose([x, *beads[0, 1:]], [0.0, 1.1, 1.0], atol=1e-12)
    np.testing.assert_allclose(beads[1], [2.0, 2.0, 2.0], atol=1e-12)
    # unweighted atoms (a C-alpha map's side chain) do not move the bead
    c_alpha = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(map_positions(R, c_alpha, box))[0, 0],
                               [4.9, 1.0, 1.0], atol=1e-12)
