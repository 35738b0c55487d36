"""F(phi, psi) and its profiles: self-MAE 0 and MDsim's get_pmf on a .traj file."""

import numpy as np
import pytest

from tests.workbench.benchmark import mdsim_formulas as mdsim
from tests.workbench.benchmark.synthetic import write_traj
from workbench.analysis import phi_psi_degrees
from workbench.benchmark import FreeEnergy, Trajectory

QUADS = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])  # phi, psi of a 5-atom backbone C-N-CA-C-N


def _backbone(n_frames: int, seed: int) -> Trajectory:
    """A 5-atom chain whose dihedrals wander: atoms jittered by 0.4 Å around a zig-zag."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [1.4, 0.3, 0], [2.1, 1.5, 0], [3.5, 1.6, 0.2], [4.2, 2.8, 0]])
    x = base + rng.normal(0.0, 0.4, (n_frames, 5, 3))
    return Trajectory(x, np.array([6, 7, 6, 6, 7]), None, 0.002)


def test_self_mae_is_zero():
    traj = _backbone(400, 0)
    result = FreeEnergy(traj, QUADS).run(traj).results
    assert result.mae_phi == result.mae_psi == result.mae_fes == 0.0
    assert result.kT_kJ_per_mol == pytest.approx(2.494, abs=1e-3)  # MDsim: kBT = 2.49 at 300 K


def test_matches_mdsim_get_pmf_on_a_traj_file(tmp_path):
    reference, run = _backbone(3000, 1), _backbone(2000, 2)
    path = write_traj(run, tmp_path / "atoms.traj")
    ours = FreeEnergy(reference, QUADS).run(path, frame_interval_ps=0.002).results
    kT = ours.kT_kJ_per_mol

    def surface(traj):  # -kT ln P on MDsim's 60 x 60 grid, in PLUMED's [psi, phi] layout
        angles = phi_psi_degrees(traj.positions, QUADS)
        edges = np.linspace(-180, 180, 61)
        counts, _, _ = np.histogram2d(angles[:, 1], angles[:, 0], bins=[edges, edges])
        with np.errstate(divide="ignore"):
            f = -kT * np.log(counts / counts.sum())
        return f - f.min()

    ref_phi, ref_psi = mdsim.get_pmf(surface(reference), kT)
    phi, psi = mdsim.get_pmf(surface(run), kT)
    assert np.allclose(ours.F_phi, phi) and np.allclose(ours.F_psi_reference, ref_psi)
    both = np.isfinite(phi) & np.isfinite(ref_phi)
    # MDsim's mae(F_ref, F, 6.28) over the bins both visit (a histogram leaves some empty)
    assert ours.mae_phi == pytest.approx(mdsim.mae(ref_phi[both], phi[both], 6.28), rel=1e-9)
    assert ours.coverage_phi == pytest.approx(both.mean())
    both = np.isfinite(psi) & np.isfinite(ref_psi)
    assert ours.mae_psi == pytest.approx(mdsim.mae(ref_psi[both], psi[both], 6.28), rel=1e-9)
    theirs = surface(run)  # inf where empty; ours is nan there (workbench.analysis)
    assert np.array_equal(np.isfinite(ours.F.T), np.isfinite(theirs))
    assert np.allclose(ours.F.T[np.isfinite(theirs)], theirs[np.isfinite(theirs)])


def test_collapsed_at_the_first_frame_is_not_available():
    traj = _backbone(50, 3)
    collapsed = {"n_stable_frames": 1, "collapsed": True, "stable_time_ps": 0.0}
    result = FreeEnergy(traj, QUADS).run(traj, stability=collapsed).results
    assert not result.available and result.mae_phi == np.inf and result.F is None
