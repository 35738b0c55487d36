"""The training job (workbench.mlff.Training): the run it writes, reloading the model,
evaluate, stop with the best weights kept, resume from the checkpoint, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.workbench.mlff.analytic import morse_dataset
from workbench.architectures import architecture
from workbench.data import Dataset
from workbench.learned import LearnedForceField
from workbench.mlff import Training, evaluate
from workbench.mlff.checkpoint import read_curves
from workbench.registry import RunRegistry

SMALL = {"hidden": [16], "n_basis": 8, "cutoff": 5.0}
FAST = {"batch_size": 8, "warmup_steps": 10, "learning_rate": 3e-3, "seed": 0}


def _training(ds, registry, **settings):
    return Training(architecture=architecture("pair_mlp", **SMALL), dataset=ds,
                    registry=registry, **{**FAST, **settings})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = morse_dataset(40, seed=0)
    registry = RunRegistry(tmp_path_factory.mktemp("runs"))
    job = _training(ds, registry, max_epochs=3)
    job.run(progress=False)
    return job, ds, registry


def test_run_layout(trained):
    job, ds, registry = trained
    assert job.status == "completed" and job.epoch == 3
    run = registry.get(job.run_record.id)
    assert run.kind == "mlff" and run.status == "completed"
    for name in ("config.json", "metrics.json", "model.json", "params.msgpack",
                 "checkpoint.msgpack", "curves.csv", "split.npz", "parity.npz"):
        assert run.file(name).is_file(), name
    cfg = run.config
    assert cfg["architecture"]["arch"] == "pair_mlp"
    assert cfg["hyperparameters"]["energy_weight"] == 0.05  # MDsim's MD17 default
    assert cfg["split"] == {"fractions": [0.8, 0.1, 0.1], "seed": 0, "sizes": [32, 4, 4],
                            "file": "split.npz"}
    split = run.load_arrays("split")
    for got, want in zip((split["train"], split["validation"], split["test"]),
                         ds.split_indices((0.8, 0.1, 0.1), seed=0), strict=True):
        np.testing.assert_array_equal(got, want)
    test = run.metrics["test"]
    assert test["n_frames"] == 4 and set(test["force_mae_per_species"]) == {"Ne", "Ar"}
    assert 0 < test["force_mae"] <= test["force_rmse"]
    curves = read_curves(run.path)
    np.testing.assert_array_equal(curves["epoch"], [1, 2, 3])
    assert np.all(np.diff(curves["wall_time_s"]) > 0) and np.all(curves["val_force_mae"] > 0)
    assert run.metrics["train_frames_per_s"] > 0


def test_saved_model_reloads_to_identical_energies(trained):
    job, ds, _ = trained
    run = job.run_record
    loaded = LearnedForceField.load(run.path)
    a, b = job.force_field.build_model(), loaded.build_model()
    from kernels.mlff.graph import Edges
    from workbench.mlff.batches import GraphData

    data = GraphData(ds, 5.0)
    species = jnp.asarray(loaded.species_index(ds.species))
    for k in range(3):
        edges = Edges(*(jnp.asarray(a[0]) for a in data.edges([k])))
        R = jnp.asarray(data.positions[k])
        assert float(a.energy_fn(job.force_field.params, R, edges, species)) == \
            float(b.energy_fn(loaded.params, R, edges, species))  # bit for bit
    # evaluate() on the test frames gives the run's test metrics (same weights, same frames)
    result = evaluate(loaded, ds[run.load_arrays("split")["test"]])
    assert result.metrics["force_mae"] == pytest.approx(run.metrics["test"]["force_mae"],
                                                        rel=1e-9)
    np.testing.assert_array_equal(result.parity["force_pred"],
                                  run.load_arrays("parity")["force_pred"])


def test_stop_keeps_the_best_weights_and_resume_continues(tmp_path):
    ds = morse_dataset(40, seed=0)
    registry = RunRegistry(tmp_path / "runs")
    whole = _training(ds, registry, max_epochs=3)
    whole.run(progress=False)

    job = _training(ds, registry, max_epochs=3, chunk_seconds=0.0)
    def stop_midway():
        if job.done >= 1.5:
            job.stop(wait=False)

    job.attach(stop_midway)
    job.run(progress=False)
    assert job.status == "stopped" and job.epoch == 1 and job.done == 1.5
    run = registry.get(job.run_record.id)
    assert run.status == "stopped"
    # the model saved is the best (only) validated one: its validation force MAE is epoch 1's
    kept = LearnedForceField.load(run.path)
    val = evaluate(kept, ds[run.load_arrays("split")["validation"]])
    assert val.metrics["force_mae"] == pytest.approx(job.curves["val_force_mae"][0], rel=1e-6)

    with pytest.raises(ValueError, match="is not the one run"):
        Training.from_run(run.id, dataset=morse_dataset(40, seed=1), registry=registry)
    with pytest.raises(ValueError, match=r"\['seed'\] cannot change when resuming"):
        Training.from_run(run.id, dataset=ds, registry=registry, seed=5)
    resumed = Training.from_run(run.id, dataset=ds, registry=registry)
    assert resumed.epoch == 1 and resumed.done == 1.5 and resumed.curves["epoch"] == [1]
    resumed.run(progress=False)
    assert resumed.status == "completed" and resumed.epoch == 3
    assert registry.get(run.id).status == "completed"
    # stopping mid-epoch and resuming from the checkpoint trains exactly as without a stop
    # (same batches in the same order, same optimiser and EMA state; CPU float32)
    np.testing.assert_allclose(resumed.curves["val_force_mae"], whole.curves["val_force_mae"],
                               rtol=1e-5)
    np.testing.assert_allclose(resumed.curves["train_loss"], whole.curves["train_loss"],
                               rtol=1e-5)
    assert read_curves(run.path)["epoch"].tolist() == [1, 2, 3]
    # the stopped job itself also continues where it stopped, in the same process
    job.detach(stop_midway)
    job.run(progress=False)
    assert job.status == "completed"
    np.testing.assert_allclose(job.curves["val_force_mae"], whole.curves["val_force_mae"],
                               rtol=1e-5)


def test_bad_input_is_refused(tmp_path):
    registry = RunRegistry(tmp_path / "runs")
    ds = morse_dataset(10, seed=1)
    no_energy = Dataset(positions=ds.positions, species=ds.species, forces=ds.forces)
    with pytest.raises(ValueError, match="this dataset has no energies"):
        _training(no_energy, registry).prepare()
    box = morse_dataset(10, seed=1, periodic=True)
    job = Training(architecture=architecture("pair_mlp", cutoff=6.0), dataset=box,
                   registry=registry)
    with pytest.raises(ValueError, match="larger than half the smallest box side"):
        job.prepare()
    with pytest.raises(ValueError, match="validation > 0"):
        _training(ds, registry, split=[0.9, 0.0, 0.1]).prepare()
    with pytest.raises(ValueError, match="leave 8 for training and 0 for validation"):
        _training(ds, registry, split=[0.8, 0.05, 0.15]).check()
    lj = Dataset(positions=ds.positions, species=np.zeros(8, int), energies=ds.energies,
                 forces=ds.forces, units="lj", species_names=["A"])
    with pytest.raises(ValueError, match="ASE units"):
        _training(lj, registry).check()
    # a failed start says why in the job's message
    job = _training(no_energy, registry)
    job.start()
    job.wait()
    assert job.status == "failed" and "has no energies" in job.message
    assert registry.list() == []  # nothing registered for refused input


def test_periodic_float64_training(tmp_path):
    # the periodic path (box per frame, minimum image) with float64 weights and data
    ds = morse_dataset(20, seed=2, periodic=True)
    job = Training(architecture=architecture("pair_mlp", hidden=[8], n_basis=8, cutoff=5.0),
                   dataset=ds, registry=RunRegistry(tmp_path / "runs"), max_epochs=2,
                   batch_size=8, warmup_steps=5, precision="float64")
    job.run(progress=False)
    assert job.status == "completed"
    leaves = jax.tree.leaves(job.force_field.params)
    assert {np.asarray(x).dtype for x in leaves} == {np.dtype(np.float64)}
    assert job.run_record.config["data"]["boundary"] == "periodic"
    # float64 end to end: the saved model evaluated in float64 on the test frames gives the
    # run's test metrics to round-off
    model = LearnedForceField.load(job.run_record.path)
    test = ds[job.run_record.load_arrays("split")["test"]]
    again = evaluate(model, test, dtype=np.float64).metrics
    assert np.isfinite(again["force_mae"])
    assert again["force_mae"] == pytest.approx(job.test_metrics["force_mae"], rel=1e-12)


def test_early_stopping_and_the_learning_rate_floor(tmp_path, monkeypatch):
    # validation made flat: no epoch after the first improves, so the job stops after
    # early_stopping_patience epochs, or when the plateau steps bring the rate to its floor
    ds = morse_dataset(40, seed=0)
    flat = {"energy_mae": 1.0, "energy_rmse": 1.0, "force_mae": 1.0, "force_rmse": 1.0}
    monkeypatch.setattr(Training, "validate", lambda self, params=None: dict(flat))
    job = _training(ds, RunRegistry(tmp_path / "a"), max_epochs=10, early_stopping_patience=2)
    job.run(progress=False)
    assert job.status == "completed" and job.epoch == 3
    assert job.message == "early stop: validation force MAE not better for 2 epochs"
    assert job.run_record.metrics["best_epoch"] == 1

    job = _training(ds, RunRegistry(tmp_path / "b"), max_epochs=10, plateau_patience=1,
                    plateau_factor=0.5, min_learning_rate=1e-3, warmup_steps=0)
    job.run(progress=False)
    # learning rate 3e-3; the curve holds the rate each epoch trained with. After epoch 2
    # (no improvement) the scale halves; after epoch 3 it would be 0.25, clamped to the floor
    # 1e-3 / 3e-3, and training stops
    assert job.epoch == 3 and job.message == "learning rate reached 0.001"
    np.testing.assert_allclose(job.curves["learning_rate"], [3e-3, 3e-3, 1.5e-3], rtol=1e-6)


@pytest.mark.slow
def test_mace_message_normalisation_is_set_from_the_training_frames(tmp_path):
    # mlip's MACE divides its messages by avg_num_neighbors (default 1 when unset); as in
    # mace-torch, training sets it to the mean neighbour count within the cutoff
    ds = morse_dataset(20, seed=0)
    arch = architecture("mace", cutoff=5.0, num_channels=8, l_max=1, num_layers=1,
                        correlation=2, radial_mlp_hidden=[8])
    job = Training(architecture=arch, dataset=ds, registry=RunRegistry(tmp_path), **FAST)
    job.prepare()
    train = job._split[0]
    d = np.linalg.norm(ds.positions[train][:, :, None] - ds.positions[train][:, None], axis=-1)
    n = ds.n_atoms
    expected = ((d < 5.0).sum() - len(train) * n) / (len(train) * n)  # pairs i != j per atom
    assert arch.avg_num_neighbors == pytest.approx(expected, rel=1e-12)
    assert job._config()["architecture"]["avg_num_neighbors"] == pytest.approx(expected)
