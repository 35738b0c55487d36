"""Floating-point precision of a run: which dtypes the kernel computes in, and the check that
float64 is really available.

JAX computes in float64 only when its process-wide ``jax_enable_x64`` flag is on; otherwise a
request for float64 is silently turned into float32 (with a one-time warning). The kernel never
sets that flag (no global state here): whoever starts the process does, once, before any work.
``import workbench`` does it (``workbench.jax_setup``); a script that uses ``kernels`` alone and
wants float64 calls ``jax.config.update("jax_enable_x64", True)`` at start-up.

With the flag on, float32 runs stay float32 as long as every array is created with an explicit
dtype (the kernel's convention: positions decide, ``jnp.zeros(n, R.dtype)``, never a bare
``jnp.zeros(n)``, which would be float64), so float32 and float64 runs can share one process.

jax_md sums energies with a float64 accumulator when 64-bit mode is on
(``util.high_precision_sum``, cast back to the input's dtype). In a float32 run of the runner
that is only the per-frame thermo (potential and kinetic energy every ``stride`` steps): the
forces never see it, as the compiled step has no float64 operation. Measured for the float32
``Simulation`` of 1,000 LJ atoms (Langevin, 4 frames x 50 steps per chunk, 2 shared CPU cores):
the same chunk compiled with 64-bit mode off and on, timed alternately in one process, ran at
246-255 and 236-244 steps/s at best (median 206-216 and 209-219): no difference beyond the
noise (~5 %) of the machine.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

FLOAT_DTYPES = ("float32", "float64")


class PrecisionError(RuntimeError):
    """float64 was asked for while JAX's 64-bit mode is off."""


def x64_enabled() -> bool:
    """Whether JAX's 64-bit mode (``jax_enable_x64``) is on in this process."""
    return bool(jax.config.jax_enable_x64)


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (``"float32"``, ``jnp.float64``, ``np.float32``, ...) as a numpy dtype, after
    checking that JAX can compute in it.

    Raises ``ValueError`` for anything but float32 / float64, and ``PrecisionError`` for float64
    while ``jax_enable_x64`` is off (JAX would silently compute in float32)."""
    dt = np.dtype(dtype)
    if dt.name not in FLOAT_DTYPES:
        raise ValueError(f"precision must be one of {FLOAT_DTYPES}, got {dt.name}")
    if dt == np.float64 and not x64_enabled():
        raise PrecisionError(
            "float64 was requested but JAX's 64-bit mode is off, so JAX would compute in "
            "float32. Enable it once at start-up, before any JAX work: "
            "jax.config.update('jax_enable_x64', True) (import workbench does this), or set "
            "the environment variable JAX_ENABLE_X64=1.")
    return dt
