"""The Tune dashboard: make or load a target g(r), move sliders and watch the simulated g(r)
follow, or let DiffSim (gradient steps through the simulation) and IBI fit it side by side.

``TuneDashboard`` renders a ``TuneSession`` (workbench.fit.session), which does all the work on
its own thread. One periodic callback per browser session redraws the plots when the session's
``version`` changes, so no Bokeh model is touched from the worker, and moves the sliders to the
parameters DiffSim has reached (a later slider move continues from the fit, never from stale
values). Closing the tab stops the session's work and its thread. Nothing runs when a page
opens: the user makes or loads a target first. A refused file or run is explained next to the
target widgets, and the message stays until the user acts again. A file may be in reduced
units or in Å and K (density in atoms/Å³ or g/cm³ with the species' elements); a state point
written in its name (``rdf_rho0.845_T1.0.dat``, ``argon_85K_d1.40gcc.csv``) fills the inputs as
a suggestion the user confirms by loading.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Range1d

from workbench.builders import SYSTEMS
from workbench.fit import TuneSession, target_from_run
from workbench.pair_families import family_info
from workbench.rdf_files import state_point_from_name
from workbench.registry import RunRegistry
from workbench.targets import TargetRDF
from workbench.ui.inputs import number_input, refused
from workbench.ui.layout import card, dashboard_page
from workbench.ui.plots import compact_legend, line_figure
from workbench.ui.serving import LocalViewer
from workbench.ui.sessions import close_with_session

REFRESH_MS = 100
COLORS = {"target": "black", "diffsim": "#0072B2", "ibi": "#D55E00", "reference": "black"}


def slider_range(default: float, positive: bool) -> tuple[float, float]:
    """A slider's range around a family's default value."""
    if default > 0:
        return (0.5 * default if positive else 0.0), 2.0 * default
    return -2.0, 2.0


class TuneDashboard(LocalViewer):
    """Target, sliders, Step/Fit/Stop/Save, live g(r), u(r) and loss curves."""

    def __init__(self, session: TuneSession | None = None, *, auto_target: bool = False,
                 **params):
        super().__init__(**params)
        self.session = session or TuneSession()
        self._drawn = -1
        self._syncing = False  # sliders being moved to the fit's parameters, not by the user
        self._build_target_widgets()
        self._build_fit_widgets()
        self._build_plots()
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.determined = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.progress = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width",
                                               bar_color="info")
        self._callback = pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS)
        close_with_session(self.close)
        if auto_target:
            self.make_target()

    # --- widgets -----------------------------------------------------------------------------
    def _build_target_widgets(self) -> None:
        self.source = pn.widgets.RadioButtonGroup(options=["Simulation", "File", "Stored run"],
                                                  value="Simulation", color="light")
        self.t_system = pn.widgets.Select(label="System", options=[
            n for n in SYSTEMS if n in ("lj_fluid", "binary_lj")], value="lj_fluid")
        self.t_density = number_input("Density (ρ*)", 0.7, (1e-6, None))
        self.t_temperature = number_input("Temperature (T*)", 1.2, (0.01, None))
        self.t_steps = number_input("Reference steps", 4000, (500, None), integer=True)
        for box in (self.t_density, self.t_temperature, self.t_steps):
            box.param.watch(lambda e: self._refresh_buttons(), "error")
        self.t_file = pn.widgets.FileInput(accept=".csv,.npz,.txt,.dat,.xvg")
        self.t_units = pn.widgets.RadioButtonGroup(
            options={"Reduced (σ, ε)": "lj", "Å and K": "ase"}, value="lj", color="light")
        self.t_density_unit = pn.widgets.RadioButtonGroup(
            options=["atoms/Å³", "g/cm³"], value="atoms/Å³", color="light")
        self.t_species = pn.widgets.TextInput(
            label="Elements (e.g. Ar, or O,H)",
            placeholder="Ar")
        self.hint = pn.pane.Alert("", alert_type="info", visible=False,
                                  sizing_mode="stretch_width")
        self.t_runs = pn.widgets.Select(label="Simulation run", options={})
        self.t_button = pn.widgets.Button(label="Make target", color="primary")
        self.t_button.on_click(lambda e: self.make_target())
        self.source.param.watch(self._on_source, "value")
        self.notice = pn.pane.Alert("", alert_type="danger", visible=False,
                                    sizing_mode="stretch_width")
        self.t_file.param.watch(self._on_file, "value")
        self.t_units.param.watch(lambda e: self._on_source(), "value")
        self.t_density_unit.param.watch(lambda e: self._on_source(), "value")

    def _on_file(self, event=None) -> None:
        """A new file: clear old messages and suggest the state point its name gives."""
        self._problem(None)
        found = state_point_from_name(self.t_file.filename or "")
        if "kelvin" in found or "mass_density" in found:
            self.t_units.value = "ase"
        if "mass_density" in found:
            self.t_density_unit.value = "g/cm³"
        if "density" in found:
            self.t_density.value = found["density"]
        if "temperature" in found:
            self.t_temperature.value = found["temperature"]
        unit = {"density": " g/cm³" if "mass_density" in found else "",
                "temperature": " K" if "kelvin" in found else ""}
        said = [f"{k} {found[k]:g}{unit[k]}" for k in unit if k in found]
        self.hint.object = (f"From the file name: {', '.join(said)}. Check the state point, "
                            "then load." if said else "")
        self.hint.visible = bool(said)
    def _problem(self, text: str | None) -> None:
        """Show ``text`` next to the target widgets until the user acts (None clears it)."""
        self.notice.object = text or ""
        self.notice.visible = bool(text)

    def _on_source(self, event=None) -> None:
        kind = self.source.value
        if event is not None:
            self._problem(None)
        self.t_system.visible = self.t_steps.visible = kind == "Simulation"
        self.t_file.visible = kind == "File"
        self.t_runs.visible = kind == "Stored run"
        self.t_density.visible = self.t_temperature.visible = kind != "Stored run"
        physical = kind == "File" and self.t_units.value == "ase"
        self.t_units.visible = kind == "File"
        self.t_density_unit.visible = self.t_species.visible = physical
        self.hint.visible = kind == "File" and bool(self.hint.object)
        self.t_density.label = (f"Density ({self.t_density_unit.value})" if physical
                                else "Density (ρ*)")
        self.t_temperature.label = "Temperature (K)" if physical else "Temperature (T*)"
        self.t_button.label = {"Simulation": "Make target", "File": "Load file",
                              "Stored run": "Use run"}[kind]
        if kind == "Stored run":
            self.t_runs.options = {f"{r.name} ({r.id})": r.id
                                   for r in RunRegistry().list(kind="simulation")}

    def _build_fit_widgets(self) -> None:
        s = self.session
        self.family = pn.widgets.Select(label="Family (DiffSim and sliders)",
                                        options=[f for f in ("lj", "mie", "morse", "yukawa",
                                                             "soft_sphere", "wca")],
                                        value=s.family)
        self.family.param.watch(self._on_family, "value")
        self.sliders = pn.Column(sizing_mode="stretch_width")
        self.methods = pn.widgets.CheckButtonGroup(options={"DiffSim": "diffsim", "IBI": "ibi"},
                                                   value=list(s.methods), color="light")
        self.methods.param.watch(lambda e: setattr(s, "methods", list(e.new)), "value")
        self.gradient = pn.widgets.Select(label="Gradient through the MD",
                                          options=["truncated", "full", "checkpoint"],
                                          value=s.gradient)
        self.iterations = number_input("Fit iterations", 20, (1, None), integer=True)
        self.iterations.param.watch(lambda e: self._refresh_buttons(), "error")
        self.step_btn = pn.widgets.Button(label="Step", color="primary")
        self.fit_btn = pn.widgets.Button(label="Fit", color="success")
        self.stop_btn = pn.widgets.Button(label="Stop", color="danger")
        self.save_btn = pn.widgets.Button(label="Save fits as runs", color="default")
        self.step_btn.on_click(lambda e: s.step())
        self.fit_btn.on_click(lambda e: s.fit(self.iterations.value))
        self.stop_btn.on_click(lambda e: s.stop())
        self.save_btn.on_click(lambda e: s.save())
        self._make_sliders()

    def _make_sliders(self) -> None:
        """One slider per family parameter (per species pair for a mixture)."""
        fam = family_info(self.family.value)
        target = self.session.target
        names = target.species_names if target is not None else ["A"]
        pairs = [(a, b) for a in range(len(names)) for b in range(a, len(names))]
        start = {**fam.defaults, **self.session.initial_params}
        widgets, self._slider_keys = [], []
        for pname, default in fam.defaults.items():
            lo, hi = slider_range(default, pname in fam.positive)
            for a, b in pairs:
                value = np.asarray(start[pname], float)
                value = float(value[a, b] if value.ndim == 2 else value)
                label = pname if len(pairs) == 1 else f"{pname} {names[a]}{names[b]}"
                w = pn.widgets.FloatSlider(label=label, start=lo, end=max(hi, 1.5 * value),
                                           value=value, step=(hi - lo) / 200,
                                           sizing_mode="stretch_width")
                w.param.watch(self._on_slider, "value_throttled")
                widgets.append(w)
                self._slider_keys.append((pname, a, b))
        self.sliders.objects = widgets

    def _slider_params(self) -> dict:
        target = self.session.target
        n = target.n_species if target is not None else 1
        out: dict = {}
        for w, (name, a, b) in zip(self.sliders.objects, self._slider_keys, strict=True):
            if n == 1:
                out[name] = w.value
            else:
                m = out.setdefault(name, np.ones((n, n)))
                m[a, b] = m[b, a] = w.value
        return out

    def _on_slider(self, event) -> None:
        if self.session.fits and not self._syncing:
            self.session.preview(self._slider_params())

    def _on_family(self, event) -> None:
        self.session.family = event.new
        self.session.initial_params = {}
        self._make_sliders()
        if self.session.target is not None:
            self.session.set_target(self.session.target, self.session.reference)

    # --- target ------------------------------------------------------------------------------
    def make_target(self) -> None:
        s = self.session
        s.gradient = self.gradient.value
        kind = self.source.value
        self._problem(None)
        if kind == "Simulation":
            s.make_target(self.t_system.value, temperature=self.t_temperature.value,
                          density=self.t_density.value, n_steps=self.t_steps.value)
        elif kind == "File":
            if not self.t_file.value:
                self._problem("Choose a file first (CSV r, g or .npz with r, g).")
                return
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / self.t_file.filename
                    path.write_bytes(self.t_file.value)
                    target = TargetRDF.from_file(path, **self._file_state_point())
                target.source = "; ".join([f"{self.t_file.filename} (read as {target.layout})",
                                           *target.notes])  # shown as "target: ..."
            except ValueError as exc:
                self._problem(f"**Could not read {self.t_file.filename}:** {exc}. The "
                              f"target is unchanged.")
                return
            s.set_target(target)
        else:
            if not self.t_runs.value:
                self._problem("No stored simulation runs yet: save one in Simulate.")
                return
            try:
                target = target_from_run(RunRegistry().get(self.t_runs.value),
                                         r_max=2.5, n_bins=100)
            except (ValueError, KeyError) as exc:
                self._problem(f"**Could not use the run:** {exc}. The target is unchanged.")
                return
            s.set_target(target)

    def _file_state_point(self) -> dict:
        """``TargetRDF.from_file`` arguments for the state point and units typed in."""
        if self.t_units.value == "lj":
            return {"density": self.t_density.value, "temperature": self.t_temperature.value}
        names = [n.strip() for n in self.t_species.value.split(",") if n.strip()]
        mass = self.t_density_unit.value == "g/cm³"
        return {"units": "ase", "temperature": self.t_temperature.value,
                "species_names": names or None,
                "mass_density" if mass else "density": self.t_density.value}

    # --- plots -------------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self.g_src = {k: ColumnDataSource({"r": [], "g": []}, name=f"g_{k}") for k in
                      ("target", "diffsim", "ibi")}
        self.u_src = {k: ColumnDataSource({"r": [], "u": []}) for k in
                      ("reference", "diffsim", "ibi")}
        self.h_src = {k: ColumnDataSource({"iteration": [], "error": [], "time": []})
                      for k in ("diffsim", "ibi")}
        label = {"target": "target", "diffsim": "DiffSim / sliders", "ibi": "IBI",
                 "reference": "reference"}
        self.fig_g = line_figure("g(r): simulated over target", "g(r)", "r")
        for k, src in self.g_src.items():
            self.fig_g.line("r", "g", source=src, color=COLORS[k], legend_label=label[k],
                            line_width=3 if k == "target" else 2,
                            line_alpha=0.5 if k == "target" else 1.0)
        self.fig_u = line_figure("Pair potential u(r)", "u(r)", "r")
        for k, src in self.u_src.items():
            self.fig_u.line("r", "u", source=src, color=COLORS[k], legend_label=label[k],
                            line_width=2, line_dash="dashed" if k == "reference" else "solid")
        self.fig_u.y_range = Range1d(-2.0, 3.0)
        self.fig_it = line_figure("Error against iteration", "∫|g - g_target| dr", "iteration")
        self.fig_t = line_figure("Error against wall time", "∫|g - g_target| dr", "seconds")
        for k, src in self.h_src.items():
            for fig, x in ((self.fig_it, "iteration"), (self.fig_t, "time")):
                fig.line(x, "error", source=src, color=COLORS[k], legend_label=label[k],
                         line_width=2)
                fig.scatter(x, "error", source=src, color=COLORS[k], size=4)
        for fig in (self.fig_g, self.fig_u, self.fig_it, self.fig_t):
            fig.height = 260
            compact_legend(fig, background_alpha=0.6)  # g -> 1, u -> 0: top right is empty
        self.plots = pn.GridBox(*(pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in
                                  (self.fig_g, self.fig_u, self.fig_it, self.fig_t)),
                                ncols=2, sizing_mode="stretch_width")

    def _refresh_buttons(self) -> None:
        """Busy: nothing new starts; a refused number: not the action that would use it."""
        busy = self.session.busy
        for w in (self.step_btn, self.save_btn, self.family):
            w.disabled = busy
        self.fit_btn.disabled = busy or refused(self.iterations)
        self.t_button.disabled = busy or refused(self.t_density, self.t_temperature, self.t_steps)

    def _refresh(self) -> None:
        s = self.session
        total = s.total
        self.progress.value = int(100 * s.done / total) if total else (0 if s.busy else 100)
        self.progress.bar_color = "danger" if s.status == "failed" else "info"
        text = {"running": "**Working:** ", "paused": "**Paused:** ",
                "failed": "**Failed:** "}.get(s.status, "")
        self.status.object = text + (s.message or "") if s.status != "idle" else (
            "Make a target first: a reference simulation (Simulation), a g(r) file (File) or a "
            "stored run, then move the sliders or press Step / Fit.")
        self._refresh_buttons()
        if s.version == self._drawn:
            return
        self._drawn = s.version
        if s.target is not None and len(self.sliders.objects) != self._n_sliders():
            self._make_sliders()
        self._sync_sliders()
        self.draw(s.snapshot)

    def _sync_sliders(self) -> None:
        """Move the sliders to DiffSim's current parameters (widening a range if needed)."""
        params = self.session.snapshot.get("params_diffsim")
        if not params:
            return
        self._syncing = True
        try:
            for w, (name, a, b) in zip(self.sliders.objects, self._slider_keys, strict=True):
                if name not in params:
                    continue
                v = np.asarray(params[name], float)
                v = float(v[a, b] if v.ndim == 2 else v)
                if not np.isfinite(v) or v == w.value:
                    continue
                w.start, w.end = min(w.start, v), max(w.end, v)
                w.value = v
        finally:
            self._syncing = False

    def _n_sliders(self) -> int:
        n = self.session.target.n_species
        return len(family_info(self.family.value).defaults) * n * (n + 1) // 2

    def draw(self, c: dict) -> None:
        """Put the session's curves into the plots (first species pair for u(r))."""
        if not c:
            return
        r = c["r"]
        for k, src in self.g_src.items():
            rows = c.get(f"g_{k}")
            src.data = ({"r": [], "g": []} if rows is None else
                        {"r": np.tile(r, len(rows)), "g": _joined(rows)})
        for k, src in self.u_src.items():
            u = c.get(f"u_{k}")
            src.data = {"r": c["r_u"] if u is not None else [], "u": [] if u is None else u}
        for k, src in self.h_src.items():
            src.data = c.get(f"history_{k}", {"iteration": [], "error": [], "time": []})
        self.determined.object = determination_text(c.get("convergence"))
        ref = c.get("u_reference", c.get("u_diffsim"))
        if ref is not None:
            low = float(np.min(ref))
            self.fig_u.y_range.start, self.fig_u.y_range.end = 1.3 * low, -2.0 * low + 0.5

    def close(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self.session.close()

    def __panel__(self) -> pn.viewable.Viewable:
        target_card = card("Target g(r)", self.source, self.t_system, self.t_file, self.t_runs,
                           self.t_units, self.hint, self.t_density_unit, self.t_density,
                           self.t_temperature, self.t_species, self.t_steps, self.t_button,
                           self.notice)
        slider_card = card("Parameters (sliders re-run the simulation)", self.family,
                           self.sliders)
        fit_card = card("Fit", self.methods, self.gradient, self.iterations,
                        pn.Row(self.step_btn, self.fit_btn, self.stop_btn), self.save_btn,
                        self.determined)
        self._on_source()
        return dashboard_page("Tune a pair potential", [target_card, slider_card, fit_card],
                              [self.status, self.progress, self.plots])


def determination_text(conv) -> str:
    """Markdown for DiffSim's convergence (``workbench.fit.convergence.Convergence`` or None):
    its answer with standard errors, and the combinations of fitted parameters (logarithms)
    the target determines, best first, with how much worse each is than the best."""
    if conv is None:
        return ""
    if not conv.converged:
        return (f"**DiffSim has not converged yet** ({conv.start + conv.n} iterations): its "
                "parameters still move; fit on to see what the target determines.")
    lines = [f"**DiffSim's answer**: the mean of iterations {conv.start + 1}-"
             f"{conv.start + conv.n} (~{conv.n_independent:.0f} independent)"]
    for label, mean, se in zip(conv.labels, conv.mean, conv.standard_error, strict=True):
        name = label.removeprefix("ln ")
        value, error = (np.exp(mean), np.exp(mean) * se) if label.startswith("ln ") else (
            mean, se)
        lines.append(f"- {name} = {value:.4g} ± {error:.2g}")
    lines += ["", "**What g(r) determines** (1 standard error; relative for logarithms):", "",
              "| combination | ± | |", "|---|---|---|"]
    directions = conv.directions()
    best = max(directions[0][1], 1e-300)
    for combination, se in directions:
        ordered = sorted(combination.items(), key=lambda kc: -abs(kc[1]))
        terms = " ".join(f"{'−' if c < 0 else '+'} {abs(c):.2f} {k}"
                         for k, c in ordered if abs(c) >= 0.005)
        worse = se / best
        how = "best" if worse < 1.5 else f"{'weakly, ' if worse > 5 else ''}{worse:.0f}x wider"
        lines.append(f"| {terms.removeprefix('+ ')} | {100 * se:.2g} % | {how} |")
    return "\n".join(lines)


def _joined(rows: np.ndarray) -> np.ndarray:
    """g rows (partials of a mixture) as one line, broken by NaN between rows."""
    joined = np.array(rows, float)
    if len(joined) > 1:
        joined[:, -1] = np.nan
    return joined.ravel()
