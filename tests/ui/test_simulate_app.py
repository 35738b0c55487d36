"""The Simulate dashboard in a real headless Chromium: Start draws moving atoms and updates the
plots, nothing leaves localhost, the console stays clean, bad input gets a message next to the
widgets, and closing the tab stops the simulation and its thread."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.browser import READY_JS, png_pixels, wait_js, wait_until
from workbench.simulation_setup import SimulationSetup
from workbench.ui.simulate import SimulateDashboard

pytestmark = pytest.mark.ui


def _serve(serve_boards, **setup):
    return serve_boards(lambda: SimulateDashboard(SimulationSetup(**{"n_atoms": 256, **setup})))


def test_start_draws_moving_atoms_and_live_plots(serve_boards, page, artifacts_dir):
    app, boards = _serve(serve_boards)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to draw the starting structure", timeout_ms=60_000)
    board = boards[0]
    canvas = page.locator("canvas").first
    before = png_pixels(canvas.screenshot())
    assert np.mean(np.all(before > 245, axis=-1)) < 0.97, "the canvas is blank"

    page.get_by_role("button", name="Start").click()
    wait_until(lambda: board.sim.step >= 300 and board._plotted > 0, timeout=120,
               message="the simulation to run and the plots to update")
    received = board.player.viewer.frames_received
    wait_until(lambda: board.player.viewer.frames_received > received + 5, timeout=30,
               message="the browser to receive new frames")
    after = png_pixels(canvas.screenshot(path=str(artifacts_dir / "simulate_canvas.png")))
    assert np.mean(np.abs(after - before)) > 1.0, "the atoms did not move"
    assert len(board.thermo_src.data["step"]) > 0
    assert np.all(np.isfinite(board.rdf_src.data["g"])) and len(board.rdf_src.data["g"]) == 80
    page.wait_for_selector("text=Running")
    page.screenshot(path=str(artifacts_dir / "simulate_running.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []

    sim = board.sim
    page.close()  # closing the tab stops the simulation and ends its thread at once:
    wait_until(lambda: sim.status == "stopped" and not sim._thread.is_alive(), timeout=30,
               message="the simulation to stop after the page closed")
    # before Bokeh reaps the unused session (3 s after the close here, 15-32 s by default)
    assert app.sessions_destroyed == []


def test_bad_input_shows_a_message_not_a_traceback(serve_boards, page, artifacts_dir):
    app, _ = _serve(serve_boards)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer", timeout_ms=60_000)
    n_atoms = page.locator(".bk-input-group", has_text="N atoms").locator("input")
    n_atoms.fill("20")
    n_atoms.press("Enter")
    page.wait_for_selector("text=twice the cutoff", timeout=20_000)
    assert page.get_by_role("button", name="Start").is_disabled()
    page.screenshot(path=str(artifacts_dir / "simulate_bad_input.png"))
    assert "Traceback" not in page.content()
    assert page.log.errors() == []
