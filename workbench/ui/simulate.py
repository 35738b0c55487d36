"""The Simulate dashboard: choose a system and its potential, press Start, watch it live.

``SimulateDashboard`` renders a ``SimulationSetup`` (the choices) and the ``Simulation`` it
builds. The simulation runs in its own thread, where its ``LiveAnalysis`` (``workbench.live``)
takes in every chunk and keeps the numbers the plots show: thermo in display units, the running
g(r), F(phi, psi). Everything the page shows is refreshed by one periodic callback on
the session's event loop (newest frame to the viewer, what the analysis has to the plots, status
and progress), so no Bokeh model is touched from the worker thread. Closing the tab stops the
simulation and its thread.

What the controls and plots show follows the system (``SimulationSetup.applicable``,
``workbench.analysis.observable_kind``): a pair fluid gets its potential's family, parameters
and cutoff, or a saved fit ("Potential source"), and a running g(r); a molecular system (water,
alanine dipeptide) hides the pair-potential widgets, labels every quantity in its units (K, fs,
eV, bar), draws its bonds with each molecule made whole across the periodic boundary, and plots
the intermolecular O-O, O-H and H-H RDFs (water) or a Ramachandran plot, F(phi, psi) / kT with
the newest frames as points (alanine dipeptide). In free space the pressure plot is left out.
A molecular system may instead be moved by a trained model ("Force field": the classical
force field, or a registered model run whose species cover the system's; the models left out
are named under the widget with the elements they lack). While a simulation runs, the setup's
live settings (``SimulationSetup.live_settings``) reach it;
the others wait for the next run.
"""

from __future__ import annotations

import io as _io
import tempfile
from collections import deque
from pathlib import Path

import numpy as np
import panel as pn
from bokeh.models import ColorBar, ColumnDataSource, FixedTicker, LinearColorMapper
from bokeh.palettes import Viridis256

from workbench import analysis, io
from workbench.live import LiveAnalysis
from workbench.simulation import Simulation
from workbench.simulation_setup import SimulationSetup
from workbench.ui.inputs import NumberInput
from workbench.ui.jobs import JobProgress
from workbench.ui.layout import dashboard_page
from workbench.ui.plots import compact_legend, line_figure
from workbench.ui.serving import LocalViewer
from workbench.ui.sessions import close_with_session
from workbench.ui.viewer import MoleculeViewer, TrajectoryPlayer, system_style

REFRESH_MS = 40  # viewer refresh period: up to 25 updates per second
PLOT_EVERY = 25  # plots every 25th refresh (1 s)
MAX_LAG_FRAMES = 12  # frames queued for the viewer beyond this are skipped (bounded latency)
RDF_BINS = 80
RAMA_BINS = 36  # 10 degree bins
RAMA_POINTS = 400  # newest (phi, psi) points drawn over the free-energy map
RAMA_SAMPLES = 50_000  # (phi, psi) samples kept for the map
FAMILY_LABEL = "family parameters"
CLASSICAL_LABEL = "classical force field"
#: setup parameters typed as numbers (``NumberInput``: bad input answered next to the box); the
#: rest get Panel's default widget for the parameter
NUMBERS = ("n_atoms", "density", "n_molecules", "r_cutoff", "timestep", "friction", "n_steps",
           "stride", "seed", "temperature")
CONTROLS = ["system", "n_atoms", "density", "n_molecules", "family", "r_cutoff", "cutoff_mode",
            "integrator", "temperature", "timestep", "friction", "n_steps", "stride", "seed",
            "watch_bonds"]


class SimulateDashboard(LocalViewer):
    """Controls, live 3D view, live plots, status, downloads and saving for one session."""

    def __init__(self, setup: SimulationSetup | None = None, **params):
        super().__init__(**params)
        self.setup = setup or SimulationSetup()
        self.sim: Simulation | None = None
        self.live: LiveAnalysis | None = None
        self._seen = self._plotted = self._ticks = self._thermo_seen = 0
        self._drawn = -1  # the analysis version drawn
        self._frames: deque = deque(maxlen=MAX_LAG_FRAMES)
        self._kind = "rdf"
        self._display_plan = None
        self._callback = None
        self._build_widgets()
        self._build_plots()
        self.player = TrajectoryPlayer(MoleculeViewer(height=460), max_frames=1000)
        self._preview()
        close_with_session(self.close)

    # --- widgets ------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        s = self.setup
        self.widgets = {}
        for name in CONTROLS:
            if name in NUMBERS:
                self.widgets[name] = NumberInput(s, name, sizing_mode="stretch_width")
                self.widgets[name].param.watch(lambda e: self._buttons(), "error")
            else:
                kind = pn.Param.widget_type(s.param[name])
                self.widgets[name] = kind.from_param(s.param[name], sizing_mode="stretch_width")
        self._problems: dict[str, str] = {}
        self.source = pn.widgets.Select(label="Potential source", sizing_mode="stretch_width")
        self.source.param.watch(self._on_source, "value")
        self.fit_note = pn.pane.Markdown("", visible=False, margin=(0, 10),
                                         styles={"font-size": "0.85em", "color": "#555"})
        self.model_select = pn.widgets.Select(label="Force field", sizing_mode="stretch_width")
        self.model_select.param.watch(self._on_model, "value")
        self.model_note = pn.pane.Markdown("", visible=False, margin=(0, 10),
                                           styles={"font-size": "0.85em", "color": "#555"})
        self.watch_liquid = pn.widgets.Checkbox(
            label="Stop when the liquid collapses (g(r), 1 ps windows)", value=False,
            sizing_mode="stretch_width")
        self.system_note = pn.pane.Markdown("", margin=(0, 10),
                                            styles={"font-size": "0.85em", "color": "#555"})
        w = self.widgets
        self.controls = pn.Column(
            w["system"], self.system_note, w["n_atoms"], w["density"], w["n_molecules"],
            self.model_select, self.model_note, self.source, self.fit_note, w["family"],
            w["r_cutoff"], w["cutoff_mode"],
            w["integrator"], w["temperature"], w["timestep"], w["friction"], w["n_steps"],
            w["stride"], w["seed"], w["watch_bonds"], self.watch_liquid,
            sizing_mode="stretch_width")
        self.param_box = pn.Column(sizing_mode="stretch_width")
        self.problem = pn.pane.Alert("", alert_type="danger", visible=False,
                                     sizing_mode="stretch_width")
        self.start_btn = pn.widgets.Button(label="Start", color="success")
        self.pause_btn = pn.widgets.Button(label="Pause", color="warning", disabled=True)
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger", disabled=True)
        self.reset_btn = pn.widgets.Button(label="Reset", color="default")
        self.save_btn = pn.widgets.Button(label="Save run", color="primary", disabled=True)
        self.progress = JobProgress(auto_refresh=False)  # refreshed by _status
        self.status = pn.pane.Markdown("Choose a system and press **Start**.",
                                       sizing_mode="stretch_width")
        self.dl_traj = pn.widgets.FileDownload(callback=self._extxyz, filename="trajectory.extxyz",
                                               label="Trajectory (extxyz)", disabled=True,
                                               color="light")
        self.dl_thermo = pn.widgets.FileDownload(callback=self._csv, filename="thermo.csv",
                                                 label="Thermo (CSV)", disabled=True,
                                                 color="light")
        self.start_btn.on_click(lambda e: self.start())
        self.pause_btn.on_click(lambda e: self.pause())
        self.stop_btn.on_click(lambda e: self.stop())
        self.reset_btn.on_click(lambda e: self.reset())
        self.save_btn.on_click(lambda e: self.save())
        s.param.watch(self._on_setup, [p for p in s.param if p != "name"])
        self.refresh_fits()
        self.refresh_models()
        self._potential_widgets()
        self._layout_controls()

    def refresh_models(self) -> None:
        """List the trained models that fit the chosen system in "Force field", and say under
        it which were left out and why (the dashboard loads, the system changes)."""
        s = self.setup
        try:
            offered, excluded = s.model_choices()
        except Exception:  # an unreadable registry or structure must not break the page
            offered, excluded = {}, {}
        options = {CLASSICAL_LABEL: "", **offered}
        if s.model_run and s.model_run not in options.values() and not s.molecular:
            s.model_run = ""  # a pair system: models do not apply
        if s.model_run and s.model_run not in options.values():
            options[f"model: {s.model_run}"] = s.model_run
        self.model_select.param.update(options=options, value=s.model_run)
        self.model_note.object = "<br>".join(
            f"Not offered: {label}: {why}." for label, why in excluded.items())
        self.model_note.visible = bool(excluded) and "model_run" in s.applicable()

    def _on_model(self, event) -> None:
        self.setup.model_run = event.new or ""

    def refresh_fits(self) -> None:
        """List the saved fit runs in "Potential source" (done when the dashboard loads)."""
        try:
            fits = self.setup.fitted_runs()
        except Exception:  # an unreadable registry must not break the page
            fits = {}
        options = {FAMILY_LABEL: "", **fits}
        if self.setup.fitted_run and self.setup.fitted_run not in options.values():
            options[f"fit: {self.setup.fitted_run}"] = self.setup.fitted_run
        self.source.param.update(options=options, value=self.setup.fitted_run)

    def _on_source(self, event) -> None:
        self.setup.fitted_run = event.new or ""

    def _layout_controls(self) -> None:
        """Show the widgets that apply to the choice, labelled in its units."""
        s = self.setup
        applicable = s.applicable()
        for name, widget in self.widgets.items():
            widget.visible = name in applicable
        self.source.visible = "fitted_run" in applicable
        self.model_select.visible = "model_run" in applicable
        self.model_note.visible = self.model_note.visible and "model_run" in applicable
        self.param_box.visible = "potential_params" in applicable
        self.watch_liquid.visible = s.system == "water"
        u = s.units()
        length = {"sigma": "σ"}.get(u.length, u.length)
        temp = {"T*": "ε/k_B"}.get(u.temperature, u.temperature)
        time = {"tau": "τ"}.get(u.time, u.time)
        labels = {"temperature": f"Temperature ({temp})", "timestep": f"Time step ({time})",
                  "friction": f"Friction (1/{time})", "r_cutoff": f"Cutoff ({length})",
                  "density": f"Density (atoms/{length}³)"}
        for name, label in labels.items():
            self.widgets[name].label = label
        entry = s.entry()
        note = entry.description
        if entry.molecular and s.model_run:
            note += ": its starting structure, moved by the chosen trained model."
        elif entry.molecular:
            note += ". Flexible bonds: keep the time step at 0.5 fs."
        self.system_note.object = note
        state = s.fit_state_point()
        self.fit_note.visible = bool(s.fitted_run) and not entry.molecular
        if state:
            self.fit_note.object = (f"Fitted to g(r) at T = {state.get('temperature')}, density "
                                    f"{state.get('density')} ({state.get('units', 'lj')} units).")
        else:
            self.fit_note.object = ""

    def _potential_widgets(self) -> None:
        """One number input per potential parameter (per species pair for mixtures)."""
        s = self.setup
        if s.molecular or s.fitted_run:
            self.param_box.objects = []
            return
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
                w = pn.widgets.FloatInput(label=label, value=v, step=0.05, width=110)
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
        if names & {"system", "family", "fitted_run"}:
            if names & {"system", "family"}:
                self.setup.potential_params = {}
            self._potential_widgets()
        if names & {"system", "fitted_run", "integrator", "model_run"}:
            self._layout_controls()
        if "fitted_run" in names and self.source.value != self.setup.fitted_run:
            self.refresh_fits()
        if names & {"system", "n_molecules"} or (
                "model_run" in names and self.model_select.value != self.setup.model_run):
            self.refresh_models()
        if self.sim is not None and self.sim.status in ("running", "paused"):
            self._check()
            if not names & set(self._problems):
                self.setup.apply_live(self.sim, names)  # the rest waits for the next run
            return
        self._preview()

    def _check(self) -> bool:
        """Show the setup's problems, each under its own box where it has a visible one."""
        self._problems = problems = self.setup.problems()
        rest = [text for name, text in problems.items()
                if not (isinstance(w := self.widgets.get(name), NumberInput) and w.visible)]
        for name, w in self.widgets.items():
            if isinstance(w, NumberInput):
                w.set_problem(problems.get(name, "") if w.visible else "")
        self._alert("<br>".join(rest))
        return not problems

    def _alert(self, text: str) -> None:
        self.problem.param.update(object=text, visible=bool(text))
        self._buttons()

    def _preview(self) -> None:
        """Show the starting structure of the current choice (no simulation yet)."""
        if not self._check():
            return
        try:
            sim = self.setup.build()
        except ValueError as exc:
            self._problems = {"build": str(exc)}
            self._alert(str(exc))
            return
        self._attach(sim)

    # --- plots --------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self.thermo_src = ColumnDataSource({k: [] for k in
                                            ("step", "kinetic", "potential", "total",
                                             "temperature", "pressure")})
        self.rdf_src = ColumnDataSource({"r": [], "g": []})
        self.water_src = ColumnDataSource({"r": [], "OO": [], "OH": [], "HH": []})
        self.rama_src = ColumnDataSource({"phi": [], "psi": []})
        self.fes_src = ColumnDataSource({"image": [np.full((RAMA_BINS, RAMA_BINS), np.nan)]})
        self.energy_fig = energy = line_figure("Energy per atom", "energy")
        for key, color in (("kinetic", "#D55E00"), ("potential", "#0072B2"),
                           ("total", "#009E73")):
            energy.line("step", key, source=self.thermo_src, color=color, legend_label=key,
                        line_width=2)
        compact_legend(energy)
        self.temp_fig = temp = line_figure("Temperature", "T")
        temp.line("step", "temperature", source=self.thermo_src, color="#CC79A7", line_width=2)
        self.pres_fig = pres = line_figure("Pressure", "P")
        pres.line("step", "pressure", source=self.thermo_src, color="#E69F00", line_width=2)
        rdf = line_figure("g(r), running average", "g(r)", "r")
        rdf.line("r", "g", source=self.rdf_src, color="#0072B2", line_width=2)
        water = line_figure("Intermolecular g(r), running average", "g(r)", "r (Å)")
        for key, color in (("OO", "#D55E00"), ("OH", "#0072B2"), ("HH", "#009E73")):
            water.line("r", key, source=self.water_src, color=color, line_width=2,
                       legend_label=f"{key[0]}-{key[1]}")
        compact_legend(water)
        rama = line_figure("Ramachandran: F(φ, ψ) / kT", "ψ (degrees)",
                       "φ (degrees)")
        rama.x_range.start = rama.y_range.start = -180
        rama.x_range.end = rama.y_range.end = 180
        rama.xaxis.ticker = rama.yaxis.ticker = FixedTicker(ticks=[-180, -90, 0, 90, 180])
        mapper = LinearColorMapper(palette=Viridis256, low=0, high=6, nan_color="white")
        rama.image("image", source=self.fes_src, x=-180, y=-180, dw=360, dh=360,
                   color_mapper=mapper)
        rama.scatter("phi", "psi", source=self.rama_src, size=4, color="#D55E00", alpha=0.7,
                     line_color=None)
        rama.add_layout(ColorBar(color_mapper=mapper, title="F / kT", width=8), "right")
        rama.height = 280
        self.observable_figs = {"rdf": rdf, "water_rdfs": water, "ramachandran": rama}
        self.plots = pn.GridBox(ncols=2, sizing_mode="stretch_width")
        self._panes = {name: pn.pane.Bokeh(f, sizing_mode="stretch_width") for name, f in
                       {"energy": energy, "temperature": temp, "pressure": pres,
                        **self.observable_figs}.items()}

    def _layout_plots(self, sim: Simulation) -> None:
        """The plots that fit the system, their axes labelled in its units."""
        s = sim.system
        self._kind = self.live.kind
        u = s.unit_system
        ase = u.name == "ase"
        self.energy_fig.yaxis.axis_label = f"energy per atom ({'eV' if ase else 'ε'})"
        self.temp_fig.yaxis.axis_label = f"T ({'K' if ase else 'ε/k_B'})"
        self.pres_fig.yaxis.axis_label = f"P ({u.pressure})" if ase else "P (ε/σ³)"
        for fig in (self.energy_fig, self.temp_fig, self.pres_fig):
            fig.xaxis.axis_label = "step" + (f" ({sim.timestep:g} fs each)" if ase else "")
        self.observable_figs["rdf"].xaxis.axis_label = "r (Å)" if ase else "r (σ)"
        names = ["energy", "temperature"] + (["pressure"] if s.periodic else [])
        if self._kind in self.observable_figs:
            names.append(self._kind)
        objects = [self._panes[n] for n in names]
        if [id(o) for o in self.plots.objects] != [id(o) for o in objects]:
            self.plots.objects = objects

    def _display(self, R: np.ndarray) -> np.ndarray:
        """Positions as the viewer shows them: molecules whole across the box (bonds), a
        molecule in free space kept centred where it started."""
        s = self.sim.system
        if s.bonds is None or not len(s.bonds):
            return R
        if not s.periodic:
            return R - R.mean(axis=0) + self._centre
        return analysis.make_whole(R, s.box, self._display_plan)

    # --- control ------------------------------------------------------------------------
    def _attach(self, sim: Simulation) -> None:
        self.close()
        self.sim = sim
        self.progress.job = sim
        s = sim.system
        self._display_plan = (analysis.whole_plan(s.n_atoms, s.bonds)
                              if s.bonds is not None and s.periodic else None)
        self._centre = s.positions.mean(axis=0)
        start = self._display(s.positions)
        self.player.viewer.set_structure(start, s.species, s.species_names, s.box,
                                         bonds=s.bonds, **system_style(s))
        self.player.set_frames(start[None])
        self._seen = self._plotted = self._thermo_seen = 0
        self._drawn = -1
        self._frames.clear()
        self.live = LiveAnalysis(sim, rdf_bins=RDF_BINS, ramachandran_bins=RAMA_BINS,
                                 ramachandran_points=RAMA_POINTS,
                                 ramachandran_samples=RAMA_SAMPLES,
                                 structure_interval=PLOT_EVERY * REFRESH_MS / 1000)
        self._layout_plots(sim)
        self.thermo_src.data = {k: [] for k in self.thermo_src.data}
        self.rdf_src.data = {"r": [], "g": []}
        self.water_src.data = {"r": [], "OO": [], "OH": [], "HH": []}
        self.rama_src.data = {"phi": [], "psi": []}
        self.fes_src.data = {"image": [np.full((RAMA_BINS, RAMA_BINS), np.nan)]}
        self._buttons()
        unit = s.unit_system.length
        if s.model is not None:
            where = (f"box {s.box[0]:.4g} {unit}" if s.periodic else "free space")
            run = f" (run `{s.model.run_id}`)" if s.model.run_id else ""
            text = (f"**{s.name}** moved by the learned force field {s.model.describe()}{run}: "
                    f"{s.n_atoms} atoms, {where}.")
        elif s.forcefield is not None:
            where = (f"box {s.box[0]:.4g} {unit}, cutoff {s.r_cutoff:.3g} {unit}" if s.periodic
                     else "free space")
            text = f"**{s.forcefield.description()}**: {s.n_atoms} atoms, {where}."
        else:
            text = (f"**{s.name}**: {s.n_atoms} atoms, box {s.box[0]:.3g} {unit}, density "
                    f"{s.density:.4g}")
            if self.setup.fitted_run:
                text += f", fitted {s.potential.family} potential ({self.setup.fitted_run})"
            text += "."
        self.status.object = text + " Press Start."
        if s.forcefield is not None or s.model is not None:  # compile while the user looks
            sim.warm_up(background=True)

    def start(self) -> None:
        if self.sim is None or self.sim.status in ("completed", "failed", "stopped"):
            self._preview()
            if self.sim is None:
                return
        if self.sim.status == "idle" and self.sim.step == 0:
            self.status.object = "Compiling the simulation kernel..."
            self.sim.watch = self._liquid_watch()
        self.sim.start()
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS)
        self._buttons()

    def _liquid_watch(self):
        """MDsim's liquid criterion against OpenMM SPC/Fw water of the same size (made with
        OpenMM the first time, about 20 s for 64 molecules, in the simulation's thread), when
        asked for; else None."""
        if not (self.watch_liquid.value and self.setup.system == "water"):
            return None
        from workbench.benchmark import LiquidWatch, water_system

        return LiquidWatch(water_system(self.setup.n_molecules))

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
        if self.live is not None:
            self.live.close()

    def save(self) -> None:
        if self.sim is None or not len(self.sim.trajectory):
            return
        run = self.sim.save()
        self.status.object += f"<br>Saved run `{run.id}` in `{run.path}`."

    def _buttons(self) -> None:
        status = self.sim.status if self.sim else "idle"
        active = status in ("running", "paused")
        typed = any(isinstance(w, NumberInput) and w.error for w in self.widgets.values())
        self.start_btn.disabled = active or bool(self._problems) or typed
        self.pause_btn.disabled = not active
        self.pause_btn.label = "Resume" if status == "paused" else "Pause"
        self.stop_btn.disabled = not active
        has_data = self.sim is not None and self.sim.step > 0
        self.save_btn.disabled = active or not has_data
        self.dl_traj.disabled = self.dl_thermo.disabled = not has_data
        for widget in (*self.widgets.values(), self.source, self.model_select):
            widget.disabled = active

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
            self.player.viewer.update_positions(self._display(self._frames.popleft()))
        done = sim.status not in ("running", "paused")
        if self._ticks % PLOT_EVERY == 0 or (done and not self._frames):
            # the chunks the analysis has taken in, so the plots agree with each other
            chunks = sim.chunks(self._plotted)[:max(0, self.live.n_chunks - self._plotted)]
            self._plot(chunks)
            self._plotted += len(chunks)
            self._status(sim)
            caught_up = self._plotted >= len(sim.chunks())
            if done and not self._frames and caught_up and self._callback is not None:
                self._callback.stop()
                self._callback = None

    def _plot(self, chunks) -> None:
        """Add the new frames to the player, and draw what the analysis has that is new: the
        thermo points (energies per atom, pressure in bar for ASE units) and the structural
        observable (running-average RDF(s), or the newest (phi, psi) over F(phi, psi))."""
        if chunks:
            frames = [f for c in chunks for f in c.positions]
            self.player.extend_frames([self._display(f) for f in frames], show=False)
        live = self.live
        if live.version == self._drawn:
            return
        self._drawn = live.version
        new = live.thermo(self._thermo_seen)
        if len(new["step"]):
            self._thermo_seen += len(new["step"])
            self.thermo_src.stream(new, rollover=5000)
        if self._kind == "rdf" and (rdf := live.rdf()) is not None:
            self.rdf_src.data = {"r": rdf["r"], "g": rdf["g"]}
        elif self._kind == "water_rdfs" and (g := live.water_rdfs()) is not None:
            self.water_src.data = {k: g[k] for k in ("r", "OO", "OH", "HH")}
        elif self._kind == "ramachandran" and (rama := live.ramachandran()) is not None:
            self.rama_src.data = {"phi": rama["phi"], "psi": rama["psi"]}
            self.fes_src.data = {"image": [rama["F"].T]}  # rows: psi, columns: phi

    def _status(self, sim: Simulation) -> None:
        """The job's progress and message (``JobProgress``) and the physics readouts."""
        self.progress.refresh()
        units = sim.system.unit_system
        readouts = []
        if sim.throughput:
            readouts.append(f"{sim.throughput / 1e6:.3f} M atom-steps/s")
        last = sim.chunks(-1)
        if last:
            digits = 1 if units.name == "ase" else 3
            readouts.append(f"T = {last[-1].thermo['temperature'][-1]:.{digits}f} "
                            f"{units.temperature}")
        if units.name == "ase":
            readouts.append(f"t = {sim.step * sim.timestep / 1000:.3f} ps")
        text = " | ".join(readouts)
        if self.live is not None and self.live.error:
            text += f"<br>Live analysis stopped: {self.live.error}"
        self.status.object = text
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
                                                       pbc=s.periodic, info_per_frame=info))

    def _csv(self) -> _io.BytesIO:
        traj = self.sim.trajectory
        return self._written(lambda p: io.write_thermo_csv(p, traj.thermo, steps=traj.steps))

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(self.start_btn, self.pause_btn, self.stop_btn, self.reset_btn,
                         sizing_mode="stretch_width")
        return dashboard_page("Simulate", [
            pn.pane.Markdown("### Setup"), self.controls, self.param_box, self.problem, buttons,
            self.progress, pn.Row(self.save_btn, self.dl_traj, self.dl_thermo)],
            [self.status, self.player, self.plots])
