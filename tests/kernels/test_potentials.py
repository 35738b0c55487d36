"""Analytic pair potentials: values against their formulas, cutoff treatments, species matrices,
neighbour list against all pairs, and parameter gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import potentials as pot

R_TEST = np.array([0.9, 1.0, 1.12, 1.5, 2.2])


@pytest.mark.parametrize("family,params,formula", [
    ("lj", {"sigma": 1.1, "epsilon": 0.7},
     lambda r, sigma, epsilon: 4 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6)),
    ("mie", {"sigma": 1.0, "epsilon": 1.3, "n": 9.0, "m": 6.0},  # C(9,6) = 3 * 1.5**2 = 6.75
     lambda r, sigma, epsilon, n, m: 6.75 * epsilon * ((sigma / r) ** n - (sigma / r) ** m)),
    ("morse", {"D0": 2.0, "alpha": 3.0, "r0": 1.2},
     lambda r, D0, alpha, r0: D0 * (1 - np.exp(-alpha * (r - r0))) ** 2 - D0),
    ("yukawa", {"A": 3.0, "kappa": 0.5}, lambda r, A, kappa: A * np.exp(-kappa * r) / r),
    ("soft_sphere", {"sigma": 1.6, "epsilon": 2.0, "alpha": 2.5},
     lambda r, sigma, epsilon, alpha: np.where(r < sigma, epsilon / alpha
                                               * np.clip(1 - r / sigma, 0, None) ** alpha, 0)),
    ("wca", {"sigma": 1.0, "epsilon": 1.0},
     lambda r, sigma, epsilon: np.where(r < 2 ** (1 / 6) * sigma, 4 * epsilon * (
         (sigma / r) ** 12 - (sigma / r) ** 6) + epsilon, 0)),
])
def test_family_matches_formula(family, params, formula):
    # expected: the textbook formula evaluated in numpy
    u = pot.get_family(family).fn(jnp.asarray(R_TEST), **params)
    np.testing.assert_allclose(u, formula(R_TEST, **params), rtol=1e-12)


def test_mie_12_6_is_lennard_jones():
    # analytic: C(12, 6) = 4, so Mie(12, 6) is LJ
    r = jnp.asarray(R_TEST)
    np.testing.assert_allclose(pot.mie(r, 1.0, 1.0, 12.0, 6.0), pot.lennard_jones(r), rtol=1e-12)


def test_unknown_family_and_mode_are_clear_errors():
    with pytest.raises(ValueError, match="unknown pair potential 'lj2'.*known"):
        pot.get_family("lj2")
    with pytest.raises(ValueError, match="cutoff mode"):
        pot.with_cutoff(pot.lennard_jones, 2.5, "cut")


def test_cutoff_modes():
    rc = 2.5
    r = jnp.asarray([rc - 1e-9, rc + 1e-9, 0.0])
    truncated = pot.with_cutoff(pot.lennard_jones, rc, "truncated")(r)
    shifted = pot.with_cutoff(pot.lennard_jones, rc, "shifted")(r)
    smoothed = pot.with_cutoff(pot.lennard_jones, rc, "smoothed", r_onset=2.0)
    u_rc = 4 * (rc ** -12 - rc ** -6)  # analytic LJ at the cutoff
    assert truncated[0] == pytest.approx(u_rc, rel=1e-6) and truncated[1] == 0
    assert abs(shifted[0]) < 1e-8 and shifted[1] == 0
    assert truncated[2] == 0 and shifted[2] == 0  # r = 0 (padding, self) contributes nothing
    # smoothed: force continuous (-> 0) at the cutoff, and unchanged before the onset
    du = jax.grad(lambda x: smoothed(x))
    assert abs(du(rc - 1e-9)) < 1e-8
    assert smoothed(jnp.asarray(1.5)) == pytest.approx(float(pot.lennard_jones(1.5)), rel=1e-12)
    assert np.isfinite(jax.grad(lambda x: pot.with_cutoff(pot.lennard_jones, rc)(x))(0.0))


def _random_config(n, box, seed, r_min=0.85):
    rng = np.random.default_rng(seed)
    R = []
    while len(R) < n:
        x = rng.uniform(0, box, 3)
        d = np.array(R) - x if R else np.zeros((0, 3))
        d -= box * np.round(d / box)
        if not R or np.min(np.linalg.norm(d, axis=1)) > r_min:
            R.append(x)
    return np.array(R)


def _brute_force_energy(R, box, species, sigma, epsilon, rc):
    e = 0.0
    for i in range(len(R)):
        for j in range(i + 1, len(R)):
            d = R[i] - R[j]
            d -= box * np.round(d / box)
            r = np.linalg.norm(d)
            if r < rc:
                s, eps = sigma[species[i], species[j]], epsilon[species[i], species[j]]
                e += 4 * eps * ((s / r) ** 12 - (s / r) ** 6)
    return e


def test_species_matrices_and_neighbor_list_match_brute_force():
    # expected: an explicit numpy double loop over pairs with per-species-pair parameters
    box, rc = 6.0, 2.5
    R = _random_config(80, box, 0)
    species = np.arange(80) % 2
    sigma = np.array([[1.0, 0.8], [0.8, 0.88]])
    epsilon = np.array([[1.0, 1.5], [1.5, 0.5]])
    disp, _ = space.periodic(box)
    nf, ef = pot.pair_energy_neighbor_list(disp, box, pot.lennard_jones, rc,
                                           species=jnp.asarray(species))
    nbrs = nf.allocate(jnp.asarray(R))
    e_nl = ef(jnp.asarray(R), nbrs, sigma=jnp.asarray(sigma), epsilon=jnp.asarray(epsilon))
    e_all = pot.pair_energy(disp, pot.lennard_jones, rc, species=jnp.asarray(species))(
        jnp.asarray(R), sigma=jnp.asarray(sigma), epsilon=jnp.asarray(epsilon))
    expected = _brute_force_energy(R, box, species, sigma, epsilon, rc)
    assert float(e_nl) == pytest.approx(expected, rel=1e-10)
    assert float(e_all) == pytest.approx(expected, rel=1e-10)


def test_parameter_gradients_match_finite_differences():
    # expected: central finite differences of the energy in each parameter
    box = 6.0
    R = jnp.asarray(_random_config(60, box, 1))
    disp, _ = space.periodic(box)
    nf, ef = pot.pair_energy_neighbor_list(disp, box, pot.morse, 2.5, mode="shifted")
    nbrs = nf.allocate(R)
    p0 = {"D0": 1.2, "alpha": 3.0, "r0": 1.1}
    grads = jax.grad(lambda p: ef(R, nbrs, **p))(p0)
    for k in p0:
        h = 1e-6
        up = float(ef(R, nbrs, **{**p0, k: p0[k] + h}))
        dn = float(ef(R, nbrs, **{**p0, k: p0[k] - h}))
        assert float(grads[k]) == pytest.approx((up - dn) / (2 * h), rel=1e-6, abs=1e-8)
