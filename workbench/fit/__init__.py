"""Fitting pair potentials to target g(r): DiffSim and IBI (``PotentialFit``), the Tune
dashboard's session (``TuneSession``), targets made by simulations, and fit runs.

Modules, from the bottom: ``settings`` (what a fit is configured by), ``parameters``
(potential parameters <-> optimiser variables), ``points`` (the state points' boxes, kernels
and MD states; neighbour-list overflow through ``kernels.diffsim``), ``optimizers`` (Adam,
Gauss-Newton, IBI), ``persistence`` (fit runs), ``potential_fit`` (the ``PotentialFit`` job),
``targets`` (targets from simulations and runs), ``session`` (``TuneSession``).
"""

from workbench.fit.persistence import fitted_potential, load_fitted_params
from workbench.fit.potential_fit import PotentialFit
from workbench.fit.session import TuneSession
from workbench.fit.targets import (
    target_from_reference_system,
    target_from_run,
    target_from_simulation,
)

__all__ = ["PotentialFit", "TuneSession", "fitted_potential", "load_fitted_params",
           "target_from_reference_system", "target_from_run", "target_from_simulation"]
