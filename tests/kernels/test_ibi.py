"""Iterative Boltzmann Inversion on a spline's knots: the potential of mean force, the update in
the dilute limit (where g = exp(-u/kT) exactly), g = 0 regions, the cutoff, the distance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels import ibi
from kernels.learned_pair import SplinePair
from kernels.potentials import lennard_jones

KT = 1.2
SPLINE = SplinePair(r_min=0.8, r_cutoff=2.5, n_knots=69)
KNOTS = jnp.asarray(SPLINE.knots)
R = jnp.linspace(0.0125, 2.4875, 100)  # bin centres of 100 bins on [0, 2.5]


def _lj_shifted(r):
    return lennard_jones(r) - lennard_jones(2.5)


def _dilute_g(u_of_r):
    """g(r) = exp(-u(r)/kT): exact for a dilute gas (the zero-density limit)."""
    return jnp.exp(-u_of_r(R) / KT)


def test_pmf_inverts_boltzmann_factor_and_walls_the_core():
    g = _dilute_g(_lj_shifted)
    u0 = ibi.potential_of_mean_force(KNOTS, R, g, KT, g_floor=1e-3)
    reliable = np.asarray(jnp.interp(KNOTS, R, g) > 1e-3)
    # where g is sampled, -kT ln g is the potential itself; ln g is interpolated linearly from
    # the bin centres to the knots, so the reference is u interpolated the same way
    expected = jnp.interp(KNOTS, R, _lj_shifted(R))
    expected = expected - expected[-1]  # zero at the last knot
    np.testing.assert_allclose(u0[reliable], expected[reliable], atol=1e-9)
    assert float(u0[-1]) == 0.0  # zero at the cutoff
    # inside the core the wall is finite, continuous at the first reliable knot and repulsive
    i_on = int(np.argmax(reliable))
    wall = np.asarray(u0[: i_on + 1])
    assert np.all(np.isfinite(wall)) and np.all(np.diff(wall) < 0)


def test_update_is_exact_in_the_dilute_limit():
    # g_k = exp(-u_k/kT) for the current potential u_k and g_target = exp(-u*/kT):
    # alpha = 1 gives u_k + kT ln(g_k/g*) = u* in one step (the fixed point of IBI)
    u_true = _lj_shifted
    u_start = lambda r: 0.6 * _lj_shifted(r) + 0.3 * jnp.exp(-((r - 1.5) / 0.2) ** 2)
    g_target = _dilute_g(u_true)
    g_k = _dilute_g(u_start)
    u_new = ibi.ibi_update(u_start(KNOTS) - u_start(KNOTS)[-1], KNOTS, R, g_k, g_target, KT,
                           alpha=1.0, smooth=0, g_floor=1e-3)
    ok = np.asarray((jnp.interp(KNOTS, R, g_k) > 1e-3) & (jnp.interp(KNOTS, R, g_target) > 1e-3))
    on_knots = lambda u: jnp.interp(KNOTS, R, u(R))  # ln g is interpolated linearly to knots
    shift0 = lambda u: u - u[-1]  # the update keeps u(r_cut) = 0
    # u_start on the knots + (interpolated) u_true - u_start = u_true where both agree
    expected = shift0(u_start(KNOTS) + on_knots(u_true) - on_knots(u_start))
    np.testing.assert_allclose(u_new[ok], expected[ok], atol=1e-9)
    assert float(u_new[-1]) == 0.0
    # half a step (alpha = 0.5) moves half way
    u_half = ibi.ibi_update(u_start(KNOTS) - u_start(KNOTS)[-1], KNOTS, R, g_k, g_target, KT,
                            alpha=0.5, smooth=0, g_floor=1e-3)
    mid = shift0(u_start(KNOTS) + 0.5 * (on_knots(u_true) - on_knots(u_start)))
    np.testing.assert_allclose(u_half[ok], mid[ok], atol=1e-9)
    # and the interpolated potential is within the linear-interpolation error of the true one
    np.testing.assert_allclose(u_new[ok], u_true(KNOTS)[ok], atol=0.15)


def test_no_change_at_convergence_and_zero_regions_stay_finite():
    g = _dilute_g(_lj_shifted)
    u = ibi.potential_of_mean_force(KNOTS, R, g, KT)
    same = ibi.ibi_update(u, KNOTS, R, g, g, KT)
    np.testing.assert_allclose(same, u, atol=1e-12)
    # a g_k that is zero over a wider core than the target (an over-repulsive potential):
    # no NaN, the unsampled knots get the wall, the sampled ones the usual update
    g_k = jnp.where(R < 1.05, 0.0, g)
    new = ibi.ibi_update(u, KNOTS, R, g_k, g, KT)
    assert np.all(np.isfinite(new))
    assert float(new[-1]) == 0.0


def test_smoothing_damps_noise_and_rows_are_independent():
    rng = np.random.default_rng(0)
    g_t = _dilute_g(_lj_shifted)
    noisy = g_t * (1 + 0.05 * jnp.asarray(rng.normal(size=R.shape)))
    u = ibi.potential_of_mean_force(KNOTS, R, g_t, KT)
    rough = ibi.ibi_update(u, KNOTS, R, noisy, g_t, KT, smooth=0) - u
    smooth = ibi.ibi_update(u, KNOTS, R, noisy, g_t, KT, smooth=3) - u
    # the [1, 2, 1]/4 filter reduces the knot-to-knot jumps of the update
    assert np.std(np.diff(smooth[20:-1])) < 0.6 * np.std(np.diff(rough[20:-1]))
    # two species pairs: each row is updated from its own g
    both = ibi.ibi_update(jnp.stack([u, u]), KNOTS, R, jnp.stack([noisy, g_t]),
                          jnp.stack([g_t, g_t]), KT, smooth=0)
    np.testing.assert_allclose(both[0], rough + u, atol=1e-12)
    np.testing.assert_allclose(both[1], u, atol=1e-12)


def test_rdf_distance_and_jit():
    # integral of |0.1| over [0, 2] is 0.2 (trapezoid rule is exact for a constant)
    r = jnp.linspace(0.0, 2.0, 41)
    assert float(ibi.rdf_distance(r, jnp.ones(41) * 1.1, jnp.ones(41))) == pytest.approx(0.2)
    g = _dilute_g(_lj_shifted)
    u = ibi.potential_of_mean_force(KNOTS, R, g, KT)
    jitted = jax.jit(ibi.ibi_update, static_argnames=("smooth", "wall"))
    np.testing.assert_allclose(jitted(u, KNOTS, R, g * 1.01, g, KT),
                               ibi.ibi_update(u, KNOTS, R, g * 1.01, g, KT), atol=1e-12)
