"""``BackmapSession``: the state behind the Backmap dashboard, usable headless. One molecule's
all-atom frames (a reference recipe, a file, or a saved dataset), a mapping, a CGVAE model
(trained here, or loaded from a run of kind ``"backmap"``), CG frames to backmap (the dataset's
held-out frames mapped to beads, or CG MD frames), K samples per CG frame with their scores
beside the linear baseline's (``workbench.backmap.samples``), and the whole coarse-graining
loop (``CGPipeline``). Each long step is a ``workbench.jobs.Job`` in its own thread.

    s = BackmapSession()
    s.load("ethanol.npz")                       # or s.generate("alanine_dipeptide", 500)
    s.choose_mapping("girvan_newman", 3)        # or "heavy_atoms", "autograin_run" (run=id)
    s.train(epochs=20, n_features=32)           # BackmapJob; or s.load_model(run_id)
    s.update()                                  # takes the model when the training ends
    s.sample(n_samples=4, seed=0)               # "held_out" frames; or source="cg_md"
    s.samples, s.frame_scores(0, 1), s.summary()
    s.run_pipeline(n_beads=6, cg_steps=10_000)  # the loop; s.update() takes its results

Built on ``CoarseGrainSession`` (``workbench.coarse.session``): the same datasets (one molecule,
the solute of a periodic one), bonds and hand-made mappings, and its CG MD (``fit``,
``run_md``), whose frames become the ``"cg_md"`` source here, as the loop's do. Forces are only
needed by the loop (force matching). Bad choices raise ``ValueError`` with a message fit for
the page, before anything runs.

Held-out frames are the last ``validation_fraction`` of the dataset's frames, the block the
model's training held out (the last 10 % when it held none out); the linear baseline
(``LinearBackmapper.fit``) is fitted on the frames before them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.backmap import metrics as bm
from workbench.backmap import samples as sm
from workbench.backmap.baselines import LinearBackmapper
from workbench.backmap.cgvae import RUN_KIND, BackmapJob, Backmapper, CGVAESettings, map_frames
from workbench.backmap.pipeline import CGPipeline
from workbench.coarse.autograin import RUN_KIND as AUTOGRAIN_KIND
from workbench.coarse.autograin import load_autograin
from workbench.coarse.session import CoarseGrainSession
from workbench.data.dataset import Dataset
from workbench.jobs import FunctionJob
from workbench.registry import RunRegistry

__all__ = ["MAX_FRAMES", "MAX_SAMPLES", "SOURCES", "BackmapSession"]

#: CG frame sources: name -> label
SOURCES = {"held_out": "Held-out frames (mapped)", "cg_md": "CG MD frames"}
MAX_SAMPLES = 16  # samples per CG frame
MAX_FRAMES = 100  # CG frames sampled at once (evenly spaced beyond)
LOOP_FRAMES = 200  # CG MD frames the loop records
HOLD_OUT = 0.1  # held out when the model held out none


def _formula(z) -> str:
    from ase import Atoms

    return Atoms(numbers=np.asarray(z)).get_chemical_formula()


def _split(n_frames: int, fraction: float) -> int:
    """Frames before the held-out block (``EpochJob``'s split; ``HOLD_OUT`` for 0)."""
    return n_frames - max(1, int(round((fraction or HOLD_OUT) * n_frames)))


class BackmapSession(CoarseGrainSession):
    """Dataset, mapping, CGVAE model, samples and the loop of one session (module docstring).
    ``registry``: where runs are written and read (the default registry if None)."""

    def __init__(self, registry: RunRegistry | None = None, **params: Any):
        super().__init__(**params)
        self.registry = registry
        self.training: BackmapJob | None = None
        self.model: Backmapper | None = None
        self.model_label = ""
        self.validation_fraction = HOLD_OUT
        self.cg_trajectory: np.ndarray | None = None  # [n, n_beads, 3] Å, CG MD frames
        self.samples: sm.Samples | None = None
        self.pipeline: CGPipeline | None = None
        self._taken: dict[str, Any] = {}  # the last finished job of each kind seen

    # --- data and mapping -------------------------------------------------------------------
    def accept(self, dataset: Dataset, name: str) -> None:
        """``ValueError`` unless ``dataset`` is one molecule in ASE units of elements with
        covalent radii (``metrics.COVALENT_RADII``), with 10 frames or more."""
        if dataset.units != "ase":
            raise ValueError(f"{name} is in reduced LJ units; backmapping needs atoms in ASE "
                             "units (Å)")
        if dataset.n_frames < 10:
            raise ValueError(f"{name} has {dataset.n_frames} frames; training and held-out "
                             "frames need at least 10")
        if not len(bm.bonds(dataset.positions[0], dataset.species)):
            raise ValueError(f"no two atoms of {name} are bonded in its first frame "
                             "(covalent radii): not a molecule")

    def use(self, dataset: Dataset, name: str) -> None:
        super().use(dataset, name)
        self.pipeline = None

    def _forget(self, mapping: bool = False) -> None:
        super()._forget(mapping)
        if mapping:
            self.model, self.model_label, self.training = None, "", None
            self.cg_trajectory, self.samples = None, None

    def _need(self, what: str) -> None:
        super()._need(what)
        if what == "model" and self.model is None:
            raise ValueError("train or load a model first")

    def methods(self) -> dict[str, str]:
        """Mapping methods: the hand-made ones of ``CoarseGrainSession`` and a saved Autograin
        run's mapping."""
        out = {k: v for k, v in super().methods().items() if k != "autograin"}
        return {**out, "autograin_run": "From an Autograin run"}

    def choose_mapping(self, method: str, n_beads: int = 4, run: str | None = None):
        """Use a hand-made mapping (``"girvan_newman"`` with ``n_beads``, ``"heavy_atoms"``,
        ``"residue"``) or the mapping of the Autograin ``run`` (``"autograin_run"``)."""
        self._check_idle()
        self._need("dataset")
        ds = self.dataset
        if method == "girvan_newman" and int(n_beads) < 2 or \
                method == "heavy_atoms" and np.sum(ds.species > 1) < 2:
            raise ValueError("backmapping needs two beads or more (three or more to place "
                             "atoms off a line)")
        if method != "autograin_run":
            return super().choose_mapping(method, n_beads)
        if not run:
            raise ValueError("pick an Autograin run (train one in the Coarse-grain dashboard)")
        try:
            mapping = load_autograin(run, self.registry)[1]
        except KeyError:
            raise ValueError(f"no run {run} in the registry") from None
        if mapping.n_atoms != ds.n_atoms or not np.allclose(mapping.masses, ds.masses):
            raise ValueError(f"run {run} maps a molecule of {mapping.n_atoms} atoms, not "
                             f"{self.dataset_name} ({ds.n_atoms} atoms)")
        if mapping.n_beads < 2:
            raise ValueError(f"run {run} learned one bead; backmapping needs two or more")
        self._forget(mapping=True)
        self.mapping, self.mapping_label = mapping, f"Autograin run {run}"
        return mapping

    def _runs(self, kind: str, fits) -> dict[str, str]:
        registry = self.registry or RunRegistry()
        return {f"{r.name or r.kind} · {r.id}": r.id for r in registry.list(kind=kind)
                if r.status in ("completed", "stopped") and fits(r)}

    def autograin_runs(self) -> dict[str, str]:
        """``{label: run id}``: finished Autograin runs of a molecule of this many atoms."""
        n = None if self.dataset is None else self.dataset.n_atoms
        return self._runs(AUTOGRAIN_KIND, lambda r: r.config["data"]["n_atoms"] == n)

    def model_runs(self) -> dict[str, str]:
        """``{label: run id}``: finished CGVAE runs of this dataset's molecule."""
        z = [] if self.dataset is None else self.dataset.species.tolist()
        return self._runs(RUN_KIND, lambda r: r.config["molecule"]["atomic_numbers"] == z)

    # --- the model --------------------------------------------------------------------------
    def _settings(self, settings: dict[str, Any]) -> None:
        unknown = sorted(set(settings) - set(CGVAESettings.param) - {"name"})
        if unknown:
            raise ValueError(f"unknown CGVAE settings {unknown}")

    def train(self, **settings: Any) -> BackmapJob:
        """Start training CGVAE on the dataset through the mapping (``CGVAESettings``, e.g.
        ``epochs``, ``n_features``); the model is taken when the job ends (``update``)."""
        self._check_idle()
        self._need("dataset")
        self._need("mapping")
        self._settings(settings)
        ds = self.dataset
        job = BackmapJob(ds.positions, ds.species, self.mapping, registry=self.registry,
                         **settings)
        job.check()
        self.model, self.model_label, self.samples = None, "", None
        self.training = self.job = job
        job.start()
        return job

    def load_model(self, run: str) -> Backmapper:
        """Use the CGVAE saved by ``run`` (an id), and its mapping."""
        self._check_idle()
        self._need("dataset")
        registry = self.registry or RunRegistry()
        try:
            record = registry.get(run)
        except KeyError:
            raise ValueError(f"no run {run} in the registry") from None
        z = record.config.get("molecule", {}).get("atomic_numbers")
        if record.kind == RUN_KIND and z != self.dataset.species.tolist():
            raise ValueError(f"run {run} backmaps {_formula(z)}, not {self.dataset_name} "
                             f"({_formula(self.dataset.species)})")
        model = Backmapper.from_run(record, registry)
        self._forget(mapping=True)
        self.mapping, self.mapping_label = model.mapping, f"of model run {run}"
        val = record.metrics.get("val_rmsd")
        self.model = model
        self.model_label = f"CGVAE run {run}, {record.metrics.get('epochs', '?')} epochs" + (
            f", validation RMSD {val:.3f} Å" if val is not None else "")
        self.validation_fraction = record.config["settings"]["validation_fraction"]
        return model

    # --- CG frames and samples --------------------------------------------------------------
    def sources(self) -> dict[str, str]:
        """The CG frame sources there are frames for (``SOURCES``)."""
        return {k: v for k, v in SOURCES.items()
                if k == "held_out" or self.cg_trajectory is not None}

    def cg_frames(self, source: str = "held_out"
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(X [n, n_beads, 3] Å, reference [n, n_atoms, 3] Å or None, indices [n])``: the
        held-out frames mapped, or the CG MD frames (no reference); ``MAX_FRAMES`` at most,
        evenly spaced."""
        self._need("mapping")
        if source not in SOURCES:
            raise ValueError(f"choose one of {sorted(SOURCES)}")
        if source == "cg_md":
            if self.cg_trajectory is None:
                raise ValueError("no CG MD frames of this mapping yet: run the whole loop first")
            frames = self.cg_trajectory
        else:
            frames = self.dataset.positions
        start = _split(len(frames), self.validation_fraction) if source == "held_out" else 0
        idx = np.unique(np.linspace(start, len(frames) - 1, MAX_FRAMES).round().astype(int))
        if source == "cg_md":
            return frames[idx], None, idx
        return map_frames(self.mapping, frames[idx]), frames[idx], idx

    def sample(self, n_samples: int = 4, seed: int = 0, source: str = "held_out"
               ) -> FunctionJob:
        """Start drawing ``n_samples`` structures per CG frame of ``source`` (``cg_frames``)
        and backmapping them with the linear baseline; ``samples`` holds them at the end."""
        self._check_idle()
        self._need("model")
        if not 1 <= int(n_samples) <= MAX_SAMPLES:
            raise ValueError(f"draw 1 to {MAX_SAMPLES} samples per CG frame, not {n_samples}")
        X, ref, idx = self.cg_frames(source)
        model, mapping, R = self.model, self.mapping, self.dataset.positions
        n_train = _split(len(R), self.validation_fraction)

        def work(job: FunctionJob):
            linear = LinearBackmapper.fit(R[:n_train], mapping).backmap(X)
            atoms = model.sample(X, int(n_samples), seed=int(seed))
            self.samples = sm.Samples(source, X, atoms, linear, ref, idx, int(seed))
            job.report(len(X), len(X))
            yield

        job = FunctionJob(work, unit="frame", total=len(X))
        self.job = job
        job.start()
        return job

    def frame_scores(self, frame: int, sample: int) -> dict[str, dict[str, Any]]:
        """Scores of CG frame ``frame`` of ``samples`` (``samples.frame_scores``)."""
        return sm.frame_scores(self.samples, frame, sample, self.dataset.species,
                               self.dataset.positions[0])

    def summary(self) -> dict[str, dict[str, Any]]:
        """Scores over every frame of ``samples`` (``samples.summary``)."""
        return sm.summary(self.samples, self.dataset.species, self.dataset.positions[0])

    # --- the whole loop ---------------------------------------------------------------------
    def _phi_psi(self) -> np.ndarray | None:
        if self._topology() is None:
            return None
        from workbench.molecules import alanine_dipeptide, phi_psi_indices

        return phi_psi_indices(alanine_dipeptide().topology)

    def run_pipeline(self, n_beads: int = 6, cg_steps: int = 10_000,
                     temperature: float = 300.0, timestep: float = 2.0, seed: int = 0,
                     **cgvae: Any) -> CGPipeline:
        """Start the loop (``CGPipeline``): the chosen mapping (Girvan-Newman with ``n_beads``
        if none), force matching, ``cg_steps`` of CG MD (``temperature`` K, ``timestep`` fs),
        CGVAE (``CGVAESettings``, e.g. ``epochs``), backmapping and scores (F(phi, psi) for
        alanine dipeptide). ``update`` takes its mapping, model and frames when it ends."""
        self._check_idle()
        self._need("dataset")
        ds = self.dataset
        if ds.forces is None:
            raise ValueError(f"{self.dataset_name} has no forces: the loop fits the CG "
                             "potential by force matching, which needs them")
        if self.mapping is None and not 3 <= int(n_beads) <= ds.n_atoms:
            raise ValueError(f"the loop's Girvan-Newman mapping takes 3 to {ds.n_atoms} beads, "
                             f"not {n_beads}")
        self._settings(cgvae)
        epochs = cgvae.pop("epochs", 40)
        job = CGPipeline(ds.positions, ds.forces, ds.species, ds.masses, mapping=self.mapping,
                         phi_psi_indices=self._phi_psi(), registry=self.registry, cgvae=cgvae,
                         n_beads=max(3, int(n_beads)), cg_steps=int(cg_steps),
                         stride=max(1, int(cg_steps) // LOOP_FRAMES),
                         temperature=float(temperature), timestep=float(timestep),
                         cgvae_epochs=int(epochs), seed=int(seed))
        self.pipeline = self.job = job
        job.start()
        return job

    def _take_pipeline(self, job: CGPipeline) -> None:
        if job.mapping is not self.mapping:
            self._forget(mapping=True)
            self.mapping, self.mapping_label = job.mapping, "Girvan-Newman (the loop's)"
        R = self.dataset.positions
        self.model, self.model_label = job.backmapper, "CGVAE of the loop"
        self.validation_fraction = job.cgvae_settings.get("validation_fraction", HOLD_OUT)
        self.cg_trajectory = job.cg_trajectory
        X = job.cg_trajectory
        linear = LinearBackmapper.fit(R[:_split(len(R), self.validation_fraction)], job.mapping)
        self.samples = sm.Samples("loop", X, job.backmapped[:, None], linear.backmap(X), None,
                                  np.arange(len(X)), job.seed)

    def update(self) -> bool:
        """Take a generated dataset (True when it changed), a trained model when its job has
        ended (completed, or stopped after an epoch), CG MD frames of a finished run, and
        the loop's mapping, model, CG frames and backmapped frames when it completes."""
        changed = super().update()
        job = self.training
        if self._ended("training", job) and job.status != "failed" and job.epoch > 0:
            self.model, self.validation_fraction = job.backmapper, job.validation_fraction
            self.model_label = f"CGVAE, {job.epoch} epochs (run {job.run_record.id})"
        sim = self.simulation
        if self._ended("simulation", sim) and sim.trajectory is not None \
                and len(sim.trajectory.positions):
            self.cg_trajectory = np.asarray(sim.trajectory.positions)
        pipe = self.pipeline
        if self._ended("pipeline", pipe) and pipe.status == "completed":
            self._take_pipeline(pipe)
        return changed

    def _ended(self, kind: str, job) -> bool:
        """True once for each ``job`` of ``kind`` that has ended."""
        if job is None or not job.finished or self._taken.get(kind) is job:
            return False
        self._taken[kind] = job
        return True
