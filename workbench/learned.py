"""``LearnedForceField``: a trained machine-learned force field as a value - its architecture,
the species it knows, its energy normalisation and its weights - that saves to and loads from a
run folder without pickle, and builds the kernel's ``MLFFModel``.

Files written by ``save(folder)`` (atomic writes):

- ``model.json``: ``{"architecture": {...}, "species": [Z, ...], "shifts": [eV, ...],
  "scale": eV, "format": 1}``;
- ``params.msgpack``: the flax parameters (``flax.serialization.msgpack_serialize``), read back
  with ``msgpack_restore``: no pickle, no template needed.

Species are atomic numbers (ASE units: Å, eV, amu, fs); ``species_index`` maps a structure's
atomic numbers to the model's species indices and names the ones the model never saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import param

from workbench import io
from workbench.architectures import Architecture, architecture_from_dict

MODEL_FILE = "model.json"
PARAMS_FILE = "params.msgpack"
FORMAT = 1


class LearnedForceField(param.Parameterized):
    """A trained force field (module docstring). ``params`` is the flax parameter pytree."""

    architecture = param.ClassSelector(class_=Architecture, doc="Architecture and its "
                                       "hyperparameters.")
    species = param.List(default=[], item_type=int, doc="Atomic numbers the model knows, in "
                         "the order of its species index.")
    shifts = param.List(default=[], item_type=float, doc="Per-species reference energies "
                        "(eV), fitted by least squares before training.")
    scale = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True),
                         doc="Energy scale of the network output (eV).")
    params = param.Parameter(default=None, doc="Flax parameter pytree.")
    run_id = param.String(default="", doc="Id of the training run it came from, if any.")

    @property
    def cutoff(self) -> float:
        return float(self.architecture.cutoff)

    def describe(self) -> str:
        from ase.data import chemical_symbols

        symbols = "".join(chemical_symbols[z] for z in self.species)
        return f"{self.architecture.label} ({symbols}, cutoff {self.cutoff:g} Å)"

    def species_index(self, atomic_numbers: Any) -> np.ndarray:
        """``[n_atoms]`` int32 indices into ``species`` for ``atomic_numbers``; ``ValueError``
        naming elements the model was not trained on."""
        from ase.data import chemical_symbols

        z = np.asarray(atomic_numbers, dtype=np.int64).reshape(-1)
        lookup = {int(s): i for i, s in enumerate(self.species)}
        missing = sorted({int(v) for v in z} - set(lookup))
        if missing:
            names = ", ".join(chemical_symbols[m] if 0 < m < len(chemical_symbols) else str(m)
                              for m in missing)
            known = ", ".join(chemical_symbols[s] for s in self.species)
            raise ValueError(f"the model was trained on {known} only; this structure also has "
                             f"{names}")
        return np.array([lookup[int(v)] for v in z], dtype=np.int32)

    def build_model(self):
        """The kernel ``MLFFModel`` (``kernels.mlff.model``)."""
        from kernels.mlff.model import energy_model

        module = self.architecture.module(len(self.species))
        return energy_model(module, self.cutoff, shifts=self.shifts, scale=self.scale)

    def md_weights(self) -> Any:
        """The weights as MD runs them: with the architecture's radial functions as cubic
        tables where it has them (``MLFFModel.tabulate_fn``: SchNet's filters; the same forces
        within 1e-5 relative, 2-3x faster), else the weights themselves; computed once per
        weights (0.7 s for SchNet at its defaults). ``ValueError`` when the model has no
        weights."""
        if self.params is None:
            raise ValueError("the learned force field has no weights")
        cached = getattr(self, "_md_weights", None)  # (the weights tabulated, the tables)
        if cached is None or cached[0] is not self.params:
            self._md_weights = (self.params, self.build_model().tabulate_fn(self.params))
        return self._md_weights[1]

    # --- files --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything but the weights (JSON)."""
        return {"architecture": self.architecture.to_dict(), "species": list(self.species),
                "shifts": list(self.shifts), "scale": float(self.scale), "format": FORMAT}

    def save(self, folder: str | Path) -> Path:
        """Write ``model.json`` and ``params.msgpack`` into ``folder`` (created)."""
        import jax
        from flax.serialization import msgpack_serialize

        if self.params is None:
            raise ValueError("this force field has no weights to save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = msgpack_serialize(jax.tree.map(np.asarray, jax.device_get(self.params)))
        with io.atomic_open(folder / PARAMS_FILE, "wb", encoding=None) as fh:
            fh.write(data)
        io.atomic_write_json(folder / MODEL_FILE, self.to_dict())
        return folder

    @classmethod
    def load(cls, folder: str | Path, run_id: str = "") -> LearnedForceField:
        """Read a model saved by ``save``; ``FileNotFoundError`` or ``ValueError`` naming the
        file when it is missing, from a newer format or corrupt."""
        from flax.serialization import msgpack_restore

        folder = Path(folder)
        for name in (MODEL_FILE, PARAMS_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder} holds no learned force field ({name} is "
                                        f"missing)")
        d = io.read_json(folder / MODEL_FILE)
        if not isinstance(d, dict) or d.get("format", 0) > FORMAT:
            raise ValueError(f"{folder / MODEL_FILE} is not a model description this version "
                             f"reads")
        try:
            params = msgpack_restore((folder / PARAMS_FILE).read_bytes())
        except Exception as exc:  # msgpack raises several types for a damaged file
            raise ValueError(f"{folder / PARAMS_FILE} could not be read: {exc}") from None
        return cls(architecture=architecture_from_dict(d["architecture"]),
                   species=[int(s) for s in d["species"]],
                   shifts=[float(s) for s in d["shifts"]], scale=float(d["scale"]),
                   params=params, run_id=run_id)
