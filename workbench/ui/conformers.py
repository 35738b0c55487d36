"""``ConformerPanel``: the Backmap dashboard's Conformers tab. Type a SMILES, choose a trained
ConfVAE model and the RDKit baselines, and get conformers side by side in the 3D viewer (switch
method and conformer) with their GFN2-xTB energies in a table; or train ConfVAE on a conformer
set file.

It renders a ``ConformerSession`` (``workbench.backmap.conformer_session``), whose jobs run in
their own threads; its owner calls ``refresh()`` from its periodic callback (on the event
loop), so no Bokeh model is touched from a worker. Bad input is explained under the widgets and
stays until the user acts again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
from ase.data import chemical_symbols

from workbench.backmap.conformer_session import MAX_CONFORMERS, METHODS, ConformerSession
from workbench.ui.datasets import alert, notice
from workbench.ui.inputs import number_input, refused
from workbench.ui.jobs import JobProgress
from workbench.ui.layout import SIDEBAR_WIDTH, card
from workbench.ui.viewer import MoleculeViewer

NO_MODEL = "none (RDKit only)"
#: the GFN2-xTB conformer set shipped with the repository (30 molecules; README)
SHIPPED_SET = Path(__file__).resolve().parents[2] / "notebooks" / "conformers-30.npz"
EV_TO_KCAL = 23.060548  # kcal/mol per eV


class ConformerPanel(pn.viewable.Viewer):
    """Generate and train cards, progress, the viewer with its switches and the energy table
    (module docstring)."""

    def __init__(self, session: ConformerSession | None = None):
        super().__init__()
        self.session = session or ConformerSession()
        self.smiles = pn.widgets.TextInput(label="Molecule (SMILES)", value="CCOCCO")
        self.n_conformers = number_input("Conformers per method", 5, (1, MAX_CONFORMERS),
                                         integer=True)
        self.model = pn.widgets.Select(label="ConfVAE model", options=[NO_MODEL])
        self.methods = pn.widgets.CheckBoxGroup(options=list(METHODS), value=list(METHODS))
        self.relax = pn.widgets.Checkbox(label="Minimise with GFN2-xTB", value=False)
        self.generate_btn = pn.widgets.Button(label="Generate", color="success")
        self.generate_btn.on_click(lambda e: self.generate())
        self.generate_notice = alert()
        self.set_path = pn.widgets.TextInput(
            label="Conformer set file (.npz)", placeholder="conformers.npz",
            value=str(SHIPPED_SET) if SHIPPED_SET.is_file() else "")
        self.epochs = number_input("ConfVAE epochs", 50, (1, None), integer=True)
        self.train_btn = pn.widgets.Button(label="Train ConfVAE", color="primary")
        self.train_btn.on_click(lambda e: self.train())
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger")
        self.stop_btn.on_click(lambda e: self.session.stop())
        self.train_notice = alert()
        self.progress = JobProgress(auto_refresh=False)
        self.viewer = MoleculeViewer(height=420)
        self.shown_method = pn.widgets.RadioButtonGroup(options=["–"], color="light",
                                                        variant="outline", visible=False)
        self.shown_index = pn.widgets.IntSlider(label="Conformer", start=1, end=2, value=1,
                                                visible=False)
        self.caption = pn.pane.Markdown("Type a SMILES and press Generate.",
                                        sizing_mode="stretch_width")
        self.table = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self._shown = self._reported = None
        self._models_seen: dict[str, str] | None = None
        self.shown_method.param.watch(lambda e: self._show(), "value")
        self.shown_index.param.watch(lambda e: self._show(), "value")
        self.refresh_models()

    # --- actions --------------------------------------------------------------------------------
    def generate(self) -> None:
        notice(self.generate_notice, None)
        if refused(self.n_conformers):
            notice(self.generate_notice, "**Not started:** the number of conformers is not "
                   f"a whole number from 1 to {MAX_CONFORMERS}")
            return
        model = None if self.model.value == NO_MODEL else self.model.value
        try:
            job = self.session.generate(
                self.smiles.value.strip(), int(self.n_conformers.value), model=model,
                methods=self.methods.value, relax=self.relax.value)
        except ValueError as exc:
            notice(self.generate_notice, f"**Not started:** {exc}")
            return
        self.progress.job = job

    def train(self) -> None:
        notice(self.train_notice, None)
        try:
            job = self.session.train(self.set_path.value.strip(), int(self.epochs.value))
        except ValueError as exc:
            notice(self.train_notice, f"**Not started:** {exc}")
            return
        self.progress.job = job

    def refresh_models(self) -> None:
        """Offer the finished ConfVAE runs (newest first) when they changed; a new run is
        chosen."""
        models = self.session.models()
        if models != self._models_seen:
            new = [m for m in models.values() if m not in (self._models_seen or {}).values()]
            self._models_seen = models
            value = self.model.value
            self.model.options = {NO_MODEL: NO_MODEL, **models}
            self.model.value = new[0] if new else (value if value in models.values()
                                                   else NO_MODEL)

    # --- refresh (event loop) -------------------------------------------------------------------
    def refresh(self) -> None:
        """Follow the session's job and show new conformers (call on the event loop)."""
        job = self.progress.job
        self.progress.refresh()
        if job is not None and job.finished and job is not self._reported:
            self._reported = job
            self.refresh_models()
            if job.status == "failed":
                where = self.train_notice if job is self.session.training else \
                    self.generate_notice
                notice(where, f"**Failed:** {job.message}")
        if self.session.ensembles is not self._shown and self.session.ensembles:
            self._shown = self.session.ensembles
            self._draw_new()

    def _draw_new(self) -> None:
        s = self.session
        ensembles = s.ensembles
        first = next(iter(ensembles.values()))
        elements, species = np.unique(first.atomic_numbers, return_inverse=True)
        self.viewer.set_structure(first.positions[0], species,
                                  [chemical_symbols[z] for z in elements], bonds=s.bonds)
        self.shown_method.param.update(options=list(ensembles), value=next(iter(ensembles)),
                                       visible=True)
        n = max(len(e.positions) for e in ensembles.values())
        self.shown_index.param.update(end=max(n, 2), value=1, visible=n > 1)
        self.table.object = self._energy_table()
        self._show()

    def _energy_table(self) -> pd.DataFrame:
        """GFN2-xTB energies above the lowest shown (kcal/mol): a row per conformer, a column
        per method."""
        ensembles = self.session.ensembles
        energies = np.concatenate([e.energies_eV for e in ensembles.values()])
        lowest = np.nanmin(energies) if np.isfinite(energies).any() else np.nan
        table = pd.DataFrame({f"{name} ΔE (kcal/mol)": pd.Series(
            np.round((e.energies_eV - lowest) * EV_TO_KCAL, 2)) for name, e in ensembles.items()})
        table.insert(0, "conformer", np.arange(1, len(table) + 1))
        return table

    def _show(self) -> None:
        ens = self.session.ensembles.get(self.shown_method.value)
        if ens is None:
            return
        k = min(self.shown_index.value, len(ens.positions)) - 1
        x = ens.positions[k]
        self.viewer.update_positions(x - x.mean(axis=0))
        e, energy = ens.energies_eV[k], ""
        if np.isfinite(e):
            lowest = np.nanmin(np.concatenate([shown.energies_eV for shown in
                                               self.session.ensembles.values()]))
            energy = (f", GFN2-xTB energy {e:.4f} eV ({(e - lowest) * EV_TO_KCAL:.2f} kcal/mol "
                      "above the lowest shown)")
        self.caption.object = (f"**{self.session.smiles}**: {self.shown_method.value}, "
                               f"conformer {k + 1} of {len(ens.positions)}{energy}")

    # --- layout ---------------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        gen = card("Conformers from a SMILES", self.smiles, self.n_conformers, self.model,
                   self.methods, self.relax, self.generate_btn, self.generate_notice)
        train = card("Train ConfVAE", self.set_path, self.epochs,
                     pn.Row(self.train_btn, self.stop_btn), self.train_notice)
        main = pn.Column(self.progress, self.shown_method, self.shown_index, self.caption,
                         self.viewer, self.table, sizing_mode="stretch_width")
        return pn.Row(pn.Column(gen, train, width=SIDEBAR_WIDTH), main,
                      sizing_mode="stretch_width")
