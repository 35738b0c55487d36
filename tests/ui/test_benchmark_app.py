"""The Benchmark dashboard in a real headless Chromium: a tiny grid (the classical force field on
alanine dipeptide, one seed, 4 frames, one Dask worker thread) fills the cells table, the
leaderboard, the force-MAE-against-stability scatter, the stability bars and the h(r), F(phi),
F(psi) overlays; the cell's trajectory opens in the viewer at its last frame (it does not
collapse); the Runs tab overlays the temperature of the simulation run with nothing to compare
refused next to the button; a grid with no system is refused next to the widgets. Nothing leaves
localhost (Tabulator included). Screenshot: test-artifacts/benchmark_dashboard.png.

Numbers: 4 frames at the protocol's 1 ps give a stability of 4.0 ps (``BondStability``:
``start_ps + (n - 1) dt`` with the first frame at 1 ps; test_grid.py measures 5.0 for 5 frames).
"""

from __future__ import annotations

import pytest

from tests.ui.browser import STATS_JS, wait_js, wait_until
from workbench.ui.benchmark import BenchmarkDashboard

pytestmark = pytest.mark.ui


def test_tiny_grid_leaderboard_plots_and_trajectory(serve_boards, page, artifacts_dir):
    app, boards = serve_boards(lambda: BenchmarkDashboard(
        grid_options={"processes": False, "n_workers": 1}))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    frames = page.get_by_label("Frames per run", exact=True)
    frames.fill("4")
    frames.press("Enter")
    wait_until(lambda: board.n_frames.value == 4, timeout=10, message="4 frames")
    page.get_by_role("button", name="Run benchmark").click()
    wait_until(lambda: board.grid is not None and board.grid.finished, timeout=120,
               message="the grid")
    assert board.grid.status == "completed", board.grid.message
    leader = page.locator(".tabulator-row", has_text="alanine_dipeptide").first
    leader.wait_for(timeout=10_000)
    wait_until(lambda: len(board.plots.objects) == 3, timeout=60,
               message="h(r), F(phi), F(psi)")
    (row,) = board.board.value.to_dict("records")
    assert row["stability_ps"] == pytest.approx(4.0) and row["force_mae"] < 1e-5
    assert row["fes_phi_mae"] >= 0 and row["fes_psi_mae"] >= 0
    # scatter, bars and three overlays: five Bokeh canvases (Playwright's CSS pierces the
    # components' shadow roots)
    wait_until(lambda: page.locator(".bk-Canvas canvas, .bk-canvas-wrapper canvas").count() >= 5
               or page.locator("canvas").count() >= 5, timeout=20, message="five plots")

    page.locator(".tabulator-row", has_text="seed 0").first.click()
    wait_until(lambda: board.cells.selection == [0], timeout=10, message="the selection")
    page.get_by_role("button", name="Open trajectory at the collapse").click()
    wait_js(page, f"() => ({STATS_JS})().some(v => v.nAtoms === 22)",
            "alanine dipeptide in the viewer", timeout_ms=30_000)
    page.get_by_text("no collapse: the last frame").wait_for(timeout=10_000)
    assert board.player.frame == 3 and board.player.n_frames == 4
    page.screenshot(path=str(artifacts_dir / "benchmark_dashboard.png"), full_page=True)

    page.locator(".bk-tab", has_text="Runs").click()
    page.get_by_role("button", name="Compare selected").click()
    page.get_by_text("Select two runs or more").wait_for(timeout=10_000)
    page.get_by_role("button", name="Refresh", exact=True).click()
    for kind in ("simulation", "benchmark"):
        page.locator(".tabulator-row", has_text=f"-{kind}-").locator(
            "input[type=checkbox]").click()
    wait_until(lambda: len(board.runs.table.selection) == 2, timeout=10,
               message="two runs ticked")
    page.get_by_role("button", name="Compare selected").click()
    wait_until(lambda: board.runs.overlay.visible, timeout=10, message="the overlay")
    assert "temperature (K)" in board.runs.quantity.options
    page.screenshot(path=str(artifacts_dir / "benchmark_runs.png"), full_page=True)

    page.locator(".bk-tab", has_text="Benchmark").click()
    board.systems.value = []
    page.get_by_role("button", name="Run benchmark").click()
    page.get_by_text("choose at least one force field and one system").wait_for(timeout=10_000)
    assert page.log.external_requests() == []
    assert page.log.errors() == []
