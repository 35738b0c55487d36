"""``LiveAnalysis``: what a live view of a running ``Simulation`` shows, kept up to date while it
runs, with no widgets, so the same numbers come out of a dashboard, a notebook or a script.

It subscribes to the simulation (``Simulation.subscribe``) and, after every chunk, on the
simulation's worker thread:

- appends the thermo in display units: energies per atom, temperature in the system's unit,
  pressure in bar for ASE units (``Units.pressure_from_internal``) or epsilon/sigma^3 for LJ,
  NaN in free space; ``thermo(start)`` reads it, ``averages()`` gives the running means;
- updates the structural observable that suits the system (``analysis.observable_kind``), from
  the newest frame at most every ``structure_interval`` seconds: the running-average g(r) of a
  pair fluid (``analysis.pair_rdf``), the intermolecular O-O, O-H and H-H g(r) of water
  (``analysis.water_partial_rdfs``), or the (phi, psi) of every frame of a peptide and the free
  energy F(phi, psi) / kT of the samples so far (``analysis.free_energy_surface``).

Thread safety: the worker writes and readers copy under one lock; readers get numpy copies, never
live buffers. No param event is fired from the worker thread (``version`` is a plain counter to
poll), so a dashboard reads on its own periodic callback and touches Bokeh models only there.
An error in the analysis is kept in ``error`` and never stops the simulation.

Follows MDAnalysis's analysis shape (prepare once per system, one update per frame, results read
at any time), fed by the simulation's chunks instead of a trajectory reader.

    sim = SimulationSetup(n_atoms=500).build()
    live = LiveAnalysis(sim)
    sim.run()
    live.rdf()["g"], live.averages()["temperature"]
"""

from __future__ import annotations

import threading
import time

import numpy as np
import param

from workbench import analysis
from workbench.simulation import Chunk, Simulation

#: thermo keys in the order ``thermo()`` gives them (energies per atom)
THERMO = ("kinetic", "potential", "total", "temperature", "pressure")
PER_ATOM = ("kinetic", "potential", "total")


class LiveAnalysis(param.Parameterized):
    """Running thermo and structure of one ``Simulation`` (module docstring)."""

    rdf_bins = param.Integer(default=80, bounds=(2, None), constant=True,
                             doc="Bins of the g(r) histograms.")
    rdf_atoms = param.Integer(default=128, bounds=(1, None), allow_None=True, constant=True,
                              doc="Reference atoms per frame for a fluid's g(r) (None: all).")
    ramachandran_bins = param.Integer(default=36, bounds=(2, None), constant=True,
                                      doc="Bins per angle of F(phi, psi) (36: 10 degrees).")
    ramachandran_points = param.Integer(default=400, bounds=(1, None), constant=True,
                                        doc="Newest (phi, psi) points kept for plotting.")
    ramachandran_samples = param.Integer(default=50_000, bounds=(1, None), constant=True,
                                         doc="Newest (phi, psi) samples F(phi, psi) is made of.")
    structure_interval = param.Number(default=0.0, bounds=(0, None), constant=True,
                                      doc="Seconds of wall time between structure updates "
                                      "(0: after every chunk).")

    def __init__(self, simulation: Simulation, **params):
        super().__init__(**params)
        self.simulation = simulation
        s = simulation.system
        self.system = s
        self.units = s.unit_system
        self.kind = analysis.observable_kind(s)
        if self.kind == "rdf":
            self.r_max = min(0.5 * float(np.min(s.box)), 3.0 * s.r_cutoff)
        elif self.kind == "water_rdfs":
            self.r_max = min(0.5 * float(np.min(s.box)), 8.0)
            self._is_oxygen = np.array([s.species_names[i] == "O" for i in s.species])
            self._molecule = analysis.molecule_ids(s.n_atoms, s.bonds)
        elif self.kind == "ramachandran":
            self._phi_psi = s.forcefield.phi_psi_indices()[:1]  # the first residue
        self._lock = threading.Lock()  # guards the results (worker writes, readers copy)
        self._ingest = threading.Lock()  # one update at a time, in chunk order
        self._clear()
        with self._ingest:
            simulation.subscribe(self.update)
            self._catch_up(simulation)

    # --- state ------------------------------------------------------------------------------
    def _clear(self) -> None:
        with self._lock:
            self._thermo: list[dict[str, np.ndarray]] = []
            self._n_frames = 0
            self._sums = dict.fromkeys(THERMO, 0.0)
            self._counts = dict.fromkeys(THERMO, 0)
            self._chunks_seen: list[Chunk] = []
            self._structure_time = -np.inf
            self._structure_frames = 0
            self._rdf_sum: dict[str, np.ndarray] = {}
            self._r = np.zeros(0)
            self._angles = np.zeros((0, 2))
            self._free_energy: np.ndarray | None = None
            self._version = 0
            self.error = ""

    def close(self) -> None:
        """Stop following the simulation (what was gathered stays readable)."""
        self.simulation.unsubscribe(self.update)

    # --- input (the simulation's worker thread) ----------------------------------------------
    def update(self, simulation: Simulation, chunk: Chunk | None = None) -> None:
        """Take in the chunks the simulation recorded since the last call (its subscriber
        callback; ``chunk`` is the newest and only used through ``simulation.chunks``). A
        simulation that was ``reset`` starts the analysis again."""
        with self._ingest:
            self._catch_up(simulation)

    def _catch_up(self, simulation: Simulation) -> None:
        recorded = simulation.chunks()
        seen = self._chunks_seen
        if seen and (len(recorded) < len(seen) or recorded[len(seen) - 1] is not seen[-1]):
            self._clear()  # the simulation forgot its chunks (reset): start again
            seen = self._chunks_seen
        new = recorded[len(seen):]
        if not new:
            return
        try:
            self._take(new)
        except Exception as exc:  # a live view must not stop the simulation
            with self._lock:
                self.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._chunks_seen = seen + new
            self._version += 1

    def _take(self, chunks: list[Chunk]) -> None:
        """Thermo of every new frame; the structure from the newest (module docstring)."""
        n = self.system.n_atoms
        data = {"step": np.concatenate([c.steps for c in chunks]).astype(np.int64)}
        for key in THERMO:
            values = np.concatenate([np.asarray(c.thermo[key], float) for c in chunks])
            if key in PER_ATOM:
                values = values / n
            elif key == "pressure":
                values = self.units.pressure_from_internal(values)
            data[key] = values
        angles = None
        if self.kind == "ramachandran":
            frames = np.concatenate([c.positions for c in chunks])
            angles = analysis.phi_psi_degrees(frames, self._phi_psi, self.system.box)[:, 0]
        with self._lock:
            self._thermo.append(data)
            self._n_frames += len(data["step"])
            for key in THERMO:
                finite = np.isfinite(data[key])
                self._sums[key] += float(np.sum(data[key][finite]))
                self._counts[key] += int(np.count_nonzero(finite))
            if angles is not None:
                self._angles = np.concatenate([self._angles, angles])[
                    -self.ramachandran_samples:]
            samples = self._angles
        now = time.monotonic()
        if now - self._structure_time < self.structure_interval:
            return
        self._structure_time = now
        structure = self._structure(chunks[-1].positions[-1], samples)
        if structure is not None:
            with self._lock:
                self._add_structure(structure)

    def _structure(self, R: np.ndarray, angles: np.ndarray) -> dict[str, np.ndarray] | None:
        """The newest frame's g(r) (fluid) or partial g(r)s (water), or F(phi, psi) / kT of
        the (phi, psi) samples ``angles`` ``[n, 2]`` (peptide); None otherwise."""
        s = self.system
        if self.kind == "rdf":
            return analysis.pair_rdf(R, s.box, self.r_max, self.rdf_bins, self.rdf_atoms)
        if self.kind == "water_rdfs":
            return analysis.water_partial_rdfs(R, s.box, self._is_oxygen, self._molecule,
                                               self.r_max, self.rdf_bins)
        if self.kind == "ramachandran":
            return {"F": analysis.free_energy_surface(angles[:, 0], angles[:, 1],
                                                      self.ramachandran_bins)}
        return None

    def _add_structure(self, structure: dict[str, np.ndarray]) -> None:
        if "F" in structure:
            self._free_energy = structure["F"]
            return
        self._r = structure.pop("r")
        for key, g in structure.items():
            self._rdf_sum[key] = self._rdf_sum.get(key, 0.0) + g
        self._structure_frames += 1

    # --- output (any thread) -----------------------------------------------------------------
    @property
    def version(self) -> int:
        """Bumped after every update: poll it to redraw only when something changed."""
        return self._version

    @property
    def n_chunks(self) -> int:
        """Chunks of the simulation taken in so far."""
        with self._lock:
            return len(self._chunks_seen)

    @property
    def n_frames(self) -> int:
        """Frames whose thermo has been taken in."""
        return self._n_frames

    def thermo(self, start: int = 0) -> dict[str, np.ndarray]:
        """Thermo of the frames from index ``start`` on: ``step`` and ``THERMO`` keys
        ``[n_frames]`` in display units (energies per atom in eV or epsilon, temperature in K or
        T*, pressure in bar or epsilon/sigma^3; NaN in free space)."""
        with self._lock:
            parts = list(self._thermo)
        if not parts:
            return {"step": np.zeros(0, np.int64), **{k: np.zeros(0) for k in THERMO}}
        return {k: np.concatenate([p[k] for p in parts])[start:] for k in ("step", *THERMO)}

    def averages(self) -> dict[str, float]:
        """Running means of the thermo over every frame so far, in the units of ``thermo``
        (NaN where no finite value was seen: the pressure in free space)."""
        with self._lock:
            return {k: self._sums[k] / self._counts[k] if self._counts[k] else float("nan")
                    for k in THERMO}

    def _rdf_average(self) -> dict[str, np.ndarray] | None:
        with self._lock:
            if not self._structure_frames:
                return None
            return {"r": self._r.copy(), **{k: v / self._structure_frames
                                            for k, v in self._rdf_sum.items()}}

    def rdf(self) -> dict[str, np.ndarray] | None:
        """A fluid's running-average g(r): ``r`` (bin centres, length unit) and ``g``
        ``[rdf_bins]``; None before the first frame or for another kind of system."""
        return self._rdf_average() if self.kind == "rdf" else None

    def water_rdfs(self) -> dict[str, np.ndarray] | None:
        """Water's running-average intermolecular g(r)s: ``r`` (Å) and ``OO``, ``OH``, ``HH``
        ``[rdf_bins]``; None before the first frame or for another kind of system."""
        return self._rdf_average() if self.kind == "water_rdfs" else None

    @property
    def structure_frames(self) -> int:
        """Frames averaged into the g(r) so far."""
        return self._structure_frames

    def ramachandran(self) -> dict[str, np.ndarray] | None:
        """The peptide's ``phi`` and ``psi`` (degrees, newest ``ramachandran_points`` frames)
        and ``F`` ``[bins, bins]`` = F(phi, psi) / kT of the samples so far (first index phi;
        minimum 0, NaN where no sample fell); None for another kind of system or before the
        first frame."""
        if self.kind != "ramachandran":
            return None
        with self._lock:
            if self._free_energy is None:
                return None
            newest = self._angles[-self.ramachandran_points:]
            return {"phi": newest[:, 0].copy(), "psi": newest[:, 1].copy(),
                    "F": self._free_energy.copy()}
