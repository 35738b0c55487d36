"""Per-species energy shifts by least squares (workbench.mlff.shifts)."""

import numpy as np
import pytest

from workbench.mlff.shifts import fit_shifts, species_counts


def test_shifts_recover_known_per_species_energies():
    # energies built as counts @ known shifts (H, C, O reference energies of the order of
    # DFT atom energies) + small noise; least squares must give them back
    rng = np.random.default_rng(0)
    known = np.array([-13.6, -1029.0, -2041.0])  # eV
    species = rng.choice([1, 6, 8], size=(50, 12))
    counts = species_counts(species, [1, 6, 8])
    np.testing.assert_array_equal(counts.sum(axis=1), 12)
    energies = counts @ known + rng.normal(0, 1e-3, 50)
    # tolerance: noise 1e-3 eV over 50 frames of ~4 atoms per species: ~1e-3 / sqrt(50*4)*3
    np.testing.assert_allclose(fit_shifts(counts, energies), known, atol=1e-3)


def test_one_composition_gives_the_mean_energy():
    # every frame of one system has the same counts: only counts @ shifts is fixed, and the
    # least-squares value of it is the mean energy
    counts = species_counts([8, 1, 1], [1, 8])
    energies = np.array([-10.0, -11.0, -12.5])
    shifts = fit_shifts(counts, energies)
    assert counts[0] @ shifts == pytest.approx(energies.mean(), abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="not among"):
        species_counts([1, 9], [1, 8])
    with pytest.raises(ValueError, match="must agree"):
        fit_shifts(np.ones((3, 2)), np.ones(4))
