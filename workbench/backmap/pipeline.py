"""The coarse-graining loop end to end, as one job: a mapping, the CG potential, CG MD, every CG
frame backmapped to atoms with CGVAE, and the backmapped all-atom trajectory scored against the
reference all-atom one (issue 16, item 5).

    job = CGPipeline(positions=R, forces=F, atomic_numbers=Z, masses=m, n_beads=6,
                     phi_psi_indices=[[4, 6, 8, 14], [6, 8, 14, 16]])
    job.run()            # stages: mapping, force matching, CG MD, CGVAE, backmapping, scores
    job.results          # {"valid_fraction": ..., "fes": {"mae_phi": ...}, "rmsd": {...}}
    job.backmapped       # [n_cg_frames, n_atoms, 3] Å

Stages, each with the workbench's own tool:

1. **mapping**: the one given, Girvan-Newman on the bond graph (``n_beads``), or learned with
   Autograin (``workbench.coarse.AutograinJob``);
2. **force matching** (MS-CG, ``workbench.coarse.ForceMatching``: CG bonds, angles, Fourier
   dihedrals, no pair term) on the mapped positions and forces;
3. **CG MD** (``workbench.Simulation``, Langevin, float64) from the first mapped frame; a run
   that turns unstable goes back and halves its time step, and if it still fails, the frames
   before the trouble go on (``results["cg_md"]`` says so);
4. **CGVAE** (``workbench.backmap.BackmapJob``) trained on the all-atom frames;
5. **backmapping**: one prior sample per CG frame (``Backmapper.sample``);
6. **scores** (``workbench.backmap.metrics`` and ``workbench.benchmark.FreeEnergy``):
   fraction of backmapped frames whose bond graph is the reference's (all atoms and heavy
   atoms), graph edits; F(phi, psi), F(phi), F(psi) MAE against the reference trajectory when
   ``phi_psi_indices`` are given (MDsim's metric); and the RMSD distribution: heavy-atom RMSD
   after optimal superposition (MDAnalysis, QCP) of each backmapped frame to its closest
   reference frame, beside the same for reference frames held out of CGVAE's training (what a
   perfect model would give).

Stopping stops the stage that is running; what was finished stays (``mapping``, ``cg``,
``cg_trajectory``...). Units: Å, eV/Å, amu, fs, K.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import param

from workbench.backmap import metrics as bm
from workbench.backmap.cgvae import BackmapJob
from workbench.jobs import Job
from workbench.mapping import CGMapping, girvan_newman_mapping
from workbench.registry import RunRegistry

__all__ = ["STAGES", "CGPipeline", "closest_rmsd"]

STAGES = ("mapping", "force matching", "CG MD", "CGVAE", "backmapping", "scores")
#: frames compared in the RMSD distribution (each side), to bound its cost
RMSD_FRAMES = 200


def closest_rmsd(frames, reference, mask=None) -> np.ndarray:
    """``[n_frames]`` RMSD (Å, per atom) of each of ``frames [n_frames, n_atoms, 3]`` (Å) to its
    closest frame of ``reference [n_ref, n_atoms, 3]`` after optimal superposition
    (``MDAnalysis.analysis.rms.rmsd``, QCP), over the ``mask`` atoms."""
    from MDAnalysis.analysis.rms import rmsd

    keep = slice(None) if mask is None else np.asarray(mask, bool)
    a = np.asarray(frames, np.float64)[:, keep]
    b = np.asarray(reference, np.float64)[:, keep]
    return np.array([min(rmsd(x, y, center=True, superposition=True) for y in b) for x in a])


class CGPipeline(Job):
    """The loop of the module docstring on ``positions``, ``forces`` ``[n_frames, n_atoms, 3]``
    (Å, eV/Å) of one molecule with ``atomic_numbers`` and ``masses [n_atoms]`` (amu).
    ``bonds [n_bonds, 2]`` default to covalent radii on the first frame; ``mapping`` (a
    ``CGMapping``) skips the mapping stage; ``phi_psi_indices [m, 2, 4]`` add the F(phi, psi)
    scores.

    Raises (on start):
      ValueError: shapes that do not match, or fewer frames than the CGVAE split needs.
    """

    n_beads = param.Integer(default=6, bounds=(3, None), doc="Beads of the mapping.")
    mapping_method = param.Selector(default="girvan-newman",
                                    objects=["girvan-newman", "autograin"],
                                    doc="How to make the mapping when none is given.")
    autograin_epochs = param.Integer(default=200, bounds=(1, None))
    cg_steps = param.Integer(default=50_000, bounds=(1, None), doc="CG MD steps.")
    timestep = param.Number(default=2.0, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="CG MD time step (fs).")
    temperature = param.Number(default=300.0, bounds=(0, None), inclusive_bounds=(False, True),
                               doc="Temperature of the CG MD (K).")
    stride = param.Integer(default=50, bounds=(1, None), doc="CG MD steps between frames.")
    cgvae_epochs = param.Integer(default=40, bounds=(1, None))
    seed = param.Integer(default=0)
    stage = param.String(default="", constant=True, doc="The stage running or last run.")

    def __init__(self, positions, forces, atomic_numbers, masses, bonds=None,
                 mapping: CGMapping | None = None, phi_psi_indices=None,
                 registry: RunRegistry | None = None, cgvae: dict[str, Any] | None = None,
                 **params):
        params.setdefault("unit", "stage")
        super().__init__(**params)
        self.positions = np.asarray(positions, np.float64)
        self.forces = np.asarray(forces, np.float64)
        self.atomic_numbers = np.asarray(atomic_numbers, np.int64)
        self.masses = np.asarray(masses, np.float64)
        self.bonds = bm.bonds(self.positions[0], self.atomic_numbers) if bonds is None \
            else np.asarray(bonds, np.int64).reshape(-1, 2)
        self.mapping = mapping
        self.phi_psi_indices = None if phi_psi_indices is None else \
            np.asarray(phi_psi_indices, np.int64).reshape(-1, 2, 4)
        self.registry = registry
        self.cgvae_settings = dict(cgvae or {})
        self.cg = self.cg_trajectory = self.backmapper = self.backmapped = None
        self.cg_md: dict[str, Any] = {}
        self.results: dict[str, Any] = {}
        self._stage_index = 0

    def _check_startable(self) -> None:
        R, F = self.positions, self.forces
        if R.ndim != 3 or R.shape[-1] != 3 or F.shape != R.shape:
            raise ValueError(f"positions and forces must both be [n_frames, n_atoms, 3], got "
                             f"{R.shape} and {F.shape}")
        if self.atomic_numbers.shape != (R.shape[1],) or self.masses.shape != (R.shape[1],):
            raise ValueError(f"atomic_numbers and masses must be [{R.shape[1]}]")
        if len(R) < 10:
            raise ValueError(f"{len(R)} frames: the pipeline needs 10 at least")
        if self.mapping is not None and self.mapping.n_atoms != R.shape[1]:
            raise ValueError(f"the mapping is of {self.mapping.n_atoms} atoms, the frames of "
                             f"{R.shape[1]}")

    def _enter(self, k: int) -> None:
        self._stage_index = k
        self._advance(k, total=len(STAGES), stage=STAGES[k],
                      message=f"{STAGES[k]} ({k + 1} of {len(STAGES)})")

    def _drive(self, job: Job, partial: bool = False) -> Iterator[None]:
        """Run ``job`` chunk by chunk, reporting its progress as a fraction of this stage.
        ``partial``: a job that ended early by itself (an unstable simulation keeps the frames
        before the trouble) is accepted; otherwise that is an error."""
        chunks = job.irun()
        try:
            for _ in chunks:
                self._advance(self._stage_index + job.fraction, stage=STAGES[self._stage_index],
                              message=f"{STAGES[self._stage_index]}: {job.message}")
                yield
        finally:
            chunks.close()
        if job.status != "completed" and not partial:
            raise RuntimeError(f"{STAGES[self._stage_index]} did not complete: {job.message}")

    def _work(self) -> Iterator[None]:
        from workbench import Simulation
        from workbench.coarse import AutograinJob, ForceMatching
        from workbench.system import System

        R, Z = self.positions, self.atomic_numbers
        if self.mapping is None:
            self._enter(0)
            if self.mapping_method == "autograin":
                learner = AutograinJob(R, self.forces, self.masses, registry=self.registry,
                                       n_beads=self.n_beads, epochs=self.autograin_epochs,
                                       seed=self.seed)
                yield from self._drive(learner)
                self.mapping = learner.mapping
            else:
                self.mapping = girvan_newman_mapping(len(Z), self.bonds, self.n_beads,
                                                     self.masses)
            yield
        if self.cg is None:
            self._enter(1)
            fm = ForceMatching(pair=False, dihedrals=True, ridge=1e-4)
            self.cg = fm.fit_mapped(self.mapping, R, self.forces, bonds=self.bonds,
                                    units="ase")
            yield
        if self.cg_trajectory is None:
            self._enter(2)
            X0 = self.mapping.position_matrix() @ R[0]
            sim = Simulation(System.from_cg(self.cg, X0, self.mapping.bead_masses()),
                             temperature=self.temperature, timestep=self.timestep,
                             friction=0.01, n_steps=self.cg_steps, stride=self.stride,
                             frames_per_chunk=100, seed=self.seed, precision="float64",
                             on_failure="smaller_timestep")
            yield from self._drive(sim, partial=True)
            frames = sim.trajectory
            if frames is None or not len(frames.positions):
                raise RuntimeError(f"CG MD kept no frame: {sim.message}")
            self.cg_trajectory = np.asarray(frames.positions)
            self.cg_md = {"status": sim.status, "message": sim.message,
                          "frames": int(len(self.cg_trajectory))}
        if self.backmapper is None:
            self._enter(3)
            trainer = BackmapJob(R, Z, self.mapping, bonds=self.bonds, registry=self.registry,
                                 **{"epochs": self.cgvae_epochs, "seed": self.seed,
                                    **self.cgvae_settings})
            yield from self._drive(trainer)
            self.backmapper = trainer.backmapper
            self._held_out = R[trainer.n_train:]
        self._enter(4)
        self.backmapped = self.backmapper.sample(self.cg_trajectory, 1, seed=self.seed)[:, 0]
        yield
        self._enter(5)
        self.results = self.score()
        self._advance(len(STAGES), message="scored")
        yield

    def score(self) -> dict[str, Any]:
        """The scores of the module docstring (plain JSON-able values)."""
        from workbench.benchmark.free_energy import FreeEnergy
        from workbench.benchmark.trajectory import Trajectory

        R, Z, x = self.positions, self.atomic_numbers, self.backmapped
        heavy = bm.heavy_atom_mask(Z)
        out: dict[str, Any] = {"n_frames": int(len(x)), "cg_md": self.cg_md}
        for suffix, mask in (("", None), ("_heavy", heavy)):
            out["valid_fraction" + suffix] = float(np.mean(bm.is_valid(x, R[0], Z, mask)))
            out["graph_edit_ratio" + suffix] = float(np.mean(
                bm.graph_edit_ratio(x, R[0], Z, mask)))
        if self.phi_psi_indices is not None:
            fes = FreeEnergy(Trajectory(R, Z), self.phi_psi_indices,
                             temperature_K=self.temperature).run(Trajectory(x, Z)).results
            out["fes"] = {k: float(fes[k]) for k in ("mae_phi", "mae_psi", "mae_fes",
                                                    "coverage_fes")}
        pick = lambda a: a[np.linspace(0, len(a) - 1, min(len(a), RMSD_FRAMES)).astype(int)]  # noqa: E731
        train = pick(R[:len(R) - len(self._held_out)])
        for name, frames in (("backmapped", x), ("held_out", self._held_out)):
            d = closest_rmsd(pick(frames), train, heavy)
            out[f"rmsd_{name}"] = {"median": float(np.median(d)),
                                   "p90": float(np.percentile(d, 90)),
                                   "histogram": np.histogram(d, bins=20, range=(0, 2))[0]
                                   .tolist()}
        return out
