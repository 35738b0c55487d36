"""Tune: fit a pair potential to a target g(r) with sliders, DiffSim and IBI side by side."""

from workbench.ui.serving import offline_extension
from workbench.ui.tune import TuneDashboard

offline_extension()  # first: every script and stylesheet from this server
TuneDashboard().servable(title="Tune")
