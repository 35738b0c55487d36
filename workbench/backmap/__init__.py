"""Generative models of structure: backmap CG structures to atoms with CGVAE (``cgvae``, Wang
et al., ICML 2022) beside the linear and Autograin-decoder baselines (``baselines``), scored
alike (``metrics``), in the end-to-end loop (``pipeline``) and the dashboard's session
(``session``); conformers from a molecular graph with ConfVAE (``conformers``, Xu et al., ICML
2021) beside RDKit's ETKDG, on a GFN2-xTB conformer set made offline (``conformer_data``),
scored by COV and MAT (``conformer_metrics``)."""

from workbench.backmap.baselines import LinearBackmapper
from workbench.backmap.cgvae import BackmapJob, Backmapper, CGVAESettings
from workbench.backmap.conformers import ConformerGenerator, ConformerJob, ConfVAESettings

__all__ = ["BackmapJob", "Backmapper", "CGVAESettings", "ConfVAESettings", "ConformerGenerator",
           "ConformerJob", "LinearBackmapper"]
