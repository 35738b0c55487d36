"""h(r) and partial RDFs: ideal gas, self-MAE 0, the kernel's h(r), and MDsim's formulas."""

import numpy as np
import pytest
from jax_md import space

from kernels.observables.structure import bond_length_distribution
from tests.workbench.benchmark import mdsim_formulas as mdsim
from tests.workbench.benchmark.synthetic import (
    ideal_gas,
    vibrating_molecule,
    water_box,
    write_traj,
)
from workbench.benchmark import HR, BondStability, PartialRDF, RDFStability


def test_ideal_gas_gives_g_equal_to_one():
    # 40 O + 80 H uniformly random in a 12.5 Å box, 10 frames, 5 seeds. MDsim's normalisation
    # (n_a * n_b ordered pairs, self pairs included) gives g_HO -> 1 and g_OO -> (n_O - 1) / n_O.
    means = {"HO": [], "OO": [], "HH": []}
    for seed in range(5):
        gas = ideal_gas(40, 80, 12.5, 10, seed)
        g = PartialRDF(gas).run(gas).results.g
        for key in means:
            means[key].append(np.mean(g[key][250:]))  # 3-6 Å: many pairs per bin
    expected = {"HO": 1.0, "OO": 39 / 40, "HH": 79 / 80}
    for key, values in means.items():
        values = np.asarray(values)
        # tolerance: 5 standard errors of the seed mean, measured from the 5 seeds' spread
        # (one seed's mean g over 3-6 Å scatters by about 0.01)
        tolerance = 5 * values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - expected[key]) < tolerance, (key, values)


def test_self_mae_is_zero():
    mol = vibrating_molecule("CH3CH2OH", 20, seed=0)
    assert HR(mol).run(mol).results.mae == 0.0
    water = water_box(3, 12.2, 12, seed=0)
    assert PartialRDF(water).run(water).results.mae == {"HH": 0.0, "HO": 0.0, "OO": 0.0}


def test_hr_is_the_kernels_bond_length_distribution():
    mol = vibrating_molecule("CH3CH2OH", 20, seed=1)
    result = HR(mol).run(mol).results
    r, h = bond_length_distribution(space.free()[0], np.asarray(mol.positions, np.float32),
                                    None, (1e-6, 10.0), 500)
    # float32 kernel against float64 numpy: a distance on a bin edge may change bins; the
    # 20 * 36 distances make one moved sample 1 / (720 * 0.02 Å) = 0.07 / Å of one bin
    assert np.allclose(result.r, r, atol=1e-5)
    assert np.abs(result.h - np.asarray(h)).max() < 0.08


def test_hr_matches_mdsim_on_a_traj_file(tmp_path):
    reference = vibrating_molecule("CH3CH2OH", 30, seed=2, noise_A=0.05)
    run = vibrating_molecule("CH3CH2OH", 20, seed=3, noise_A=0.08)
    path = write_traj(run, tmp_path / "atoms.traj")
    collapse_pt, hr_mae = mdsim.md17_load_run(path, reference.positions)
    stability = BondStability(reference).run(path, frame_interval_ps=0.05).results
    ours = HR(reference).run(path, frame_interval_ps=0.05, stability=stability).results
    assert ours.n_frames == collapse_pt
    bins = np.linspace(1e-6, 10.0, 501)
    assert np.allclose(ours.h, mdsim.get_hr(run.positions[:collapse_pt], bins), atol=1e-12)
    assert ours.mae == pytest.approx(hr_mae, rel=1e-12)  # the same float64 histograms


def test_partial_rdfs_match_mdsim_on_a_traj_file(tmp_path):
    reference = water_box(3, 12.2, 15, seed=4)
    run = water_box(3, 12.2, 25, seed=4, noise_seed=5)
    path = write_traj(run, tmp_path / "atoms.traj")
    bins = np.linspace(1e-6, 6.0, 501)
    gt = mdsim.get_water_rdfs(reference.positions, reference.numbers, reference.box, bins)
    collapse_pt, rdf_error = mdsim.water_load_run(run.positions, run.numbers, run.box, gt)
    stability = RDFStability(reference).run(path, frame_interval_ps=0.1).results
    ours = PartialRDF(reference).run(path, stability=stability).results
    assert ours.n_frames == collapse_pt == 25  # stable: same noise as the reference
    mine = mdsim.get_water_rdfs(run.positions, run.numbers, run.box, bins)
    for key in ("OO", "HH", "HO"):
        assert np.allclose(ours.g[key], mine[key], rtol=1e-12, atol=1e-12), key
    # MDsim lists the errors as OO, HH, HO; same float64 formulas, so to rounding
    assert [ours.mae[k] for k in ("OO", "HH", "HO")] == pytest.approx(rdf_error, rel=1e-10)


def test_collapsed_runs_are_not_available():
    water = water_box(3, 12.2, 12, seed=0)
    short = PartialRDF(water).run(water.head(9)).results  # MDsim: under 10 frames (1 ps)
    assert not short.available and short.mae["OO"] == np.inf and short.g is None
    mol = vibrating_molecule("CH4", 10, seed=0)
    collapsed = {"n_stable_frames": 1, "collapsed": True, "stable_time_ps": 0.0}
    hr = HR(mol).run(mol, stability=collapsed).results
    assert not hr.available and hr.mae == np.inf and hr.h is None
