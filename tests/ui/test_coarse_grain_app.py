"""The Coarse-grain dashboard in a real headless Chromium: alanine dipeptide frames are
generated, Autograin learns a 4-bead mapping while the atoms take their beads' colours and the
beads are drawn over them, then the heavy-atom mapping is fitted by force matching, CG MD runs
in its own view, and the bonded distributions are overlaid; a dataset without forces is refused
next to the data widgets. Screenshot: test-artifacts/coarse_grain_dashboard.png."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.browser import STATS_JS, wait_js, wait_until
from workbench.coarse.session import CoarseGrainSession
from workbench.ui.coarse_grain import CoarseGrainDashboard

pytestmark = pytest.mark.ui


def _fill(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def test_learn_fit_simulate_and_compare(serve_boards, page, artifacts_dir):
    app, boards = serve_boards(lambda: CoarseGrainDashboard(CoarseGrainSession()))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    _fill(page, "Frames", 100)
    page.locator("button.bk-btn-primary", has_text="Generate").click()
    wait_js(page, f"() => ({STATS_JS})().some(v => v.nAtoms === 22)",
            "alanine dipeptide in the atom view", timeout_ms=120_000)

    _fill(page, "Epochs", 20)
    page.get_by_role("button", name="Learn", exact=True).click()
    wait_until(lambda: board.session.mapping is not None, timeout=120,
               message="20 epochs of Autograin")
    wait_until(lambda: len(board.curve_src.data["epoch"]) == 20, timeout=10,
               message="the learning curves")
    assert np.all(np.isfinite(board.curve_src.data["val"]))
    n_beads = board.session.mapping.n_beads  # the force term may merge beads: 1 to 4
    wait_js(page, f"() => ({STATS_JS})().some(v => v.beads === {n_beads})",
            "the learned beads over the atoms", timeout_ms=30_000)
    page.get_by_text("reconstruction RMSD").first.wait_for(timeout=30_000)

    page.locator("select:has(option:text-is('Heavy atoms'))").select_option(label="Heavy atoms")
    page.get_by_role("button", name="Use mapping").click()
    wait_js(page, f"() => ({STATS_JS})().some(v => v.beads === 10)",
            "10 heavy-atom beads", timeout_ms=30_000)
    page.get_by_role("button", name="Fit CG potential").click()
    page.get_by_text("Force RMSE").wait_for(timeout=120_000)
    _fill(page, "Steps", 4000)
    page.get_by_role("button", name="Run CG MD").click()
    wait_until(lambda: board.session.distributions, timeout=180, message="CG MD and comparison")
    page.get_by_text("Overlap of the two histograms").wait_for(timeout=30_000)
    wait_js(page, f"() => ({STATS_JS})().some(v => v.nAtoms === 10 && !v.beads)",
            "the CG MD view", timeout_ms=30_000)
    # every bond type of the fitted model is compared, and bonds are well reproduced: the
    # heavy-atom model's bond overlaps measured 0.58-0.93 on 300 frames (notebook 06: > 0.85
    # on 2,000 frames); 0.3 says the plot shows the same variable, not a broken run
    bonds = [d for d in board.session.distributions if d.kind == "bond"]
    assert {d.name for d in bonds} == set(board.session.cg.term_names["bond"])
    assert min(d.overlap for d in bonds) > 0.3
    assert len(board.dist_src.data["x"]) == 60
    page.screenshot(path=str(artifacts_dir / "coarse_grain_dashboard.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []


def test_a_dataset_without_forces_is_refused(serve_boards, page, tmp_path):
    from tests.workbench.mlff.analytic import morse_dataset

    ds = morse_dataset(12)
    path = tmp_path / "no-forces.npz"
    np.savez(path, R=ds.positions, z=ds.species, E=ds.energies)
    app, boards = serve_boards(lambda: CoarseGrainDashboard(CoarseGrainSession()))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    page.get_by_role("button", name="File", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(path))
    wait_until(lambda: board.data.file.value, timeout=10, message="the upload")
    page.get_by_role("button", name="Load file").click()
    message = page.get_by_text("no forces")
    message.wait_for(timeout=10_000)
    page.wait_for_timeout(1000)  # the periodic refresh leaves it alone
    assert message.is_visible() and board.session.dataset is None
    assert board.map_btn.disabled and board.fit_btn.disabled and board.md_btn.disabled
