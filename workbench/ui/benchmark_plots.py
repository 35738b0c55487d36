"""The Benchmark dashboard's figures and leaderboard look: every model's curves over the
reference (h(r), F(phi), F(psi) of molecules; partial RDFs and the oxygen MSD of water), the
stability bars, the force-MAE-against-stability scatter (MDsim's point, Fu et al., TMLR 2023:
a low force error does not make a stable simulation), and the colours of the leaderboard.

Functions of finished values (``workbench.benchmark.curves.row_curves`` dicts, the leaderboard
``DataFrame``) that return Bokeh figures or a pandas ``Styler``; nothing here computes science.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, ScientificFormatter
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from workbench.ui.plots import compact_legend, line_figure

__all__ = ["COLUMN_TITLES", "HIGHER_IS_BETTER", "NUMBER", "curve_figures", "leaderboard_styles",
           "model_colors", "scatter_figure", "stability_figure", "style_leaderboard"]

REFERENCE_COLOR = "#222222"
NUMBER = ScientificFormatter(precision=3, nan_format="–")
"""Table cells of numbers: 4 significant digits, scientific below 1e-3 and above 1e5."""
#: leaderboard columns shown, with their titles (units)
COLUMN_TITLES = {"model": "Model", "system": "System", "n_seeds": "Seeds",
                 "force_mae": "Force MAE (eV/Å)", "energy_mae": "Energy MAE (eV)",
                 "stability_ps": "Stability (ps)", "hr_mae": "h(r) MAE",
                 "rdf_mae": "RDF MAE (Å)", "diffusivity_error": "D error (Å²/ps)",
                 "fes_phi_mae": "F(φ) MAE (kJ/mol)", "fes_psi_mae": "F(ψ) MAE (kJ/mol)",
                 "n_collapsed": "Collapsed", "n_errors": "Errors"}
HIGHER_IS_BETTER = {"stability_ps"}
METRICS = ("force_mae", "energy_mae", "stability_ps", "hr_mae", "rdf_mae",
           "diffusivity_error", "fes_phi_mae", "fes_psi_mae")
GOOD, BAD = np.array([198, 239, 206]), np.array([255, 199, 206])  # pale green, pale red


def model_colors(models: list[str]) -> dict[str, str]:
    """One Category10 colour per model, in the order given."""
    return {m: Category10_10[i % 10] for i, m in enumerate(dict.fromkeys(models))}


def _finite(y: Any) -> np.ndarray:
    """Floats with inf turned into NaN (a gap in the line)."""
    y = np.asarray(y, dtype=float)
    return np.where(np.isfinite(y), y, np.nan)


def _overlay(title: str, y_label: str, x_label: str, reference: tuple | None,
             lines: list[tuple[str, str, Any, Any]]) -> figure:
    """A figure with the reference (black, dashed) under one line per run (coloured by model;
    one legend entry per model)."""
    fig = line_figure(title, y_label, x_label, height=230)
    if reference is not None:
        fig.line(_finite(reference[0]), _finite(reference[1]), color=REFERENCE_COLOR,
                 line_dash="dashed", line_width=2, legend_label="reference")
    for model, color, x, y in lines:
        fig.line(_finite(x), _finite(y), color=color, line_width=1.5, alpha=0.85,
                 legend_label=model)
    compact_legend(fig)
    return fig


def curve_figures(curves: list[dict[str, Any]], colors: dict[str, str]) -> list[figure]:
    """Per system, every run's curves over the reference: h(r), F(phi), F(psi) for molecules;
    O-O, H-H, H-O RDFs and the oxygen MSD for water. Runs without a curve (collapsed at the
    start, too short) are left out of that figure."""
    figures = []
    by_system: dict[str, list[dict]] = {}
    for c in curves:
        by_system.setdefault(c["system"], []).append(c)
    for system, group in by_system.items():
        first = group[0]
        if first["kind"] == "molecule":
            figures.append(_overlay(
                f"h(r): {system}", "h(r) (1/Å)", "r (Å)",
                (first["hr"]["r"], first["hr"]["h_reference"]),
                [(c["model"], colors[c["model"]], c["hr"]["r"], c["hr"]["h"]) for c in group
                 if c["hr"]["h"] is not None]))
            with_fes = [c for c in group if c.get("fes") is not None]
            for angle, symbol in (("phi", "φ"), ("psi", "ψ")):
                if not with_fes:
                    break
                f0 = with_fes[0]["fes"]
                figures.append(fig := _overlay(
                    f"F({symbol}): {system}", "F (kJ/mol)", f"{symbol} (degrees)",
                    (f0["centres_deg"], f0[f"F_{angle}_reference"]),
                    [(c["model"], colors[c["model"]], c["fes"]["centres_deg"],
                      c["fes"][f"F_{angle}"]) for c in with_fes
                     if c["fes"][f"F_{angle}"] is not None]))
                fig.x_range.start, fig.x_range.end = -180.0, 180.0
            continue
        rdf = first["rdf"]
        for pair in rdf["g_reference"]:
            figures.append(_overlay(
                f"g {pair[0]}-{pair[1:]} (r): {system}", "g(r)", "r (Å)",
                (rdf["r"], rdf["g_reference"][pair]),
                [(c["model"], colors[c["model"]], c["rdf"]["r"], c["rdf"]["g"][pair])
                 for c in group if c["rdf"]["g"] is not None]))
        with_msd = [c for c in group if c.get("msd") is not None]
        if with_msd:
            m0 = with_msd[0]["msd"]
            figures.append(_overlay(
                f"MSD of O: {system}", "MSD (Å²)", "t (ps)",
                None if m0["msd_reference"] is None else (m0["t_reference_ps"],
                                                          m0["msd_reference"]),
                [(c["model"], colors[c["model"]], c["msd"]["t_ps"], c["msd"]["msd"])
                 for c in with_msd]))
    return figures


def _labels(table) -> list[str]:
    return [f"{m} | {s}" for m, s in zip(table["model"], table["system"], strict=True)]


def stability_figure(table, colors: dict[str, str]) -> figure:
    """Bars of the mean stability (ps) of each (model, system) of the leaderboard."""
    labels = _labels(table)
    fig = figure(title="Stability (mean over seeds)", height=max(160, 40 + 28 * len(labels)),
                 sizing_mode="stretch_width", y_range=FactorRange(*labels[::-1]),
                 x_axis_label="stable time (ps)", tools="save", toolbar_location=None)
    fig.title.text_font_size = "11pt"
    source = ColumnDataSource({"label": labels, "t": _finite(table["stability_ps"]),
                               "color": [colors[m] for m in table["model"]],
                               "collapsed": list(table["n_collapsed"]),
                               "seeds": list(table["n_seeds"])})
    fig.hbar(y="label", right="t", height=0.7, color="color", source=source)
    fig.x_range.start = 0
    fig.add_tools(HoverTool(tooltips=[("", "@label"), ("stability", "@t{0.00} ps"),
                                      ("collapsed", "@collapsed of @seeds")]))
    return fig


def scatter_figure(table, colors: dict[str, str]) -> figure:
    """Force MAE (eV/Å, log) against stability (ps) of each (model, system): MDsim's point
    at a glance. Models without a force MAE are left out."""
    keep = np.isfinite(np.asarray(table["force_mae"], float)) & (
        np.asarray(table["force_mae"], float) > 0)
    sub = table[keep]
    fig = figure(title="Force MAE against stability", height=260, sizing_mode="stretch_width",
                 x_axis_type="log", x_axis_label="force MAE (eV/Å)",
                 y_axis_label="stable time (ps)", tools="pan,wheel_zoom,reset,save")
    fig.title.text_font_size = "11pt"
    markers = ["circle", "square", "triangle", "diamond", "inverted_triangle"]
    systems = list(dict.fromkeys(sub["system"]))
    source = ColumnDataSource({
        "force": np.asarray(sub["force_mae"], float), "t": _finite(sub["stability_ps"]),
        "model": list(sub["model"]), "system": list(sub["system"]),
        "color": [colors[m] for m in sub["model"]],
        "marker": [markers[systems.index(s) % len(markers)] for s in sub["system"]],
        "legend": _labels(sub)})
    fig.scatter("force", "t", source=source, color="color", marker="marker", size=12,
                alpha=0.85, legend_field="legend")
    fig.add_tools(HoverTool(tooltips=[("", "@legend"), ("force MAE", "@force{0.000e} eV/Å"),
                                      ("stability", "@t{0.00} ps")]))
    compact_legend(fig, location="bottom_left")
    return fig


def _cell_colors(values: np.ndarray, higher_is_better: bool) -> list[str]:
    """Pale green (best) to pale red (worst) per finite value of one column; no colour for
    NaN or a column whose values are all equal."""
    finite = np.isfinite(values)
    out = [""] * len(values)
    if finite.sum() < 2:
        return out
    low, high = values[finite].min(), values[finite].max()
    if high <= low:
        return out
    for i, v in enumerate(values):
        if finite[i]:
            x = (v - low) / (high - low)
            x = 1.0 - x if higher_is_better else x  # 0: best
            r, g, b = (GOOD + x * (BAD - GOOD)).round().astype(int)
            out[i] = f"background-color: #{r:02x}{g:02x}{b:02x}"
    return out


def leaderboard_styles(frame) -> Any:
    """CSS per cell of a leaderboard ``DataFrame``: each metric column coloured from best
    (green) to worst (red) within each system (metrics compare only on the same system)."""
    import pandas as pd

    out = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if "system" not in frame:
        return out
    for column in (c for c in METRICS if c in frame.columns):
        for system in frame["system"].unique():
            rows = frame.index[np.asarray(frame["system"] == system)]
            values = np.asarray(frame.loc[rows, column], float)
            out.loc[rows, column] = _cell_colors(values, column in HIGHER_IS_BETTER)
    return out


def style_leaderboard(styler):
    """``styler`` (of a leaderboard) with ``leaderboard_styles`` applied."""
    return styler.apply(leaderboard_styles, axis=None)
