"""Plot helpers shared by the dashboards: one look for every Bokeh figure (size, tools, title
font) and its legend."""

from __future__ import annotations

from bokeh.plotting import figure


def line_figure(title: str, y_label: str, x_label: str = "step", height: int = 210,
                y_axis_type: str = "linear") -> figure:
    """An empty figure that stretches to its container's width, with pan, zoom, reset and
    save tools and an 11 pt title (``y_axis_type="log"`` for errors over orders of
    magnitude)."""
    fig = figure(title=title, height=height, sizing_mode="stretch_width", x_axis_label=x_label,
                 y_axis_label=y_label, tools="pan,wheel_zoom,box_zoom,reset,save",
                 toolbar_location="right", y_axis_type=y_axis_type)
    fig.title.text_font_size = "11pt"
    return fig


def compact_legend(fig: figure, location: str = "top_right", background_alpha: float = 1.0
                   ) -> None:
    """Put ``fig``'s legend at ``location`` in 8 pt type (call after adding the lines)."""
    fig.legend.location = location
    fig.legend.label_text_font_size = "8pt"
    fig.legend.background_fill_alpha = background_alpha
