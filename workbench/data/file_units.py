"""Units that data files declare (``e_unit``, ``r_unit``, ``energy_unit=`` ...) and their factors
to ASE units (eV, Å), taken from ``ase.units`` (CODATA 2014 in ASE 3.2x).

The names follow what sGDML datasets, MD17 derivatives and quantum-chemistry exports write:
``"kcal/mol"``, ``"kcal mol-1"``, ``"Ha"``, ``"hartree"``, ``"Ang"``, ``"Å"``, ``"bohr"`` ...
Matching ignores case, spaces and the spelling of "per mole" (``/mol``, ``mol-1``, ``mol^-1``).
"""

from __future__ import annotations

import re

__all__ = ["ENERGY_UNITS", "LENGTH_UNITS", "energy_unit", "length_unit"]

ENERGY_UNITS = ("eV", "meV", "kcal/mol", "kJ/mol", "Hartree", "Ry")
"""Energy units a file may be in (canonical names); forces are taken to be energy per length."""

LENGTH_UNITS = ("Å", "bohr", "nm", "pm")
"""Length units a file may be in (canonical names)."""

_ENERGY_SPELLINGS = {
    "ev": "eV", "electronvolt": "eV", "electronvolts": "eV",
    "mev": "meV",
    "kcal/mol": "kcal/mol",
    "kj/mol": "kJ/mol",
    "hartree": "Hartree", "hartrees": "Hartree", "ha": "Hartree", "eh": "Hartree",
    "e_h": "Hartree", "au": "Hartree", "a.u.": "Hartree",
    "ry": "Ry", "rydberg": "Ry",
}
_LENGTH_SPELLINGS = {
    "å": "Å", "ang": "Å", "angstrom": "Å", "angstroms": "Å", "ångström": "Å", "a": "Å",
    "bohr": "bohr", "bohrs": "bohr", "a0": "bohr", "a_0": "bohr", "au": "bohr", "a.u.": "bohr",
    "nm": "nm", "nanometer": "nm", "nanometre": "nm",
    "pm": "pm",
}
_ENERGY_HELP = ("eV, meV, kcal/mol (also 'kcal mol-1'), kJ/mol, Hartree (also 'Ha', 'Eh', "
                "'hartree', 'au'), Ry")
_LENGTH_HELP = "Å (also 'Ang', 'angstrom', 'A'), bohr (also 'au', 'a0'), nm, pm"


def _normalise(name: str) -> str:
    s = name.strip().lower().replace("^", "").replace("**", "").replace("\u212b", "å")
    s = re.sub(r"\s*/\s*", "/", s)
    s = re.sub(r"[\s.·*]*(mol-1|per\s*mole?)$|/mole$", "/mol", s)
    return re.sub(r"\s+", "", s)


def _text(name: object) -> str:
    if isinstance(name, bytes):
        return name.decode("utf-8", "replace")
    return str(name)


def energy_unit(name: object) -> tuple[str, float]:
    """``(canonical name, factor to eV)`` for an energy unit name; ``ValueError`` naming the
    unit and the known ones if it is not known."""
    from ase import units

    factors = {"eV": 1.0, "meV": 1e-3, "kcal/mol": units.kcal / units.mol,
               "kJ/mol": units.kJ / units.mol, "Hartree": units.Hartree, "Ry": units.Rydberg}
    canonical = _ENERGY_SPELLINGS.get(_normalise(_text(name)))
    if canonical is None:
        raise ValueError(f"unknown energy unit {_text(name)!r}; known: {_ENERGY_HELP}")
    return canonical, float(factors[canonical])


def length_unit(name: object) -> tuple[str, float]:
    """``(canonical name, factor to Å)`` for a length unit name; ``ValueError`` naming the
    unit and the known ones if it is not known."""
    from ase import units

    factors = {"Å": 1.0, "bohr": units.Bohr, "nm": 10.0, "pm": 0.01}
    canonical = _LENGTH_SPELLINGS.get(_normalise(_text(name)))
    if canonical is None:
        raise ValueError(f"unknown length unit {_text(name)!r}; known: {_LENGTH_HELP}")
    return canonical, float(factors[canonical])
