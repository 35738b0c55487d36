"""``workbench benchmark score`` and ``run``: MDsim's simulation metrics, from the shell.

    workbench benchmark score run.traj --reference md17_aspirin.npz --kind molecule \
        --frame-interval 0.05 --json
    workbench benchmark score RUN_ID --reference water_ref.extxyz --kind water \
        --reference-frame-interval 0.01

Prints the stability (ps), h(r) or RDF MAE and the diffusivity error (``score.score``), as
JSON with ``--json`` (a metric the run's collapse left unmeasured is ``null``).

    workbench benchmark run --models classical RUN_ID --systems water alanine_dipeptide \
        --seeds 0 1 --frames 20 [--scheduler tcp://host:8786] [--workers 2] [--json]

runs a grid (``grid.BenchmarkGrid``) on a Dask ``LocalCluster``, or on the scheduler given,
with a progress bar, and prints the leaderboard (JSON rows with ``--json``); Ctrl-C stops it,
keeping the finished cells in the benchmark run. Exit status: 0 done, 1 some cells failed, 2
bad input (a message, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.benchmark.score import KINDS


def add_benchmark_parser(sub) -> None:
    """Add the ``benchmark`` command to the ``workbench`` sub-parsers."""
    bench = sub.add_parser("benchmark", help="score force fields by simulation (MDsim)")
    bsub = bench.add_subparsers(dest="benchmark_command", required=True)
    s = bsub.add_parser("score", help="MDsim's metrics of a trajectory against a reference")
    s.add_argument("trajectory", help="trajectory file (.traj, extxyz, ...), run folder or id")
    s.add_argument("--reference", required=True,
                   help="reference trajectory or dataset (.npz, extxyz, .traj, run)")
    s.add_argument("--kind", required=True, choices=KINDS, help="system kind")
    s.add_argument("--frame-interval", type=float, default=None, metavar="PS",
                   help="time between the trajectory's frames, ps (if the file does not say)")
    s.add_argument("--reference-frame-interval", type=float, default=None, metavar="PS",
                   help="time between the reference's frames, ps (water's diffusivity)")
    s.add_argument("--diffusivity-lag", type=float, default=100.0, metavar="PS",
                   help="lag at which the diffusivities are compared (MDsim: 100 ps)")
    s.add_argument("--json", action="store_true", help="print the metrics as JSON")
    r = bsub.add_parser("run", help="run a grid of models x systems x seeds on Dask")
    r.add_argument("--models", nargs="+", default=["classical"],
                   help="'classical' (each system's own force field), model folders or run ids")
    r.add_argument("--systems", nargs="+", default=["water"],
                   help="built-in systems (water, alanine_dipeptide) or reference files "
                   "(.npz, .traj, extxyz) scored as --kind")
    r.add_argument("--kind", choices=KINDS, default="molecule",
                   help="kind of the systems given as reference files")
    r.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds")
    r.add_argument("--frames", type=int, default=20,
                   help="frames per run (the protocol's short version); 0: the full protocol")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (default: a LocalCluster on this machine)")
    r.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    r.add_argument("--name", default="", help="name of the benchmark run")
    r.add_argument("--json", action="store_true", help="print the rows as JSON")


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``workbench benchmark`` command; returns the exit status."""
    if args.benchmark_command == "run":
        return _run(args)
    from workbench.benchmark.score import score

    try:
        metrics = score(args.trajectory, args.reference, args.kind,
                        frame_interval_ps=args.frame_interval,
                        reference_interval_ps=args.reference_frame_interval,
                        diffusivity_lag_ps=args.diffusivity_lag)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    for key, value in metrics.items():
        if key != "units":
            print(f"{key}: {value}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.benchmark.grid import BenchmarkGrid
    from workbench.benchmark.systems import BENCHMARK_SYSTEMS, BenchmarkSystem

    systems = [s if s in BENCHMARK_SYSTEMS or not Path(s).exists()
               else BenchmarkSystem.from_reference(s, args.kind) for s in args.systems]
    try:
        grid = BenchmarkGrid(models=args.models, systems=systems, seeds=args.seeds,
                             n_frames=args.frames or None, scheduler=args.scheduler,
                             n_workers=args.workers, run_name=args.name)
        _, skipped = grid.plan()
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for skip in skipped:
        print(f"skipped: {skip['model']} on {skip['system']}: {skip['reason']}",
              file=sys.stderr)
    try:
        grid.run(progress=not args.json)
    except KeyboardInterrupt:
        print("stopped; the finished cells are kept", file=sys.stderr)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if grid.record is not None:
        print(f"benchmark run {grid.record.id}: {grid.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(grid.rows, indent=2, ensure_ascii=False, default=str))
    else:
        print(grid.leaderboard().to_string(index=False))
    return 1 if any(r.get("status") == "error" for r in grid.rows) else 0
