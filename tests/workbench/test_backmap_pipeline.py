"""The coarse-graining loop end to end (issue 16, item 5), on the shipped ethanol frames
(GFN2-xTB, 160 frames) with three beads and tiny sizes: it runs from Python and from the
command line, scores what it backmapped, stops between stages and goes on from there."""

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest

from workbench.backmap.pipeline import STAGES, CGPipeline, closest_rmsd
from workbench.cli import main
from workbench.data import Dataset
from workbench.registry import RunRegistry

ETHANOL = Path(__file__).resolve().parents[2] / "notebooks" / "ethanol-160.npz"
SMALL = {"n_features": 16, "n_latent": 8, "n_encoder": 2, "n_decoder": 2, "n_prior": 1}
#: two dihedrals of ethanol (H-C-C-O and C-C-O-H), standing in for phi and psi
QUADS = [[[3, 0, 1, 2], [0, 1, 2, 8]]]


def test_closest_rmsd_of_a_rotated_copy_is_zero():
    """A rotated, shifted copy of a reference frame is 0 Å from it after superposition; a
    frame with one atom moved by 0.9 Å along x is at most 0.9 / sqrt(9) = 0.3 Å away."""
    R = np.asarray(Dataset.load(ETHANOL).positions)[:5]
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    moved = R[2] @ rot.T + 3.0
    bumped = R[3].copy()
    bumped[0, 0] += 0.9
    d = closest_rmsd(np.stack([moved, bumped]), R)
    assert d[0] < 1e-6 and 0 < d[1] <= 0.3 + 1e-9


@pytest.mark.slow
def test_pipeline_stops_between_stages_and_goes_on(tmp_path):
    ds = Dataset.load(ETHANOL)
    job = CGPipeline(ds.positions, ds.forces, ds.species, ds.masses, n_beads=3, cg_steps=1000,
                     stride=50, cgvae_epochs=2, phi_psi_indices=QUADS,
                     registry=RunRegistry(tmp_path), cgvae=SMALL)
    stop_in_md = lambda: job.stage == "CG MD" and job.cancel()  # noqa: E731
    job.attach(stop_in_md)
    job.run(progress=False)
    assert job.status == "stopped" and job.cg is not None and job.mapping.n_beads == 3
    assert job.cg_trajectory is None
    job.detach(stop_in_md)
    job.run(progress=False)
    assert job.status == "completed" and job.done == len(STAGES)
    assert job.cg_trajectory.shape == (20, 3, 3)
    assert job.backmapped.shape == (20, 9, 3)
    # the backmapped atoms sit on their CG frames: the mapping gives the beads back
    beads = np.einsum("Ii,tid->tId", job.mapping.position_matrix(), job.backmapped)
    np.testing.assert_allclose(beads, job.cg_trajectory, atol=1e-4)
    r = job.results
    assert 0.0 <= r["valid_fraction"] <= r["valid_fraction_heavy"] <= 1.0
    assert r["graph_edit_ratio"] >= 0.0 and r["cg_md"]["frames"] == 20
    assert set(r["fes"]) == {"mae_phi", "mae_psi", "mae_fes", "coverage_fes"}
    assert r["rmsd_held_out"]["median"] >= 0 and sum(r["rmsd_backmapped"]["histogram"]) <= 20


@pytest.mark.slow
def test_command_line_pipeline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MDWB_HOME", str(tmp_path / "home"))
    out = tmp_path / "backmapped.extxyz"
    code = main(["backmap", "pipeline", str(ETHANOL), "--beads", "3", "--cg-steps", "500",
                 "--epochs", "1", "--phi-psi", "3,0,1,2:0,1,2,8", "--out", str(out),
                 "--json"])
    assert code == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n_frames"] == 10 and "fes" in scores
    frames = ase.io.read(out, index=":")
    assert len(frames) == 10 and list(frames[0].numbers) == [6, 6, 8, 1, 1, 1, 1, 1, 1]


def test_command_line_refuses_bad_input(tmp_path, capsys):
    assert main(["backmap", "pipeline", str(tmp_path / "missing.npz")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backmap", "pipeline", str(ETHANOL), "--phi-psi", "1,2,3"])
