"""The CG potential of kernels.cg.force_matching: the design matrix reproduces the force exactly
(the energy is linear in its coefficients), noise-free forces give the coefficients back, the
neighbour-listed energy equals the all-pairs one, ``strain`` scales distances, the MD energy's
wall repels below the fitted range, and free space lists every pair."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels.cg.force_matching import (
    BondedTerm,
    CGModel,
    all_pairs,
    cg_energy,
    cg_energy_neighbor_list,
    cg_force_design,
    force_design,
    normal_equations,
    walled_pair,
)
from kernels.learned_pair import ForceSplinePair, SplinePair
from kernels.neighbors import free_all_pairs

N_CHAIN = 5
BONDS = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
ANGLES = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4]])
DIHEDRALS = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])


def chain_model(pair: bool = True) -> CGModel:
    """Two bead types (ABABA), every term present (an improper with its reference near pi, so
    that its wrapped difference is exercised); pairs 1-2 and 1-3 apart excluded."""
    return CGModel(
        n_beads=N_CHAIN, bead_types=np.array([0, 1, 0, 1, 0]),
        pair=SplinePair(r_min=0.8, r_cutoff=3.0, n_knots=12) if pair else None,
        bonds=BondedTerm(BONDS, np.array([0, 0, 0, 0]), np.array([1.4])),
        angles=BondedTerm(ANGLES, np.array([0, 1, 0]), np.array([1.9, 2.0])),
        dihedrals=BondedTerm(DIHEDRALS, np.array([0, 0]), np.zeros(1)), n_harmonics=2,
        impropers=BondedTerm(np.array([[2, 1, 3, 4]]), np.array([0]), np.array([3.0])),
        excluded=np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 2], [1, 3], [2, 4]]))


def chain_frames(n: int, seed: int) -> np.ndarray:
    """``[n, 5, 3]`` chains with bonds 1.2-1.6 and random turns (no collinear angles)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n, N_CHAIN - 1, 3))
    steps *= rng.uniform(1.2, 1.6, (n, N_CHAIN - 1, 1)) / np.linalg.norm(steps, axis=-1,
                                                                          keepdims=True)
    return np.concatenate([np.zeros((n, 1, 3)), np.cumsum(steps, axis=1)], axis=1)


def random_coefficients(model: CGModel, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(rng.normal(size=s)) for k, s in model.coefficient_shapes().items()}


def test_design_matrix_times_coefficients_is_the_force():
    model = chain_model()
    energy = cg_energy(space.free()[0], model)
    coeffs = random_coefficients(model, 0)
    design_fn, _ = force_design(energy, coeffs)
    flat, _ = jax.flatten_util.ravel_pytree(coeffs)
    R = jnp.asarray(chain_frames(3, 1))
    pairs = jnp.broadcast_to(jnp.asarray(all_pairs(N_CHAIN)), (3, 2, 10))
    # jax's own derivative of the energy
    expected = jax.jit(jax.vmap(lambda r, p: -jax.grad(energy)(r, coeffs, p)))(R, pairs)
    G = jax.jit(jax.vmap(design_fn))(R, pairs)
    np.testing.assert_allclose(G @ flat, expected.reshape(3, -1), rtol=1e-10, atol=1e-10)
    # the fast pair-by-pair matrix is the same matrix, for either pair basis
    for model in (chain_model(), replace(chain_model(), pair=ForceSplinePair(0.8, 3.0, 12))):
        slow, _ = force_design(cg_energy(space.free()[0], model), model.zero_coefficients())
        fast, _ = cg_force_design(space.free()[0], model, jnp.float64)
        np.testing.assert_allclose(jax.jit(jax.vmap(fast))(R, pairs),
                                   jax.jit(jax.vmap(slow))(R, pairs), rtol=1e-12, atol=1e-12)


def test_noise_free_forces_give_the_coefficients_back():
    # forces made with known coefficients; the least-squares solution is those coefficients
    # to round-off (the pair table's last knot, which no force sees, held at 0)
    model = chain_model(pair=False)
    energy = cg_energy(space.free()[0], model)
    true = {"bond": jnp.array([[50.0, -3.0]]),  # k = 100, r0 = 1.4 + 3/100 = 1.43
            "angle": jnp.array([[10.0, 1.0], [15.0, -0.5]]),
            "dihedral": jnp.array([[0.7, -0.2, 0.3, 0.1]]),
            "improper": jnp.array([[2.0, 0.5]])}
    R = jnp.asarray(chain_frames(40, 2))
    pairs = jnp.broadcast_to(jnp.asarray(all_pairs(N_CHAIN)), (40, 2, 10))
    F = jax.jit(jax.vmap(lambda r, p: -jax.grad(energy)(r, true, p)))(R, pairs)
    design_fn, unravel = force_design(energy, model.zero_coefficients())
    gtg, gtf, _ = normal_equations(design_fn)(R, F, pairs, jnp.ones(40))
    fitted = unravel(jnp.asarray(np.linalg.solve(np.asarray(gtg), np.asarray(gtf))))
    for k, v in true.items():
        np.testing.assert_allclose(fitted[k], v, rtol=1e-8, atol=1e-9)


def test_neighbor_list_energy_equals_all_pairs_and_strain_scales_distances():
    # 5-bead chains, 4 of them, in a periodic box: the neighbour-listed energy (pairs within
    # the cutoff, exclusions masked) is the all-pairs sum
    box = 6.0
    model = chain_model()
    frames = chain_frames(4, 3) + np.random.default_rng(4).uniform(0, box, (4, 1, 3))
    model = CGModel(n_beads=20, bead_types=np.tile(model.bead_types, 4), pair=model.pair,
                    bonds=BondedTerm(np.concatenate([BONDS + 5 * k for k in range(4)]),
                                     np.zeros(16, int), np.array([1.4])),
                    excluded=np.concatenate([model.excluded + 5 * k for k in range(4)]))
    R = jnp.asarray(np.mod(frames.reshape(20, 3), box))
    coeffs = random_coefficients(model, 5)
    disp, _ = space.periodic(box)
    neighbor_fn, energy_fn = cg_energy_neighbor_list(disp, box, model)
    nbrs = neighbor_fn.allocate(R)
    expected = jax.jit(cg_energy(disp, model))(R, coeffs, jnp.asarray(all_pairs(20)))
    np.testing.assert_allclose(jax.jit(energy_fn)(R, nbrs, coeffs), expected, rtol=1e-12)
    # strain s: every distance times (1 + s), as the energy of positions scaled by (1 + s)
    free = jax.jit(cg_energy(space.free()[0], chain_model()))
    chain = jnp.asarray(chain_frames(1, 6)[0])
    c = random_coefficients(chain_model(), 7)
    p = jnp.asarray(all_pairs(N_CHAIN))
    np.testing.assert_allclose(free(chain, c, p, strain=0.03), free(1.03 * chain, c, p),
                               rtol=1e-12)


def test_md_wall_below_the_fitted_range_repels_and_leaves_the_range_alone():
    # a pair table whose force at r_min is attractive (-du/dr = -1 there): the bare spline
    # continues that slope below r_min, so its energy falls without bound as beads approach;
    # the MD energy's wall replaces the attraction by u(r_min) + wall (WCA of height kT)
    pair = SplinePair(r_min=1.0, r_cutoff=3.0, n_knots=9)
    table = jnp.asarray([pair.knots - 3.0])  # u = r - 3: force -1 everywhere
    bare = jax.jit(lambda r: pair.pair_fn({"u": table})(r, pair_id=0))
    walled = jax.jit(lambda r, w: walled_pair(pair, table, w)(r, pair_id=0))
    inside = jnp.linspace(1.0, 2.9, 20)
    np.testing.assert_allclose(walled(inside, 0.5), bare(inside), rtol=1e-12, atol=1e-12)
    below = jnp.linspace(0.5, 0.999, 20)
    assert float(bare(0.5)) == pytest.approx(-2.5)  # the attractive extrapolation
    x = 1.0 / below
    np.testing.assert_allclose(walled(below, 0.5), -2.0 + 0.5 * (x**12 - 2 * x**6 + 1),
                               rtol=1e-12)
    force = -jax.vmap(jax.grad(walled), in_axes=(0, None))(below, 0.5)
    assert np.all(np.asarray(force) > 0)  # repulsive everywhere below r_min
    # a repulsive force at r_min (u = 3 - r: force +1) is kept: force continuous at r_min
    rep = jnp.asarray([3.0 - pair.knots])
    du = jax.grad(lambda r: walled_pair(pair, rep, 0.5)(r, pair_id=0))
    assert float(du(0.9999999)) == pytest.approx(float(du(1.0000001)), rel=1e-5)
    assert float(du(1.0)) == pytest.approx(-1.0)


def test_free_space_list_holds_every_pair_and_never_changes():
    fns = free_all_pairs(4)
    nbrs = fns.allocate(jnp.zeros((4, 3)))
    np.testing.assert_array_equal(nbrs.idx, all_pairs(4))
    moved = jax.jit(lambda n, R: n.update(R))(nbrs, 100.0 * jnp.ones((4, 3)))
    np.testing.assert_array_equal(moved.idx, nbrs.idx)
    assert not bool(moved.did_buffer_overflow)
    with pytest.raises(ValueError, match="for 4 particles, not 5"):
        fns.allocate(jnp.zeros((5, 3)))
