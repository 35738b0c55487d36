"""The Train dashboard's headless session: what it refuses, with messages fit for the page."""

import types

import numpy as np
import pytest

from tests.workbench.mlff.analytic import morse_dataset
from workbench.architectures import architecture
from workbench.data import Dataset
from workbench.mlff.session import TrainSession, molecular_recipes


def test_bad_choices_are_refused_with_a_reason():
    s = TrainSession()
    ds = morse_dataset(10)
    with pytest.raises(ValueError, match="choose or generate a dataset first"):
        s.train(architecture("pair_mlp"))
    no_forces = Dataset(positions=ds.positions, species=ds.species, energies=ds.energies)
    with pytest.raises(ValueError, match="has no forces"):
        s.use(no_forces, "e.npz")
    reduced = Dataset(positions=ds.positions, species=np.zeros(8, int), forces=ds.forces,
                      energies=ds.energies, units="lj", species_names=["A"])
    with pytest.raises(ValueError, match="reduced LJ units"):
        s.use(reduced, "lj.npz")
    s.use(ds, "morse.npz")
    with pytest.raises(ValueError, match="train for at least one epoch first"):
        s.run_md(10)
    with pytest.raises(ValueError, match="choose one of"):
        s.generate("lj_liquid")  # reduced units: not offered
    assert "aspirin" in molecular_recipes() and "lj_liquid" not in molecular_recipes()


def test_a_failed_generation_is_reported_once():
    s = TrainSession()
    s._generation = types.SimpleNamespace(status="failed", message="tblite: SCF diverged",
                                          dataset=None)
    with pytest.raises(ValueError, match="SCF diverged"):
        s.update()
    assert s.update() is False and s.dataset is None
