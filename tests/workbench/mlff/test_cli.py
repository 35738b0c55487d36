"""``workbench mlff train`` and ``workbench mlff test`` on a tiny data file."""

import json
import re

import pytest

from tests.workbench.mlff.analytic import morse_dataset
from workbench.cli import main
from workbench.registry import RunRegistry


def test_train_then_test(tmp_path, capsys):
    data = morse_dataset(24, seed=5).save(tmp_path / "morse.npz")
    code = main(["mlff", "train", "--data", str(data), "--arch", "pair_mlp", "--max-epochs",
                 "2", "--seed", "1", "--batch-size", "8", "--cutoff", "5", "--arch-set",
                 "hidden=[16]", "--arch-set", "n_basis=8", "--set", "warmup_steps=5"])
    out = capsys.readouterr().out
    assert code == 0, out
    run_id = re.search(r"saved run (\S+) in", out).group(1)
    run = RunRegistry().get(run_id)  # the default registry (MDWB_HOME of the test)
    assert run.kind == "mlff" and run.status == "completed"
    assert run.config["hyperparameters"]["seed"] == 1
    assert run.config["architecture"]["hidden"] == [16]

    # resume the run from its checkpoint for one more epoch
    assert main(["mlff", "train", "--resume", run_id, "--data", str(data), "--max-epochs",
                 "3"]) == 0
    assert f"saved run {run_id}" in capsys.readouterr().out
    run = RunRegistry().get(run_id)
    assert run.metrics["epochs"] == 3 and run.config["hyperparameters"]["seed"] == 1

    assert main(["mlff", "test", run_id, "--data", str(data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_frames"] == 24 and metrics["units"] == {"energy": "eV", "force": "eV/Å"}
    for key in ("energy_mae", "energy_rmse", "force_mae", "force_rmse"):
        assert metrics[key] > 0
    assert metrics["force_mae"] <= metrics["force_rmse"]
    # the run's own test frames give the test metrics the run recorded
    assert main(["mlff", "test", run_id, "--data", str(data), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["force_mae"] == pytest.approx(run.metrics["test"]["force_mae"], rel=1e-9)


@pytest.mark.parametrize("argv, message", [
    (["mlff", "train", "--data", "missing.npz", "--arch", "pair_mlp"], "no such file"),
    (["mlff", "train", "--arch", "pair_mlp"], "--data and --arch are needed"),
    (["mlff", "test", "no-such-run", "--data", "x.npz"], "no run"),
])
def test_bad_input_exits_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
