"""The force fields a benchmark compares: a system's own classical force field (``"classical"``)
or a learned model (a folder written by ``LearnedForceField.save`` or the id of a run holding
one, e.g. a Train run or a simulation run of a learned model).

``BenchmarkModel.resolve`` turns what the user named into a folder every Dask worker can load
(no registry lookup on the worker), with a label for tables and plots; ``refusal`` says why a
model cannot run a system (no classical force field, elements it never saw), so a grid skips
that cell with the reason instead of failing on a worker. ``force_errors`` gives MDsim's
force-error column (energy and force MAE on reference frames; Fu et al., TMLR 2023).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from workbench.benchmark.systems import BenchmarkSystem

__all__ = ["CLASSICAL", "BenchmarkModel", "force_errors"]

CLASSICAL = "classical"
"""The model name of a system's own classical force field."""


@dataclass(frozen=True)
class BenchmarkModel:
    """``ref``: ``"classical"`` or a model folder (absolute); ``label``: for tables;
    ``species``: the atomic numbers a learned model knows (None for classical)."""

    ref: str
    label: str
    species: tuple[int, ...] | None = None

    @property
    def classical(self) -> bool:
        return self.ref == CLASSICAL

    @classmethod
    def resolve(cls, ref: Any, registry=None) -> BenchmarkModel:
        """``"classical"``, a ``LearnedForceField`` saved in a folder, a folder or a run id;
        ``ValueError`` (from ``load_model``) when it names none of these."""
        if isinstance(ref, BenchmarkModel):
            return ref
        if ref == CLASSICAL:
            return cls(CLASSICAL, "classical force field")
        from workbench.learned_system import load_model
        from workbench.registry import RunRegistry

        model = load_model(str(ref), registry)
        if model.run_id:
            run = (registry or RunRegistry()).get(model.run_id)
            folder = Path(run.path)
            label = f"{run.name or model.architecture.label} ({run.id[-8:]})"
        else:
            folder = Path(str(ref)).expanduser()
            label = f"{model.architecture.label} ({folder.name})"
        return cls(str(folder.resolve()), label, tuple(int(z) for z in model.species))

    def refusal(self, system: BenchmarkSystem, elements: set[int]) -> str | None:
        """Why this model cannot run ``system`` (whose atomic numbers are ``elements``), or
        None."""
        if self.classical:
            return None if system.has_classical else \
                f"{system.name} has no classical force field"
        missing = sorted(elements - set(self.species or ()))
        if missing:
            names = ", ".join(chemical_symbols[z] for z in missing)
            return f"{self.label} has never seen {names} (in {system.name})"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "label": self.label,
                "species": None if self.species is None else list(self.species)}


def force_errors(model: BenchmarkModel, system: BenchmarkSystem, max_frames: int = 50
                 ) -> dict[str, float] | None:
    """Energy and force MAE of ``model`` on up to ``max_frames`` reference frames (evenly
    spaced), in eV and eV/Å: ``{"force_mae", "energy_mae", "n_frames"}``; None when the
    reference holds no forces. The classical force field is evaluated through the kernel
    (float64), a learned one as ``ForceError``. Energies are compared after removing the mean
    difference (a force field's energy zero is arbitrary)."""
    data = system.reference_data()
    if data is None or data.forces is None:
        return None
    frames = np.unique(np.linspace(0, data.n_frames - 1, min(max_frames, data.n_frames))
                       .astype(int))
    test = data[frames]
    if not model.classical:
        from workbench.benchmark.forces import ForceError

        res = ForceError(test).run(model.ref).results
        return {"force_mae": float(res["force_mae"]), "energy_mae": float(res["energy_mae"]),
                "n_frames": int(len(frames))}
    energies, forces = _classical_energy_forces(system, test.positions)
    e_ref = np.asarray(test.energies, float) if test.energies is not None else None
    out = {"force_mae": float(np.mean(np.abs(forces - np.asarray(test.forces, float)))),
           "n_frames": int(len(frames))}
    if e_ref is not None:
        diff = energies - e_ref
        out["energy_mae"] = float(np.mean(np.abs(diff - diff.mean())))
    return out


#: jitted float64 energy-and-gradient per force field description, so every cell of a force
#: field in this process compiles it once
_ENERGY_AND_GRADIENT: dict[str, object] = {}


def _classical_energy_forces(system: BenchmarkSystem, positions: np.ndarray):
    """``([n_frames] eV, [n_frames, n_atoms, 3] eV/Å)`` of the system's classical force field."""
    import jax
    import jax.numpy as jnp

    forcefield = system.structure().forcefield
    ks = forcefield.build(jnp.float64)
    key = json.dumps(forcefield.to_dict(), sort_keys=True)
    energy = _ENERGY_AND_GRADIENT.get(key)
    if energy is None:
        energy = _ENERGY_AND_GRADIENT.setdefault(key, jax.jit(jax.value_and_grad(
            ks.energy_fn)))
    nbrs = None if ks.neighbor_fn is None else ks.neighbor_fn.allocate(
        jnp.asarray(positions[0]))
    energies, forces = [], []
    for R in positions:
        R = jnp.asarray(R)
        if nbrs is not None:
            nbrs = nbrs.update(R)
            if nbrs.did_buffer_overflow:
                nbrs = ks.neighbor_fn.allocate(R)
        e, g = energy(R, nbrs) if nbrs is not None else energy(R)
        energies.append(float(e))
        forces.append(-np.asarray(g))
    return np.asarray(energies), np.stack(forces)
