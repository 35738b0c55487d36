"""``workbench benchmark score``: MDsim's simulation metrics of a trajectory, from the shell.

    workbench benchmark score run.traj --reference md17_aspirin.npz --kind molecule \
        --frame-interval 0.05 --json
    workbench benchmark score RUN_ID --reference water_ref.extxyz --kind water \
        --reference-frame-interval 0.01

Prints the stability (ps), h(r) or RDF MAE and the diffusivity error (``score.score``), as
JSON with ``--json`` (a metric the run's collapse left unmeasured is ``null``). Exit status: 0
done, 2 bad input (a message, no traceback).
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


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``workbench benchmark`` command; returns the exit status."""
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
