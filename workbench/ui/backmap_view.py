"""``SampleView``: the Backmap dashboard's view of backmapped samples (``workbench.backmap.
samples.Samples`` of a ``BackmapSession``): the CG beads as translucent spheres with, overlaid,
the all-atom structure of one sample, buttons to switch between the K samples (and the linear
map, and the reference frame where there is one), a player over the CG frames, and beside them
the scores of the frame shown (CGVAE against the linear map) and over all frames.

The owner calls ``refresh()`` from its periodic callback (on the session's event loop); moving
the player or switching samples redraws from data already on the server.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from ase.data import chemical_symbols

from workbench.backmap.session import BackmapSession
from workbench.ui.viewer import MoleculeViewer, TrajectoryPlayer

LINEAR, REFERENCE = "Linear map", "Reference"
SOURCE_TEXT = {"held_out": "held-out frame", "cg_md": "CG MD frame",
               "loop": "the loop's CG MD frame"}
ROWS = (("rmsd", "RMSD (Å)"), ("rmsd_heavy", "RMSD, heavy atoms (Å)"),
        ("valid", "Valid bond graph"), ("valid_heavy", "Valid, heavy atoms"),
        ("graph_edit_ratio", "Graph edit ratio"), ("pairwise_rmsd", "RMSD between samples (Å)"),
        ("diversity", "Diversity (between / to reference)"))


def _cell(key: str, value, one: bool) -> str:
    if value is None:
        return "–"
    if key.startswith("valid"):
        return ("yes" if value > 0.5 else "no") if one else f"{100 * value:.0f} %"
    return f"{value:.3f}"


def score_table(columns: dict[str, tuple[dict, bool]]) -> str:
    """A Markdown table of scores: one column per ``{title: (scores, one structure?)}``."""
    titles = list(columns)
    lines = ["| | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for key, label in ROWS:
        if any(key in scores for scores, _ in columns.values()):
            lines.append(f"| {label} | " + " | ".join(
                _cell(key, scores.get(key), one) for scores, one in columns.values()) + " |")
    return "\n".join(lines)


class SampleView(pn.viewable.Viewer):
    """Viewer, sample switcher, frame player and score tables of ``session.samples``."""

    def __init__(self, session: BackmapSession, height: int = 420):
        super().__init__()
        self.session = session
        self.viewer = MoleculeViewer(height=height, color_by_bead=False, bead_radius=1.2,
                                     bead_opacity=0.3)
        self.player = TrajectoryPlayer(self.viewer, follow=False, interval_ms=400)
        self.switch = pn.widgets.RadioButtonGroup(options=["Sample 1"], value="Sample 1",
                                                  color="light", variant="outline",
                                                  visible=False)
        self.caption = pn.pane.Markdown("No samples yet: train or load a model.",
                                        sizing_mode="stretch_width")
        self.frame_table = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.summary_table = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._shown = None
        self.switch.param.watch(lambda e: self._show_set(), "value")
        self.player.param.watch(lambda e: self._draw_scores(), "frame")

    @property
    def structures(self) -> np.ndarray | None:
        """``[n_frames, n_atoms, 3]`` (Å): what the switcher has chosen, for every frame."""
        s = self._shown
        if s is None:
            return None
        if self.switch.value == LINEAR:
            return s.linear
        if self.switch.value == REFERENCE:
            return s.reference
        k = int(self.switch.value.split()[-1]) - 1
        return s.atoms[:, min(k, s.n_samples - 1)]

    def refresh(self) -> None:
        """Show the session's samples if they are new (call on the event loop)."""
        samples = self.session.samples
        if samples is self._shown:
            return
        self._shown = samples
        self.switch.visible = samples is not None
        if samples is None:
            self.viewer.set_beads(None)
            self.caption.object = "No samples yet: train or load a model."
            self.frame_table.object = self.summary_table.object = ""
            return
        s = self.session
        ds, mapping = s.dataset, s.mapping
        elements, species = np.unique(ds.species, return_inverse=True)
        self.viewer.set_structure(samples.atoms[0, 0], species,
                                  [chemical_symbols[z] for z in elements], bonds=s.bonds)
        c = mapping.position_matrix()
        self.viewer.set_beads(mapping.assignment, c[mapping.assignment, np.arange(c.shape[1])])
        options = [f"Sample {k + 1}" for k in range(samples.n_samples)] + [LINEAR] + (
            [REFERENCE] if samples.reference is not None else [])
        # new samples start at sample 1 (Bokeh keeps the button index when only the options
        # change, which would then point at another label)
        self.switch.param.update(options=options, value=options[0])
        self._show_set(frame=min(self.player.frame, samples.n_frames - 1))
        summary = s.summary()
        self.summary_table.object = (
            f"**All {samples.n_frames} frames** (means)\n\n" + score_table({
                f"CGVAE, {samples.n_samples} per frame": (summary["cgvae"], False),
                LINEAR: (summary["linear"], False)}))

    def _show_set(self, frame: int | None = None) -> None:
        """Play the chosen structures, staying on ``frame`` (default: the frame shown)."""
        frames = self.structures
        if frames is None:
            return
        frame = self.player.frame if frame is None else frame
        self.player.set_frames(frames)
        self.player.frame = frame
        self._draw_scores()

    def _draw_scores(self) -> None:
        s = self._shown
        if s is None or s is not self.session.samples:
            return
        f = min(self.player.frame, s.n_frames - 1)
        k = self.switch.value
        sample = int(k.split()[-1]) - 1 if k.startswith("Sample") else 0
        scores = self.session.frame_scores(f, sample)
        where = SOURCE_TEXT.get(s.source, "frame")
        index = int(s.frames[f]) if s.frames is not None else f
        self.caption.object = (
            f"**{where} {index}** ({f + 1} of {s.n_frames}), showing **{k.lower()}**; beads: "
            "the mapping's centres of the atoms shown." + (
                "" if s.reference is not None else " No all-atom reference for these frames: "
                "bond graphs are compared with the dataset's first frame."))
        columns = {f"CGVAE sample {sample + 1}": (scores["sample"], True)}
        if s.n_samples > 1:
            columns[f"CGVAE, {s.n_samples} samples"] = (scores["samples"], False)
        columns[LINEAR] = (scores["linear"], True)
        self.frame_table.object = "**This frame**\n\n" + score_table(columns)

    def __panel__(self) -> pn.viewable.Viewable:
        view = pn.Column(self.caption, self.switch, self.player, min_width=380,
                         styles={"flex": "1 1 380px"})
        scores = pn.Column(self.frame_table, self.summary_table, width=400)
        return pn.FlexBox(view, scores, flex_wrap="wrap", sizing_mode="stretch_width")
