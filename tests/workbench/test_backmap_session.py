"""``BackmapSession`` headless (the Backmap dashboard's state), on the shipped ethanol frames
(GFN2-xTB, 160 frames) with three Girvan-Newman beads and a tiny CGVAE: it refuses what it
cannot backmap with the reason before anything runs, trains a model and takes it when the job
ends, samples K structures per held-out CG frame that map back onto their beads, scores them
beside the linear map, reloads the model from its run, takes an Autograin run's mapping, and
runs the whole loop (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.workbench.test_cg_session import ethane
from workbench.backmap.cgvae import map_frames
from workbench.backmap.session import BackmapSession
from workbench.coarse.autograin import AutograinJob
from workbench.data import Dataset

ETHANOL = Path(__file__).resolve().parents[2] / "notebooks" / "ethanol-160.npz"
TINY = {"n_features": 16, "n_latent": 8, "n_encoder": 2, "n_decoder": 2, "n_prior": 1}


@pytest.fixture(scope="module")
def ethanol() -> Dataset:
    return Dataset.load(ETHANOL)


def test_what_cannot_be_backmapped_is_refused_with_the_reason(ethanol):
    s = BackmapSession()
    lj = Dataset(positions=np.random.default_rng(0).uniform(0, 5, (12, 4, 3)),
                 species=np.zeros(4, int), units="lj", species_names=["A"])
    for ds, reason in [(lj, "reduced LJ units"), (ethane(5), "at least 10")]:
        with pytest.raises(ValueError, match=reason):
            s.use(ds, "data")
    with pytest.raises(ValueError, match="choose or generate a dataset first"):
        s.choose_mapping("girvan_newman", 3)
    s.use(ethanol, "ethanol")  # no forces needed to backmap
    assert set(s.methods()) == {"girvan_newman", "heavy_atoms", "autograin_run"}
    with pytest.raises(ValueError, match="choose or learn a mapping first"):
        s.train(epochs=1)
    with pytest.raises(ValueError, match="two beads or more"):
        s.choose_mapping("girvan_newman", 1)
    with pytest.raises(ValueError, match="between 1 .* and 9"):
        s.choose_mapping("girvan_newman", 12)
    with pytest.raises(ValueError, match="pick an Autograin run"):
        s.choose_mapping("autograin_run")
    s.choose_mapping("girvan_newman", 3)
    with pytest.raises(ValueError, match="unknown CGVAE settings"):
        s.train(epoch=1)
    with pytest.raises(ValueError, match="train or load a model first"):
        s.sample(4)
    with pytest.raises(ValueError, match="no run nope"):
        s.load_model("nope")
    with pytest.raises(ValueError, match="no CG MD frames"):
        s.cg_frames("cg_md")
    assert s.job is None  # nothing ran
    s.use(Dataset(positions=ethanol.positions, species=ethanol.species), "no forces")
    with pytest.raises(ValueError, match="no forces: the loop"):
        s.run_pipeline(3)
    s.use(ethanol, "ethanol")
    with pytest.raises(ValueError, match="takes 3 to 9 beads"):
        s.run_pipeline(2)


def test_train_sample_score_reload(ethanol):
    s = BackmapSession()
    s.use(ethanol, "ethanol")
    s.choose_mapping("girvan_newman", 3)
    job = s.train(epochs=2, **TINY)
    with pytest.raises(ValueError, match="wait for the current"):
        s.choose_mapping("heavy_atoms")
    job.wait(timeout=120)
    assert job.status == "completed" and s.model is None  # taken by update()
    s.update()
    assert s.model is job.backmapper and "2 epochs" in s.model_label
    with pytest.raises(ValueError, match="1 to 16 samples"):
        s.sample(0)
    s.sample(4, seed=1).wait(timeout=60)
    sm = s.samples
    # the last 10 % of the 160 frames are held out (16), mapped to beads
    assert sm.source == "held_out" and sm.frames.tolist() == list(range(144, 160))
    assert sm.atoms.shape == (16, 4, 9, 3) and sm.linear.shape == (16, 9, 3)
    np.testing.assert_allclose(sm.reference, ethanol.positions[144:])
    # CGVAE's samples map back onto their CG frame exactly (its decoder's offsets are shifted
    # so, kernels.generative.cgvae); float32 leaves ~1e-5 Å
    np.testing.assert_allclose(map_frames(s.mapping, sm.atoms), np.repeat(sm.cg[:, None], 4, 1),
                               atol=1e-4)
    assert np.max(np.abs(sm.atoms[:, 0] - sm.atoms[:, 1])) > 1e-3  # four different samples
    scores = s.frame_scores(3, 2)
    assert set(scores) == {"sample", "samples", "linear"}
    assert scores["sample"]["valid"] in (0.0, 1.0) and scores["samples"]["pairwise_rmsd"] > 0
    # every score is finite and in range; the RMSDs are to the held-out reference frame
    for column in scores.values():
        assert 0 < column["rmsd_heavy"] <= column["rmsd"] < 5
        assert 0 <= column["valid"] <= 1 and column["graph_edit_ratio"] >= 0
    summary = s.summary()
    assert set(summary["cgvae"]) >= {"rmsd", "valid", "diversity"}
    assert "diversity" not in summary["linear"]  # a deterministic map has no spread

    run_id = job.run_record.id
    assert list(s.model_runs().values()) == [run_id]
    s.choose_mapping("heavy_atoms")  # a new mapping drops the model and its samples
    assert s.model is None and s.samples is None
    s.load_model(run_id)
    assert s.mapping.assignment.tolist() == job.mapping.assignment.tolist()
    s.sample(4, seed=1).wait(timeout=60)  # the same seed: the same samples
    np.testing.assert_allclose(s.samples.atoms, sm.atoms, atol=1e-5)
    other = BackmapSession()
    other.use(ethane(12), "ethane")
    assert other.model_runs() == {}
    with pytest.raises(ValueError, match="backmaps C2H6O, not ethane"):
        other.load_model(run_id)


def test_the_mapping_of_an_autograin_run(ethanol):
    job = AutograinJob(ethanol.positions, ethanol.forces, ethanol.masses, n_beads=3, epochs=1,
                       batch_size=32).run(progress=False)
    s = BackmapSession()
    s.use(ethanol, "ethanol")
    runs = s.autograin_runs()
    assert list(runs.values()) == [job.run_record.id]
    mapping = s.choose_mapping("autograin_run", run=job.run_record.id)
    assert s.mapping is mapping and s.mapping_label.startswith("Autograin run")
    assert mapping.assignment.tolist() == job.mapping.assignment.tolist()
    other = BackmapSession()
    other.use(ethane(12), "ethane")
    assert other.autograin_runs() == {}
    with pytest.raises(ValueError, match="maps a molecule of 9 atoms"):
        other.choose_mapping("autograin_run", run=job.run_record.id)


@pytest.mark.slow
def test_the_whole_loop_is_taken_when_it_completes(ethanol):
    """20-60 s on two cores (a warm or cold compilation cache)."""
    s = BackmapSession()
    s.use(ethanol, "ethanol")
    job = s.run_pipeline(3, cg_steps=1000, epochs=1, **TINY)
    job.wait(timeout=600)
    assert job.status == "completed", job.message
    s.update()
    assert s.model is job.backmapper and s.mapping is job.mapping
    assert set(s.sources()) == {"held_out", "cg_md"}
    assert s.samples.source == "loop" and s.samples.atoms.shape == (200, 1, 9, 3)
    assert s.samples.reference is None and s.frame_scores(0, 0)["sample"]["rmsd"] is None
    s.sample(2, source="cg_md").wait(timeout=60)
    assert s.samples.atoms.shape == (100, 2, 9, 3)  # MAX_FRAMES of the 200, evenly spaced
    assert {"valid_fraction", "rmsd_backmapped"} <= set(job.results)
