"""The Tune dashboard in a real headless Chromium: a target is made, a slider move re-runs the
simulation and redraws g(r), Step advances DiffSim and IBI side by side, a bad target file gets
a message that stays, sliders follow the fit, a page load runs nothing, nothing leaves localhost
and the console stays clean."""

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
    # the sliders follow the fit, so the next move continues from the fitted parameters
    fitted = session.fits["diffsim"].params
    wait_until(lambda: board.sliders.objects[0].value == pytest.approx(fitted["sigma"]),
               timeout=10, message="the sigma slider to show the fitted value")
    assert board.sliders.objects[1].value == pytest.approx(fitted["epsilon"])
    page.screenshot(path=str(artifacts_dir / "tune_after_step.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []


def test_a_page_load_runs_nothing_and_a_bad_file_message_stays(serve_boards, page):
    app, boards = serve_boards(lambda: TuneDashboard(TuneSession(n_atoms=108, replicas=1)))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    page.wait_for_selector("text=Make a target first")
    assert board.session.job is None and board.session.status == "idle"  # issue 11

    page.get_by_role("button", name="File", exact=True).click()
    page.locator("input[type=file]").set_input_files(files=[{
        "name": "broken.csv", "mimeType": "text/csv", "buffer": b"r,g\n0.1,abc\n"}])
    wait_until(lambda: board.t_file.value, timeout=10, message="the upload")
    page.get_by_role("button", name="Load file").click()
    message = page.get_by_text("Could not read broken.csv")
    message.wait_for(timeout=10_000)
    page.wait_for_timeout(5000)  # the periodic refresh (every 100 ms) must not overwrite it
    assert message.is_visible() and board.session.target is None
    assert page.log.errors() == []
