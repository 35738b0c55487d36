"""``workbench backmap pipeline``: the coarse-graining loop end to end from the shell
(``workbench.backmap.pipeline.CGPipeline``).

    workbench backmap pipeline alanine.npz --beads 6 --phi-psi 4,6,8,14:6,8,14,16 \
        --out backmapped.extxyz --json

Reads any file ``workbench.data.load_dataset`` reads (positions and forces of one molecule),
makes the mapping, fits the CG potential, runs CG MD, trains CGVAE, backmaps every CG frame,
prints the scores (JSON with ``--json``) and writes the backmapped frames (extxyz, or any
format ASE writes) with ``--out``. Exit status: 0 done, 2 bad input (a message, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.backmap.pipeline import CGPipeline


def _quads(text: str):
    try:
        quads = [[int(i) for i in q.split(",")] for q in text.split(":")]
    except ValueError:
        quads = []
    if len(quads) != 2 or any(len(q) != 4 for q in quads):
        raise argparse.ArgumentTypeError("--phi-psi takes two quads of atom indices, "
                                         "'a,b,c,d:e,f,g,h' (phi, then psi)")
    return [quads]


def add_backmap_parser(sub) -> None:
    """Add the ``backmap`` command to the ``workbench`` sub-parsers."""
    top = sub.add_parser("backmap", help="backmap CG structures to atoms (CGVAE)")
    bsub = top.add_subparsers(dest="backmap_command", required=True)
    p = bsub.add_parser("pipeline", help="mapping, CG potential, CG MD, CGVAE, backmapping, "
                                         "scores")
    p.add_argument("data", help="all-atom frames with forces (.npz, extxyz, .traj, ...)")
    p.add_argument("--beads", type=int, default=6, help="beads of the mapping")
    p.add_argument("--mapping", choices=["girvan-newman", "autograin"],
                   default="girvan-newman", help="how to make the mapping")
    p.add_argument("--cg-steps", type=int, default=50_000, help="CG MD steps of 2 fs")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--epochs", type=int, default=40, help="CGVAE training epochs")
    p.add_argument("--phi-psi", type=_quads, default=None, metavar="a,b,c,d:e,f,g,h",
                   help="atom quads of phi and psi, for the F(phi, psi) scores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the backmapped frames here (ASE)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``workbench backmap`` command; returns the exit status."""
    from workbench.data import load_dataset

    try:
        ds = load_dataset(args.data)
        if ds.forces is None:
            raise ValueError(f"{args.data} holds no forces: force matching needs them")
        job = CGPipeline(ds.positions, ds.forces, ds.species, ds.masses, n_beads=args.beads,
                         mapping_method=args.mapping, cg_steps=args.cg_steps,
                         temperature=args.temperature, cgvae_epochs=args.epochs,
                         phi_psi_indices=args.phi_psi, seed=args.seed)
        job.run(progress=not args.json)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        import ase
        import ase.io

        ase.io.write(args.out, [ase.Atoms(numbers=ds.species, positions=x)
                                for x in job.backmapped])
    if args.json:
        print(json.dumps(job.results, indent=2))
    else:
        for key, value in job.results.items():
            print(f"{key}: {value}")
    return 0
