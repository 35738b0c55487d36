"""``workbench benchmark score`` on small .traj / extxyz files, and its errors."""

import json

import ase.io
import numpy as np
import pytest

from tests.workbench.benchmark.synthetic import vibrating_molecule, water_box, write_traj
from workbench.benchmark import HR, BondStability
from workbench.cli import main


def test_molecule_score_as_json(tmp_path, capsys):
    reference = write_traj(vibrating_molecule("CH3CH2OH", 30, seed=0), tmp_path / "ref.traj")
    run = vibrating_molecule("CH3CH2OH", 20, seed=1)
    path = write_traj(run, tmp_path / "atoms.traj")
    assert main(["benchmark", "score", path, "--reference", reference, "--kind", "molecule",
                 "--frame-interval", "0.05", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["kind"] == "molecule" and metrics["n_frames"] == 20
    assert metrics["stability_ps"] == pytest.approx(19 * 0.05) and not metrics["collapsed"]
    stability = BondStability(reference).run(path, frame_interval_ps=0.05).results
    expected = HR(reference).run(path, stability=stability).results.mae
    assert metrics["hr_mae"] == pytest.approx(expected, rel=1e-12)  # the metric classes' own
    assert metrics["units"]["stability"] == "ps"


def test_water_score_with_unavailable_diffusivity(tmp_path, capsys):
    reference = tmp_path / "ref.extxyz"
    ase.io.write(reference, water_box(3, 12.2, 15, seed=0).to_atoms(), format="extxyz")
    path = write_traj(water_box(3, 12.2, 25, seed=0, noise_seed=1), tmp_path / "atoms.traj")
    assert main(["benchmark", "score", path, "--reference", str(reference), "--kind", "water",
                 "--frame-interval", "0.1", "--reference-frame-interval", "0.1",
                 "--diffusivity-lag", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["rdf_mae"]) == {"OO", "HH", "HO"}
    assert all(v is not None and v >= 0 for v in metrics["rdf_mae"].values())
    assert metrics["diffusivity_error"] is not None  # 2.4 ps stable > 1 ps lag
    # the default 100 ps lag is longer than the 1.4 ps reference: null with a note
    assert main(["benchmark", "score", path, "--reference", str(reference), "--kind", "water",
                 "--frame-interval", "0.1", "--reference-frame-interval", "0.1",
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["diffusivity_error"] is None and "shorter" in metrics["diffusivity_note"]


def test_bad_input_exits_2_without_traceback(tmp_path, capsys):
    mol = write_traj(vibrating_molecule("CH4", 5, seed=0), tmp_path / "ch4.traj")
    other = write_traj(vibrating_molecule("H2O", 5, seed=0), tmp_path / "h2o.traj")
    base = ["benchmark", "score"]
    assert main([*base, str(tmp_path / "missing.traj"), "--reference", mol, "--kind",
                 "molecule", "--frame-interval", "0.05"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([*base, other, "--reference", mol, "--kind", "molecule",
                 "--frame-interval", "0.05"]) == 2
    assert "do not match" in capsys.readouterr().err
    assert main([*base, mol, "--reference", mol, "--kind", "molecule"]) == 2
    assert "--frame-interval" in capsys.readouterr().err
    assert main([*base, mol, "--reference", mol, "--kind", "water",
                 "--frame-interval", "0.05"]) == 2  # no box
    assert "periodic box" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: usage and message, exit 2
        main([*base, mol, "--reference", mol, "--kind", "crystal"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_a_generated_datasets_frame_interval_comes_from_its_provenance():
    # workbench.data.generate records the MD settings: a frame every stride steps of timestep_fs
    from workbench.benchmark import load_trajectory
    from workbench.data.dataset import Dataset

    ds = Dataset(positions=np.zeros((3, 2, 3)) + np.array([[0, 0, 0], [0, 0, 1.1]]),
                 species=np.array([6, 8]),
                 provenance={"settings": {"timestep_fs": 0.5, "stride": 10}})
    assert load_trajectory(ds).frame_interval_ps == pytest.approx(0.005)
    assert load_trajectory(ds, 0.1).frame_interval_ps == 0.1  # given wins


def test_a_run_that_collapsed_before_its_first_frame_scores_as_collapsed(tmp_path, capsys):
    # what Simulation(bond_tolerance=...).save() writes when the first frame already broke:
    # no frame, the collapse time (fs) in the metrics
    from workbench.registry import RunRegistry

    reference = write_traj(vibrating_molecule("CH3CH2OH", 10, seed=0), tmp_path / "ref.traj")
    run = RunRegistry(tmp_path / "runs").create(
        "simulation", {"timestep": 0.5, "stride": 100, "units": {"time": "fs"}})
    run.save_metrics({"frames": 0, "collapse_time": 50.0})
    run.file("trajectory.extxyz").write_text("")
    assert main(["benchmark", "score", str(run.path), "--reference", reference, "--kind",
                 "molecule", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["collapsed"] and metrics["n_frames"] == 0
    assert metrics["stability_ps"] == pytest.approx(0.05) and metrics["hr_mae"] is None
