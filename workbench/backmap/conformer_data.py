"""A reference conformer set for conformer generation from a molecular graph, made offline.

ConfVAE (Xu et al., "An end-to-end framework for molecular conformation generation via bilevel
programming", ICML 2021) and its successors (ConfGF, GeoDiff) train and test on GEOM (Axelrod &
Gomez-Bombarelli, 2022), whose conformers come from CREST (metadynamics with GFN2-xTB, then
optimisation and a CREST ensemble sort). CREST is not installed here, so this module makes a
cheap stand-in with the same quantum chemistry: for each small molecule

1. RDKit ``AddHs``, an ETKDG embedding and MMFF94 relaxation
   (``workbench.data.generate.molecule_from_smiles``),
2. GFN2-xTB (tblite through ASE) Langevin dynamics at an elevated temperature
   (``DEFAULTS["temperature_K"]`` = 1000 K, 0.5 fs steps), hot enough to cross torsion barriers
   (0.1-0.2 eV, kT = 0.086 eV) within a picosecond but not to break bonds in that time,
   with ``n_snapshots`` snapshots evenly spaced over ``md_steps`` steps,
3. each snapshot and the start structure minimised with ASE's BFGS to ``fmax`` (eV/Å); a
   structure is rejected if it does not converge in ``max_opt_steps`` steps or if its bond graph
   (covalent radii, ``workbench.backmap.metrics.bond_matrix``) differs from RDKit's,
4. minima more than ``energy_window_eV`` above the lowest dropped (0.26 eV = 6 kcal/mol, CREST's
   default window), the rest deduplicated in order of energy by heavy-atom RMSD after alignment
   (``conformer_metrics.conformer_rmsd_matrix``, the RMSD of COV/MAT): a minimum within
   ``rmsd_threshold`` (0.25 Å) of a lower one is a copy of it. 0.25 Å is half the COV threshold
   of QM9-size molecules (0.5 Å): copies of one minimum left a few hundredths of an Å apart by
   the loose ``fmax``, and rotamers differing only in hydrogens (invisible to heavy-atom RMSD),
   are merged, while conformers the metric tells apart are kept. At most ``max_conformers``
   lowest-energy conformers are kept.

This samples far less than CREST (one trajectory of a few ps, no metadynamics bias), so the sets
hold fewer conformers per molecule than GEOM's: they are the low-energy minima reachable from one
start in that time. The atom order everywhere (the set, ``etkdg_conformers``, the metrics) is
that of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``.

Cost (measured on this 2-core machine, one core, the other busy; GFN2-xTB through tblite 0.8):
an MD step of a 12-20 atom molecule takes 5-10 ms (about half of it ASE's Python around the
tblite call) and a minimisation 30-80 BFGS steps (0.2-0.6 s), so a molecule takes 20-50 s with
the defaults. The built-in set (``CONFORMER_MOLECULES``, 30 molecules) took 18.5 minutes
(1109 s, 37 s per molecule) and holds 3-13 conformers per molecule, 206 in all (55 of the 6
test molecules); no structure was rejected for a changed bond graph or an unconverged
minimisation. The conformer count per molecule grows about linearly with ``md_steps`` (it is
far from converged at 2 ps): longer runs give larger references at proportional cost.
Against the 6 test molecules (threshold 0.5 Å, twice as many generated as reference
conformers) RDKit's ETKDG scores COV-R 0.95, MAT-R 0.25 Å, COV-P 0.70, MAT-P 0.34 Å (means;
with MMFF relaxation 0.95, 0.21, 0.75, 0.28): small molecules, so 0.5 Å is a loose threshold
and MAT tells methods apart better than COV.

    from workbench.backmap.conformer_data import CONFORMER_MOLECULES, make_conformer_set
    cs = make_conformer_set(CONFORMER_MOLECULES, "conformers.npz", progress=print)
    cs.test()[0].conformers  # [n_conformers, n_atoms, 3] Å

Resuming: every finished molecule is saved atomically as ``<out>.parts/molecule-NNNNN.npz``;
running again with the same molecules and settings continues after the saved ones, and the
result equals an uninterrupted run (each molecule's randomness comes from the seed and its
SMILES alone). When all are done the set is written to ``out`` and the parts removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench import io

__all__ = ["CONFORMER_MOLECULES", "CONFORMER_SPLIT", "DEFAULTS", "ConformerMolecule",
           "ConformerSet", "etkdg_conformers", "make_conformer_set", "xtb_energies", "xtb_relax"]

FORMAT = "workbench.conformer_set"
FORMAT_VERSION = 1

CONFORMER_SPLIT: dict[str, list[str]] = {
    "train": [
        "CCCCO", "CCCCCO", "CC(C)CO", "OCCCO", "OCCCCO",  # alcohols, diols
        "COCCO", "OCCOCCO", "CCOCC", "CCCOC", "COCCOC",  # ether alcohols, ethers
        "NCCO", "NCCCO", "CN(C)CCO", "CC(=O)NCCO",  # amino alcohols, an amide
        "CCCN", "CCNCC", "NCCN",  # amines
        "CCOC(C)=O", "CCCOC=O", "CCCC(=O)OC", "OCC(=O)OC", "CCOC(N)=O",  # esters, a carbamate
        "FCCO", "FCCCF",  # fluorides
    ],
    "test": ["CCOCCO", "OCC(O)CO", "NCCCCO", "CCNC(C)=O", "CCCOC(C)=O", "FCCCO"],
}
"""The built-in molecules by split: QM9-size (at most 7 heavy atoms of C, N, O, F), neutral,
flexible, without stereocentres (a reference made by MD keeps one enantiomer, which a generator
that does not see chirality cannot be scored against). The test molecules are other molecules
of the same kinds."""

CONFORMER_MOLECULES: list[str] = CONFORMER_SPLIT["train"] + CONFORMER_SPLIT["test"]

DEFAULTS: dict[str, Any] = {
    "temperature_K": 1000.0, "timestep_fs": 0.5, "friction_per_fs": 0.01, "md_steps": 4000,
    "n_snapshots": 40, "fmax": 0.05, "max_opt_steps": 300, "energy_window_eV": 0.26,
    "rmsd_threshold": 0.25, "max_conformers": 30,
}
"""Default settings of ``make_conformer_set`` (units in the names; fmax in eV/Å,
rmsd_threshold in Å)."""

Progress = Callable[[int, int, str], Any]


@dataclass
class ConformerMolecule:
    """One molecule of a ``ConformerSet``; atoms in ``Chem.AddHs(Chem.MolFromSmiles(smiles))``
    order.

    atomic_numbers ``[n_atoms]`` int; bonds ``[n_bonds, 2]`` int (RDKit's bonds, hydrogens
    included); bond_orders ``[n_bonds]`` float (1, 1.5 aromatic, 2, 3); conformers
    ``[n_conformers, n_atoms, 3]`` Å, in order of energy; energies ``[n_conformers]`` eV
    (GFN2-xTB); split "train" or "test".
    """

    smiles: str
    atomic_numbers: np.ndarray
    bonds: np.ndarray
    bond_orders: np.ndarray
    conformers: np.ndarray
    energies: np.ndarray
    split: str


@dataclass
class ConformerSet:
    """Reference conformers of several molecules, with the settings that made them.

    ``save(path)`` writes one ``.npz`` (ragged arrays concatenated, with per-molecule counts;
    settings, versions and per-molecule statistics as JSON); ``ConformerSet.load(path)`` reads
    it with ``allow_pickle=False``.
    """

    molecules: list[ConformerMolecule]
    settings: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per SMILES: candidates minimised, rejected (bond graph changed, not converged), kept."""

    def __len__(self) -> int:
        return len(self.molecules)

    def train(self) -> list[ConformerMolecule]:
        return [m for m in self.molecules if m.split == "train"]

    def test(self) -> list[ConformerMolecule]:
        return [m for m in self.molecules if m.split == "test"]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the set to ``path`` (exactly that name) atomically."""
        ms = self.molecules

        def cat(arrays, shape, dtype):
            arrays = [np.asarray(a, dtype).reshape(-1, *shape) for a in arrays]
            return np.concatenate(arrays) if arrays else np.zeros((0, *shape), dtype)

        io.atomic_save_npz(
            path, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
            settings=np.array(io.json_dumps(self.settings)),
            stats=np.array(io.json_dumps(self.stats)),
            smiles=np.array([m.smiles for m in ms], dtype=str),
            split=np.array([m.split for m in ms], dtype=str),
            n_atoms=np.array([len(m.atomic_numbers) for m in ms], np.int64),
            n_bonds=np.array([len(m.bonds) for m in ms], np.int64),
            n_conformers=np.array([len(m.energies) for m in ms], np.int64),
            atomic_numbers=cat([m.atomic_numbers for m in ms], (), np.int64),
            bonds=cat([m.bonds for m in ms], (2,), np.int64),
            bond_orders=cat([m.bond_orders for m in ms], (), np.float64),
            positions=cat([m.conformers for m in ms], (3,), np.float64),
            energies=cat([m.energies for m in ms], (), np.float64))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ConformerSet:
        """Read a set written by ``save``. Raises ValueError for a file that is missing, not an
        ``.npz``, or not a conformer set (of this format version)."""
        data = io.load_npz(path)
        if "format" not in data or str(data["format"]) != FORMAT:
            raise ValueError(f"{path} is not a conformer set (no format {FORMAT!r})")
        if int(data["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"{path}: conformer set format version {int(data['format_version'])}"
                             f", this code reads {FORMAT_VERSION}")
        n_atoms, n_bonds, n_conf = data["n_atoms"], data["n_bonds"], data["n_conformers"]
        atom_end, bond_end = np.cumsum(n_atoms), np.cumsum(n_bonds)
        energy_end, pos_end = np.cumsum(n_conf), np.cumsum(n_conf * n_atoms)
        molecules = []
        for i, smiles in enumerate(data["smiles"]):
            a = slice(atom_end[i] - n_atoms[i], atom_end[i])
            b = slice(bond_end[i] - n_bonds[i], bond_end[i])
            e = slice(energy_end[i] - n_conf[i], energy_end[i])
            p = slice(pos_end[i] - n_conf[i] * n_atoms[i], pos_end[i])
            molecules.append(ConformerMolecule(
                smiles=str(smiles), atomic_numbers=data["atomic_numbers"][a],
                bonds=data["bonds"][b], bond_orders=data["bond_orders"][b],
                conformers=data["positions"][p].reshape(n_conf[i], n_atoms[i], 3),
                energies=data["energies"][e], split=str(data["split"][i])))
        return cls(molecules, json.loads(str(data["settings"])), json.loads(str(data["stats"])))


# --- RDKit ------------------------------------------------------------------------------------
def _rdkit_molecule(smiles: str):
    """``Chem.AddHs`` molecule of one SMILES; ValueError if it cannot be used here."""
    from rdkit import Chem

    from workbench.backmap.metrics import COVALENT_RADII

    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise ValueError(f"SMILES {smiles!r} has several fragments; give one molecule")
    unknown = {a.GetSymbol() for a in mol.GetAtoms()} - set(COVALENT_RADII)
    if unknown:
        raise ValueError(f"SMILES {smiles!r}: no covalent radius for {sorted(unknown)}")
    loose = [i.centeredOn for i in Chem.FindPotentialStereo(mol)
             if i.specified != Chem.StereoSpecified.Specified]
    if loose:
        raise ValueError(f"SMILES {smiles!r} leaves stereo unassigned at atom(s) {loose}; give "
                         "it (@, @@, /, \\): MD keeps one stereoisomer, ETKDG would mix them")
    return Chem.AddHs(mol)


def _graph(mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(atomic numbers [n_atoms], bonds [n_bonds, 2], bond orders [n_bonds]) of an RDKit Mol."""
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], np.int64)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()],
                     np.int64).reshape(-1, 2)
    orders = np.array([b.GetBondTypeAsDouble() for b in mol.GetBonds()], np.float64)
    return z, bonds, orders


def etkdg_conformers(smiles: str, n_conformers: int, *, seed: int = 0,
                     mmff: bool = False) -> np.ndarray:
    """RDKit ETKDGv3 conformers (``EmbedMultipleConfs``), optionally MMFF94-relaxed
    (``MMFFOptimizeMoleculeConfs``, RDKit's defaults): ``[n_conformers, n_atoms, 3]`` Å in the
    atom order of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``, deterministic for ``seed``.
    Raises ValueError for a SMILES that cannot be used (see ``make_conformer_set``) or
    ``n_conformers < 1``, RuntimeError if RDKit embeds fewer conformers than asked."""
    from rdkit.Chem import AllChem

    if n_conformers < 1:
        raise ValueError(f"n_conformers must be >= 1, not {n_conformers}")
    mol = _rdkit_molecule(smiles)
    params = AllChem.ETKDGv3()
    # 1 ... 2^31 - 1: with randomSeed 0, RDKit 2026.09 embeds the same conformer every time
    params.randomSeed = int(seed) % (2**31 - 1) + 1
    ids = list(AllChem.EmbedMultipleConfs(mol, int(n_conformers), params))
    if len(ids) < n_conformers:
        raise RuntimeError(f"RDKit embedded {len(ids)} of {n_conformers} conformers of {smiles!r}")
    if mmff:
        AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1)
    return np.array([mol.GetConformer(i).GetPositions() for i in ids])


# --- GFN2-xTB ---------------------------------------------------------------------------------
def _calculator():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def _one_thread():
    from threadpoolctl import threadpool_limits

    # one OpenMP thread for tblite and one BLAS thread for BFGS's small eigensolves: the
    # default thread pools make a 36 x 36 ``eigh`` ~100x slower on a busy machine
    return threadpool_limits(limits=1)


def _atoms(atomic_numbers, charge: int):
    from ase import Atoms

    z = np.asarray(atomic_numbers, int)
    charges = np.zeros(len(z))
    if len(z):
        charges[0] = charge
    return Atoms(numbers=z, charges=charges)


def _frames(atomic_numbers, positions) -> np.ndarray:
    positions = np.asarray(positions, np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(atomic_numbers), 3):
        raise ValueError(f"positions must be [n, {len(atomic_numbers)}, 3], got {positions.shape}")
    return positions


def _relax(template, positions, fmax: float, max_steps: int):
    """(positions, energy eV, converged) of one BFGS minimisation with a fresh calculator."""
    from ase.optimize import BFGS

    atoms = template.copy()
    atoms.positions = positions
    atoms.calc = _calculator()
    converged = BFGS(atoms, maxstep=0.2, logfile=None).run(fmax=fmax, steps=max_steps)
    return atoms.positions.copy(), float(atoms.get_potential_energy()), bool(converged)


def xtb_energies(atomic_numbers, positions, *, charge: int = 0) -> np.ndarray:
    """GFN2-xTB single-point energies (tblite), ``[n]`` eV, of ``positions`` ``[n, n_atoms, 3]``
    Å of one molecule with ``atomic_numbers`` ``[n_atoms]``, closed shell, total ``charge``.
    Raises ValueError on shapes that do not fit."""
    positions = _frames(atomic_numbers, positions)
    template, out = _atoms(atomic_numbers, charge), []
    with _one_thread():
        for x in positions:
            atoms = template.copy()
            atoms.positions = x
            atoms.calc = _calculator()
            out.append(atoms.get_potential_energy())
    return np.array(out, np.float64)


def xtb_relax(atomic_numbers, positions, *, fmax: float = DEFAULTS["fmax"],
              max_steps: int = DEFAULTS["max_opt_steps"], charge: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GFN2-xTB (tblite) minimisation of each structure with ASE's BFGS (steps of at most
    0.2 Å) to a largest atomic force of ``fmax`` eV/Å or ``max_steps`` steps.

    positions: ``[n, n_atoms, 3]`` Å. Returns (positions ``[n, n_atoms, 3]`` Å, energies ``[n]``
    eV, converged ``[n]`` bool). Raises ValueError on shapes that do not fit.
    """
    positions = _frames(atomic_numbers, positions)
    template = _atoms(atomic_numbers, charge)
    with _one_thread():
        out = [_relax(template, x, fmax, max_steps) for x in positions]
    return (np.array([o[0] for o in out]).reshape(positions.shape),
            np.array([o[1] for o in out]), np.array([o[2] for o in out], bool))


# --- the set ----------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import ase
    import rdkit

    return {"tblite": version("tblite"), "rdkit": rdkit.__version__, "ase": ase.__version__}


def _molecule_seed(seed: int, smiles: str) -> int:
    from workbench.data.engines import derive_seed

    return derive_seed(seed, zlib.crc32(smiles.encode()))


def _conformers(smiles: str, mol, s: dict[str, Any], seed: int):
    """(conformers [n, n_atoms, 3] Å, energies [n] eV, statistics) of one molecule."""
    from workbench.backmap.conformer_metrics import conformer_rmsd_matrix
    from workbench.backmap.metrics import bond_matrix
    from workbench.data.engines import ASEEngine, derive_seed
    from workbench.data.generate import molecule_from_smiles

    z, bonds, _ = _graph(mol)
    start = molecule_from_smiles(smiles, seed)
    if not np.array_equal(start.numbers, z):
        raise RuntimeError(f"{smiles!r}: molecule_from_smiles changed the atom order")
    engine = ASEEngine(start, _calculator, calculator_info={}, temperature_K=s["temperature_K"],
                       timestep_fs=s["timestep_fs"], friction_per_fs=s["friction_per_fs"],
                       stride=s["md_steps"] // s["n_snapshots"], equilibration_steps=0)
    with _one_thread():
        state = engine.initial_state(seed)
        frames, _ = engine.run_chunk(state, s["n_snapshots"], derive_seed(seed, 3))
        candidates = np.concatenate([start.positions[None], frames["positions"]])
        relaxed = [_relax(start, x, s["fmax"], s["max_opt_steps"]) for x in candidates]

    expected = np.zeros((len(z), len(z)), bool)
    expected[bonds[:, 0], bonds[:, 1]] = expected[bonds[:, 1], bonds[:, 0]] = True
    converged = np.array([r[2] for r in relaxed])
    same_graph = np.array([np.array_equal(bond_matrix(r[0], z), expected) for r in relaxed])
    ok = converged & same_graph
    pos = np.array([r[0] for r in relaxed])[ok].reshape(-1, len(z), 3)
    energy = np.array([r[1] for r in relaxed])[ok]
    stats = {"candidates": len(candidates), "rejected_bond_graph": int((~same_graph).sum()),
             "not_converged": int((~converged).sum())}
    if len(energy):
        order = np.argsort(energy, kind="stable")
        order = order[energy[order] <= energy[order[0]] + s["energy_window_eV"]]
        pos, energy = pos[order], energy[order]
        d = conformer_rmsd_matrix(pos, pos, mol)
        keep: list[int] = []
        for i in range(len(energy)):
            if all(d[i, j] > s["rmsd_threshold"] for j in keep):
                keep.append(i)
        keep = keep[:s["max_conformers"]]
        pos, energy = pos[keep], energy[keep]
    stats["kept"] = len(energy)
    return pos, energy, stats


def _settings(smiles: Sequence[str], splits: list[str], seed: int, s: dict[str, Any]) -> dict:
    return json.loads(io.json_dumps({
        "format": FORMAT, "smiles": list(smiles), "split": splits, "seed": int(seed), **s,
        "method": "GFN2-xTB (tblite) Langevin MD, BFGS minima, heavy-atom RMSD deduplication",
        "versions": _versions()}))


def make_conformer_set(smiles: Sequence[str], out: str | os.PathLike[str], *,
                       split: str | Sequence[str] | None = None,
                       temperature_K: float = DEFAULTS["temperature_K"],
                       timestep_fs: float = DEFAULTS["timestep_fs"],
                       friction_per_fs: float = DEFAULTS["friction_per_fs"],
                       md_steps: int = DEFAULTS["md_steps"],
                       n_snapshots: int = DEFAULTS["n_snapshots"],
                       fmax: float = DEFAULTS["fmax"],
                       max_opt_steps: int = DEFAULTS["max_opt_steps"],
                       energy_window_eV: float = DEFAULTS["energy_window_eV"],
                       rmsd_threshold: float = DEFAULTS["rmsd_threshold"],
                       max_conformers: int = DEFAULTS["max_conformers"],
                       seed: int = 0, overwrite: bool = False,
                       progress: Progress | None = None) -> ConformerSet:
    """Make reference conformers of ``smiles`` (module docstring) into ``out`` and return them.

    smiles: SMILES strings (e.g. ``CONFORMER_MOLECULES``); split: "train" or "test" for all, one
    per molecule, or None: the molecule's split in ``CONFORMER_SPLIT``, else "train". Settings:
    MD at ``temperature_K`` with ``timestep_fs`` steps and friction ``friction_per_fs`` for
    ``md_steps`` steps, ``n_snapshots`` snapshots; BFGS to ``fmax`` eV/Å within
    ``max_opt_steps``; ``energy_window_eV`` above the lowest minimum; deduplication at
    ``rmsd_threshold`` Å; at most ``max_conformers`` per molecule. Deterministic for ``seed``.

    progress(done_molecules, total, message) is called after each molecule; an exception from
    it stops the run with the finished molecules kept in ``<out>.parts``. A finished ``out``
    made with the same settings is loaded and returned.

    Raises:
      ValueError: a SMILES that RDKit cannot parse, of several fragments, with an element
        without a covalent radius or unassigned stereo (before any work); repeated SMILES; a
        bad split or setting; ``out`` or its parts made with other settings and not
        ``overwrite``.
    """
    smiles = [smiles] if isinstance(smiles, str) else list(smiles)
    if not smiles:
        raise ValueError("no molecules given")
    if len(set(smiles)) != len(smiles):
        raise ValueError("repeated SMILES in the list")
    mols = [_rdkit_molecule(s) for s in smiles]
    known = {m: k for k, ms in CONFORMER_SPLIT.items() for m in ms}
    if split is None:
        splits = [known.get(s, "train") for s in smiles]
    else:
        splits = [split] * len(smiles) if isinstance(split, str) else list(split)
    if len(splits) != len(smiles) or set(splits) - {"train", "test"}:
        raise ValueError(f"split must be 'train'/'test', or one of them per molecule: {split!r}")
    s = {"temperature_K": float(temperature_K), "timestep_fs": float(timestep_fs),
         "friction_per_fs": float(friction_per_fs), "md_steps": int(md_steps),
         "n_snapshots": int(n_snapshots), "fmax": float(fmax),
         "max_opt_steps": int(max_opt_steps), "energy_window_eV": float(energy_window_eV),
         "rmsd_threshold": float(rmsd_threshold), "max_conformers": int(max_conformers)}
    if not (s["n_snapshots"] >= 1 and s["md_steps"] >= s["n_snapshots"]
            and s["max_conformers"] >= 1 and s["max_opt_steps"] >= 1
            and min(s["temperature_K"], s["timestep_fs"], s["fmax"], s["rmsd_threshold"]) > 0
            and s["friction_per_fs"] >= 0 and s["energy_window_eV"] >= 0):
        raise ValueError(f"bad settings: {s} (need md_steps >= n_snapshots >= 1, "
                         "max_conformers, max_opt_steps >= 1, positive T, dt, fmax, threshold)")
    settings = _settings(smiles, splits, seed, s)

    out = Path(out)
    parts = out.parent / f"{out.name}.parts"
    if out.exists() and not overwrite:
        done = ConformerSet.load(out)
        if done.settings != settings:
            raise ValueError(f"{out} exists and was made with other settings; pass "
                             f"overwrite=True or choose another output. Saved: "
                             f"{json.dumps(done.settings)}; requested: {json.dumps(settings)}")
        return done
    if overwrite:
        out.unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
    manifest = parts / "manifest.json"
    if manifest.exists() and io.read_json(manifest) != settings:
        raise ValueError(f"{parts} holds molecules of a run with other settings; pass "
                         "overwrite=True to discard them, or choose another output")
    parts.mkdir(parents=True, exist_ok=True)
    io.atomic_write_json(manifest, settings)

    molecules, stats = [], {}
    for i, (smi, mol, spl) in enumerate(zip(smiles, mols, splits, strict=True)):
        part = parts / f"molecule-{i:05d}.npz"
        z, bonds, orders = _graph(mol)
        saved = _read_part(part, smi)
        if saved is None:
            t0 = time.perf_counter()
            pos, energy, st = _conformers(smi, mol, s, _molecule_seed(seed, smi))
            st["seconds"] = round(time.perf_counter() - t0, 1)
            io.atomic_save_npz(part, smiles=np.array(smi), conformers=pos, energies=energy,
                               stats=np.array(io.json_dumps(st)))
            message = f"{smi}: {len(energy)} conformers in {st['seconds']} s"
        else:
            pos, energy, st = saved
            message = f"{smi}: {len(energy)} conformers (saved before)"
        stats[smi] = st
        molecules.append(ConformerMolecule(smi, z, bonds, orders, pos, energy, spl))
        if progress is not None:
            progress(i + 1, len(smiles), message)

    result = ConformerSet(molecules, settings, stats)
    result.save(out)
    shutil.rmtree(parts, ignore_errors=True)
    return result


def _read_part(path: Path, smiles: str):
    """(conformers, energies, stats) of a saved molecule, or None (missing or unreadable)."""
    data = io.load_saved_part(path)
    if data is None or str(data.get("smiles")) != smiles:
        return None
    return data["conformers"], data["energies"], json.loads(str(data["stats"]))
