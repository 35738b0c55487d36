"""Train: fit a machine-learned force field to reference data and run MD with it."""

from workbench.ui.serving import offline_extension
from workbench.ui.train import TrainDashboard

offline_extension()  # first: every script and stylesheet from this server
TrainDashboard().servable(title="Train")
