"""One cell of a benchmark grid: one model on one system with one seed, under the system's
protocol, watched for collapse, saved as a run and scored (MDsim's metrics, Fu et al., TMLR
2023). ``run_cell`` is what a Dask worker executes; it takes and returns plain values, so it
pickles to any worker, and writes its run to the registry folder it is given (a shared file
system on a real cluster).

The run is watched as it goes (``Simulation``): molecules by bond lengths (0.5 Å), water by
``LiquidWatch`` (1 ps windows of g(r) against the reference). A run the watch stops is saved
with every frame before the collapse, and its row says so: ``collapsed`` and ``stability_ps``
come from the watch when scoring the kept frames alone cannot see the collapse (a molecule's
first broken frame is not kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.benchmark.models import BenchmarkModel, force_errors
from workbench.benchmark.protocols import get_protocol
from workbench.benchmark.score import score
from workbench.benchmark.systems import get_system

__all__ = ["cell_key", "run_cell"]

DIFFUSIVITY_LAG_PS = 100.0
"""MDsim's lag for the diffusivity; a shorter protocol compares D at half its length."""
PROGRESS_TOPIC = "workbench-benchmark"
"""Dask event topic of per-cell progress (``{"cell", "done", "total", "status"}``)."""


def cell_key(cell: dict[str, Any]) -> str:
    """A cell's name: ``"<model label> | <system> | seed <seed>"``."""
    return f"{cell['model']['label']} | {cell['system']['name']} | seed {cell['seed']}"


def _dask_reporter():
    """Progress through the Dask worker's event log, or None outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return lambda message: worker.log_event(PROGRESS_TOPIC, message)


def run_cell(cell: dict[str, Any], runs_root: str, report=None) -> dict[str, Any]:
    """Simulate, save and score one cell.

    Args:
        cell: ``{"model": BenchmarkModel.to_dict(), "system": BenchmarkSystem.to_dict(),
            "seed": int, "n_frames": int or None (None: the full protocol), "precision"}``;
            the system's reference must exist already (``BenchmarkGrid`` makes it).
        runs_root: the run registry folder the simulation run is written to.
        report: ``report({"cell", "done", "total", "status"})`` after every chunk (default:
            the Dask worker's event log, when running on one).

    Returns:
        the row: ``cell``, ``model``, ``system``, ``seed``, ``run_id``, ``status`` and
        ``message`` of the simulation, the metrics of ``score`` for the system's kind (water's
        diffusivity at ``diffusivity_lag_ps``: MDsim's 100 ps, or half a shorter run),
        ``force_mae`` (eV/Å) and ``energy_mae`` (eV) on reference frames (None without
        forces), ``fes_phi_mae`` and ``fes_psi_mae`` (MDsim's F(phi), F(psi) MAE, kJ/mol x
        6.28), ``fes_mae`` (F(phi, psi), kJ/mol) and ``fes_coverage`` for systems with backbone
        dihedrals, ``wall_time_s``.
    """
    from workbench.benchmark.watch import LiquidWatch
    from workbench.registry import RunRegistry

    model = BenchmarkModel(cell["model"]["ref"], cell["model"]["label"],
                           None if cell["model"]["species"] is None
                           else tuple(cell["model"]["species"]))
    system = get_system(cell["system"])
    key = cell_key(cell)
    protocol = get_protocol(system.protocol)
    if cell.get("n_frames"):
        protocol = protocol.short(int(cell["n_frames"]))
    reference = system.reference_path()
    watch = ({"bond_tolerance": 0.5} if system.kind == "molecule" else
             {"watch": LiquidWatch(reference)})
    structure = system.structure()
    force_field = structure if model.classical else model.ref
    sim = protocol.simulation(force_field, None if model.classical else structure,
                              seed=int(cell["seed"]),
                              precision=cell.get("precision", "float32"), **watch)
    report = report or _dask_reporter()
    if report is not None:
        def progress() -> None:
            report({"cell": key, "done": sim.done, "total": sim.total, "status": sim.status})
        sim.attach(progress)
    sim.run(progress=False)
    registry = RunRegistry(runs_root)
    try:
        run = sim.save(registry, name=f"benchmark: {key}")
        lag_ps = min(DIFFUSIVITY_LAG_PS, 0.5 * protocol.simulated_ps)
        metrics = score(run.path, reference, system.kind, diffusivity_lag_ps=lag_ps)
        collapse_ps = sim.metrics()["collapse_time"]
        if collapse_ps is not None and not metrics["collapsed"]:
            metrics.update(collapsed=True, stability_ps=collapse_ps / 1000.0,
                           collapse_frame=metrics["n_frames"])
        forces = force_errors(model, system) or {}
        metrics.update(_free_energy(structure, run.path, reference, protocol.temperature_K))
        row = {"cell": key, "model": model.label, "model_ref": model.ref,
               "system": system.name, "kind": system.kind, "seed": int(cell["seed"]),
               "run_id": run.id, "status": sim.status, "message": sim.message,
               "protocol": protocol.name, "simulated_ps": sim.time / 1000.0,
               "diffusivity_lag_ps": lag_ps,
               "force_mae": forces.get("force_mae"), "energy_mae": forces.get("energy_mae"),
               "wall_time_s": sim.wall_time, **metrics}
        run.save_metrics({**sim.metrics(), "benchmark": row})
    finally:
        registry.close()
    if report is not None:
        report({"cell": key, "done": sim.total, "total": sim.total, "status": "scored"})
    return row


def _free_energy(structure: Any, run_path: Any, reference: str, temperature_K: float
                 ) -> dict[str, Any]:
    """MDsim's F(phi) and F(psi) MAE (kJ/mol x 6.28) and our F(phi, psi) MAE (kJ/mol) of a
    system with backbone dihedrals (alanine dipeptide; ``FreeEnergy`` on the frames the watch
    kept, all before any collapse); nothing for other systems."""
    forcefield = getattr(structure, "forcefield", None)
    indices = None if forcefield is None else forcefield.phi_psi_indices()
    if indices is None or not len(indices):
        return {}
    from workbench.benchmark.free_energy import FreeEnergy
    from workbench.benchmark.trajectory import CollapsedAtStart

    try:
        res = FreeEnergy(reference, indices, temperature_K).run(run_path).results
    except CollapsedAtStart:  # no frame kept: MDsim's inf
        return {"fes_phi_mae": None, "fes_psi_mae": None, "fes_mae": None,
                "fes_coverage": 0.0}
    number = (lambda x: float(x) if np.isfinite(x) else None)
    return {"fes_phi_mae": number(res["mae_phi"]), "fes_psi_mae": number(res["mae_psi"]),
            "fes_mae": number(res["mae_fes"]), "fes_coverage": float(res["coverage_fes"])}
