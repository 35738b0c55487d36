"""``row_curves`` (issue 13, item 5): the curves behind the Benchmark dashboard's plots are the
metrics' own, on the frames before the collapse, from synthetic trajectories with known answers
(``synthetic.py``).

Numbers:
- a trajectory identical to its reference has h(r) = h_ref bin for bin (MAE 0) and, never
  collapsing, the stability of its last frame, (n - 1) x 0.05 ps;
- a bond stretched by 2 Å at frame k collapses there (``BondStability``: over 0.5 Å), and the
  h(r) is that of frames 0..k (MDsim's ``traj[:collapse_pt]``, ``collapse_pt = k + 1``);
- oxygens that only jitter (Gaussian noise sigma per axis and frame, no diffusion) have, with
  the species' centre of mass removed, MSD(t > 0) = 6 sigma^2 (1 - 1/N) for N oxygens (two
  independent displacements per axis, the mean over N taken out); sigma = 0.05 Å, N = 27 gives
  0.01444 Å^2, checked to 10 % (27 x 3 x ~30 origins of samples).
"""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from tests.workbench.benchmark.synthetic import vibrating_molecule, water_box, write_traj
from workbench.benchmark import HR, BenchmarkSystem, PartialRDF, RDFStability, Trajectory
from workbench.benchmark.curves import clear_cache, row_curves


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_molecule_curves_are_the_metrics_on_the_stable_frames(tmp_path):
    ref = vibrating_molecule("CH3CH2OH", 40, seed=0)
    system = BenchmarkSystem.from_reference(write_traj(ref, tmp_path / "ref.traj"), "molecule")
    row = {"model": "m", "seed": 0, "run_id": None}

    same = row_curves(row, system, trajectory=ref)
    assert not same["collapsed"] and same["n_stable_frames"] == 40
    assert same["stability_ps"] == pytest.approx(39 * 0.05)
    np.testing.assert_allclose(same["hr"]["h"], same["hr"]["h_reference"], rtol=0, atol=1e-12)
    assert same["hr"]["mae"] == pytest.approx(0.0, abs=1e-12)
    assert same["fes"] is None  # a reference file names no backbone dihedrals

    run = vibrating_molecule("CH3CH2OH", 20, seed=1)
    positions = run.positions.copy()
    positions[12:, 0] += np.array([2.0, 0.0, 0.0])  # carbon 0 leaves its bonds at frame 12
    broken = Trajectory(positions, run.numbers, None, 0.05)
    curves = row_curves(row, system, trajectory=broken)
    assert curves["collapsed"] and curves["collapse_frame"] == 12
    assert curves["n_stable_frames"] == 13 and curves["stability_ps"] == pytest.approx(0.6)
    expected = HR(ref).run(broken.head(13)).results
    np.testing.assert_allclose(curves["hr"]["h"], expected.h, rtol=1e-12)
    assert curves["hr"]["mae"] == pytest.approx(expected.mae, rel=1e-12)


def test_water_curves_rdfs_and_msd(tmp_path):
    ref = water_box(3, 12.5, 30, seed=0, noise_A=0.05)
    images = ref.to_atoms()
    for k, atoms in enumerate(images):
        atoms.info["time_ps"] = 0.1 * k  # the frame interval, read back by load_trajectory
    path = str(tmp_path / "water.extxyz")
    ase.io.write(path, images)
    system = BenchmarkSystem.from_reference(path, "water")
    run = water_box(3, 12.5, 30, seed=0, noise_A=0.05, noise_seed=7)
    curves = row_curves({"model": "m", "seed": 0}, system, trajectory=run)

    stability = RDFStability(path).run(run).results
    rdf = PartialRDF(path).run(run, stability=stability).results
    assert curves["n_stable_frames"] == stability["n_stable_frames"] == 30
    assert set(curves["rdf"]["g"]) == {"HH", "HO", "OO"}
    for pair in ("HH", "HO", "OO"):
        np.testing.assert_allclose(curves["rdf"]["g"][pair], rdf.g[pair], rtol=1e-12)
        np.testing.assert_allclose(curves["rdf"]["g_reference"][pair], rdf.g_reference[pair])

    msd = curves["msd"]
    expected = 6 * 0.05**2 * (1 - 1 / 27)
    assert msd["t_ps"][0] == pytest.approx(0.1) and len(msd["t_ps"]) == 29
    assert np.mean(msd["msd"][:10]) == pytest.approx(expected, rel=0.1)
    assert np.mean(msd["msd_reference"][:10]) == pytest.approx(expected, rel=0.1)


def test_a_row_without_a_run_is_refused():
    with pytest.raises(ValueError, match="has no run"):
        row_curves({"cell": "x", "system": "alanine_dipeptide", "status": "error",
                    "message": "boom"}, BenchmarkSystem.from_reference("r.traj", "molecule"))
