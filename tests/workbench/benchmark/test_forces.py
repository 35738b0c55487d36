"""``ForceError``: energy and force MAE of a learned force field on a test split.

Known answers: labels computed by the model itself (its ASE calculator, float64) give MAE 0 up
to the float32 evaluation (measured < 1e-6 eV/Å here); the same labels shifted by +0.2 eV
(energies) and +0.1 eV/Å (every force component) give MAEs of exactly those shifts, to the
same float32 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.cluster import Icosahedron

from tests.lj_pair_mlp import AR, lj_model
from workbench.benchmark import ForceError
from workbench.calculator import LearnedCalculator
from workbench.data.dataset import Dataset


def test_force_error_of_a_model_on_its_own_and_on_shifted_labels():
    model = lj_model((AR,), cutoff=5.0, hidden=(16, 16))
    atoms = Icosahedron("Ar", 2, latticeconstant=5.26)
    calc = LearnedCalculator(model)
    rng = np.random.default_rng(0)
    positions, energies, forces = [], [], []
    for _ in range(6):
        a = atoms.copy()
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        a.calc = calc
        positions.append(a.positions)
        energies.append(a.get_potential_energy())
        forces.append(a.get_forces())
    positions, energies, forces = map(np.asarray, (positions, energies, forces))
    species = atoms.get_atomic_numbers()

    own = ForceError(Dataset(positions=positions, species=species, forces=forces,
                             energies=energies)).run(model).results
    assert own["n_frames"] == 6
    assert own["force_mae"] < 1e-5 and own["energy_mae"] < 1e-5
    assert np.abs(forces).mean() > 1e-3  # forces worth comparing

    shifted = ForceError(Dataset(positions=positions, species=species, forces=forces + 0.1,
                                 energies=energies + 0.2)).run(model).results
    assert shifted["force_mae"] == pytest.approx(0.1, abs=1e-5)
    assert shifted["energy_mae"] == pytest.approx(0.2, abs=1e-5)
    assert "parity" in shifted
