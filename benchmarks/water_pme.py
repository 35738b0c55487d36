"""Flexible-water throughput with PME: the JAX kernel against OpenMM's CPU platform, same system,
measured side by side in the same run.

System: ``workbench.molecules.water_box`` (flexible SPC/Fw, 512 molecules = 1536 atoms by
default, 0.997 g/cm^3, cutoff 0.9 nm, PME with OpenMM's alpha and grid for an Ewald error
tolerance of 5e-4, dispersion correction), NVE velocity Verlet, dt = 0.5 fs, velocities drawn at
300 K from the lattice start.

- JAX: ``kernels.forcefields`` (jax_md's AMBER energy + PME) in float32, by explicit dtypes
  with JAX's 64-bit mode on (as ``import workbench`` leaves it, so this is the precision a
  float32 job gets in a workbench process; the PME reciprocal sum follows the positions' dtype,
  ``kernels.pme``), ``jax_md.simulate.nve`` with the neighbour list updated every step inside a
  ``fori_loop`` (skin 1 Å); overflow is checked after every timed block and the block re-run
  with a larger list if it overflowed (``kernels.neighbors.retry_on_overflow``).
- OpenMM: the same ``openmm.System`` on the CPU platform (single-precision forces, its own
  neighbour list), ``VerletIntegrator(0.5 fs)``, with 1 thread and with all cores.

Compilation and a warm-up are not timed. Prints steps per second of each and the ratio
JAX / OpenMM.

    python benchmarks/water_pme.py                    # 512 molecules, 500 timed steps
    python benchmarks/water_pme.py --molecules 216 --steps 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax
import jax.numpy as jnp
import openmm as mm
from ase import units
from checks import checked, load_average, machine
from jax_md import simulate

from kernels.neighbors import retry_on_overflow
from workbench.molecules import to_kernel, water_box

DT_FS = 0.5
TEMPERATURE_K = 300.0
KB_KJMOL = 0.00831446261815324  # kJ/mol/K (OpenMM's BOLTZ)


def jax_throughput(mol, n_steps: int, n_warmup: int) -> tuple[float, float, float]:
    """Steps per second of the float32 JAX kernel; returns (steps/s, final temperature K,
    relative difference of the starting energy from OpenMM Reference in double precision)."""
    ks = to_kernel(mol, dtype=jnp.float32, skin=1.0)
    init, apply = simulate.nve(ks.energy_fn, ks.shift_fn, DT_FS * units.fs)
    nbrs = ks.neighbor_fn.allocate(ks.R0)
    e_ref = mol.context("Reference").getState(getEnergy=True).getPotentialEnergy()
    e_ref = e_ref.value_in_unit(mm.unit.kilojoule_per_mole) * units.kJ / units.mol
    e_diff = abs(float(jax.jit(ks.energy_fn)(ks.R0, nbrs)) - e_ref) / abs(e_ref)
    state = init(jax.random.PRNGKey(0), ks.R0, mass=ks.masses, kT=units.kB * TEMPERATURE_K,
                 neighbor=nbrs)

    @jax.jit
    def block(state, nbrs, n):
        def body(_, carry):
            s, nb = carry
            s = apply(s, neighbor=nb)
            return s, nb.update(s.position)

        return jax.lax.fori_loop(0, n, body, (state, nbrs))

    def run(state, nbrs, n):
        def attempt(nb):
            out = jax.block_until_ready(block(state, nb, n))
            return out, out[1]

        out, _ = retry_on_overflow(attempt, nbrs, lambda extra: ks.neighbor_fn.allocate(
            state.position, extra_capacity=extra), max_reallocations=10)
        return out

    state, nbrs = run(state, nbrs, n_warmup)  # compiles (n is traced) and warms up
    t0 = time.perf_counter()
    state, nbrs = run(state, nbrs, n_steps)
    elapsed = time.perf_counter() - t0
    if state.position.dtype != jnp.float32 or state.momentum.dtype != jnp.float32:
        raise RuntimeError(f"the float32 run was promoted to {state.position.dtype}")
    kinetic = 0.5 * jnp.sum(state.momentum**2 / state.mass)
    temperature = float(2 * kinetic / (3 * (ks.R0.shape[0] - 1)) / units.kB)
    return n_steps / elapsed, temperature, e_diff


def openmm_throughput(mol, n_steps: int, n_warmup: int, threads: int) -> tuple[float, float]:
    """Steps per second of OpenMM's CPU platform; returns (steps/s, final temperature K)."""
    integrator = mm.VerletIntegrator(DT_FS * 1e-3)
    ctx = mol.context("CPU", {"Threads": str(int(threads))}, integrator)
    ctx.setVelocitiesToTemperature(TEMPERATURE_K, 1)
    integrator.step(n_warmup)
    ctx.getState(getEnergy=True)  # sync before timing
    t0 = time.perf_counter()
    integrator.step(n_steps)
    state = ctx.getState(getEnergy=True)
    elapsed = time.perf_counter() - t0
    kinetic = state.getKineticEnergy()._value  # kJ/mol
    temperature = 2 * kinetic / (3 * (mol.n_atoms - 1) * KB_KJMOL)
    return n_steps / elapsed, float(temperature)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=512)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    mol = water_box(args.molecules)
    ff = next(f for f in mol.system.getForces() if isinstance(f, mm.NonbondedForce))
    alpha, nx, ny, nz = ff.getPMEParameters()
    print(f"SPC/Fw water, {args.molecules} molecules ({mol.n_atoms} atoms), box "
          f"{10 * mol.box[0]:.2f} Å, cutoff {10 * ff.getCutoffDistance()._value:.1f} Å, PME alpha "
          f"{alpha._value / 10:.4f} 1/Å grid {nx}x{ny}x{nz}, NVE dt {DT_FS} fs, "
          f"{args.steps} timed steps\n{machine()}")
    rate_jax, t_jax, e_diff = jax_throughput(mol, args.steps, args.warmup)
    rate_jax = checked("JAX float32 steps/s", rate_jax)
    print(f"{'JAX float32':>22}: {rate_jax:8.1f} steps/s  (final T {t_jax:.0f} K; starting "
          f"energy {e_diff:.1e} relative from OpenMM Reference double)")
    cores = os.cpu_count() or 1
    for threads in sorted({1, cores}):
        rate, temp = openmm_throughput(mol, args.steps, args.warmup, threads)
        rate = checked(f"OpenMM CPU {threads} threads steps/s", rate)
        label = f"OpenMM CPU {threads} thr"
        print(f"{label:>22}: {rate:8.1f} steps/s  (final T {temp:.0f} K)   "
              f"JAX / OpenMM = {rate_jax / rate:.3f}")
    print(f"after the run: {load_average()}")


if __name__ == "__main__":
    main()
