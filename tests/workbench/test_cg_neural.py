"""Force matching with a neural pair term (``workbench.coarse.neural``): on LJ frames with the
identity mapping the tabulated network gives the LJ pair force, the table reproduces the
network's forces, and the fitted potential runs like any other; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from tests.workbench.test_cg_force_matching import BOX, RC, N, lj_force, lj_liquid
from workbench import Simulation
from workbench.coarse.neural import NeuralForceMatching
from workbench.system import System


def test_a_neural_pair_term_needs_pair_and_sane_input():
    R, F = np.zeros((4, 3, 3)), np.zeros((4, 3, 3))
    with pytest.raises(ValueError, match="needs pair=True"):
        NeuralForceMatching(pair=False).fit(R, F, ["A"] * 3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        NeuralForceMatching().fit(R + np.nan, F, ["A"] * 3)
    with pytest.raises(ValueError, match="widths must be at least 1"):
        NeuralForceMatching(hidden=[0]).fit(R, F, ["A"] * 3)


def test_a_diverged_fit_warns():
    R, F = lj_liquid(0, n_frames=10)
    with pytest.warns(UserWarning, match="no better than zero force"):
        NeuralForceMatching(r_cutoff=RC, epochs=2, learning_rate=100.0).fit(
            R, F, ["LJ"] * N, box=np.full(3, BOX))


@pytest.mark.slow
def test_neural_force_matching_learns_the_lj_pair_force():
    R, F = lj_liquid(0, n_frames=20)
    cg = NeuralForceMatching(r_cutoff=RC, epochs=60, batch_size=2, seed=0).fit(
        R, F, ["LJ"] * N, box=np.full(3, BOX))
    m = cg.metrics
    r = np.linspace(1.0, 2.45, 30)
    max_error = np.max(np.abs(cg.pair_force(r) - lj_force(r)))
    # 20 frames of 108 LJ atoms (RMS force 18.2), 60 epochs of Adam 1e-2 on batches of 2,
    # weight seeds 0-2: validation force RMSE 0.34-0.38 (1.9-2.1 %), max |F_nn - F_LJ| on
    # [1, 2.45] 0.04-0.08 where F_LJ reaches 24 (the linear spline fit of
    # test_cg_force_matching on 40 frames: 0.0005-0.003)
    assert m["rmse_validation"] < 0.03 * m["rmse_zero_validation"]
    assert max_error < 0.15
    # the MD table (200 knots of the network's force) gives the network's forces
    assert m["rmse_validation_table"] == pytest.approx(m["rmse_validation"], rel=1e-3)
    assert len(m["curves"]) == 60 and 1 <= m["best_epoch"] <= 60
    sim = Simulation(System.from_cg(cg, R[-1], np.ones(N), np.full(3, BOX)), temperature=1.0,
                     timestep=0.005, n_steps=500, stride=50, precision="float64")
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
