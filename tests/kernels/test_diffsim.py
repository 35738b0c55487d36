"""Differentiable-simulation loss: gradients against finite differences, the three gradient
modes, replicas, partial RDFs of a mixture, several state points, overflow reporting."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import diffsim, neighbors
from kernels import potentials as pot
from kernels.observables.rdf import rdf_smooth
from workbench.builders import fcc_positions

N, RHO, KT = 108, 0.7, 1.2
BOX = (N / RHO) ** (1 / 3)
R_MAX, N_BINS = 2.5, 50
P0 = {"sigma": jnp.asarray(1.0), "epsilon": jnp.asarray(1.0)}
# a target that is not the simulated g: the loss and its gradient are then far from zero
G_TARGET = jnp.clip(1.0 + 0.5 * jnp.sin(jnp.linspace(0.0, 8.0, N_BINS)), 0.0)


def _setup(n_steps=80, n_skip=20, stride=5, capacity_multiplier=1.25, **kw):
    disp, shift = space.periodic(BOX)
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, 2.5,
                                           capacity_multiplier=capacity_multiplier)
    init, loss = diffsim.diffsim_loss(
        ef, shift, disp, nf, box_volume=BOX**3, r_max=R_MAX, n_bins=N_BINS, n_steps=n_steps,
        n_skip=n_skip, stride=stride, rdf_sigma=0.05, **kw)
    R = jnp.asarray(fcc_positions(N, BOX))
    return init, loss, R


@pytest.fixture(scope="module")
def full_setup():
    init, loss, R = _setup(gradient="full")
    state = init(jax.random.PRNGKey(0), R, P0, kT=KT, extra_capacity=8)
    vg = jax.jit(jax.value_and_grad(lambda p, s: loss(p, s, kT=KT, g_target=G_TARGET),
                                    has_aux=True))
    return init, loss, R, state, vg


def test_gradient_matches_central_finite_differences(full_setup):
    # 108 LJ atoms, 80 Langevin steps in float64. The state carries the thermostat's PRNG key,
    # so every evaluation sees the same noise and the loss is a smooth function of the
    # parameters: central differences (h = 1e-5, truncation error ~h^2) are the reference.
    _, loss, _, state, vg = full_setup
    (value, (_, aux)), grad = vg(P0, state)
    assert not bool(aux["overflow"]) and bool(aux["finite"])
    f = jax.jit(lambda p: loss(p, state, kT=KT, g_target=G_TARGET)[0])
    h = 1e-5
    for name in ("sigma", "epsilon"):
        up = f({**P0, name: P0[name] + h})
        down = f({**P0, name: P0[name] - h})
        fd = float(up - down) / (2 * h)
        assert float(grad[name]) == pytest.approx(fd, rel=0.02), name
    assert float(value) > 0.01  # a meaningful (non-zero) loss


def test_checkpoint_equals_full_and_truncated_agrees_in_sign(full_setup):
    _, _, R, state, vg_full = full_setup
    (l_full, (s_full, _)), g_full = vg_full(P0, state)
    results = {}
    for mode in ("checkpoint", "truncated"):
        init, loss, _ = _setup(gradient=mode, checkpoint_every=10, window=20)
        st = init(jax.random.PRNGKey(0), R, P0, kT=KT, extra_capacity=8)
        vg = jax.jit(jax.value_and_grad(lambda p, s, loss=loss: loss(
            p, s, kT=KT, g_target=G_TARGET), has_aux=True))
        results[mode] = vg(P0, st)
    # every mode runs the same trajectory, so the loss and final state are identical
    for mode, ((value, (new_state, _)), _) in results.items():
        assert float(value) == pytest.approx(float(l_full), rel=1e-12), mode
        np.testing.assert_allclose(new_state.md.position, s_full.md.position, atol=1e-12)
    # checkpointing only recomputes the forward pass: same gradient to rounding
    g_ck = results["checkpoint"][1]
    for name in P0:
        assert float(g_ck[name]) == pytest.approx(float(g_full[name]), rel=1e-6)
    # truncation (windows of 20 steps) is a different estimator: it must point the same way
    g_tr = results["truncated"][1]
    full_vec = np.array([float(g_full[k]) for k in P0])
    tr_vec = np.array([float(g_tr[k]) for k in P0])
    assert np.all(np.sign(full_vec) == np.sign(tr_vec))
    cosine = full_vec @ tr_vec / np.linalg.norm(full_vec) / np.linalg.norm(tr_vec)
    assert cosine > 0.9


def test_nose_hoover_grad_steps_and_vacf_term():
    init, loss, R = _setup(n_steps=60, n_skip=0, gradient="truncated", window=20,
                           grad_steps=20, integrator="nose_hoover", vacf_weight=0.5)
    st = init(jax.random.PRNGKey(1), R, P0, kT=KT, extra_capacity=8)
    vacf_target = jnp.zeros(12)
    (value, (_, aux)), grad = jax.value_and_grad(
        lambda p: loss(p, st, kT=KT, g_target=G_TARGET, vacf_target=vacf_target),
        has_aux=True)(P0)
    assert np.isfinite(float(value)) and bool(aux["finite"])
    assert all(np.isfinite(float(g)) and float(g) != 0.0 for g in grad.values())
    assert aux["temperature"].shape == aux["vacf"].shape == (loss.n_frames,) == (12,)
    # loss = MSE(g) + weight * MSE(VACF); the VACF is normalised by <v(0).v(0)>, so |VACF| <= ~1
    assert float(aux["vacf_loss"]) == pytest.approx(float(jnp.mean(aux["vacf"] ** 2)))
    assert float(value) == pytest.approx(float(aux["rdf_loss"] + 0.5 * aux["vacf_loss"]))
    assert np.all(np.abs(aux["vacf"]) < 1.2)


def test_replicas_average_matches_single_runs():
    init_r, loss_r, R = _setup(n_steps=20, n_skip=0, gradient="full", replicas=True,
                               replica_average="loss")
    key = jax.random.PRNGKey(3)
    Rs = jnp.stack([R, R])
    st = init_r(key, Rs, P0, kT=KT, extra_capacity=8)
    value, (_, aux) = jax.jit(lambda p, s: loss_r(p, s, kT=KT, g_target=G_TARGET))(P0, st)
    # reference: each replica alone, with the key init_fn gave it (jax.random.split)
    init, loss, _ = _setup(n_steps=20, n_skip=0, gradient="full")
    singles = []
    for k in jax.random.split(key, 2):
        s = init(k, R, P0, kT=KT, extra_capacity=8)
        singles.append(loss(P0, s, kT=KT, g_target=G_TARGET))
    assert float(value) == pytest.approx(np.mean([float(v) for v, _ in singles]), rel=1e-10)
    np.testing.assert_allclose(aux["g"], np.mean([a["g"] for _, (_, a) in singles], 0),
                               rtol=1e-10)


def test_binary_mixture_partial_rdfs_and_matrix_gradient():
    n_atoms = 108
    species = jnp.asarray(np.arange(n_atoms) % 2, dtype=jnp.int32)
    disp, shift = space.periodic(BOX)
    sigma = jnp.asarray([[1.0, 0.9], [0.9, 0.8]])
    eps = jnp.asarray([[1.0, 1.2], [1.2, 0.8]])
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, 2.5, species=species)
    pairs = [(0, 0), (0, 1), (1, 1)]
    init, loss = diffsim.diffsim_loss(ef, shift, disp, nf, box_volume=BOX**3, r_max=R_MAX,
                                      n_bins=N_BINS, n_steps=10, stride=10, rdf_sigma=0.05,
                                      species=species, species_pairs=pairs, gradient="full")
    params = {"sigma": sigma, "epsilon": eps}
    R = jnp.asarray(fcc_positions(n_atoms, BOX))
    st = init(jax.random.PRNGKey(0), R, params, kT=KT, extra_capacity=8)
    target = jnp.ones((3, N_BINS))
    (value, (new, aux)), grad = jax.value_and_grad(
        lambda p: loss(p, st, kT=KT, g_target=target), has_aux=True)(params)
    # one frame (n_steps == stride): g must be the partial RDFs of the final positions,
    # computed independently by rdf_smooth
    assert aux["g"].shape == (3, N_BINS)
    for row, pair in zip(aux["g"], pairs, strict=True):
        _, ref = rdf_smooth(disp, new.md.position, BOX**3, R_MAX, N_BINS, 0.05, species, pair)
        np.testing.assert_allclose(row, ref, rtol=1e-10, atol=1e-12)
    assert grad["sigma"].shape == (2, 2) and np.all(np.isfinite(grad["sigma"]))
    assert float(value) == pytest.approx(float(jnp.mean((aux["g"] - target) ** 2)))


def test_state_points_sum_and_overflow_is_reported():
    init, loss, R = _setup(n_steps=10, n_skip=0, stride=5, gradient="full",
                           capacity_multiplier=0.5)
    st = init(jax.random.PRNGKey(0), R, P0, kT=KT)  # far too small a list: must overflow
    _, (new, aux) = loss(P0, st, kT=KT, g_target=G_TARGET)
    assert bool(aux["overflow"])
    # re-allocated with room, the overflow is gone
    bigger = neighbors.allocate(_setup_nf(), new.md.position, 8)
    st2 = diffsim.with_neighbor_list(st, bigger)
    _, (_, aux2) = loss(P0, st2, kT=KT, g_target=G_TARGET)
    assert not bool(aux2["overflow"])
    # two state points (here: two temperatures of the same box) add up
    points = [(loss, {"kT": KT, "g_target": G_TARGET}),
              (loss, {"kT": 2.0, "g_target": G_TARGET})]
    total, (_, auxes) = diffsim.sum_state_points(points, weights=[1.0, 0.5])(P0, (st2, st2))
    a = loss(P0, st2, kT=KT, g_target=G_TARGET)[0]
    b = loss(P0, st2, kT=2.0, g_target=G_TARGET)[0]
    assert float(total) == pytest.approx(float(a + 0.5 * b), rel=1e-12)
    assert len(auxes) == 2


def _setup_nf():
    disp, _ = space.periodic(BOX)
    nf, _ = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, 2.5)
    return nf


def test_gauss_newton_direction_solves_linear_least_squares():
    # for a linear model g = J p the Gauss-Newton direction (no damping) is the least-squares
    # solution of J d = r (numpy.linalg.lstsq is the reference)
    rng = np.random.default_rng(0)
    J = rng.normal(size=(40, 3))
    r = rng.normal(size=40)
    d = diffsim.gauss_newton_direction(jnp.asarray(J.T @ J), jnp.asarray(J.T @ r), damping=0)
    np.testing.assert_allclose(d, np.linalg.lstsq(J, r, rcond=None)[0], rtol=1e-8)
    jac = {"a": jnp.asarray(J[:, :2]), "b": jnp.asarray(J[:, 2])}
    np.testing.assert_allclose(diffsim.flat_jacobian(jac, {"a": jnp.zeros(2), "b": 0.0}), J)


def test_grad_steps_default_to_the_whole_windows_that_fit():
    # 60 sampled steps in windows of 25: the first 50 carry gradient by default, as if
    # grad_steps=50 were given (it used to be refused as 60, not a multiple of 25)
    grads = []
    for extra in ({}, {"grad_steps": 50}):
        init, loss, R = _setup(gradient="truncated", window=25, **extra)
        st = init(jax.random.PRNGKey(1), R, P0, kT=KT, extra_capacity=8)
        grads.append(jax.grad(lambda p, loss=loss, st=st: loss(
            p, st, kT=KT, g_target=G_TARGET)[0])(P0))
    for name in P0:
        assert float(grads[0][name]) == float(grads[1][name]) != 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"gradient": "adjoint"}, "gradient mode"),
    ({"n_steps": 22, "n_skip": 0, "stride": 5}, "multiple of"),
    ({"gradient": "truncated", "window": 7}, "window"),
    ({"gradient": "truncated", "window": 20, "grad_steps": 30}, "grad_steps"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _setup(**kwargs)
