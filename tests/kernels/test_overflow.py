"""The one neighbour-list overflow path (kernels.neighbors.retry_on_overflow) and its users: the
growth rule, the error after the last re-allocation, the differentiable simulation's
``call_with_reallocation`` and the ASE calculator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import diffsim, neighbors
from kernels import potentials as pot
from workbench.builders import fcc_positions

N, RHO, KT = 108, 0.7, 1.2
BOX = (N / RHO) ** (1 / 3)
P0 = {"sigma": jnp.asarray(1.0), "epsilon": jnp.asarray(1.0)}
G_TARGET = jnp.ones(50)


def _list(capacity_multiplier=1.25):
    disp, shift = space.periodic(BOX)
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, 2.5,
                                           capacity_multiplier=capacity_multiplier)
    return disp, shift, nf, ef, jnp.asarray(fcc_positions(N, BOX))


def test_growth_rule_and_retries_until_the_list_fits():
    # expected: each re-allocation asks for a quarter of the current slots per atom times the
    # attempt number (sparse lists count per atom); the call is repeated with the new list
    _, _, nf, _, R = _list()
    nbrs = nf.allocate(R)
    per_atom = nbrs.idx.shape[-1] / N
    assert neighbors.extra_capacity(nbrs, 0) == int(0.25 * per_atom)
    assert neighbors.extra_capacity(nbrs, 2) == int(0.75 * per_atom)
    calls, asked = [], []

    def call(nb):
        calls.append(nb)
        return len(calls), len(calls) < 3  # overflows twice

    def reallocate(extra):
        asked.append(extra)
        return nf.allocate(R, extra_capacity=extra)

    out, used = neighbors.retry_on_overflow(call, nbrs, reallocate)
    assert out == 3 and used is calls[-1] and len(asked) == 2
    assert used.idx.shape[-1] > nbrs.idx.shape[-1]


def test_keeps_overflowing_raises_a_clear_error():
    _, _, nf, _, R = _list()
    with pytest.raises(neighbors.NeighborListOverflowError, match="after 3 re-allocations"):
        neighbors.retry_on_overflow(lambda nb: (None, True), nf.allocate(R),
                                    lambda extra: nf.allocate(R, extra_capacity=extra),
                                    max_reallocations=3)


def test_diffsim_call_with_reallocation_equals_an_ample_list():
    # reference: the same loss call from a state whose list had room from the start; the
    # overflowing call re-run with a larger list must give the same loss and g (float64)
    disp, shift, nf_small, ef, R = _list(capacity_multiplier=0.5)
    init, loss = diffsim.diffsim_loss(ef, shift, disp, nf_small, box_volume=BOX**3, r_max=2.5,
                                      n_bins=50, n_steps=20, stride=5, rdf_sigma=0.05,
                                      gradient="full")
    state = init(jax.random.PRNGKey(0), R, P0, kT=KT)

    def call(s):
        return loss(P0, s, kT=KT, g_target=G_TARGET)

    assert bool(call(state)[1][1]["overflow"])  # far too small: it overflows
    (value, (_, aux)), start = diffsim.call_with_reallocation(call, state, nf_small)
    assert not bool(aux["overflow"])
    assert start.neighbor.idx.shape[-1] > state.neighbor.idx.shape[-1]
    ample = diffsim.with_neighbor_list(state, neighbors.allocate(nf_small, R, 40))
    ref_value, (_, ref_aux) = call(ample)
    assert not bool(ref_aux["overflow"])
    assert float(value) == pytest.approx(float(ref_value), rel=1e-9)
    np.testing.assert_allclose(aux["g"], ref_aux["g"], rtol=1e-9, atol=1e-12)
    # the gradient goes through the same path
    def grad_call(s):
        return jax.value_and_grad(lambda p: loss(p, s, kT=KT, g_target=G_TARGET),
                                  has_aux=True)(P0)

    ((_, (_, aux_g)), grad), _ = diffsim.call_with_reallocation(grad_call, state, nf_small)
    assert not bool(aux_g["overflow"]) and np.isfinite(float(grad["sigma"]))


def test_calculator_reallocates_when_the_atoms_crowd_together():
    # reference: a fresh calculator, whose list is allocated for the crowded atoms from the start
    import workbench as wb

    s = wb.build_system("lj_fluid", n_atoms=256, density=0.6, r_cutoff=2.5)
    potential = wb.PairPotential(family="lj", r_cutoff=2.5, mode="shifted")
    atoms = s.to_ase()
    atoms.calc = wb.PairCalculator(potential)
    atoms.get_potential_energy()
    first = atoms.calc._neighbor.idx.shape[-1]
    atoms.positions = atoms.positions * 0.7  # same cell, atoms ~3x denser: more pairs
    crowded = atoms.get_potential_energy()
    assert atoms.calc._neighbor.idx.shape[-1] > first
    fresh = atoms.copy()
    fresh.calc = wb.PairCalculator(potential)
    assert crowded == pytest.approx(fresh.get_potential_energy(), rel=1e-12)
