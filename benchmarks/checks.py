"""What every benchmark prints and refuses (issue 14): the machine and the load average it ran
under, since other jobs change the figures, and no rate that is zero, negative or not a number
(a silent wrong figure, as the ``Simulation`` row's 0.000 once was)."""

from __future__ import annotations

import math
import os
import platform
import time

import numpy as np

__all__ = ["BenchmarkError", "checked", "load_average", "machine", "seconds_per_chunk"]


class BenchmarkError(RuntimeError):
    """A measured figure that cannot be right; the benchmark stops on it."""


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages and the number of cores, as one line."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def machine() -> str:
    """Python, JAX and its platform, and the load average, as one line for a benchmark's head."""
    import jax

    return (f"Python {platform.python_version()}, jax {jax.__version__} on "
            f"{jax.devices()[0].platform}; {load_average()}")


def checked(name: str, value: float) -> float:
    """``value`` if it is a finite positive number; otherwise raises :class:`BenchmarkError`
    naming ``name``."""
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise BenchmarkError(f"{name} measured {value!r}: a rate must be a positive number; "
                             "the run did not measure what it says (see above)")
    return value


def seconds_per_chunk(job) -> float:
    """Run ``job`` (a ``workbench.jobs.Job``) to the end; the mean seconds between its chunks
    (epochs, for a training), so the first one, which compiles, is left out."""
    ends = [time.perf_counter() for _ in job.irun()]
    return checked("seconds per chunk", float(np.mean(np.diff(ends))))
