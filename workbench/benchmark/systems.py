"""Benchmark systems: what a force field is scored on, with the reference it is scored against.

A ``BenchmarkSystem`` names a kind (``molecule``: bond stability and h(r); ``water``: RDF
stability, partial RDFs and diffusivity, as ``score``), a protocol (``protocols.PROTOCOLS``),
and its reference: a trajectory or dataset file (or a run id), or a generator recipe
(``workbench.data.generate``) that makes one on first use and keeps it under
``paths.datasets_dir() / "benchmark"``. A system with a registered builder
(``workbench.builders``) also has a classical force field, the ``"classical"`` model.

Built in (``BENCHMARK_SYSTEMS``), both with references from OpenMM made here, never downloaded:

- ``water``: 64 flexible SPC/Fw waters with PME at 0.997 g/cm^3 (MDsim's water has 64 as well),
  MDsim's water protocol; reference: OpenMM Langevin at 300 K, 5 ps after 3 ps of
  equilibration, a frame every 10 fs (about 20 s to make).
- ``alanine_dipeptide``: ACE-ALA-NME, AMBER ff14SB, vacuum, scored as a molecule (bond
  stability, h(r)); reference: OpenMM Langevin at 300 K, a frame every 0.1 ps.

``BenchmarkSystem.from_reference(path, kind, protocol)`` makes a system of any reference file
(structure: its first frame; no classical force field).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench import paths
from workbench.benchmark.protocols import PROTOCOLS
from workbench.benchmark.score import KINDS

__all__ = ["BENCHMARK_SYSTEMS", "BenchmarkSystem", "get_system", "water_system"]


@dataclass(frozen=True)
class BenchmarkSystem:
    """One system of a benchmark (module docstring).

    ``builder`` / ``builder_options``: a registered system (its classical force field and
    starting structure); ``reference``: a file or run id; ``recipe`` / ``recipe_options`` /
    ``reference_frames``: how to make the reference when ``reference`` is None.
    """

    name: str
    kind: str
    protocol: str
    builder: str | None = None
    builder_options: dict = field(default_factory=dict)
    reference: str | None = None
    recipe: str | None = None
    recipe_options: dict = field(default_factory=dict)
    reference_frames: int = 200
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; known: "
                             f"{', '.join(PROTOCOLS)}")
        if self.reference is None and self.recipe is None:
            raise ValueError(f"system {self.name!r} needs a reference file or a recipe")

    @classmethod
    def from_reference(cls, reference: str | Path, kind: str, protocol: str | None = None,
                       name: str | None = None) -> BenchmarkSystem:
        """A system scored against ``reference`` (a dataset ``.npz``, ``.traj``, extxyz or a
        run id) and started from its first frame; ``protocol`` defaults to ``md17`` for a
        molecule and ``water`` for water."""
        protocol = protocol or {"molecule": "md17", "water": "water"}.get(kind, "")
        return cls(name or Path(str(reference)).stem, kind, protocol,
                   reference=str(reference), description=f"scored against {reference}")

    @property
    def has_classical(self) -> bool:
        return self.builder is not None

    def reference_path(self, progress=None) -> str:
        """The reference's file or run id; a recipe's reference is generated on first use
        (OpenMM: seconds; ``progress(done, total)`` frames) and then reused."""
        if self.reference is not None:
            return self.reference
        from workbench.data.generate import generate

        out = paths.datasets_dir() / "benchmark" / f"{self.name}-{self.recipe}-" \
            f"{self.reference_frames}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        generate(self.recipe, self.reference_frames, out, seed=0, progress=progress,
                 **self.recipe_options)
        return str(out)

    def reference_data(self):
        """The reference as a ``workbench.data.Dataset`` when it is one (forces for the force
        MAE), else None."""
        path = Path(self.reference_path())
        if path.suffix != ".npz":
            return None
        from workbench.data.dataset import Dataset

        return Dataset.load(path)

    def structure(self) -> Any:
        """The starting structure: the builder's ``System`` (classical force field included),
        or the reference's first frame as ASE ``Atoms``."""
        if self.builder is not None:
            from workbench.builders import build_system

            return build_system(self.builder, **self.builder_options)
        from workbench.benchmark.trajectory import load_trajectory

        return load_trajectory(self.reference_path()).head(1).to_atoms()[0]

    def elements(self) -> set[int]:
        """The atomic numbers present."""
        structure = self.structure()
        numbers = (structure.numbers if hasattr(structure, "numbers")
                   else structure.atomic_numbers())
        return {int(z) for z in np.asarray(numbers)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkSystem:
        return cls(**d)


def water_system(n_molecules: int = 64) -> BenchmarkSystem:
    """``n_molecules`` flexible SPC/Fw waters with PME at 0.997 g/cm^3 under MDsim's water
    protocol, with an OpenMM reference of 5 ps at 300 K (a frame every 10 fs); the built-in
    ``water`` has 64, as MDsim's."""
    name = "water" if n_molecules == 64 else f"water-{n_molecules}"
    return BenchmarkSystem(
        name, "water", "water", builder="water", builder_options={"n_molecules": n_molecules},
        recipe="water", recipe_options={"n_molecules": n_molecules,
                                        "equilibration_steps": 6_000},
        reference_frames=500, description=f"{n_molecules} flexible SPC/Fw waters, PME; "
        "reference OpenMM 300 K")


BENCHMARK_SYSTEMS: dict[str, BenchmarkSystem] = {s.name: s for s in (
    water_system(64),
    BenchmarkSystem("alanine_dipeptide", "molecule", "alanine_dipeptide",
                    builder="alanine_dipeptide_vacuum", recipe="alanine_dipeptide",
                    description="alanine dipeptide, AMBER ff14SB, vacuum; reference OpenMM "
                    "300 K"),
)}


def get_system(system: str | BenchmarkSystem | dict) -> BenchmarkSystem:
    """A built-in system by name, a ``BenchmarkSystem`` as is, or one from its ``to_dict``;
    ``ValueError`` naming the built-in ones otherwise."""
    if isinstance(system, BenchmarkSystem):
        return system
    if isinstance(system, dict):
        return BenchmarkSystem.from_dict(system)
    try:
        return BENCHMARK_SYSTEMS[system]
    except KeyError:
        raise ValueError(f"unknown benchmark system {system!r}; built in: "
                         f"{', '.join(BENCHMARK_SYSTEMS)} (or a BenchmarkSystem)") from None
