"""Unit systems. Every ``System`` says which one it uses; public numbers carry its units.

- ``"lj"``: reduced Lennard-Jones units (length sigma, energy epsilon, mass m, time tau =
  sigma sqrt(m / epsilon)); temperature is T* = kT / epsilon.
- ``"ase"``: ASE units (Angstrom, eV, amu); time steps in fs and temperatures in K at the
  interface, converted with ``ase.units`` (internal time unit Angstrom sqrt(amu / eV) ~ 10.18 fs);
  pressures are shown in bar (the kernel's eV/Angstrom^3 times ``EV_PER_A3_IN_BAR``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units as ase_units

#: 1 eV/Å^3 in bar (about 1.602e6), from ase.units (its CODATA version: 2014 by default)
EV_PER_A3_IN_BAR = 1.0 / ase_units.bar


@dataclass(frozen=True)
class Units:
    name: str
    length: str
    energy: str
    mass: str
    time: str
    temperature: str
    pressure: str = ""  # the unit pressures are shown in

    def kT(self, temperature: float) -> float:
        """Thermal energy (energy units) for a temperature in this system's temperature unit."""
        return float(temperature) * (ase_units.kB if self.name == "ase" else 1.0)

    def temperature_from_kT(self, kT: float) -> float:
        return float(kT) / (ase_units.kB if self.name == "ase" else 1.0)

    def time_to_internal(self, t: float) -> float:
        """A time in this system's time unit (tau or fs) in the integrator's internal unit."""
        return float(t) * (ase_units.fs if self.name == "ase" else 1.0)

    def time_from_internal(self, t: float) -> float:
        return float(t) / (ase_units.fs if self.name == "ase" else 1.0)

    def pressure_from_internal(self, p: float | np.ndarray) -> float | np.ndarray:
        """A pressure (float or array) in energy / length^3 (the kernel's: eV/Å^3 or
        epsilon/sigma^3) in this system's pressure unit (bar or epsilon/sigma^3)."""
        return p * (EV_PER_A3_IN_BAR if self.name == "ase" else 1.0)


LJ = Units("lj", "sigma", "epsilon", "m", "tau", "T*", "epsilon/sigma^3")
ASE = Units("ase", "Å", "eV", "amu", "fs", "K", "bar")
UNITS = {"lj": LJ, "ase": ASE}


@dataclass(frozen=True)
class ReducedUnits:
    """An explicit conversion between ASE units and reduced LJ units: the length (Å), energy
    (eV) and mass (amu) that are 1 in reduced units. Fits build their boxes in reduced units
    (``workbench.fit``); a target measured in Å and K is converted with one of these, which the
    fit records, and its results are converted back.

    - lengths ``r* = r / length``; number densities ``rho* = rho length^3``;
    - temperatures ``T* = k_B T / energy`` (T in K);
    - time: ``tau = length sqrt(mass / energy)``, ``tau_fs`` in fs;
    - a parameter of dimension length^a energy^b: ``p = p* length^a energy^b``.

    ``ValueError`` for a unit that is not a positive finite number.
    """

    length: float  # Å
    energy: float  # eV
    mass: float = 1.0  # amu

    def __post_init__(self):
        for name in ("length", "energy", "mass"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"reduced units: {name} must be a positive number, got {value}")

    @property
    def tau_fs(self) -> float:
        """The reduced time unit in fs."""
        return self.length * float(np.sqrt(self.mass / self.energy)) / ase_units.fs

    def temperature(self, kelvin: float) -> float:
        """T* of a temperature in K."""
        return float(kelvin) * ase_units.kB / self.energy

    def kelvin(self, reduced_temperature: float) -> float:
        """The temperature in K of T*."""
        return float(reduced_temperature) * self.energy / ase_units.kB

    def density(self, per_cubic_angstrom: float) -> float:
        """rho* of a number density in atoms per Å^3."""
        return float(per_cubic_angstrom) * self.length**3

    def scale(self, dimension: tuple[int, int]) -> float:
        """Physical value of 1 reduced unit of ``dimension`` = (length power, energy power)."""
        a, b = dimension
        return self.length**a * self.energy**b

    def to_dict(self) -> dict[str, float]:
        return {"length": self.length, "energy": self.energy, "mass": self.mass}


def number_density(mass_density: float, masses: list[float],
                   composition: list[float] | None = None) -> float:
    """Atoms per Å^3 of a mass density in g/cm^3, for species of ``masses`` (amu) in mole
    fractions ``composition`` (default: equal). ``ValueError`` for a non-positive density or
    mass, or a composition of another length."""
    masses = np.asarray(masses, dtype=float)
    x = (np.full(len(masses), 1.0 / len(masses)) if composition is None
         else np.asarray(composition, dtype=float))
    if x.shape != masses.shape:
        raise ValueError(f"{len(masses)} masses but {len(x)} mole fractions")
    if not mass_density > 0 or np.any(masses <= 0):
        raise ValueError("the mass density and every mass must be positive")
    mean_mass = float(np.dot(x, masses) / x.sum())  # g/mol
    return float(mass_density) * ase_units._Nav / mean_mass * 1e-24  # cm^3 -> Å^3


def get_units(name: str) -> Units:
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown unit system {name!r}; use 'lj' or 'ase'") from None
