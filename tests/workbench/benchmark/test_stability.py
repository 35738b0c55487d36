"""Bond and RDF stability: known collapse frames, and MDsim's own loops on an ASE .traj."""

import numpy as np
import pytest

from tests.workbench.benchmark import mdsim_formulas as mdsim
from tests.workbench.benchmark.synthetic import (
    vibrating_molecule,
    water_box,
    write_traj,
)
from workbench.benchmark import BondStability, RDFStability, Trajectory


def _stretched(traj: Trajectory, frame: int, stretch_A: float, atom: int = 1, anchor: int = 0
               ) -> Trajectory:
    """Move ``atom`` outward along its bond to ``anchor`` (CH4: the first H from the C) by
    ``stretch_A`` from ``frame`` on."""
    x = traj.positions.copy()
    bond = x[0, atom] - x[0, anchor]
    x[frame:, atom] += stretch_A * bond / np.linalg.norm(bond)
    return Trajectory(x, traj.numbers, traj.box, traj.frame_interval_ps)


def test_bond_stretched_at_a_known_frame():
    reference = vibrating_molecule("CH4", 50, seed=0)
    run = vibrating_molecule("CH4", 40, seed=1)
    # 0.8 Å: past 0.5 Å even with the frames' noise (0.02 Å per atom, bonds within ~0.1 Å).
    result = BondStability(reference).run(_stretched(run, 13, 0.8)).results
    assert result.collapsed and result.collapse_frame == 13
    # MDsim: collapse_pt = first bad frame + 1, stability (collapse_pt - 1) * 0.05 ps
    assert result.n_stable_frames == 14
    assert result.stable_time_ps == pytest.approx(13 * 0.05, abs=1e-12)
    assert len(result.bonds) == 4  # the four C-H bonds of methane


def test_bond_stretch_below_threshold_is_stable_for_the_full_length():
    reference = vibrating_molecule("CH4", 50, seed=0)
    # 0.3 Å plus noise stays below 0.5 Å (noise on a bond length: sd 0.02 * sqrt 2 Å)
    result = BondStability(reference).run(_stretched(vibrating_molecule("CH4", 40, 2), 5,
                                                     0.3)).results
    assert not result.collapsed and result.collapse_frame is None
    assert result.stable_time_ps == pytest.approx(39 * 0.05, abs=1e-12)  # (n - 1) frames
    assert np.nanmax(result.max_deviation_A) < 0.5


def test_bond_stability_matches_mdsim_loop(tmp_path):
    reference = vibrating_molecule("CH3CH2OH", 30, seed=3)
    # ethanol's O (atom 2) pulled 0.9 Å away from its C (atom 1) from frame 9 on
    run = _stretched(vibrating_molecule("CH3CH2OH", 25, seed=4), 9, 0.9, atom=2, anchor=1)
    path = write_traj(run, tmp_path / "atoms.traj")
    collapse_pt, _ = mdsim.md17_load_run(path, reference.positions)
    ours = BondStability(reference).run(path, frame_interval_ps=0.05).results
    assert ours.n_stable_frames == collapse_pt == 10
    assert ours.stable_time_ps == pytest.approx((collapse_pt - 1) / 20, abs=1e-12)


def _exploded(traj: Trajectory, frame: int, seed: int) -> Trajectory:
    """Atoms scattered uniformly in the box from ``frame`` on: every O-H bond breaks."""
    x = traj.positions.copy()
    rng = np.random.default_rng(seed)
    x[frame:] = rng.uniform(0.0, traj.box[0], x[frame:].shape)
    return Trajectory(x, traj.numbers, traj.box, traj.frame_interval_ps)


def test_rdf_stability_one_frame_windows_find_the_exploded_frame():
    # nearly frozen waters (0.002 Å noise), so that one frame's RDFs are the reference's
    reference = water_box(3, 12.2, 20, seed=0, noise_A=0.002)
    run = _exploded(water_box(3, 12.2, 30, seed=0, noise_A=0.002, noise_seed=1), 17, seed=2)
    # windows of one frame (0.1 ps): the first bad window is the first scattered frame; the
    # lost O-H peak alone is an MAE * 6 of ~5 Å (2 / (rho_H 4 pi r^2) at 0.97 Å) > 3
    result = RDFStability(reference, window_ps=0.1).run(run).results
    assert result.window_frames == 1 and result.collapse_frame == 17
    assert result.stable_time_ps == pytest.approx(16 * 0.1, abs=1e-12)  # (collapse_pt - 1) dt
    assert np.all(result.window_mae[:-1] < 3.0) and result.window_mae[-1] > 3.0


def test_rdf_stability_matches_mdsim_loop(tmp_path):
    reference = water_box(3, 12.2, 15, seed=5)
    run = _exploded(water_box(3, 12.2, 40, seed=5, noise_seed=6), 23, seed=7)
    path = write_traj(run, tmp_path / "atoms.traj")
    gt = mdsim.get_water_rdfs(reference.positions, reference.numbers, reference.box,
                              np.linspace(1e-6, 6.0, 501))
    collapse_pt, _ = mdsim.water_load_run(run.positions, run.numbers, run.box, gt)
    ours = RDFStability(reference).run(path, frame_interval_ps=0.1).results
    assert ours.window_frames == 10  # 1 ps of 0.1 ps frames, MDsim's rdf_check_interval
    assert ours.n_stable_frames == collapse_pt
    assert ours.stable_time_ps == pytest.approx((collapse_pt - 1) / 10, abs=1e-12)
    assert ours.collapsed and 14 <= collapse_pt <= 23  # a window holding scattered frames


def test_mismatched_atoms_raise():
    with pytest.raises(ValueError, match="do not match"):
        BondStability(vibrating_molecule("CH4", 5, 0)).run(vibrating_molecule("H2O", 5, 0))
