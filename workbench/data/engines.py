"""The engines that make reference frames: OpenMM, ASE dynamics with a calculator (GFN2-xTB
through tblite), and the workbench's own ``Simulation`` for Lennard-Jones fluids.

Every engine has the same three-part interface, which the chunked, resumable runner in
``workbench.data.generate`` drives:

- ``describe() -> dict``: species, masses, box, units and a JSON ``settings`` dict that, with
  the seed, identifies the run (a resumed run must match it);
- ``initial_state(seed) -> dict[str, ndarray]``: the equilibrated starting state (positions and
  velocities, after any minimisation and equilibration);
- ``run_chunk(state, n_frames, seed) -> (frames, state)``: ``n_frames`` frames (``positions``
  and, where the engine gives them, ``forces`` and ``energies``, in the dataset's units) and
  the state after the last one.

The state is plain arrays, saved with every chunk. Each chunk starts a fresh engine (context,
calculator, simulation) from the saved state with a seed derived from the run's seed and the
chunk's index, so an interrupted and resumed run repeats exactly what an uninterrupted run
does. The dynamics are continuous across chunks (positions and velocities carry over); only
the thermostat's random stream is re-seeded.

Determinism: OpenMM's CPU platform is used single-threaded with ``DeterministicForces`` (with
two threads its Langevin noise depends on the threads' work split, measured here); tblite runs
with one OpenMP thread (``threadpoolctl``), which is also much faster on a loaded machine.
The integrators, force fields and quantum chemistry are the engines' own; the code here only
converts units and moves arrays between them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ASEEngine", "LJEngine", "OpenMMEngine", "derive_seed"]


def derive_seed(seed: int, *tags: int) -> int:
    """A seed in [1, 2^31 - 1] derived from ``seed`` and integer ``tags`` (never 0: OpenMM
    takes a seed of 0 to mean "pick one at random")."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *(int(t) for t in tags)])
    return int(state.generate_state(1, dtype=np.uint32)[0]) % (2**31 - 1) + 1


def _digest(*arrays_or_text: Any) -> str:
    h = hashlib.sha256()
    for item in arrays_or_text:
        h.update(item.encode() if isinstance(item, str) else np.ascontiguousarray(item).tobytes())
    return h.hexdigest()[:16]


# --- OpenMM --------------------------------------------------------------------------------
class OpenMMEngine:
    """Langevin (``LangevinMiddleIntegrator``) dynamics of an OpenMM ``System``.

    ``positions`` are ``[n_atoms, 3]`` in nm. Frames are written in ASE units: positions Å,
    forces eV/Å, energies eV (potential energy), converted with ``ase.units``. Periodic
    systems are recorded with molecules wrapped into the box (OpenMM's
    ``enforcePeriodicBox``); the carried state is not wrapped.
    """

    def __init__(self, topology, system, positions, *, temperature_K: float = 300.0,
                 friction_per_ps: float = 1.0, timestep_fs: float = 1.0, stride: int = 10,
                 minimize: bool = True, equilibration_steps: int = 10_000,
                 platform: str = "CPU", label: str = "openmm-system"):
        import openmm

        if stride < 1 or equilibration_steps < 0:
            raise ValueError("stride must be >= 1 and equilibration_steps >= 0")
        if platform not in ("CPU", "Reference"):
            raise ValueError("platform must be 'CPU' or 'Reference' (deterministic forces)")
        self.topology, self.system = topology, system
        self.positions = np.asarray(positions, dtype=np.float64)
        n = system.getNumParticles()
        if self.positions.shape != (n, 3):
            raise ValueError(f"positions must be [{n}, 3] nm, got {self.positions.shape}")
        if not np.all(np.isfinite(self.positions)):
            raise ValueError("positions contain NaN or infinity")
        self.temperature_K, self.friction_per_ps = float(temperature_K), float(friction_per_ps)
        self.timestep_fs, self.stride = float(timestep_fs), int(stride)
        self.minimize, self.equilibration_steps = bool(minimize), int(equilibration_steps)
        self.platform, self.label = platform, label
        self.version = openmm.__version__

    def _species(self) -> np.ndarray:
        z = []
        for atom in self.topology.atoms():
            if atom.element is None:
                raise ValueError(f"atom {atom.index} ({atom.name}) has no element (a virtual "
                                 "site?); datasets hold real atoms only")
            z.append(atom.element.atomic_number)
        return np.array(z)

    def _box_A(self) -> np.ndarray | None:
        if not self.system.usesPeriodicBoundaryConditions():
            return None
        vecs = np.array([[v.x, v.y, v.z] for v in self.system.getDefaultPeriodicBoxVectors()])
        if np.any(np.abs(vecs - np.diag(np.diag(vecs))) > 1e-9):
            raise ValueError("only orthorhombic boxes are supported")
        return np.diag(vecs) * 10.0

    def describe(self) -> dict[str, Any]:
        import openmm

        system_xml = openmm.XmlSerializer.serialize(self.system)
        settings = {"engine": "openmm", "system": self.label,
                    "integrator": "LangevinMiddleIntegrator",
                    "temperature_K": self.temperature_K,
                    "friction_per_ps": self.friction_per_ps, "timestep_fs": self.timestep_fs,
                    "stride": self.stride, "minimize": self.minimize,
                    "equilibration_steps": self.equilibration_steps,
                    "platform": self.platform, "platform_properties": self._properties(),
                    "n_constraints": self.system.getNumConstraints(),
                    "system_sha256": _digest(system_xml, self.positions)}
        masses = np.array([self.system.getParticleMass(i)._value
                           for i in range(self.system.getNumParticles())])
        return {"species": self._species(), "masses": masses, "box": self._box_A(),
                "units": "ase", "settings": settings,
                "engine": {"name": "openmm", "version": self.version}}

    def _properties(self) -> dict[str, str]:
        return {"Threads": "1", "DeterministicForces": "true"} if self.platform == "CPU" else {}

    def _context(self, seed: int):
        import openmm
        import openmm.unit as u

        integrator = openmm.LangevinMiddleIntegrator(
            self.temperature_K * u.kelvin, self.friction_per_ps / u.picosecond,
            self.timestep_fs * u.femtosecond)
        integrator.setRandomNumberSeed(seed)
        platform = openmm.Platform.getPlatformByName(self.platform)
        return openmm.Context(self.system, integrator, platform, self._properties()), integrator

    def initial_state(self, seed: int) -> dict[str, np.ndarray]:
        import openmm
        import openmm.unit as u

        context, integrator = self._context(derive_seed(seed, 0))
        context.setPositions(self.positions)
        if self.minimize:
            openmm.LocalEnergyMinimizer.minimize(context, 10.0, 2000)
        context.setVelocitiesToTemperature(self.temperature_K * u.kelvin, derive_seed(seed, 1))
        if self.equilibration_steps:
            integrator.step(self.equilibration_steps)
        state = context.getState(getPositions=True, getVelocities=True)
        return {"positions": state.getPositions(asNumpy=True).value_in_unit(u.nanometer),
                "velocities": state.getVelocities(asNumpy=True).value_in_unit(
                    u.nanometer / u.picosecond)}

    def run_chunk(self, state: dict[str, np.ndarray], n_frames: int, seed: int):
        import openmm.unit as u
        from ase import units

        kj_mol = units.kJ / units.mol  # eV
        context, integrator = self._context(seed)
        context.setPositions(state["positions"])
        context.setVelocities(state["velocities"])
        periodic = self.system.usesPeriodicBoundaryConditions()
        pos, forces, energies = [], [], []
        for _ in range(n_frames):
            integrator.step(self.stride)
            s = context.getState(getPositions=True, getForces=True, getEnergy=True,
                                 enforcePeriodicBox=periodic)
            pos.append(s.getPositions(asNumpy=True).value_in_unit(u.nanometer) * 10.0)
            forces.append(s.getForces(asNumpy=True).value_in_unit(
                u.kilojoule_per_mole / u.nanometer) * kj_mol / 10.0)
            energies.append(s.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole) * kj_mol)
        end = context.getState(getPositions=True, getVelocities=True)
        new_state = {"positions": end.getPositions(asNumpy=True).value_in_unit(u.nanometer),
                     "velocities": end.getVelocities(asNumpy=True).value_in_unit(
                         u.nanometer / u.picosecond)}
        frames = {"positions": np.array(pos), "forces": np.array(forces),
                  "energies": np.array(energies)}
        return frames, new_state


# --- ASE dynamics with a calculator (tblite) -----------------------------------------------
class ASEEngine:
    """ASE ``Langevin`` dynamics of an isolated molecule with a calculator from
    ``calculator_factory()`` (e.g. tblite GFN2-xTB), in ASE units (Å, eV, eV/Å).

    A fresh calculator is made for every chunk: tblite reuses the last wavefunction as its
    next SCF guess, so sharing one across chunks would make a resumed run differ (slightly)
    from an uninterrupted one. The centre of mass is held fixed with ``ase.constraints.FixCom``
    (ASE's recommended replacement for ``fixcm``); recorded forces are the calculator's,
    before the constraint. ``threads`` limits OpenMP threads during the run.
    """

    def __init__(self, atoms, calculator_factory: Callable[[], Any], *,
                 calculator_info: dict[str, Any], temperature_K: float = 500.0,
                 timestep_fs: float = 0.5, friction_per_fs: float = 0.01, stride: int = 10,
                 equilibration_steps: int = 200, threads: int = 1, label: str = "molecule"):
        if stride < 1 or equilibration_steps < 0 or threads < 1:
            raise ValueError("stride and threads must be >= 1, equilibration_steps >= 0")
        self.atoms = atoms.copy()
        self.atoms.calc = None
        self.calculator_factory, self.calculator_info = calculator_factory, calculator_info
        self.temperature_K, self.timestep_fs = float(temperature_K), float(timestep_fs)
        self.friction_per_fs, self.stride = float(friction_per_fs), int(stride)
        self.equilibration_steps, self.threads = int(equilibration_steps), int(threads)
        self.label = label

    def describe(self) -> dict[str, Any]:
        import ase

        settings = {"engine": "ase", "system": self.label, "integrator": "ase.md.Langevin",
                    "temperature_K": self.temperature_K, "timestep_fs": self.timestep_fs,
                    "friction_per_fs": self.friction_per_fs, "stride": self.stride,
                    "equilibration_steps": self.equilibration_steps, "fix_com": True,
                    "omp_threads": self.threads, "calculator": self.calculator_info,
                    "start_sha256": _digest(self.atoms.numbers, self.atoms.positions)}
        return {"species": self.atoms.numbers.copy(), "masses": self.atoms.get_masses(),
                "box": None, "units": "ase", "settings": settings,
                "engine": {"name": "ase", "version": ase.__version__, **{
                    k: v for k, v in self.calculator_info.items() if k.endswith("version")}}}

    def _atoms(self, state: dict[str, np.ndarray] | None):
        from ase.constraints import FixCom

        atoms = self.atoms.copy()
        if state is not None:
            atoms.positions = state["positions"]
            atoms.set_momenta(state["momenta"], apply_constraint=False)
        atoms.set_constraint(FixCom())
        atoms.calc = self.calculator_factory()
        return atoms

    def _dynamics(self, atoms, seed: int):
        from ase import units
        from ase.md.langevin import Langevin

        return Langevin(atoms, timestep=self.timestep_fs * units.fs,
                        temperature_K=self.temperature_K,
                        friction=self.friction_per_fs / units.fs, fixcm=False,
                        rng=np.random.default_rng(seed))

    def _limits(self):
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads, user_api="openmp")

    def initial_state(self, seed: int) -> dict[str, np.ndarray]:
        from ase.md import velocitydistribution as vd

        # thermalize_momenta is ASE >= 3.29's name for MaxwellBoltzmannDistribution
        thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
        with self._limits():
            atoms = self._atoms(None)
            thermalize(atoms, temperature_K=self.temperature_K,
                       rng=np.random.default_rng(derive_seed(seed, 1)))
            vd.Stationary(atoms)
            if self.equilibration_steps:
                self._dynamics(atoms, derive_seed(seed, 2)).run(self.equilibration_steps)
        return {"positions": atoms.positions.copy(), "momenta": atoms.get_momenta()}

    def run_chunk(self, state: dict[str, np.ndarray], n_frames: int, seed: int):
        pos, forces, energies = [], [], []
        with self._limits():
            atoms = self._atoms(state)
            dyn = self._dynamics(atoms, seed)
            for _ in range(n_frames):
                dyn.run(self.stride)
                pos.append(atoms.positions.copy())
                forces.append(atoms.get_forces(apply_constraint=False))
                energies.append(atoms.get_potential_energy())
        frames = {"positions": np.array(pos), "forces": np.array(forces),
                  "energies": np.array(energies)}
        return frames, {"positions": atoms.positions.copy(), "momenta": atoms.get_momenta()}


# --- Lennard-Jones with the workbench's own Simulation -------------------------------------
class LJEngine:
    """Langevin (BAOAB) dynamics of a one-component LJ fluid (``builders.lj_fluid``) with
    ``workbench.Simulation`` in float64, reduced units. Energies (total potential energy) and
    forces (``-grad U``, ``jax.value_and_grad``) of each recorded frame come from the system's
    own pair potential.
    """

    def __init__(self, *, density: float = 0.8442, temperature: float = 0.722,
                 n_atoms: int = 500, r_cutoff: float = 2.5, timestep: float = 0.005,
                 friction: float = 1.0, stride: int = 50, equilibration_steps: int = 5_000,
                 label: str = "lj"):
        from workbench.builders import lj_fluid

        if stride < 1 or equilibration_steps < 0:
            raise ValueError("stride must be >= 1 and equilibration_steps >= 0")
        self.density, self.temperature = float(density), float(temperature)
        self.n_atoms, self.r_cutoff = int(n_atoms), float(r_cutoff)
        self.timestep, self.friction, self.stride = float(timestep), float(friction), int(stride)
        self.equilibration_steps, self.label = int(equilibration_steps), label
        self.system = lj_fluid(n_atoms=self.n_atoms, density=self.density,
                               r_cutoff=self.r_cutoff)
        self.system.validate()
        self._sim = None
        self._force_fn = None

    def describe(self) -> dict[str, Any]:
        settings = {"engine": "workbench.Simulation", "system": self.label,
                    "integrator": "langevin", "density": self.density,
                    "temperature": self.temperature, "n_atoms": self.n_atoms,
                    "potential": self.system.potential.to_dict(), "timestep": self.timestep,
                    "friction": self.friction, "stride": self.stride,
                    "equilibration_steps": self.equilibration_steps, "precision": "float64"}
        return {"species": np.asarray(self.system.species), "species_names":
                list(self.system.species_names), "masses": np.asarray(self.system.masses),
                "box": np.asarray(self.system.box, float), "units": "lj", "settings": settings,
                "engine": {"name": "md-workbench", "version": _package_version("md-workbench"),
                           "jax_md_version": _package_version("jax-md"),
                           "jax_version": _package_version("jax")}}

    def _simulation(self, positions: np.ndarray, velocities: np.ndarray | None, seed: int,
                    n_steps: int, stride: int):
        """The engine's one ``Simulation``, reset to start at ``positions`` (and
        ``velocities``, else Maxwell-Boltzmann ones from ``seed``). Reusing it across chunks
        reuses its compiled kernel; the result is the same as a fresh one."""
        import jax.numpy as jnp

        from workbench.simulation import Simulation

        if self._sim is None:
            self._sim = Simulation(self.system, integrator="langevin",
                                   temperature=self.temperature, timestep=self.timestep,
                                   friction=self.friction, precision="float64")
        sim = self._sim
        sim.reset()
        self.system.positions = np.asarray(positions, float)
        sim.param.update(seed=seed, n_steps=n_steps, stride=stride,
                         frames_per_chunk=max(1, n_steps // stride))
        sim.prepare()
        if velocities is not None:
            # Simulation draws Maxwell-Boltzmann velocities in prepare() and has no public way
            # to start from given ones; continue the previous chunk's dynamics by replacing
            # the momenta of its prepared state.
            md = sim._state.md
            momentum = jnp.asarray(velocities, md.position.dtype) * md.mass.reshape(-1, 1)
            sim._state = sim._state.set(md=md.set(momentum=momentum))
        return sim

    def _run(self, sim):
        traj = sim.run(progress=False)
        if sim.status != "completed":
            raise RuntimeError(f"LJ simulation did not complete: {sim.message}")
        return traj

    def initial_state(self, seed: int) -> dict[str, np.ndarray]:
        start = self.system.positions.copy()
        if not self.equilibration_steps:
            md = self._simulation(start, None, derive_seed(seed, 0), 1, 1)._state.md
            return {"positions": np.asarray(start, float),
                    "velocities": np.asarray(md.momentum / md.mass.reshape(-1, 1))}
        sim = self._simulation(start, None, derive_seed(seed, 0), self.equilibration_steps,
                               self.equilibration_steps)
        traj = self._run(sim)
        return {"positions": traj.positions[-1].astype(float),
                "velocities": traj.velocities[-1].astype(float)}

    def run_chunk(self, state: dict[str, np.ndarray], n_frames: int, seed: int):
        sim = self._simulation(state["positions"], state["velocities"], seed,
                               n_frames * self.stride, self.stride)
        traj = self._run(sim)
        positions = np.asarray(traj.positions, float)
        energies, forces = self._energy_forces(positions)
        frames = {"positions": positions, "forces": forces, "energies": energies}
        return frames, {"positions": positions[-1], "velocities": traj.velocities[-1]}

    def _energy_forces(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Potential energy and ``-dU/dR`` of each frame: the system's pair potential summed
        over all pairs (``kernels.potentials.pair_energy``; no neighbour list, so one compiled
        function whatever the density) and differentiated with ``jax.value_and_grad``."""
        import jax
        import jax.numpy as jnp
        from jax_md import space

        from kernels import potentials as pot

        if self._force_fn is None:
            s, p = self.system, self.system.potential
            displacement_fn, _ = space.periodic(jnp.asarray(s.box, jnp.float64))
            energy_fn = pot.pair_energy(
                displacement_fn, pot.get_family(p.family).fn, p.r_cutoff,
                species=None if s.n_species == 1 else jnp.asarray(s.species), mode=p.mode,
                r_onset=p.r_onset)
            params = {k: jnp.asarray(v, jnp.float64)
                      for k, v in p.full_params(s.n_species).items()}
            self._force_fn = jax.jit(jax.value_and_grad(lambda r: energy_fn(r, **params)))
        energies, forces = [], []
        for r in positions:
            e, g = self._force_fn(jnp.asarray(r, jnp.float64))
            energies.append(float(e))
            forces.append(-np.asarray(g))
        return np.array(energies), np.array(forces)


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
