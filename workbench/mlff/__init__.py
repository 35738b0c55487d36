"""Machine-learned force fields: data splits and batches, training as a job, evaluation.

The model value (``workbench.learned.LearnedForceField``) and the architecture descriptions
(``workbench.architectures``) sit one layer below, so that systems and simulations can use a
trained model without importing this workflow.
"""

from workbench.mlff.checkpoint import read_curves
from workbench.mlff.evaluate import Evaluation, evaluate
from workbench.mlff.shifts import fit_shifts, species_counts
from workbench.mlff.training import RUN_KIND, Training

__all__ = ["RUN_KIND", "Evaluation", "Training", "evaluate", "fit_shifts", "read_curves",
           "species_counts"]
