"""The `panel serve apps` index page names each dashboard with what it is for, with no external
request; the Simulate dashboard's downloads and Save produce files ASE and the registry read."""

from __future__ import annotations

import io

import ase.io
import numpy as np
import pytest

from tests.ui.browser import ServeProcess
from workbench.registry import RunRegistry
from workbench.simulation_setup import SimulationSetup
from workbench.ui.simulate import SimulateDashboard


@pytest.mark.ui
def test_index_page_lists_dashboards_offline(page, artifacts_dir, tmp_path):
    with ServeProcess(tmp_path / "serve.log") as server:
        page.goto(f"http://localhost:{server.port}/")
        card = page.locator("a.card", has_text="Simulate")
        card.wait_for(timeout=30_000)
        assert "watch it live" in card.inner_text()
        coarse = page.locator("a.card", has_text="coarse grain")
        assert coarse.get_attribute("href") == "./coarse_grain" and "force matching" in \
            coarse.inner_text()
        backmap = page.locator("a.card", has_text="CGVAE")
        assert backmap.get_attribute("href") == "./backmap" and "sample several" in \
            backmap.inner_text()
        page.screenshot(path=str(artifacts_dir / "index.png"))
        assert page.log.external_requests() == []
        assert page.log.errors() == []


def test_downloads_and_save_from_the_dashboard():
    board = SimulateDashboard(SimulationSetup(n_atoms=108, r_cutoff=2.0, n_steps=200,
                                              stride=20))
    board.sim.run(progress=False)
    frames = ase.io.read(io.StringIO(board._extxyz().getvalue().decode()), index=":",
                         format="extxyz")
    assert len(frames) == 10 and len(frames[0]) == 108
    np.testing.assert_allclose(frames[-1].get_positions(), board.sim.trajectory.positions[-1],
                               atol=1e-5)
    csv = board._csv().getvalue().decode().splitlines()
    assert csv[0].startswith("step,") and len(csv) == 11
    board.save()
    runs = RunRegistry().list(kind="simulation")
    assert runs and runs[0].metrics["frames"] == 10
