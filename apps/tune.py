"""Tune: fit a pair potential to a target g(r) with sliders, DiffSim and IBI side by side."""

import panel as pn

from workbench.ui.tune import TuneDashboard

pn.extension(inline=True)
TuneDashboard().servable(title="Tune")
