"""``TrainSession``: the state behind the Train dashboard, usable headless. One dataset (made by
a reference-data recipe, read from a file, or one saved before), one training job on it, and
an MD run with the trained model, each a ``workbench.jobs.Job`` running in its own thread.

    s = TrainSession()
    s.generate("aspirin", n_frames=200)      # GenerationJob into paths.datasets_dir()
    s.update()                                # picks up the dataset once it is made
    s.train(architecture("schnet"), max_epochs=50)
    s.run_md(n_steps=2000)                    # Langevin MD with the best weights so far

``job`` is the running (or last) job, so one progress view follows generation, training and MD
in turn. Bad choices raise ``ValueError`` with a message fit for the page (a dataset without
forces, a cutoff longer than half the box, a structure with species the model lacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import param

from workbench import paths
from workbench.architectures import Architecture
from workbench.data import GENERATORS, load_dataset
from workbench.data.dataset import Dataset
from workbench.data.generate import generation_job
from workbench.jobs import Job
from workbench.mlff.training import Training
from workbench.simulation import Simulation
from workbench.simulation_setup import learned_simulation

#: dataset files the session lists and reads
DATA_SUFFIXES = (".npz", ".extxyz", ".xyz", ".traj")


def molecular_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes that make data in ASE units (the LJ fluids are in
    reduced units, which learned force fields do not take)."""
    return {n: g.description for n, g in GENERATORS.items() if not n.startswith("lj_")}


def saved_datasets(folder: Path | None = None) -> dict[str, Path]:
    """``{file name: path}`` of the datasets in ``folder`` (default ``paths.datasets_dir()``),
    newest first."""
    folder = folder or paths.datasets_dir()
    files = [p for p in folder.iterdir() if p.suffix in DATA_SUFFIXES and p.is_file()]
    return {p.name: p for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)}


class TrainSession(param.Parameterized):
    """Dataset, training and MD of one dashboard session (module docstring)."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.dataset: Dataset | None = None
        self.dataset_name = ""
        self.job: Job | None = None
        self.training: Training | None = None
        self.simulation: Simulation | None = None
        self._generation = None

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.status in ("running", "paused")

    def _check_idle(self) -> None:
        if self.busy:
            raise ValueError(f"wait for the current {self.job.unit} job to end, or stop it")

    # --- data -------------------------------------------------------------------------------
    def generate(self, recipe: str, n_frames: int = 200, seed: int = 0) -> Job:
        """Start making ``n_frames`` frames with ``recipe`` (``workbench.data.GENERATORS``)
        into the datasets folder; a file made before with the same settings is reused."""
        self._check_idle()
        if recipe not in molecular_recipes():
            raise ValueError(f"choose one of {sorted(molecular_recipes())}")
        out = paths.datasets_dir() / f"{recipe}-{int(n_frames)}-seed{int(seed)}.npz"
        job = generation_job(recipe, int(n_frames), out, seed=int(seed))
        self._generation, self.job = job, job
        job.start()
        return job

    def update(self) -> bool:
        """Take the generated dataset once its job has completed; True when it changed.
        ``ValueError`` (once) when the generation failed, with its message."""
        job = self._generation
        if job is not None and job.status == "failed":
            self._generation = None
            raise ValueError(f"generating the data failed: {job.message}")
        if job is None or job.status != "completed" or job.dataset is None:
            return False
        self._generation = None
        self.use(job.dataset, job.out.name)
        return True

    def load(self, path: str | Path, name: str | None = None) -> Dataset:
        """Read a dataset file or DeePMD folder (``workbench.data.load_dataset``);
        ``ValueError`` naming the problem."""
        self._check_idle()
        try:
            ds = load_dataset(path)
        except (OSError, KeyError) as exc:
            raise ValueError(f"could not read {Path(path).name}: {exc}") from None
        self.use(ds, name or Path(path).name)
        return ds

    def use(self, dataset: Dataset, name: str) -> None:
        """Train on ``dataset`` from now on; ``ValueError`` when it cannot train a force field
        (reduced units, no energies or no forces)."""
        if dataset.units != "ase":
            raise ValueError(f"{name} is in reduced LJ units; a learned force field needs ASE "
                             "units (Å, eV)")
        missing = [k for k in ("energies", "forces") if getattr(dataset, k) is None]
        if missing:
            raise ValueError(f"{name} has no {' and no '.join(missing)}: training needs both")
        self.dataset, self.dataset_name = dataset, name

    # --- training ---------------------------------------------------------------------------
    def train(self, arch: Architecture, **settings: Any) -> Training:
        """Start training ``arch`` on the dataset (``workbench.mlff.Training`` settings);
        ``ValueError`` for bad choices, raised before anything runs."""
        self._check_idle()
        if self.dataset is None:
            raise ValueError("choose or generate a dataset first")
        job = Training(architecture=arch, dataset=self.dataset,
                       run_name=settings.pop("run_name", "") or
                       f"{arch.label} on {self.dataset_name}", **settings)
        job.check()  # cheap: units, forces, cutoff against the box, split; the rest runs
        self.training = self.job = job
        job.start()
        return job

    def resume(self) -> Training:
        """Continue the last training from its checkpoint."""
        self._check_idle()
        if self.training is None or self.training.run_record is None:
            raise ValueError("nothing to resume: train first")
        job = Training.from_run(self.training.run_record, dataset=self.dataset)
        self.training = self.job = job
        job.start()
        return job

    def stop(self) -> None:
        """Stop the running job after its current chunk (training keeps its best weights)."""
        if self.job is not None:
            self.job.cancel()

    # --- MD with the model ------------------------------------------------------------------
    def run_md(self, n_steps: int = 2000, temperature: float = 300.0, timestep: float = 0.5,
               frame: int | None = None) -> Simulation:
        """Langevin MD (``temperature`` K, ``timestep`` fs, friction 0.01 / fs) with the best
        weights so far, from a frame of the dataset (default the last frame)."""
        self._check_idle()
        if self.training is None or self.training.epoch == 0:
            raise ValueError("train for at least one epoch first")
        atoms = self.dataset.to_ase()[-1 if frame is None else int(frame)]
        sim = learned_simulation(self.training.force_field, atoms,
                                 temperature=float(temperature), timestep=float(timestep),
                                 n_steps=int(n_steps), stride=max(1, int(n_steps) // 200))
        self.simulation = self.job = sim
        sim.start()
        return sim

    def close(self) -> None:
        """Stop what runs (session closed)."""
        for job in (self.job, self._generation):
            if job is not None:
                job.cancel()


def species_errors(metrics: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``[(symbol, force MAE, force RMSE)]`` (eV/Å) from evaluation metrics."""
    mae = metrics.get("force_mae_per_species", {}) or {}
    rmse = metrics.get("force_rmse_per_species", {}) or {}
    return [(s, float(mae[s]), float(rmse.get(s, np.nan))) for s in mae]
