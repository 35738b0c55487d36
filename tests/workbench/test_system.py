"""Systems: builders, validation of unphysical input (clear messages), ASE round trip."""

import numpy as np
import pytest

import workbench as wb
from workbench.builders import fcc_positions


def test_lj_fluid_builder_density_and_lattice():
    s = wb.build_system("lj_fluid", n_atoms=500, density=0.8442)
    assert s.n_atoms == 500 and s.density == pytest.approx(0.8442)
    s.validate()
    # 4 k^3 atoms: a perfect fcc lattice, nearest neighbours at a / sqrt(2) (geometry)
    R = fcc_positions(256, 8.0)
    d = np.linalg.norm(R[1:] - R[0], axis=1)
    assert d.min() == pytest.approx(2.0 / np.sqrt(2))


def test_binary_mixture_composition():
    s = wb.build_system("binary_lj", n_atoms=400, fraction_b=0.2)
    assert np.bincount(s.species).tolist() == [320, 80]
    assert s.potential.full_params(2)["epsilon"][0, 1] == 1.5  # Kob-Andersen
    s.validate()


@pytest.mark.parametrize("change,message", [
    (lambda s: s.potential.param.update(params={"sigma": -1.0}), "'sigma' must be > 0"),
    (lambda s: s.potential.param.update(params={"epsilon": -1.0}), "'epsilon' must be >= 0"),
    (lambda s: s.potential.param.update(params={"sigam": 1.0}), "no parameter.*sigam"),
    (lambda s: s.potential.param.update(r_cutoff=6.0), "twice the cutoff"),
    (lambda s: s.param.update(positions=np.vstack([s.positions[:-1], s.positions[:1] + 0.01])),
     "atoms 0 and 499 overlap"),
    (lambda s: s.param.update(masses=np.zeros(500)), "mass must be a finite number > 0"),
    (lambda s: s.param.update(positions=s.positions * np.nan), "NaN"),
])
def test_validation_messages(change, message):
    s = wb.build_system("lj_fluid", n_atoms=500)
    change(s)
    with pytest.raises(ValueError, match=message):
        s.validate()


def test_unknown_system_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown system 'lj'.*lj_fluid"):
        wb.build_system("lj")


def test_ase_round_trip():
    s = wb.build_system("binary_lj", n_atoms=108)
    atoms = s.to_ase()
    assert len(atoms) == 108 and atoms.pbc.all()
    back = wb.System.from_ase(atoms, s.potential, units="lj")
    np.testing.assert_allclose(back.positions, s.positions, atol=1e-12)
    assert back.species_names == ["A", "B"] or back.species_names == ["B", "A"]
    names = [back.species_names[i] for i in back.species]
    assert names == [s.species_names[i] for i in s.species]
    np.testing.assert_allclose(back.box, s.box)
