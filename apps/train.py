"""Train: fit a machine-learned force field to reference data and run MD with it."""

import panel as pn

from workbench.ui.train import TrainDashboard

pn.extension(inline=True)
TrainDashboard().servable(title="Train")
