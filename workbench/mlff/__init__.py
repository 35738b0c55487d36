"""Machine-learned force fields: data splits and batches, training as a job, evaluation.

The model value (``workbench.learned.LearnedForceField``) and the architecture descriptions
(``workbench.architectures``) sit one layer below, so that systems and simulations can use a
trained model without importing this workflow.
"""
