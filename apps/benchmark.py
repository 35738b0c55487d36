"""Benchmark: score force fields by simulation (stability, h(r), RDFs, diffusivity, F(phi, psi))
on a Dask grid, read the leaderboard and the curves, and compare runs of any kind."""

from workbench.ui.benchmark import BenchmarkDashboard
from workbench.ui.serving import offline_extension

offline_extension("tabulator")  # first: every script and stylesheet from this server
BenchmarkDashboard().servable(title="Benchmark")
