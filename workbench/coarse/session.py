"""``CoarseGrainSession``: the state behind the Coarse-grain dashboard, usable headless. One
molecule's all-atom trajectory with forces (a reference recipe, a file, or a saved dataset),
a mapping (learned by Autograin or hand-made), the CG potential fitted to it by force matching,
a CG MD run with that potential, and the comparison of its bonded distributions with the
mapped all-atom trajectory. Each long step is a ``workbench.jobs.Job`` in its own thread.

    s = CoarseGrainSession()
    s.generate("alanine_dipeptide", n_frames=500)
    s.update()                                  # takes the frames once they are made
    s.learn(n_beads=4, epochs=100)              # Autograin; s.assignment() follows it live
    s.update()                                  # takes the learned mapping when it ends
    s.fit()                                     # force matching (MS-CG) on the mapped frames
    s.run_md(n_steps=20_000)                    # CG Langevin MD; then s.update() compares

``job`` is the running (or last) job. Bad choices raise ``ValueError`` with a message fit for
the page, before anything runs (a dataset without forces, a periodic one with no solute, more
beads than atoms, nothing to fit).

One molecule: bonds come from covalent radii on the first frame
(``workbench.analysis.natural_bonds``), and bead centres are taken without periodic images. Of
a periodic dataset (a molecule in water) the solute is taken, whole, with the forces on its
atoms (``workbench.data.solute``: an implicit-solvent CG model); periodic liquids are
coarse-grained from Python with ``ForceMatching(...).fit_mapped(..., box=...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.analysis import natural_bonds
from workbench.cg_potential import CGPotential
from workbench.coarse.autograin import AutograinJob, hard_mapping, reconstruction_rmsd
from workbench.coarse.compare import Distribution, bonded_distributions
from workbench.coarse.force_matching import ForceMatching
from workbench.data.dataset import Dataset
from workbench.data.session import DataSession, molecular_recipes
from workbench.data.solute import solute
from workbench.jobs import FunctionJob
from workbench.mapping import (
    CGMapping,
    girvan_newman_mapping,
    heavy_atom_mapping,
    residue_mapping,
    topology_labels,
)
from workbench.simulation import Simulation
from workbench.system import System

__all__ = ["MAPPINGS", "CoarseGrainSession"]

#: mapping methods: name -> label
MAPPINGS = {"autograin": "Learned (Autograin)", "heavy_atoms": "Heavy atoms",
            "girvan_newman": "Girvan-Newman", "residue": "Residues"}
#: the ridge of the dashboard's fits: steadies dihedral coefficients that angles also explain
#: (alanine dipeptide, notebooks/06_coarse_grain.ipynb)
RIDGE = 1e-4
MD_FRAMES = 400  # frames a CG MD run records
MIN_COMPARED_FRAMES = 20  # a stopped run with fewer frames is not compared


class CoarseGrainSession(DataSession):
    """Dataset, mapping, CG potential, CG MD and comparison of one session (module
    docstring)."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.bonds: np.ndarray | None = None
        self.mapping: CGMapping | None = None
        self.mapping_label = ""
        self.mapping_note = ""
        self.learning: AutograinJob | None = None
        self.cg: CGPotential | None = None
        self.simulation: Simulation | None = None
        self.distributions: list[Distribution] = []
        self._compared: Simulation | None = None

    # --- data -------------------------------------------------------------------------------
    @staticmethod
    def recipes() -> dict[str, str]:
        """The reference recipes that make one molecule in free space (not the water box)."""
        return {k: v for k, v in molecular_recipes().items() if k != "water"}

    def accept(self, dataset: Dataset, name: str) -> None:
        """``ValueError`` unless ``dataset`` is one molecule in ASE units, with forces, whose
        first frame has covalent bonds."""
        if dataset.units != "ase":
            raise ValueError(f"{name} is in reduced LJ units; molecular mappings need atoms in "
                             "ASE units (Å, eV)")
        if dataset.forces is None:
            raise ValueError(f"{name} has no forces: force matching and Autograin need them")
        if dataset.n_frames < 10:
            raise ValueError(f"{name} has {dataset.n_frames} frames; learning and force "
                             "matching need at least 10")
        bonds = natural_bonds(dataset.species, dataset.positions[0])
        if not len(bonds):
            raise ValueError(f"no two atoms of {name} are bonded in its first frame (covalent "
                             "radii): not a molecule")

    def use(self, dataset: Dataset, name: str) -> None:
        """Work on ``dataset``: a molecule in free space, or the solute of a periodic one
        (``workbench.data.solute``: its largest molecule, whole, without the solvent)."""
        if dataset.box is not None:
            try:
                dataset, atoms = solute(dataset)
            except ValueError as exc:
                raise ValueError(f"{name} is periodic, and {exc}. The dashboard coarse-grains "
                                 "one molecule (fit a liquid with ForceMatching.fit_mapped(..., "
                                 "box=...) from Python)") from None
            total = dataset.provenance["solute"]["of"]
            name = f"{name} (solute: {len(atoms)} of {total} atoms)"
        super().use(dataset, name)
        self.bonds = natural_bonds(dataset.species, dataset.positions[0])
        self._forget(mapping=True)

    def _forget(self, mapping: bool = False) -> None:
        """Drop what depended on what just changed."""
        if mapping:
            self.mapping, self.mapping_label, self.learning = None, "", None
            self.mapping_note = ""
        self.cg, self.simulation, self.distributions, self._compared = None, None, [], None

    def _need(self, what: str) -> None:
        if what == "dataset" and self.dataset is None:
            raise ValueError("choose or generate a dataset first")
        if what == "mapping" and self.mapping is None:
            raise ValueError("choose or learn a mapping first")
        if what == "cg" and self.cg is None:
            raise ValueError("fit the CG potential first")

    # --- mapping ----------------------------------------------------------------------------
    def methods(self) -> dict[str, str]:
        """The mapping methods this dataset allows (``MAPPINGS``; residues only for the
        built-in alanine dipeptide, whose topology is known)."""
        out = dict(MAPPINGS)
        if self._topology() is None:
            out.pop("residue")
        return out

    def _topology(self):
        ds = self.dataset
        if ds is None or ds.provenance.get("generator") != "alanine_dipeptide":
            return None
        from workbench.molecules import alanine_dipeptide

        topology = alanine_dipeptide().topology
        return topology_labels(topology) if topology.getNumAtoms() == ds.n_atoms else None

    def choose_mapping(self, method: str, n_beads: int = 4) -> CGMapping:
        """Use a hand-made mapping (``"heavy_atoms"``, ``"girvan_newman"`` with ``n_beads``,
        ``"residue"``) from now on."""
        self._check_idle()
        self._need("dataset")
        ds = self.dataset
        if method not in self.methods() or method == "autograin":
            raise ValueError(f"choose one of {sorted(set(self.methods()) - {'autograin'})} "
                             "(or learn one)")
        if method == "heavy_atoms":
            mapping = heavy_atom_mapping(ds.species, self.bonds, ds.masses)
        elif method == "girvan_newman":
            mapping = girvan_newman_mapping(ds.n_atoms, self.bonds, int(n_beads), ds.masses)
        else:
            labels = self._topology()
            mapping = residue_mapping(labels.residue_index, ds.masses, labels.residue_names)
        self._forget(mapping=True)
        self.mapping, self.mapping_label = mapping, MAPPINGS[method]
        return mapping

    def learn(self, n_beads: int = 4, **settings: Any) -> AutograinJob:
        """Start learning a mapping of ``n_beads`` with Autograin (``Autograin`` settings, e.g.
        ``epochs``, ``rho``); the learned hard mapping is taken when the job ends."""
        self._check_idle()
        self._need("dataset")
        ds = self.dataset
        job = AutograinJob(ds.positions, ds.forces, ds.masses, n_beads=int(n_beads), **settings)
        job.check()
        self._forget(mapping=True)
        self.learning = self.job = job
        job.start()
        return job

    def assignment(self) -> np.ndarray | None:
        """``[n_atoms]`` bead of each atom now: the training encoder's argmax while Autograin
        learns, else the chosen mapping's (None: no mapping yet)."""
        job = self.learning
        if job is not None and self.mapping is None and job.params is not None:
            return hard_mapping(job.params, job.masses).assignment
        return None if self.mapping is None else self.mapping.assignment

    def reconstruction_rmsd(self) -> float:
        """Reconstruction RMSD (Å) of the mapping with its best linear decoder, fitted on the
        first 80 % of the frames and measured on the rest."""
        self._need("mapping")
        R = self.dataset.positions
        n = int(0.8 * len(R))
        return reconstruction_rmsd(self.mapping, R[n:], fit_positions=R[:n])

    # --- force matching ---------------------------------------------------------------------
    def fit(self, pair: bool = False, angles: bool = True, dihedrals: bool = True,
            r_cutoff: float = 8.0, **settings: Any) -> FunctionJob:
        """Start fitting the CG potential to the mapped forces (``ForceMatching``: bonds
        always, ``angles``, ``dihedrals``, a non-bonded ``pair`` term within ``r_cutoff`` Å,
        other settings as ``ForceMatching``)."""
        self._check_idle()
        self._need("mapping")
        settings.setdefault("ridge", RIDGE)
        fm = ForceMatching(pair=pair, angles=angles, dihedrals=dihedrals,
                           r_cutoff=float(r_cutoff), **settings)
        mapping, ds = self.mapping, self.dataset
        if mapping.n_beads < 2:
            raise ValueError("a mapping of one bead has nothing to fit")
        if not pair and not len(mapping.cg_bonds(self.bonds)):
            raise ValueError("no CG bonds join these beads; switch the pair term on")
        self._forget()

        def work(job: FunctionJob):
            self.cg = fm.fit_mapped(mapping, ds.positions, ds.forces, bonds=self.bonds,
                                    units="ase", progress=job.report)
            yield

        job = FunctionJob(work, unit="frame block")
        self.job = job
        job.start()
        return job

    # --- CG MD ------------------------------------------------------------------------------
    def reference(self) -> np.ndarray:
        """``[n_frames, n_beads, 3]`` (Å): the dataset mapped to beads."""
        self._need("mapping")
        return np.einsum("ba,fax->fbx", self.mapping.position_matrix(), self.dataset.positions)

    def run_md(self, n_steps: int = 20_000, temperature: float = 300.0,
               timestep: float = 2.0, friction: float = 0.01) -> Simulation:
        """Langevin CG MD (``temperature`` K, ``timestep`` fs, ``friction`` 1/fs) with the
        fitted potential from the first mapped frame; ``MD_FRAMES`` frames recorded."""
        self._check_idle()
        self._need("cg")
        start = self.reference()[0]
        system = System.from_cg(self.cg, start, self.mapping.bead_masses())
        sim = Simulation(system, temperature=float(temperature), timestep=float(timestep),
                         friction=float(friction), n_steps=int(n_steps),
                         stride=max(1, int(n_steps) // MD_FRAMES), precision="float64")
        self.distributions, self._compared = [], None
        self.simulation = self.job = sim
        sim.start()
        return sim

    def update(self) -> bool:
        """Take a generated dataset (True when it changed), a learned mapping once its job
        has ended, and compare a finished CG MD run with the mapped all-atom frames (not a
        failed run, nor a stopped one with fewer than ``MIN_COMPARED_FRAMES`` frames)."""
        changed = super().update()
        job = self.learning
        if job is not None and self.mapping is None and job.status in ("completed", "stopped") \
                and job.epoch > 0:
            self.mapping, self.mapping_label = job.mapping, MAPPINGS["autograin"]
            if self.mapping.n_beads < job.n_beads:
                self.mapping_note = (
                    f"Autograin filled {self.mapping.n_beads} of the {job.n_beads} beads asked "
                    "for: its force term rewards beads whose forces cancel, so it merges them "
                    "(set rho = 0 to keep every bead).")
        sim = self.simulation
        if sim is not None and sim is not self._compared and sim.finished:
            self._compared = sim
            frames = np.asarray(sim.trajectory.positions)
            if sim.status != "failed" and len(frames) >= MIN_COMPARED_FRAMES:
                self.distributions = bonded_distributions(self.cg, frames, self.reference())
        return changed
