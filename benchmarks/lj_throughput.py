"""LJ throughput on the LAMMPS ``bench/in.lj`` setup, every engine measured in the same run.

fcc lattice at rho* = 0.8442, cutoff 2.5 sigma, skin 0.3, NVE, dt = 0.005, velocities at
T* = 1.44. Prints atom-steps per second for

- the workbench kernel (``kernels.runner.simulator``: thermo and frames every ``stride`` steps),
- the workbench ``Simulation`` (the kernel plus chunking, numpy conversion and failure checks),
- plain jax-md (``energy.lennard_jones_neighbor_list`` + ``simulate.nve`` in a ``fori_loop``),
- LAMMPS (serial) and OpenMM CPU (one thread) from ``benchmarks/peers.py``,

and the ratios of each to plain jax-md and to LAMMPS. Compilation and warm-up are not timed:
each JAX row times one run after a warm-up run of the same length. The defaults (500 steps at
N = 4,000, 100 at 32,000) finish in under 10 minutes on two cores; a rate that is zero or not a
number stops the benchmark (``checks.checked``).

    python benchmarks/lj_throughput.py                 # N = 4,000 and 32,000
    python benchmarks/lj_throughput.py --cells 10 --steps 500
    python benchmarks/lj_throughput.py --cells 20 --formats Sparse Dense   # the list formats
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax
import jax.numpy as jnp
from checks import checked, load_average, machine
from jax_md import energy, partition, simulate, smap, space
from peers import IN_LJ, best_time, fcc_lattice, lammps_lj_throughput, openmm_lj_throughput

import workbench  # first: its JAX start-up (64-bit mode on), as in any workbench process
from kernels import potentials as pot
from kernels.runner import simulator

RC, SKIN, DT, KT = IN_LJ["r_cutoff"], IN_LJ["skin"], IN_LJ["dt"], IN_LJ["temperature"]


def plain_jax_md(R: jnp.ndarray, box: float, n_steps: int) -> tuple[float, float]:
    """The textbook jax-md loop, built as ``energy.lennard_jones_neighbor_list`` builds itself
    (that wrapper keeps its cutoff as a jnp array in static pytree metadata, which JAX 0.10
    rejects in ``eval_shape``): jax-md's LJ with its smooth cutoff, a sparse neighbour list."""
    disp, shift = space.periodic(box)
    nf = partition.neighbor_list(disp, box, RC, SKIN, format=partition.OrderedSparse)
    ef = smap.pair_neighbor_list(
        energy.multiplicative_isotropic_cutoff(energy.lennard_jones, RC - 0.5, RC),
        space.canonicalize_displacement_or_metric(disp), sigma=1.0, epsilon=1.0)
    init, apply = simulate.nve(ef, shift, DT)
    nbrs = nf.allocate(R)
    state = init(jax.random.PRNGKey(0), R, kT=KT, neighbor=nbrs)

    @jax.jit
    def run(state, nbrs):
        def body(_, c):
            s, n = c
            s = apply(s, neighbor=n)
            return s, n.update(s.position)

        return jax.lax.fori_loop(0, n_steps, body, (state, nbrs))

    # warm-up (melts the lattice); on overflow, re-allocate from the melted positions
    for _ in range(5):
        new_state, new_nbrs = jax.block_until_ready(run(state, nbrs))
        if not bool(new_nbrs.did_buffer_overflow):
            break
        nbrs = nf.allocate(new_state.position)
    state, nbrs = new_state, new_nbrs
    out = {}

    def go():
        out["r"] = jax.block_until_ready(run(state, nbrs))

    t = best_time(go, 1)  # after a warm-up run of the same length
    s, n = out["r"]
    assert not bool(n.did_buffer_overflow)
    kin = float(simulate.quantity.kinetic_energy(momentum=s.momentum, mass=s.mass))
    return R.shape[0] * n_steps / t, 2 * kin / (3 * R.shape[0] - 3)


def workbench_kernel(R: jnp.ndarray, box: float, n_steps: int, stride: int,
                     list_format: str = "OrderedSparse") -> tuple[float, float]:
    """The kernel with jax-md's neighbour-list format ``list_format`` (``OrderedSparse``, the
    workbench's, ``Sparse`` or ``Dense``)."""
    disp, shift = space.periodic(box)
    nf, ef = pot.pair_energy_neighbor_list(disp, box, pot.lennard_jones, RC, dr_threshold=SKIN,
                                           format=partition.NeighborListFormat[list_format])
    init, run = simulator(ef, shift, disp, nf, volume=box**3, integrator="nve")
    params = {"sigma": jnp.float32(1.0), "epsilon": jnp.float32(1.0)}
    state = init(jax.random.PRNGKey(0), R, jnp.ones(R.shape[0]), params, dt=DT, kT=KT)
    n_frames = n_steps // stride
    state, _ = run(state, params, n_frames=n_frames, stride=stride, dt=DT, kT=KT)  # warm-up
    out = {}

    def go():
        out["t"] = jax.block_until_ready(
            run(state, params, n_frames=n_frames, stride=stride, dt=DT, kT=KT))[1]

    t = best_time(go, 1)  # after a warm-up run of the same length
    return R.shape[0] * n_frames * stride / t, float(out["t"].thermo["temperature"][-1])


def workbench_simulation(n_atoms: int, n_steps: int, stride: int) -> tuple[float, float]:
    """``Simulation.throughput`` over four chunks of ``n_steps / 2`` (chunks that compile are
    not timed: the first, and the one after the melting lattice re-allocates the neighbour list;
    with two chunks in all, this row once printed 0)."""
    s = workbench.build_system("lj_fluid", n_atoms=n_atoms, density=IN_LJ["density"], r_cutoff=RC)
    s.potential.skin = SKIN
    sim = workbench.Simulation(s, integrator="nve", temperature=KT, timestep=DT,
                               n_steps=2 * n_steps, stride=stride,
                               frames_per_chunk=max(1, n_steps // stride // 2))
    sim.run(progress=False)
    return sim.throughput, float(sim.trajectory.thermo["temperature"][-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cells", type=int, nargs="*", default=[10, 20],
                   help="fcc cells per side (4 n^3 atoms): 10 -> 4,000, 20 -> 32,000")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default by size)")
    p.add_argument("--stride", type=int, default=100)
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--formats", nargs="*", default=[], choices=["Sparse", "Dense"],
                   help="also time the kernel with these jax-md neighbour-list formats")
    args = p.parse_args()
    print(f"{machine()}; float32")
    for n_cells in args.cells:
        R_np, box = fcc_lattice(n_cells, IN_LJ["density"])
        R = jnp.asarray(R_np, jnp.float32)
        n = len(R_np)
        n_steps = args.steps or (500 if n <= 4000 else 100)
        stride = min(args.stride, n_steps // 2)  # the Simulation row needs 4 chunks
        rows = {
            "workbench kernel": workbench_kernel(R, box, n_steps, stride),
            "workbench Simulation": workbench_simulation(n, n_steps, stride),
            "plain jax-md": plain_jax_md(R, box, n_steps),
        }
        for list_format in args.formats:
            rows[f"kernel, {list_format} list"] = workbench_kernel(R, box, n_steps, stride,
                                                                  list_format)
        if not args.skip_peers:
            rows["LAMMPS (1 core)"] = lammps_lj_throughput(n_cells=n_cells, n_steps=n_steps)
            rows["OpenMM CPU (1 thread)"] = openmm_lj_throughput(n_cells=n_cells,
                                                                 n_steps=n_steps)
        jm = checked("plain jax-md", rows["plain jax-md"][0])
        lmp = rows.get("LAMMPS (1 core)", (None,))[0]
        print(f"\nN = {n:,} atoms, {n_steps} timed steps")
        print(f"  {'engine':<24}{'M atom-steps/s':>15}{'vs jax-md':>11}{'vs LAMMPS':>11}"
              f"{'T_end':>8}")
        for name, (rate, temp) in rows.items():
            rate = checked(name, rate)
            vs_lammps = f"{rate / lmp:>11.3f}" if lmp else f"{'-':>11}"
            print(f"  {name:<24}{rate / 1e6:>15.3f}{rate / jm:>11.2f}{vs_lammps}{temp:>8.3f}")

    print(f"\nafter the run: {load_average()}")


if __name__ == "__main__":
    main()
