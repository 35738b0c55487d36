"""Kinetic energy, temperature and the strain-derivative virial pressure against numpy."""

import jax.numpy as jnp
import numpy as np
from jax_md import energy, smap, space

from kernels.observables import kinetic_energy, temperature, virial_pressure


def test_kinetic_energy_and_temperature():
    # Expected: K = sum m v^2 / 2 by numpy with per-atom masses; kT = 2 K / dof exactly; and for
    # Maxwell-Boltzmann velocities at kT = 1.3 the kinetic temperature with dof = 3N is 1.3
    # within 4 standard deviations of its estimator, sqrt(2 / (3N)) relative.
    rng = np.random.default_rng(0)
    n, kT = 5000, 1.3
    m = rng.uniform(1.0, 16.0, n)
    v = rng.normal(0.0, 1.0, (n, 3)) * np.sqrt(kT / m)[:, None]
    K_np = 0.5 * np.sum(m[:, None] * v**2)
    np.testing.assert_allclose(kinetic_energy(jnp.asarray(v), jnp.asarray(m)), K_np, rtol=1e-12)
    np.testing.assert_allclose(kinetic_energy(jnp.asarray(v), 2.0), np.sum(v**2), rtol=1e-12)
    np.testing.assert_allclose(
        temperature(jnp.asarray(v), jnp.asarray(m), dof=3 * n - 3),
        2 * K_np / (3 * n - 3),
        rtol=1e-12,
    )
    T = float(temperature(jnp.asarray(v), jnp.asarray(m)))
    assert abs(T - kT) / kT < 4 * np.sqrt(2 / (3 * n))


def _lj(dr, sigma=1.0, epsilon=1.0, **unused_kwargs):
    return energy.lennard_jones(dr, sigma, epsilon)


def test_virial_pressure_matches_pair_sum():
    # Expected: P = (2K + W) / (3V) with W = sum_{i<j} r_ij . F_ij from an explicit numpy double
    # loop over minimum-image pairs, F_ij = 24 eps (2 (s/r)^12 - (s/r)^6) r_ij / r^2 (analytic
    # Lennard-Jones force), for a perturbed 4x4x4 simple-cubic lattice (no cutoff: every
    # minimum-image pair interacts, as in smap.pair with a plain LJ).
    rng = np.random.default_rng(1)
    m, a = 4, 1.12
    L = m * a
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    R = (grid + 0.06 * rng.standard_normal(grid.shape)) % L
    v = rng.normal(0.0, 0.8, R.shape)
    disp, _ = space.periodic(L)

    def strained_disp(Ra, Rb, strain=0.0, **unused_kwargs):
        return disp(Ra, Rb) * (1 + strain)

    energy_fn = smap.pair(_lj, space.metric(strained_disp))
    K = kinetic_energy(jnp.asarray(v))
    P = virial_pressure(energy_fn, jnp.asarray(R), K, L**3)

    W = 0.0
    for i in range(len(R)):
        for j in range(i + 1, len(R)):
            rij = R[i] - R[j]
            rij -= L * np.round(rij / L)
            r2 = rij @ rij
            sr6 = 1.0 / r2**3
            W += 24.0 * (2.0 * sr6**2 - sr6)  # r_ij . F_ij = 24 eps (2 (s/r)^12 - (s/r)^6)
    P_np = (2 * 0.5 * np.sum(v**2) + W) / (3 * L**3)
    np.testing.assert_allclose(P, P_np, rtol=1e-10)
    # The configurational part alone (K = 0) as well.
    np.testing.assert_allclose(
        virial_pressure(energy_fn, jnp.asarray(R), 0.0, L**3), W / (3 * L**3), rtol=1e-10
    )
