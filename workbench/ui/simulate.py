"""The Simulate dashboard: choose a system and its potential, press Start, watch it live.

``SimulateDashboard`` renders a ``SimulationSetup`` (the choices) and the ``Simulation`` it
builds. The simulation runs in its own thread; everything the page shows is refreshed by one
periodic callback on the session's event loop (newest frame to the viewer, thermo and RDF to the
plots, status and progress), so no Bokeh model is touched from the worker thread. Closing the
tab stops the simulation and its thread.
"""

from __future__ import annotations

import io as _io
import tempfile
from collections import deque
from pathlib import Path

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from workbench import io
from workbench.setup import SimulationSetup
from workbench.simulation import Simulation
from workbench.ui.viewer import MoleculeViewer, TrajectoryPlayer, system_style

REFRESH_MS = 40  # viewer refresh period: up to 25 updates per second
PLOT_EVERY = 5  # plots every 5th refresh (200 ms)
MAX_LAG_FRAMES = 12  # frames queued for the viewer beyond this are skipped (bounded latency)
RDF_BINS = 80


def rdf_numpy(R: np.ndarray, box: np.ndarray, r_max: float, n_bins: int,
              max_atoms: int = 600) -> np.ndarray:
    """Pair-distance histogram of one frame normalised to g(r) (minimum image; at most
    ``max_atoms`` reference atoms, so the cost stays a few ms on the UI thread)."""
    n = len(R)
    ref = R[:: max(1, n // max_atoms)]
    d = ref[:, None, :] - R[None, :, :]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1).ravel()
    counts, edges = np.histogram(r[(r > 1e-9) & (r < r_max)], bins=n_bins, range=(0, r_max))
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return counts / (len(ref) * shell * n / np.prod(box))


def _figure(title: str, y_label: str, x_label: str = "step") -> figure:
    fig = figure(title=title, height=210, sizing_mode="stretch_width", x_axis_label=x_label,
                 y_axis_label=y_label, tools="pan,wheel_zoom,box_zoom,reset,save",
                 toolbar_location="right")
    fig.title.text_font_size = "11pt"
    return fig


class SimulateDashboard(pn.viewable.Viewer):
    """Controls, live 3D view, live plots, status, downloads and saving for one session."""

    def __init__(self, setup: SimulationSetup | None = None, **params):
        super().__init__(**params)
        self.setup = setup or SimulationSetup()
        self.sim: Simulation | None = None
        self._seen = self._plotted = self._ticks = 0
        self._frames: deque = deque(maxlen=MAX_LAG_FRAMES)
        self._rdf_sum = np.zeros(RDF_BINS)
        self._rdf_count = 0
        self._callback = None
        self._build_widgets()
        self._build_plots()
        self.player = TrajectoryPlayer(MoleculeViewer(height=460), max_frames=1000)
        self._preview()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context:
            pn.state.on_session_destroyed(lambda ctx: self.close())

    # --- widgets ------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        s = self.setup
        self.controls = pn.Param(
            s, parameters=["system", "n_atoms", "density", "family", "r_cutoff", "cutoff_mode",
                           "integrator", "temperature", "timestep", "friction", "n_steps",
                           "stride", "seed"],
            widgets={"n_atoms": pn.widgets.IntInput, "density": pn.widgets.FloatInput,
                     "r_cutoff": pn.widgets.FloatInput, "timestep": pn.widgets.FloatInput,
                     "friction": pn.widgets.FloatInput, "n_steps": pn.widgets.IntInput,
                     "stride": pn.widgets.IntInput, "seed": pn.widgets.IntInput,
                     "temperature": pn.widgets.FloatInput},
            show_name=False, sizing_mode="stretch_width")
        self.param_box = pn.Column(sizing_mode="stretch_width")
        self.problem = pn.pane.Alert("", alert_type="danger", visible=False,
                                     sizing_mode="stretch_width")
        self.start_btn = pn.widgets.Button(name="Start", button_type="success")
        self.pause_btn = pn.widgets.Button(name="Pause", button_type="warning", disabled=True)
        self.stop_btn = pn.widgets.Button(name="Stop", button_type="danger", disabled=True)
        self.reset_btn = pn.widgets.Button(name="Reset", button_type="default")
        self.save_btn = pn.widgets.Button(name="Save run", button_type="primary", disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, sizing_mode="stretch_width",
                                               bar_color="info")
        self.status = pn.pane.Markdown("Choose a system and press **Start**.",
                                       sizing_mode="stretch_width")
        self.dl_traj = pn.widgets.FileDownload(callback=self._extxyz, filename="trajectory.extxyz",
                                               label="Trajectory (extxyz)", disabled=True,
                                               button_type="light")
        self.dl_thermo = pn.widgets.FileDownload(callback=self._csv, filename="thermo.csv",
                                                 label="Thermo (CSV)", disabled=True,
                                                 button_type="light")
        self.start_btn.on_click(lambda e: self.start())
        self.pause_btn.on_click(lambda e: self.pause())
        self.stop_btn.on_click(lambda e: self.stop())
        self.reset_btn.on_click(lambda e: self.reset())
        self.save_btn.on_click(lambda e: self.save())
        s.param.watch(self._on_setup, [p for p in s.param if p != "name"])
        self._potential_widgets()

    def _potential_widgets(self) -> None:
        """One number input per potential parameter (per species pair for mixtures)."""
        s = self.setup
        names = s.species_names()
        try:
            current = s.potential().full_params(len(names))
        except ValueError:
            current = {}
        widgets = []
        for key, value in current.items():
            value = np.asarray(value, dtype=float)
            pairs = ([(a, b) for i, a in enumerate(names) for b in names[i:]] if value.ndim
                     else [None])
            for pair in pairs:
                label = key if pair is None else f"{key} {pair[0]}{pair[1]}"
                v = float(value) if pair is None else float(
                    value[names.index(pair[0]), names.index(pair[1])])
                w = pn.widgets.FloatInput(name=label, value=v, step=0.05, width=110)
                w.param.watch(lambda e, k=key, p=pair: self._set_param(k, p, e.new), "value")
                widgets.append(w)
        self.param_box.objects = [pn.pane.Markdown("**Potential parameters**", margin=(0, 5)),
                                  pn.FlexBox(*widgets)]

    def _set_param(self, key: str, pair, value: float) -> None:
        pp = dict(self.setup.potential_params)
        if pair is None:
            pp[key] = value
        else:
            pp[key] = {**pp.get(key, {}), f"{pair[0]}{pair[1]}": value}
        self.setup.potential_params = pp

    def _on_setup(self, *events) -> None:
        names = {e.name for e in events}
        if names & {"system", "family"}:
            self.setup.potential_params = {}
            self._potential_widgets()
        if self.sim is not None and self.sim.status in ("running", "paused"):
            live = {"temperature", "timestep"}  # runtime knobs: applied without restarting
            for name in names & live:
                setattr(self.sim, name, getattr(self.setup, name))
            return
        self._preview()

    def _check(self) -> bool:
        problems = self.setup.problems()
        self.problem.object = "<br>".join(problems.values())
        self.problem.visible = bool(problems)
        self.start_btn.disabled = bool(problems)
        return not problems

    def _preview(self) -> None:
        """Show the starting structure of the current choice (no simulation yet)."""
        if not self._check():
            return
        try:
            sim = self.setup.build()
        except ValueError as exc:
            self.problem.param.update(object=str(exc), visible=True)
            self.start_btn.disabled = True
            return
        self._attach(sim)

    # --- plots --------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self.thermo_src = ColumnDataSource({k: [] for k in
                                            ("step", "kinetic", "potential", "total",
                                             "temperature", "pressure")})
        self.rdf_src = ColumnDataSource({"r": [], "g": []})
        energy = _figure("Energy per atom", "energy")
        for key, color in (("kinetic", "#D55E00"), ("potential", "#0072B2"),
                           ("total", "#009E73")):
            energy.line("step", key, source=self.thermo_src, color=color, legend_label=key,
                        line_width=2)
        energy.legend.location = "top_right"
        energy.legend.label_text_font_size = "8pt"
        temp = _figure("Temperature", "T")
        temp.line("step", "temperature", source=self.thermo_src, color="#CC79A7", line_width=2)
        pres = _figure("Pressure", "P")
        pres.line("step", "pressure", source=self.thermo_src, color="#E69F00", line_width=2)
        rdf = _figure("Radial distribution function (running average)", "g(r)", "r")
        rdf.line("r", "g", source=self.rdf_src, color="#0072B2", line_width=2)
        self.plots = pn.GridBox(*(pn.pane.Bokeh(f, sizing_mode="stretch_width")
                                  for f in (energy, temp, pres, rdf)),
                                ncols=2, sizing_mode="stretch_width")

    # --- control ------------------------------------------------------------------------
    def _attach(self, sim: Simulation) -> None:
        self.close()
        self.sim = sim
        s = sim.system
        self.player.viewer.set_structure(s.positions, s.species, s.species_names, s.box,
                                         bonds=s.bonds, **system_style(s))
        self.player.set_frames(s.positions[None])
        self._seen = self._plotted = 0
        self._frames.clear()
        self._rdf_sum[:] = 0
        self._rdf_count = 0
        self.thermo_src.data = {k: [] for k in self.thermo_src.data}
        self.rdf_src.data = {"r": [], "g": []}
        self._buttons()
        self.status.object = (f"**{s.name}**: {s.n_atoms} atoms, box {s.box[0]:.3g} "
                              f"{s.unit_system.length}, density {s.density:.4g}. Press Start.")

    def start(self) -> None:
        if self.sim is None or self.sim.status in ("completed", "failed", "stopped"):
            self._preview()
            if self.sim is None:
                return
        self.sim.start()
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS)
        self._buttons()

    def pause(self) -> None:
        if self.sim is not None:
            self.sim.pause() if self.sim.status == "running" else self.sim.resume()
            self._buttons()

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop(wait=False)

    def reset(self) -> None:
        self.close()
        self._preview()

    def close(self) -> None:
        """Stop the refresh callback and the simulation (also on session end). Its thread ends
        after the chunk in flight; the event loop does not wait for it."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.sim is not None:
            self.sim.stop(wait=False)

    def save(self) -> None:
        if self.sim is None or not len(self.sim.trajectory):
            return
        run = self.sim.save()
        self.status.object += f"<br>Saved run `{run.id}` in `{run.path}`."

    def _buttons(self) -> None:
        status = self.sim.status if self.sim else "idle"
        active = status in ("running", "paused")
        self.start_btn.disabled = active or self.problem.visible
        self.pause_btn.disabled = not active
        self.pause_btn.name = "Resume" if status == "paused" else "Pause"
        self.stop_btn.disabled = not active
        has_data = self.sim is not None and self.sim.step > 0
        self.save_btn.disabled = active or not has_data
        self.dl_traj.disabled = self.dl_thermo.disabled = not has_data
        self.controls.disabled = active

    # --- refresh (event loop) -----------------------------------------------------------
    def _refresh(self) -> None:
        """One tick: the next queued frame to the viewer; every few ticks, the plots."""
        sim = self.sim
        if sim is None:
            return
        self._ticks += 1
        for chunk in sim.chunks(self._seen):
            self._frames.extend(chunk.positions)
            self._seen += 1
        if self._frames:  # one Bokeh change per tick: the positions
            self.player.viewer.update_positions(self._frames.popleft())
        done = sim.status not in ("running", "paused")
        if self._ticks % PLOT_EVERY == 0 or (done and not self._frames):
            chunks = sim.chunks(self._plotted)
            self._plotted += len(chunks)
            self._plot(chunks)
            self._status(sim)
            if done and not self._frames and self._callback is not None:
                self._callback.stop()
                self._callback = None

    def _plot(self, chunks) -> None:
        """Stream the new thermo points (energies per atom) and add the newest frame to the
        running-average RDF."""
        if not chunks:
            return
        sim = self.sim
        n = sim.system.n_atoms
        data = {"step": np.concatenate([c.steps for c in chunks])}
        for key in ("kinetic", "potential", "total"):
            data[key] = np.concatenate([c.thermo[key] for c in chunks]) / n
        for key in ("temperature", "pressure"):
            data[key] = np.concatenate([c.thermo[key] for c in chunks])
        self.thermo_src.stream(data, rollover=5000)
        self.player.extend_frames([f for c in chunks for f in c.positions], show=False)
        r_max = min(0.5 * float(np.min(sim.system.box)), 3.0 * sim.system.potential.r_cutoff)
        self._rdf_sum += rdf_numpy(chunks[-1].positions[-1], sim.system.box, r_max, RDF_BINS)
        self._rdf_count += 1
        edges = np.linspace(0, r_max, RDF_BINS + 1)
        self.rdf_src.data = {"r": 0.5 * (edges[1:] + edges[:-1]),
                             "g": self._rdf_sum / self._rdf_count}

    def _status(self, sim: Simulation) -> None:
        self.progress.value = int(1000 * sim.progress)
        units = sim.system.unit_system
        state = {"running": "Running", "paused": "Paused", "completed": "Completed",
                 "stopped": "Stopped", "failed": "Failed", "idle": "Ready"}[sim.status]
        text = f"**{state}** step {sim.step:,} / {sim.n_steps:,}"
        if sim.throughput:
            text += f" | {sim.throughput / 1e6:.3f} M atom-steps/s"
        last = sim.chunks(-1)
        if last:
            text += f" | T = {last[-1].thermo['temperature'][-1]:.3f} {units.temperature}"
        if sim.message:
            text += f"<br>{sim.message}"
        self.status.object = text
        self.progress.bar_color = {"failed": "danger", "completed": "success"}.get(sim.status,
                                                                                    "info")
        self._buttons()

    # --- downloads and layout -----------------------------------------------------------
    def _written(self, write) -> _io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "out"
            write(path)
            return _io.BytesIO(path.read_bytes())

    def _extxyz(self) -> _io.BytesIO:
        traj, s = self.sim.trajectory, self.sim.system
        names = [s.species_names[i] for i in s.species]
        info = [{"step": int(st)} for st in traj.steps]
        return self._written(lambda p: io.write_extxyz(p, traj.positions, names, s.box,
                                                       info_per_frame=info))

    def _csv(self) -> _io.BytesIO:
        traj = self.sim.trajectory
        return self._written(lambda p: io.write_thermo_csv(p, traj.thermo, steps=traj.steps))

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(self.start_btn, self.pause_btn, self.stop_btn, self.reset_btn,
                         sizing_mode="stretch_width")
        sidebar = pn.Column(
            pn.pane.Markdown("### Setup"), self.controls, self.param_box, self.problem, buttons,
            self.progress, pn.Row(self.save_btn, self.dl_traj, self.dl_thermo), width=340)
        main = pn.Column(self.status, self.player, self.plots, sizing_mode="stretch_width")
        header = pn.pane.HTML(
            "<h2 style='margin:0'>MD Workbench: Simulate</h2>", styles={
                "background": "#0b4f6c", "color": "white", "padding": "10px 16px"},
            sizing_mode="stretch_width")
        return pn.Column(header, pn.Row(sidebar, main, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
