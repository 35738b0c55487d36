"""``DatasetCard``: the dashboards' way to choose data for a ``workbench.data.session``
session: generate frames with a reference recipe, upload a file, or use a dataset saved
before. A refused choice is explained under the widgets and stays until the user acts again.

``notice(alert, text)`` and ``alert()`` are the red notices every card of these dashboards uses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import panel as pn

from workbench.data.session import DataSession, molecular_recipes, saved_datasets
from workbench.ui.inputs import number_input, refused
from workbench.ui.layout import card


def alert() -> pn.pane.Alert:
    """A hidden red notice, stretched to its card's width."""
    return pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")


def notice(alert: pn.pane.Alert, text: str | None) -> None:
    """Show ``text`` (Markdown) in ``alert``, or hide it when ``text`` is empty."""
    alert.object = text or ""
    alert.visible = bool(text)


class DatasetCard(pn.viewable.Viewer):
    """Generate / File / Saved: the dataset of ``session``. The owner calls ``refresh()`` from
    its periodic callback (on the event loop); it returns True when a new dataset arrived."""

    def __init__(self, session: DataSession, default_recipe: str = "aspirin",
                 recipes: dict[str, str] | None = None, **params):
        super().__init__(**params)
        self.session = session
        recipes = molecular_recipes() if recipes is None else recipes
        self.source = pn.widgets.RadioButtonGroup(options=["Generate", "File", "Saved"],
                                                  value="Generate", color="light")
        self.recipe = pn.widgets.Select(label="Recipe", options=sorted(recipes),
                                        value=default_recipe if default_recipe in recipes
                                        else None)
        self.smiles = pn.widgets.TextInput(label="SMILES", placeholder="e.g. CC(C)O",
                                           description="GFN2-xTB (tblite) MD of this molecule; "
                                                       "small molecules only (seconds per "
                                                       "frame above ~50 atoms)")
        self.recipe.param.watch(self._on_source, "value")
        self.n_frames = number_input("Frames", 200, (10, None), integer=True)
        self.data_seed = number_input("Seed", 0, (0, None), integer=True)
        self.file = pn.widgets.FileInput(accept=".npz,.extxyz,.xyz,.traj")
        self.saved = pn.widgets.Select(label="Saved dataset", options=[])
        self.data_btn = pn.widgets.Button(label="Generate", color="primary")
        self.data_btn.on_click(lambda e: self.choose_data())
        self.data_notice = alert()
        self.data_info = pn.pane.Markdown("No dataset yet.", sizing_mode="stretch_width")
        self.source.param.watch(self._on_source, "value")
        self.file.param.watch(lambda e: notice(self.data_notice, None), "value")
        self._on_source()

    def _on_source(self, event=None) -> None:
        kind = self.source.value
        self.recipe.visible = self.n_frames.visible = self.data_seed.visible = kind == "Generate"
        self.smiles.visible = kind == "Generate" and self.recipe.value == "smiles"
        self.file.visible = kind == "File"
        self.saved.visible = kind == "Saved"
        self.data_btn.label = {"Generate": "Generate", "File": "Load file",
                               "Saved": "Use dataset"}[kind]
        if kind == "Saved":
            self.saved.options = list(saved_datasets())
        if event is not None:
            notice(self.data_notice, None)

    def choose_data(self) -> None:
        """The data button: generate, load the uploaded file or use a saved dataset."""
        s, kind = self.session, self.source.value
        notice(self.data_notice, None)
        try:
            if kind == "Generate":
                recipe = self.recipe.value
                options = {"smiles": self.smiles.value.strip()} if recipe == "smiles" else {}
                s.generate(recipe, self.n_frames.value, self.data_seed.value, **options)
                self.data_info.object = f"Generating {self.n_frames.value} frames of " \
                                        f"{options.get('smiles', recipe)}..."
                return
            if kind == "File":
                if not self.file.filename:
                    raise ValueError("choose a file first (.npz, .extxyz, .xyz or .traj)")
                if not self.file.value:
                    raise ValueError(f"{self.file.filename} is empty")
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / self.file.filename
                    path.write_bytes(self.file.value)
                    try:
                        s.load(path, name=self.file.filename)
                    except ValueError as exc:  # name the file, not the server's copy of it
                        raise ValueError(str(exc).replace(str(path), self.file.filename)) \
                            from None
            else:
                if not self.saved.value:
                    raise ValueError("no saved datasets yet: generate one")
                s.load(saved_datasets()[self.saved.value])
        except ValueError as exc:
            notice(self.data_notice, f"**Not used:** {exc}")
            return
        self.show_dataset()

    def show_dataset(self) -> None:
        """The summary of the dataset in use (or that there is none)."""
        ds = self.session.dataset
        if ds is None:
            self.data_info.object = "No dataset yet."
            return
        self.data_info.object = f"**{self.session.dataset_name}**\n\n```text\n" + \
            "\n".join(ds.summary().splitlines()[:4]) + "\n```"

    def refresh(self) -> bool:
        """Take a generated dataset (True when one arrived), show a failed generation, and
        enable the button when nothing runs and the numbers are accepted."""
        changed = False
        try:
            changed = self.session.update()
        except ValueError as exc:
            notice(self.data_notice, f"**Not used:** {exc}")
            changed = True  # the "Generating..." line gives way to the dataset still in use
        if changed:
            self.show_dataset()
        self.data_btn.disabled = self.session.busy or refused(self.n_frames, self.data_seed)
        return changed

    def __panel__(self) -> pn.viewable.Viewable:
        return card("Dataset", self.source, self.recipe, self.smiles, self.n_frames,
                    self.data_seed,
                    self.file, self.saved, self.data_btn, self.data_notice, self.data_info)
