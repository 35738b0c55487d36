"""The Benchmark dashboard: choose force fields (each system's classical one, learned models of
earlier trainings), systems and the protocol's length, run the grid (``BenchmarkGrid`` on Dask)
and read MDsim's answer (Fu et al., TMLR 2023): a leaderboard coloured from best to worst, every
model's h(r) / F(phi) / F(psi) or RDFs and MSD over the reference, the stability bars, the
force-MAE-against-stability scatter, and any run's trajectory opened in the viewer at the frame
where it collapsed. An earlier benchmark run is loaded from the registry the same way; the Runs
tab compares runs of any kind (``workbench.ui.runs``).

One periodic callback per browser session reads the grid (which runs in its own thread) and
updates the page; the curves of each finished cell (``workbench.benchmark.curves``) and the
trajectories are read on a worker thread, so no Bokeh model is touched from a worker and the
event loop never waits on them. Bad choices are explained next to the widgets and stay until
the user acts again. Closing the tab stops the grid.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
from ase.data import chemical_symbols

from workbench import io
from workbench.benchmark import BENCHMARK_SYSTEMS, BenchmarkGrid, leaderboard, load_trajectory
from workbench.benchmark.curves import row_curves
from workbench.benchmark.models import CLASSICAL
from workbench.jobs import Worker
from workbench.learned_system import model_runs
from workbench.registry import RunRegistry
from workbench.ui.benchmark_plots import (
    COLUMN_TITLES,
    NUMBER,
    curve_figures,
    model_colors,
    scatter_figure,
    stability_figure,
    style_leaderboard,
)
from workbench.ui.datasets import alert, notice
from workbench.ui.inputs import number_input, refused
from workbench.ui.jobs import JobProgress
from workbench.ui.layout import card, dashboard_page
from workbench.ui.runs import RunsView
from workbench.ui.serving import LocalViewer
from workbench.ui.sessions import close_with_session
from workbench.ui.viewer import MoleculeViewer, TrajectoryPlayer

__all__ = ["BenchmarkDashboard"]

REFRESH_MS = 400
CELL_COLUMNS = ["cell", "status", "progress", "stability_ps", "collapsed", "collapse_frame",
                "run_id"]


def _cells_frame(cells: dict[str, dict], rows: list[dict]) -> pd.DataFrame:
    """One line per cell: its state while the grid runs, then its row's stability and run."""
    by_cell = {r["cell"]: r for r in rows}
    records = []
    for key in dict.fromkeys([*cells, *by_cell]):
        state, row = cells.get(key, {}), by_cell.get(key, {})
        status = row.get("status") if row.get("status") == "error" else (
            "finished" if row else state.get("status", ""))
        done, total = state.get("done", 0), state.get("total")
        progress = "100 %" if row else (f"{100 * done / total:.0f} %" if total else "")
        frame = row.get("collapse_frame")
        records.append({"cell": key, "status": status, "progress": progress,
                        "stability_ps": row.get("stability_ps", np.nan),
                        "collapsed": ("yes" if row.get("collapsed") else "no") if row else "",
                        "collapse_frame": "" if frame is None else str(frame),
                        "run_id": row.get("run_id") or ""})
    return pd.DataFrame.from_records(records, columns=CELL_COLUMNS)


def _viewer_structure(run_path: Path) -> dict[str, Any]:
    """What the viewer needs of a run's trajectory: frames ``[n, n_atoms, 3]`` Å (wrapped as
    saved), species indices and names, box and bonds (worker thread)."""
    traj = load_trajectory(run_path)
    arrays = io.load_npz(run_path / "trajectory.npz") if (
        run_path / "trajectory.npz").is_file() else {}
    frames = np.asarray(arrays.get("positions", traj.positions), float)
    if frames.shape != traj.positions.shape:
        frames = traj.positions
    numbers = sorted(set(traj.numbers.tolist()))
    bonds = arrays.get("bonds")
    return {"frames": frames, "species": [numbers.index(z) for z in traj.numbers],
            "names": [chemical_symbols[z] for z in numbers], "box": traj.box,
            "bonds": None if bonds is None or not len(bonds) else bonds}


class BenchmarkDashboard(LocalViewer):
    """Grid and earlier-benchmark cards; progress, cells, leaderboard, plots, viewer; Runs tab.

    Args:
        registry: the run registry (default the user's).
        grid_options: extra ``BenchmarkGrid`` parameters for every grid started here (e.g.
            ``{"processes": False, "n_workers": 1}`` for threads of this process).
    """

    def __init__(self, registry: RunRegistry | None = None,
                 grid_options: dict[str, Any] | None = None, **params):
        super().__init__(**params)
        self.registry = registry or RunRegistry()
        self.grid_options = dict(grid_options or {})
        self.grid: BenchmarkGrid | None = None
        self.rows: list[dict] = []
        self.skipped: list[dict] = []
        self.curves: dict[str, dict] = {}  # run id -> row_curves
        self.table = leaderboard([])
        self._pending: dict[str, Future] = {}
        self._shown = (None, -1, -1)  # (source, rows, curves) drawn
        self._failed_shown = None
        self._open: Future | None = None
        self._worker = Worker("benchmark-view")
        self._build_grid_card()
        self._build_load_card()
        self._build_views()
        self.runs = RunsView(self.registry)
        self._callback = pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS)
        close_with_session(self.close)

    # --- cards ----------------------------------------------------------------------------------
    def _model_options(self) -> dict[str, str]:
        return {"classical force field": CLASSICAL, **model_runs(self.registry)}

    def _build_grid_card(self) -> None:
        self.models = pn.widgets.MultiChoice(label="Force fields",
                                             options=self._model_options(), value=[CLASSICAL],
                                             sizing_mode="stretch_width")
        self.systems = pn.widgets.MultiChoice(label="Systems", options=list(BENCHMARK_SYSTEMS),
                                              value=["alanine_dipeptide"],
                                              sizing_mode="stretch_width")
        self.n_seeds = number_input("Seeds per cell", 1, (1, 20), integer=True,
                                    doc="Runs per model and system (seeds 0, 1, ...).")
        self.n_frames = number_input("Frames per run", 20, (2, None), integer=True,
                                     doc="The protocol's short version: this many frames at "
                                     "its frame interval.")
        self.scheduler = pn.widgets.TextInput(label="Dask scheduler (optional)",
                                              placeholder="tcp://host:8786; empty: this "
                                              "machine", sizing_mode="stretch_width")
        self.run_btn = pn.widgets.Button(label="Run benchmark", color="success")
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger", disabled=True)
        self.run_btn.on_click(lambda e: self.run())
        self.stop_btn.on_click(lambda e: self.stop())
        self.run_notice = alert()

    def _build_load_card(self) -> None:
        self.earlier = pn.widgets.Select(label="Benchmark run", options={},
                                         sizing_mode="stretch_width")
        self.load_btn = pn.widgets.Button(label="Load", color="primary")
        self.list_btn = pn.widgets.Button(label="Refresh list", color="light")
        self.load_btn.on_click(lambda e: self.load(self.earlier.value))
        self.list_btn.on_click(lambda e: self._list_earlier())
        self.load_notice = alert()
        self._list_earlier()

    def _list_earlier(self) -> None:
        runs = self.registry.list(kind="benchmark")
        self.earlier.options = {f"{r.name or 'benchmark'} ({r.id}, {r.status})": r.id
                                for r in runs}
        self.models.options = self._model_options()

    # --- views ----------------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.progress = JobProgress(auto_refresh=False)
        self.cells = pn.widgets.Tabulator(
            _cells_frame({}, []), show_index=False, disabled=True, selectable=1,
            sizing_mode="stretch_width", layout="fit_data_stretch", max_height=260,
            formatters={"stability_ps": NUMBER},
            titles={"stability_ps": "stability (ps)", "collapse_frame": "collapse frame",
                    "run_id": "run"})
        self.skipped_md = pn.pane.Markdown("", sizing_mode="stretch_width", visible=False)
        self.board = pn.widgets.Tabulator(
            self.table, show_index=False, disabled=True, sizing_mode="stretch_width",
            layout="fit_data_stretch", titles=COLUMN_TITLES,
            formatters={c: NUMBER for c in COLUMN_TITLES if c.endswith(("_mae", "_ps",
                                                                         "_error"))})
        style_leaderboard(self.board.style)
        self.open_btn = pn.widgets.Button(label="Open trajectory at the collapse",
                                          color="primary", disabled=True)
        self.open_btn.on_click(lambda e: self.open_selected())
        self.cells.param.watch(lambda e: self._on_select(), "selection")
        self.view_notice = alert()
        self.view_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.player = TrajectoryPlayer(MoleculeViewer(height=380), follow=False)
        self.scatter = pn.pane.Bokeh(None, sizing_mode="stretch_width", visible=False)
        self.bars = pn.pane.Bokeh(None, sizing_mode="stretch_width", visible=False)
        self.plots = pn.GridBox(ncols=2, sizing_mode="stretch_width")
        self.curve_info = pn.pane.Markdown("", sizing_mode="stretch_width")

    # --- actions --------------------------------------------------------------------------------
    def run(self) -> None:
        """The Run button: a grid of the chosen force fields, systems, seeds and frames, in the
        background; what is wrong with the choice is shown next to the widgets."""
        notice(self.run_notice, None)
        if self.grid is not None and self.grid.running:
            notice(self.run_notice, "A benchmark is running: stop it first.")
            return
        if not self.models.value or not self.systems.value:
            notice(self.run_notice, "**Not started:** choose at least one force field and one "
                   "system.")
            return
        if refused(self.n_seeds, self.n_frames):
            notice(self.run_notice, "**Not started:** correct the numbers marked above.")
            return
        options = {**self.grid_options}
        if self.scheduler.value.strip():
            options["scheduler"] = self.scheduler.value.strip()
        try:
            grid = BenchmarkGrid(registry=self.registry, models=list(self.models.value),
                                 systems=list(self.systems.value),
                                 seeds=list(range(self.n_seeds.value)),
                                 n_frames=self.n_frames.value, **options)
        except ValueError as exc:
            notice(self.run_notice, f"**Not started:** {exc}")
            return
        self.grid, self._failed_shown = grid, None
        self._show_rows([], [])
        grid.start()

    def stop(self) -> None:
        """The Stop button: the grid stops after the cells in flight (their rows are kept)."""
        if self.grid is not None:
            self.grid.stop(wait=False)

    def load(self, run_id: str | None) -> None:
        """Show the rows of an earlier benchmark run."""
        notice(self.load_notice, None)
        if not run_id:
            notice(self.load_notice, "No benchmark run to load yet: run one, or press Refresh "
                   "list.")
            return
        if self.grid is not None and self.grid.running:
            notice(self.load_notice, "A benchmark is running: stop it first.")
            return
        try:
            run = self.registry.get(run_id)
        except KeyError as exc:
            notice(self.load_notice, str(exc))
            return
        self.grid = None
        self._show_rows(list(run.metrics.get("rows", [])), list(run.metrics.get("skipped", [])))
        if not self.rows:
            notice(self.load_notice, f"Run {run_id} holds no scored cell.")

    def _on_select(self) -> None:
        self.open_btn.disabled = not self._selected_row()

    def _selected_row(self) -> dict | None:
        sel = self.cells.selection
        if not sel:
            return None
        key = self.cells.value.iloc[sel[0]]["cell"]
        row = next((r for r in self.rows if r.get("cell") == key), None)
        return row if row is not None and row.get("run_id") else None

    def open_selected(self) -> None:
        """Open the selected cell's trajectory in the viewer at its collapse frame (the last
        frame when it did not collapse)."""
        notice(self.view_notice, None)
        row = self._selected_row()
        if row is None:
            notice(self.view_notice, "Select a finished cell in the table first.")
            return
        try:
            path = Path(self.registry.get(row["run_id"]).path)
        except KeyError as exc:
            notice(self.view_notice, str(exc))
            return
        self.view_info.object = f"Loading {row['cell']} ..."
        self._opening = row
        self._open = self._worker.submit(lambda: _viewer_structure(path))

    # --- refresh (event loop) -------------------------------------------------------------------
    def _show_rows(self, rows: list[dict], skipped: list[dict]) -> None:
        self.rows, self.skipped = rows, skipped
        self.table = leaderboard(rows)
        self._pending = {}
        self.curves = {}
        self._shown = (None, -1, -1)
        self._draw()

    def _refresh(self) -> None:
        grid = self.grid
        self.progress.job = grid
        self.progress.refresh()
        busy = grid is not None and grid.running
        self.run_btn.disabled, self.stop_btn.disabled = busy, not busy
        self.load_btn.disabled = busy
        if grid is not None:
            cells = {k: dict(v) for k, v in list(grid.cells.items())}
            rows = list(grid.rows)
            if len(rows) != len(self.rows) or grid.skipped != self.skipped:
                self.rows, self.skipped = rows, list(grid.skipped)
                self.table = leaderboard(rows)
            frame = _cells_frame(cells, self.rows)
            if not frame.equals(self.cells.value):
                self.cells.value = frame
            if grid.status == "failed" and self._failed_shown is not grid:
                self._failed_shown = grid
                notice(self.run_notice, f"**Failed:** {grid.message}")
            if grid.finished and grid.status != "idle":
                self._list_earlier_once(grid)
        self._collect_curves()
        self._draw()
        self._show_trajectory()

    def _list_earlier_once(self, grid: BenchmarkGrid) -> None:
        if getattr(self, "_listed_for", None) is not grid:
            self._listed_for = grid
            self._list_earlier()
            self.runs.refresh()

    def _collect_curves(self) -> None:
        """Queue the curves of new scored rows on the worker; keep those that arrived."""
        for row in self.rows:
            run_id = row.get("run_id")
            if run_id and run_id not in self.curves and run_id not in self._pending \
                    and row.get("status") != "error":
                self._pending[run_id] = self._worker.submit(
                    lambda row=row: row_curves(row, registry=self.registry))
        for run_id, future in list(self._pending.items()):
            if future.done():
                del self._pending[run_id]
                if future.exception() is None:
                    self.curves[run_id] = future.result()
                else:
                    self.curves[run_id] = {"error": str(future.exception())}

    def _draw(self) -> None:
        state = (self.grid or "loaded", len(self.rows), len(self.curves))
        if state == self._shown:
            return
        first = state[0] != self._shown[0] or state[1] != self._shown[1]
        self._shown = state
        if self.grid is None or first:
            self.cells.value = _cells_frame(
                self.grid.cells if self.grid is not None else {}, self.rows)
        good = [c for c in self.curves.values() if "error" not in c]
        table = self.table
        table = table[[c for c in COLUMN_TITLES if c in table.columns
                       and (c not in ("energy_mae", "hr_mae", "rdf_mae", "diffusivity_error",
                                      "fes_phi_mae", "fes_psi_mae")
                            or table[c].notna().any())]]
        self.board.value = table
        self.skipped_md.param.update(
            object="**Skipped:** " + "; ".join(f"{s['model']} on {s['system']}: {s['reason']}"
                                               for s in self.skipped),
            visible=bool(self.skipped))
        if table.empty:
            self.scatter.visible = self.bars.visible = False
            self.plots.objects = []
            self.curve_info.object = ""
            return
        colors = model_colors(list(table["model"]))
        self.scatter.param.update(object=scatter_figure(table, colors), visible=True)
        self.bars.param.update(object=stability_figure(table, colors), visible=True)
        self.plots.objects = [pn.pane.Bokeh(f, sizing_mode="stretch_width")
                              for f in curve_figures(good, colors)]
        failed = [c["error"] for c in self.curves.values() if "error" in c]
        waiting = len(self._pending)
        self.curve_info.object = " ".join(
            ([f"Reading the curves of {waiting} run{'s' if waiting != 1 else ''} ..."]
             if waiting else []) + [f"Curves not available: {e}" for e in failed])

    def _show_trajectory(self) -> None:
        future = self._open
        if future is None or not future.done():
            return
        self._open, row = None, self._opening
        if future.exception() is not None:
            self.view_info.object = ""
            notice(self.view_notice, f"Cannot open {row['cell']}: {future.exception()}")
            return
        s = future.result()
        frames = s["frames"]
        self.player.viewer.set_structure(frames[0], s["species"], s["names"], s["box"],
                                         bonds=s["bonds"])
        self.player.set_frames(frames)
        collapse = row.get("collapse_frame")
        frame = len(frames) - 1 if collapse is None else min(int(collapse), len(frames) - 1)
        self.player.frame = frame
        where = (f"collapse at frame {collapse} ({row.get('stability_ps', 0):.3g} ps)"
                 if row.get("collapsed") else "no collapse: the last frame")
        self.view_info.object = (f"**{row['cell']}**: frame {frame} of {len(frames)}, "
                                 f"{where}. Run `{row['run_id']}`.")

    # --- page -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop refreshing and stop the grid (also when the tab closes)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.grid is not None and self.grid.running:
            self.grid.stop(wait=False)
        self._worker.shutdown()

    def __panel__(self) -> pn.viewable.Viewable:
        grid = card("Benchmark grid", self.models, self.systems, self.n_seeds, self.n_frames,
                    self.scheduler, pn.Row(self.run_btn, self.stop_btn), self.run_notice)
        earlier = card("Earlier benchmarks", self.earlier,
                       pn.Row(self.load_btn, self.list_btn), self.load_notice)
        bench = pn.Column(
            self.progress, self.cells, self.skipped_md,
            pn.pane.Markdown("### Leaderboard", margin=(0, 10)), self.board,
            pn.GridBox(self.scatter, self.bars, ncols=2, sizing_mode="stretch_width"),
            self.curve_info, self.plots,
            pn.pane.Markdown("### Trajectory", margin=(0, 10)),
            pn.Row(self.open_btn), self.view_notice, self.view_info, self.player,
            sizing_mode="stretch_width")
        tabs = pn.Tabs(("Benchmark", bench), ("Runs", self.runs), sizing_mode="stretch_width")
        return dashboard_page("Benchmark force fields", [grid, earlier], [tabs])
