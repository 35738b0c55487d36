"""The Simulate dashboard in a real headless Chromium: Start draws moving atoms and updates the
plots, nothing leaves localhost, the console stays clean, bad input gets a message next to the
widgets, and closing the tab stops the simulation and its thread."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.browser import READY_JS, png_pixels, server_log_errors, wait_js, wait_until
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


# What issue 17 typed into the page, and what the setup object says of each in Python.
BAD_INPUT = [
    ("Temperature", "-1", "must be at least 0.0, not -1.0"),
    ("Temperature", "1e9", "the temperature must be at most 50"),
    ("Temperature", "1e", "must be a number, not '1e'"),
    ("Time step", "0", "must be at least 1e-05, not 0.0"),
    ("N atoms", "1", "must be at least 2, not 1"),
    ("N atoms", "20", "twice the cutoff"),
    ("Density", "abc", "must be a number, not 'abc'"),
]


def test_bad_input_is_answered_next_to_its_box(serve_boards, page, artifacts_dir):
    app, boards = _serve(serve_boards)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer", timeout_ms=60_000)
    setup = boards[0].setup
    start = page.get_by_role("button", name="Start")
    with server_log_errors() as logged:
        _type_bad_input(page, start, artifacts_dir / "simulate_bad_input.png")
    assert (setup.temperature, setup.timestep, setup.n_atoms) == (0.72, 0.005, 256)
    assert "Traceback" not in page.content()
    assert page.log.errors() == []
    assert [r.getMessage() for r in logged] == []


def _type_bad_input(page, start, screenshot) -> None:
    for label, text, message in BAD_INPUT:
        box = page.locator(".bk-input-group", has_text=label).locator("input")
        good = box.input_value()
        box.fill(text)
        box.press("Enter")
        page.wait_for_selector(f"text={message}", timeout=20_000)
        assert box.input_value() == text  # the user's value stays, with the message
        assert start.is_disabled(), (label, text)
        if text == "1e":
            page.screenshot(path=str(screenshot))
        box.fill(good)
        box.press("Enter")
        page.wait_for_selector(f"text={message}", state="detached", timeout=20_000)
        wait_until(lambda: start.is_enabled(), timeout=20, message=f"Start after {label}")
