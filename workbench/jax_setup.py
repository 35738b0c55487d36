"""JAX configuration for interactive use, applied once when ``workbench`` is imported.

- 64-bit support (``jax_enable_x64``) is switched on here, at start-up, and never again: each
  job chooses its own precision (``Simulation.precision``, ``PairCalculator(dtype=...)``) and its
  arrays carry that dtype explicitly, so a float32 and a float64 job run side by side in one
  process (two sessions of one ``panel serve``) and neither changes the other. Flipping the flag
  mid-session would change every other session's computations; asking for float64 with it off
  would silently give float32 (``kernels.precision.float_dtype`` raises instead).
- The persistent compilation cache is on by default, in the user cache folder
  (``workbench.paths.cache_dir()/jax``), so a dashboard restarted or a slider moved in a new
  session does not pay XLA compilation again. ``MDWB_JAX_CACHE=0`` turns it off.
- One FutureWarning from a library is silenced, by its exact message: with 64-bit mode on,
  jax_md's sparse neighbour-list pruning (``partition.prune_neighbor_list_sparse``) scatters
  int64 counts into an int32 index array ("scatter inputs have incompatible types"), harmless
  for lists below 2^31 entries; users of free-space and learned-force-field MD would otherwise
  see it on every new system.
- ``jax_md.rigid_body``, which ``import jax_md`` loads though the workbench never uses it, is
  replaced before jax_md is first imported by a stand-in module that loads it, in full, on
  the first use of any of its names: its module body builds six example shapes with eager JAX
  calls, 3.6 s of the 6.7 s ``import workbench`` took (issue 14). (The standard library's
  ``importlib.util.LazyLoader`` cannot do it on Python 3.11: the import statement in jax_md's
  ``__init__`` touches the module's ``__spec__``, which loads it.)
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings

import jax

from workbench import paths


def enable_x64() -> None:
    """Turn on JAX's 64-bit mode for this process. Call at start-up only (``import workbench``
    does), before any JAX computation; float32 work is unaffected (module docstring)."""
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at the workbench cache folder; returns it."""
    if os.environ.get("MDWB_JAX_CACHE", "1") == "0":
        return None
    folder = paths.cache_dir() / "jax"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return str(folder)


class _Deferred(types.ModuleType):
    """A stand-in for a module that loads the real one on the first name asked of it."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        spec = importlib.util.spec_from_file_location(self.__name__, self.__file__)
        real = importlib.util.module_from_spec(spec)
        sys.modules[self.__name__] = real
        spec.loader.exec_module(real)
        package, _, child = self.__name__.rpartition(".")
        if package in sys.modules:
            setattr(sys.modules[package], child, real)
        self.__dict__.update(real.__dict__)  # for holders of this stand-in
        return getattr(real, attr)


def defer_jax_md_rigid_body() -> None:
    """Stand in for ``jax_md.rigid_body`` until it is used, if jax_md is not imported yet
    (module docstring)."""
    name = "jax_md.rigid_body"
    if "jax_md" in sys.modules or name in sys.modules:
        return
    package = importlib.util.find_spec("jax_md")  # finds, does not import
    if package is None or not package.submodule_search_locations:
        return
    stand_in = _Deferred(name)
    stand_in.__file__ = os.path.join(package.submodule_search_locations[0], "rigid_body.py")
    sys.modules[name] = stand_in


defer_jax_md_rigid_body()
enable_x64()  # on import: before any other workbench module builds an array
warnings.filterwarnings("ignore", message="scatter inputs have incompatible types",
                        category=FutureWarning)
