"""Targets in physical units (Å, g/cm^3 or atoms/Å^3, K) fitted through an explicit, recorded
conversion to reduced LJ units (issue 11).

Expected numbers: argon's LJ parameters (sigma 3.405 Å, epsilon / k_B = 119.8 K, Rowley et al.
1975, as in workbench.calculator) and molar mass 39.948 g/mol; tau = sigma sqrt(m / epsilon)
= 2.156 ps (the textbook 2.15 ps for argon, e.g. Allen & Tildesley, app. B); liquid argon at
1.40 g/cm^3 is 0.02111 atoms/Å^3 (rho N_A / M), rho* = 0.8333. A fit of a target converted to
Å and K and back must take the same steps as the fit of the reduced target: the conversion is
an exact rescaling, so they agree to float32 round-off (1e-5 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import units as ase_units

from workbench.fit import PotentialFit, target_from_reference_system
from workbench.registry import RunRegistry
from workbench.targets import TargetRDF
from workbench.units import ReducedUnits, number_density

SIGMA, EPSILON, MASS = 3.405, 119.8 * ase_units.kB, 39.948  # Å, eV, amu
ARGON = ReducedUnits(length=SIGMA, energy=EPSILON, mass=MASS)


def test_reduced_units_of_argon():
    # SI: 3.405e-10 m * sqrt(39.948 * 1.66054e-27 kg / (119.8 * 1.380649e-23 J)) = 2.1563 ps
    assert ARGON.tau_fs == pytest.approx(2156.3, rel=1e-4)
    assert ARGON.temperature(119.8) == pytest.approx(1.0, rel=1e-12)
    assert ARGON.kelvin(0.722) == pytest.approx(0.722 * 119.8, rel=1e-12)
    rho = number_density(1.40, [MASS])
    assert rho == pytest.approx(1.40 * 6.02214076e23 / MASS * 1e-24, rel=1e-6)
    assert ARGON.density(rho) == pytest.approx(0.8333, abs=2e-4)
    # a 50/50 mixture weighs the mean mass
    assert number_density(1.0, [10.0, 30.0]) == pytest.approx(number_density(1.0, [20.0]))
    with pytest.raises(ValueError, match="positive"):
        ReducedUnits(length=0.0, energy=1.0)
    with pytest.raises(ValueError, match="mole fractions"):
        number_density(1.0, [1.0, 2.0], [1.0])


@pytest.fixture(scope="module")
def reduced_target():
    return target_from_reference_system(
        "lj_fluid", temperature=1.2, n_steps=600, equilibration=200, stride=50,
        system_kwargs={"n_atoms": 108, "density": 0.7}, r_max=2.5, n_bins=50)


def _in_angstrom(t: TargetRDF) -> TargetRDF:
    """The reduced target as argon, in Å, atoms/Å^3 and K (what a user's file holds)."""
    return TargetRDF(r=np.asarray(t.r) * SIGMA, g=t.g, density=t.density / SIGMA**3,
                     temperature=t.temperature * EPSILON / ase_units.kB, units="ase",
                     species_names=["Ar"], rdf_sigma=t.rdf_sigma * SIGMA, source="argon")


def test_target_round_trips_through_physical_units(reduced_target):
    back = _in_angstrom(reduced_target).in_reduced_units(ARGON)
    np.testing.assert_allclose(back.r, reduced_target.r, rtol=1e-12)
    np.testing.assert_array_equal(back.g, reduced_target.g)
    assert back.density == pytest.approx(reduced_target.density, rel=1e-12)
    assert back.temperature == pytest.approx(reduced_target.temperature, rel=1e-12)
    assert back.rdf_sigma == pytest.approx(reduced_target.rdf_sigma, rel=1e-12)
    assert back.units == "lj" and "converted to reduced units: length 3.405 Å" in back.notes[-1]
    with pytest.raises(ValueError, match="reduced units already"):
        reduced_target.in_reduced_units(ARGON)


def test_default_reduced_units_come_from_the_target(reduced_target):
    physical = _in_angstrom(reduced_target)
    units = physical.default_reduced_units()
    r, g = np.asarray(physical.r), np.asarray(physical.g)
    assert units.length == r[np.argmax(g >= 1.0)]
    # LJ at rho* = 0.7, T* = 1.2: g first reaches 1 near 0.97 sigma (one 0.05 sigma bin)
    assert units.length / SIGMA == pytest.approx(0.97, abs=0.05)
    assert units.energy == pytest.approx(1.2 * EPSILON, rel=1e-12)  # kT: T* = 1
    assert units.mass == pytest.approx(MASS, rel=1e-4)  # argon's, from the species name


def _fit(target, **kw):
    return PotentialFit(target, family="lj", n_atoms=108, equilibration=100,
                        steps_per_iteration=60, window=60, stride=20, n_bins=50,
                        eval_iterations=1, **kw)


def test_a_fit_in_physical_units_takes_the_reduced_fits_steps(reduced_target, tmp_path):
    reduced = _fit(reduced_target, initial_params={"sigma": 0.95, "epsilon": 1.0})
    physical = _fit(_in_angstrom(reduced_target), reduced_units=ARGON.to_dict(),
                    initial_params={"sigma": 0.95 * SIGMA, "epsilon": EPSILON})
    assert physical.reduced_units == ARGON.to_dict()
    assert physical.targets[0].units == "lj"
    for _ in range(2):
        reduced.step()
        physical.step()
    a, b = reduced.fitted_params(), physical.fitted_params()
    assert a["sigma"] != pytest.approx(0.95, rel=1e-4)  # it moved
    for k in ("sigma", "epsilon"):
        assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-5)
    got = physical.physical_params()
    assert got["sigma"] == pytest.approx(float(a["sigma"]) * SIGMA, rel=1e-5)
    assert got["epsilon"] == pytest.approx(float(a["epsilon"]) * EPSILON, rel=1e-5)
    with pytest.raises(ValueError, match="reduced units"):
        reduced.physical_params()
    run = physical.save(RunRegistry(tmp_path / "runs"))
    assert run.config["reduced_units"] == ARGON.to_dict()
    assert run.metrics["fitted_params_physical"]["sigma"] == pytest.approx(got["sigma"])


def test_mass_density_in_a_target_file(tmp_path):
    path = tmp_path / "argon_rdf.txt"
    r = np.linspace(0.1, 12.0, 120)
    np.savetxt(path, np.c_[r, 1.0 - np.exp(-(r / 3.4) ** 12)], header="r g")
    t = TargetRDF.from_file(path, mass_density=1.40, temperature=85.0, units="ase",
                            species_names=["Ar"])
    assert t.density == pytest.approx(number_density(1.40, [MASS]), rel=1e-4)
    with pytest.raises(ValueError, match="units='ase'"):
        TargetRDF.from_file(path, mass_density=1.40, temperature=1.0)
    with pytest.raises(ValueError, match="masses"):
        TargetRDF.from_file(path, mass_density=1.40, temperature=85.0, units="ase")
    with pytest.raises(ValueError, match="not both"):
        TargetRDF.from_file(path, mass_density=1.4, density=0.02, temperature=85.0,
                            units="ase", species_names=["Ar"])
