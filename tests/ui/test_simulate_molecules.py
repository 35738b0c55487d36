"""Molecular systems in the Simulate dashboard, in a real headless Chromium: choosing alanine
dipeptide or water in the System menu redraws the viewer with atoms and bonds, hides the
pair-potential widgets, and Start fills the plots that fit the system (the Ramachandran plot;
the O-O, O-H, H-H RDFs). Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.ui.browser import READY_JS, STATS_JS, png_pixels, wait_js, wait_until
from workbench.simulation_setup import SimulationSetup
from workbench.ui.simulate import SimulateDashboard

pytestmark = pytest.mark.ui


def _serve(serve_boards, **setup):
    return serve_boards(lambda: SimulateDashboard(SimulationSetup(**{"n_atoms": 256, **setup})))


def _choose_system(page, label: str) -> None:
    page.locator(".bk-input-group", has_text="System").locator("select").first.select_option(
        label=label)


def _structure(page) -> dict:
    return page.evaluate(f"() => ({STATS_JS})()[0]")


def test_alanine_dipeptide_draws_bonds_and_a_ramachandran_plot(serve_boards, page, artifacts_dir):
    t0 = time.monotonic()
    app, boards = _serve(serve_boards)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to draw the LJ fluid", timeout_ms=60_000)
    board = boards[0]
    _choose_system(page, "Alanine dipeptide (vacuum)")
    wait_js(page, f"() => {{ const v = ({STATS_JS})()[0]; return v && v.nAtoms === 22; }}",
            "the viewer to draw alanine dipeptide", timeout_ms=30_000)
    assert _structure(page)["nBonds"] == 21  # ACE-ALA-NME: 22 atoms, 21 bonds
    # The relabelled widgets arrive in their own message, after or before the new structure:
    # wait for them (Playwright's expect retries until its timeout) rather than look once.
    expect(page.get_by_text("Temperature (K)")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Time step (fs)")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Potential parameters")).to_be_hidden(timeout=30_000)
    expect(page.get_by_text("Cutoff (σ)")).to_be_hidden(timeout=30_000)
    assert board.setup.temperature == 300.0 and board.setup.timestep == 0.5

    canvas = page.locator("canvas").first
    before = png_pixels(canvas.screenshot())
    assert np.mean(np.all(before > 245, axis=-1)) < 0.995, "the canvas is blank"
    print(f"alanine dipeptide drawn {time.monotonic() - t0:.1f} s after serving")
    page.get_by_role("button", name="Start").click()
    t1 = time.monotonic()
    wait_until(lambda: len(board.rama_src.data["phi"]) >= 20, timeout=60,
               message="the Ramachandran plot to get points")
    print(f"Ramachandran points {time.monotonic() - t1:.1f} s after Start")
    received = board.player.viewer.frames_received
    wait_until(lambda: board.player.viewer.frames_received > received + 3, timeout=30,
               message="the browser to receive new frames")
    phi, psi = np.asarray(board.rama_src.data["phi"]), np.asarray(board.rama_src.data["psi"])
    assert np.all(np.abs(phi) <= 180) and np.all(np.abs(psi) <= 180)
    # It starts in C7eq and stays in the extended (C7eq / beta) basin at 300 K: phi from -180
    # through -45 degrees, which wraps to +180. A circular mean within 80 degrees of -110 covers it.
    mean_phi = np.degrees(np.angle(np.mean(np.exp(1j * np.radians(phi)))))
    assert abs((mean_phi + 110 + 180) % 360 - 180) < 80, mean_phi
    image = np.asarray(board.fes_src.data["image"][0])
    assert np.nanmin(image) == 0 and np.isfinite(image).sum() >= 1
    page.wait_for_selector("text=Running")
    shown = [pane.object for pane in board.plots.objects]
    assert board.observable_figs["ramachandran"] in shown
    assert board.pres_fig not in shown  # no pressure in free space
    time.sleep(1.0)  # let the plots draw the newest data
    page.screenshot(path=str(artifacts_dir / "simulate_alanine_dipeptide.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []
    print(f"screenshot {time.monotonic() - t0:.1f} s after serving")
    sim = board.sim
    page.close()  # 22 atoms run fast: the run may have completed by now
    wait_until(lambda: sim.status in ("stopped", "completed") and not sim._thread.is_alive(),
               timeout=30, message="the simulation to stop after the page closed")


def test_water_first_frame_and_partial_rdfs(serve_boards, page, artifacts_dir):
    app, boards = _serve(serve_boards, system="water")
    page.goto(app.url)
    wait_js(page, f"() => {{ const v = ({STATS_JS})()[0]; return v && v.nAtoms === 192; }}",
            "the viewer to draw 64 waters", timeout_ms=60_000)
    assert _structure(page)["nBonds"] == 128
    board = boards[0]
    received = board.player.viewer.frames_received
    t0 = time.monotonic()
    page.get_by_role("button", name="Start").click()
    wait_until(lambda: board.player.viewer.frames_received > received, timeout=60,
               message="the first water frame in the browser")
    first_frame_s = time.monotonic() - t0
    wait_until(lambda: len(board.water_src.data["OO"]) == 80, timeout=30,
               message="the water RDFs")
    print(f"water (192 atoms): first frame in the browser {first_frame_s:.1f} s after Start")
    g = board.water_src.data
    assert np.all(np.isfinite(g["OO"])) and np.max(g["OO"]) > 1.0
    assert np.asarray(g["OO"])[np.asarray(g["r"]) < 2.2].max() == 0  # no O-O closer than 2.2 Å
    assert board.observable_figs["water_rdfs"] in [pane.object for pane in board.plots.objects]
    time.sleep(1.0)
    page.screenshot(path=str(artifacts_dir / "simulate_water.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []
    sim = board.sim
    page.close()
    wait_until(lambda: sim.status == "stopped" and not sim._thread.is_alive(), timeout=30,
               message="the simulation to stop after the page closed")


def test_potential_source_lists_saved_fits_and_runs_one():
    from workbench.fit import PotentialFit, fitted_potential, target_from_reference_system
    from workbench.registry import RunRegistry

    target = target_from_reference_system(
        "lj_fluid", temperature=1.2, n_steps=600, equilibration=200, stride=50,
        system_kwargs={"n_atoms": 108, "density": 0.7}, r_max=2.5, n_bins=50)
    fit = PotentialFit(target, family="lj", initial_params={"sigma": 0.95}, n_atoms=108,
                       equilibration=100, steps_per_iteration=60, window=60, stride=20,
                       n_bins=50, eval_iterations=1)
    fit.step()
    run = fit.save(RunRegistry(), name="ui fit")
    board = SimulateDashboard(SimulationSetup(n_atoms=108, density=0.7, n_steps=100, stride=50))
    label = f"fit: ui fit ({run.id})"
    assert board.source.options == {"family parameters": "", label: run.id}
    assert board.widgets["family"].visible and board.param_box.visible
    board.source.value = run.id
    assert board.setup.fitted_run == run.id
    assert not board.widgets["family"].visible and not board.widgets["r_cutoff"].visible
    assert not board.param_box.visible and board.fit_note.visible
    assert "T = 1.2" in board.fit_note.object
    expected = fitted_potential(RunRegistry().get(run.id))
    assert board.sim.system.potential.to_dict() == expected.to_dict()
    assert run.id in board.status.object
    board.sim.run(progress=False)
    assert board.sim.status == "completed"
    board.source.value = ""  # back to the family and its parameters
    assert board.widgets["family"].visible and board.sim.system.potential.family == "lj"
    assert board.sim.system.potential.params.get("sigma", 1.0) == 1.0


def test_liquid_watch_switch_is_offered_for_water_and_watches_its_size():
    from workbench.benchmark import LiquidWatch, water_system

    board = SimulateDashboard(SimulationSetup(system="water", n_molecules=32))
    assert board.watch_liquid.visible and board._liquid_watch() is None
    board.watch_liquid.value = True
    watch = board._liquid_watch()
    assert isinstance(watch, LiquidWatch) and watch._source == water_system(32)
    board.setup.system = "lj_fluid"
    assert not board.watch_liquid.visible and board._liquid_watch() is None
    board.close()
