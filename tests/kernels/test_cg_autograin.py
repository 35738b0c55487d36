"""The Autograin model (kernels.cg.autograin): the Gumbel-softmax assignment is a partition at
low temperature and soft at high; its force term is the mean squared MS-CG mapped force
(kernels.cg.mapping) of the hard assignment, checked on the harmonic toy with its exact value;
bead positions are centres of mass and the least-squares decoder is optimal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels.cg import autograin as ag
from kernels.cg.mapping import assignment_matrix, map_forces
from tests.kernels.test_cg_mapping import ASSIGNMENT, K_X, KT, harmonic_dimers

N_ATOMS, N_BEADS = 30, 4


@pytest.mark.parametrize("seed", range(5))
def test_gumbel_softmax_is_a_partition_when_cold_and_soft_when_hot(seed):
    key_logits, key_noise = jax.random.split(jax.random.PRNGKey(seed))
    logits = jax.random.uniform(key_logits, (N_ATOMS, N_BEADS))
    # T = 1e-5: a row misses one-hot by more than 1e-3 only if its two largest noisy logits lie
    # within T ln(1e3) = 7e-5 of each other (probability ~1e-4 per row)
    cold = np.asarray(ag.gumbel_softmax(key_noise, logits, 1e-5))
    np.testing.assert_allclose(cold.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(cold.max(axis=1), 1.0, atol=1e-3)  # every atom in one bead
    # T = 100: noisy logits spread over a few units, so every share is 1/N (1 +- ~5%)
    hot = np.asarray(ag.gumbel_softmax(key_noise, logits, 100.0))
    np.testing.assert_allclose(hot, 1.0 / N_BEADS, rtol=0.15)
    # straight-through: exactly one-hot forward, the soft rows' gradient backward
    hard = np.asarray(ag.gumbel_softmax(key_noise, logits, 1.0, hard=True))
    assert set(np.unique(hard)) == {0.0, 1.0} and np.all(hard.sum(axis=1) == 1.0)
    g_hard = jax.grad(lambda x: ag.gumbel_softmax(key_noise, x, 1.0, hard=True)[0, 0])(logits)
    g_soft = jax.grad(lambda x: ag.gumbel_softmax(key_noise, x, 1.0)[0, 0])(logits)
    np.testing.assert_allclose(g_hard, g_soft, atol=1e-6)


def test_empty_bead_sits_at_the_centre():
    w = jnp.asarray(np.eye(3)[[0, 0, 1, 1]])  # 4 atoms in beads 0 and 1; bead 2 empty
    c = np.asarray(ag.position_map(w, jnp.array([1.0, 3.0, 2.0, 2.0])))
    np.testing.assert_allclose(c, [[0.25, 0.75, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 0]])


def test_force_term_is_the_mean_squared_mapped_force_of_the_toy():
    x, f = harmonic_dimers(20000, seed=1)
    masses = jnp.ones(4)
    params = {"logits": 5.0 * jnp.asarray(np.eye(2)[ASSIGNMENT]), "decoder": jnp.zeros((4, 2))}
    terms = ag.loss_terms(params, jnp.asarray(x), jnp.asarray(f), masses,
                          jax.random.PRNGKey(0), 1e-4)
    mapped = map_forces(f, assignment_matrix(ASSIGNMENT, 2, jnp.float64))
    expected = float(jnp.mean(jnp.sum(mapped ** 2, axis=-1)))
    np.testing.assert_allclose(float(terms.force), expected, rtol=1e-6)
    # exact value: the bead force is -K_X (a2 - b1), and a2 - b1 is a Gaussian with variance
    # KT / K_X per component (the energy separates in it), so <|F|^2> = 3 K_X KT; the mean of
    # 20,000 x 2 chi^2_3 samples has a relative standard error of 0.6%
    np.testing.assert_allclose(expected, 3 * K_X * KT, rtol=0.03)
    # zero decoder: the reconstruction term is the mean squared distance from the centre
    centred = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(float(terms.reconstruction),
                               np.mean(np.sum(centred ** 2, axis=-1)), rtol=1e-6)


def test_least_squares_decoder_is_optimal_and_exact_for_rigid_beads():
    rng = np.random.default_rng(0)
    R = jnp.asarray(rng.normal(size=(50, 6, 3)))
    masses = jnp.asarray(rng.uniform(1, 16, 6))
    w = jnp.asarray(np.eye(3)[[0, 0, 1, 1, 2, 2]])
    c = ag.position_map(w, masses)
    D = ag.least_squares_decoder(R, c, masses)
    best = ag.reconstruction_msd(R, c, D, masses)
    for _ in range(3):  # any other decoder reconstructs worse
        other = D + 0.01 * jnp.asarray(rng.normal(size=D.shape))
        assert ag.reconstruction_msd(R, c, other, masses) > best
    # one bead per atom: every atom is its bead, the reconstruction exact
    c_id = ag.position_map(jnp.eye(6), masses)
    np.testing.assert_allclose(ag.reconstruction_msd(R, c_id, ag.least_squares_decoder(
        R, c_id, masses), masses), 0.0, atol=1e-20)
    # and the loss is jit- and grad-safe
    params = ag.init_params(jax.random.PRNGKey(0), 6, 3, jnp.float64)
    loss, grads = jax.jit(jax.value_and_grad(lambda p: ag.loss_fn(
        p, R, R, masses, jax.random.PRNGKey(1), 0.5, 0.1)[0]))(params)
    assert np.isfinite(float(loss)) and all(np.all(np.isfinite(g)) for g in grads.values())
