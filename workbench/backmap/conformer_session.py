"""``ConformerSession``: the state behind the Backmap dashboard's Conformers tab, usable
headless. Type a SMILES, get conformers from a trained ConfVAE run and from RDKit's ETKDG, each
with and without MMFF relaxation, side by side, each with its GFN2-xTB energy; train ConfVAE on a
conformer set file (``workbench.backmap.conformer_data``).

    s = ConformerSession()
    s.generate("CCOCCO", n_conformers=5, model=run_id)   # a FunctionJob, started
    s.job.wait(); s.ensembles["ConfVAE"].energies_eV      # [5]
    s.train("conformers.npz", epochs=50)                  # a ConformerJob, started

Bad input raises ``ValueError`` with a message fit for the page before anything runs (a SMILES
RDKit cannot read, a run that holds no model, a file that is not a conformer set). One job at a
time of each kind: a new generation stops a running generation, a new training a running
training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.backmap.conformer_data import (
    ConformerSet,
    etkdg_conformers,
    xtb_energies,
    xtb_relax,
)
from workbench.backmap.conformers import (
    RUN_KIND,
    ConformerGenerator,
    ConformerJob,
    mmff_relax,
    molecule_graph,
)
from workbench.jobs import FunctionJob, Job
from workbench.registry import RunRegistry

__all__ = ["MAX_CONFORMERS", "METHODS", "ConformerSession", "Ensemble"]

MAX_CONFORMERS = 50  # per method: an xTB energy takes ~0.1 s, a relaxation a few seconds
METHODS = ("ConfVAE", "ConfVAE + MMFF", "ETKDG", "ETKDG + MMFF")


@dataclass
class Ensemble:
    """Conformers of one method: ``atomic_numbers [n_atoms]``, ``positions [n, n_atoms, 3]``
    (Å), ``energies_eV [n]`` (GFN2-xTB, NaN where not computed)."""

    atomic_numbers: np.ndarray
    positions: np.ndarray
    energies_eV: np.ndarray


class ConformerSession:
    """Generation and training jobs of the Conformers tab (module docstring)."""

    def __init__(self, registry: RunRegistry | None = None):
        self.registry = registry
        self.job: Job | None = None  # the job started last
        self.generation: Job | None = None  # the last generation and training
        self.training: ConformerJob | None = None
        self.smiles: str | None = None
        self.ensembles: dict[str, Ensemble] = {}
        self.bonds: np.ndarray | None = None

    def _registry(self) -> RunRegistry:
        return self.registry or RunRegistry()

    def models(self) -> dict[str, str]:
        """``{label: run id}`` of the ConfVAE runs that trained to the end, newest first;
        the label gives the epochs and the last validation RMSD."""
        runs = [r for r in self._registry().list(kind=RUN_KIND, status="completed")
                if r.file("params.msgpack").is_file()]
        return {f"{r.name}, {r.metrics.get('epochs')} epochs, validation RMSD "
                f"{r.metrics.get('val_rmsd', float('nan')):.2f} Å ({r.id})": r.id for r in runs}

    def generate(self, smiles: str, n_conformers: int = 5, model: str | None = None,
                 methods=METHODS, relax: bool = False, energies: bool = True,
                 seed: int = 0) -> FunctionJob:
        """Start making ``n_conformers`` conformers of ``smiles`` with each of ``methods``
        (``METHODS``: ConfVAE, ConfVAE + MMFF, ETKDG, ETKDG + MMFF; ConfVAE from the run
        ``model``, an id). ``relax``: minimise every conformer with GFN2-xTB (ASE BFGS; energies
        of the minima); ``energies``: GFN2-xTB energies of the conformers as made. Results land
        in ``ensembles`` (by method) when the job ends.

        Raises:
          ValueError: a SMILES RDKit cannot read, ``n_conformers`` outside 1-50, no method or
            an unknown one, a ConfVAE method without ``model``, or a run that holds no trained
            conformer model.
        """
        graph = molecule_graph(smiles)
        n = int(n_conformers)
        if not 1 <= n <= MAX_CONFORMERS:
            raise ValueError(f"ask for 1 to {MAX_CONFORMERS} conformers, not {n_conformers}")
        methods = [m for m in METHODS if m in methods]
        if not methods:
            raise ValueError(f"choose a method: {', '.join(METHODS)}")
        generator = None
        if any(m.startswith("ConfVAE") for m in methods):
            if not model:
                raise ValueError("ConfVAE needs a trained model: choose one, train one, or "
                                 "untick the ConfVAE methods")
            generator = ConformerGenerator.from_run(model, self._registry())
        made: dict[str, np.ndarray] = {}  # ConfVAE's conformers, made once for both methods

        def confvae() -> np.ndarray:
            if "x" not in made:
                made["x"] = generator.generate(smiles, n, seed)[1]
            return made["x"]

        make = {"ConfVAE": confvae,
                "ConfVAE + MMFF": lambda: mmff_relax(smiles, confvae()),
                "ETKDG": lambda: etkdg_conformers(smiles, n, seed=seed),
                "ETKDG + MMFF": lambda: etkdg_conformers(smiles, n, seed=seed, mmff=True)}
        Z = graph["atomic_numbers"]

        def work(job: FunctionJob) -> Iterator[None]:
            out: dict[str, Ensemble] = {}
            steps = len(methods) * (1 + (relax or energies))
            done = 0
            for name in methods:
                x = np.asarray(make[name](), np.float64)
                done += 1
                job.report(done, steps, message=f"{name}: {len(x)} conformers")
                yield
                e = np.full(len(x), np.nan)
                if relax or energies:
                    q = graph["charge"]
                    x, e = xtb_relax(Z, x, charge=q)[:2] if relax else \
                        (x, xtb_energies(Z, x, charge=q))
                    done += 1
                    job.report(done, steps, message=f"{name}: GFN2-xTB "
                               f"{'minima' if relax else 'energies'}")
                    yield
                out[name] = Ensemble(Z, x, e)
            self.smiles, self.ensembles = smiles, out
            self.bonds = graph["pairs"][graph["types"] <= 4]
            return out

        self.generation = self._start(FunctionJob(work, unit="step", total=1),
                                       self.generation)
        return self.generation

    def train(self, path: str, epochs: int = 50, **settings) -> ConformerJob:
        """Start training ConfVAE on the training molecules of the conformer set file
        ``path``; the run appears in ``models()`` when it ends.

        Raises:
          ValueError: no such file, or not a conformer set.
        """
        if not path or not Path(path).is_file():
            raise ValueError(f"no conformer set file at {path!r} (make one with "
                             "workbench.backmap.conformer_data.make_conformer_set)")
        return self.train_molecules(ConformerSet.load(path).train(), epochs, **settings)

    def train_molecules(self, molecules, epochs: int = 50, **settings) -> ConformerJob:
        """Start training ConfVAE on ``molecules`` (as ``ConformerJob`` takes them).

        Raises:
          ValueError: what ``ConformerJob.check`` refuses.
        """
        job = ConformerJob(molecules, registry=self.registry, epochs=int(epochs), **settings)
        job.check()
        self.training = self._start(job, self.training)
        return job

    def _start(self, job: Job, previous: Job | None) -> Job:
        """Start ``job`` after stopping ``previous`` (a generation does not stop a training,
        nor the other way round)."""
        if previous is not None and not previous.finished:
            previous.cancel()
        self.job = job
        job.start()
        return job

    def stop(self) -> None:
        """Stop the running jobs (kept results stay)."""
        for job in (self.generation, self.training):
            if job is not None and not job.finished:
                job.cancel()

    close = stop
