"""``workbench data ...``: make and inspect reference datasets from the shell.

    workbench data list
    workbench data generate ethanol --frames 1000 --out ethanol.npz --seed 0 [--set stride=20]
    workbench data info ethanol.npz
    workbench data info traj.xtc --topology top.pdb
    workbench data info train.xyz --energy-key REF_energy --forces-key REF_forces
    workbench data info mdsim_aspirin.npz --energy-unit eV
    workbench data info water_deepmd/ [--type-map O,H]

``info`` prints the units read (declared, given or assumed), the fields used, the fields that
were not loaded, and every warning the loader gave.

``generate`` shows a tqdm bar; interrupting it keeps the finished chunks, and the same command
resumes (``workbench.data.generate``).
"""

from __future__ import annotations

import argparse
import json
import sys


def key_value(text: str) -> tuple[str, object]:
    """``key=value``: value parsed as JSON (numbers, true/false, null, lists), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _symbols(text: str) -> list[str]:
    """``O,H`` -> ``["O", "H"]``."""
    return [s.strip() for s in text.split(",") if s.strip()]


def add_data_parser(sub) -> None:
    """Add the ``data`` command to the ``workbench`` sub-parsers."""
    from workbench.data.generate import GENERATORS
    from workbench.data.loaders import FORMATS

    data = sub.add_parser("data", help="reference datasets: generate, inspect, list")
    dsub = data.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("list", help="list the generators")
    gen = dsub.add_parser("generate", help="make a reference dataset (resumable)")
    gen.add_argument("name", choices=sorted(GENERATORS))
    gen.add_argument("--frames", type=int, required=True, help="number of frames")
    gen.add_argument("--out", required=True, help="output .npz (workbench dataset format)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--chunk-frames", type=int, default=None,
                     help="frames per saved chunk (the generator's default if unset)")
    gen.add_argument("--set", dest="options", type=key_value, action="append", default=[],
                     metavar="KEY=VALUE", help="generator option, e.g. stride=20")
    gen.add_argument("--overwrite", action="store_true",
                     help="discard an existing output or chunks made with other settings")
    info = dsub.add_parser("info", help="describe a dataset file or DeePMD folder (any "
                           "loadable format)")
    info.add_argument("file", help="data file, or DeePMD system folder")
    info.add_argument("--topology", default=None, help="topology for XTC / DCD")
    info.add_argument("--format", default=None, choices=FORMATS)
    info.add_argument("--energy-unit", default=None,
                      help="unit of the file's energies (forces: per length unit), e.g. eV, "
                           "kcal/mol, Hartree; overrides what the file declares")
    info.add_argument("--length-unit", default=None,
                      help="unit of the file's positions, e.g. Å, bohr, nm")
    info.add_argument("--energy-key", default=None,
                      help="field to read energies from (e.g. REF_energy)")
    info.add_argument("--forces-key", default=None,
                      help="field to read forces from (e.g. REF_forces)")
    info.add_argument("--type-map", default=None, type=_symbols,
                      help="DeePMD folders without type_map.raw: element of each type, e.g. O,H")


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``workbench data`` command; returns the exit status."""
    if args.data_command == "list":
        from workbench.data.generate import GENERATORS

        for name, gen in sorted(GENERATORS.items()):
            print(f"{name:<18} {gen.description}")
        return 0
    if args.data_command == "info":
        return _info(args)
    return _generate(args)


def _info(args: argparse.Namespace) -> int:
    import warnings

    from workbench.data.loaders import load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = load_dataset(args.file, topology=args.topology, format=args.format,
                              energy_unit=args.energy_unit, length_unit=args.length_unit,
                              energy_key=args.energy_key, forces_key=args.forces_key,
                              type_map=args.type_map)
        except ValueError as exc:
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(ds.summary())
    for w in caught:
        print(f"warning: {w.message}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from workbench.data.generate import generation_job

    try:
        job = generation_job(args.name, args.frames, args.out, seed=args.seed,
                             chunk_frames=args.chunk_frames, overwrite=args.overwrite,
                             **dict(args.options))
        job.run(progress=True)
    except (ValueError, RuntimeError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished chunks are kept, run the same command to resume",
              file=sys.stderr)
        return 130
    print(f"wrote {args.out}")
    print(job.dataset.summary())
    return 0
