"""Cubic tables of radial functions (``kernels.mlff.tables``) and SchNet run on them.

Expected numbers: the cubic Hermite interpolation error bounds, ``|f - p| <= h^4 / 384
max|f''''|`` and ``|f' - p'| <= sqrt(3) / 216 h^3 max|f''''|`` (e.g. Burden & Faires, Numerical
Analysis, sec. 3.4 / de Boor, A Practical Guide to Splines, ch. IV), for functions whose fourth
derivative is known; and, for SchNet at its default size, the agreement of tabulated and exact
filters measured on an aspirin-sized cluster (energies 1.5e-9 eV apart; largest force
difference 2.6e-7 eV/Å against an RMS force of 0.037 eV/Å, 7e-6 relative, float64), asserted
with a 10x margin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels.mlff.graph import Edges
from kernels.mlff.radial import cosine_cutoff
from kernels.mlff.tables import DEFAULT_POINTS, cubic_table, locate, lookup
from workbench.architectures import architecture
from workbench.learned import LearnedForceField

CUTOFF = 5.0


def _f(r):
    """Two features with known fourth derivatives: sin(2r) (|f''''| <= 16) and a Gaussian times
    the cosine cutoff (bounded numerically below)."""
    return jnp.stack([jnp.sin(2 * r), jnp.exp(-((r - 2.0) ** 2)) * cosine_cutoff(r, CUTOFF)],
                     axis=1)


def _fourth_derivative_max(r):
    d4 = jax.vmap(jax.grad(jax.grad(jax.grad(jax.grad(lambda x: _f(x[None])[0, 1])))))(r)
    return np.array([16.0, float(jnp.max(jnp.abs(d4)))])


@pytest.mark.parametrize("n_points", [51, 201])
def test_spline_meets_the_hermite_error_bounds(n_points):
    table = cubic_table(_f, CUTOFF, n_points)
    assert table.shape == (4, n_points - 1, 2)
    r = jnp.asarray(np.random.default_rng(0).uniform(0, CUTOFF, 20_000))
    h = CUTOFF / (n_points - 1)

    def spline(r):
        return lookup(table, *locate(r, table.shape[1], CUTOFF))

    d4 = _fourth_derivative_max(jnp.linspace(0, CUTOFF, 5001))
    err = np.abs(np.asarray(spline(r) - _f(r))).max(axis=0)
    assert np.all(err <= h**4 / 384 * d4 * 1.01), (err, h**4 / 384 * d4)
    slope = jax.vmap(jax.jacfwd(lambda x: spline(x[None])[0]))(r)
    exact = jax.vmap(jax.jacfwd(lambda x: _f(x[None])[0]))(r)
    err1 = np.abs(np.asarray(slope - exact)).max(axis=0)
    assert np.all(err1 <= np.sqrt(3) / 216 * h**3 * d4 * 1.01), err1
    # the bounds are not vacuous: the coarse grid's error is far above float64 round-off
    assert err.max() > 1e-10
    # reverse mode (the custom derivative rule) agrees with forward mode
    grad = jax.grad(lambda x: jnp.sum(spline(x)[:, 0] + 2 * spline(x)[:, 1]))(r)
    np.testing.assert_allclose(grad, slope[:, 0] + 2 * slope[:, 1], rtol=1e-12, atol=1e-12)


def test_at_and_beyond_the_cutoff_the_table_ends_at_its_last_value():
    table = cubic_table(lambda r: cosine_cutoff(r, CUTOFF)[:, None], CUTOFF, 101)
    r = jnp.asarray([CUTOFF, CUTOFF + 0.3, 1.0e3])
    np.testing.assert_allclose(lookup(table, *locate(r, 100, CUTOFF)), 0.0, atol=1e-15)
    assert float(lookup(table, *locate(jnp.asarray([0.0]), 100, CUTOFF))[0, 0]) == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        cubic_table(_f, CUTOFF, 1)


def test_default_schnet_tabulated_matches_its_exact_filters():
    lff = LearnedForceField(architecture=architecture("schnet"), species=[1, 6, 8],
                            shifts=[0.0] * 3, scale=1.0)
    model = lff.build_model()
    rng = np.random.default_rng(1)
    n = 21  # aspirin-sized: a random cluster, no two atoms closer than 0.9 Å
    R = rng.uniform(0, 6.0, (1, 3))
    while len(R) < n:
        x = rng.uniform(0, 6.0, 3)
        if np.linalg.norm(R - x, axis=1).min() > 0.9:
            R = np.vstack([R, x])
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    edges = Edges(jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32))
    species = jnp.asarray(rng.integers(0, 3, n), jnp.int32)
    R = jnp.asarray(R)
    params = model.init_fn(jax.random.PRNGKey(0), R, edges, species)
    tabulated = model.tabulate_fn(params)
    assert tabulated["tables"]["filter_table"].shape == (6, 4, DEFAULT_POINTS - 1, 128)

    def energy_forces(p):
        e, g = jax.jit(jax.value_and_grad(model.energy_fn, argnums=1))(p, R, edges, species)
        return float(e), -np.asarray(g)

    (E, F), (Et, Ft) = energy_forces(params), energy_forces(tabulated)
    rms = np.sqrt(np.mean(F**2))
    print(f"dE {abs(Et - E):.2e}, max dF {np.abs(Ft - F).max():.2e}, rms F {rms:.3g}")
    assert rms > 1e-3  # forces worth comparing
    assert abs(Et - E) <= 1e-8 * n
    assert np.abs(Ft - F).max() <= 1e-4 * rms, (np.abs(Ft - F).max(), rms)
