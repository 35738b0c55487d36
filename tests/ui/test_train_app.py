"""The Train dashboard in a real headless Chromium: a saved dataset is chosen, a pair MLP trains
while its learning curves, force parity and per-species errors appear, then MD with the model
fills the viewer and the temperature plot; a dataset without forces is refused with a message
next to the data widgets that stays. Screenshot: test-artifacts/train_dashboard.png."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.browser import wait_until
from tests.workbench.mlff.analytic import morse_dataset
from workbench import paths
from workbench.architectures import architecture
from workbench.mlff.session import TrainSession
from workbench.ui.train import TrainDashboard

pytestmark = pytest.mark.ui


def test_train_then_run_md_with_the_model(serve_boards, page, artifacts_dir):
    morse_dataset(48).save(paths.datasets_dir() / "morse-cluster.npz")
    app, boards = serve_boards(lambda: TrainDashboard(TrainSession()))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    page.get_by_role("button", name="Saved", exact=True).click()
    page.get_by_role("button", name="Use dataset").click()
    page.wait_for_selector("text=48 frames x 8 atoms")

    page.locator("select:has(option:text-is('Pair MLP'))").select_option(label="Pair MLP")
    wait_until(lambda: board._arch.arch_name == "pair_mlp", timeout=10, message="the choice")
    board._arch.hidden = [16, 16]  # small and quick; the widgets show the papers' defaults
    epochs = page.get_by_label("Max epochs")
    epochs.fill("4")
    epochs.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_until(lambda: board.session.training is not None
               and board.session.training.status == "completed", timeout=180,
               message="4 epochs of training")
    wait_until(lambda: len(board.curve_src["force"].data["x"]) == 4, timeout=10,
               message="the learning curves")
    assert np.all(np.isfinite(board.curve_src["force"].data["val_force_mae"]))
    page.wait_for_selector("text=force MAE (eV/Å)", timeout=30_000)  # per-species table
    assert len(board.parity_src.data["ref"]) == 4 * 8 * 3  # 10 % of 48 frames validate: 4

    page.get_by_role("button", name="Run MD with this model").click()
    wait_until(lambda: board.session.simulation is not None
               and board.session.simulation.status == "completed", timeout=180,
               message="MD with the trained model")
    wait_until(lambda: len(board.md_src.data["t"]) > 100, timeout=10,
               message="the MD temperature plot")
    page.screenshot(path=str(artifacts_dir / "train_dashboard.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []


def test_a_dataset_without_forces_is_refused_next_to_the_widgets(serve_boards, page, tmp_path):
    ds = morse_dataset(10)
    path = tmp_path / "energies-only.npz"
    np.savez(path, R=ds.positions, z=ds.species, E=ds.energies)
    app, boards = serve_boards(lambda: TrainDashboard(TrainSession()))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    page.get_by_role("button", name="File", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(path))
    wait_until(lambda: board.data.file.value, timeout=10, message="the upload")
    page.get_by_role("button", name="Load file").click()
    message = page.get_by_text("no forces")
    message.wait_for(timeout=10_000)
    page.wait_for_timeout(2000)  # the periodic refresh leaves it alone
    assert message.is_visible() and board.session.dataset is None
    # and training without a dataset says so where the training widgets are
    board._arch = architecture("pair_mlp")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("choose or generate a dataset first").wait_for(timeout=10_000)
