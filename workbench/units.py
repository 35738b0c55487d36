"""Unit systems. Every ``System`` says which one it uses; public numbers carry its units.

- ``"lj"``: reduced Lennard-Jones units (length sigma, energy epsilon, mass m, time tau =
  sigma sqrt(m / epsilon)); temperature is T* = kT / epsilon.
- ``"ase"``: ASE units (Angstrom, eV, amu); time steps in fs and temperatures in K at the
  interface, converted with ``ase.units`` (internal time unit Angstrom sqrt(amu / eV) ~ 10.18 fs).
"""

from __future__ import annotations

from dataclasses import dataclass

from ase import units as ase_units


@dataclass(frozen=True)
class Units:
    name: str
    length: str
    energy: str
    mass: str
    time: str
    temperature: str

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


LJ = Units("lj", "sigma", "epsilon", "m", "tau", "T*")
ASE = Units("ase", "Å", "eV", "amu", "fs", "K")
UNITS = {"lj": LJ, "ase": ASE}


def get_units(name: str) -> Units:
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown unit system {name!r}; use 'lj' or 'ase'") from None
