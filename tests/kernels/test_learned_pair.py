"""Spline (of the energy and of the force) and neural pair potentials: interpolation,
smoothness, parameter gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import learned_pair as lp
from kernels.potentials import lennard_jones


def test_pair_index_matrix():
    # 11 -> 0, 12 -> 1, 22 -> 2 (three unordered pairs of two species)
    np.testing.assert_array_equal(lp.pair_index_matrix(2), [[0, 1], [1, 2]])
    assert lp.n_pairs(3) == 6


def test_spline_interpolates_knots_and_lj():
    spline = lp.SplinePair(r_min=0.9, r_cutoff=2.5, n_knots=80)
    params = spline.init_params(lambda r: 4 * (r ** -12 - r ** -6))
    u = spline.pair_fn(params)
    knots = jnp.asarray(spline.knots)
    # through the knots exactly (definition of an interpolating spline)
    np.testing.assert_allclose(u(knots), params["u"][0], atol=1e-12)
    # between knots it follows the smooth function it was built from (LJ, analytic)
    r = jnp.linspace(1.0, 2.4, 301)
    np.testing.assert_allclose(u(r), lennard_jones(r), atol=2e-3)
    # natural spline: zero curvature at both ends
    m = params["u"] @ jnp.asarray(spline.curvature_matrix()).T
    assert m[0, 0] == 0 and m[0, -1] == 0
    # linear continuation below r_min keeps the slope (C1)
    du = jax.grad(lambda x: u(x))
    assert float(du(0.9 - 1e-7)) == pytest.approx(float(du(0.9 + 1e-7)), rel=1e-4)


def test_force_spline_interpolates_the_force_and_integrates_it():
    spline = lp.ForceSplinePair(r_min=0.9, r_cutoff=2.5, n_knots=81)
    lj_force = lambda r: 24.0 * (2.0 / r**13 - 1.0 / r**7)  # noqa: E731
    f = jnp.asarray(lj_force(spline.knots))[None]
    u = spline.pair_fn({"f": f})
    force = jax.vmap(jax.grad(lambda r: -u(r, pair_id=0)))
    # the force goes through the knots exactly (an interpolating spline of the force)
    np.testing.assert_allclose(force(jnp.asarray(spline.knots)), f[0], rtol=1e-12)
    # the energy is its integral down from the cutoff: 0 there, and the trapezoid rule on a
    # fine grid of the spline's own force agrees (its error at this spacing is below 1e-7)
    r = np.linspace(0.95, 2.5, 15_501)
    fr = np.asarray(force(jnp.asarray(r)))
    integral = np.concatenate([np.cumsum(((fr[1:] + fr[:-1]) / 2 * np.diff(r))[::-1])[::-1],
                               [0.0]])
    np.testing.assert_allclose(u(jnp.asarray(r), pair_id=0), integral, atol=2e-6)
    assert float(u(jnp.asarray(2.5), pair_id=0)) == 0.0
    # and follows LJ (shifted to 0 at the cutoff): 4th-order interpolation of the force
    inner = jnp.linspace(1.0, 2.45, 146)
    np.testing.assert_allclose(force(inner), lj_force(inner), atol=2e-3)  # measured 1.7e-3
    # below r_min: the first knot's force, continued (the energy linear, continuous)
    assert float(force(jnp.asarray([0.8]))[0]) == pytest.approx(float(f[0, 0]))
    assert float(u(jnp.asarray(0.9 - 1e-9))) == pytest.approx(float(u(jnp.asarray(0.9))),
                                                                 abs=1e-6)

def test_spline_rows_per_species_pair_and_gradient():
    spline = lp.SplinePair(r_min=0.8, r_cutoff=2.0, n_knots=20)
    rng = np.random.default_rng(0)
    params = {"u": jnp.asarray(rng.normal(size=(3, 20)))}
    u = spline.pair_fn(params)
    r = jnp.asarray([1.0, 1.3, 1.7])
    rows = [u(r, pair_id=k) for k in range(3)]
    assert not np.allclose(rows[0], rows[1])
    np.testing.assert_allclose(u(r, pair_id=jnp.asarray([0, 1, 2])),
                               [rows[0][0], rows[1][1], rows[2][2]])
    # gradient w.r.t. knot values equals central finite differences
    f = lambda p: jnp.sum(spline.pair_fn(p)(r, pair_id=jnp.asarray([0, 1, 2])) ** 2)
    g = jax.grad(f)(params)["u"]
    h = 1e-6
    for idx in [(0, 3), (1, 8), (2, 15)]:
        up = {"u": params["u"].at[idx].add(h)}
        dn = {"u": params["u"].at[idx].add(-h)}
        assert float(g[idx]) == pytest.approx((float(f(up)) - float(f(dn))) / (2 * h), abs=1e-6)


def test_model_energy_neighbor_list_spline_equals_analytic_lj():
    # a spline fitted to LJ gives (nearly) the analytic LJ energy on a real configuration
    from kernels.potentials import pair_energy_neighbor_list
    box = 7.0
    lattice = np.stack(np.meshgrid(*[np.arange(5)] * 3), -1).reshape(-1, 3) * 1.4
    R = jnp.asarray(lattice + np.random.default_rng(2).normal(0, 0.1, lattice.shape))
    disp, _ = space.periodic(box)
    spline = lp.SplinePair(r_min=0.9, r_cutoff=2.5, n_knots=120)
    nf, ef = lp.model_energy_neighbor_list(disp, box, spline, 2.5)
    nbrs = nf.allocate(R)
    params = spline.init_params(lambda r: 4 * (r ** -12 - r ** -6))
    nf2, ef2 = pair_energy_neighbor_list(disp, box, lennard_jones, 2.5)
    assert float(ef(R, nbrs, params)) == pytest.approx(float(ef2(R, nf2.allocate(R))), rel=1e-3)


def test_neural_pair_prior_and_gradients():
    model = lp.NeuralPair(r_cutoff=2.5, prior_sigma=0.9)
    params = model.init_params(jax.random.PRNGKey(0), n_species=2)
    u = model.pair_fn(params)
    r = jnp.asarray([0.6, 1.0, 1.5, 2.49])
    e = u(r, pair_id=jnp.asarray([0, 1, 2, 0]))
    assert np.all(np.isfinite(e))
    assert float(u(jnp.asarray(0.6))) > 50  # the repulsive prior dominates at short range
    g = jax.grad(lambda p: jnp.sum(model.pair_fn(p)(r)))(params)
    flat = jax.tree_util.tree_leaves(g)
    assert all(np.all(np.isfinite(x)) for x in flat)
    assert any(np.any(x != 0) for x in flat)


@pytest.mark.parametrize("n_basis, hidden", [(32, (32, 32)), (50, (128, 128, 128, 128))])
def test_a_tabulated_network_is_the_network(n_basis, hidden):
    # table_knots = 256 on [0, 2.5] (knots 0.01 apart, Gaussians 0.05-0.08 wide): measured
    # over the three pair rows of random weights at scale 1 (float64), |du| <= 1.1e-6
    # against a network term up to 0.11, and |dF| at most 1.6e-3 of the network's largest
    # force (bound: 3e-3)
    direct = lp.NeuralPair(r_cutoff=2.5, n_basis=n_basis, hidden=hidden)
    table = lp.NeuralPair(r_cutoff=2.5, n_basis=n_basis, hidden=hidden, table_knots=256)
    params = direct.init_params(jax.random.PRNGKey(1), 2, scale=1.0, dtype=jnp.float64)
    r = jnp.linspace(0.8, 2.5, 2001)
    for pair in (0, 1, 2):
        def u(model, x, pair=pair):
            return model.pair_fn(params)(x, pair_id=pair)

        net = u(direct, r) - (0.9 / r) ** 12
        np.testing.assert_allclose(u(table, r), u(direct, r), atol=3e-6 + 1e-4 * float(
            jnp.abs(net).max()), rtol=0)
        force = [jax.vmap(jax.grad(lambda x, m=m: u(m, x)))(r) for m in (direct, table)]
        net_force = jnp.abs(force[0] - jax.vmap(jax.grad(lambda x: (0.9 / x) ** 12))(r)).max()
        assert float(jnp.abs(force[1] - force[0]).max()) < 3e-3 * float(net_force)


@pytest.mark.parametrize("cls", [lp.SplinePair, lp.ForceSplinePair])
def test_force_weights_give_the_spline_force(cls):
    # the local form (two knot values, two curvatures per distance) that force matching builds
    # its design matrix from is the spline's own force, below r_min too
    spline = cls(r_min=0.9, r_cutoff=2.5, n_knots=12)
    y = jnp.asarray(np.random.default_rng(0).normal(size=(1, 12)))
    u = spline.pair_fn({spline.table_key: y})
    r = jnp.linspace(0.5, 2.49, 200)
    force = -jax.vmap(jax.grad(lambda x: u(x, pair_id=0)))(r)
    i, wa, wb = spline.force_weights(r)
    m = y[0] @ jnp.asarray(spline.curvature_matrix()).T
    local = wa[:, 0] * y[0][i] + wa[:, 1] * y[0][i + 1] + wb[:, 0] * m[i] + wb[:, 1] * m[i + 1]
    np.testing.assert_allclose(local, force, rtol=1e-12, atol=1e-12)


def test_the_prior_takes_its_own_sigma_epsilon_and_power():
    # with a zero network the potential is the prior alone: 0.5 (1.2 / r)^6 (mdgrad's water
    # priors differ from the default 1 (0.9 / r)^12)
    model = lp.NeuralPair(r_cutoff=2.5, prior_sigma=1.2, prior_epsilon=0.5, prior_power=6)
    params = jax.tree_util.tree_map(jnp.zeros_like, model.init_params(jax.random.PRNGKey(0)))
    r = jnp.asarray([0.8, 1.2, 2.0])
    np.testing.assert_allclose(model.pair_fn(params)(r), 0.5 * (1.2 / r) ** 6, rtol=1e-6)
