"""``SimulationSetup``: what the Simulate dashboard (and a notebook) chooses before pressing
Start: the registered system and its size and density, the pair potential and its parameters,
thermostat, temperature and time step. ``build()`` turns it into a validated ``Simulation``;
``problems()`` lists what is wrong with the current choice, parameter by parameter, so a view
can show each message next to its widget.
"""

from __future__ import annotations

import numpy as np
import param

from kernels.integrators import INTEGRATORS
from kernels.potentials import FAMILIES, get_family
from workbench.builders import SYSTEMS, build_system
from workbench.potential import PairPotential
from workbench.simulation import Simulation


class SimulationSetup(param.Parameterized):
    system = param.Selector(default="lj_fluid", objects=list(SYSTEMS), doc="System to simulate.")
    n_atoms = param.Integer(default=1000, bounds=(2, 200_000), doc="Number of atoms.")
    density = param.Number(default=0.8442, bounds=(0.001, 3.0), doc="Atoms per length^3.")
    family = param.Selector(default="lj", objects=list(FAMILIES), doc="Pair potential family.")
    potential_params = param.Dict(default={}, doc="Family parameters; per species pair as "
                                  "'AB' keys for mixtures ({'epsilon': {'AB': 1.5}}).")
    r_cutoff = param.Number(default=2.5, bounds=(0.5, 20.0), doc="Cutoff (length units).")
    cutoff_mode = param.Selector(default="truncated", objects=["truncated", "shifted", "smoothed"])
    integrator = param.Selector(default="langevin", objects=list(INTEGRATORS))
    temperature = param.Number(default=0.72, bounds=(0.0, None), softbounds=(0.05, 5.0),
                               doc="Temperature (system unit).")
    timestep = param.Number(default=0.005, bounds=(1e-5, 0.05), doc="Time step (tau).")
    friction = param.Number(default=1.0, bounds=(1e-3, 100.0), doc="Langevin friction (1/tau).")
    n_steps = param.Integer(default=100_000, bounds=(1, None), doc="Steps to run.")
    stride = param.Integer(default=10, bounds=(1, 10_000), doc="Steps between frames.")
    frames_per_chunk = param.Integer(default=5, bounds=(1, 1000), doc="Frames computed per "
                                     "chunk (the run yields between chunks).")
    seed = param.Integer(default=0)

    def species_names(self) -> list[str]:
        return build_system(self.system, n_atoms=4, density=0.1).species_names

    def default_potential(self) -> PairPotential:
        return build_system(self.system, n_atoms=4, density=0.1).potential

    def potential(self) -> PairPotential:
        """The chosen potential: the system's defaults, overridden by ``potential_params``."""
        names = self.species_names()
        base = self.default_potential()
        params = dict(base.params) if base.family == self.family else {}
        for key, value in self.potential_params.items():
            if isinstance(value, dict):  # per pair: {'AB': x}
                full = np.array(params.get(key, get_family(self.family).defaults[key]),
                                dtype=float)
                m = np.full((len(names),) * 2, full) if full.ndim == 0 else full.copy()
                for pair, v in value.items():
                    a, b = names.index(pair[0]), names.index(pair[1])
                    m[a, b] = m[b, a] = v
                params[key] = m.tolist()
            else:
                params[key] = value
        return PairPotential(family=self.family, params=params, r_cutoff=self.r_cutoff,
                             mode=self.cutoff_mode)

    def problems(self) -> dict[str, str]:
        """``{parameter name: message}`` for everything that would stop ``build()``."""
        out = {}
        try:
            self.potential().full_params(len(self.species_names()))
        except ValueError as exc:
            out["potential_params"] = str(exc)
            return out
        box = (self.n_atoms / self.density) ** (1 / 3)
        if box <= 2 * self.r_cutoff:
            out["r_cutoff"] = (f"the box ({box:.3g}) must be longer than twice the cutoff: use "
                               f"more atoms, a lower density or a cutoff below {box / 2:.3g}")
        return out

    def build(self) -> Simulation:
        """A new ``Simulation`` of a freshly built system (``ValueError`` if invalid)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems.values()))
        system = build_system(self.system, n_atoms=self.n_atoms, density=self.density,
                              r_cutoff=self.r_cutoff, potential=self.potential(), seed=self.seed)
        system.validate()
        return Simulation(system, integrator=self.integrator, temperature=self.temperature,
                          timestep=self.timestep, friction=self.friction, n_steps=self.n_steps,
                          stride=self.stride, frames_per_chunk=self.frames_per_chunk,
                          seed=self.seed)
