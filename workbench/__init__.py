"""MD Workbench workflows and state: systems, simulations, runs. Headless; no widgets.

Importing the package turns on JAX's 64-bit support (each job then picks float32 or float64 for
itself) and its persistent compilation cache (``workbench.jax_setup``).
"""

from workbench import jax_setup  # noqa: F401  (first: 64-bit support before any array)
from workbench.builders import SYSTEMS, build_system, register_system
from workbench.calculator import LearnedCalculator, PairCalculator
from workbench.jax_setup import enable_compilation_cache
from workbench.learned_system import learned_system, load_model
from workbench.potential import PairPotential
from workbench.simulation import Simulation
from workbench.system import System

enable_compilation_cache()

__all__ = ["SYSTEMS", "LearnedCalculator", "PairCalculator", "PairPotential", "Simulation",
           "System", "build_system", "enable_compilation_cache", "learned_system", "load_model",
           "register_system"]
