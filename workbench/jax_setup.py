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
"""

from __future__ import annotations

import os
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


enable_x64()  # on import: before any other workbench module builds an array
warnings.filterwarnings("ignore", message="scatter inputs have incompatible types",
                        category=FutureWarning)
