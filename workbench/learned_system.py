"""A structure with a learned force field: ``learned_system(model, structure)`` gives the
``System`` that ``Simulation`` runs through the kernel's runner like any other, and
``load_model(ref)`` finds a trained model by run id or folder.

    model = load_model("20261129-230000-mlff-1a2b3c4d")        # or a folder with model.json
    system = learned_system(model, "water", n_molecules=64)     # a registered system's start
    system = learned_system(model, ase.io.read("aspirin.xyz"))  # any ase.Atoms (a Dataset frame:
                                                                # dataset.to_ase()[i])
    sim = Simulation(system, integrator="nve", temperature=300, timestep=0.5)

The structure keeps its positions (Å), masses (amu), box (Å; None: free space) and bonds (for
the viewer and the water RDFs); the interactions become the model's alone. ``System.validate``
names the elements the model was not trained on and refuses a box not longer than twice the
model cutoff. Units: ASE (Å, eV, amu, fs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from workbench.builders import SYSTEMS, build_system
from workbench.learned import MODEL_FILE, LearnedForceField
from workbench.registry import RunRegistry
from workbench.system import System

#: run kind of a training run (``workbench.mlff``), whose folder holds the model
MLFF_KIND = "mlff"


def load_model(ref: str | Path | LearnedForceField, registry: RunRegistry | None = None
               ) -> LearnedForceField:
    """The ``LearnedForceField`` that ``ref`` names: a model itself, a folder holding
    ``model.json`` and ``params.msgpack`` (``LearnedForceField.save``), or the id of a
    registered run whose folder holds them. ``ValueError`` when it names neither, or the files
    cannot be read."""
    if isinstance(ref, LearnedForceField):
        return ref
    folder = Path(ref).expanduser()
    run_id = ""
    if not (folder / MODEL_FILE).is_file():
        try:
            run = (registry or RunRegistry()).get(str(ref))
        except KeyError:
            raise ValueError(f"{ref!r} is neither a folder with {MODEL_FILE} nor the id of a "
                             "registered run") from None
        folder, run_id = Path(run.path), run.id
    try:
        return LearnedForceField.load(folder, run_id=run_id)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None


def model_runs(registry: RunRegistry | None = None) -> dict[str, str]:
    """``{label: run id}`` of the registered runs of kind ``"mlff"`` whose folder holds a model
    (``model.json``), newest first; label ``"<name> (<id>)"``."""
    registry = registry or RunRegistry()
    return {f"{run.name or 'model'} ({run.id})": run.id
            for run in registry.list(kind=MLFF_KIND) if (Path(run.path) / MODEL_FILE).is_file()}


def learned_system(model: LearnedForceField | str | Path, structure: System | Atoms | str,
                   *, box: Any = None, name: str | None = None, registry: RunRegistry | None = None,
                   **builder_kwargs: Any) -> System:
    """A ``System`` of ``structure`` driven by ``model`` (module docstring).

    Args:
      model: a ``LearnedForceField``, or what ``load_model`` accepts (folder, run id).
      structure: a ``System`` (its positions, masses, box and bonds are kept), an ASE ``Atoms``
        (fully periodic with an orthorhombic cell, or no periodicity at all: free space), or
        the name of a registered system (``workbench.builders.SYSTEMS``, e.g. ``"water"``)
        built with ``builder_kwargs``.
      box: ``[3]`` side lengths in Å to impose a periodic box (a scalar: a cube); default the
        structure's own.
      name: the system's name (default: the structure's).

    Raises ``ValueError`` for a structure with elements the model lacks, a box not longer than
    twice the model cutoff, a cell that is not orthorhombic, or species that are not elements.
    """
    model = load_model(model, registry)
    if isinstance(structure, str):
        if structure not in SYSTEMS:
            raise ValueError(f"unknown system {structure!r}; known: {sorted(SYSTEMS)}")
        structure = build_system(structure, **builder_kwargs)
    elif builder_kwargs:
        raise ValueError(f"{sorted(builder_kwargs)} apply to a registered system's name only")
    if isinstance(structure, System):
        s = structure
        positions, masses, bonds = s.positions, s.masses, s.bonds
        names, species, cell = list(s.species_names), s.species, s.box
        default_name = s.name
    elif isinstance(structure, Atoms):
        positions, masses, cell = _atoms_arrays(structure)
        symbols = structure.get_chemical_symbols()
        names = list(dict.fromkeys(symbols))
        species = np.array([names.index(x) for x in symbols], dtype=np.int32)
        bonds = None
        default_name = structure.get_chemical_formula()
    else:
        raise ValueError(f"structure must be a System, ase.Atoms or a system name, got "
                         f"{type(structure).__name__}")
    if box is not None:
        cell = np.broadcast_to(np.asarray(box, dtype=np.float64), (3,)).copy()
    if cell is not None:
        positions = np.mod(positions, cell)
    system = System(name=name or default_name, positions=np.asarray(positions, np.float64),
                    species=np.asarray(species, np.int32), species_names=names,
                    masses=np.asarray(masses, np.float64), box=cell, units="ase",
                    bonds=None if bonds is None else np.asarray(bonds, np.int64).reshape(-1, 2),
                    model=model)
    system.validate()
    return system


def _atoms_arrays(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(positions [n, 3] Å, masses [n] amu, box [3] Å or None)`` of ``atoms``."""
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)
    masses = np.asarray(atoms.get_masses(), dtype=np.float64)
    if not atoms.pbc.any():
        return positions, masses, None
    cell = np.asarray(atoms.cell, dtype=np.float64)
    if not atoms.pbc.all() or not np.allclose(cell, np.diag(np.diag(cell))) or np.any(
            np.diag(cell) <= 0):
        raise ValueError("a periodic structure needs pbc on all three axes and an "
                         "orthorhombic cell (diagonal, positive)")
    return positions, masses, np.diag(cell).copy()
