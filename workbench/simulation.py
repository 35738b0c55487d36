"""``Simulation``: runs a ``System`` with the kernel's chunked runner, off the caller's thread or in
it, and streams frames and thermo to subscribers.

Control: ``start`` (background thread), ``pause``, ``resume``, ``stop``, ``reset``, ``wait``; or
``run`` (blocking, with a tqdm bar). Work happens in chunks of ``frames_per_chunk * stride``
steps; between chunks the loop honours pause and stop, so stopping leaves a consistent state.
After every chunk the thermo is checked: a NaN or a temperature above
``max_temperature_factor`` times the target ends the run with a message naming the step and the
cause, keeping every frame recorded before it. With ``bond_tolerance`` the chunk is also
watched as MDsim scores molecules (Fu et al., TMLR 2023): a bond (the system's, or from
covalent radii on the starting structure) off its starting length by more than the tolerance
(MDsim: 0.5 Å) is a collapse, stopped at the first bad frame. ``on_failure="smaller_timestep"``
instead goes back to the last sound chunk, halves the time step and goes on. ``events`` records
each failure (step, time, cause, what was done). ``save`` writes the run to the registry.

Any other criterion is a ``watch`` (e.g. ``workbench.benchmark.LiquidWatch``, MDsim's liquid
criterion), an object with ``start(simulation)`` (called once, before the first chunk; raises
``ValueError`` for a system it cannot watch), ``check(simulation, chunk, n_before)`` (after
every sound chunk; ``n_before`` frames were recorded before it) returning None or ``(keep,
frame, cause)``: the frames of this chunk to keep, the index of the collapse frame in the whole
run (it may lie in an earlier chunk) and the message; and ``truncate(n_frames)`` (forget frames
from ``n_frames`` on). With ``on_failure="smaller_timestep"`` the run goes back to the last
chunk boundary before the collapse frame (the states of the last ``CHECKPOINTS`` boundaries are
kept), halves the time step and goes on.

A molecular system (``System.forcefield``) runs the same way: its ``ForceField`` gives the
kernel's energy, neighbour list and space (built once per system description and floating type,
and the chunked runner over them once per integrator, friction and thermostat time, kept for
the process, so a new ``Simulation`` of the same system does not trace or compile again). In
free space (no box) the pressure is not defined and is recorded as NaN.

A coarse-grained system (``System.cg``, a ``CGPotential`` from force matching) runs the same
way, one particle per bead; outside the ranges the fit sampled its energy has repulsive walls
of height kT at the run's current temperature (``kernels.cg.force_matching``).

A system with a learned force field (``System.model``, ``workbench.learned_system``) runs the
same way too: ``kernels.mlff.md`` adapts the model to the runner's energy, and its weights and
the species indices are the runner's traced ``params``, so the compiled chunk (kept for the
process per architecture, species list, box, size, dtype and integrator) serves new weights
without recompiling.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import param

from kernels.integrators import INTEGRATORS
from kernels.mlff.md import md_functions, md_params
from kernels.precision import float_dtype
from kernels.runner import THERMO_KEYS, simulator
from workbench import analysis, io
from workbench.jobs import Job, track_thread
from workbench.registry import RunRegistry
from workbench.system import System

#: kernels of molecular and learned systems, by (force field or model, dtype, integrator,
#: friction): (init, run)
_MOLECULAR_KERNELS: dict[tuple, tuple] = {}
_MOLECULAR_KERNELS_MAX = 6
#: time-step halvings ``on_failure="smaller_timestep"`` tries before it stops
MAX_RETRIES = 3
#: chunk boundaries whose states are kept to go back to (``watch`` failures may start there)
CHECKPOINTS = 64
#: one lock per molecular kernel, held while it compiles (a warm-up and a start that come
#: together compile once, one after the other, instead of twice side by side)
_COMPILE_LOCKS: dict[tuple, threading.Lock] = {}
_COMPILE_LOCKS_LOCK = threading.Lock()
_WARMED: set[tuple] = set()  # (kernel key, n_frames, stride) compiled by a warm-up


class Chunk:
    """Frames and thermo of one chunk as numpy arrays (``positions: [n_frames, n_atoms, 3]``,
    ``thermo[key]: [n_frames]``, temperatures in the system's unit)."""

    def __init__(self, positions, unwrapped, velocities, thermo, steps):
        self.positions, self.unwrapped, self.velocities = positions, unwrapped, velocities
        self.thermo, self.steps = thermo, steps

    def __len__(self) -> int:
        return len(self.steps)

    def head(self, n: int) -> Chunk:
        return Chunk(self.positions[:n], self.unwrapped[:n], self.velocities[:n],
                     {k: v[:n] for k, v in self.thermo.items()}, self.steps[:n])

    @staticmethod
    def concatenate(chunks: list[Chunk], n_atoms: int) -> Chunk:
        if not chunks:
            empty = np.zeros((0, n_atoms, 3))
            return Chunk(empty, empty, empty, {k: np.zeros(0) for k in THERMO_KEYS},
                         np.zeros(0, dtype=np.int64))
        cat = np.concatenate
        return Chunk(cat([c.positions for c in chunks]), cat([c.unwrapped for c in chunks]),
                     cat([c.velocities for c in chunks]),
                     {k: cat([c.thermo[k] for c in chunks]) for k in THERMO_KEYS},
                     cat([c.steps for c in chunks]))


class Simulation(Job):
    """Molecular dynamics of one ``System`` (module docstring); a ``workbench.jobs.Job`` whose
    unit of work is the MD step."""

    system = param.ClassSelector(class_=System, doc="The system to simulate.")
    integrator = param.Selector(default="langevin", objects=list(INTEGRATORS),
                                doc="nve, langevin (BAOAB) or nose_hoover (chain).")
    temperature = param.Number(default=1.0, bounds=(0, None),
                               doc="Target (and initial) temperature, in the system's unit.")
    timestep = param.Number(default=0.005, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Time step, in the system's time unit (tau or fs).")
    friction = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Langevin friction, per system time unit.")
    thermostat_time = param.Number(default=None, allow_None=True, bounds=(0, None),
                                   inclusive_bounds=(False, True),
                                   doc="Nose-Hoover chain thermostat time, in the system's time "
                                   "unit (None: 100 time steps).")
    n_steps = param.Integer(default=10_000, bounds=(1, None),
                           doc="Steps to run (rounded up to whole strides: planned_steps).")
    stride = param.Integer(default=50, bounds=(1, None), doc="Steps between recorded frames.")
    frames_per_chunk = param.Integer(default=4, bounds=(1, None),
                                     doc="Frames per chunk; the loop yields between chunks.")
    seed = param.Integer(default=0, doc="Seed for velocities and thermostat noise.")
    precision = param.Selector(default="float32", objects=["float32", "float64"])
    max_temperature_factor = param.Number(default=50.0, bounds=(1, None),
                                          doc="Stop when T exceeds this times the target.")
    bond_tolerance = param.Number(default=None, allow_None=True, bounds=(0, None),
                                  inclusive_bounds=(False, True),
                                  doc="Stability watch: stop when a bond leaves its starting "
                                  "length by more than this (length unit; MDsim's molecule "
                                  "criterion is 0.5 Å). None: no watch.")
    on_failure = param.Selector(default="stop", objects=["stop", "smaller_timestep"],
                                doc="When a chunk is unstable: stop, keeping the frames before "
                                "it, or go back to the last sound chunk, halve the time step "
                                f"and go on (at most {MAX_RETRIES} times).")
    watch = param.Parameter(default=None, doc="Another stability watch, checked after every "
                            "chunk (module docstring), e.g. workbench.benchmark.LiquidWatch.")

    step = param.Integer(default=0, constant=True, doc="Steps taken so far.")

    def __init__(self, system: System, **params):
        super().__init__(system=system, unit="step", **params)
        self._set(total=self.planned_steps())
        self._chunks: list[Chunk] = []
        self._subscribers: list[Callable[[Simulation, Chunk], None]] = []
        self._lock = threading.RLock()
        self._state = None
        self._kernel = None
        self._bonds: tuple[np.ndarray, np.ndarray] | None = None  # watched bonds, lengths
        #: (frames recorded, step, time, state) at the last chunk boundaries
        self._checkpoints: list[tuple[int, int, float, object]] = []
        self._watch_started = False
        self.wall_time, self._timed_steps = 0.0, 0
        self.time = 0.0  # simulated, in the system's time unit (time steps may change)
        #: what went wrong, in order: {"step", "time", "cause", "action"} (time in the
        #: system's time unit); the first "stopped" one is the run's collapse
        self.events: list[dict] = []

    # --- building -----------------------------------------------------------------------
    @property
    def _dtype(self):
        """The run's floating type; float64 needs JAX's 64-bit mode, which ``import workbench``
        turns on at start-up (``kernels.precision``: an error, never a silent float32)."""
        return float_dtype(self.precision)

    def _kernel_key(self) -> tuple:
        s = self.system
        if s.model is not None:  # the weights are traced: a new model object, the same kernel
            return (id(s), id(s.model), id(s.model.params), s.n_atoms,
                    None if s.box is None else tuple(s.box), *self._dynamics_key())
        if s.forcefield is not None:
            return (id(s), s.n_atoms, None if s.box is None else tuple(s.box),
                    str(s.forcefield.to_dict()), *self._dynamics_key())
        if s.cg is not None:
            return (id(s), id(s.cg), s.n_atoms, None if s.box is None else tuple(s.box),
                    *self._dynamics_key())
        return (id(s), s.n_atoms, tuple(s.box), str(s.potential.to_dict()),
                *self._dynamics_key())

    def _dynamics_key(self) -> tuple:
        """What the compiled integrator depends on besides the system."""
        return (self.integrator, self.friction, self.thermostat_time, self.precision)

    def _integrator_options(self) -> dict:
        """The integrator's friction and thermostat time in the kernel's time unit."""
        to_internal = self.system.unit_system.time_to_internal
        return {"gamma": self.friction / to_internal(1.0),
                "tau": None if self.thermostat_time is None
                else to_internal(self.thermostat_time)}

    def _build(self):
        if self._kernel is not None and self._kernel[0] == self._kernel_key():
            return self._kernel[1:]
        s = self.system
        s.validate()
        if s.model is not None:
            init_fn, run_fn = self._molecular_kernel()
            params = md_params(s.model.md_weights(), s.model.species_index(s.atomic_numbers()),
                               self._dtype)
            self._kernel = (self._kernel_key(), init_fn, run_fn, params)
            return init_fn, run_fn, params
        if s.forcefield is not None:
            init_fn, run_fn = self._molecular_kernel()
            self._kernel = (self._kernel_key(), init_fn, run_fn, {})
            return init_fn, run_fn, {}
        if s.cg is not None:
            disp, shift, neighbor_fn, energy_fn = s.cg.neighbor_energy(s.box,
                                                                       dtype=self._dtype)
            params = s.cg.params(self._dtype)  # the wall: _with_wall, at every call
        else:
            disp, shift, neighbor_fn, energy_fn, params = s.potential.build(
                s.box, s.species, s.n_species, self._dtype)
        # free space: any volume will do, the pressure is replaced by NaN (_to_numpy)
        init_fn, run_fn = simulator(
            energy_fn, shift, disp, neighbor_fn, volume=s.volume if s.periodic else 1.0,
            integrator=self.integrator, **self._integrator_options())
        self._kernel = (self._kernel_key(), init_fn, run_fn, params)
        return init_fn, run_fn, params

    def _molecular_key(self) -> tuple:
        s = self.system
        if s.model is not None:
            m = s.model
            source = ("model", str(m.architecture.to_dict()), tuple(m.species),
                      tuple(m.shifts), float(m.scale), s.n_atoms,
                      None if s.box is None else tuple(float(b) for b in s.box))
        else:
            source = str(s.forcefield.to_dict())
        return (source, jnp.dtype(self._dtype).name, self.integrator, float(self.friction),
                self.thermostat_time)

    def _compile_lock(self):
        """The molecular kernel's compile lock (module docstring), or a no-op context."""
        if self.system.forcefield is None and self.system.model is None:
            return contextlib.nullcontext()
        with _COMPILE_LOCKS_LOCK:
            return _COMPILE_LOCKS.setdefault(self._molecular_key(), threading.Lock())

    def _molecular_kernel(self) -> tuple:
        """``(init_fn, run_fn)`` of the force-field system, from the process-wide cache."""
        s = self.system
        dtype = self._dtype
        key = self._molecular_key()
        if key in _MOLECULAR_KERNELS:
            return _MOLECULAR_KERNELS[key]
        arch = s.model.architecture if s.model is not None else None
        ks = (md_functions(s.model.build_model(), s.box, dtype=dtype, skin=arch.md_skin,
                           capacity_multiplier=arch.md_capacity)
              if s.model is not None else s.forcefield.build(dtype))
        # free space: any volume will do, the pressure is replaced by NaN (_to_numpy)
        kernel = simulator(ks.energy_fn, ks.shift_fn, ks.displacement_fn, ks.neighbor_fn,
                           volume=s.volume if s.periodic else 1.0, integrator=self.integrator,
                           jit_init=True, **self._integrator_options())
        while len(_MOLECULAR_KERNELS) >= _MOLECULAR_KERNELS_MAX:
            _MOLECULAR_KERNELS.pop(next(iter(_MOLECULAR_KERNELS)))
        _MOLECULAR_KERNELS[key] = kernel
        return kernel

    def _runtime(self) -> dict:
        units = self.system.unit_system
        return {"dt": units.time_to_internal(self.timestep), "kT": units.kT(self.temperature)}

    def _with_wall(self, params: dict) -> dict:
        """``params`` of a CG system with its wall at kT of the current temperature (a traced
        value, like kT itself: a new temperature does not recompile); others unchanged."""
        if self.system.cg is None:
            return params
        return {**params, "wall": jnp.asarray(self._runtime()["kT"], self._dtype)}

    def prepare(self) -> None:
        """Validate, build the kernel and draw initial velocities (if not done yet)."""
        with self._lock:
            init_fn, _, params = self._build()
            if self._state is None:
                dtype = self._dtype
                self._state = init_fn(
                    jax.random.PRNGKey(self.seed), jnp.asarray(self.system.positions, dtype),
                    jnp.asarray(self.system.masses, dtype), self._with_wall(params),
                    **self._runtime())
            if self.bond_tolerance is not None and self._bonds is None:
                self._bonds = self._watched_bonds()
            if self.watch is not None and not self._watch_started:
                self._set(message="starting the stability watch")
                self.watch.start(self)
                self._watch_started = True

    def _watched_bonds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(bonds [n_bonds, 2], starting lengths [n_bonds])`` of the stability watch: the
        system's bonds, else covalent-radius bonds of its starting structure (ASE units).
        ``ValueError`` when there are none."""
        s = self.system
        box = np.asarray(s.box, float) if s.periodic else None
        bonds = s.bonds
        if bonds is None and s.units == "ase":
            bonds = analysis.natural_bonds(s.atomic_numbers(), s.positions, box)
        if bonds is None or len(bonds) == 0:
            raise ValueError("the bond watch (bond_tolerance) needs bonds: a molecular system, "
                             "or atoms that covalent radii connect")
        bonds = np.asarray(bonds, dtype=np.int64)
        return bonds, analysis.bond_lengths(np.asarray(s.positions, float), bonds, box)

    def warm_up(self, background: bool = False) -> threading.Thread | None:
        """Prepare and compile the chunk this simulation will run first, without advancing it
        (one chunk is computed and thrown away), so that ``start`` shows a frame at once.
        ``background=True``: do it in a daemon thread (returned), while the user is still
        choosing. Errors are left to ``start``, which does the same work again."""
        if background:
            thread = track_thread(threading.Thread(target=self.warm_up, name="md-warm-up",
                                                   daemon=True))
            thread.start()
            return thread
        try:
            n_frames = min(self.frames_per_chunk, -(-self.n_steps // self.stride))
            key = None
            if self.system.forcefield is not None or self.system.model is not None:
                key = (self._molecular_key(), n_frames, self.stride)
            with self._compile_lock():
                if key is not None and key in _WARMED:
                    return None  # compiled already (another preview of the same choice)
                self.prepare()
                _, run_fn, params = self._build()
                with self._lock:
                    state = self._state
                run_fn(state, self._with_wall(params), n_frames=n_frames, stride=self.stride,
                       **self._runtime())
                if key is not None:
                    _WARMED.add(key)
        except Exception:  # reported by start(), which does the same work again
            pass
        return None

    # --- control ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Simulation, Chunk], None]) -> None:
        """Call ``callback(simulation, chunk)`` after every chunk (from the worker thread)."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    @param.depends("n_steps", "stride", watch=True)
    def _on_n_steps(self) -> None:
        self._set(total=self.planned_steps())

    def planned_steps(self) -> int:
        """The step a run to ``n_steps`` ends at: frames come every ``stride`` steps, so the
        last stride is completed (3,000 steps with a stride of 7 end at 3,003)."""
        if self.step >= self.n_steps:
            return self.step
        return self.step + -(-(self.n_steps - self.step) // self.stride) * self.stride

    def _check_startable(self) -> None:
        if self.status == "failed":
            raise RuntimeError("the simulation has failed; reset it to run again")
        if self.status == "completed" and self.step >= self.n_steps:
            raise RuntimeError("the simulation has completed; reset it or raise n_steps to "
                               "run again")

    def reset(self) -> None:
        """Stop, forget the recorded frames and start again from the system's positions."""
        self.stop()
        with self._lock:
            self._chunks, self._state, self.events, self.time = [], None, [], 0.0
            self._checkpoints, self._watch_started = [], False
            self.wall_time, self._timed_steps = 0.0, 0
            self._set(status="idle", message="", step=0, done=0, eta=None)

    def run(self, n_steps: int | None = None, progress: bool = True) -> Chunk:
        """Run in the calling thread (with a tqdm bar) and return the whole trajectory."""
        if n_steps is not None:
            self.n_steps = n_steps
        super().run(progress=progress)
        return self.trajectory

    # --- results ------------------------------------------------------------------------
    def chunks(self, start: int = 0) -> list[Chunk]:
        """The recorded chunks from index ``start`` on (thread-safe; for live views)."""
        with self._lock:
            return self._chunks[start:]

    @property
    def trajectory(self) -> Chunk:
        """Everything recorded so far, concatenated."""
        with self._lock:
            return Chunk.concatenate(self._chunks, self.system.n_atoms)

    @property
    def throughput(self) -> float:
        """Atom-steps per second of stepping wall time (chunks that compiled excluded: the first,
        and any after a neighbour-list re-allocation)."""
        return self._timed_steps * self.system.n_atoms / self.wall_time if self.wall_time else 0.0

    # --- the loop -----------------------------------------------------------------------
    def _paused_message(self) -> str:
        return f"paused at step {self.step}"

    def _stopped_message(self) -> str:
        return f"stopped at step {self.step}"

    def _completed_message(self) -> str:
        return f"completed {self.step} steps"

    def _work(self) -> Iterator[Chunk]:
        """One chunk of ``frames_per_chunk`` frames per ``yield`` (the job contract)."""
        self._set(message="compiling..." if self.step == 0 else "")
        compile_lock = self._compile_lock()
        with compile_lock:
            self.prepare()
        _, run_fn, params = self._build()
        self._set(total=self.planned_steps())
        first = True
        while self.step < self.n_steps:
            remaining = -(-(self.n_steps - self.step) // self.stride)
            n_frames = min(self.frames_per_chunk, remaining)
            n_before = self._n_frames()
            if not self._checkpoints or self._checkpoints[-1][0] != n_before:
                self._checkpoints = (self._checkpoints + [
                    (n_before, self.step, self.time, self._state)])[-CHECKPOINTS:]
            compiled = run_fn.compilations()
            t0 = time.perf_counter()
            with compile_lock if first else contextlib.nullcontext():
                state, traj = run_fn(self._state, self._with_wall(params), n_frames=n_frames,
                                     stride=self.stride, **self._runtime())
            first = False
            chunk = self._to_numpy(traj)
            if run_fn.compilations() == compiled:  # chunks that compiled are not timed
                self.wall_time += time.perf_counter() - t0
                self._timed_steps += n_frames * self.stride
            failure = self._check(chunk, n_before)
            if failure is None and self.watch is not None:
                failure = self.watch.check(self, chunk, n_before)
            if failure:
                keep, frame, cause = failure
                bad_step = self._step_of(frame, chunk, n_before)
                if self._retry(bad_step, cause, frame, n_before):
                    continue
            with self._lock:
                if failure:
                    chunk = chunk.head(keep)
                else:
                    self._state = state
                if len(chunk):
                    self._chunks.append(chunk)
            if failure:
                self._event(bad_step, cause, "stopped")
                last = int(chunk.steps[-1]) if len(chunk) else self.step
                self.time += (last - self.step) * self.timestep
                self._advance(last, status="failed", message=cause, step=last)
                self._notify(chunk)
                yield chunk
                return
            last = int(chunk.steps[-1])
            self.time += (last - self.step) * self.timestep
            self._advance(last, step=last, message="")
            self._notify(chunk)
            yield chunk

    def _n_frames(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._chunks)

    def _step_of(self, frame: int, chunk: Chunk, n_before: int) -> int:
        """The step of frame ``frame`` of the whole run (recorded, or in ``chunk``)."""
        if frame >= n_before:
            return int(chunk.steps[frame - n_before])
        with self._lock:
            for c in self._chunks:
                if frame < len(c):
                    return int(c.steps[frame])
                frame -= len(c)
        raise IndexError("frame beyond the recorded trajectory")

    def _retry(self, bad_step: int, cause: str, frame: int, n_before: int) -> bool:
        """``on_failure="smaller_timestep"``: drop the unstable chunk (and, for a watch's
        collapse in an earlier chunk, go back to the last chunk boundary before it), halve the
        time step and go on from there (True), at most ``MAX_RETRIES`` times."""
        retries = sum(e["action"].startswith("time step halved") for e in self.events)
        if self.on_failure != "smaller_timestep" or retries >= MAX_RETRIES:
            return False
        checkpoint = next((c for c in reversed(self._checkpoints) if c[0] <= frame), None)
        if checkpoint is None:
            return False  # further back than the checkpoints kept
        n_frames, step, time_, state = checkpoint
        if n_frames < n_before:
            with self._lock:
                kept, count = [], 0
                for c in self._chunks:
                    if count + len(c) > n_frames:
                        break
                    kept.append(c)
                    count += len(c)
                self._chunks, self._state, self.time = kept, state, time_
                self._checkpoints = [c for c in self._checkpoints if c[0] <= n_frames]
                self._set(step=step, done=step)
            if self.watch is not None:
                self.watch.truncate(n_frames)
        unit = self.system.unit_system.time
        self._event(bad_step, cause, f"time step halved from {self.timestep:g} to "
                    f"{self.timestep / 2:g} {unit}, going on from step {self.step}")
        self.timestep = self.timestep / 2
        self._set(message=self.events[-1]["action"])
        return True

    def _event(self, step: int, cause: str, action: str) -> None:
        """Record what went wrong at ``step`` (after the last sound chunk, at this time step)."""
        time_ = self.time + (step - self.step) * self.timestep
        self.events.append({"step": int(step), "time": float(time_), "cause": cause,
                            "action": action})

    def _to_numpy(self, traj) -> Chunk:
        units = self.system.unit_system
        thermo = {k: np.asarray(v) for k, v in traj.thermo.items()}  # the run's precision
        thermo["temperature"] = thermo["temperature"] / units.kT(1.0)
        if not self.system.periodic:
            thermo["pressure"] = np.full_like(thermo["pressure"], np.nan)
        return Chunk(np.asarray(traj.positions), np.asarray(traj.unwrapped),
                     np.asarray(traj.velocities), thermo, np.asarray(traj.step, dtype=np.int64))

    def _check(self, chunk: Chunk, n_before: int = 0) -> tuple[int, int, str] | None:
        """``(frames kept, index of the first bad frame in the run, message)`` or None when
        all frames are sound."""
        finite = np.all(np.isfinite(chunk.positions), axis=(1, 2))
        for key in THERMO_KEYS:
            if key == "pressure" and not self.system.periodic:
                continue  # NaN by definition in free space
            finite &= np.isfinite(chunk.thermo[key])
        limit = self.max_temperature_factor * max(self.temperature, 1e-12)
        hot = chunk.thermo["temperature"] > limit
        broken, deviation = self._broken_bonds(chunk)
        bad = ~finite | hot | broken
        if not bad.any():
            return None
        i = int(np.argmax(bad))
        step = int(chunk.steps[i])
        unit = self.system.unit_system.temperature
        cause = ("NaN or infinity in positions or energies" if not finite[i] else
                 f"temperature exploded to {chunk.thermo['temperature'][i]:.4g} {unit} "
                 f"(limit {limit:.4g} {unit})" if hot[i] else self._bond_cause(deviation[i]))
        kept = int(chunk.steps[i - 1]) if i > 0 else self.step
        kept = (f"Frames up to step {kept} were kept." if kept > 0 else
                "No frame was kept: the first recorded frame was already unstable.")
        return i, n_before + i, (
            f"simulation unstable at step {step}: {cause}. Try a smaller timestep, check the "
            f"potential parameters, or look for overlapping atoms. {kept}")

    def _broken_bonds(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray | None]:
        """``(broken [n_frames], deviations [n_frames, n_bonds] or None)``: frames where a
        watched bond is off its starting length by more than ``bond_tolerance``."""
        if self._bonds is None:
            return np.zeros(len(chunk.steps), bool), None
        bonds, start = self._bonds
        box = np.asarray(self.system.box, float) if self.system.periodic else None
        deviation = analysis.bond_lengths(chunk.positions.astype(float), bonds, box) - start
        with np.errstate(invalid="ignore"):
            return np.any(np.abs(deviation) > self.bond_tolerance, axis=1), deviation

    def _bond_cause(self, deviation: np.ndarray) -> str:
        bonds, start = self._bonds
        k = int(np.nanargmax(np.abs(deviation)))
        i, j = (int(x) for x in bonds[k])
        unit = self.system.unit_system.length
        return (f"bond {i}-{j} is {start[k] + deviation[k]:.3f} {unit}, "
                f"{deviation[k]:+.3f} {unit} from its starting {start[k]:.3f} {unit} "
                f"(bond_tolerance {self.bond_tolerance:g} {unit})")

    def _notify(self, chunk: Chunk) -> None:
        for callback in list(self._subscribers):
            callback(self, chunk)

    # --- saving -------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-ready configuration: system summary plus every simulation parameter."""
        names = ["integrator", "temperature", "timestep", "friction", "thermostat_time",
                 "n_steps", "stride", "seed", "precision", "bond_tolerance", "on_failure"]
        units = self.system.unit_system
        return {"system": self.system.to_dict(), **{n: getattr(self, n) for n in names},
                "units": {"temperature": units.temperature, "time": units.time,
                          "energy": units.energy, "length": units.length}}

    def metrics(self) -> dict:
        traj = self.trajectory
        half = slice(len(traj) // 2, None)  # second half: past equilibration
        means = {}
        for k, v in traj.thermo.items():
            mean = float(np.mean(v[half])) if len(v) else None
            means[f"mean_{k}"] = mean if mean is not None and np.isfinite(mean) else None
        collapse = next((e for e in self.events if e["action"] == "stopped"), None)
        return {"status": self.status, "message": self.message, "steps": self.step,
                "frames": len(traj), "wall_time_s": self.wall_time, "time": self.time,
                "events": list(self.events),
                "collapse_time": None if collapse is None else collapse["time"],
                "atom_steps_per_s": self.throughput or None,  # None: no chunk was timed
                "potential_per_atom": (means["mean_potential"] / self.system.n_atoms
                                       if means["mean_potential"] is not None else None),
                **means}

    def save(self, registry=None, name: str = ""):
        """Write the run (config, metrics, extxyz trajectory, npz arrays, thermo CSV; for a
        learned system also the model, ``model/``, loadable by ``LearnedForceField.load``) and
        index it in the run registry; returns the ``Run``."""
        registry = registry or RunRegistry()
        traj, s = self.trajectory, self.system
        run = registry.create("simulation", self.config(), name=name or s.name)
        extra = {} if s.bonds is None else {"bonds": np.asarray(s.bonds)}
        run.save_arrays("trajectory", positions=traj.positions, unwrapped=traj.unwrapped,
                        velocities=traj.velocities, steps=traj.steps, species=s.species,
                        masses=s.masses, box=s.box if s.periodic else np.zeros(0), **extra,
                        **{f"thermo_{k}": v for k, v in traj.thermo.items()})
        names = [s.species_names[i] for i in s.species]
        info = [{"step": int(st), **{k: float(v[i]) for k, v in traj.thermo.items()
                                     if np.isfinite(v[i])}}
                for i, st in enumerate(traj.steps)]
        io.write_extxyz(run.file("trajectory.extxyz"), traj.positions, names, s.box,
                        pbc=s.periodic, info_per_frame=info)
        io.write_thermo_csv(run.file("thermo.csv"), traj.thermo, steps=traj.steps)
        if s.model is not None:  # the weights that made the trajectory, reloadable on their own
            s.model.save(run.file("model"))
        run.save_metrics(self.metrics())
        run.set_status({"completed": "completed", "failed": "failed"}.get(self.status,
                                                                          "stopped"))
        return run
