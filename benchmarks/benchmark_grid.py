"""Benchmark grids and metric speed (issue 13, item 9), every peer measured in the same run.

Part A, the grid: 2 models (the classical force field and a pair MLP trained here for a few
seconds on alanine dipeptide's reference; it knows H, C, N and O, so it runs on water too) x 2
systems (water, alanine dipeptide) x 2 seeds, short protocols, as one ``BenchmarkGrid`` on a Dask
``LocalCluster`` (worker processes, one per core), against the same cells run by
``cell.run_cell`` one after another in this process. Prints both walls and their ratio. The
one-process arm runs first; each arm starts with an empty JAX compilation cache of its own (the
grid's worker processes share theirs, as on one machine), so both compile as a first run does;
references and runs go to a temporary workbench home (``--home`` to keep them).

Part B, the metrics: milliseconds per 1,000 frames to score a trajectory against its reference,
the workbench's classes against MDsim's own formulas (github.com/kyonofx/MDsim,
``observable.ipynb``; Fu et al., TMLR 2023) on the same arrays:

- water (64 waters, the reference of the ``water`` system, 0.1 ps frames): ``RDFStability`` +
  ``PartialRDF`` against MDsim's ``load_run`` (its 1 ps window scan with ``get_water_rdfs``, then
  the RDFs before the collapse) with the reference's RDFs; ``Diffusivity`` against
  ``get_smoothed_diff`` of the oxygens every 1 ps, run and reference;
- a molecule (alanine dipeptide, 22 atoms, 0.05 ps frames): ``BondStability`` + ``HR`` against
  MDsim's MD17 ``load_run`` (bonds from ASE's natural cutoffs, the bond scan, ``get_hr``).

The trajectory is the reference's frames plus 0.02 Å of Gaussian noise: stable throughout, the
costliest case (every window and frame is checked). MDsim computes with torch where it can; when
torch is not installed (the default here) its formulas are timed in the numpy rewrite the tests
check against (``tests/workbench/benchmark/mdsim_formulas.py``), and the output says so. Target:
ours at least 5x faster.

    python benchmarks/benchmark_grid.py                  # both parts, under 10 min on 2 cores
    python benchmarks/benchmark_grid.py --skip-grid      # metrics only (about a minute)
    python benchmarks/benchmark_grid.py --frames 2000 --seeds 0 1 2
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# an empty compilation cache for the one-process arm (the grid's workers get another)
os.environ["MDWB_CACHE"] = tempfile.mkdtemp(prefix="mdwb-benchmark-grid-cache-")

import argparse
import time

import numpy as np
from checks import BenchmarkError, checked, load_average, machine

import workbench  # noqa: F401  (its JAX start-up first, as in any workbench process)

SYSTEMS = ("water", "alanine_dipeptide")
MDSIM_WATER_FRAMES = 5000
"""Frames of MDsim's water run (500 ps at 0.1 ps), where its diffusivity is timed too."""


# --- Part A: the grid -----------------------------------------------------------------------
def train_model(seconds_note: list[str]) -> str:
    """A pair MLP trained for 3 epochs on 100 frames of alanine dipeptide; its run id."""
    from workbench.architectures import architecture
    from workbench.benchmark import get_system
    from workbench.data import Dataset
    from workbench.mlff import Training

    data = Dataset.load(get_system("alanine_dipeptide").reference_path())
    frames = np.linspace(0, data.n_frames - 1, min(100, data.n_frames)).astype(int)
    t0 = time.perf_counter()
    job = Training(architecture=architecture("pair_mlp", cutoff=4.0, n_basis=16,
                                             hidden=[16, 16]),
                   dataset=data[frames], max_epochs=3, batch_size=8, warmup_steps=10,
                   learning_rate=3e-3, seed=0, run_name="benchmark_grid pair MLP")
    job.run(progress=False)
    if job.status != "completed":
        raise BenchmarkError(f"training failed: {job.message}")
    seconds_note.append(f"pair MLP trained in {time.perf_counter() - t0:.1f} s "
                        f"(test force MAE {job.test_metrics['force_mae']:.3f} eV/Å)")
    return job.run_record.id


def part_a(seeds: list[int], n_frames: int, n_workers: int) -> None:
    from workbench.benchmark import BenchmarkGrid, get_system
    from workbench.benchmark.cell import run_cell
    from workbench.registry import RunRegistry

    t0 = time.perf_counter()
    for name in SYSTEMS:
        get_system(name).reference_path()
    print(f"references ready in {time.perf_counter() - t0:.1f} s")
    notes: list[str] = []
    model = train_model(notes)
    print(notes[0], flush=True)
    models = ["classical", model]

    grid = BenchmarkGrid(models=models, systems=list(SYSTEMS), seeds=seeds, n_frames=n_frames,
                         n_workers=n_workers, processes=True, run_name="benchmark_grid")
    cells, skipped = grid.plan()
    if skipped:
        raise BenchmarkError(f"cells skipped: {skipped}")
    print(f"{len(cells)} cells: {len(models)} models x {len(SYSTEMS)} systems x {len(seeds)} "
          f"seeds, {n_frames} frames each (short protocols)", flush=True)

    registry = RunRegistry()
    t0 = time.perf_counter()
    rows = [run_cell(cell, str(registry.root)) for cell in cells]
    wall_serial = checked("one-process wall time", time.perf_counter() - t0)
    print(f"one after another in this process: {wall_serial:.1f} s  ({load_average()})",
          flush=True)

    os.environ["MDWB_CACHE"] = tempfile.mkdtemp(prefix="mdwb-benchmark-grid-cache-")
    t0 = time.perf_counter()
    grid.run(progress=False)
    wall_grid = checked("grid wall time", time.perf_counter() - t0)
    if grid.status != "completed" or any(r.get("status") == "error" for r in grid.rows):
        raise BenchmarkError(f"the grid did not finish every cell: {grid.message}")
    print(f"LocalCluster, {n_workers} worker processes: {wall_grid:.1f} s  ({load_average()})")
    print(f"speed-up of the grid: {wall_serial / wall_grid:.2f}x "
          f"(ideal {min(n_workers, os.cpu_count() or 1)}x on {os.cpu_count()} cores)")
    by_cell = {r["cell"]: r for r in grid.rows}
    print("cells (grid / one process): simulated ps, stability ps, simulation wall s")
    for row in rows:
        other = by_cell[row["cell"]]
        print(f"  {row['cell']:<60} {row['simulated_ps']:6.2f} ps "
              f"{row['stability_ps']:6.2f} / {other['stability_ps']:6.2f} ps "
              f"{other['wall_time_s']:6.1f} / {row['wall_time_s']:6.1f} s")


# --- Part B: metric evaluation per 1,000 frames ---------------------------------------------
def _best_ms(fn, repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn()``, in ms (the first call warms JAX up)."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return checked("metric time", best * 1e3)


def _torch_note() -> str:
    try:
        import torch  # noqa: F401
    except ImportError:
        return ("torch is not installed: MDsim's formulas are timed in their numpy rewrite "
                "(tests/workbench/benchmark/mdsim_formulas.py, the same operations as its "
                "torch code on the CPU)")
    return ("torch is installed, but MDsim's torch calls (cdist, repeat) are timed through "
            "the numpy rewrite for the same arrays (tests/workbench/benchmark/mdsim_formulas.py)")


def water_case(n_frames: int, seed: int):
    """``(trajectory, reference)`` of 64 waters at 0.1 ps: the ``water`` reference's first
    ``n_frames`` frames (tiled when it has fewer) with 0.02 Å noise, and the reference."""
    from workbench.benchmark import Trajectory, get_system, load_trajectory

    ref = load_trajectory(get_system("water").reference_path())
    ref = Trajectory(ref.positions, ref.numbers, ref.box, 0.1)
    idx = np.arange(n_frames) % ref.n_frames
    noise = np.random.default_rng(seed).normal(0.0, 0.02, (n_frames, ref.n_atoms, 3))
    return Trajectory(ref.positions[idx] + noise, ref.numbers, ref.box, 0.1), ref


def molecule_case(n_frames: int, seed: int):
    """``(trajectory, reference)`` of alanine dipeptide at 0.05 ps (MD17's spacing): the
    reference's frames tiled to ``n_frames`` with 0.02 Å noise, and the reference."""
    from workbench.benchmark import Trajectory, get_system, load_trajectory

    ref = load_trajectory(get_system("alanine_dipeptide").reference_path())
    idx = np.arange(n_frames) % ref.n_frames
    noise = np.random.default_rng(seed).normal(0.0, 0.02, (n_frames, ref.n_atoms, 3))
    return Trajectory(ref.positions[idx] + noise, ref.numbers, None, 0.05), ref


def part_b(n_frames: int, repeats: int) -> list[tuple[str, float, float]]:
    from tests.workbench.benchmark import mdsim_formulas as mdsim
    from workbench.benchmark import (
        HR,
        BondStability,
        Diffusivity,
        PartialRDF,
        RDFStability,
        load_trajectory,
    )
    from workbench.benchmark import rdf as rdf_module

    print(_torch_note())
    scale = 1000.0 / n_frames
    out = []

    traj, ref = water_case(n_frames, seed=0)
    lattice = ref.box.astype(float)
    bins = np.linspace(1e-6, 6.0, 501)

    def ours_water():
        rdf_module._REFERENCES.clear()  # count the reference's RDFs every time, as MDsim does
        stability = RDFStability(ref).run(traj).results
        PartialRDF(ref).run(traj, stability=stability)

    def mdsim_water():
        gt = mdsim.get_water_rdfs(ref.positions, ref.numbers, lattice, bins)
        mdsim.water_load_run(traj.positions, traj.numbers, lattice, gt)

    out.append(("water: RDF stability + partial RDFs", _best_ms(ours_water, repeats) * scale,
                _best_ms(mdsim_water, repeats) * scale))
    print(f"  {out[-1][0]}: done", flush=True)

    for n in (n_frames, MDSIM_WATER_FRAMES):  # MDsim's O(T^2) estimator grows with T
        run, _ = water_case(n, seed=0)
        lag_ps = min(100.0, 0.5 * n * 0.1)
        oxygens = run.numbers == 8

        def ours_diffusivity(run=run, lag_ps=lag_ps):
            Diffusivity(ref, lag_ps=min(lag_ps, 50.0)).run(run)

        def mdsim_diffusivity(run=run, oxygens=oxygens):
            for x in (ref.positions, run.positions):
                mdsim.get_smoothed_diff(x[::10][:, oxygens])

        out.append((f"water: oxygen diffusivity, {n:,} frames",
                    _best_ms(ours_diffusivity, repeats) * 1000.0 / n,
                    _best_ms(mdsim_diffusivity, repeats) * 1000.0 / n))

    mol, mol_ref = molecule_case(n_frames, seed=1)
    first = mol.to_atoms()[0]

    def ours_molecule():
        stability = BondStability(mol_ref).run(mol).results
        HR(mol_ref).run(mol, stability=stability)

    def mdsim_molecule():
        mdsim.md17_scores(first, mol.positions, mol_ref.positions)

    out.append(("molecule: bond stability + h(r)", _best_ms(ours_molecule, repeats) * scale,
                _best_ms(mdsim_molecule, repeats) * scale))
    # reading the run's file is the same for both (ASE), and not part of the metrics
    path = os.path.join(tempfile.mkdtemp(), "md.traj")
    import ase.io

    ase.io.write(path, mol.to_atoms(), format="traj")
    read_ms = _best_ms(lambda: load_trajectory(path, frame_interval_ps=0.05), 1) * scale
    print(f"  (reading the molecule's .traj with ASE, both sides: {read_ms:.0f} ms per 1,000 "
          "frames, not counted above)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="grid seeds")
    p.add_argument("--n-frames", type=int, default=12,
                   help="frames per run of the short protocols (water needs 12)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--frames", type=int, default=1000, help="frames scored in part B")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed repeats of each metric, ours and MDsim's")
    p.add_argument("--home", default=None,
                   help="workbench home (references, runs); default: a temporary folder")
    p.add_argument("--skip-grid", action="store_true")
    p.add_argument("--skip-metrics", action="store_true")
    args = p.parse_args()
    os.environ["MDWB_HOME"] = args.home or tempfile.mkdtemp(prefix="mdwb-benchmark-grid-")
    print(machine())
    print(f"workbench home {os.environ['MDWB_HOME']}")
    if not args.skip_grid:
        print("\n# Part A: a benchmark grid on a Dask LocalCluster against one process")
        part_a(args.seeds, args.n_frames, args.workers)
    if not args.skip_metrics:
        print(f"\n# Part B: scoring {args.frames} frames, ms per 1,000 frames "
              "(best of --repeats for both)")
        results = part_b(args.frames, args.repeats)
        print(f"{'metric':<40} {'ours (ms)':>10} {'MDsim (ms)':>11} {'MDsim / ours':>13}")
        for name, ours, theirs in results:
            verdict = "ok" if theirs / ours >= 5.0 else "below the 5x target"
            print(f"{name:<40} {ours:10.0f} {theirs:11.0f} {theirs / ours:12.1f}x  {verdict}")
    print(load_average())


if __name__ == "__main__":
    main()
