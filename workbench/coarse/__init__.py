"""Coarse graining workflows: fit a CG potential to mapped all-atom forces by force matching
(MS-CG), and the fitted potential as a stored value. Mappings themselves are plain values in
``workbench.mapping``."""

from workbench.coarse.force_matching import ForceMatching, frame_pairs
from workbench.coarse.potential import CGPotential

__all__ = ["CGPotential", "ForceMatching", "frame_pairs"]
