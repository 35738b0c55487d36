"""Backmap: CGVAE samples all-atom structures for CG frames, scored beside the linear map; the
whole coarse-graining loop with one button."""

from workbench.ui.backmap import BackmapDashboard
from workbench.ui.serving import offline_extension

offline_extension()  # first: every script and stylesheet from this server
BackmapDashboard().servable(title="Backmap")
