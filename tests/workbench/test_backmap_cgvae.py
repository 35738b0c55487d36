"""Training CGVAE as a job (issue 16, items 1 and 8): a model overfitted to one structure
reconstructs it, a saved model samples what it sampled before it was saved, a stopped training
resumes to the same weights as an unbroken one, and bad input is refused. Ethanol from the
shipped ``notebooks/ethanol-160.npz`` (GFN2-xTB frames), three beads by Girvan-Newman."""

from pathlib import Path

import jax
import numpy as np
import pytest

from workbench.backmap.cgvae import BackmapJob, Backmapper
from workbench.backmap.metrics import bonds
from workbench.data import Dataset
from workbench.mapping import girvan_newman_mapping
from workbench.registry import RunRegistry

ETHANOL = Path(__file__).resolve().parents[2] / "notebooks" / "ethanol-160.npz"
SMALL = {"n_features": 16, "n_latent": 8, "n_encoder": 2, "n_decoder": 2, "n_prior": 1}


@pytest.fixture(scope="module")
def ethanol():
    ds = Dataset.load(ETHANOL)
    R, Z = np.asarray(ds.positions), np.asarray(ds.species)
    mapping = girvan_newman_mapping(ds.n_atoms, bonds(R[0], Z), 3, ds.masses)
    return R, Z, mapping


@pytest.fixture(scope="module")
def trained(ethanol, tmp_path_factory):
    """A small model trained for two epochs on 40 frames, and its registry."""
    R, Z, mapping = ethanol
    registry = RunRegistry(tmp_path_factory.mktemp("runs"))
    job = BackmapJob(R[:40], Z, mapping, registry=registry, epochs=2, **SMALL)
    return job.run(progress=False), registry


def test_overfitted_model_reconstructs_its_structure(ethanol, tmp_path):
    """Trained on one frame only, the reconstruction is within 0.05 Å RMSD of it (issue 16:
    the bound is the issue's; measured 0.001-0.003 Å after 400 steps, three seeds, two
    frames)."""
    R, Z, mapping = ethanol
    job = BackmapJob(R[:1], Z, mapping, registry=RunRegistry(tmp_path), epochs=400,
                     validation_fraction=0.0, learning_rate=3e-3, beta=0.0, **SMALL)
    job.run(progress=False)
    rec = job.backmapper.reconstruct(R[:1])
    rmsd = float(np.sqrt(np.mean(np.sum((rec - R[:1]) ** 2, axis=-1))))
    assert rmsd < 0.05, rmsd
    assert job.run_record.metrics["epochs"] == 400


def test_saved_model_samples_the_same(ethanol, trained):
    """A model reloaded from its run draws the same structures for the same seed, and other
    ones for another seed; samples map back onto their CG frame."""
    R = ethanol[0]
    job, registry = trained
    X = job.backmapper.map(R[40:43])
    before = job.backmapper.sample(X, n_samples=4, seed=3)
    loaded = Backmapper.from_run(job.run_record.id, registry=registry)
    after = loaded.sample(X, n_samples=4, seed=3)
    assert before.shape == (3, 4, 9, 3)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert np.max(np.abs(loaded.sample(X, n_samples=4, seed=4) - before)) > 1e-3
    np.testing.assert_allclose(loaded.map(after), np.repeat(X[:, None], 4, axis=1), atol=1e-4)


def test_stopped_training_resumes_like_an_unbroken_one(ethanol, tmp_path):
    """Stopped after 2 of 4 epochs and continued from the saved run in a fresh job, the
    training ends with the weights of an unbroken one (same batches, noise and schedule)."""
    R, Z, mapping = ethanol
    registry = RunRegistry(tmp_path)
    settings = dict(epochs=4, batch_size=16, **SMALL)
    whole = BackmapJob(R[:48], Z, mapping, registry=registry, **settings).run(progress=False)
    job = BackmapJob(R[:48], Z, mapping, registry=registry, **settings)
    job.attach(lambda: job.epoch == 2 and job.cancel())
    job.run(progress=False)
    assert job.status == "stopped" and job.epoch == 2
    rest = BackmapJob.from_run(job.run_record.id, R[:48], registry=registry)
    assert rest.epoch == 2
    rest.run(progress=False)
    for a, b in zip(jax.tree.leaves(whole.backmapper.params),
                    jax.tree.leaves(rest.backmapper.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rest.curves["val_rmsd"], whole.curves["val_rmsd"], rtol=1e-5)
    with pytest.raises(ValueError, match="cannot change"):
        BackmapJob.from_run(job.run_record.id, R[:48], registry=registry, n_features=32)
    with pytest.raises(ValueError, match="not the ones"):
        BackmapJob.from_run(job.run_record.id, R[1:49], registry=registry)


def test_bad_input_is_refused(ethanol, trained, tmp_path):
    R, Z, mapping = ethanol
    registry = RunRegistry(tmp_path)
    with pytest.raises(ValueError, match="mapping is of"):
        BackmapJob(R[:, :8], Z[:8], mapping, registry=registry).check()
    with pytest.raises(ValueError, match="two beads"):
        one = girvan_newman_mapping(9, bonds(R[0], Z), 1, mapping.masses)
        BackmapJob(R, Z, one, registry=registry).check()
    bad = R.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        BackmapJob(bad, Z, mapping, registry=registry).check()
    with pytest.raises(ValueError, match=r"\[n_frames, 3, 3\]"):
        trained[0].backmapper.sample(np.zeros((2, 4, 3)))
    with pytest.raises(RuntimeError, match="has completed"):
        trained[0].run(progress=False)
