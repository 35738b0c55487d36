"""Backmap CG structures to atoms: CGVAE (``cgvae``, Wang et al., ICML 2022), the linear and
Autograin-decoder baselines (``baselines``) and the metrics that score them alike
(``metrics``)."""

from workbench.backmap.baselines import LinearBackmapper
from workbench.backmap.cgvae import BackmapJob, Backmapper, CGVAESettings

__all__ = ["BackmapJob", "Backmapper", "CGVAESettings", "LinearBackmapper"]
