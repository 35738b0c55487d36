"""The Runs view: every run of the registry in one table (filter by kind, status and name), and
two or more selected runs compared side by side: the curves they share overlaid (thermo of
simulations, learning curves of trainings and fits), their scalar metrics in one table, and
the rows of benchmark runs one under the other.

``run_series(run)`` reads a run folder's curves as the runs write them: ``thermo.csv`` (or the
``thermo_*`` arrays of ``trajectory.npz``) of a simulation, ``curves.csv`` of an ML training,
``metrics["curves"]`` of a coarse-graining or backmapping run, the ``history_*`` arrays of a
fit's ``fit.npz``. Reading happens on the event loop when Compare is pressed (small files);
nothing is read on page load but the index.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn

from workbench import io
from workbench.registry import STATUSES, Run, RunRegistry
from workbench.ui.benchmark_plots import NUMBER, model_colors
from workbench.ui.datasets import alert, notice
from workbench.ui.plots import compact_legend, line_figure
from workbench.ui.serving import LocalViewer

__all__ = ["RunsView", "run_series", "runs_frame"]

ALL = "all"
SKIPPED_COLUMNS = {"epoch", "step", "steps", "wall_time_s"}

Series = dict[str, tuple[np.ndarray, np.ndarray, str]]
"""``{quantity: (x [n], y [n], x label)}``."""


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: ``id``, ``kind``, ``name``, ``status``, ``created`` (local time)."""
    return pd.DataFrame({
        "id": [r.id for r in runs], "kind": [r.kind for r in runs],
        "name": [r.name for r in runs], "status": [r.status for r in runs],
        "created": [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
                    for r in runs]}, columns=["id", "kind", "name", "status", "created"]
    ).astype(str)  # text even when empty (an empty column would be float: shown as NaN)


def _csv_columns(path: Path) -> dict[str, np.ndarray]:
    frame = pd.read_csv(path)
    return {c: np.asarray(frame[c], float) for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c])}


def _thermo(run: Run) -> Series:
    units = run.config.get("units", {})
    dt = float(run.config.get("timestep", 1.0))
    time_unit = units.get("time", "")
    columns: dict[str, np.ndarray] = {}
    if run.file("thermo.csv").is_file():
        columns = _csv_columns(run.file("thermo.csv"))
    elif run.file("trajectory.npz").is_file():
        arrays = io.load_npz(run.file("trajectory.npz"))
        columns = {k.removeprefix("thermo_"): np.asarray(v, float) for k, v in arrays.items()
                   if k.startswith("thermo_")}
        if "steps" in arrays:
            columns["step"] = np.asarray(arrays["steps"], float)
    if "step" not in columns:
        return {}
    x = columns.pop("step") * dt
    label = f"time ({time_unit})" if time_unit else "time"
    energy = units.get("energy", "")
    unit_of = {"temperature": units.get("temperature", ""), "pressure": ""}
    return {f"{k} ({unit_of.get(k, energy)})".replace(" ()", ""): (x, y, label)
            for k, y in columns.items() if np.isfinite(y).any()}


def _curves(columns: dict[str, Any]) -> Series:
    columns = {k: np.asarray(v, float) for k, v in columns.items()
               if isinstance(v, list | np.ndarray) and len(v)
               and all(isinstance(x, int | float | np.number) for x in np.ravel(v))}
    if not columns:
        return {}
    n = min(len(v) for v in columns.values())
    x = columns["epoch"][:n] if "epoch" in columns else np.arange(n, dtype=float)
    label = "epoch" if "epoch" in columns else "record"
    return {k: (x, v[:n], label) for k, v in columns.items()
            if k not in SKIPPED_COLUMNS and np.ravel(v).size == len(v)
            and np.isfinite(v[:n]).any()}


def run_series(run: Run) -> Series:
    """The curves a run folder holds (module docstring), ``{}`` when it holds none."""
    series: Series = {}
    series.update(_thermo(run))
    if run.file("curves.csv").is_file():
        series.update(_curves(_csv_columns(run.file("curves.csv"))))
    if isinstance(run.metrics.get("curves"), dict):
        series.update(_curves(run.metrics["curves"]))
    if run.file("fit.npz").is_file():
        arrays = io.load_npz(run.file("fit.npz"))
        history = {k.removeprefix("history_"): v for k, v in arrays.items()
                   if k.startswith("history_") and not k.startswith("history_param")}
        series.update({f"fit {k}": (x, y, "iteration")
                       for k, (x, y, _) in _curves(history).items()})
    return series


def scalar_metrics(runs: list[Run]) -> pd.DataFrame:
    """Top-level numeric and text metrics of ``runs`` side by side: one row per metric, one
    column per run (its short id); metrics no run has are left out."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update({k: None for k, v in run.metrics.items()
                     if isinstance(v, int | float | str | bool) or v is None})
    data = {"metric": list(keys)}
    for run in runs:
        data[_short(run)] = [_text(run.metrics.get(k)) for k in keys]
    return pd.DataFrame(data)


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def _short(run: Run) -> str:
    return f"{run.name or run.kind} ({run.id[-8:]})"


def benchmark_rows(runs: list[Run]) -> pd.DataFrame | None:
    """The leaderboards of the benchmark runs among ``runs``, one under the other with the
    run's name in front; None when there is none."""
    from workbench.benchmark import leaderboard

    frames = []
    for run in runs:
        if run.kind == "benchmark" and run.metrics.get("rows"):
            table = leaderboard(run.metrics["rows"])
            table.insert(0, "run", _short(run))
            frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else None


class RunsView(LocalViewer):
    """Runs table with filters, and a comparison of the selected runs (module docstring).

    Args:
        registry: the ``RunRegistry`` listed (default the user's).
    """

    def __init__(self, registry: RunRegistry | None = None, **params):
        super().__init__(**params)
        self.registry = registry or RunRegistry()
        self.kind = pn.widgets.Select(label="Kind", options=[ALL], value=ALL, width=140)
        self.status = pn.widgets.Select(label="Status", options=[ALL, *STATUSES], value=ALL,
                                        width=130)
        self.text = pn.widgets.TextInput(label="Name contains", placeholder="text in the name "
                                         "or id", width=200)
        self.refresh_btn = pn.widgets.Button(label="Refresh", color="light")
        self.compare_btn = pn.widgets.Button(label="Compare selected", color="primary")
        self.notice = alert()
        self.table = pn.widgets.Tabulator(runs_frame([]), selectable="checkbox",
                                          show_index=False, disabled=True, pagination="local",
                                          page_size=12, sizing_mode="stretch_width",
                                          layout="fit_data_stretch", height=360)
        self.quantity = pn.widgets.Select(label="Overlay", options=[], visible=False,
                                          width=260)
        self.overlay = pn.pane.Bokeh(None, sizing_mode="stretch_width", visible=False)
        self.metrics = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True,
                                            sizing_mode="stretch_width", visible=False,
                                            layout="fit_data_stretch", max_height=320)
        self.bench = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True,
                                          sizing_mode="stretch_width", visible=False,
                                          layout="fit_data_stretch")
        self._compared: list[Run] = []
        self._series: dict[str, Series] = {}
        self.refresh_btn.on_click(lambda e: self.refresh())
        self.compare_btn.on_click(lambda e: self.compare())
        for w in (self.kind, self.status):
            w.param.watch(lambda e: self.refresh(), "value")
        self.text.param.watch(lambda e: self.refresh(), "value")
        self.quantity.param.watch(lambda e: self._draw_overlay(), "value")
        self._runs: list[Run] = []

    def refresh(self) -> None:
        """List the runs again with the filters applied (new runs appear)."""
        runs = self.registry.list()
        kinds = sorted({r.kind for r in runs})
        self.kind.options = [ALL, *kinds]
        text = self.text.value.strip().lower()
        self._runs = [r for r in runs
                      if self.kind.value in (ALL, r.kind)
                      and self.status.value in (ALL, r.status)
                      and (not text or text in r.name.lower() or text in r.id.lower())]
        self.table.param.update(value=runs_frame(self._runs), selection=[])

    def selected(self) -> list[Run]:
        """The runs checked in the table, in table order."""
        return [self._runs[i] for i in sorted(self.table.selection) if i < len(self._runs)]

    def compare(self, run_ids: list[str] | None = None) -> None:
        """Compare ``run_ids`` (default: the checked runs); two at least."""
        notice(self.notice, None)
        runs = ([self.registry.get(i) for i in run_ids] if run_ids is not None
                else self.selected())
        if len(runs) < 2:
            notice(self.notice, "Select two runs or more (tick their boxes) to compare them.")
            return
        self._compared = runs
        self._series = {r.id: run_series(r) for r in runs}
        names = sorted({k for s in self._series.values() for k in s},
                       key=lambda k: -sum(k in s for s in self._series.values()))
        self.quantity.param.update(options=names, value=names[0] if names else None,
                                   visible=bool(names))
        self._draw_overlay()
        self.metrics.param.update(value=scalar_metrics(runs), visible=True)
        bench = benchmark_rows(runs)
        self.bench.param.update(
            value=bench if bench is not None else pd.DataFrame(), visible=bench is not None,
            formatters={} if bench is None else {
                c: NUMBER for c in bench.columns if pd.api.types.is_float_dtype(bench[c])})
        if not names and bench is None:
            notice(self.notice, "These runs hold no curves to overlay; their metrics are "
                   "side by side below.")

    def _draw_overlay(self) -> None:
        name = self.quantity.value
        if not name:
            self.overlay.visible = False
            return
        colors = model_colors([r.id for r in self._compared])
        have = [(r, self._series[r.id][name]) for r in self._compared
                if name in self._series[r.id]]
        fig = line_figure(f"{name}: {len(have)} of {len(self._compared)} runs", name,
                          have[0][1][2] if have else "", height=280)
        for run, (x, y, _) in have:
            fig.line(x, np.where(np.isfinite(y), y, np.nan), color=colors[run.id],
                     line_width=2, legend_label=_short(run))
        compact_legend(fig)
        self.overlay.param.update(object=fig, visible=True)

    def __panel__(self) -> pn.viewable.Viewable:
        if not self._runs:
            self.refresh()
        return pn.Column(
            pn.Row(self.kind, self.status, self.text, self.refresh_btn,
                   sizing_mode="stretch_width"),
            self.table, pn.Row(self.compare_btn), self.notice, self.quantity, self.overlay,
            self.metrics, self.bench, sizing_mode="stretch_width")
