"""The ``workbench`` command line.

    workbench run --system lj_fluid --n-atoms 500 --temperature 0.72 --steps 10000
    workbench simulate --model RUN_ID_OR_FOLDER --structure aspirin.xyz --temperature 300
    workbench simulate --model RUN_ID_OR_FOLDER --system water --n-molecules 64 --dt 0.5
    workbench runs [--kind simulation]
    workbench serve [panel serve options]
    workbench data generate ethanol --frames 1000 --out ethanol.npz --seed 0
    workbench data info ethanol.npz
    workbench mlff train --data water.npz --arch pair_mlp --max-epochs 50
    workbench mlff test RUN --data test.npz --json
    workbench benchmark score run.traj --reference ref.npz --kind molecule --json

``simulate`` is another name for ``run``. With ``--model`` (a trained model: a folder holding
``model.json`` and ``params.msgpack``, or the id of its registered run) the atoms of
``--structure FILE`` (anything ``ase.io.read`` reads; its last frame; orthorhombic periodic cell
or none: free space; ``--box`` imposes a cubic box in Å) or of ``--system NAME`` (a registered
system's starting structure) move under the learned force field, in ASE units: temperature K,
time step fs (default 0.5), friction 1/fs (default 0.01).

Exit status of ``workbench run``: 0 when the run completed (or was interrupted and kept), 1
when the simulation became unstable (the frames before it are kept and the run is registered
as failed), 2 for bad input (nothing is run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

APPS = Path(__file__).resolve().parent.parent / "apps"


def _param_value(text: str):
    """``name=value``: value as a number, or a JSON list (species matrix)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not a number or list") from None


def _parser() -> argparse.ArgumentParser:
    from kernels.integrators import INTEGRATORS
    from kernels.potentials import FAMILIES
    from workbench.builders import SYSTEMS

    p = argparse.ArgumentParser(prog="workbench", description="MD Workbench")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", aliases=["simulate"],
                         help="run a simulation headless and register it")
    run.add_argument("--system", default=None, choices=sorted(SYSTEMS),
                     help="registered system (default lj_fluid, or the structure's atoms for "
                     "--model with --structure)")
    run.add_argument("--model", default=None, metavar="RUN_ID_OR_FOLDER",
                     help="trained force field (model.json + params.msgpack) to move the atoms")
    run.add_argument("--structure", default=None, metavar="FILE",
                     help="starting structure for --model (any ase.io.read format)")
    run.add_argument("--box", type=float, default=None, help="cubic box (Å) for --structure")
    run.add_argument("--n-atoms", type=int, default=500)
    run.add_argument("--n-molecules", type=int, default=64, help="water molecules (water)")
    run.add_argument("--density", type=float, default=None,
                     help="number density (atoms per length^3); the system's default if unset")
    run.add_argument("--potential", default=None, choices=sorted(FAMILIES),
                     help="pair potential family (the system's default if unset)")
    run.add_argument("--param", type=_param_value, action="append", default=[],
                     metavar="NAME=VALUE", help="potential parameter, e.g. sigma=1.0")
    run.add_argument("--cutoff", type=float, default=2.5, help="cutoff (length units)")
    run.add_argument("--cutoff-mode", default="truncated",
                     choices=["truncated", "shifted", "smoothed"])
    run.add_argument("--integrator", default="langevin", choices=sorted(INTEGRATORS))
    run.add_argument("--temperature", type=float, default=None,
                     help="in the system's unit (default 1.0; 300 K with --model)")
    run.add_argument("--dt", type=float, default=None,
                     help="time step (tau or fs; default 0.005; 0.5 fs with --model)")
    run.add_argument("--friction", type=float, default=None,
                     help="Langevin friction (default 1.0; 0.01 / fs with --model)")
    run.add_argument("--steps", type=int, default=10_000)
    run.add_argument("--stride", type=int, default=100, help="steps between frames")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--precision", default="float32", choices=["float32", "float64"])
    run.add_argument("--name", default="")
    run.add_argument("--no-register", action="store_true", help="do not save the run")

    runs = sub.add_parser("runs", help="list registered runs")
    runs.add_argument("--kind", default=None)

    sub.add_parser("serve", help="serve the dashboards (panel serve apps)",
                   add_help=False)

    from workbench.data.cli import add_data_parser

    add_data_parser(sub)
    from workbench.mlff.cli import add_mlff_parser

    add_mlff_parser(sub)
    from workbench.benchmark.cli import add_benchmark_parser

    add_benchmark_parser(sub)
    from workbench.backmap.cli import add_backmap_parser

    add_backmap_parser(sub)
    return p


def _learned_system(args: argparse.Namespace):
    """The ``System`` of ``--model`` with ``--structure`` or ``--system`` (``ValueError`` for
    bad input)."""
    from workbench.builders import SYSTEMS
    from workbench.learned_system import learned_system

    if args.structure and args.system:
        raise ValueError("give --structure or --system, not both")
    if args.structure:
        import ase.io

        try:
            atoms = ase.io.read(args.structure, index=-1)
        except Exception as exc:  # ASE raises many types for an unreadable file
            raise ValueError(f"cannot read {args.structure}: {exc}") from None
        return learned_system(args.model, atoms, box=args.box, name=Path(args.structure).stem)
    name = args.system or "water"
    options = {"n_molecules": args.n_molecules, "seed": args.seed, "n_atoms": args.n_atoms,
               "density": args.density}
    kwargs = {k: v for k, v in options.items() if k in SYSTEMS[name].options and v is not None}
    return learned_system(args.model, name, box=args.box, **kwargs)


def _run(args: argparse.Namespace) -> int:
    from workbench.builders import MOLECULAR_DEFAULTS, PAIR_DEFAULTS, SYSTEMS, build_system
    from workbench.potential import PairPotential

    defaults = MOLECULAR_DEFAULTS if args.model else {**PAIR_DEFAULTS, "temperature": 1.0}
    for key, arg in (("temperature", "temperature"), ("timestep", "dt"),
                     ("friction", "friction")):
        if getattr(args, arg) is None:
            setattr(args, arg, defaults[key])
    if args.model:
        try:
            system = _learned_system(args)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return _simulate(args, system)
    if args.structure or args.box is not None:
        print("error: --structure and --box need --model", file=sys.stderr)
        return 2
    args.system = args.system or "lj_fluid"
    entry = SYSTEMS[args.system]
    if entry.molecular:  # force field: only the builder's own options apply
        given = {"n_molecules": args.n_molecules, "seed": args.seed}
        kwargs = {k: v for k, v in given.items() if k in entry.options}
    else:
        kwargs = {"n_atoms": args.n_atoms, "r_cutoff": args.cutoff, "seed": args.seed}
    if args.density is not None and not entry.molecular:
        kwargs["density"] = args.density
    system = build_system(args.system, **kwargs)
    pot = system.potential
    if not entry.molecular and (args.potential or args.param
                                or args.cutoff_mode != "truncated"):
        family = args.potential or pot.family
        params = dict(pot.params) if family == pot.family else {}
        params.update(dict(args.param))
        system.potential = PairPotential(family=family, params=params, r_cutoff=args.cutoff,
                                         mode=args.cutoff_mode)
    return _simulate(args, system)


def _simulate(args: argparse.Namespace, system) -> int:
    """Run ``system`` as the arguments say, print the summary, register the run."""
    from workbench.simulation import Simulation

    sim = Simulation(system, integrator=args.integrator, temperature=args.temperature,
                     timestep=args.dt, friction=args.friction, n_steps=args.steps,
                     stride=args.stride, seed=args.seed, precision=args.precision,
                     frames_per_chunk=10)
    try:
        sim.run(progress=True)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; keeping what was recorded", file=sys.stderr)
    m = sim.metrics()
    units = system.unit_system
    print(f"{sim.status}: {sim.message}")
    print(f"  <T> = {_value(m['mean_temperature'], '.4g', units.temperature)}, "
          f"<U>/N = {_value(m['potential_per_atom'], '.5g', units.energy)}, "
          f"<P> = {_value(m['mean_pressure'], '.4g')}, "
          f"{_value(m['atom_steps_per_s'] / 1e6 if m['atom_steps_per_s'] else None, '.3f')}"
          " M atom-steps/s")
    if not args.no_register:
        run = sim.save(name=args.name)
        print(f"  saved run {run.id} in {run.path}")
    return 0 if sim.status in ("completed", "stopped") else 1


def _value(x: float | None, fmt: str, unit: str = "") -> str:
    """``x`` formatted with its unit, or "n/a" where the quantity does not exist (a run that
    failed before its first frame)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:{fmt}} {unit}".rstrip()


def _runs(args: argparse.Namespace) -> int:
    from workbench.registry import RunRegistry

    for run in RunRegistry().list(kind=args.kind):
        print(f"{run.id}  {run.kind:<12} {run.status:<10} {run.name}")
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _option(args: list[str], name: str) -> str | None:
    """The value of ``name`` in ``args`` (``--name value`` or ``--name=value``), else None."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def serve_command(extra: list[str]) -> list[str]:
    """The ``panel serve`` command line of ``workbench serve``: every app in ``apps/``, the
    index page, the server setup of ``apps/_setup.py``, and ``--address 127.0.0.1`` unless
    ``extra`` names an address (``extra`` is passed on as given)."""
    apps = sorted(str(p) for p in APPS.glob("*.py") if not p.name.startswith("_"))
    address = [] if _option(extra, "--address") else ["--address", "127.0.0.1"]
    return [sys.executable, "-m", "panel", "serve", *apps, "--index", str(APPS / "_index.html"),
            "--disable-index-redirect", "--setup", str(APPS / "_setup.py"), *address, *extra]


def exposure_warning(extra: list[str]) -> str | None:
    """What serving on a non-loopback ``--address`` exposes, or None for loopback."""
    address = _option(extra, "--address")
    if address is None or address in LOOPBACK:
        return None
    port = _option(extra, "--port") or "5006"
    auth = "" if _option(extra, "--basic-auth") else (
        " Nothing asks for a password: add --basic-auth PASSWORD --cookie-secret SECRET.")
    return (f"warning: serving on {address}:{port}. Anyone who can reach this machine there can "
            "open the dashboards, run simulations on its CPUs/GPU and save runs into its run "
            "registry. Browsers are refused unless their page came from an origin given with "
            f"--allow-websocket-origin HOST:{port}.{auth}")


def serve(extra: list[str]) -> int:
    """Replace this process with ``panel serve apps/*.py`` (signals reach the server itself);
    loopback only unless ``--address`` is given (README, "Serving a class")."""
    warning = exposure_warning(extra)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    cmd = serve_command(extra)
    os.execv(sys.executable, cmd)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "data":
        from workbench.data.cli import main as data_main

        return data_main(args)
    if args.command == "mlff":
        from workbench.mlff.cli import main as mlff_main

        return mlff_main(args)
    if args.command == "benchmark":
        from workbench.benchmark.cli import main as benchmark_main

        return benchmark_main(args)
    if args.command == "backmap":
        from workbench.backmap.cli import main as backmap_main

        return backmap_main(args)
    return {"run": _run, "simulate": _run, "runs": _runs}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
