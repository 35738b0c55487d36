"""Named simulation protocols: the MD that MDsim ("Forces are not enough", Fu et al., TMLR
2023) runs with every force field before scoring it, as stored values, with short versions for
tests and demos.

Read from MDsim's ``configs/simulate/*.yml`` and ``simulate.py`` (github.com/kyonofx/MDsim):

- ``md17`` (aspirin, ethanol, naphthalene, salicylic acid): Nose-Hoover at 500 K, 0.5 fs,
  600,000 steps (300 ps), a frame every 100 steps (50 fs), velocities drawn at 500 K.
- ``water`` (64 flexible waters): Nose-Hoover at 300 K, 1 fs, 500,000 steps (500 ps), a frame
  every 100 steps (0.1 ps).
- ``alanine_dipeptide``: Langevin at 300 K, 2 fs, friction 0.5 in ASE's inverse time unit
  (MDsim hands ``friction: 0.5`` to ``ase.md.Langevin`` unconverted: 0.0491 / fs), 2,500,000
  steps (5 ns), a frame every 500 steps (1 ps). MDsim adds PLUMED metadynamics on (phi, psi)
  to sample F(phi, psi); the workbench does not (its F comes from the plain trajectory).

MDsim's Nose-Hoover thermostat has mass ``Q = 3 N kT (ttime dt)^2`` with ``ttime = 20``: a
thermostat time of 20 steps (10 fs for MD17, 20 fs for water), which is the
``thermostat_time`` here; the workbench's Nose-Hoover is jax_md's chain (5 links, the first
with the same mass up to the degrees of freedom), not MDsim's single thermostat.

Full lengths and their cost on this 2-core CPU (SchNet at its defaults, float32, measured with
``benchmarks/mlff_md.py``: about 500 steps/s for aspirin, 15 for 64 waters): ``md17`` about
20 minutes, ``water`` about 9 hours, ``alanine_dipeptide`` hours for a classical force field.
``short`` versions run about 20 frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ase import units as ase_units

__all__ = ["PROTOCOLS", "Protocol", "get_protocol"]

#: ASE's Langevin friction is per ASE time unit (Å sqrt(amu / eV), 10.18 fs): 0.5 of it per fs
_MDSIM_ALA_FRICTION_PER_FS = 0.5 * ase_units.fs


@dataclass(frozen=True)
class Protocol:
    """One protocol (module docstring). Times in fs, temperatures in K, friction per fs.

    ``kind``: what ``workbench.benchmark.score`` scores it as (``molecule``, ``water``,
    ``peptide``); ``source``: where the numbers come from.
    """

    name: str
    kind: str
    integrator: str
    temperature_K: float
    timestep_fs: float
    n_steps: int
    stride: int
    friction_per_fs: float | None = None
    thermostat_time_fs: float | None = None
    source: str = ""

    @property
    def simulated_ps(self) -> float:
        return self.n_steps * self.timestep_fs / 1000.0

    @property
    def frame_interval_ps(self) -> float:
        return self.stride * self.timestep_fs / 1000.0

    def short(self, n_frames: int = 20) -> Protocol:
        """The same dynamics for ``n_frames`` frames (tests, demos, teaching)."""
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        return replace(self, name=f"{self.name} (short)", n_steps=n_frames * self.stride)

    def settings(self) -> dict[str, Any]:
        """``workbench.Simulation`` parameters (ASE units: K, fs, 1/fs)."""
        out: dict[str, Any] = {"integrator": self.integrator,
                               "temperature": self.temperature_K,
                               "timestep": self.timestep_fs, "n_steps": self.n_steps,
                               "stride": self.stride}
        if self.friction_per_fs is not None:
            out["friction"] = self.friction_per_fs
        if self.thermostat_time_fs is not None:
            out["thermostat_time"] = self.thermostat_time_fs
        return out

    def simulation(self, force_field: Any, structure: Any = None, **overrides: Any):
        """A ``workbench.Simulation`` of this protocol. ``force_field``: a ``System`` (e.g. a
        classical force field's) or a learned model (``LearnedForceField``, folder or run
        id) with ``structure`` (ASE ``Atoms``, ``System`` or system name; as
        ``learned_simulation``). ``overrides``: other ``Simulation`` parameters (``seed``,
        ``precision``, ``n_steps``...). ``ValueError`` for a model without a structure."""
        from workbench.simulation import Simulation
        from workbench.simulation_setup import learned_simulation
        from workbench.system import System

        settings = {**self.settings(), **overrides}
        if isinstance(force_field, System):
            return Simulation(force_field, **settings)
        if structure is None:
            raise ValueError("a learned force field needs a structure to simulate")
        return learned_simulation(force_field, structure, **settings)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "simulated_ps": self.simulated_ps,
                "frame_interval_ps": self.frame_interval_ps}


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("md17", "molecule", "nose_hoover", 500.0, 0.5, 600_000, 100,
             thermostat_time_fs=20 * 0.5, source="MDsim configs/simulate/aspirin.yml (and the "
             "other MD17 molecules): NoseHoover, 500 K, 0.5 fs, ttime 20, 600,000 steps"),
    Protocol("water", "water", "nose_hoover", 300.0, 1.0, 500_000, 100,
             thermostat_time_fs=20 * 1.0, source="MDsim configs/simulate/water.yml: "
             "NoseHoover, 300 K, 1 fs, ttime 20, 500,000 steps"),
    Protocol("alanine_dipeptide", "peptide", "langevin", 300.0, 2.0, 2_500_000, 500,
             friction_per_fs=_MDSIM_ALA_FRICTION_PER_FS, source="MDsim "
             "configs/simulate/ala.yml: Langevin, 300 K, 2 fs, friction 0.5 (ASE units), "
             "2,500,000 steps; without its PLUMED metadynamics"),
)}


def get_protocol(name: str, short: bool = False) -> Protocol:
    """The protocol called ``name`` (``PROTOCOLS``), or its short version; ``ValueError``
    listing the names otherwise."""
    try:
        protocol = PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
    return protocol.short() if short else protocol
