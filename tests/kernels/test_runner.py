"""The chunked runner: neighbour-list overflow recovery, replicas, runtime knobs without
recompilation, and the thermo it records."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import potentials as pot
from kernels.runner import simulator
from workbench.builders import fcc_positions

N, RHO = 108, 0.8442
BOX = (N / RHO) ** (1 / 3)
PARAMS = {"sigma": 1.0, "epsilon": 1.0}


def _setup(capacity_multiplier=1.25, integrator="nve", replicas=False):
    disp, shift = space.periodic(BOX)
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, 2.5, mode="shifted",
                                           capacity_multiplier=capacity_multiplier)
    return simulator(ef, shift, disp, nf, volume=BOX**3, integrator=integrator,
                     replicas=replicas)


R0 = jnp.asarray(fcc_positions(N, BOX))
MASS = jnp.ones(N)


def test_overflow_is_detected_reallocated_and_rerun():
    # reference: the same NVE run with an ample neighbour list; deterministic, so equal
    init, run = _setup()
    state = init(jax.random.PRNGKey(0), R0, MASS, PARAMS, dt=0.005, kT=1.0)
    _, traj_ref = run(state, PARAMS, n_frames=4, stride=25, dt=0.005, kT=1.0)

    init2, run2 = _setup(capacity_multiplier=0.5)  # half the slots needed: overflows at once
    state2 = init2(jax.random.PRNGKey(0), R0, MASS, PARAMS, dt=0.005, kT=1.0)
    small = state2.neighbor.idx.shape[1]
    out, traj = run2(state2, PARAMS, n_frames=4, stride=25, dt=0.005, kT=1.0)
    assert not bool(out.neighbor.did_buffer_overflow)
    assert out.neighbor.idx.shape[1] > small
    np.testing.assert_allclose(traj.thermo["total"], traj_ref.thermo["total"], rtol=1e-10)
    np.testing.assert_allclose(traj.positions[-1], traj_ref.positions[-1], atol=1e-9)


def test_runtime_knobs_do_not_recompile():
    init, run = _setup(integrator="langevin")
    state = init(jax.random.PRNGKey(0), R0, MASS, PARAMS, dt=0.005, kT=1.0)
    state, _ = run(state, PARAMS, n_frames=2, stride=10, dt=0.005, kT=1.0)
    state, _ = run(state, {"sigma": 1.02, "epsilon": 0.9}, n_frames=2, stride=10, dt=0.004,
                   kT=1.5)
    assert run.compilations() == 1


def test_replicas_match_individual_runs():
    # vmapped replicas give exactly what separate runs with the same keys give
    init_r, run_r = _setup(replicas=True)
    R = jnp.stack([R0, R0 + 0.01])
    key = jax.random.PRNGKey(3)
    states = init_r(key, R, MASS, PARAMS, dt=0.005, kT=0.8)
    states, traj = run_r(states, PARAMS, n_frames=3, stride=20, dt=0.005, kT=0.8)
    assert traj.positions.shape == (2, 3, N, 3)
    init, run = _setup()
    keys = jax.random.split(key, 2)
    for k in range(2):
        s = init(keys[k], R[k], MASS, PARAMS, dt=0.005, kT=0.8)
        s, t = run(s, PARAMS, n_frames=3, stride=20, dt=0.005, kT=0.8)
        np.testing.assert_allclose(traj.thermo["total"][k], t.thermo["total"], rtol=1e-10)


def test_thermo_and_unwrapped_positions():
    init, run = _setup()
    state = init(jax.random.PRNGKey(1), R0, MASS, PARAMS, dt=0.005, kT=1.0)
    state, traj = run(state, PARAMS, n_frames=5, stride=40, dt=0.005, kT=1.0)
    th = {k: np.asarray(v) for k, v in traj.thermo.items()}
    np.testing.assert_allclose(th["total"], th["kinetic"] + th["potential"], rtol=1e-12)
    # temperature is 2K / (3N - 3) for NVE (momentum conserved)
    np.testing.assert_allclose(th["temperature"], 2 * th["kinetic"] / (3 * N - 3), rtol=1e-12)
    # wrapping the unwrapped positions gives the stored positions back
    wrapped = np.mod(np.asarray(traj.unwrapped), BOX)
    d = wrapped - np.asarray(traj.positions)
    assert np.max(np.abs(d - BOX * np.round(d / BOX))) < 1e-9
    np.testing.assert_array_equal(traj.step, [40, 80, 120, 160, 200])


def test_pressure_matches_direct_virial():
    # expected: P = (2K + sum_{i<j} r_ij . f_ij) / (3V), with an explicit numpy pair loop
    init, run = _setup()
    state = init(jax.random.PRNGKey(1), R0, MASS, PARAMS, dt=0.005, kT=1.0)
    state, traj = run(state, PARAMS, n_frames=1, stride=50, dt=0.005, kT=1.0)
    R = np.asarray(traj.positions[-1])
    w = 0.0
    rc = 2.5
    for i in range(N):
        d = R[i] - R[i + 1:]
        d -= BOX * np.round(d / BOX)
        r = np.linalg.norm(d, axis=1)
        r = r[r < rc]
        w += np.sum(24 * (2 * r ** -12 - r ** -6))  # r * f(r) for LJ
    k = float(traj.thermo["kinetic"][-1])
    assert float(traj.thermo["pressure"][-1]) == pytest.approx((2 * k + w) / (3 * BOX**3),
                                                               rel=1e-9)

