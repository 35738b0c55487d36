"""h(r) and the angle distribution function against numpy and hand-built configurations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.observables import angle_distribution, bond_length_distribution, count_neighbors


def test_bond_length_distribution_matches_numpy_density():
    # Expected: np.histogram(lengths, bins, density=True) of the known bond lengths (drawn
    # around 1.0 and 1.5), with bonds stretched across the periodic boundary of a box L = 6.
    rng = np.random.default_rng(0)
    L, frames, n_mol = 6.0, 5, 20
    lengths = np.concatenate(
        [rng.normal(1.0, 0.05, (frames, n_mol)), rng.normal(1.5, 0.08, (frames, n_mol))], axis=1
    )
    a = rng.uniform(0, L, (frames, 2 * n_mol, 3))
    u = rng.standard_normal((frames, 2 * n_mol, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    b = a + lengths[..., None] * u
    R = np.concatenate([a, b], axis=1) % L  # atoms 0..2m-1 bonded to 2m..4m-1
    bonds = np.stack([np.arange(2 * n_mol), np.arange(2 * n_mol) + 2 * n_mol], axis=1)
    disp, _ = space.periodic(L)
    r_range, n_bins = (0.6, 2.0), 28
    r, h = bond_length_distribution(disp, jnp.asarray(R), jnp.asarray(bonds), r_range, n_bins)
    h_np, edges = np.histogram(lengths.ravel(), np.linspace(*r_range, n_bins + 1), density=True)
    np.testing.assert_allclose(h, h_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r, 0.5 * (edges[1:] + edges[:-1]), atol=1e-12)
    np.testing.assert_allclose(jnp.sum(h) * (r[1] - r[0]), 1.0, rtol=1e-12)
    # The smeared version with a tiny width is the same histogram (samples are not near edges
    # within 1e-9, with probability ~1).
    _, h_s = bond_length_distribution(
        disp, jnp.asarray(R), jnp.asarray(bonds), r_range, n_bins, sigma=1e-9
    )
    np.testing.assert_allclose(h_s, h_np, rtol=1e-8, atol=1e-10)


def test_all_pair_hr_matches_mdsim_definition():
    # Expected: MDsim's get_hr (Fu et al. 2022): np.histogram of all cdist distances (ordered
    # pairs, self-distances included) with bins from 1e-6 and density=True.
    rng = np.random.default_rng(1)
    traj = rng.normal(0.0, 1.2, (6, 12, 3))
    bins = np.linspace(1e-6, 6.0, 61)
    cdist = np.linalg.norm(traj[:, :, None] - traj[:, None, :], axis=-1)
    h_np, _ = np.histogram(cdist.ravel(), bins, density=True)
    disp, _ = space.free()
    _, h = bond_length_distribution(disp, jnp.asarray(traj), None, (1e-6, 6.0), 60)
    np.testing.assert_allclose(h, h_np, rtol=1e-10, atol=1e-12)


def test_angle_distribution_of_hand_built_configuration():
    # Expected: centre at the origin with neighbours at +x, +y, -x (distance 1, r_cut 1.2; the
    # neighbours are >= sqrt(2) apart so they see only the centre): angles 90, 90, 180 deg.
    # With 9 bins of 20 deg the density is 2/(3*20) in [80, 100) and 1/(3*20) in [160, 180].
    R = jnp.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    disp, _ = space.free()
    theta, p = angle_distribution(disp, R, r_cut=1.2, n_bins=9)
    expected = np.zeros(9)
    expected[4], expected[8] = 2 / 60, 1 / 60
    np.testing.assert_allclose(theta, np.arange(10, 180, 20), atol=1e-12)
    np.testing.assert_allclose(p, expected, atol=1e-12)
    # In radians the same counts, per radian.
    theta_r, p_r = angle_distribution(disp, R, r_cut=1.2, n_bins=9, degrees=False)
    np.testing.assert_allclose(theta_r, np.deg2rad(theta), atol=1e-12)
    np.testing.assert_allclose(p_r, expected * 180 / np.pi, atol=1e-10)


def _numpy_adf_angles(R: np.ndarray, L: float, r_cut: float) -> np.ndarray:
    """All angles j-i-k (deg) over neighbour pairs j < k of each centre i, by explicit loops."""
    out = []
    for i in range(len(R)):
        d = R - R[i]
        d -= L * np.round(d / L)
        dist = np.linalg.norm(d, axis=-1)
        nb = [j for j in range(len(R)) if j != i and dist[j] < r_cut]
        for j, k in itertools.combinations(nb, 2):
            c = d[j] @ d[k] / (dist[j] * dist[k])
            out.append(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
    return np.array(out)


def test_angle_distribution_matches_numpy_loops():
    # Expected: np.histogram(density=True) of angles from an explicit triple loop (numpy,
    # minimum image), for two frames of random positions; also with max_neighbors set to the
    # largest neighbour count, and smeared with a tiny sigma.
    rng = np.random.default_rng(2)
    L, n, r_cut, n_bins = 4.0, 40, 1.5, 18
    R = rng.uniform(0.0, L, (2, n, 3))
    disp, _ = space.periodic(L)
    angles_np = np.concatenate([_numpy_adf_angles(Rf, L, r_cut) for Rf in R])
    p_np, _ = np.histogram(angles_np, np.linspace(0, 180, n_bins + 1), density=True)
    _, p = angle_distribution(disp, jnp.asarray(R), r_cut, n_bins)
    np.testing.assert_allclose(p, p_np, rtol=1e-10, atol=1e-12)
    k_max = int(max(count_neighbors(disp, jnp.asarray(Rf), r_cut).max() for Rf in R))
    _, p_k = angle_distribution(disp, jnp.asarray(R), r_cut, n_bins, max_neighbors=k_max)
    np.testing.assert_allclose(p_k, p_np, rtol=1e-10, atol=1e-12)
    _, p_s = angle_distribution(disp, jnp.asarray(R), r_cut, n_bins, sigma=1e-9)
    np.testing.assert_allclose(p_s, p_np, rtol=1e-6, atol=1e-9)


def test_count_neighbors_matches_numpy():
    # Expected: explicit numpy count of minimum-image distances below r_cut, excluding self.
    rng = np.random.default_rng(3)
    L, r_cut = 4.0, 1.3
    R = rng.uniform(0.0, L, (50, 3))
    d = R[:, None] - R[None]
    d -= L * np.round(d / L)
    expected = np.sum(np.linalg.norm(d, axis=-1) < r_cut, axis=1) - 1
    disp, _ = space.periodic(L)
    np.testing.assert_array_equal(count_neighbors(disp, jnp.asarray(R), r_cut), expected)


def test_smooth_angle_distribution_gradient_is_finite():
    # Expected: the smeared ADF is differentiable: the gradient of a scalar loss is finite and
    # equals a central finite difference along a random direction (float64, h = 1e-5).
    rng = np.random.default_rng(4)
    L = 3.0
    R = jnp.asarray(rng.uniform(0.0, L, (12, 3)))
    disp, _ = space.periodic(L)

    @jax.jit
    def loss(R):
        _, p = angle_distribution(disp, R, 1.4, 12, sigma=10.0)
        return jnp.sum(p**2) * 1e3

    g = jax.jit(jax.grad(loss))(R)
    assert np.all(np.isfinite(g))
    v = jnp.asarray(rng.standard_normal(R.shape))
    fd = (loss(R + 1e-5 * v) - loss(R - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(jnp.sum(g * v), fd, rtol=1e-5)
