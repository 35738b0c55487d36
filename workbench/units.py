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


def get_units(name: str) -> Units:
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown unit system {name!r}; use 'lj' or 'ase'") from None
