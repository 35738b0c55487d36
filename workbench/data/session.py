"""``DataSession``: the dataset half of a dashboard's state, usable headless. One dataset, made
by a reference-data recipe, read from a file, or saved before, and the job that is running
(generation first; subclasses add their own jobs, e.g. training). The Train and Coarse-grain
sessions build on it; each says in ``accept`` which datasets it can use.

    s = SomeSession()
    s.generate("aspirin", n_frames=200)      # GenerationJob into paths.datasets_dir()
    s.update()                                # picks up the dataset once it is made
    s.load("frames.extxyz")                   # or a file (ValueError naming the problem)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import param

from workbench import paths
from workbench.data.dataset import Dataset
from workbench.data.generate import GENERATORS, generation_job
from workbench.data.loaders import load_dataset
from workbench.jobs import Job

#: dataset files the sessions list and read
DATA_SUFFIXES = (".npz", ".extxyz", ".xyz", ".traj")


def molecular_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes that make data in ASE units (the LJ fluids are in
    reduced units, which learned force fields and molecular mappings do not take)."""
    return {n: g.description for n, g in GENERATORS.items() if not n.startswith("lj_")}


def saved_datasets(folder: Path | None = None) -> dict[str, Path]:
    """``{file name: path}`` of the datasets in ``folder`` (default ``paths.datasets_dir()``),
    newest first."""
    folder = folder or paths.datasets_dir()
    files = [p for p in folder.iterdir() if p.suffix in DATA_SUFFIXES and p.is_file()]
    return {p.name: p for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)}


class DataSession(param.Parameterized):
    """The dataset and the current job of one dashboard session (module docstring)."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.dataset: Dataset | None = None
        self.dataset_name = ""
        self.job: Job | None = None
        self._generation = None

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.status in ("running", "paused")

    def _check_idle(self) -> None:
        if self.busy:
            raise ValueError(f"wait for the current {self.job.unit} job to end, or stop it")

    def generate(self, recipe: str, n_frames: int = 200, seed: int = 0, **options: Any) -> Job:
        """Start making ``n_frames`` frames with ``recipe`` (``workbench.data.GENERATORS``;
        ``options`` go to it, e.g. ``smiles=`` for the ``smiles`` recipe) into the datasets
        folder; a file made before with the same settings is reused."""
        self._check_idle()
        if recipe not in molecular_recipes():
            raise ValueError(f"choose one of {sorted(molecular_recipes())}")
        tag = ""
        if options:
            text = json.dumps(options, sort_keys=True).encode()
            tag = "-" + hashlib.sha256(text).hexdigest()[:8]
        out = paths.datasets_dir() / f"{recipe}{tag}-{int(n_frames)}-seed{int(seed)}.npz"
        try:
            job = generation_job(recipe, int(n_frames), out, seed=int(seed), **options)
        except RuntimeError as exc:  # e.g. RDKit could not embed the molecule
            raise ValueError(str(exc)) from None
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
        """Work on ``dataset`` from now on; ``ValueError`` (from ``accept``) when this session
        cannot use it."""
        self.accept(dataset, name)
        self.dataset, self.dataset_name = dataset, name

    def accept(self, dataset: Dataset, name: str) -> None:
        """Raise ``ValueError`` when ``dataset`` (called ``name``) does not suit this session."""

    def stop(self) -> None:
        """Stop the running job after its current chunk."""
        if self.job is not None:
            self.job.cancel()

    def close(self) -> None:
        """Stop what runs (session closed)."""
        for job in (self.job, self._generation):
            if job is not None:
                job.cancel()
