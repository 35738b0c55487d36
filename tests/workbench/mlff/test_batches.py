"""Fixed-shape padded batches (workbench.mlff.batches) and the loss over them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.workbench.mlff.analytic import morse_dataset
from workbench.architectures import architecture
from workbench.data import Dataset
from workbench.learned import LearnedForceField
from workbench.mlff.batches import GraphData, frame_edges
from workbench.mlff.step import make_loss, make_predict


def _brute_pairs(R, box, cutoff):
    d = R[None] - R[:, None]
    if box is not None:
        d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    i, j = np.nonzero((r < cutoff) & ~np.eye(len(R), dtype=bool))
    return set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize("periodic", [False, True])
def test_frame_edges_are_every_pair_within_the_cutoff(periodic):
    ds = morse_dataset(3, seed=1, periodic=periodic, noise=0.5)
    box = ds.box if periodic else None
    for R in ds.positions:
        s, r = frame_edges(R, box, 4.0)
        assert s.dtype == np.int32
        assert set(zip(s.tolist(), r.tolist(), strict=True)) == _brute_pairs(R, box, 4.0)


def test_batches_have_one_shape_and_padding_has_weight_zero():
    ds = morse_dataset(11, seed=2, periodic=True, noise=0.4)
    data = GraphData(ds, 4.0)
    assert data.capacity == data.edge_counts.max()
    batches = list(data.batches(np.arange(11), 4))
    assert len(batches) == 3
    shapes = {tuple(np.shape(x) for x in b) for b in batches}
    assert shapes == {((4, 54, 3), (4, 54, 3), (4,), (4, data.capacity), (4, data.capacity),
                       (4, 3), (4,))}
    np.testing.assert_array_equal(batches[-1].weights, [1, 1, 1, 0])
    assert batches[0].positions.dtype == np.float32
    # padding edges point at atom n_atoms
    k = int(np.argmin(data.edge_counts))
    assert (data.edges([k])[0][0, data.edge_counts[k]:] == 54).all()
    # too large to keep: the edges are computed per batch, the same ones
    lazy = GraphData(ds, 4.0, cache_bytes=0)
    assert data.cached and not lazy.cached and lazy.capacity == data.capacity
    for a, b in zip(lazy.batch(np.arange(4), 4), batches[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_padded_frames_do_not_change_the_loss():
    ds = morse_dataset(3, seed=3)
    data = GraphData(ds, 5.0)
    ff = LearnedForceField(architecture=architecture("pair_mlp", cutoff=5.0, hidden=[8],
                                                     n_basis=8),
                           species=[10, 18], shifts=[-3.0, -7.0], scale=0.1)
    model = ff.build_model()
    species = ff.species_index(ds.species)
    b3 = data.batch(np.arange(3), 3)
    params = model.init_fn(jax.random.PRNGKey(0), jnp.asarray(b3.positions[0]),
                           _edges(b3), jnp.asarray(species))
    loss = jax.jit(make_loss(make_predict(model, species, False), 0.05, 0.95))
    l3, _ = loss(params, b3)
    l8, sums = loss(params, data.batch(np.arange(3), 8))
    assert float(sums["n"]) == 3.0
    # float32 sums over 3 vs 8 frames (5 of weight 0): equal to round-off
    assert float(l8) == pytest.approx(float(l3), rel=1e-6)


def _edges(batch):
    from kernels.mlff.graph import Edges

    return Edges(jnp.asarray(batch.senders[0]), jnp.asarray(batch.receivers[0]))


def test_bad_datasets_are_refused():
    ds = morse_dataset(2, seed=4, periodic=True)
    with pytest.raises(ValueError, match=r"larger than half the smallest box side \(10.2 Å"):
        GraphData(ds, 6.0)
    no_forces = Dataset(positions=ds.positions, species=ds.species, energies=ds.energies,
                        box=ds.box)
    with pytest.raises(ValueError, match="needs energies and forces; this dataset has no "
                                         "forces"):
        GraphData(no_forces, 4.0)
