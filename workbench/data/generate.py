"""Reference-data generators: named recipes (``GENERATORS``) that run a real engine and write a
``Dataset``, in chunks, resumably, deterministically for a seed.

    from workbench.data import generate
    ds = generate("ethanol", n_frames=20, out="ethanol.npz", seed=0, progress=print)

or ``workbench data generate ethanol --frames 20 --out ethanol.npz --seed 0``.

Recipes (options in brackets are keyword arguments, e.g. ``stride=``):

- ``water``: OpenMM, NVT 300 K, 64 flexible SPC/Fw water molecules with PME
  (``workbench.molecules.openmm_systems.water_box``), LangevinMiddleIntegrator (friction 1/ps),
  0.5 fs steps, a frame every 10 fs after 10 ps of equilibration: positions, forces and energies
  (eV, eV/Å), as MDsim's water set [n_molecules, timestep_fs, stride, equilibration_steps,
  platform, and ``water_box`` options].
- ``alanine_dipeptide``: OpenMM, AMBER ff14SB, in vacuum (``solvent="water"``: TIP3P box),
  Langevin 300 K, 0.5 fs steps, a frame every 0.1 ps: positions, forces and energies
  [solvent, timestep_fs, stride, equilibration_steps, platform: Reference in vacuum, where it
  is the fastest, CPU in water].
- ``ethanol``, ``aspirin``, ``naphthalene``, ``salicylic_acid``: built from SMILES with RDKit
  (``AddHs``, ETKDG embedding with the seed, MMFF relaxation), then GFN2-xTB (tblite through
  ASE) with ASE Langevin at 500 K, 0.5 fs steps: energies (eV) and forces (eV/Å) as MD17
  [stride, temperature_K, equilibration_steps].
- ``smiles``: the same for any molecule, named by its SMILES [smiles (required), and the options
  above]. GFN2-xTB is the fallback that issue 15 allows for molecules without a built-in force
  field: OpenFF's SMIRNOFF force fields need the OpenFF toolkit and NAGL, which are not on PyPI
  (``openmmforcefields`` is, but its generators need the toolkit). A GFN2-xTB step of
  isopropanol (12 atoms) takes about 13 ms on two cores.
- ``lj_liquid``, ``lj_dense_liquid``, ``lj_supercritical``, ``lj_gas``: one-component LJ fluids
  at four state points with ``workbench.Simulation`` (reduced units)
  [n_atoms, stride, equilibration_steps; density and temperature to move the state point].

``generate_openmm(topology, system, positions, ...)`` runs any OpenMM system the same way.

Chunks and resuming: frames are made ``chunk_frames`` at a time; each chunk is saved (frames
plus the engine state after it) as ``<out>.parts/chunk-NNNNN.npz`` beside the output, atomically.
Running again with the same output, recipe, options and seed continues after the last complete
chunk; the result equals an uninterrupted run (each chunk starts a fresh engine from the saved
state with a seed derived from the run's seed and the chunk's index, whether or not the run was
interrupted). When all chunks are done the dataset is written to ``out`` and the parts removed.
A finished ``out`` with the same settings is returned as is. Settings that differ from the
saved parts or output raise ``ValueError`` unless ``overwrite=True``.

Each run is a ``workbench.jobs.Job`` (``GenerationJob``, unit "frame"): ``generation_job(...)``
returns one to ``start()`` in the background, watch (``attach``, ``done``/``total``, ``eta``) and
``cancel()`` between chunks; ``generate(...)`` runs one in the calling thread and reports
``progress(done_frames, total_frames)`` after every chunk. Stopping (``cancel``, Ctrl-C, or a
``progress`` callback that raises) leaves the completed chunks on disk.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench import io
from workbench.data.dataset import Dataset
from workbench.data.engines import ASEEngine, LJEngine, OpenMMEngine, derive_seed
from workbench.jobs import Job

__all__ = ["GENERATORS", "MOLECULES", "GenerationJob", "generate", "generate_openmm",
           "generation_job", "run_engine"]

Progress = Callable[[int, int], Any]

MOLECULES = {  # MD17 molecules, as SMILES
    "ethanol": "CCO",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "naphthalene": "c1ccc2ccccc2c1",
    "salicylic_acid": "OC(=O)c1ccccc1O",
}

LJ_STATE_POINTS = {  # (density rho*, temperature T*)
    "lj_liquid": (0.8442, 0.722, "liquid near the triple point (LAMMPS bench/in.lj)"),
    "lj_dense_liquid": (0.95, 1.5, "dense hot liquid"),
    "lj_supercritical": (0.5, 1.5, "supercritical fluid (T* above T*_c ~ 1.31)"),
    "lj_gas": (0.05, 1.5, "dilute gas"),
}


@dataclass(frozen=True)
class Generator:
    name: str
    description: str
    make_engine: Callable[..., Any]
    chunk_frames: int
    """Default frames per chunk (a chunk of the full-size run takes seconds to a minute)."""


GENERATORS: dict[str, Generator] = {}


def _register(name: str, description: str, chunk_frames: int):
    def deco(fn):
        GENERATORS[name] = Generator(name, description, fn, chunk_frames)
        return fn

    return deco


def generation_job(name: str, n_frames: int, out: str | os.PathLike[str], *, seed: int = 0,
                   chunk_frames: int | None = None, overwrite: bool = False,
                   **options: Any) -> GenerationJob:
    """The job that makes ``n_frames`` frames with the recipe ``name`` into ``out`` (module
    docstring), not yet started; ``options`` go to the recipe (e.g. ``stride=``)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; known: {sorted(GENERATORS)}")
    gen = GENERATORS[name]
    try:
        engine = gen.make_engine(seed=seed, **options)
    except TypeError as exc:  # an option the recipe does not have
        raise ValueError(f"recipe {name!r}: {exc} (the recipes and their options: "
                         "workbench.data.generate's docstring)") from None
    return GenerationJob(engine, n_frames, out, seed=seed, generator=name,
                         chunk_frames=chunk_frames or gen.chunk_frames, overwrite=overwrite)


def generate(name: str, n_frames: int, out: str | os.PathLike[str], *, seed: int = 0,
             chunk_frames: int | None = None, progress: Progress | None = None,
             overwrite: bool = False, **options: Any) -> Dataset:
    """Make ``n_frames`` frames with the recipe ``name`` into ``out`` in the calling thread
    (module docstring) and return the dataset."""
    job = generation_job(name, n_frames, out, seed=seed, chunk_frames=chunk_frames,
                         overwrite=overwrite, **options)
    return _run(job, progress)


def generate_openmm(topology, system, positions, n_frames: int, out: str | os.PathLike[str], *,
                    seed: int = 0, chunk_frames: int = 500, progress: Progress | None = None,
                    overwrite: bool = False, **settings: Any) -> Dataset:
    """Langevin dynamics of any OpenMM ``system`` (``positions`` ``[n_atoms, 3]`` nm) into a
    dataset; ``settings`` go to :class:`~workbench.data.engines.OpenMMEngine`
    (``temperature_K``, ``friction_per_ps``, ``timestep_fs``, ``stride``, ``minimize``,
    ``equilibration_steps``, ``platform``, ``label``)."""
    engine = OpenMMEngine(topology, system, positions, **settings)
    return run_engine(engine, n_frames, out, seed=seed, generator="openmm",
                      chunk_frames=chunk_frames, progress=progress, overwrite=overwrite)


def run_engine(engine, n_frames: int, out: str | os.PathLike[str], *, seed: int,
               generator: str, chunk_frames: int, progress: Progress | None = None,
               overwrite: bool = False) -> Dataset:
    """Run ``engine`` (see ``workbench.data.engines``) for ``n_frames`` frames in chunks of
    ``chunk_frames``, resumably, write the dataset to ``out`` and return it."""
    job = GenerationJob(engine, n_frames, out, seed=seed, generator=generator,
                        chunk_frames=chunk_frames, overwrite=overwrite)
    return _run(job, progress)


def _run(job: GenerationJob, progress: Progress | None) -> Dataset:
    if progress is not None:
        job.attach(lambda: progress(int(job.done), int(job.total)))
    job.run(progress=False)
    if job.dataset is None:  # stopped between chunks
        raise RuntimeError(f"{job.message}; finished chunks are kept in {job.parts}")
    return job.dataset


# --- the chunked runner ----------------------------------------------------------------------
class GenerationJob(Job):
    """Runs an engine (``workbench.data.engines``) for ``n_frames`` frames in chunks of
    ``chunk_frames``, resumably, and writes the dataset to ``out``; ``dataset`` holds it when
    the job has completed. ``ValueError`` (when run) if ``out`` or its parts were made with
    other settings and ``overwrite`` is False."""

    def __init__(self, engine, n_frames: int, out: str | os.PathLike[str], *, seed: int,
                 generator: str, chunk_frames: int, overwrite: bool = False):
        if n_frames < 1 or chunk_frames < 1:
            raise ValueError("n_frames and chunk_frames must be >= 1")
        super().__init__(unit="frame", total=n_frames)
        self.engine, self.n_frames, self.out = engine, int(n_frames), Path(out)
        self.seed, self.generator, self.chunk_frames = seed, generator, int(chunk_frames)
        self.overwrite = overwrite
        self.parts = self.out.parent / f"{self.out.name}.parts"
        self.dataset: Dataset | None = None

    def _work(self):
        engine, n_frames, chunk_frames = self.engine, self.n_frames, self.chunk_frames
        out, parts, seed = self.out, self.parts, self.seed
        info = engine.describe()
        key = json.loads(io.json_dumps({
            "generator": self.generator, "seed": int(seed), "chunk_frames": chunk_frames,
            "n_frames": n_frames, "settings": info["settings"], "engine": info["engine"]}))
        if out.exists():
            if self.overwrite:
                out.unlink()
            else:
                self.dataset = _finished(out, key)
                self._advance(n_frames)
                yield
                return
        if self.overwrite and parts.exists():
            shutil.rmtree(parts)
        _claim_parts(parts, key)

        n_chunks = -(-n_frames // chunk_frames)
        chunks: list[dict[str, np.ndarray]] = []
        state = None
        for i in range(n_chunks):
            size = min(chunk_frames, n_frames - i * chunk_frames)
            saved = _read_chunk(parts / f"chunk-{i:05d}.npz", size)
            if saved is None:
                if state is None:
                    state = engine.initial_state(seed)
                frames, state = engine.run_chunk(state, size, derive_seed(seed, 1000 + i))
                io.atomic_save_npz(parts / f"chunk-{i:05d}.npz", **frames,
                                   **{f"state_{k}": v for k, v in state.items()})
            else:
                frames = {k: v for k, v in saved.items() if not k.startswith("state_")}
                state = {k[6:]: v for k, v in saved.items() if k.startswith("state_")}
            chunks.append(frames)
            self._advance(min(n_frames, (i + 1) * chunk_frames))
            if i < n_chunks - 1:
                yield

        cat = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        provenance = {**key,
                      "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                      "units_note": "ASE units: Å, eV, eV/Å, amu" if info["units"] == "ase"
                      else "reduced LJ units: σ, ε, ε/σ, m"}
        ds = Dataset(positions=cat["positions"], forces=cat.get("forces"),
                     energies=cat.get("energies"), species=info["species"],
                     masses=info["masses"], box=info["box"], units=info["units"],
                     species_names=info.get("species_names"), provenance=provenance)
        ds.save(out)
        shutil.rmtree(parts, ignore_errors=True)
        self.dataset = ds
        yield


def _finished(out: Path, key: dict) -> Dataset:
    ds = Dataset.load(out)
    have = {k: ds.provenance.get(k) for k in key}
    if have != key:
        raise ValueError(f"{out} exists and was made with other settings; pass overwrite=True "
                         f"(CLI --overwrite) or choose another output. Saved: "
                         f"{json.dumps(have, sort_keys=True)}; requested: "
                         f"{json.dumps(key, sort_keys=True)}")
    return ds


def _claim_parts(parts: Path, key: dict) -> None:
    manifest = parts / "manifest.json"
    if manifest.exists():
        saved = io.read_json(manifest)
        if saved != key:
            raise ValueError(f"{parts} holds chunks of a run with other settings; pass "
                             "overwrite=True (CLI --overwrite) to discard them, or choose "
                             f"another output. Saved: {json.dumps(saved, sort_keys=True)}; "
                             f"requested: {json.dumps(key, sort_keys=True)}")
    else:
        parts.mkdir(parents=True, exist_ok=True)
        io.atomic_write_json(manifest, key)


def _read_chunk(path: Path, size: int) -> dict[str, np.ndarray] | None:
    """A complete saved chunk of ``size`` frames, or None (missing or unreadable)."""
    data = io.load_saved_part(path)
    if data is None or "positions" not in data or len(data["positions"]) != size:
        return None
    return data


# --- recipes ---------------------------------------------------------------------------------
def _openmm_systems():
    try:
        from workbench.molecules import openmm_systems
    except ImportError as exc:
        raise RuntimeError("the OpenMM systems (workbench.molecules.openmm_systems) are not "
                           f"available: {exc}") from exc
    return openmm_systems


@_register("water", "OpenMM water box (64 molecules), NVT 300 K: positions, forces, energies",
           chunk_frames=500)
def _water(seed: int = 0, n_molecules: int = 64, timestep_fs: float = 0.5, stride: int = 20,
           equilibration_steps: int = 20_000, platform: str = "CPU", **kwargs) -> OpenMMEngine:
    # flexible SPC/Fw: 0.5 fs steps; a frame every 10 fs; 10 ps of equilibration
    built = _openmm_systems().water_box(n_molecules, seed=seed, **kwargs)
    return OpenMMEngine(built.topology, built.system, built.positions, temperature_K=300.0,
                        friction_per_ps=1.0, timestep_fs=timestep_fs, stride=stride,
                        equilibration_steps=equilibration_steps, platform=platform,
                        label=f"water_box(n_molecules={n_molecules}, seed={seed})")


@_register("alanine_dipeptide",
           "OpenMM alanine dipeptide, Langevin 300 K: positions, forces, energies",
           chunk_frames=500)
def _alanine(seed: int = 0, solvent: str | None = None, timestep_fs: float = 0.5,
             stride: int = 200, equilibration_steps: int = 20_000, platform: str | None = None,
             **kwargs) -> OpenMMEngine:
    # flexible ff14SB (no constraints): 0.5 fs steps; a frame every 0.1 ps. In vacuum the
    # Reference platform by default: 60,000 steps/s for these 22 atoms against 1,100 for the
    # single-threaded CPU platform (measured 2026-11-30 on 2 cores)
    if platform is None:
        platform = "Reference" if solvent is None else "CPU"
    built = _openmm_systems().alanine_dipeptide(solvent=solvent, **kwargs)
    return OpenMMEngine(built.topology, built.system, built.positions, temperature_K=300.0,
                        friction_per_ps=1.0, timestep_fs=timestep_fs, stride=stride,
                        equilibration_steps=equilibration_steps, platform=platform,
                        label=f"alanine_dipeptide(solvent={solvent!r})")


def molecule_from_smiles(smiles: str, seed: int = 0):
    """``ase.Atoms`` for a SMILES string: RDKit ``AddHs``, ETKDG embedding with ``seed``,
    MMFF94 relaxation; each atom's formal charge and radical electrons as its initial charge
    and magnetic moment (which set the total charge and spin of the GFN2-xTB calculation).

    Raises:
      ValueError: a SMILES RDKit cannot parse, or of several disconnected fragments.
    """
    from ase import Atoms
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    n_fragments = len(Chem.GetMolFrags(mol))
    if n_fragments > 1:
        raise ValueError(f"SMILES {smiles!r} has {n_fragments} disconnected fragments (a '.'); "
                         "give one molecule")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % (2**31)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles!r}")
    AllChem.MMFFOptimizeMolecule(mol)
    atoms = mol.GetAtoms()
    return Atoms(numbers=[a.GetAtomicNum() for a in atoms],
                 positions=mol.GetConformer().GetPositions(),
                 charges=[a.GetFormalCharge() for a in atoms],
                 magmoms=[a.GetNumRadicalElectrons() for a in atoms])


def _xtb_engine(smiles: str, label: str, seed: int = 0, temperature_K: float = 500.0,
                stride: int = 10, equilibration_steps: int = 200, timestep_fs: float = 0.5,
                friction_per_fs: float = 0.01) -> ASEEngine:
    from importlib.metadata import version

    def calculator():
        from tblite.ase import TBLite

        return TBLite(method="GFN2-xTB", verbosity=0)

    stride, equilibration_steps = (_number(k, v, integer=True, minimum=m) for k, v, m in (
        ("stride", stride, 1), ("equilibration_steps", equilibration_steps, 0)))
    temperature_K, timestep_fs, friction_per_fs = (_number(k, v) for k, v in (
        ("temperature_K", temperature_K), ("timestep_fs", timestep_fs),
        ("friction_per_fs", friction_per_fs)))
    atoms = molecule_from_smiles(smiles, seed)
    info = {"name": "tblite.ase.TBLite", "method": "GFN2-xTB", "tblite_version":
            version("tblite"), "rdkit_version": _rdkit_version(), "smiles": smiles}
    charge = int(round(atoms.get_initial_charges().sum()))
    unpaired = int(round(atoms.get_initial_magnetic_moments().sum()))
    if charge or unpaired:  # recorded when not 0, so that neutral data made before still match
        info.update(charge=charge, unpaired_electrons=unpaired)
    return ASEEngine(atoms, calculator,
                     calculator_info=info, temperature_K=temperature_K, timestep_fs=timestep_fs,
                     friction_per_fs=friction_per_fs, stride=stride,
                     equilibration_steps=equilibration_steps, label=label)


def _number(name: str, value: Any, integer: bool = False, minimum: float | None = None
            ) -> float | int:
    """A recipe option as a number: an integer (``integer``) at least ``minimum``, else a
    float above 0; ``ValueError`` naming the option otherwise (e.g. ``--set stride=abc``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if integer and number != int(number):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if minimum is None and not number > 0:
        raise ValueError(f"{name} must be above 0, not {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return int(number) if integer else number


def _rdkit_version() -> str:
    import rdkit

    return rdkit.__version__


for _name in MOLECULES:
    _register(_name, f"{_name} (SMILES {MOLECULES[_name]}), GFN2-xTB via tblite, ASE Langevin "
              "500 K: energies, forces (eV, eV/Å)", chunk_frames=100)(
        lambda seed=0, _n=_name, **kw: _xtb_engine(MOLECULES[_n], _n, seed=seed, **kw))


@_register("smiles", "any small molecule from its SMILES (option smiles=...), GFN2-xTB via "
           "tblite, ASE Langevin 500 K: energies, forces (eV, eV/Å)", chunk_frames=100)
def _smiles(seed: int = 0, smiles: str | None = None, **kwargs) -> ASEEngine:
    if not smiles:
        raise ValueError("the smiles recipe needs a molecule: smiles=... (e.g. smiles=CCO; "
                         "on the command line --set smiles=CCO)")
    return _xtb_engine(str(smiles), f"smiles({smiles})", seed=seed, **kwargs)


def _lj_engine(name: str, seed: int = 0, **kwargs) -> LJEngine:
    density, temperature, _ = LJ_STATE_POINTS[name]
    kwargs.setdefault("density", density)
    kwargs.setdefault("temperature", temperature)
    return LJEngine(label=name, **kwargs)


for _name, (_rho, _t, _what) in LJ_STATE_POINTS.items():
    _register(_name, f"LJ {_what}: rho*={_rho}, T*={_t}; workbench Simulation, reduced units",
              chunk_frames=100)(lambda seed=0, _n=_name, **kw: _lj_engine(_n, seed=seed, **kw))
