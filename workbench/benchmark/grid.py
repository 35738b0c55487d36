"""``BenchmarkGrid``: models x systems x seeds, each cell simulated, saved and scored
(``cell.run_cell``), as a Dask graph: a ``distributed.LocalCluster`` on this machine by default,
or any scheduler address for a real cluster (``scheduler="tcp://host:8786"``; the workers must
see the runs folder and the references, e.g. on a shared file system).

    grid = BenchmarkGrid(models=["classical", train_run_id], systems=["water"], seeds=[0, 1],
                         n_frames=20)
    grid.run()                 # or grid.start() in the background, grid.stop()
    grid.leaderboard()         # one row per model and system, means over seeds

What it guarantees:

- Cells a model cannot run (no classical force field, elements it never saw) are skipped with
  the reason before anything starts (``skipped``); a grid where nothing can run is refused.
- References are made (``BenchmarkSystem.reference_path``) in this process, once, before the
  cells are sent out.
- A cell whose worker dies (killed, out of memory) is run again on another worker by Dask (up
  to ``distributed.scheduler.allowed-failures``, 3); a cell that raises is retried
  ``retries`` times, then recorded with status ``error`` and its message. The run a dead
  worker was writing is marked ``incomplete`` by the registry, never ``completed``.
- The grid is a run of kind ``benchmark``: after every finished cell its metrics (``rows``,
  ``skipped``) are rewritten atomically, so a reader sees every finished row and never half a
  row; a stopped grid keeps the rows it has.
- Progress: ``done`` of ``total`` cells, and per cell (``cells[key]``: ``status``, ``done``,
  ``total`` steps) from the workers' Dask events.

Written on Dask's futures (``Client.submit``, ``wait``, ``subscribe_topic``), the library
DESIGN.md names for job grids; nothing here schedules by hand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import param

from workbench.benchmark.cell import PROGRESS_TOPIC, cell_key, run_cell
from workbench.benchmark.models import CLASSICAL, BenchmarkModel
from workbench.benchmark.systems import get_system
from workbench.jobs import Job
from workbench.registry import RunRegistry

__all__ = ["BenchmarkGrid", "leaderboard"]

POLL_S = 0.25
"""Seconds between looks at the cells (and chances to stop)."""

#: leaderboard metric columns (units in ``leaderboard``)
METRIC_COLUMNS = ("force_mae", "energy_mae", "stability_ps", "hr_mae", "rdf_mae",
                  "diffusivity_error", "fes_phi_mae", "fes_psi_mae")


class BenchmarkGrid(Job):
    """A benchmark grid run as a job (module docstring); unit of work: the cell."""

    models = param.List(default=[CLASSICAL], doc="Force fields: 'classical' (each system's "
                        "own), model folders or run ids of learned models.")
    systems = param.List(default=["water"], doc="Systems: built-in names (BENCHMARK_SYSTEMS) "
                         "or BenchmarkSystem objects.")
    seeds = param.List(default=[0], item_type=int, doc="Seeds (velocities, thermostat).")
    n_frames = param.Integer(default=20, allow_None=True, bounds=(1, None),
                             doc="Frames per run: the protocol's short version; None: the "
                             "full protocol (hours; protocols module docstring).")
    precision = param.Selector(default="float32", objects=["float32", "float64"])
    scheduler = param.String(default=None, allow_None=True,
                             doc="Dask scheduler address; None: a LocalCluster here.")
    n_workers = param.Integer(default=None, allow_None=True, bounds=(1, None),
                              doc="LocalCluster workers (default: cores, at most the cells).")
    processes = param.Boolean(default=True, doc="LocalCluster workers in their own processes "
                              "(False: threads of this one).")
    retries = param.Integer(default=1, bounds=(0, None),
                            doc="Times a cell that raises is run again.")
    run_name = param.String(default="", doc="Name of the benchmark run.")

    def __init__(self, registry: RunRegistry | None = None, **params):
        super().__init__(unit="cell", **params)
        self.registry = registry or RunRegistry()
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.cells: dict[str, dict[str, Any]] = {}
        self._cells_lock = threading.Lock()

    # --- planning --------------------------------------------------------------------------
    def plan(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """``(cells, skipped)``: the cells to run (``run_cell``'s dicts) and the pairs left
        out with their reason. ``ValueError`` for an unknown system or model, no seeds, or
        nothing to run. Seed by seed, so the cells running at once are different models or
        systems and a later seed's cell finds their compiled code in JAX's persistent cache
        (Dask starts cells in the order they are submitted)."""
        if not self.models or not self.systems or not self.seeds:
            raise ValueError("a benchmark needs at least one model, one system and one seed")
        systems = [get_system(s) for s in self.systems]
        models = [BenchmarkModel.resolve(m, self.registry) for m in self.models]
        pairs, skipped = [], []
        for system in systems:
            elements = system.elements() if any(not m.classical for m in models) else set()
            for model in models:
                reason = model.refusal(system, elements)
                if reason:
                    skipped.append({"model": model.label, "system": system.name,
                                    "reason": reason})
                    continue
                pairs.append((model.to_dict(), system.to_dict()))
        cells = [{"model": model, "system": system, "seed": s, "n_frames": self.n_frames,
                  "precision": self.precision} for s in self.seeds for model, system in pairs]
        if not cells:
            raise ValueError("nothing to run: " + "; ".join(s["reason"] for s in skipped))
        return cells, skipped

    def config(self) -> dict[str, Any]:
        return {"models": [str(m) for m in self.models],
                "systems": [get_system(s).to_dict() for s in self.systems],
                "seeds": list(self.seeds), "n_frames": self.n_frames,
                "precision": self.precision, "scheduler": self.scheduler or "LocalCluster"}

    # --- the work --------------------------------------------------------------------------
    def _work(self) -> Iterator[None]:
        self._set(message="planning")
        cells, self.skipped = self.plan()
        self.rows = []
        self.cells = {cell_key(c): {"status": "pending", "done": 0, "total": None}
                      for c in cells}
        for system in {c["system"]["name"]: c["system"] for c in cells}.values():
            self._set(message=f"making the reference of {system['name']}")
            get_system(system).reference_path()
            yield
        self.record = self.registry.create("benchmark", self.config(), name=self.run_name)
        self.record.set_status("running")
        self._save()
        self._advance(0, total=len(cells), message="starting Dask workers")
        client, cluster = self._client(len(cells))
        futures = {}
        try:
            client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)
            futures = {client.submit(run_cell, c, str(self.registry.root), pure=False,
                                     retries=self.retries): c for c in cells}
            self._set(message=f"{len(cells)} cells on {self._describe(client)}")
            from distributed import as_completed

            finished = as_completed(futures)
            while not finished.is_empty():
                batch = finished.next_batch(block=False)
                for future in batch:
                    self._finish(futures[future], future)
                if not batch:
                    time.sleep(POLL_S)
                self._advance(len(self.rows))
                yield
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
            client.close()
            if cluster is not None:
                cluster.close()

    def _client(self, n_cells: int):
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                return Client(self.scheduler, timeout="10s"), None
            except OSError as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                 f"{exc}") from None
        n = self.n_workers or max(1, min(os.cpu_count() or 1, n_cells))
        env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
               "intra_op_parallelism_threads=1"} if n > 1 else {}
        options = {"env": env} if self.processes else {}
        # the scheduler's status page on a free local port: Dask serves one even when asked not
        # to (with thread workers), and 8787 may be taken
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=self.processes,
                               dashboard_address="127.0.0.1:0",
                               silence_logs=logging.ERROR, **options)
        return Client(cluster), cluster

    @staticmethod
    def _describe(client) -> str:
        n = len(client.scheduler_info().get("workers", {}))
        return f"{n} Dask worker{'s' if n != 1 else ''}"

    def _on_progress(self, event) -> None:
        message = event[1] if isinstance(event, tuple) else event
        with self._cells_lock:
            state = self.cells.get(message.get("cell"))
            if state is not None and state["status"] not in ("finished", "error"):
                state.update(status="running", done=message["done"], total=message["total"])

    def _finish(self, cell: dict[str, Any], future) -> None:
        key = cell_key(cell)
        try:
            row = future.result()
            status = "finished"
        except Exception as exc:  # recorded as the cell's result; the grid goes on
            row = {"cell": key, "model": cell["model"]["label"],
                   "system": cell["system"]["name"], "seed": cell["seed"], "status": "error",
                   "message": f"{type(exc).__name__}: {exc}"}
            status = "error"
        with self._cells_lock:
            self.cells[key]["status"] = status
        self.rows.append(row)
        self._save()

    def _save(self) -> None:
        self.record.save_metrics({"rows": self.rows, "skipped": self.skipped,
                                  "cells_done": len(self.rows),
                                  "cells_total": len(self.cells)})

    def _completed_message(self) -> str:
        errors = sum(r.get("status") == "error" for r in self.rows)
        return f"{len(self.rows)} cells scored" + (f", {errors} failed" if errors else "")

    def leaderboard(self):
        """``leaderboard(self.rows)``."""
        return leaderboard(self.rows)


def _row_metrics(row: dict[str, Any]) -> dict[str, float]:
    rdf = row.get("rdf_mae")
    out = {"force_mae": row.get("force_mae"), "energy_mae": row.get("energy_mae"),
           "stability_ps": row.get("stability_ps"), "hr_mae": row.get("hr_mae"),
           "rdf_mae": (None if not rdf or any(v is None for v in rdf.values())
                       else float(np.mean(list(rdf.values())))),
           "diffusivity_error": row.get("diffusivity_error"),
           "fes_phi_mae": row.get("fes_phi_mae"), "fes_psi_mae": row.get("fes_psi_mae")}
    return {k: np.nan if v is None else float(v) for k, v in out.items()}


def leaderboard(rows: list[dict[str, Any]]):
    """A pandas ``DataFrame``, one row per (model, system): the mean over seeds of force MAE
    (eV/Å), energy MAE (eV), stability (ps), h(r) MAE, RDF MAE (Å, mean over pairs),
    diffusivity error (Å^2/ps), MDsim's F(phi) and F(psi) MAE (kJ/mol x 6.28), with
    ``n_seeds``, ``n_collapsed`` and ``n_errors``. A metric a
    collapse left unmeasured is NaN in its seed, and the mean of the others (``n_collapsed``
    says how many). Sorted by system, then longest stability, then force MAE."""
    import pandas as pd

    records = []
    for row in rows:
        record = {"model": row["model"], "system": row["system"], "seed": row["seed"],
                  "collapsed": bool(row.get("collapsed", False)),
                  "error": row.get("status") == "error"}
        if not record["error"]:
            record.update(_row_metrics(row))
        records.append(record)
    columns = ["model", "system", "n_seeds", *METRIC_COLUMNS, "n_collapsed", "n_errors"]
    if not records:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame.from_records(records)
    for column in METRIC_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    grouped = frame.groupby(["model", "system"], sort=False)
    table = grouped[list(METRIC_COLUMNS)].mean()
    table["n_seeds"] = grouped["seed"].nunique()
    table["n_collapsed"] = grouped["collapsed"].sum().astype(int)
    table["n_errors"] = grouped["error"].sum().astype(int)
    table = table.reset_index()[columns]
    return table.sort_values(["system", "stability_ps", "force_mae"],
                             ascending=[True, False, True], ignore_index=True)
