"""The Backmap dashboard: pick a molecule's all-atom frames and a mapping, train CGVAE (or load a
trained model), draw K all-atom structures for each CG frame (held-out frames mapped to beads,
or CG MD frames) and look at them over their beads, sample by sample and frame by frame, scored
beside the linear baseline; or run the whole coarse-graining loop with one button (mapping,
force matching, CG MD, CGVAE, backmapping, scores).

``BackmapDashboard`` renders a ``BackmapSession`` (``workbench.backmap.session``), whose jobs
run in their own threads. One periodic callback per browser session reads them and updates the
page (no Bokeh model is touched from a worker). Bad choices are explained next to the widgets
they concern and stay until the user acts again. Closing the tab stops the session's jobs.
The page is a ``pn.Tabs`` (``tabs``): "Backmap", and "Conformers" (``workbench.ui.conformers``:
conformers of a typed SMILES from ConfVAE and ETKDG side by side).
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource

from workbench.backmap.cgvae import CGVAESettings
from workbench.backmap.conformer_session import ConformerSession
from workbench.backmap.session import MAX_SAMPLES, BackmapSession
from workbench.ui.backmap_view import SampleView
from workbench.ui.conformers import ConformerPanel
from workbench.ui.datasets import alert, notice
from workbench.ui.inputs import NumberInput, number_input, refused
from workbench.ui.layout import BANNER, SIDEBAR_WIDTH, card
from workbench.ui.plots import line_figure
from workbench.ui.session_board import SessionDashboard

#: model settings shown (label); the rest under "More settings"
SETTINGS = {"epochs": "Epochs", "n_features": "Features", "n_latent": "Latent per bead",
            "seed": "Seed"}
MORE_SETTINGS = {"n_encoder": "Encoder rounds", "n_decoder": "Decoder rounds",
                 "n_prior": "Prior rounds", "batch_size": "Batch size",
                 "learning_rate": "Learning rate", "beta": "KL weight beta"}


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def loop_table(results: dict) -> str:
    """The loop's scores (``CGPipeline.results``) as a Markdown table."""
    md = results.get("cg_md", {})
    rows = [("CG frames backmapped", f"{results['n_frames']} (CG MD: {md.get('message', '')})"),
            ("Valid bond graph: all atoms, heavy atoms",
             f"{_pct(results['valid_fraction'])}, {_pct(results['valid_fraction_heavy'])}"),
            ("Graph edit ratio: all atoms, heavy atoms",
             f"{results['graph_edit_ratio']:.3f}, {results['graph_edit_ratio_heavy']:.3f}")]
    if "fes" in results:
        f = results["fes"]
        rows.append(("F(φ), F(ψ), F(φ, ψ) MAE (kJ/mol)",
                     f"{f['mae_phi']:.2f}, {f['mae_psi']:.2f}, {f['mae_fes']:.2f}"))
    for key, label in (("rmsd_backmapped", "backmapped"), ("rmsd_held_out", "held-out")):
        r = results[key]
        rows.append((f"Closest-frame RMSD, heavy atoms, {label} (median, p90)",
                     f"{r['median']:.3f} Å, {r['p90']:.3f} Å"))
    return "| Score | Value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + (
        "\n\nClosest-frame RMSD: to the nearest training frame after superposition; the "
        "held-out frames' value is what a perfect model would give.")


class BackmapDashboard(SessionDashboard):
    """Dataset, mapping, model, samples and loop cards; progress, the sample view with its
    scores, the learning curve and the loop's scores, in the "Backmap" tab of ``tabs``."""

    def __init__(self, session: BackmapSession | None = None):
        session = session or BackmapSession()
        super().__init__(session, "backmap-view", default_recipe="alanine_dipeptide",
                         recipes=session.recipes())
        self.settings = CGVAESettings(epochs=20)
        self._shown_dataset = self._shown_mapping = self._shown_model = None
        self._auto_sampled = self._shown_loop = self._failed = None
        self._build_mapping_card()
        self._build_model_card()
        self._build_sample_card()
        self._build_loop_card()
        self.view = SampleView(session)
        self.curve_src = ColumnDataSource({"epoch": [], "val": []})
        self.fig_val = line_figure("CGVAE validation RMSD (all atoms)", "Å", "epoch",
                                   height=220)
        self.fig_val.line("epoch", "val", source=self.curve_src, color="#0072B2", line_width=2)
        # in a column: a Bokeh pane made hidden is shown all the same (Panel 1.9)
        self.curve_pane = pn.Column(pn.pane.Bokeh(self.fig_val), visible=False,
                                    sizing_mode="stretch_width")
        self._clear_curve()
        self.loop_scores = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.conformers = ConformerPanel(ConformerSession(session.registry))
        self.tabs = pn.Tabs(("Backmap", self._backmap_tab()), ("Conformers", self.conformers),
                            sizing_mode="stretch_width")
        self._start()

    # --- cards ----------------------------------------------------------------------------------
    def _build_mapping_card(self) -> None:
        self.method = pn.widgets.Select(label="Mapping", options={
            label: key for key, label in self.session.methods().items()}, value="girvan_newman")
        self.n_beads = number_input("Beads", 3, (2, None), integer=True)
        self.autograin_run = pn.widgets.Select(label="Autograin run", options={})
        self.map_btn = pn.widgets.Button(label="Use mapping", color="primary")
        self.map_btn.on_click(lambda e: self._act(lambda: self.session.choose_mapping(
            self.method.value, self.n_beads.value, self.autograin_run.value), self.map_notice))
        self.map_notice = alert()
        self.map_info = pn.pane.Markdown("No mapping yet.", sizing_mode="stretch_width")
        self.method.param.watch(self._on_method, "value")
        self._on_method()

    def _on_method(self, event=None) -> None:
        self.n_beads.visible = self.method.value == "girvan_newman"
        self.autograin_run.visible = self.method.value == "autograin_run"
        if self.autograin_run.visible:
            self.autograin_run.options = self.session.autograin_runs()
        notice(self.map_notice, None)

    def _build_model_card(self) -> None:
        self.model_source = pn.widgets.RadioButtonGroup(options=["Train", "Saved run"],
                                                        value="Train", color="light")
        self.inputs = {k: NumberInput(self.settings, k) for k in {**SETTINGS, **MORE_SETTINGS}}
        for key, label in {**SETTINGS, **MORE_SETTINGS}.items():
            self.inputs[key].label = label
        self.more = pn.Card(*(self.inputs[k] for k in MORE_SETTINGS), title="More settings",
                            collapsed=True, sizing_mode="stretch_width")
        self.train_btn = pn.widgets.Button(label="Train CGVAE", color="success")
        self.train_btn.on_click(lambda e: self.train())
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger")
        self.stop_btn.on_click(lambda e: self.session.stop())
        self.model_run = pn.widgets.Select(label="Trained model", options={})
        self.load_btn = pn.widgets.Button(label="Load model", color="primary")
        self.load_btn.on_click(lambda e: self._act(
            lambda: self.session.load_model(self.model_run.value), self.model_notice))
        self.model_notice = alert()
        self.model_info = pn.pane.Markdown("No model yet.", sizing_mode="stretch_width")
        self.model_source.param.watch(self._on_model_source, "value")
        self._on_model_source()

    def _on_model_source(self, event=None) -> None:
        train = self.model_source.value == "Train"
        for key in SETTINGS:
            self.inputs[key].visible = train
        self.more.visible = self.train_btn.visible = train
        self.model_run.visible = self.load_btn.visible = not train
        if not train:
            self.model_run.options = self.session.model_runs()
        notice(self.model_notice, None)

    def train(self) -> None:
        """The Train button: train CGVAE with the settings shown."""
        self._clear_curve()
        settings = {k: v for k, v in self.settings.settings().items() if k != "precision"}

        def start() -> None:
            self._curve_job = self.session.train(**settings)

        self._act(start, self.model_notice)

    def _clear_curve(self) -> None:
        """No learning curve (until a training started here reports its epochs)."""
        self._curve_job, self._curve_rows = None, 0
        self.curve_src.data = {"epoch": [], "val": []}
        self.curve_pane.visible = False

    def _build_sample_card(self) -> None:
        self.source = pn.widgets.Select(label="CG frames", options={})
        self.n_samples = number_input("Samples per frame", 4, (1, MAX_SAMPLES), integer=True)
        self.sample_seed = number_input("Sampling seed", 0, (0, None), integer=True)
        self.sample_btn = pn.widgets.Button(label="Sample", color="primary")
        self.sample_btn.on_click(lambda e: self.sample())
        self.sample_notice = alert()

    def sample(self) -> None:
        """The Sample button: K samples for each CG frame of the chosen source."""
        self._act(lambda: self.session.sample(self.n_samples.value, self.sample_seed.value,
                                              self.source.value or "held_out"),
                  self.sample_notice)

    def _build_loop_card(self) -> None:
        self.loop_steps = number_input("CG MD steps", 10_000, (10, None), integer=True)
        self.loop_temperature = number_input("Temperature (K)", 300.0, (1.0, None))
        self.loop_btn = pn.widgets.Button(label="Run the whole loop", color="primary")
        self.loop_btn.on_click(lambda e: self.run_loop())
        self.loop_notice = alert()

    def run_loop(self) -> None:
        """The loop button: mapping (the one chosen, or Girvan-Newman), force matching, CG MD,
        CGVAE with the model settings, backmapping and scores."""
        self._clear_curve()
        settings = {k: v for k, v in self.settings.settings().items() if k != "precision"}
        self._act(lambda: self.session.run_pipeline(
            self.n_beads.value, self.loop_steps.value, self.loop_temperature.value,
            **settings), self.loop_notice)

    # --- refresh (event loop) -------------------------------------------------------------------
    def _refresh_buttons(self) -> None:
        s = self.session
        busy, no_data = s.busy, s.dataset is None
        self.stop_btn.disabled = not busy
        self.map_btn.disabled = busy or no_data or refused(self.n_beads)
        settings_refused = refused(*self.inputs.values())
        self.train_btn.disabled = busy or s.mapping is None or settings_refused
        self.load_btn.disabled = busy or no_data or not self.model_run.value
        self.sample_btn.disabled = busy or s.model is None or refused(self.n_samples,
                                                                      self.sample_seed)
        self.loop_btn.disabled = busy or no_data or settings_refused or refused(
            self.n_beads, self.loop_steps, self.loop_temperature)

    def _draw_dataset(self) -> None:
        s = self.session
        if s.dataset is self._shown_dataset:
            return
        self._shown_dataset = s.dataset
        self.data.show_dataset()  # also one the session had before the page
        self.method.options = {label: key for key, label in s.methods().items()}
        self._on_method()
        self._on_model_source()

    def _draw_mapping(self) -> None:
        s = self.session
        if s.mapping is self._shown_mapping:
            return
        self._shown_mapping = s.mapping
        if s.mapping is None:
            self.map_info.object = "No mapping yet."
            return
        m = s.mapping
        beads = ", ".join(f"{n} ({k})" for n, k in zip(m.bead_names, np.bincount(m.assignment),
                                                      strict=True))
        self.map_info.object = f"**{s.mapping_label}**: {m.n_beads} beads.\n\nBeads (atoms): " \
                               f"{beads}"

    def _draw_model(self) -> None:
        s = self.session
        job = s.training
        if job is not None and job.status == "failed" and self._failed is not job:
            self._failed = job
            notice(self.model_notice, f"**Training failed:** {job.message}")
        pipe = s.pipeline
        if pipe is not None and pipe.status == "failed" and self._failed is not pipe:
            self._failed = pipe
            notice(self.loop_notice, f"**The loop failed:** {pipe.message}")
        if s.model is not self._shown_model:
            self._shown_model = s.model
            self.model_info.object = f"**{s.model_label}**" if s.model else "No model yet."
            if self.model_source.value == "Saved run":
                self.model_run.options = s.model_runs()
        sources = {label: key for key, label in s.sources().items()}
        if sources != self.source.options:
            self.source.options = sources
        if s.model is not None and s.samples is None and not s.busy \
                and s.model is not self._auto_sampled:
            self._auto_sampled = s.model  # a new model: show its samples at once
            self.sample()

    def _draw_curve(self) -> None:
        job = self._curve_job
        if job is None:
            return
        n = min(len(job.curves["epoch"]), len(job.curves["val_rmsd"]))
        if n <= self._curve_rows:
            return
        sl = slice(self._curve_rows, n)
        self.curve_src.stream({"epoch": np.asarray(job.curves["epoch"][sl], float),
                               "val": np.asarray(job.curves["val_rmsd"][sl], float)})
        self._curve_rows = n
        self.curve_pane.visible = True

    def _draw_loop(self) -> None:
        pipe = self.session.pipeline
        results = None if pipe is None else pipe.results or None
        if results is self._shown_loop:
            return
        self._shown_loop = results
        self.loop_scores.object = "" if results is None else \
            "**The whole loop: scores**\n\n" + loop_table(results)

    def _refresh(self) -> None:
        self.data.refresh()
        self._draw_dataset()
        self.progress.job = self.session.job
        self.progress.refresh()
        self._refresh_buttons()
        self._draw_mapping()
        self._draw_model()
        self._draw_curve()
        self.view.refresh()
        self._draw_loop()
        self.conformers.refresh()

    def close(self) -> None:
        """Stop refreshing and stop every job of the page (also when the tab closes)."""
        self.conformers.session.close()
        super().close()

    # --- layout ---------------------------------------------------------------------------------
    def _backmap_tab(self) -> pn.Row:
        mapping = card("Mapping", self.method, self.n_beads, self.autograin_run, self.map_btn,
                       self.map_notice, self.map_info)
        model = card("CGVAE model", self.model_source, *(self.inputs[k] for k in SETTINGS),
                     self.more, pn.Row(self.train_btn, self.stop_btn), self.model_run,
                     self.load_btn, self.model_notice, self.model_info)
        samples = card("Samples", self.source, self.n_samples, self.sample_seed,
                       self.sample_btn, self.sample_notice)
        loop = card("The whole loop", pn.pane.Markdown(
            "Mapping (the one chosen, else Girvan-Newman with the beads above), force "
            "matching, CG MD, CGVAE with the model settings, backmapping, scores.",
            sizing_mode="stretch_width"), self.loop_steps, self.loop_temperature,
            self.loop_btn, self.loop_notice)
        main = pn.Column(self.progress, self.view, self.curve_pane,
                         self.loop_scores, sizing_mode="stretch_width")
        return pn.Row(pn.Column(self.data, mapping, model, samples, loop, width=SIDEBAR_WIDTH),
                      main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.HTML("<h2 style='margin:0'>MD Workbench: Backmap</h2>",
                              styles=BANNER, sizing_mode="stretch_width")
        return pn.Column(header, self.tabs, sizing_mode="stretch_width")
