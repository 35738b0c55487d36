"""Coarse grain: learn a mapping, fit the CG potential by force matching, run CG MD."""

from workbench.ui.coarse_grain import CoarseGrainDashboard
from workbench.ui.serving import offline_extension

offline_extension()  # first: every script and stylesheet from this server
CoarseGrainDashboard().servable(title="Coarse grain")
