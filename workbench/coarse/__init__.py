"""Coarse graining workflows: learn a mapping with Autograin (a Gumbel-softmax auto-encoder),
fit a CG potential to mapped all-atom forces by force matching (MS-CG; splines by least squares
or a neural pair term by Adam), refine its pair term by
IBI against the mapped g(r), and the fitted potential as a stored value. Mappings themselves are
plain values in ``workbench.mapping``."""

from workbench.cg_potential import CGPotential
from workbench.coarse.autograin import (
    Autograin,
    AutograinJob,
    compare_rmsd,
    load_autograin,
    reconstruction_rmsd,
)
from workbench.coarse.force_matching import ForceMatching, frame_pairs
from workbench.coarse.neural import NeuralForceMatching
from workbench.coarse.refine import IBIRefinement

__all__ = ["Autograin", "AutograinJob", "CGPotential", "ForceMatching", "IBIRefinement",
           "NeuralForceMatching", "compare_rmsd", "frame_pairs", "load_autograin",
           "reconstruction_rmsd"]
