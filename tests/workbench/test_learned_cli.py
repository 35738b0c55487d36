"""``workbench simulate --model``: a trained model (folder or registered run id) moves the atoms
of a structure file; bad input exits with status 2 and a message."""

import ase.io
import pytest
from ase import Atoms
from ase.cluster import Icosahedron

from tests.lj_pair_mlp import AR, lj_model
from workbench.cli import main
from workbench.registry import RunRegistry

RUN = ["--steps", "20", "--stride", "10", "--temperature", "40", "--dt", "5"]


@pytest.fixture(scope="module")
def model():
    return lj_model((AR,), cutoff=5.0, hidden=(16, 16))


def test_simulate_with_a_model_folder_and_a_run_id(model, tmp_path, capsys):
    folder = model.save(tmp_path / "model")
    structure = tmp_path / "argon13.xyz"
    ase.io.write(structure, Icosahedron("Ar", 2, latticeconstant=5.26))
    assert main(["simulate", "--model", str(folder), "--structure", str(structure),
                 "--no-register", *RUN]) == 0
    out = capsys.readouterr().out
    assert "completed: completed 20 steps" in out and "K" in out

    run = RunRegistry().create("mlff", {}, name="argon")
    model.save(run.path)
    # the same model architecture, size and integrator: the compiled kernel is reused
    assert main(["run", "--model", run.id, "--structure", str(structure), *RUN]) == 0
    saved = RunRegistry().list(kind="simulation")[0]
    assert saved.config["system"]["model"]["species"] == [AR]
    assert saved.config["system"]["box"] is None  # free space: the file has no cell
    assert saved.config["timestep"] == 5.0


def test_bad_model_input_exits_2(model, tmp_path, capsys):
    folder = model.save(tmp_path / "model")
    water = tmp_path / "water.xyz"
    ase.io.write(water, Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))
    assert main(["simulate", "--model", str(folder), "--structure", str(water), *RUN]) == 2
    assert "trained on Ar only" in capsys.readouterr().err
    assert main(["simulate", "--model", "no-such-run", "--structure", str(water), *RUN]) == 2
    assert "neither a folder" in capsys.readouterr().err
    assert main(["simulate", "--structure", str(water), *RUN]) == 2
    assert "need --model" in capsys.readouterr().err
