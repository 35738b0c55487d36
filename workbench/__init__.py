"""MD Workbench workflows and state: systems, simulations, runs. Headless; no widgets.

Importing the package turns on JAX's 64-bit support (each job then picks float32 or float64 for
itself) and its persistent compilation cache (``workbench.jax_setup``). The names below load
their modules (and jax-md, OpenMM, mlip behind them) on first use (PEP 562), so ``import
workbench`` and light modules such as ``workbench.registry`` start in about a second (issue 14).
"""

from importlib import import_module

from workbench import jax_setup  # first: 64-bit support before any array
from workbench.jax_setup import enable_compilation_cache

enable_compilation_cache()

_LAZY = {
    "SYSTEMS": "workbench.builders", "build_system": "workbench.builders",
    "register_system": "workbench.builders", "LearnedCalculator": "workbench.calculator",
    "PairCalculator": "workbench.calculator", "learned_system": "workbench.learned_system",
    "load_model": "workbench.learned_system", "PairPotential": "workbench.potential",
    "Simulation": "workbench.simulation", "System": "workbench.system",
}

__all__ = ["SYSTEMS", "LearnedCalculator", "PairCalculator", "PairPotential", "Simulation",
           "System", "build_system", "enable_compilation_cache", "jax_setup", "learned_system",
           "load_model", "register_system"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
