"""The dtype-following PME reciprocal sum (kernels.pme) against jax_md's own (the reference):
the same energy and forces in float64, and a float32 sum that stays float32 with 64-bit mode on.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md.mm_forcefields.nonbonded.electrostatics import PMECoulomb

from kernels import pme

BOX = np.array([14.0, 15.0, 16.0])  # Å
GRID = np.array([18, 20, 21], np.int32)
ALPHA = 0.3  # 1/Å


def _charges_and_positions(n=60, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(0.0, 0.5, n)
    return q - q.mean(), rng.uniform(0.0, 1.0, (n, 3)) * BOX  # a neutral random system


@pytest.mark.parametrize("order", [4, 5])
def test_reciprocal_energy_and_forces_equal_jax_md_in_float64(order):
    # Expected: jax_md's PMECoulomb.coulomb_recip_pme on the same charges, box, grid and alpha
    # (its formulas are the ones copied); agreement to rounding (1e-12 relative)
    q, R = _charges_and_positions()
    q, R, box = jnp.asarray(q), jnp.asarray(R), jnp.asarray(BOX)
    ours = pme.reciprocal_energy_fn(q, box, GRID, ALPHA, order)
    ref = PMECoulomb().coulomb_recip_pme(q, box, GRID, alpha=ALPHA, order=order)
    e, f = jax.value_and_grad(ours)(R)
    e_ref, f_ref = jax.value_and_grad(ref)(R)
    assert e.dtype == jnp.float64
    assert float(e) == pytest.approx(float(e_ref), rel=1e-12)
    np.testing.assert_allclose(f, f_ref, rtol=1e-9, atol=1e-12 * np.abs(f_ref).max())
    # a strained box (jax_md's `perturbation`, as the runner's pressure uses it)
    strain = (1.0 + 0.01) * jnp.eye(3)
    assert float(ours(R, perturbation=strain)) == pytest.approx(
        float(ref(R, perturbation=strain)), rel=1e-12)


def test_float32_positions_give_a_float32_sum():
    # with 64-bit mode on, jax_md's version would return float64 for float32 positions; ours
    # stays float32 and agrees with float64 to float32 rounding (~1e-6 relative measured)
    q, R = _charges_and_positions(seed=1)
    e64 = pme.reciprocal_energy_fn(jnp.asarray(q), jnp.asarray(BOX), GRID, ALPHA)(jnp.asarray(R))
    f32 = jnp.float32
    fn = pme.reciprocal_energy_fn(jnp.asarray(q, f32), jnp.asarray(BOX, f32), GRID, ALPHA)
    e32, g32 = jax.value_and_grad(fn)(jnp.asarray(R, f32))
    assert e32.dtype == f32 and g32.dtype == f32
    assert jax.make_jaxpr(fn)(jnp.asarray(R, f32)).jaxpr.outvars[0].aval.dtype == f32
    assert float(e32) == pytest.approx(float(e64), rel=1e-4)


def test_bspline_weights_partition_unity():
    # cardinal B-splines sum to 1 at any offset (a property of the basis)
    w = np.linspace(0.0, 0.99, 7)
    for order in (4, 5):
        np.testing.assert_allclose(np.sum(pme.bspline_weights(w, order), axis=0), 1.0,
                                   rtol=1e-14)
