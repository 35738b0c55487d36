"""JAX configuration for interactive use: the persistent compilation cache is on by default, in
the user cache folder (``workbench.paths.cache_dir()/jax``), so a dashboard restarted or a slider
moved in a new session does not pay XLA compilation again. ``MDWB_JAX_CACHE=0`` turns it off.
It also silences a warning jax_md triggers in every float32 run (see below)."""

from __future__ import annotations

import os
import warnings

import jax

from workbench import paths


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at the workbench cache folder; returns it."""
    if os.environ.get("MDWB_JAX_CACHE", "1") == "0":
        return None
    folder = paths.cache_dir() / "jax"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return str(folder)


# jax_md sums energies with a float64 accumulator even when x64 is off; JAX then warns, once per
# trace, that it truncates to float32, which is what float32 runs intend.
warnings.filterwarnings("ignore", message="Explicitly requested dtype float64",
                        category=UserWarning)
