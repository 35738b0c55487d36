"""MD Workbench workflows and state: systems, simulations, runs. Headless; no widgets.

Importing the package turns on JAX's persistent compilation cache (``workbench.jax_setup``).
"""

from workbench.jax_setup import enable_compilation_cache

enable_compilation_cache()

from workbench.builders import SYSTEMS, build_system, register_system  # noqa: E402
from workbench.potential import PairPotential  # noqa: E402
from workbench.simulation import Simulation  # noqa: E402
from workbench.system import System  # noqa: E402

__all__ = ["SYSTEMS", "PairPotential", "Simulation", "System", "build_system",
           "register_system", "enable_compilation_cache"]
