"""Simulate: run molecular dynamics of a built-in system and watch it live."""

from workbench.ui.serving import offline_extension
from workbench.ui.simulate import SimulateDashboard

offline_extension()  # first: every script and stylesheet from this server
SimulateDashboard().servable(title="Simulate")
