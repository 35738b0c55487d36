"""What coarse graining costs and what it buys (issue 15, item 9), on alanine dipeptide in vacuum
(AMBER ff14SB, 300 K), all measured in one run:

- reference data: OpenMM (Reference platform, the fastest for 22 atoms) making ``--frames``
  frames with forces, 0.1 ps apart (0.5 fs steps);
- force matching (MS-CG, ``workbench.coarse.ForceMatching``: heavy-atom mapping, 10 beads,
  bonds, angles, Fourier dihedrals, impropers; no pair term): wall time of ``fit_mapped`` on
  those frames;
- Autograin (``AutograinJob``, N = 6 beads, the same frames): seconds per epoch, after the
  first (compiling) epoch;
- MD speed, simulated ns per day, ``Simulation`` with Langevin at 300 K in float32 (what a
  user runs): the force-matched CG model (10 beads, 2 fs steps) against the all-atom molecule
  in the same kernel (22 atoms, AMBER ff14SB converted by jax-md, 0.5 fs steps: flexible
  bonds to hydrogen), and the all-atom molecule in OpenMM (Reference platform) as the peer.
  The speed-up is CG over all-atom ns/day, both ours.

Force matching against VOTCA's ``csg_fmatch`` (the peer the issue names) is
``benchmarks/fmatch_votca.py``, on an LJ liquid whose exact answer is known.

    python benchmarks/coarse_grain.py                 # ~1 minute on 2 cores
    python benchmarks/coarse_grain.py --frames 2000 --md-ps 50
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.checks import checked, machine  # noqa: E402


def ns_per_day(steps: int, dt_fs: float, seconds: float) -> float:
    return steps * dt_fs * 1e-6 / (seconds / 86400.0)


def our_md(system, dt_fs: float, ps: float) -> float:
    """ns/day of ``Simulation`` on ``system`` (Langevin 300 K, float32): one chunk compiles,
    the next ``ps`` picoseconds are timed."""
    from workbench import Simulation

    steps = int(round(ps * 1000.0 / dt_fs))
    sim = Simulation(system, temperature=300.0, timestep=dt_fs, friction=0.01,
                     n_steps=steps + 5000, stride=100, frames_per_chunk=50)
    sim.run(progress=False)
    if sim.status != "completed":
        raise RuntimeError(f"{system.name}: {sim.message}")
    steps_per_s = sim.throughput / system.n_atoms  # timed chunks only (not compiling ones)
    return ns_per_day(steps_per_s, dt_fs, 1.0)


def openmm_md(ps: float) -> float:
    """ns/day of OpenMM's Reference platform on the same molecule (LangevinMiddle, 0.5 fs)."""
    import openmm
    import openmm.unit as u

    from workbench.molecules import alanine_dipeptide

    mol = alanine_dipeptide()
    integrator = openmm.LangevinMiddleIntegrator(300 * u.kelvin, 1 / u.picosecond,
                                                 0.5 * u.femtosecond)
    context = openmm.Context(mol.system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(mol.positions)
    context.setVelocitiesToTemperature(300 * u.kelvin)
    integrator.step(1000)
    steps = int(round(ps * 2000))
    t0 = time.perf_counter()
    integrator.step(steps)
    return ns_per_day(steps, 0.5, time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=4000, help="reference frames (0.1 ps apart)")
    ap.add_argument("--md-ps", type=float, default=20.0, help="timed ps of each MD run")
    ap.add_argument("--epochs", type=int, default=20, help="Autograin epochs timed")
    args = ap.parse_args()
    print(machine())

    import jax.numpy as jnp

    from kernels.cg.mapping import map_positions
    from workbench.builders import alanine_dipeptide_vacuum
    from workbench.coarse import AutograinJob, ForceMatching
    from workbench.data import generate
    from workbench.mapping import heavy_atom_mapping, topology_labels
    from workbench.molecules import alanine_dipeptide
    from workbench.registry import RunRegistry
    from workbench.system import System

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds = generate("alanine_dipeptide", args.frames, Path(tmp) / "ala.npz", seed=0,
                      equilibration_steps=10_000)
        t_data = time.perf_counter() - t0
        print(f"reference data: {args.frames} frames ({args.frames / 10:g} ps) with OpenMM "
              f"in {t_data:.1f} s")

        mol = alanine_dipeptide()
        names = [f"{n}{k}" for k, n in enumerate(topology_labels(mol.topology).atom_names)]
        mapping = heavy_atom_mapping(mol.atomic_numbers, mol.bonds, ds.masses, atom_names=names)
        fm = ForceMatching(pair=False, dihedrals=True, ridge=1e-4)
        t0 = time.perf_counter()
        cg = fm.fit_mapped(mapping, ds.positions, ds.forces, bonds=mol.bonds, units="ase")
        t_fit = checked("force matching", time.perf_counter() - t0)
        m = cg.metrics
        print(f"force matching: {args.frames} frames, 10 beads, {t_fit:.1f} s; force RMSE "
              f"{m['rmse_validation']:.3f} eV/Å on held-out frames (predicting zero: "
              f"{m['rmse_zero_validation']:.3f})")

        job = AutograinJob(ds.positions, ds.forces, ds.masses, n_beads=6,
                           epochs=args.epochs + 1, registry=RunRegistry(Path(tmp) / "runs"))
        times = []
        job.attach(lambda: times.append(time.perf_counter()))
        t0 = time.perf_counter()
        job.run(progress=False)
        per_epoch = checked("Autograin epoch", (times[-1] - times[0]) / (len(times) - 1))
        print(f"Autograin: {args.frames} frames, N = 6, {per_epoch * 1000:.0f} ms per epoch "
              f"(first, compiling: {times[0] - t0:.1f} s)")

        R = np.asarray(map_positions(jnp.asarray(ds.positions), mapping.position_matrix(), None))
        cg_system = System.from_cg(cg, R[-1], mapping.bead_masses(), name="alanine CG")
        cg_speed = checked("CG MD", our_md(cg_system, 2.0, args.md_ps))
        aa_speed = checked("all-atom MD", our_md(alanine_dipeptide_vacuum(), 0.5, args.md_ps))
        omm_speed = checked("OpenMM MD", openmm_md(args.md_ps))
    print(f"\nMD, simulated ns per day ({args.md_ps:g} ps timed each):")
    print(f"  CG, 10 beads, 2 fs (ours)          {cg_speed:10.1f}")
    print(f"  all-atom, 22 atoms, 0.5 fs (ours)  {aa_speed:10.1f}")
    print(f"  all-atom, OpenMM Reference         {omm_speed:10.1f}")
    print(f"  CG speed-up over all-atom: {cg_speed / aa_speed:.1f}x (ours), "
          f"{cg_speed / omm_speed:.1f}x (against OpenMM); ours all-atom / OpenMM "
          f"{aa_speed / omm_speed:.2f}")


if __name__ == "__main__":
    main()
