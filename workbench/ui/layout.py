"""The one page layout of every dashboard: a banner with its title over a fixed-width column of
cards (the inputs) beside a column that stretches (progress, views and plots)."""

from __future__ import annotations

import panel as pn

BANNER = {"background": "#0b4f6c", "color": "white", "padding": "10px 16px"}
SIDEBAR_WIDTH = 340


def card(title: str, *objects) -> pn.Card:
    """A titled card of the sidebar, always open, as wide as the sidebar."""
    return pn.Card(*objects, title=title, collapsible=False, sizing_mode="stretch_width")


def dashboard_page(title: str, sidebar: list, main: list) -> pn.Column:
    """``MD Workbench: <title>`` over the ``sidebar`` cards beside the ``main`` views."""
    header = pn.pane.HTML(f"<h2 style='margin:0'>MD Workbench: {title}</h2>", styles=BANNER,
                          sizing_mode="stretch_width")
    return pn.Column(header, pn.Row(pn.Column(*sidebar, width=SIDEBAR_WIDTH),
                                    pn.Column(*main, sizing_mode="stretch_width"),
                                    sizing_mode="stretch_width"),
                     sizing_mode="stretch_width")
