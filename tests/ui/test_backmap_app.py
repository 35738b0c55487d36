"""The Backmap dashboard in a real headless Chromium, on the shipped ethanol frames (GFN2-xTB)
with a tiny CGVAE: three Girvan-Newman beads are chosen, two epochs trained, and the model's
samples of the held-out frames appear at once over their beads with their scores beside the
linear map's; switching to another sample moves the atoms in the page; a mapping with more beads
than atoms is refused next to the mapping widgets, and the notice stays. Screenshot:
test-artifacts/backmap_dashboard.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.browser import STATS_JS, wait_js, wait_until
from workbench.backmap.session import BackmapSession
from workbench.ui.backmap import BackmapDashboard

pytestmark = pytest.mark.ui

ETHANOL = Path(__file__).resolve().parents[2] / "notebooks" / "ethanol-160.npz"
TINY = {"n_features": 16, "n_latent": 8, "n_encoder": 2, "n_decoder": 2, "n_prior": 1}
#: x of the ethanol atoms drawn (NGL's structure, after the last position update)
ATOMS_X_JS = f"""() => {{
    const v = ({STATS_JS})().find(v => v.nAtoms === 9 && v.stage);
    const c = v && v.stage.compList.find(c => c.structure);
    return c ? Array.from(c.structure.atomStore.x.slice(0, 9)) : null;
}}"""


def _board() -> BackmapDashboard:
    session = BackmapSession()
    session.load(ETHANOL)
    board = BackmapDashboard(session)
    board.settings.param.update(TINY)
    return board


def _fill(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def test_train_sample_switch_and_refuse(serve_boards, page, artifacts_dir):
    app, boards = serve_boards(_board)
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    board = boards[0]
    page.get_by_text("ethanol-160.npz").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Use mapping").click()
    page.get_by_text("Beads (atoms)").wait_for(timeout=10_000)
    _fill(page, "Epochs", 2)
    wait_until(lambda: board.settings.epochs == 2, message="two epochs")
    page.get_by_role("button", name="Train CGVAE").click()
    wait_until(lambda: board.session.samples is not None, timeout=120,
               message="two epochs of CGVAE and the samples")
    assert board.session.model_label.startswith("CGVAE, 2 epochs")
    wait_js(page, f"() => ({STATS_JS})().some(v => v.nAtoms === 9 && v.beads === 3)",
            "ethanol over its three beads", timeout_ms=30_000)
    page.get_by_text("All 16 frames").wait_for(timeout=10_000)
    page.get_by_text("CGVAE, 4 samples").wait_for(timeout=10_000)

    before = page.evaluate(ATOMS_X_JS)
    page.get_by_role("button", name="Sample 3").click()
    wait_js(page, f"(before) => JSON.stringify(({ATOMS_X_JS})()) !== JSON.stringify(before)",
            "the atoms of sample 3", arg=before)
    page.get_by_text("showing sample 3").wait_for(timeout=10_000)

    _fill(page, "Beads", 12)
    page.get_by_role("button", name="Use mapping").click()
    message = page.get_by_text("the number of beads must lie between")
    message.wait_for(timeout=10_000)
    page.wait_for_timeout(1000)  # the periodic refresh leaves it alone
    assert message.is_visible() and board.session.mapping.n_beads == 3
    page.screenshot(path=str(artifacts_dir / "backmap_dashboard.png"), full_page=True)
    assert page.log.external_requests() == []
    assert page.log.errors() == []


def test_conformers_tab_side_by_side_and_refuse(serve_boards, page):
    """The Conformers tab: ETKDG and ETKDG + MMFF conformers of a typed SMILES appear in the
    viewer with a GFN2-xTB energy table; switching method moves the drawn atoms; an unreadable
    SMILES and a ConfVAE method without a model are refused under the button, a generation
    that fails says so, and a later refusal replaces that notice and stays."""
    app, boards = serve_boards(lambda: BackmapDashboard(BackmapSession()))
    page.goto(app.url)
    wait_until(lambda: boards, timeout=30, message="the page")
    panel = boards[0].conformers
    page.locator(".bk-tab", has_text="Conformers").first.click()
    _fill(page, "Molecule (SMILES)", "OCCO")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("needs a trained model").wait_for(timeout=10_000)
    panel.methods.value = ["ETKDG", "ETKDG + MMFF"]
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("OCCO: ETKDG, conformer 1 of 5").wait_for(timeout=60_000)
    page.get_by_text("ETKDG + MMFF ΔE (kcal/mol)").wait_for(timeout=10_000)
    x_js = ATOMS_X_JS.replace("9", "10")
    wait_js(page, f"() => ({x_js})() !== null", "ethylene glycol drawn", timeout_ms=20_000)
    before = page.evaluate(x_js)
    page.locator(".bk-btn", has_text="ETKDG + MMFF").first.click()
    wait_js(page, f"(b) => {{ const x = ({x_js})(); return x && x.some((v, i) => "
                  "Math.abs(v - b[i]) > 1e-3); }", "the MMFF conformer drawn", arg=before,
            timeout_ms=10_000)
    _fill(page, "Molecule (SMILES)", "CC(N)C(=O)O")  # ETKDG fails in the job: unassigned
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Failed:").wait_for(timeout=30_000)
    _fill(page, "Molecule (SMILES)", "C1CC")  # and the next refusal replaces that notice
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("cannot read the SMILES").wait_for(timeout=10_000)
    assert not page.get_by_text("Failed:").is_visible()
    page.wait_for_timeout(1000)  # several refreshes later the notice is still there
    assert page.get_by_text("cannot read the SMILES").is_visible()
