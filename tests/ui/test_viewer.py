"""MoleculeViewer: Python-side API (no browser), and in a real headless Chromium: atoms are drawn
in their species colours with the box, streamed positions move them, the console stays clean,
no request leaves localhost, and the browser keeps up with a fast producer (1,000 atoms).

The update-rate floor (20 updates/s for 1,000 atoms) is the issue's target; under software WebGL
an NGL spike kept up with 30 updates/s for 192 atoms and 10/s for 12,000.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import panel as pn
import pytest

from tests.ui.browser import (
    READY_JS,
    STATS_JS,
    colour_fraction,
    png_pixels,
    session_threads,
    wait_js,
    wait_until,
)
from workbench.ui.viewer import (
    SPECIES_PALETTE,
    MoleculeViewer,
    TrajectoryPlayer,
    default_colors,
    default_radii,
)


def lattice(n_side: int = 10, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``[n_side^3, 3]`` simple-cubic sites inside a box of side ``n_side * spacing``."""
    g = (np.arange(n_side) + 0.5) * spacing
    R = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    return R.astype(np.float32), np.full(3, n_side * spacing)


def two_species(n: int) -> np.ndarray:
    species = np.zeros(n, dtype=np.int32)
    species[::4] = 1
    return species


# -- Python side ------------------------------------------------------------------------------

def test_defaults_follow_element_names_or_palette():
    # Jmol colours and Bondi (1964) van der Waals radii, from ASE (ase.data.colors, vdw_radii)
    assert default_colors(["O", "H"]) == ["#ff0d0d", "#ffffff"]
    assert default_radii(["O", "H"]) == pytest.approx([1.52, 1.20])
    # "A" is no element, so the whole set gets the palette and sigma/2 = 0.5 reduced units
    assert default_colors(["A", "B"]) == list(SPECIES_PALETTE[:2])
    assert default_radii(["A", "B"]) == [0.5, 0.5]


def test_set_structure_and_update_positions_validate_shapes():
    R, box = lattice(3)
    v = MoleculeViewer()
    v.set_structure(R, two_species(len(R)), ["A", "B"], box, bonds=[[0, 1]])
    assert v.n_atoms == 27 and v.box == pytest.approx(list(box)) and v.bonds == [[0, 1]]
    assert np.frombuffer(v.positions, "<f4").reshape(-1, 3) == pytest.approx(R)
    assert len(v.colors) == len(v.radii) == 2
    v.update_positions(R + 1)
    assert np.frombuffer(v.positions, "<f4")[0] == pytest.approx(R[0, 0] + 1)
    with pytest.raises(ValueError, match="27"):
        v.update_positions(R[:5])
    with pytest.raises(ValueError, match="species indices"):
        v.set_structure(R, np.full(27, 2), ["A", "B"], box)
    with pytest.raises(ValueError, match="bond indices"):
        v.set_structure(R, two_species(27), ["A", "B"], box, bonds=[[0, 27]])
    beads = np.arange(27) // 9 - (np.arange(27) == 0)  # three beads; atom 0 in none (-1)
    v.set_beads(beads, np.linspace(1, 2, 27))
    assert v.beads == beads.tolist() and v.bead_weights == pytest.approx(np.linspace(1, 2, 27))
    with pytest.raises(ValueError, match="each of the 27 atoms"):
        v.set_beads(beads[:5])
    with pytest.raises(ValueError, match="finite and >= 0"):
        v.set_beads(beads, -np.ones(27))
    v.set_beads(None)
    assert v.beads == [] and v.bead_weights == []


def test_from_system_uses_palette_and_sigma_for_reduced_units():
    from workbench.builders import build_system
    from workbench.potential import PairPotential

    system = build_system("lj_fluid", n_atoms=32)
    species = np.zeros(32, dtype=np.int32)
    species[::4] = 1
    # Kob-Andersen sigma_AA = 1, sigma_BB = 0.88 (Phys. Rev. E 51, 4626 (1995)): radii sigma/2
    system.param.update(species=species, species_names=["A", "B"], potential=PairPotential(
        family="lj", params={"sigma": [[1.0, 0.8], [0.8, 0.88]],
                             "epsilon": [[1.0, 1.5], [1.5, 0.5]]}, r_cutoff=2.5))
    v = MoleculeViewer.from_system(system)
    assert v.n_atoms == 32 and v.colors == list(SPECIES_PALETTE[:2])
    assert v.radii == pytest.approx([0.5, 0.44])
    assert v.box == pytest.approx(list(system.box))
    # a new structure with the same species keeps colours and radii
    v.set_structure(system.positions[:8], species[:8], ["A", "B"], system.box)
    assert v.radii == pytest.approx([0.5, 0.44]) and v.n_atoms == 8


def test_browser_gets_ngl_or_a_clear_error(monkeypatch, tmp_path):
    from workbench.ui import ngl_assets

    v = MoleculeViewer()
    replies = []
    monkeypatch.setattr(v, "_send_msg", replies.append)
    v._handle_msg({"type": "ngl-source-request"})
    assert replies[-1]["type"] == "ngl-source" and "Stage" in replies[-1]["source"]

    ngl_assets.ngl_bundle_path.cache_clear()
    ngl_assets.ngl_bundle_source.cache_clear()
    monkeypatch.setenv("MDWB_NGL_JS", str(tmp_path / "missing.js"))
    try:
        v._handle_msg({"type": "ngl-source-request"})
        assert replies[-1]["type"] == "ngl-error" and "MDWB_NGL_JS" in replies[-1]["message"]
    finally:
        ngl_assets.ngl_bundle_path.cache_clear()
        ngl_assets.ngl_bundle_source.cache_clear()


def test_trajectory_player_pushes_the_chosen_frame():
    R, box = lattice(2)
    # no rate limit: which frame is pushed must not depend on whether an event loop is running
    # (the session-scoped Playwright fixture leaves one in this thread); rate limiting has its
    # own tests
    v = MoleculeViewer(max_fps=0)
    v.set_structure(R, np.zeros(8, int), ["Ar"], box)
    frames = np.stack([R + k for k in range(5)])
    player = TrajectoryPlayer(v, frames=frames, follow=False)
    assert player.n_frames == 5 and player.frame == 0
    player.frame = 3
    assert np.frombuffer(v.positions, "<f4")[0] == pytest.approx(R[0, 0] + 3)
    player.follow = True
    player.append_frame(R + 10)
    assert player.frame == 5
    assert np.frombuffer(v.positions, "<f4")[0] == pytest.approx(R[0, 0] + 10)


# -- in the browser ---------------------------------------------------------------------------

@pytest.mark.ui
def test_viewer_draws_streams_and_stays_local(serve_app, page, artifacts_dir):
    R0, box = lattice(10)  # 1,000 atoms
    species = two_species(len(R0))
    bonds = [[i, i + 1] for i in range(0, 40, 2)]
    holder: dict[str, MoleculeViewer] = {}

    def make():
        v = MoleculeViewer(height=500)
        v.set_structure(R0, species, ["A", "B"], box, bonds=bonds)
        holder["viewer"] = v
        return v

    app = serve_app(make)
    threads_before = set(threading.enumerate())
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to load NGL and build the structure", timeout_ms=60_000)
    stats = page.evaluate(f"() => ({STATS_JS})().map(v => ({{...v, stage: null}}))")[0]
    assert stats["error"] is None, stats["error"]
    assert stats["nAtoms"] == 1000 and stats["nBonds"] == len(bonds)
    viewer = holder["viewer"]

    canvas = page.locator("canvas").first
    page.wait_for_timeout(300)  # let NGL draw its first frame (no event marks it)
    before_png = canvas.screenshot(path=str(artifacts_dir / "viewer_initial.png"))
    before = png_pixels(before_png)
    background = (before == 255).all(axis=-1).mean()
    assert background < 0.97, "the canvas is blank"
    blue, orange = SPECIES_PALETTE[0], SPECIES_PALETTE[1]
    assert colour_fraction(before, blue) > 0.01, "no atoms in species A's colour"
    assert colour_fraction(before, orange) > 0.002, "no atoms in species B's colour"
    dark = (before.max(axis=-1) < 110).mean()
    assert dark > 0.0005, "no box edges drawn"

    # push one update that squeezes all atoms into one corner: the picture must change
    applied = page.evaluate(f"() => ({STATS_JS})()[0].applied")
    viewer.update_positions(R0 * 0.4)
    wait_js(page, f"() => ({STATS_JS})()[0].applied > {applied}", "the moved atoms to be drawn")
    page.wait_for_timeout(300)
    after = png_pixels(canvas.screenshot(path=str(artifacts_dir / "viewer_moved.png")))
    changed = (np.abs(after - before).max(axis=-1) > 40).mean()
    assert changed > 0.05, f"only {changed:.1%} of the pixels changed after moving the atoms"

    # stream from another thread as fast as Python can for ~3 s; count what the browser received
    rng = np.random.default_rng(0)
    jitter = [R0 + 0.05 * rng.standard_normal(R0.shape).astype(np.float32) for _ in range(16)]
    received0 = page.evaluate(f"() => ({STATS_JS})()[0].received")
    applied0 = page.evaluate(f"() => ({STATS_JS})()[0].applied")
    pushed = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        viewer.update_positions(jitter[pushed % len(jitter)])
        pushed += 1
    elapsed = time.perf_counter() - t0
    # the last frame must arrive: latest-wins coalescing may drop frames, never the newest
    last = np.frombuffer(jitter[(pushed - 1) % len(jitter)].tobytes(), "<f4")[:3].tolist()
    wait_js(
        page, """([first]) => {
            const v = globalThis.__mdwb_molecule_viewer__.viewers.filter(v => !v.disposed)[0];
            const p = v.stage.compList.find(c => c.type === "structure").structure.atomStore;
            return Math.abs(p.x[0] - first[0]) < 1e-5 && Math.abs(p.y[0] - first[1]) < 1e-5
                && Math.abs(p.z[0] - first[2]) < 1e-5;
        }""", "the newest frame to reach the scene", arg=[last])
    received = page.evaluate(f"() => ({STATS_JS})()[0].received") - received0
    drawn = page.evaluate(f"() => ({STATS_JS})()[0].applied") - applied0
    rate = received / elapsed
    print(f"\n1,000 atoms: Python pushed {pushed / elapsed:,.0f} updates/s; the browser received "
          f"{rate:,.1f} updates/s and applied {drawn / elapsed:,.1f}/s to the scene "
          f"(SwiftShader software WebGL)")
    assert rate >= 20, f"the browser received only {rate:.1f} updates/s (target: 20)"
    wait_until(lambda: viewer.frames_received >= received0 + received, timeout=5,
               message="frames_received to be reported back to Python")

    page.screenshot(path=str(artifacts_dir / "viewer_page.png"))
    assert page.log.external_requests() == [], page.log.external_requests()
    assert page.log.errors() == [], page.log.errors()

    # closing the page ends the session and leaves no thread behind
    page.close()
    wait_until(lambda: app.sessions_destroyed, timeout=15, message="the session to be destroyed")
    wait_until(lambda: not session_threads(threads_before), timeout=5,
               message="threads started during the session to end")
    viewer.update_positions(R0)  # after the session: a no-op, no error, no thread


@pytest.mark.ui
def test_spacefill_with_element_colours(serve_app, page, artifacts_dir):
    # water-like triplets: O red, H white, with O-H bonds; ASE units (Å)
    base = np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], dtype=np.float32)
    offsets = np.stack(np.meshgrid(*[np.arange(3) * 3.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    R = (offsets[:, None, :] + base[None] + 1.0).reshape(-1, 3)
    species = np.tile([0, 1, 1], len(offsets))
    bonds = [[3 * k, 3 * k + j] for k in range(len(offsets)) for j in (1, 2)]
    holder: dict[str, MoleculeViewer] = {}

    def make():
        v = MoleculeViewer(representation="spacefill", height=450, background_color="#000000")
        v.set_structure(R, species, ["O", "H"], np.full(3, 9.3), bonds=bonds)
        holder["viewer"] = v
        return v

    app = serve_app(make)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to load NGL and build the structure", timeout_ms=60_000)
    assert page.evaluate(f"() => ({STATS_JS})()[0].nBonds") == len(bonds)
    page.wait_for_timeout(300)
    canvas = page.locator("canvas").first
    px = png_pixels(canvas.screenshot(path=str(artifacts_dir / "viewer_spacefill_water.png")))
    assert (px.max(axis=-1) < 20).mean() > 0.3, "the background is not black"
    red_spacefill = colour_fraction(px, "#ff0d0d")
    assert red_spacefill > 0.01, "no red oxygens"

    # switching the representation restyles the same structure
    holder["viewer"].representation = "ball+stick"
    wait_js(page, f"() => ({STATS_JS})()[0].restyles > 0", "the ball-and-stick restyle")
    page.wait_for_timeout(300)
    px = png_pixels(canvas.screenshot(path=str(artifacts_dir / "viewer_ballstick_water.png")))
    red_balls = colour_fraction(px, "#ff0d0d")
    assert 0.0005 < red_balls < red_spacefill, (red_balls, red_spacefill)
    assert page.log.errors() == [], page.log.errors()
    assert page.log.external_requests() == [], page.log.external_requests()


FIRST_ATOM_JS = """([x]) => {
    const v = globalThis.__mdwb_molecule_viewer__.viewers.filter(v => !v.disposed)[0];
    const c = v.stage && v.stage.compList.find(c => c.type === "structure");
    return c && Math.abs(c.structure.atomStore.x[0] - x) < 1e-5;
}"""


@pytest.mark.ui
def test_player_buttons_push_recorded_frames(serve_app, page, artifacts_dir):
    R, box = lattice(3)
    frames = np.stack([R * (1 - 0.1 * k) for k in range(5)])  # frame k: x0 = 0.5 (1 - 0.1 k)
    holder: dict[str, TrajectoryPlayer] = {}

    def make():
        v = MoleculeViewer(height=350)
        v.set_structure(R, two_species(len(R)), ["A", "B"], box)
        holder["player"] = TrajectoryPlayer(v, frames=frames, follow=False)
        return holder["player"]

    app = serve_app(make)
    page.goto(app.url)
    wait_js(page, READY_JS, "the viewer to load NGL and build the structure", timeout_ms=60_000)
    wait_js(page, FIRST_ATOM_JS, "frame 0", arg=[float(frames[0, 0, 0])])
    page.locator("button.last").click()
    wait_js(page, FIRST_ATOM_JS, "the last frame after pressing 'last'",
            arg=[float(frames[4, 0, 0])])
    page.locator("button.previous").click()
    wait_js(page, FIRST_ATOM_JS, "frame 3 after pressing 'previous'", arg=[float(frames[3, 0, 0])])
    assert holder["player"].frame == 3
    page.screenshot(path=str(artifacts_dir / "viewer_player.png"))
    assert page.log.errors() == [], page.log.errors()
    assert page.log.external_requests() == [], page.log.external_requests()


def test_session_doc_is_none_outside_a_server():
    # in a script or notebook the viewer updates its model directly (no event-loop hop)
    assert MoleculeViewer()._session_doc is None
    assert pn.state.curdoc is None or not pn.state.curdoc.session_context


def test_notebook_updates_are_throttled_and_the_last_frame_arrives():
    # no server session: updates go straight to the model, at most max_fps a second while an
    # event loop runs (as in a Jupyter kernel); the newest frame is sent by that loop
    R, box = lattice(2)
    v = MoleculeViewer(max_fps=20)
    v.set_structure(R, np.zeros(8, int), ["A"], box)
    sent = []
    v.param.watch(lambda e: sent.append(np.frombuffer(e.new, "<f4")[0]), "positions")

    async def burst():
        for k in range(50):
            v.update_positions(R + k)
        await asyncio.sleep(0.2)

    # own thread: Playwright's sync API may already run an event loop in this one
    worker = threading.Thread(target=asyncio.run, args=(burst(),))
    worker.start()
    worker.join()
    assert 1 <= len(sent) < 10
    assert sent[-1] == pytest.approx(R[0, 0] + 49)
    v.max_fps = 0
    for k in range(5):
        v.update_positions(R - k)
    assert len(sent) >= 5 and sent[-1] == pytest.approx(R[0, 0] - 4)
