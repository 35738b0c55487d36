"""Simulate: run molecular dynamics of a built-in system and watch it live."""

import panel as pn

from workbench.ui.simulate import SimulateDashboard

pn.extension(inline=True)
SimulateDashboard().servable(title="Simulate")
