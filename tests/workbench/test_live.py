"""``LiveAnalysis`` (workbench/live.py): the numbers the Simulate dashboard shows, computed
headless while a simulation runs.

Where the expected numbers come from: ASE's ``ase.geometry.rdf.get_rdf`` (an independent g(r)
with the same N / V normalisation), ``ase.units`` for the bar (1 eV/Å^3 = e * 1e30 Pa / 1e5 =
1.602176634e6 bar with CODATA 2018's exact e; ASE's default CODATA 2014 gives 1.6021766208e6),
and plain numpy means of the simulation's own trajectory.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from ase import Atoms
from ase import units as ase_units
from ase.geometry.rdf import get_rdf

import workbench as wb
from workbench import analysis
from workbench.live import THERMO, LiveAnalysis
from workbench.simulation import Chunk
from workbench.units import ASE, EV_PER_A3_IN_BAR, LJ


class FakeSimulation:
    """What ``LiveAnalysis`` uses of a ``Simulation``: its system, ``subscribe`` and ``chunks``;
    ``push`` records a chunk and notifies as the worker thread does."""

    def __init__(self, system):
        self.system, self._chunks, self._subscribers = system, [], []
        self._lock = threading.Lock()

    def subscribe(self, callback):
        self._subscribers.append(callback)

    def unsubscribe(self, callback):
        self._subscribers.remove(callback)

    def chunks(self, start=0):
        with self._lock:
            return self._chunks[start:]

    def push(self, chunk):
        with self._lock:
            self._chunks.append(chunk)
        for callback in list(self._subscribers):
            callback(self, chunk)

    def reset(self):
        with self._lock:
            self._chunks = []


def _chunk(positions, first_step, thermo=None, stride=10):
    positions = np.asarray(positions, float)
    n = len(positions)
    thermo = thermo or {k: np.arange(n, dtype=float) + first_step for k in THERMO}
    return Chunk(positions, positions, np.zeros_like(positions), thermo,
                 first_step + stride * np.arange(n))


def _ase_rdf(frames, box, r_max, n_bins):
    """ASE's g(r) averaged over ``frames``, from ASE's minimum-image distances (given as a
    distance matrix, so that ``r_max`` may be exactly half the box, which ``get_rdf``'s own
    neighbour list refuses)."""
    gs = []
    for R in frames:
        atoms = Atoms("Ar" * len(R), positions=R, cell=box, pbc=True)
        distances = atoms.get_all_distances(mic=True)
        atoms.pbc = False  # the distances are minimum-image already
        g, r = get_rdf(atoms, r_max, n_bins, distance_matrix=distances,
                       volume=float(np.prod(box)))
        gs.append(g)
    return np.mean(gs, axis=0), r


def test_bar_conversion_is_ase_units():
    assert EV_PER_A3_IN_BAR == pytest.approx(1.0 / ase_units.bar, rel=1e-15)
    assert EV_PER_A3_IN_BAR == pytest.approx(1.602176634e6, rel=1e-7)  # CODATA 2014 vs 2018
    assert ASE.pressure_from_internal(2.0) == pytest.approx(2.0 / ase_units.bar)
    assert ASE.pressure == "bar" and LJ.pressure_from_internal(0.3) == 0.3


def test_pair_rdf_of_an_ideal_gas_frame_matches_ase():
    rng = np.random.default_rng(1)
    n, box = 300, np.full(3, 7.0)
    R = rng.uniform(0, 7.0, (n, 3))
    ours = analysis.pair_rdf(R, box, 3.4, 40, max_atoms=None)
    g_ase, r_ase = _ase_rdf([R], box, 3.4, 40)
    np.testing.assert_allclose(ours["r"], r_ase, rtol=1e-12)
    # float32 distances may put a pair within ~1e-7 of a bin edge in the next bin: two counts
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, 3.4, 41) ** 3)
    one_count = 1 / (n * shell * n / 7.0**3)
    assert np.all(np.abs(ours["g"] - g_ase) <= 2 * one_count + 1e-12)
    assert abs(np.mean(ours["g"][10:]) - 1.0) < 0.05  # ideal gas: g = 1 (300 * 30k pairs)
    sampled = analysis.pair_rdf(R, box, 3.4, 40)  # 128 reference atoms: same g, noisier
    assert abs(np.mean(sampled["g"][10:]) - 1.0) < 0.1


def test_running_rdf_and_thermo_of_an_lj_run_match_ase_and_the_trajectory():
    system = wb.build_system("lj_fluid", n_atoms=108, density=0.8442, r_cutoff=2.0)
    sim = wb.Simulation(system, temperature=0.72, n_steps=400, stride=20, frames_per_chunk=5,
                        seed=3)
    live = LiveAnalysis(sim, rdf_atoms=None)  # every atom a reference: ASE's g exactly
    assert live.kind == "rdf" and live.rdf() is None and live.n_frames == 0
    traj = sim.run(progress=False)
    assert sim.status == "completed" and live.n_chunks == 4 and live.error == ""
    newest = [c.positions[-1] for c in sim.chunks()]  # the frame each update averaged
    box = system.box
    g_ase, _ = _ase_rdf(newest, box, live.r_max, live.rdf_bins)
    rdf = live.rdf()
    assert live.structure_frames == 4 and rdf["g"].shape == (80,)
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, live.r_max, 81) ** 3)
    one_count = 1 / (108 * shell * 108 / np.prod(box)) / len(newest)
    assert np.all(np.abs(rdf["g"] - g_ase) <= 2 * one_count + 1e-9)
    assert rdf["g"].max() > 2.0  # a dense liquid's first peak (g ~ 2.5-3 at T* = 0.72)

    thermo = live.thermo()
    np.testing.assert_array_equal(thermo["step"], traj.steps)
    for key in ("kinetic", "potential", "total"):
        np.testing.assert_allclose(thermo[key], np.asarray(traj.thermo[key], float) / 108,
                                   rtol=1e-12)  # per atom, in float64 from float32 thermo
    for key in ("temperature", "pressure"):  # LJ units: no conversion
        np.testing.assert_allclose(thermo[key], traj.thermo[key], rtol=1e-12)
    averages = live.averages()
    for key in THERMO:
        assert averages[key] == pytest.approx(np.mean(thermo[key]), rel=1e-12)
    assert len(live.thermo(15)["step"]) == len(traj.steps) - 15
    live.close()
    assert live.update not in sim._subscribers


def test_water_pressure_in_bar_partial_rdfs_and_free_space_nan():
    water = wb.build_system("water", n_molecules=16)
    sim = FakeSimulation(water)
    live = LiveAnalysis(sim)
    assert live.kind == "water_rdfs" and live.units.pressure == "bar"
    R = water.positions
    thermo = {k: np.array([1.0, 3.0]) for k in THERMO}
    thermo["pressure"] = np.array([1e-4, 3e-4])  # eV/Å^3
    sim.push(_chunk([R, R], 10, thermo))
    t = live.thermo()
    np.testing.assert_allclose(t["pressure"], [1e-4 / ase_units.bar, 3e-4 / ase_units.bar])
    np.testing.assert_allclose(t["potential"], [1 / 48, 3 / 48])  # per atom: 16 waters
    assert live.averages()["pressure"] == pytest.approx(2e-4 / ase_units.bar)
    is_oxygen = np.array([water.species_names[s] == "O" for s in water.species])
    expected = analysis.water_partial_rdfs(R, water.box, is_oxygen,
                                           analysis.molecule_ids(48, water.bonds),
                                           live.r_max, 80)
    g = live.water_rdfs()
    for key in ("r", "OO", "OH", "HH"):
        np.testing.assert_allclose(g[key], expected[key])
    assert live.rdf() is None and live.ramachandran() is None

    peptide = wb.build_system("alanine_dipeptide_vacuum")
    sim = FakeSimulation(peptide)
    live = LiveAnalysis(sim, ramachandran_points=3)
    rng = np.random.default_rng(0)
    frames = peptide.positions + rng.normal(0, 0.05, (5, peptide.n_atoms, 3))
    thermo = {k: np.ones(5) for k in THERMO}
    thermo["pressure"] = np.full(5, np.nan)  # free space
    sim.push(_chunk(frames, 0, thermo))
    rama = live.ramachandran()
    angles = analysis.phi_psi_degrees(frames, peptide.forcefield.phi_psi_indices()[:1])[:, 0]
    np.testing.assert_allclose(rama["phi"], angles[-3:, 0])
    np.testing.assert_allclose(rama["psi"], angles[-3:, 1])
    F = analysis.free_energy_surface(angles[:, 0], angles[:, 1], 36)
    np.testing.assert_array_equal(np.isnan(rama["F"]), np.isnan(F))
    averages = live.averages()
    assert np.isnan(averages["pressure"]) and averages["kinetic"] == pytest.approx(1 / 22)


def test_reading_while_the_worker_writes_is_consistent_and_reset_starts_again():
    system = wb.build_system("lj_fluid", n_atoms=108)
    sim = FakeSimulation(system)
    sim.push(_chunk([system.positions] * 2, 0))  # recorded before the analysis subscribes
    live = LiveAnalysis(sim, rdf_atoms=16, structure_interval=0.0)
    assert live.n_chunks == 1 and live.n_frames == 2 and live.structure_frames == 1
    n_chunks = 300

    def worker():
        for i in range(1, n_chunks):
            sim.push(_chunk([system.positions] * 2, 20 * i))

    thread = threading.Thread(target=worker)
    thread.start()
    seen, alive = 0, True
    while alive:
        alive = thread.is_alive()
        t = live.thermo()
        assert len(t["step"]) == len(t["kinetic"]) >= seen  # whole chunks, never fewer
        assert np.all(np.diff(t["step"]) > 0)
        seen = len(t["step"])
        assert np.all(np.isfinite(live.rdf()["g"]))
    thread.join()
    assert live.n_chunks == n_chunks and live.structure_frames == n_chunks
    sim.reset()
    sim.push(_chunk([system.positions], 0))
    assert live.n_frames == 1 and live.n_chunks == 1 and live.structure_frames == 1


def test_structure_interval_thins_the_structure_updates_not_the_thermo():
    system = wb.build_system("lj_fluid", n_atoms=108)
    sim = FakeSimulation(system)
    live = LiveAnalysis(sim, structure_interval=3600.0)
    for i in range(5):
        sim.push(_chunk([system.positions], 10 * i))
    assert live.n_frames == 5 and live.structure_frames == 1  # the first chunk's frame only
