"""Score force fields by simulation, with the metrics of MDsim ("Forces are not enough", Fu et
al., TMLR 2023; github.com/kyonofx/MDsim): one small class per metric, in MDAnalysis's
``AnalysisBase`` shape (construct with the reference, ``run(trajectory)``, read ``.results``).

- ``BondStability``, ``RDFStability``: stable time of molecules and liquids (``stability``);
- ``HR``: h(r) and its MAE (``hr``); ``PartialRDF``: partial RDFs and their MAE (``rdf``);
- ``Diffusivity``: a species' diffusivity and its error (``diffusion``);
- ``FreeEnergy``: F(phi, psi), F(phi), F(psi) of alanine dipeptide and their MAE
  (``free_energy``); ``ForceError``: energy and force MAE on a test split (``forces``);
- ``score``: the set for a molecule or water, as ``workbench benchmark score`` prints it;
- ``Protocol``, ``PROTOCOLS``, ``get_protocol``: MDsim's simulation protocols (``protocols``).
"""

from workbench.benchmark.base import Metric, Results
from workbench.benchmark.diffusion import Diffusivity
from workbench.benchmark.forces import ForceError
from workbench.benchmark.free_energy import FreeEnergy
from workbench.benchmark.hr import HR
from workbench.benchmark.protocols import PROTOCOLS, Protocol, get_protocol
from workbench.benchmark.rdf import PartialRDF
from workbench.benchmark.score import score
from workbench.benchmark.stability import BondStability, RDFStability
from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["HR", "PROTOCOLS", "BondStability", "Diffusivity", "ForceError", "FreeEnergy",
           "Metric", "PartialRDF", "Protocol", "RDFStability", "Results", "Trajectory",
           "get_protocol", "load_trajectory", "score"]
