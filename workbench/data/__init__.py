"""Reference data: one dataset format (``Dataset``, a single ``.npz``), loaders for the public
formats (MD17 / rMD17 ``.npz``, extxyz, ASE ``.traj``, XTC / DCD with a topology), and
generators that make reference frames with real engines (OpenMM, GFN2-xTB through tblite, the
workbench's own LJ ``Simulation``), resumably and deterministically for a seed.

See ``dataset``, ``loaders``, ``generate`` and ``engines`` for the details.
"""

from workbench.data.dataset import Dataset
from workbench.data.generate import GENERATORS, generate, generate_openmm
from workbench.data.loaders import load_dataset

__all__ = ["GENERATORS", "Dataset", "generate", "generate_openmm", "load_dataset"]
