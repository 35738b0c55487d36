"""The Train dashboard: pick or generate a dataset, choose an architecture and its size, train
a machine-learned force field while its learning curves grow, look at the force parity and the
per-species errors, then run MD with the model and watch it.

``TrainDashboard`` renders a ``TrainSession`` (``workbench.mlff.session``), whose jobs
(generation, training, MD) run in their own threads. One periodic callback per browser session
reads them and updates the page, so no Bokeh model is touched from a worker; the validation
parity of the best weights is computed on a worker thread once per new epoch. Bad choices are
explained next to the widgets they concern and stay until the user acts again. Closing the tab
stops the session's jobs.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from ase.data import chemical_symbols
from bokeh.models import ColumnDataSource
from bokeh.palettes import Category10_10

from workbench.architectures import ARCHITECTURES, architecture
from workbench.mlff.session import TrainSession, species_errors
from workbench.ui.datasets import alert, notice
from workbench.ui.inputs import refused
from workbench.ui.layout import card, dashboard_page
from workbench.ui.plots import compact_legend, line_figure
from workbench.ui.session_board import SessionDashboard
from workbench.ui.viewer import MoleculeViewer, system_style

CURVE_X = {"epoch": "epoch", "step": "step", "wall time (s)": "wall_time_s"}
CURVES = {"train_force_mae": ("train force", "#0072B2", "dashed"),
          "val_force_mae": ("validation force", "#0072B2", "solid"),
          "train_energy_mae": ("train energy", "#D55E00", "dashed"),
          "val_energy_mae": ("validation energy", "#D55E00", "solid")}
MAX_PARITY_POINTS = 4000  # force components drawn in the parity plot
SETTINGS = {"max_epochs": (pn.widgets.IntInput, 100), "batch_size": (pn.widgets.IntInput, 8),
            "learning_rate": (pn.widgets.FloatInput, 1e-3), "seed": (pn.widgets.IntInput, 0)}


class TrainDashboard(SessionDashboard):
    """Data, model and MD cards; progress, learning curves, parity and the MD viewer."""

    def __init__(self, session: TrainSession | None = None):
        super().__init__(session or TrainSession(), "train-view")
        self._parity_epoch, self._parity = -1, None
        self._curve_rows = 0
        self._build_model_card()
        self._build_md_card()
        self._build_plots()
        self._start()

    # --- model and training ---------------------------------------------------------------------
    def _build_model_card(self) -> None:
        self.arch = pn.widgets.Select(label="Architecture", options={
            cls.label: name for name, cls in ARCHITECTURES.items()}, value="schnet"
            if "schnet" in ARCHITECTURES else "pair_mlp")
        self.hyper = pn.Column(sizing_mode="stretch_width")
        self._archs, self._hyper_widgets = {}, {}
        self.settings = {k: cls(label=k.replace("_", " ").capitalize(), value=v)
                         for k, (cls, v) in SETTINGS.items()}
        self.train_btn = pn.widgets.Button(label="Train", color="success")
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger")
        self.resume_btn = pn.widgets.Button(label="Resume", color="primary")
        self.train_btn.on_click(lambda e: self.train())
        self.stop_btn.on_click(lambda e: self.session.stop())
        self.resume_btn.on_click(lambda e: self._act(self.session.resume, self.model_notice))
        self.model_notice = alert()
        self.arch.param.watch(self._on_arch, "value")
        self._on_arch()

    def _on_arch(self, event=None) -> None:
        """Show the hyperparameter widgets of the chosen architecture (the papers' defaults).
        One set per architecture, made once and shown or hidden: replacing widgets that carry
        a description tooltip makes Bokeh's page throw."""
        name = self.arch.value
        if name not in self._archs:
            self._archs[name] = architecture(name)
            self._hyper_widgets[name] = pn.Param(
                self._archs[name], show_name=False, sizing_mode="stretch_width",
                widgets={"cutoff": pn.widgets.FloatInput})
            self.hyper.append(self._hyper_widgets[name])
        for key, widgets in self._hyper_widgets.items():
            widgets.visible = key == name
        self._arch = self._archs[name]
        notice(self.model_notice, None)

    def train(self) -> None:
        """The Train button: train the chosen architecture with the settings shown."""
        self._curve_rows, self._parity_epoch = 0, -1
        for src in self.curve_src.values():
            src.data = {k: [] for k in src.data}
        settings = {k: w.value for k, w in self.settings.items()}
        self._act(lambda: self.session.train(self._arch, **settings), self.model_notice)

    # --- MD -------------------------------------------------------------------------------------
    def _build_md_card(self) -> None:
        self.md_steps, self.md_temperature, self.md_timestep = self.md_inputs(2000, 0.5)
        self.md_btn = pn.widgets.Button(label="Run MD with this model", color="primary")
        self.md_btn.on_click(lambda e: self._act(lambda: self.session.run_md(
            self.md_steps.value, self.md_temperature.value, self.md_timestep.value),
            self.md_notice))
        self.md_notice = alert()
        self.viewer = MoleculeViewer(height=360)

    # --- plots ----------------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self.curve_x = pn.widgets.RadioButtonGroup(options=list(CURVE_X), value="epoch",
                                                   color="light")
        self.curve_x.param.watch(lambda e: self._draw_curves(full=True), "value")
        self.curve_src = {"force": ColumnDataSource({"x": [], **{k: [] for k in CURVES
                                                                 if "force" in k}}),
                          "energy": ColumnDataSource({"x": [], **{k: [] for k in CURVES
                                                                  if "energy" in k}})}
        self.fig_force = line_figure("Force MAE", "eV/Å", "epoch", y_axis_type="log")
        self.fig_energy = line_figure("Energy MAE", "eV", "epoch", y_axis_type="log")
        for key, fig in (("force", self.fig_force), ("energy", self.fig_energy)):
            for col, (label, color, dash) in CURVES.items():
                if key in col:
                    fig.line("x", col, source=self.curve_src[key], color=color, line_width=2,
                             line_dash=dash, legend_label=label)
            compact_legend(fig)
        self.parity_src = ColumnDataSource({"ref": [], "pred": [], "color": [],
                                            "species": []})
        self.fig_parity = line_figure("Force parity (validation, best weights)",
                                      "predicted (eV/Å)", "reference (eV/Å)", height=300)
        self.fig_parity.scatter("ref", "pred", source=self.parity_src, color="color", size=3,
                                alpha=0.5, legend_field="species")
        compact_legend(self.fig_parity, location="top_left")
        self.diagonal = ColumnDataSource({"x": [0, 0], "y": [0, 0]})
        self.fig_parity.line("x", "y", source=self.diagonal, color="black", line_dash="dotted")
        self.species_table = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.md_src = ColumnDataSource({"t": [], "T": []})
        self.fig_md = line_figure("MD temperature", "K", "time (fs)", height=200)
        self.fig_md.line("t", "T", source=self.md_src, color="#009E73", line_width=2)

    def _draw_curves(self, full: bool = False) -> None:
        t = self.session.training
        if t is None:
            return
        curves = t.curves_snapshot()
        n = len(curves["epoch"])
        if n == self._curve_rows and not full:
            return
        x = np.asarray(curves[CURVE_X[self.curve_x.value]][:n], float)
        for src in self.curve_src.values():
            src.data = {"x": x, **{c: np.asarray(curves[c][:n], float) for c in src.data
                                   if c != "x"}}
        for fig in (self.fig_force, self.fig_energy):
            fig.xaxis.axis_label = self.curve_x.value
        self._curve_rows = n

    def _draw_parity(self) -> None:
        t = self.session.training
        if t is None or t.epoch == 0:
            return
        if t.epoch != self._parity_epoch and (self._parity is None or self._parity.done()):
            self._parity_epoch = t.epoch
            self._parity = self._worker.submit(t.validation_parity)
        if self._parity is None or not self._parity.done():
            return
        future, self._parity = self._parity, None
        if future.exception() is not None:
            return
        ev = future.result()
        p = ev.parity
        ref, pred, species = p["force_ref"], p["force_pred"], p["force_species"]
        if len(ref) > MAX_PARITY_POINTS:
            pick = np.random.default_rng(0).choice(len(ref), MAX_PARITY_POINTS, replace=False)
            ref, pred, species = ref[pick], pred[pick], species[pick]
        kinds = sorted(set(species.tolist()))
        colors = [Category10_10[kinds.index(z) % 10] for z in species.tolist()]
        self.parity_src.data = {"ref": ref, "pred": pred, "color": colors,
                                "species": [chemical_symbols[z] for z in species.tolist()]}
        lim = float(np.max(np.abs(ref))) if len(ref) else 1.0
        self.diagonal.data = {"x": [-lim, lim], "y": [-lim, lim]}
        rows = species_errors(ev.metrics)
        self.species_table.object = (
            "| species | force MAE (eV/Å) | force RMSE (eV/Å) |\n|---|---|---|\n" +
            "\n".join(f"| {s} | {mae:.4f} | {rmse:.4f} |" for s, mae, rmse in rows) +
            f"\n\nEnergy MAE {ev.metrics['energy_mae']:.4g} eV "
            f"({ev.metrics.get('energy_mae_per_atom', float('nan')):.3g} eV/atom), epoch "
            f"{self._parity_epoch}.")

    def _draw_md(self) -> None:
        sim, new, chunks = self._md_news()
        if new:
            s = sim.system
            self.viewer.set_structure(s.positions, s.species, s.species_names, s.box,
                                      bonds=s.bonds, **system_style(s))
            self.md_src.data = {"t": [], "T": []}
        if not chunks:
            return
        self.viewer.update_positions(chunks[-1].positions[-1])
        dt = sim.timestep
        t = np.concatenate([np.asarray(c.steps, float) * dt for c in chunks])
        temp = np.concatenate([np.asarray(c.thermo["temperature"], float) for c in chunks])
        self.md_src.stream({"t": t, "T": temp})  # K (Chunk thermo is in display units)

    # --- refresh (event loop) -------------------------------------------------------------------
    def _refresh_buttons(self) -> None:
        """Busy: nothing new starts; a refused number: not the action that would use it."""
        s = self.session
        busy = s.busy
        for w in (self.train_btn, self.resume_btn):
            w.disabled = busy
        self.stop_btn.disabled = not busy
        self.md_btn.disabled = (busy or s.training is None or s.training.epoch == 0
                                or refused(self.md_steps, self.md_temperature, self.md_timestep))

    def _refresh(self) -> None:
        s = self.session
        self.data.refresh()
        self.progress.job = s.job
        self.progress.refresh()
        self._refresh_buttons()
        self._draw_curves()
        self._draw_parity()
        self._draw_md()

    def __panel__(self) -> pn.viewable.Viewable:
        model = card("Model and training", self.arch, self.hyper, *self.settings.values(),
                     pn.Row(self.train_btn, self.stop_btn, self.resume_btn), self.model_notice)
        md = card("MD with the model", self.md_steps, self.md_temperature, self.md_timestep,
                  self.md_btn, self.md_notice)
        curves = pn.Column(self.curve_x, pn.Row(pn.pane.Bokeh(self.fig_force),
                                                pn.pane.Bokeh(self.fig_energy),
                                                sizing_mode="stretch_width"),
                           sizing_mode="stretch_width")
        parity = pn.Row(pn.pane.Bokeh(self.fig_parity, sizing_mode="stretch_width"),
                        self.species_table, sizing_mode="stretch_width")
        md_view = pn.Row(self.viewer, pn.pane.Bokeh(self.fig_md, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
        return dashboard_page("Train a force field", [self.data, model, md],
                              [self.progress, curves, parity, md_view])
