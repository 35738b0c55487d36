"""The Coarse-grain dashboard: pick a molecule's all-atom trajectory, learn a mapping with
Autograin (or take a hand-made one) while the atoms change colour with their bead and the beads
sit over them as translucent spheres, fit the CG potential by force matching, run CG MD, and
overlay its bond, angle, dihedral and improper distributions on the mapped all-atom ones.

``CoarseGrainDashboard`` renders a ``CoarseGrainSession`` (``workbench.coarse.session``), whose
jobs run in their own threads. One periodic callback per browser session reads them and updates
the page (no Bokeh model is touched from a worker); a mapping's reconstruction RMSD is computed
on a worker thread. Bad choices are explained next to the widgets they concern and stay until
the user acts again. Closing the tab stops the session's jobs.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from ase.data import chemical_symbols
from bokeh.models import ColumnDataSource

from workbench.coarse.session import CoarseGrainSession
from workbench.ui.datasets import alert, notice
from workbench.ui.inputs import number_input, refused
from workbench.ui.layout import card, dashboard_page
from workbench.ui.plots import compact_legend, line_figure
from workbench.ui.session_board import SessionDashboard
from workbench.ui.viewer import SPECIES_PALETTE, MoleculeViewer, TrajectoryPlayer

MAX_VIEW_FRAMES = 200  # dataset frames the atom view can play
BEAD_RADIUS = 1.0  # Å: radius of a bead in the CG MD view
UNITS = {"bond": "Å", "angle": "rad", "dihedral": "rad", "improper": "rad"}


def _beads(n: int) -> str:
    return f"{n} bead{'s' if n != 1 else ''}"


class CoarseGrainDashboard(SessionDashboard):
    """Dataset, mapping, potential and CG MD cards; progress, the atom and bead views, the
    learning curves and the distribution overlays."""

    def __init__(self, session: CoarseGrainSession | None = None):
        session = session or CoarseGrainSession()
        super().__init__(session, "coarse-grain-view", default_recipe="alanine_dipeptide",
                         recipes=session.recipes())
        self._shown_assignment: tuple | None = None
        self._shown_mapping, self._rmsd = None, None
        self._curve_rows, self._shown_cg = 0, None
        self._shown_distributions: list = []
        self._shown_dataset = None
        self._md_failed = None
        self._build_mapping_card()
        self._build_fit_card()
        self._build_md_card()
        self._build_views()
        self._start()

    # --- cards ----------------------------------------------------------------------------------
    def _build_mapping_card(self) -> None:
        self.method = pn.widgets.Select(label="Mapping", options={
            "Learned (Autograin)": "autograin"}, value="autograin")
        self.n_beads = number_input("Beads", 4, (1, None), integer=True)
        self.epochs = number_input("Epochs", 100, (1, None), integer=True)
        self.rho = number_input("Force weight rho (Å⁴/eV²)", 2.66, (0.0, None))
        self.map_btn = pn.widgets.Button(label="Learn", color="success")
        self.map_btn.on_click(lambda e: self.choose_mapping())
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger")
        self.stop_btn.on_click(lambda e: self.session.stop())
        self.map_notice = alert()
        self.map_info = pn.pane.Markdown("No mapping yet.", sizing_mode="stretch_width")
        self.method.param.watch(self._on_method, "value")
        self._on_method()

    def _on_method(self, event=None) -> None:
        method = self.method.value
        self.n_beads.visible = method in ("autograin", "girvan_newman")
        self.epochs.visible = self.rho.visible = method == "autograin"
        self.map_btn.label = "Learn" if method == "autograin" else "Use mapping"
        notice(self.map_notice, None)

    def choose_mapping(self) -> None:
        """The mapping button: learn with Autograin, or take the hand-made mapping."""
        method = self.method.value
        if method == "autograin":
            self._act(lambda: self.session.learn(self.n_beads.value, epochs=self.epochs.value,
                                                 rho=self.rho.value), self.map_notice)
            self._clear_curves()
        else:
            self._act(lambda: self.session.choose_mapping(method, self.n_beads.value),
                      self.map_notice)
            if self.session.learning is None:
                self._clear_curves()

    def _build_fit_card(self) -> None:
        self.angles = pn.widgets.Checkbox(label="Angles", value=True)
        self.dihedrals = pn.widgets.Checkbox(label="Dihedrals", value=True)
        self.impropers = pn.widgets.Checkbox(label="Impropers (hold each branch's chirality)",
                                             value=True)
        self.pair = pn.widgets.Checkbox(label="Non-bonded pair term", value=False)
        self.r_cutoff = number_input("Pair cutoff (Å)", 8.0, (0.5, None))
        self.fit_btn = pn.widgets.Button(label="Fit CG potential", color="primary")
        self.fit_btn.on_click(lambda e: self._act(lambda: self.session.fit(
            pair=self.pair.value, angles=self.angles.value, dihedrals=self.dihedrals.value,
            impropers=self.impropers.value, r_cutoff=self.r_cutoff.value), self.fit_notice))
        self.fit_notice = alert()
        self.fit_info = pn.pane.Markdown("", sizing_mode="stretch_width")

    def _build_md_card(self) -> None:
        self.md_steps, self.md_temperature, self.md_timestep = self.md_inputs(20_000, 2.0)
        self.md_btn = pn.widgets.Button(label="Run CG MD", color="primary")
        self.md_btn.on_click(lambda e: self._act(lambda: self.session.run_md(
            self.md_steps.value, self.md_temperature.value, self.md_timestep.value),
            self.md_notice))
        self.md_notice = alert()

    # --- views ----------------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.atoms = TrajectoryPlayer(MoleculeViewer(height=380), follow=False)
        self.beads = MoleculeViewer(height=380, representation="ball+stick", ball_scale=0.5)
        self.curve_src = ColumnDataSource({"epoch": [], "rec": [], "val": [], "force": []})
        self.fig_rmsd = line_figure("Reconstruction RMSD", "Å", "epoch")
        self.fig_rmsd.line("epoch", "rec", source=self.curve_src, color="#0072B2",
                           line_width=2, line_dash="dashed", legend_label="train (soft)")
        self.fig_rmsd.line("epoch", "val", source=self.curve_src, color="#0072B2",
                           line_width=2, legend_label="validation (hard)")
        compact_legend(self.fig_rmsd)
        self.fig_force = line_figure("Mean squared mapped force", "(eV/Å)²", "epoch",
                                     y_axis_type="log")
        self.fig_force.line("epoch", "force", source=self.curve_src, color="#D55E00",
                            line_width=2)
        self.term = pn.widgets.Select(label="CG variable", options=[])
        self.term.param.watch(lambda e: self._draw_distribution(), "value")
        self.dist_src = ColumnDataSource({"x": [], "reference": [], "simulated": []})
        self.fig_dist = line_figure("Distribution: CG MD against mapped all-atom", "density",
                                    "value", height=260)
        self.fig_dist.line("x", "reference", source=self.dist_src, color="black", line_width=2,
                           legend_label="mapped all-atom")
        self.fig_dist.line("x", "simulated", source=self.dist_src, color="#009E73",
                           line_width=2, legend_label="CG MD")
        compact_legend(self.fig_dist)
        self.overlaps = pn.pane.Markdown("", sizing_mode="stretch_width")

    def _show_dataset(self) -> None:
        ds = self._shown_dataset = self.session.dataset
        elements, species = np.unique(ds.species, return_inverse=True)
        self.atoms.viewer.set_structure(ds.positions[0], species,
                                        [chemical_symbols[z] for z in elements],
                                        bonds=self.session.bonds)
        self.atoms.set_frames(ds.positions[:MAX_VIEW_FRAMES])
        self._shown_assignment = None
        self.method.options = {label: key for key, label in self.session.methods().items()}

    def _draw_assignment(self) -> None:
        s = self.session
        a = s.assignment() if s.dataset is not None else None
        key = None if a is None else tuple(a.tolist())
        if key == self._shown_assignment:
            return
        self._shown_assignment = key
        if a is None:
            self.atoms.viewer.set_beads(None)
            return
        self.atoms.viewer.set_beads(a, s.dataset.masses)

    def _draw_mapping(self) -> None:
        s = self.session
        if s.mapping is not self._shown_mapping:
            self._shown_mapping = s.mapping
            self._rmsd = None if s.mapping is None else self._worker.submit(
                s.reconstruction_rmsd)
            self.map_info.object = "No mapping yet." if s.mapping is None else \
                f"**{s.mapping_label}**: {_beads(s.mapping.n_beads)}; reconstruction RMSD ..."
        if self._rmsd is not None and self._rmsd.done():
            future, self._rmsd = self._rmsd, None
            if future.exception() is None and s.mapping is self._shown_mapping:
                beads = ", ".join(f"{n} ({k})" for n, k in zip(
                    s.mapping.bead_names, np.bincount(s.mapping.assignment), strict=True))
                self.map_info.object = (
                    f"**{s.mapping_label}**: {_beads(s.mapping.n_beads)}; reconstruction RMSD "
                    f"{future.result():.3f} Å (linear decoder, last 20 % of the frames).\n\n"
                    f"Beads (atoms): {beads}" + (f"\n\n{s.mapping_note}" if s.mapping_note
                                                 else ""))

    def _clear_curves(self) -> None:
        self._curve_rows = 0
        self.curve_src.data = {k: [] for k in self.curve_src.data}

    def _draw_curves(self) -> None:
        job = self.session.learning
        if job is None:
            return
        curves = job.curves
        n = min(len(curves[k]) for k in ("epoch", "reconstruction", "val_rmsd", "force"))
        if n <= self._curve_rows:
            return
        sl = slice(self._curve_rows, n)
        self.curve_src.stream({
            "epoch": np.asarray(curves["epoch"][sl], float),
            "rec": np.sqrt(np.asarray(curves["reconstruction"][sl], float)),
            "val": np.asarray(curves["val_rmsd"][sl], float),
            "force": np.maximum(np.asarray(curves["force"][sl], float), 1e-12)})
        self._curve_rows = n

    def _draw_fit(self) -> None:
        cg = self.session.cg
        if cg is self._shown_cg:
            return
        self._shown_cg = cg
        if cg is None:
            self.fit_info.object = ""
            return
        m = cg.metrics
        terms = ", ".join(f"{len(v)} {k} type{'s' if len(v) > 1 else ''}"
                          for k, v in cg.term_names.items())
        if cg.model.pair is not None:
            terms += f", a pair term to {cg.model.pair.r_cutoff:g} Å"
        self.fit_info.object = (
            f"Fitted: {terms}.\n\nForce RMSE (eV/Å): held-out {m['rmse_validation']:.3f} "
            f"against {m['rmse_zero_validation']:.3f} for zero force; training "
            f"{m['rmse_train']:.3f}.")

    def _draw_md(self) -> None:
        sim, new, chunks = self._md_news()
        if sim is None:
            return
        if new:
            s = sim.system
            n = s.n_atoms  # one colour per bead, as in the atom view
            self.beads.set_structure(s.positions, np.arange(n), [f"B{k}" for k in range(n)],
                                     bonds=s.bonds, colors=[SPECIES_PALETTE[k % len(
                                         SPECIES_PALETTE)] for k in range(n)],
                                     radii=[BEAD_RADIUS] * n)
            notice(self.md_notice, None)
        if sim.status == "failed" and self._md_failed is not sim:
            self._md_failed = sim
            notice(self.md_notice, f"**CG MD failed:** {sim.message} Nothing is compared.")
        if chunks:
            self.beads.update_positions(chunks[-1].positions[-1])

    def _draw_distributions(self) -> None:
        dists = self.session.distributions
        if dists is self._shown_distributions:
            return
        self._shown_distributions = dists
        self.term.options = [f"{d.kind} {d.name}" for d in dists]
        self.overlaps.object = "" if not dists else (
            "| CG variable | overlap | mean all-atom | mean CG |\n|---|---|---|---|\n" +
            "\n".join(f"| {d.kind} {d.name} | {d.overlap:.2f} | {d.mean_reference:.3f} | "
                      f"{d.mean_simulated:.3f} |" for d in dists) +
            "\n\nOverlap of the two histograms: 1 identical, 0 disjoint. Bonds in Å, angles, "
            "dihedrals and impropers in radians.")
        self._draw_distribution()

    def _draw_distribution(self) -> None:
        chosen = [d for d in self.session.distributions
                  if f"{d.kind} {d.name}" == self.term.value]
        if not chosen:
            self.dist_src.data = {"x": [], "reference": [], "simulated": []}
            self.fig_dist.title.text = "Distribution: CG MD against mapped all-atom"
            return
        d = chosen[0]
        self.dist_src.data = {"x": 0.5 * (d.edges[1:] + d.edges[:-1]),
                              "reference": d.reference, "simulated": d.simulated}
        self.fig_dist.xaxis.axis_label = f"{d.kind} {d.name} ({UNITS[d.kind]})"
        self.fig_dist.title.text = f"{d.kind} {d.name}: overlap {d.overlap:.2f}"

    # --- refresh (event loop) -------------------------------------------------------------------
    def _refresh_buttons(self) -> None:
        """Busy: nothing new starts; a refused number: not the action that would use it."""
        s = self.session
        busy = s.busy
        self.stop_btn.disabled = not busy
        self.map_btn.disabled = busy or s.dataset is None or refused(
            self.n_beads, self.epochs, self.rho)
        self.fit_btn.disabled = busy or s.mapping is None or refused(self.r_cutoff)
        self.md_btn.disabled = busy or s.cg is None or refused(
            self.md_steps, self.md_temperature, self.md_timestep)

    def _refresh(self) -> None:
        self.data.refresh()
        if self.session.dataset is not self._shown_dataset:
            self._show_dataset()
        self.progress.job = self.session.job
        self.progress.refresh()
        self._refresh_buttons()
        self._draw_assignment()
        self._draw_mapping()
        self._draw_curves()
        self._draw_fit()
        self._draw_md()
        self._draw_distributions()

    def __panel__(self) -> pn.viewable.Viewable:
        mapping = card("Mapping", self.method, self.n_beads, self.epochs, self.rho,
                       pn.Row(self.map_btn, self.stop_btn), self.map_notice, self.map_info)
        fit = card("CG potential (force matching)", self.angles, self.dihedrals,
                   self.impropers, self.pair, self.r_cutoff, self.fit_btn, self.fit_notice,
                   self.fit_info)
        md = card("CG MD", self.md_steps, self.md_temperature, self.md_timestep, self.md_btn,
                  self.md_notice)
        views = pn.Row(pn.Column(pn.pane.Markdown("**Atoms coloured by bead, beads over them**"),
                                 self.atoms, sizing_mode="stretch_width"),
                       pn.Column(pn.pane.Markdown("**CG MD**"), self.beads,
                                 sizing_mode="stretch_width"),
                       sizing_mode="stretch_width")
        curves = pn.Row(pn.pane.Bokeh(self.fig_rmsd), pn.pane.Bokeh(self.fig_force),
                        sizing_mode="stretch_width")
        compare = pn.Row(pn.Column(self.term, pn.pane.Bokeh(self.fig_dist),
                                   sizing_mode="stretch_width"),
                         self.overlaps, sizing_mode="stretch_width")
        return dashboard_page("Coarse grain", [self.data, mapping, fit, md],
                              [self.progress, views, curves, compare])
