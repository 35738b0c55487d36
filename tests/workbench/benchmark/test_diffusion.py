"""Diffusivity: free Brownian particles give the set D, and MDsim's smoothed D(t)."""

import numpy as np
import pytest

from tests.workbench.benchmark import mdsim_formulas as mdsim
from tests.workbench.benchmark.synthetic import brownian, write_traj
from workbench.benchmark import Diffusivity, Trajectory

D_SET = 0.25  # Å^2/ps


def test_brownian_particles_give_the_set_diffusivity():
    # 64 free particles, 0.1 ps frames for 60 ps, D read at 10 ps from 1 ps samples. Removing
    # the centre of mass of N independent walkers leaves each one's displacement variance
    # (1 - 1/N) of its own, so the expected D is D_SET * (1 - 1/64).
    expected = D_SET * (1 - 1 / 64)
    reference = brownian(64, 601, 0.1, D_SET, seed=100)
    estimates = []
    for seed in range(6):
        run = brownian(64, 601, 0.1, D_SET, seed=seed, box_A=15.0)  # wrapped: unwrapped inside
        result = Diffusivity(reference, lag_ps=10.0).run(run).results
        assert result.available and result.lag_ps == 10.0
        estimates.append(result.D)
    estimates = np.asarray(estimates)
    # tolerance: 5 standard errors of the mean over the 6 seeds, from their measured spread
    # (one seed's D scatters by ~4%)
    tolerance = 5 * estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - expected) < tolerance, estimates


def test_matches_mdsim_smoothed_diffusivity(tmp_path):
    reference = brownian(20, 301, 0.1, D_SET, seed=1)
    run = brownian(20, 251, 0.1, D_SET, seed=2)
    path = write_traj(run, tmp_path / "atoms.traj")
    ours = Diffusivity(reference, lag_ps=8.0).run(path, frame_interval_ps=0.1).results
    # MDsim: get_smoothed_diff(traj[:collapse_pt:10, O])[:lag], lag in 1 ps samples (here 8)
    xyz = run.positions[::10]  # 26 samples, 25 lags
    theirs = mdsim.get_smoothed_diff(xyz)  # Å^2 per 1-ps sample = Å^2/ps
    n = len(xyz)
    k = 8
    # MDsim divides the sum over the n - k origins of lag k by n - k - 1; we by n - k
    assert ours.D == pytest.approx(theirs[k - 1] * (n - k - 1) / (n - k), rel=1e-5)
    assert ours.D_t == pytest.approx(theirs[:k] * (n - np.arange(1, k + 1) - 1)
                                     / (n - np.arange(1, k + 1)), rel=1e-5)
    ref_xyz = reference.positions[::10]
    ref_theirs = mdsim.get_smoothed_diff(ref_xyz)[k - 1] * (len(ref_xyz) - k - 1) / (
        len(ref_xyz) - k)
    assert ours.D_reference == pytest.approx(ref_theirs, rel=1e-5)  # float32 MSD in the kernel
    assert ours.error == pytest.approx(abs(ours.D - ours.D_reference), abs=1e-12)


def test_shorter_than_the_lag_is_not_available():
    reference = brownian(10, 301, 0.1, D_SET, seed=1)
    run = brownian(10, 301, 0.1, D_SET, seed=2)
    stability = {"n_stable_frames": 50, "collapsed": True, "stable_time_ps": 4.9}
    result = Diffusivity(reference, lag_ps=10.0).run(run, stability=stability).results
    assert not result.available and result.error == np.inf and np.isnan(result.D)


def test_reference_must_cover_the_lag():
    short = Trajectory(brownian(5, 21, 0.1, D_SET, 0).positions, np.full(5, 8), None, 0.1)
    with pytest.raises(ValueError, match="shorter than the lag"):
        Diffusivity(short, lag_ps=100.0)
