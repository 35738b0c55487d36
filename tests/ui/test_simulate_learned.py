"""A trained model in the Simulate dashboard, in a real headless Chromium: for water the "Force
field" menu offers the classical force field and the registered model trained on H and O, names
the argon model it leaves out and why, and Start runs the learned water (frames reach the
viewer, the water RDFs fill). Screenshot: test-artifacts/simulate_learned_water.png."""

from __future__ import annotations

import time

import pytest

from tests.lj_pair_mlp import AR, silent_model
from tests.ui.browser import READY_JS, STATS_JS, wait_js, wait_until
from workbench.registry import RunRegistry
from workbench.simulation_setup import SimulationSetup
from workbench.ui.simulate import SimulateDashboard

pytestmark = pytest.mark.ui


def test_a_trained_model_runs_water(serve_boards, page, artifacts_dir):
    registry = RunRegistry()
    water = registry.create("mlff", {}, name="water model")
    silent_model((1, 8)).save(water.path)
    argon = registry.create("mlff", {}, name="argon model")
    silent_model((AR,)).save(argon.path)

    app, boards = serve_boards(lambda: SimulateDashboard(SimulationSetup(system="water")))
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to draw water", timeout_ms=60_000)
    board = boards[0]
    menu = page.locator(".bk-input-group", has_text="Force field").locator("select").first
    labels = menu.locator("option").all_inner_texts()
    assert labels == ["classical force field", f"water model ({water.id})"]
    note = f"Not offered: argon model ({argon.id}): not trained on H, O."
    assert page.get_by_text(note).is_visible()

    menu.select_option(label=f"water model ({water.id})")
    wait_until(lambda: board.sim is not None and board.sim.system.model is not None,
               timeout=30, message="the learned water to be previewed")
    page.wait_for_selector("text=moved by the learned force field")
    wait_js(page, f"() => {{ const v = ({STATS_JS})()[0]; return v && v.nAtoms === 192; }}",
            "the viewer to draw 64 waters", timeout_ms=30_000)
    received = board.player.viewer.frames_received
    page.get_by_role("button", name="Start").click()
    wait_until(lambda: board.player.viewer.frames_received > received + 2, timeout=90,
               message="learned-water frames in the browser")
    wait_until(lambda: len(board.water_src.data["OO"]) == 80, timeout=30,
               message="the water RDFs")
    assert board.sim.status in ("running", "completed"), board.sim.message
    time.sleep(1.0)  # let the plots draw the newest data
    page.screenshot(path=str(artifacts_dir / "simulate_learned_water.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []
    sim = board.sim
    page.close()
    wait_until(lambda: sim.status in ("stopped", "completed") and not sim._thread.is_alive(),
               timeout=30, message="the simulation to stop after the page closed")
