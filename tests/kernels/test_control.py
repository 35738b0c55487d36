"""Control by differentiating through dynamics (kernels.control): a bead-spring chain, learnable
pair springs, and a hairpin target.

Expected numbers and where they come from:
- the uncontrolled phantom chain (no repulsion) has the exact ideal-chain radius of gyration
  <Rg^2> = <l^2> (N^2 - 1) / (6 N) (from <r_ij^2> = |i - j| <l^2> for independent bonds), with
  <l^2> of one harmonic bond by quadrature;
- the gradient through the trajectory agrees with central finite differences of the same
  deterministic (fixed-key) float64 trajectory;
- the hairpin's shape metrics are those of the ideal ladder ``hairpin_structure(12)``:
  end-to-end distance 1 b, Rg = sqrt(35/12 + 1/4) b = 1.78 b, all five native contacts made.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels import control as C

N = 12


def _setup(dtype=jnp.float32, **loss_kwargs):
    disp, shift, U = C.bead_spring_chain(N)
    pairs = C.contact_pairs(N)
    hairpin = jnp.asarray(C.hairpin_structure(N), dtype)
    r_target = C.pair_distance_fn(disp, pairs)(hairpin)
    init_c, Uc = C.pair_springs(disp, pairs)
    loss_fn = C.control_loss(U, Uc, shift, C.shape_fn(disp, pairs),
                             C.distance_objective(r_target), **loss_kwargs)
    sample = C.sample_fn(U, shift)
    return dict(U=U, shift=shift, pairs=pairs, hairpin=hairpin, init=init_c, loss_fn=loss_fn,
                sample=sample, native=C.hairpin_contacts(N, pairs))


def test_building_blocks():
    pairs = C.contact_pairs(N)
    assert pairs.shape == (N * (N - 1) // 2 - (N - 1), 2)  # all pairs minus the 11 bonds
    hairpin = C.hairpin_structure(N)
    bonds = C.chain_bonds(N)
    np.testing.assert_allclose(np.linalg.norm(hairpin[bonds[:, 0]] - hairpin[bonds[:, 1]],
                                              axis=1), 1.0)
    native = C.hairpin_contacts(N, pairs)
    assert native.sum() == N // 2 - 1  # (0, 11) ... (4, 7); (5, 6) is the turn's bond
    assert float(C.end_to_end_distance(jnp.asarray(hairpin))) == pytest.approx(1.0)
    # x: 0..5 twice (variance 35/12), y: 0 or 1 (variance 1/4)
    assert float(C.radius_of_gyration(jnp.asarray(hairpin))) == pytest.approx(
        np.sqrt(35 / 12 + 0.25))
    disp, _, U = C.bead_spring_chain(N)
    q = C.shape_fn(disp, pairs)(jnp.asarray(hairpin))["q"]
    assert float(C.native_fraction(q, native)) > 0.94  # sigmoid(3) at r = 1 b
    # the ladder has no overlapping non-bonded beads and relaxed bonds: zero energy
    assert float(U(jnp.asarray(hairpin))) == pytest.approx(0.0, abs=1e-12)
    init_c, Uc = C.pair_springs(disp, pairs)
    p = init_c(k0=2.0, l0=1.5)
    np.testing.assert_allclose(C.spring_constants(p), 2.0, rtol=1e-6)
    np.testing.assert_allclose(C.rest_lengths(p), 1.5, rtol=1e-6)
    r = np.linalg.norm(hairpin[pairs[:, 0]] - hairpin[pairs[:, 1]], axis=1)
    assert float(Uc(jnp.asarray(hairpin), p)) == pytest.approx(np.sum(1.0 * (r - 1.5) ** 2))


def test_phantom_chain_radius_of_gyration_matches_ideal_chain():
    # no repulsion: a freely jointed chain of independent harmonic bonds, exact reference
    # <Rg^2> = <l^2> (N^2 - 1) / (6 N) = 1.0498 * 143 / 72 -> Rg = 1.444 b
    _, shift, U = C.bead_spring_chain(N, epsilon=0.0)
    l2 = C.harmonic_bond_mean_square(1.0, 100.0, 1.0)
    assert l2 == pytest.approx(1.0 + 5.0 / 100.0, abs=2e-3)  # 1 + 5 kT / k to first order
    rg_ideal = C.ideal_chain_rg(N, l2)
    sample = C.sample_fn(U, shift, C.radius_of_gyration)
    R0 = C.straight_chain(32, N)
    R0, _ = sample(jax.random.PRNGKey(0), R0, 1, 1000)  # forget the straight start
    _, rg = sample(jax.random.PRNGKey(1), R0, 100, 100)  # 32 x t = 100 (Rouse time ~5)
    rg2 = float(np.mean(np.asarray(rg, float) ** 2))
    # 32 replicas x ~20 independent samples of Rg^2 (relative spread ~0.5): ~2% standard error
    assert np.sqrt(rg2) == pytest.approx(rg_ideal, rel=0.03)
    # with the soft repulsion the chain swells (excluded volume): Rg clearly above ideal
    _, _, U_ev = C.bead_spring_chain(N)
    _, rg_ev = C.sample_fn(U_ev, shift, C.radius_of_gyration)(jax.random.PRNGKey(2), R0, 50,
                                                                  100)
    assert np.sqrt(np.mean(np.asarray(rg_ev, float) ** 2)) > 1.1 * rg_ideal


@pytest.mark.parametrize("integrator", ["langevin", "nve"])
def test_gradient_matches_central_finite_differences(integrator):
    # float64, 2 replicas, 60 steps (t = 1.2) with fixed keys: a deterministic function of the
    # parameters; the backpropagated directional derivative must equal the central difference
    s = _setup(jnp.float64, n_steps=60, n_window=20, integrator=integrator)
    R0, _ = s["sample"](jax.random.PRNGKey(0), C.straight_chain(2, N, dtype=jnp.float64), 1,
                        1000)
    rng = np.random.default_rng(0)
    p = s["init"](k0=1.0, dtype=jnp.float64)
    p = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in p.items()}
    key = jax.random.PRNGKey(3)
    loss = jax.jit(lambda p: s["loss_fn"](p, R0, key)[0])
    grad = jax.jit(jax.grad(lambda p: s["loss_fn"](p, R0, key)[0]))(p)
    h = 1e-5
    for _ in range(3):
        v = {k: rng.standard_normal(x.shape) for k, x in p.items()}
        norm = np.sqrt(sum(np.sum(x ** 2) for x in v.values()))
        v = {k: x / norm for k, x in v.items()}
        analytic = sum(float(jnp.vdot(grad[k], v[k])) for k in p)
        fd = (float(loss({k: p[k] + h * v[k] for k in p}))
              - float(loss({k: p[k] - h * v[k] for k in p}))) / (2 * h)
        assert abs(analytic) > 1e-3  # a real signal, not two zeros agreeing
        assert analytic == pytest.approx(fd, rel=1e-6)  # measured 1e-10 to 3e-9


def test_checkpointed_gradient_equals_full():
    kw = dict(n_steps=60, n_window=20)
    full = _setup(jnp.float64, **kw)
    ckpt = _setup(jnp.float64, checkpoint_every=20, **kw)
    R0, _ = full["sample"](jax.random.PRNGKey(0), C.straight_chain(2, N, dtype=jnp.float64), 1,
                           500)
    p = full["init"](k0=1.0, dtype=jnp.float64)
    key = jax.random.PRNGKey(1)
    (l1, _), g1 = jax.jit(jax.value_and_grad(full["loss_fn"], has_aux=True))(p, R0, key)
    (l2, _), g2 = jax.jit(jax.value_and_grad(ckpt["loss_fn"], has_aux=True))(p, R0, key)
    assert float(l1) == pytest.approx(float(l2), rel=1e-12)
    for k in p:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-8, atol=1e-12)


def test_bad_window_is_rejected():
    with pytest.raises(ValueError, match="multiples of stride"):
        _setup(n_steps=100, n_window=12)
    with pytest.raises(ValueError, match="even number"):
        C.hairpin_structure(11)


def test_adam_folds_the_chain_into_a_hairpin():
    # float32, 8 training coils, 250 Langevin steps (t = 5, gamma = 10), loss on the last 50
    # steps; 30 Adam steps. Measured on this 2-core CPU: ~10 s (half of it compilation).
    s = _setup(n_steps=250, n_window=50)
    train, _ = s["sample"](jax.random.PRNGKey(0), C.straight_chain(8, N), 1, 2000)
    p0 = s["init"]()
    params, history = C.fit_control(s["loss_fn"], p0, train, jax.random.PRNGKey(1), n_iter=30,
                                    learning_rate=0.1)
    assert history["loss"][-1] < 0.5 * history["loss"][0]

    # evaluation on 16 fresh coils and fresh noise, never seen in training
    test, _ = s["sample"](jax.random.PRNGKey(10), C.straight_chain(16, N), 1, 2000)
    evaluate = jax.jit(s["loss_fn"])
    key = jax.random.PRNGKey(11)
    off = {"raw_k": jnp.full_like(p0["raw_k"], -30.0), "log_l": p0["log_l"]}  # k ~ 1e-12
    loss_off, aux_off = evaluate(off, test, key)
    loss_0, _ = evaluate(p0, test, key)
    loss_1, aux_1 = evaluate(params, test, key)
    # measured: loss (mean squared distance error, b^2) ~1.9 before, 0.02-0.04 after
    assert float(loss_1) < 0.1 * float(loss_0)
    assert float(loss_1) < 0.1 * float(loss_off)
    o0, o1 = aux_off["obs"], aux_1["obs"]
    # end-to-end distance: uncontrolled ~4 b (ideal chain sqrt(11 <l^2>) = 3.37 b, swollen by
    # the repulsion); target 1 b (measured after: 1.0-1.1 b)
    assert float(o0["ree"]) > 3.0
    assert float(o1["ree"]) == pytest.approx(1.0, abs=0.3)
    # radius of gyration: target 1.78 b (measured after: 1.70-1.84 b)
    assert float(o1["rg"]) == pytest.approx(float(C.radius_of_gyration(s["hairpin"])), abs=0.2)
    # fraction of native contacts: ~0.02 uncontrolled, measured 0.89-0.92 after
    assert float(C.native_fraction(o0["q"], s["native"])) < 0.2
    assert float(C.native_fraction(o1["q"], s["native"])) > 0.8
