"""Molecular observables (``kernels.observables.molecular``) on configurations with known
answers: a backbone built from chosen dihedrals, flat and Boltzmann-weighted angle samples,
ideal-gas water RDFs and a random walk of known diffusion coefficient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels.observables.molecular import (
    free_energy_profile,
    oxygen_diffusivity,
    periodic_bin_centers,
    phi_psi,
    ramachandran,
    water_intramolecular_pairs,
    water_rdfs,
)


def _place(a, b, c, bond, angle, torsion):
    """Position of d with |cd| = bond, angle b-c-d, and dihedral a-b-c-d = torsion (NeRF)."""
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    d2 = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion),
                          np.sin(angle) * np.sin(torsion)])
    frame = np.stack([bc, np.cross(n, bc), n], axis=1)
    return c + frame @ d2


def _backbone(phi, psi):
    """C(i-1), N, CA, C, N(i+1) with the given phi and psi (radians), peptide-like geometry."""
    p = [np.array([0.0, 0.0, 0.0]), np.array([1.33, 0.0, 0.0]), np.array([1.8, 1.4, 0.0])]
    p.append(_place(p[0], p[1], p[2], 1.52, np.deg2rad(111.0), phi))
    p.append(_place(p[1], p[2], p[3], 1.33, np.deg2rad(116.0), psi))
    return np.array(p)


@pytest.mark.parametrize("phi_deg, psi_deg", [(-75.0, 54.0), (-150.0, 150.0), (60.0, -60.0),
                                              (180.0, 0.0)])
def test_phi_psi_of_built_backbone(phi_deg, psi_deg):
    # Expected: the dihedrals used to build the chain (IUPAC sign), also across a periodic box.
    R = _backbone(np.deg2rad(phi_deg), np.deg2rad(psi_deg))
    idx = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    got = np.degrees(np.asarray(phi_psi(space.free()[0], jnp.asarray(R), idx)))
    wrapped = jnp.asarray((R + 7.3) % 8.0)
    got_pbc = np.degrees(np.asarray(phi_psi(space.periodic(8.0)[0], wrapped, idx)))
    for g in (got, got_pbc):
        assert (g[0] - phi_deg + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-9)
        assert (g[1] - psi_deg + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-9)
    # trajectories and several residues: [frames, n, 3] with [m, 2, 4] -> [frames, m, 2]
    frames = jnp.stack([jnp.asarray(R)] * 3)
    assert phi_psi(space.free()[0], frames, idx[None].repeat(2, 0)).shape == (3, 2, 2)


def test_free_energy_of_uniform_samples_is_flat():
    # Expected: one sample at every bin centre (and at the -pi/pi seam) gives P uniform, so F = 0.
    n_bins = 24
    c = np.asarray(periodic_bin_centers(n_bins))
    phi, psi = (g.ravel() for g in np.meshgrid(c, c, indexing="ij"))
    out = ramachandran(jnp.asarray(phi), jnp.asarray(psi), kT=2.5, n_bins=n_bins)
    np.testing.assert_allclose(out["F"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["F_phi"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["F_psi"], 0.0, atol=1e-12)
    _, f = free_energy_profile(jnp.asarray(np.r_[c, np.pi, -np.pi]), kT=1.0, n_bins=n_bins)
    assert np.isfinite(f).all()  # +pi and -pi land in the same (first) bin


def test_free_energy_recovers_boltzmann_weights():
    # Expected: samples at bin centres weighted by exp(-U/kT) give F = U - min U exactly, with
    # U(phi, psi) = 1 - cos(phi) + 0.5 (1 - cos(psi - 1)); unvisited bins are +inf.
    n_bins, kT = 36, 0.6
    c = np.asarray(periodic_bin_centers(n_bins))
    phi, psi = (g.ravel() for g in np.meshgrid(c, c, indexing="ij"))
    U = 1 - np.cos(phi) + 0.5 * (1 - np.cos(psi - 1.0))
    out = ramachandran(jnp.asarray(phi), jnp.asarray(psi), kT, n_bins, weights=np.exp(-U / kT))
    np.testing.assert_allclose(out["F"].ravel(), U - U.min(), atol=1e-10)
    u_phi = 1 - np.cos(c)
    np.testing.assert_allclose(out["F_phi"], u_phi - u_phi.min(), atol=1e-10)
    _, f = free_energy_profile(jnp.asarray([0.01, 0.02]), kT, n_bins)
    assert np.isinf(np.asarray(f)).sum() == n_bins - 1


def test_water_rdfs_of_an_ideal_gas_are_one():
    # Expected: uniformly random positions have g_ab = 1 for every pair of species (within the
    # sampling noise of ~6 x 10^4 pair distances per curve and 40 frames).
    L, n_o = 20.0, 100
    key = jax.random.PRNGKey(0)
    R = jax.random.uniform(key, (40, 3 * n_o, 3), minval=0.0, maxval=L)
    is_o = np.arange(3 * n_o) % 3 == 0
    g = water_rdfs(space.periodic(L)[0], R, L**3, is_o, r_max=9.0, n_bins=9)
    for key in ("OO", "OH", "HH"):
        np.testing.assert_allclose(np.asarray(g[key])[2:], 1.0, atol=0.08)
    np.testing.assert_allclose(g["r"], np.arange(9) + 0.5)


def test_water_rdf_exclusion_removes_intramolecular_peaks():
    # Expected: rigid waters (r_OH = 1.05 Å, r_HH = 1.26 Å) at random sites: the bins [1.0, 1.1)
    # and [1.2, 1.3) hold the intramolecular pairs, which the exclusion removes exactly
    # (their counts divided by the ideal-gas counts of the bin).
    L, m = 30.0, 60
    rng = np.random.default_rng(1)
    o = rng.uniform(0, L, (m, 3))
    h1 = o + np.array([0.63, 0.84, 0.0])  # |OH| = 1.05, |H1H2| = 1.26
    h2 = o + np.array([-0.63, 0.84, 0.0])
    R = np.stack([o, h1, h2], 1).reshape(-1, 3) % L
    is_o = np.arange(3 * m) % 3 == 0
    idx = np.arange(3 * m).reshape(m, 3)
    pairs = water_intramolecular_pairs(idx[:, 0], idx[:, 1:])
    disp = space.periodic(L)[0]
    full = water_rdfs(disp, jnp.asarray(R), L**3, is_o, 2.0, 20)
    inter = water_rdfs(disp, jnp.asarray(R), L**3, is_o, 2.0, 20, exclude_pairs=pairs)
    shell = 4 / 3 * np.pi * (np.arange(1, 21) ** 3 - np.arange(20) ** 3) * 0.1**3
    expected_oh = 2 * m / (m * 2 * m / L**3 * shell[10])  # bin [1.0, 1.1)
    expected_hh = m / ((2 * m) * (2 * m - 1) / 2 / L**3 * shell[12])  # bin [1.2, 1.3)
    assert float(full["OH"][10] - inter["OH"][10]) == pytest.approx(expected_oh, rel=1e-9)
    assert float(full["HH"][12] - inter["HH"][12]) == pytest.approx(expected_hh, rel=1e-9)
    np.testing.assert_allclose(inter["OO"], full["OO"])


def test_oxygen_diffusivity_of_a_random_walk():
    # Expected: Gaussian steps of variance 2 D dt per axis give MSD = 6 D t, so D comes back
    # within the statistical error (~3% for 200 oxygens and 400 frames); the hydrogens, which
    # jump wildly, are ignored.
    D, dt, n_o = 0.05, 0.1, 200
    rng = np.random.default_rng(2)
    steps = rng.normal(0, np.sqrt(2 * D * dt), (400, 3 * n_o, 3))
    is_o = np.arange(3 * n_o) % 3 == 0
    steps[:, ~is_o] *= 30.0
    traj = np.cumsum(steps, axis=0)
    d_est, m = oxygen_diffusivity(jnp.asarray(traj), is_o, dt, max_lag=100)
    assert m.shape == (101,) and abs(float(m[0])) < 1e-12
    assert float(d_est) == pytest.approx(D, rel=0.08)
