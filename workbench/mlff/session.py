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

from typing import Any

import numpy as np

from workbench.architectures import Architecture
from workbench.data.dataset import Dataset
from workbench.data.session import DataSession, molecular_recipes, saved_datasets
from workbench.mlff.training import Training
from workbench.simulation import Simulation
from workbench.simulation_setup import learned_simulation

__all__ = ["TrainSession", "molecular_recipes", "saved_datasets", "species_errors"]


class TrainSession(DataSession):
    """Dataset, training and MD of one dashboard session (module docstring)."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.training: Training | None = None
        self.simulation: Simulation | None = None

    def accept(self, dataset: Dataset, name: str) -> None:
        """``ValueError`` when ``dataset`` cannot train a force field (reduced units, no
        energies or no forces)."""
        if dataset.units != "ase":
            raise ValueError(f"{name} is in reduced LJ units; a learned force field needs ASE "
                             "units (Å, eV)")
        missing = [k for k in ("energies", "forces") if getattr(dataset, k) is None]
        if missing:
            raise ValueError(f"{name} has no {' and no '.join(missing)}: training needs both")

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


def species_errors(metrics: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``[(symbol, force MAE, force RMSE)]`` (eV/Å) from evaluation metrics."""
    mae = metrics.get("force_mae_per_species", {}) or {}
    rmse = metrics.get("force_rmse_per_species", {}) or {}
    return [(s, float(mae[s]), float(rmse.get(s, np.nan))) for s in mae]
