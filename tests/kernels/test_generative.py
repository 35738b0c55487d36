"""CGVAE's symmetries and the linear backmapping baseline (issue 16, item 8), on a hand-made
molecule with random weights: the properties hold for any weights, so no training is needed.
Float64, so that the symmetry errors are rounding only (measured ~1e-12 Å)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kernels.generative import cgvae as cv
from kernels.generative import linear
from kernels.mlff.painn import PaiNNMessage

N_ATOMS = 12
BEAD = np.repeat(np.arange(3), 4)                         # three beads of four atoms
SPECIES = np.tile([6, 1, 1, 8], 3)


def _weights(bead, n_beads):
    w = np.zeros((n_beads, bead.size))
    w[bead, np.arange(bead.size)] = np.tile([12.0, 1.0, 1.0, 16.0], n_beads)
    return w / w.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def setup():
    pairs = cv.distance_pairs([[0, 1], [0, 3], [3, 4]], N_ATOMS)
    graph = cv.make_graph(SPECIES, BEAD, _weights(BEAD, 3), pairs=pairs)
    graph = cv.BackmapGraph(*(jnp.asarray(a) for a in graph))
    model = cv.CGVAE(n_channels=4, n_atoms=N_ATOMS, n_features=16, n_latent=8, n_rbf=8)
    params = cv.init_params(model, graph, jax.random.PRNGKey(0), jnp.float64)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(N_ATOMS, 3)) * 1.5)
    return model, params, graph, x, graph.weights @ x


def _rotation(seed):
    return jnp.asarray(Rotation.random(random_state=seed).as_matrix())


def test_decoder_is_equivariant_and_maps_back(setup):
    """Rotating and translating the CG input rotates and translates the atoms, to 1e-5 Å
    (issue 16); the position map of the output gives the beads back exactly."""
    model, params, graph, _, X = setup
    z = jnp.asarray(np.random.default_rng(2).normal(size=(3, 8)))
    out = model.apply(params, graph, X, z, method=cv.CGVAE.decode)
    assert float(jnp.max(jnp.abs(graph.weights @ out - X))) < 1e-10
    for seed in range(3):
        rot, shift = _rotation(seed), jnp.array([1.0, -2.0, 0.5]) * seed
        moved = model.apply(params, graph, X @ rot.T + shift, z, method=cv.CGVAE.decode)
        assert float(jnp.max(jnp.abs(moved - (out @ rot.T + shift)))) < 1e-5
    # three beads: equivariant vectors alone would leave every atom in the beads' plane; the
    # cross-product message puts them out of it
    normal = jnp.cross(X[1] - X[0], X[2] - X[0])
    height = jnp.abs((out - X[0]) @ normal) / jnp.linalg.norm(normal)
    assert float(jnp.max(height)) > 1e-3


def test_latent_and_prior_are_invariant(setup):
    """The posterior and the prior do not change when the structure is rotated, reflected
    (posterior) or translated: the latent is invariant (issue 16)."""
    model, params, graph, x, X = setup
    q = model.apply(params, graph, x, X, method=cv.CGVAE.encode)
    p = model.apply(params, graph, X, method=cv.CGVAE.prior)
    mirror = jnp.diag(jnp.array([1.0, 1.0, -1.0]))
    for op in (_rotation(4), _rotation(5) @ mirror):
        shift = jnp.array([0.3, 2.0, -1.0])
        q2 = model.apply(params, graph, x @ op.T + shift, X @ op.T + shift,
                         method=cv.CGVAE.encode)
        for a, b in zip(q, q2, strict=True):
            assert float(jnp.max(jnp.abs(a - b))) < 1e-10
    p2 = model.apply(params, graph, X @ _rotation(6).T - 1.0, method=cv.CGVAE.prior)
    for a, b in zip(p, p2, strict=True):
        assert float(jnp.max(jnp.abs(a - b))) < 1e-10


def test_dense_message_equals_edge_list(setup):
    """The dense (einsum) form of ``PaiNNMessage`` gives what the edge-list form gives on the
    complete graph, with and without the cross product."""
    *_, x, _ = setup
    rng = np.random.default_rng(3)
    F, n = 5, N_ATOMS
    s = jnp.asarray(rng.normal(size=(n, F)))
    v = jnp.asarray(rng.normal(size=(n, 3, F)))
    unit, _, fcut = cv._unit_and_radial(x, 5.0, 4)
    recv, send = np.nonzero(~np.eye(n, dtype=bool))
    for cross in (False, True):
        filt = jnp.asarray(rng.normal(size=(n, n, (4 if cross else 3) * F))) * fcut[..., None]
        block = PaiNNMessage(F, cross=cross)
        params = block.init(jax.random.PRNGKey(0), s, v, filt, unit)
        dense = block.apply(params, s, v, filt, unit)
        edges = block.apply(params, s, v, filt[recv, send], unit[recv, send], send, recv)
        for a, b in zip(dense, edges, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_linear_backmapping_is_exact_with_one_bead_per_atom():
    """With beads = atoms the least-squares linear map is the identity on every frame, even
    frames it was not fitted on (issue 16)."""
    rng = np.random.default_rng(4)
    frames = jnp.asarray(rng.normal(size=(20, 6, 3)))
    D = linear.fit(frames[:10], jnp.eye(6))
    back = linear.backmap(D, frames[10:])
    assert float(jnp.max(jnp.abs(back - frames[10:]))) < 1e-10


def test_linear_backmapping_commutes_with_rotation():
    rng = np.random.default_rng(5)
    frames = jnp.asarray(rng.normal(size=(30, N_ATOMS, 3)))
    w = jnp.asarray(_weights(BEAD, 3))
    D = linear.fit(frames, w)
    X = w @ frames[0]
    rot = _rotation(7)
    moved = linear.backmap(D, X @ rot.T + 2.0)
    assert float(jnp.max(jnp.abs(moved - (linear.backmap(D, X) @ rot.T + 2.0)))) < 1e-10


def test_make_graph_rejects_bad_input():
    with pytest.raises(ValueError, match="every bead an atom"):
        cv.make_graph([6, 6], [0, 0], np.array([[0.5, 0.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="1-118"):
        cv.make_graph([0, 6], [0, 1], np.eye(2))
    with pytest.raises(ValueError, match="do not match"):
        cv.make_graph([6, 6, 1], [0, 1], np.eye(2))


def test_distance_pairs_are_bonds_and_angle_ends():
    """A chain 0-1-2-3 and a branch 1-4: bonds plus the ends of the angles 0-1-2, 0-1-4,
    2-1-4 and 1-2-3."""
    pairs = cv.distance_pairs([[0, 1], [1, 2], [2, 3], [1, 4]], 5)
    expected = {(0, 1), (1, 2), (2, 3), (1, 4), (0, 2), (0, 4), (2, 4), (1, 3)}
    assert {tuple(p) for p in pairs.tolist()} == expected
