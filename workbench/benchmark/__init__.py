"""Score force fields by simulation, with the metrics of MDsim ("Forces are not enough", Fu et
al., TMLR 2023; github.com/kyonofx/MDsim): one small class per metric, in MDAnalysis's
``AnalysisBase`` shape (construct with the reference, ``run(trajectory)``, read ``.results``).

- ``BondStability``, ``RDFStability``: stable time of molecules and liquids (``stability``);
- ``HR``: h(r) and its MAE (``hr``); ``PartialRDF``: partial RDFs and their MAE (``rdf``);
- ``Diffusivity``: a species' diffusivity and its error (``diffusion``);
- ``FreeEnergy``: F(phi, psi), F(phi), F(psi) of alanine dipeptide and their MAE
  (``free_energy``); ``ForceError``: energy and force MAE on a test split (``forces``);
- ``score``: the set for a molecule or water, as ``workbench benchmark score`` prints it;
- ``Protocol``, ``PROTOCOLS``, ``get_protocol``: MDsim's simulation protocols (``protocols``);
- ``LiquidWatch``: MDsim's liquid criterion while a ``Simulation`` runs (``watch``);
- ``BenchmarkSystem``, ``BENCHMARK_SYSTEMS``: what is scored, with its reference (``systems``);
- ``BenchmarkGrid``, ``leaderboard``: models x systems x seeds on Dask (``grid``), one cell
  each (``cell.run_cell``).
"""

from workbench.benchmark.base import Metric, Results
from workbench.benchmark.diffusion import Diffusivity
from workbench.benchmark.forces import ForceError
from workbench.benchmark.free_energy import FreeEnergy
from workbench.benchmark.grid import BenchmarkGrid, leaderboard
from workbench.benchmark.hr import HR
from workbench.benchmark.protocols import PROTOCOLS, Protocol, get_protocol
from workbench.benchmark.rdf import PartialRDF
from workbench.benchmark.score import score
from workbench.benchmark.stability import BondStability, RDFStability
from workbench.benchmark.systems import (
    BENCHMARK_SYSTEMS,
    BenchmarkSystem,
    get_system,
    water_system,
)
from workbench.benchmark.trajectory import Trajectory, load_trajectory
from workbench.benchmark.watch import LiquidWatch

__all__ = ["BENCHMARK_SYSTEMS", "HR", "PROTOCOLS", "BenchmarkGrid", "BenchmarkSystem",
           "BondStability", "Diffusivity", "ForceError", "FreeEnergy", "LiquidWatch", "Metric",
           "PartialRDF", "Protocol", "RDFStability", "Results", "Trajectory", "get_protocol",
           "get_system", "leaderboard", "load_trajectory", "score", "water_system"]
