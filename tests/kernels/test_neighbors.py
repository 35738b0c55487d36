"""The all-pairs neighbour list of ``kernels.neighbors`` against jax_md's own list (the
reference): the same pairs, the same rebuild rule (half the skin), overflow reported, and the
same energies as the all-pairs sum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import partition, space

from kernels import neighbors as nl
from kernels.potentials import FAMILIES, pair_energy, pair_energy_neighbor_list


def _pairs(nbrs) -> set[tuple[int, int]]:
    idx = np.asarray(nbrs.idx)
    n = nbrs.reference_position.shape[0]
    keep = idx[0] < n
    return set(zip(idx[0][keep].tolist(), idx[1][keep].tolist(), strict=True))


def _liquid(n: int, box, seed: int = 0, dtype=np.float32) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).random((n, 3)) * np.asarray(box), dtype)


@pytest.mark.parametrize("box", [8.0, np.array([7.0, 8.0, 9.5])])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_pairs_as_jax_md(box, dtype):
    R = _liquid(400, box, dtype=dtype)
    disp, _ = space.periodic(jnp.asarray(box, dtype))
    ours = nl.neighbor_list(disp, box, 2.5, 0.5).allocate(R)
    ref = partition.neighbor_list(disp, box, 2.5, 0.5, format=partition.OrderedSparse,
                                  disable_cell_list=True).allocate(R)
    assert ours.update_fn is not ref.update_fn  # the all-pairs path, not jax_md's
    assert ours.format is partition.OrderedSparse
    assert _pairs(ours) == _pairs(ref) and len(_pairs(ours)) > 1000
    assert not bool(ours.did_buffer_overflow)


def test_rebuilds_after_half_the_skin_and_reports_overflow():
    box = 9.0
    R = _liquid(500, box, seed=1)
    disp, shift = space.periodic(box)
    fns = nl.neighbor_list(disp, box, 2.5, 0.6)
    nbrs = fns.allocate(R)
    update = jax.jit(lambda R, nbrs: nbrs.update(R))
    small = shift(R, jnp.full_like(R, 0.1 / np.sqrt(3.0)))  # every atom moved 0.1 < 0.3
    kept = update(small, nbrs)
    np.testing.assert_array_equal(kept.reference_position, R)  # no rebuild
    moved = R.at[0].add(jnp.array([0.35, 0.0, 0.0]))  # one atom beyond half the skin
    rebuilt = update(moved, nbrs)
    np.testing.assert_array_equal(rebuilt.reference_position, moved)
    assert _pairs(rebuilt) == _pairs(fns.allocate(moved))
    crowded = R * 0.5  # twice the density everywhere: more pairs than the capacity
    assert bool(update(crowded, nbrs).did_buffer_overflow)


def test_energy_equals_the_all_pairs_sum():
    box = 8.5
    R = _liquid(300, box, seed=2) * 0.98 + 0.1
    disp, _ = space.periodic(box)
    lj = FAMILIES["lj"].fn
    neighbor_fn, energy_fn = pair_energy_neighbor_list(disp, box, lj, 2.5, mode="shifted")
    full = pair_energy(disp, lj, 2.5, mode="shifted")
    nbrs = neighbor_fn.allocate(R)
    assert nbrs.update_fn is not None and nbrs.cell_list_fn is None
    np.testing.assert_allclose(energy_fn(R, nbrs, sigma=0.9), full(R, sigma=0.9), rtol=2e-5)


def test_large_boxes_keep_jax_mds_cell_list():
    box = 20.0  # 6 cells of 3.0 per side
    disp, _ = space.periodic(box)
    nbrs = nl.neighbor_list(disp, box, 2.5, 0.5).allocate(_liquid(2000, box))
    assert nbrs.cell_list_fn is not None


def test_block_cumsum_is_exact():
    flags = jnp.asarray(np.random.default_rng(3).random(10_007) < 0.3)
    np.testing.assert_array_equal(nl._block_cumsum(flags), np.cumsum(np.asarray(flags)))
