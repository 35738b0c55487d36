"""The Tune dashboard in a real headless Chromium: a target is made, a slider move re-runs the
simulation and redraws g(r), Step advances DiffSim and IBI side by side, a bad target file gets
a message, nothing leaves localhost and the console stays clean."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.browser import wait_until
from workbench.fit import TuneSession
from workbench.ui.tune import TuneDashboard

pytestmark = pytest.mark.ui


def _board():
    session = TuneSession(n_atoms=108, replicas=1, steps_per_iteration=80, relax_steps=20)
    board = TuneDashboard(session, auto_target=False)
    board.t_steps.value = 1500
    board.make_target()
    return board


def test_slider_step_and_side_by_side_curves(serve_boards, page, artifacts_dir):
    app, boards = serve_boards(_board)
    page.goto(app.url)
    wait_until(lambda: boards and boards[0].session.preview_result is not None, timeout=240,
               message="the target and the first simulated g(r)")
    board = boards[0]
    session = board.session
    wait_until(lambda: len(board.g_src["diffsim"].data["g"]) == 100, timeout=10,
               message="the g(r) plot to be drawn")
    first = session.preview_result["rdf_error"]
    version = session.version

    handle = page.locator(".noUi-handle").first  # sigma: 0.80 -> higher, towards the target
    handle.focus()
    for _ in range(20):
        handle.press("ArrowRight")
    wait_until(lambda: session.version > version and not session.busy, timeout=60,
               message="the slider move to re-run the simulation")
    assert session.fits["diffsim"].params["sigma"] > 0.8
    assert session.preview_result["rdf_error"] < first  # sigma moved towards the target's 1.0
    page.wait_for_selector("text=preview:")

    page.get_by_role("button", name="Step").click()
    wait_until(lambda: all(len(f.history["loss"]) == 1 for f in session.fits.values())
               and not session.busy, timeout=120, message="a DiffSim and an IBI iteration")
    wait_until(lambda: len(board.h_src["ibi"].data["error"]) == 1, timeout=10,
               message="the loss curves to be drawn")
    assert np.all(np.isfinite(board.u_src["ibi"].data["u"]))
    page.screenshot(path=str(artifacts_dir / "tune_after_step.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []


def test_bad_target_file_gets_a_message(serve_boards, page):
    app, boards = serve_boards(_board)
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    board.source.value = "File"
    board.t_file.filename, board.t_file.value = "broken.csv", b"r,g\n0.1,abc\n"
    board.make_target()
    assert "Could not read the file" in board.status.object and "broken.csv" in \
        board.status.object
