"""Experimental targets shipped with the workbench (small text files in ``data/``), each with
its source and state point, so that a fit to measured structure needs no download.

- ``water_oo_target()``: the O-O g(r) of liquid water at 298 K and 0.0334 molecules/Å^3 (Soper,
  ISRN Physical Chemistry 2013, 279463, from neutron and X-ray scattering refined by EPSR;
  open access), the target of DiffSim's and mdgrad's one-bead water.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.targets import TargetRDF
from workbench.units import ReducedUnits

DATA = Path(__file__).parent / "data"

#: one-bead water: the molecule's mass (amu)
WATER_MASS = 18.015


def water_oo_target() -> TargetRDF:
    """Soper's (2013) O-O g(r) of water at 298 K, r from 2.01 to 9.99 Å every 0.03 Å, in ASE
    units, as a one-species target (species "H2O") at 0.0334 molecules/Å^3."""
    path = DATA / "water_oo_soper2013.dat"
    r, g, _ = np.loadtxt(path, unpack=True)
    return TargetRDF(r=r, g=g, density=0.0334, temperature=298.0, units="ase",
                     species_names=["H2O"], name="water O-O (Soper 2013)",
                     source="Soper 2013, doi:10.1155/2013/279463: O-O g(r), 298 K")


def water_units() -> ReducedUnits:
    """Reduced units for one-bead water: ``water_oo_target().default_reduced_units`` with the
    molecule's mass (length where g first reaches 1, 2.58 Å; energy kT at 298 K)."""
    return water_oo_target().default_reduced_units(masses=[WATER_MASS])
