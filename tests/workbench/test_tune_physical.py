"""The Tune dashboard's File tab with a target in Å and K (issue 11): the state point written
in the file name is suggested, the file is read in ASE units (density in atoms/Å³ or g/cm³ of
the named element), the session fits it in reduced units of its own (length where g first
reaches 1, energy kT) that it records, and reports DiffSim's parameters back in Å and eV.
In-process (no browser): the widgets and the session, as the page drives them.

Expected numbers: argon at 1.40 g/cm^3 is 0.02111 atoms/Å^3 (rho N_A / M, M = 39.948 g/mol);
the g(r) written below first reaches 1 at its grid point 3.4 Å (0.874 x 1.184 = 1.035; at
3.3 Å 0.765 x 1.105 = 0.845); kT at 85 K is
85 k_B = 7.325e-3 eV.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import units as ase_units

from tests.ui.browser import wait_until
from workbench.fit import TuneSession
from workbench.rdf_files import state_point_from_name
from workbench.ui.tune import TuneDashboard


@pytest.mark.parametrize("name, expected", [
    ("rdf_rho0.845_T1.0.dat", {"density": 0.845, "temperature": 1.0}),
    ("gr_T=0.722_rho=0.8442.xvg", {"density": 0.8442, "temperature": 0.722}),
    ("argon_85K_d1.40gcc.csv", {"density": 1.40, "mass_density": True, "temperature": 85.0,
                                "kelvin": True}),
    ("lj_density_0.8-temp_1.5.txt", {"density": 0.8, "temperature": 1.5}),
    ("md_300K.csv", {"temperature": 300.0, "kelvin": True}),
    ("rdf.txt", {}), ("data_2024.csv", {}),
])
def test_state_point_from_file_names(name, expected):
    assert state_point_from_name(name) == expected


def _file() -> bytes:
    r = np.round(np.arange(0.1, 12.0, 0.1), 2)  # Å
    g = (1.0 - np.exp(-((r / 3.2) ** 12))) * (1.0 + 0.5 * np.exp(-((r - 3.8) / 0.4) ** 2))
    return "\n".join(f"{a:.2f} {b:.6f}" for a, b in zip(r, g, strict=True)).encode()



def test_file_in_angstrom_and_kelvin_is_fitted_in_reduced_units_and_reported_back():
    session = TuneSession(n_atoms=108, replicas=1, steps_per_iteration=40, relax_steps=10,
                          stride=10)
    board = TuneDashboard(session, auto_target=False)
    board.source.value = "File"
    board.t_file.filename = "argon_85K_d1.40gcc.csv"
    board.t_file.value = _file()
    # the name's state point, suggested: units, density unit and values switched over
    assert board.t_units.value == "ase" and board.t_density_unit.value == "g/cm³"
    assert (board.t_density.value, board.t_temperature.value) == (1.40, 85.0)
    assert board.hint.visible and "density 1.4 g/cm³, temperature 85 K" in board.hint.object
    assert board.t_temperature.label == "Temperature (K)"
    assert board.t_density.label == "Density (g/cm³)"

    board.make_target()  # no species: the mass density cannot be converted, said next to it
    assert board.notice.visible and "element symbols" in board.notice.object
    board.t_species.value = "Ar"
    board.make_target()
    assert not board.notice.visible
    wait_until(lambda: session.status in ("completed", "failed") and session.preview_result,
               timeout=300)
    assert session.status == "completed", session.message
    u = session.units
    assert u.length == pytest.approx(3.4)
    assert u.energy == pytest.approx(85.0 * ase_units.kB, rel=1e-12)
    assert session.target.units == "lj" and session.target.temperature == pytest.approx(1.0)
    assert session.target.density == pytest.approx(0.021108 * 3.4**3, rel=1e-3)
    assert "fitted in reduced units: length 3.4 Å" in session.message
    assert session.fits["diffsim"].reduced_units == u.to_dict()

    session.fit(1).result()
    sigma = float(session.fits["diffsim"].fitted_params()["sigma"])
    assert f"sigma = {round(sigma * 3.4, 5)}" in session.summary()
    session.close()
