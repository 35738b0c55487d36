"""``SimulationSetup``: what the Simulate dashboard (and a notebook) chooses before pressing
Start: the registered system and its size, its interactions, thermostat, temperature and time
step. ``build()`` turns it into a validated ``Simulation``; ``problems()`` lists what is wrong
with the current choice, parameter by parameter, so a view can show each message next to its
widget.

Two kinds of system (``workbench.builders``):

- pair systems (``lj_fluid``, ``binary_lj``; reduced LJ units): ``n_atoms``, ``density`` and a
  pair potential, either a family with parameters (``family``, ``potential_params``,
  ``r_cutoff``, ``cutoff_mode``) or a fitted potential from a saved fit run (``fitted_run``: the
  run id; ``fitted_runs()`` lists them);
- molecular systems (``water``, ``alanine_dipeptide_vacuum``, ``alanine_dipeptide_water``; ASE
  units: K, fs, Å): a classical force field, or a trained model (``model_run``: the id of a run
  of kind ``"mlff"``; ``model_choices()`` lists those whose species cover the system's and says
  why the others are not offered) moving the same starting structure; the potential
  parameters do not apply and ``n_molecules`` sizes the water box.

Choosing a system whose units differ from the current one's sets the temperature, time step and
friction to the system's defaults (300 K, 0.5 fs, 0.01 / fs for the flexible molecular models;
T* = 0.72, 0.005 tau, 1 / tau for LJ); so does ``SimulationSetup(system="water")`` for the values
not given. ``applicable()`` names the parameters that matter for the current choice, and
``live_settings()`` those a running simulation takes without a restart (``apply_live``): the
runtime keywords of the kernel's step, temperature (kT) and time step (dt), as JAX-MD's
``apply_fn(state, kT=...)``; everything else rebuilds the system or recompiles the kernel.
"""

from __future__ import annotations

import numpy as np
import param

from kernels.integrators import INTEGRATORS
from kernels.potentials import FAMILIES, get_family
from workbench import io
from workbench.builders import SYSTEMS, build_system
from workbench.fit import fitted_potential
from workbench.learned import MODEL_FILE, LearnedForceField
from workbench.learned_system import learned_system, load_model, model_runs
from workbench.potential import PairPotential
from workbench.registry import RunRegistry
from workbench.simulation import Simulation
from workbench.units import Units, get_units

#: labels of the registered systems in the dashboard's menu
SYSTEM_LABELS = {
    "lj_fluid": "Lennard-Jones fluid",
    "binary_lj": "Binary LJ mixture (Kob-Andersen)",
    "water": "Water (flexible SPC/Fw)",
    "alanine_dipeptide_vacuum": "Alanine dipeptide (vacuum)",
    "alanine_dipeptide_water": "Alanine dipeptide (water)",
}
#: largest sensible time step per unit system (tau; fs for flexible bonds to hydrogen)
MAX_TIMESTEP = {"lj": 0.05, "ase": 2.0}
#: highest temperature offered, by unit system: T* (LJ argon melts near 0.7, its critical point
#: is near 1.3) and K (covalent bonds break in a classical force field's harmonic terms long
#: before 5,000 K); a typo such as 1e9 would only make the run explode
MAX_TEMPERATURE = {"lj": 50.0, "ase": 5000.0}
#: Å: a bond this far off its starting length is a collapse (MDsim, Fu et al. TMLR 2023)
BOND_TOLERANCE = 0.5
RUNTIME = ("integrator", "temperature", "timestep", "friction", "n_steps", "stride", "seed")
#: settings a running ``Simulation`` takes between chunks, without a restart (kT and dt are
#: keyword arguments of the kernel's step; the rest rebuild the system or recompile)
LIVE = frozenset({"temperature", "timestep"})


def _system_objects() -> dict[str, str]:
    return {SYSTEM_LABELS.get(name, name): name for name in SYSTEMS}


class SimulationSetup(param.Parameterized):
    system = param.Selector(default="lj_fluid", objects=_system_objects(),
                            doc="System to simulate.")
    n_atoms = param.Integer(default=1000, bounds=(2, 200_000), doc="Number of atoms.")
    density = param.Number(default=0.8442, bounds=(0.001, 3.0), doc="Atoms per length^3.")
    n_molecules = param.Integer(default=64, bounds=(8, 4096), label="N molecules",
                                doc="Water molecules (water box only).")
    fitted_run = param.String(default="", doc="Id of a saved fit run whose potential to use "
                              "('' for the family and parameters below); see fitted_runs().")
    model_run = param.String(default="", doc="Id of a trained model run (kind 'mlff') that "
                             "moves a molecular system instead of its classical force field "
                             "('' for the force field); see model_choices().")
    family = param.Selector(default="lj", objects=list(FAMILIES), doc="Pair potential family.")
    potential_params = param.Dict(default={}, doc="Family parameters; per species pair as "
                                  "'AB' keys for mixtures ({'epsilon': {'AB': 1.5}}).")
    r_cutoff = param.Number(default=2.5, bounds=(0.5, 20.0), doc="Cutoff (length units).")
    cutoff_mode = param.Selector(default="truncated", objects=["truncated", "shifted", "smoothed"])
    integrator = param.Selector(default="langevin", objects=list(INTEGRATORS))
    temperature = param.Number(default=0.72, bounds=(0.0, None), softbounds=(0.05, 5.0),
                               doc="Temperature (system unit: T* or K).")
    timestep = param.Number(default=0.005, bounds=(1e-5, 10.0),
                            doc="Time step (system unit: tau or fs).")
    friction = param.Number(default=1.0, bounds=(1e-3, 100.0),
                            doc="Langevin friction (1/tau or 1/fs).")
    n_steps = param.Integer(default=100_000, bounds=(1, None), doc="Steps to run.")
    stride = param.Integer(default=10, bounds=(1, 10_000), doc="Steps between frames.")
    frames_per_chunk = param.Integer(default=5, bounds=(1, 1000), doc="Frames computed per "
                                     "chunk (the run yields between chunks).")
    seed = param.Integer(default=0)
    watch_bonds = param.Boolean(default=False, label="Stop when a bond breaks (0.5 Å)",
                                doc="Molecular systems: stop the run at the first frame where "
                                "a bond is off its starting length by more than "
                                "BOND_TOLERANCE Å (MDsim's molecule stability criterion).")

    def __init__(self, **params):
        super().__init__(**params)
        self._fitted: dict[str, PairPotential] = {}
        self._models: dict[str, LearnedForceField] = {}
        self._checked: dict[tuple, str | None] = {}  # molecular choices validated: message
        self._units = self.entry().units
        defaults = self.entry().defaults
        if self._units != "lj":  # the class defaults are LJ's
            self.param.update({k: v for k, v in defaults.items() if k not in params})

    # --- the choice ---------------------------------------------------------------------
    def entry(self):
        """The ``workbench.builders.SystemEntry`` of the chosen system."""
        return SYSTEMS[self.system]

    @property
    def molecular(self) -> bool:
        """True when the chosen system has a force field (not a pair potential)."""
        return self.entry().molecular

    def units(self) -> Units:
        return get_units(self.entry().units)

    def applicable(self) -> set[str]:
        """The parameters that matter for the current choice (the dashboard shows these)."""
        entry = self.entry()
        out = set(RUNTIME) | {"system", "frames_per_chunk"}
        if entry.molecular:
            out |= set(entry.options) | {"model_run", "watch_bonds"}
        else:
            out |= {"n_atoms", "density", "fitted_run"}
            if not self.fitted_run:
                out |= {"family", "potential_params", "r_cutoff", "cutoff_mode"}
        if self.integrator != "langevin":
            out.discard("friction")
        return out

    def live_settings(self) -> frozenset[str]:
        """The settings that may change while a simulation runs (module docstring)."""
        return LIVE

    def apply_live(self, simulation: Simulation, names: set[str] | None = None) -> set[str]:
        """Copy the live settings among ``names`` (all of them by default) to ``simulation``,
        which takes them from its next chunk on; returns the names copied."""
        names = LIVE if names is None else LIVE & set(names)
        for name in names:
            setattr(simulation, name, getattr(self, name))
        return set(names)

    @param.depends("system", watch=True)
    def _on_system(self) -> None:
        entry = self.entry()
        if entry.units != self._units:
            self._units = entry.units
            self.param.update(entry.defaults)

    # --- potentials ---------------------------------------------------------------------
    def species_names(self) -> list[str]:
        """Species of a pair system (``[]`` for a molecular one)."""
        if self.molecular:
            return []
        return build_system(self.system, n_atoms=4, density=0.1).species_names

    def default_potential(self) -> PairPotential | None:
        if self.molecular:
            return None
        return build_system(self.system, n_atoms=4, density=0.1).potential

    @staticmethod
    def fitted_runs(registry=None) -> dict[str, str]:
        """``{label: run id}`` of the saved fit runs, newest first (label ``"fit: <name>
        (<id>)"``)."""
        registry = registry or RunRegistry()
        return {f"fit: {run.name} ({run.id})": run.id for run in registry.list(kind="fit")}

    def fitted_potential(self) -> PairPotential:
        """The potential of the fit run ``fitted_run`` (``ValueError`` if it cannot be read)."""
        run_id = self.fitted_run
        if run_id not in self._fitted:
            try:
                run = RunRegistry().get(run_id)
                self._fitted[run_id] = fitted_potential(run)
            except KeyError:
                raise ValueError(f"no saved run {run_id!r}") from None
            except (OSError, ValueError) as exc:
                raise ValueError(f"run {run_id}: {exc}") from None
        return self._fitted[run_id]

    def fit_state_point(self) -> dict:
        """The first target state point of the chosen fit run (``{"temperature", "density",
        ...}``), ``{}`` without one."""
        if not self.fitted_run:
            return {}
        try:
            targets = RunRegistry().get(self.fitted_run).config.get("targets") or [{}]
        except KeyError:
            return {}
        return dict(targets[0])

    def potential(self) -> PairPotential | None:
        """The chosen potential: a fitted one, or the system's defaults overridden by
        ``potential_params``; None for a molecular system."""
        if self.molecular:
            return None
        if self.fitted_run:
            return self.fitted_potential()
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

    # --- learned models -----------------------------------------------------------------
    def structure_species(self) -> list[str]:
        """Element symbols of the chosen molecular system (``[]`` for a pair system)."""
        if not self.molecular:
            return []
        return list(self._structure().species_names)

    def model_choices(self, registry=None) -> tuple[dict[str, str], dict[str, str]]:
        """``(offered, not_offered)``: ``{label: run id}`` of the trained models (runs of kind
        "mlff" with a ``model.json``) whose species cover the chosen system's, and ``{label:
        why}`` for the others (missing elements). Both empty for a pair system."""
        from ase.data import chemical_symbols

        if not self.molecular:
            return {}, {}
        registry = registry or RunRegistry()
        runs = model_runs(registry)
        if not runs:  # nothing to compare: do not build the structure
            return {}, {}
        needed = set(self.structure_species())
        offered, excluded = {}, {}
        for label, run_id in runs.items():
            try:
                d = io.read_json(registry.get(run_id).path / MODEL_FILE)
                known = {chemical_symbols[int(z)] for z in d["species"]}
            except (OSError, KeyError, ValueError, TypeError, IndexError):
                excluded[label] = "its model.json cannot be read"
                continue
            missing = sorted(needed - known)
            if missing:
                excluded[label] = f"not trained on {', '.join(missing)}"
            else:
                offered[label] = run_id
        return offered, excluded

    def learned_model(self) -> LearnedForceField:
        """The model of ``model_run`` (``ValueError`` if it cannot be read); cached."""
        if self.model_run not in self._models:
            self._models[self.model_run] = load_model(self.model_run)
        return self._models[self.model_run]

    def _structure(self):
        """The chosen molecular system with its classical force field (the starting
        structure; cached by ``ForceField``)."""
        entry = self.entry()
        return build_system(self.system, **{k: getattr(self, k) for k in entry.options})

    # --- checks and building ------------------------------------------------------------
    def problems(self) -> dict[str, str]:
        """``{parameter name: message}`` for everything that would stop ``build()``."""
        out = {}
        units = self.units()
        limit = MAX_TIMESTEP[units.name]
        if self.timestep > limit:
            why = (" (flexible bonds to hydrogen need about 0.5 fs)" if self.molecular else "")
            out["timestep"] = (f"the time step must be at most {limit} {units.time}{why}")
        if self.temperature > MAX_TEMPERATURE[units.name]:
            out["temperature"] = (f"the temperature must be at most "
                                  f"{MAX_TEMPERATURE[units.name]:g} {units.temperature}")
        if self.molecular:
            key = (self.system, self.model_run,
                   *(getattr(self, k) for k in self.entry().options))
            if key not in self._checked:
                try:
                    self._build_system().validate()
                    self._checked[key] = None
                except ValueError as exc:
                    self._checked[key] = str(exc)
            if self._checked[key]:
                out["model_run" if self.model_run else "system"] = self._checked[key]
            return out
        key = "fitted_run" if self.fitted_run else "potential_params"
        try:
            potential = self.potential()
            potential.full_params(len(self.species_names()))
        except ValueError as exc:
            out[key] = str(exc)
            return out
        box = (self.n_atoms / self.density) ** (1 / 3)
        rc = potential.r_cutoff
        if box <= 2 * rc:
            out["fitted_run" if self.fitted_run else "r_cutoff"] = (
                f"the box ({box:.3g}) must be longer than twice the cutoff: use "
                f"more atoms, a lower density or a cutoff below {box / 2:.3g}")
        return out

    def _build_system(self):
        entry = self.entry()
        if entry.molecular:
            structure = self._structure()
            if self.model_run:
                return learned_system(self.learned_model(), structure)
            return structure
        potential = self.potential()
        return build_system(self.system, n_atoms=self.n_atoms, density=self.density,
                            r_cutoff=potential.r_cutoff, potential=potential, seed=self.seed)

    def build(self) -> Simulation:
        """A new ``Simulation`` of a freshly built system (``ValueError`` if invalid)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems.values()))
        system = self._build_system()
        system.validate()
        return Simulation(system, integrator=self.integrator, temperature=self.temperature,
                          timestep=self.timestep, friction=self.friction, n_steps=self.n_steps,
                          stride=self.stride, frames_per_chunk=self.frames_per_chunk,
                          seed=self.seed,
                          bond_tolerance=BOND_TOLERANCE if self.watch_bonds and self.molecular
                          else None)


def learned_simulation(model, structure, *, box=None, **simulation: object) -> Simulation:
    """A ``Simulation`` of ``structure`` moved by a trained ``model`` (what the Train
    dashboard's "Run MD with this model" starts).

    ``model``: a ``LearnedForceField``, a model folder or a registered run id; ``structure``: a
    ``System``, an ASE ``Atoms`` (e.g. ``dataset.to_ase()[0]``) or a registered system's name;
    ``box``: Å, to impose a periodic box (``workbench.learned_system.learned_system``).
    ``simulation``: ``Simulation`` parameters; defaults for molecules in ASE units: Langevin,
    300 K, 0.5 fs, friction 0.01 / fs (``workbench.builders.MOLECULAR_DEFAULTS``).
    ``ValueError`` for elements the model lacks or a box not longer than twice its cutoff."""
    from workbench.builders import MOLECULAR_DEFAULTS

    system = learned_system(model, structure, box=box)
    return Simulation(system, **{**MOLECULAR_DEFAULTS, **simulation})
