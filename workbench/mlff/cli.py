"""``workbench mlff ...``: train and test learned force fields from the shell.

    workbench mlff train --data water.npz --arch pair_mlp --max-epochs 50 --seed 0
    workbench mlff train --data aspirin/ --arch pair_mlp --batch-size 8 --cutoff 5 \
        --arch-set hidden=[32,32] --set learning_rate=3e-3
    workbench mlff train --resume RUN [--max-epochs 100]
    workbench mlff test RUN --data test.xyz --json
    workbench mlff test RUN --data water.npz --split test     # the run's own test frames

``train`` shows a tqdm bar (epochs), registers a run of kind ``mlff`` and prints its id (also
when interrupted: the best weights so far are kept, and ``--resume RUN`` continues from the
checkpoint). ``test`` prints the energy and force MAE and RMSE (eV, eV/Å) of a trained model on
a dataset, as JSON with ``--json``. ``--data`` is anything ``load_dataset`` reads (DeePMD
folders included). Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.data.cli import key_value


def add_mlff_parser(sub) -> None:
    """Add the ``mlff`` command to the ``workbench`` sub-parsers."""
    from workbench.architectures import ARCHITECTURES

    mlff = sub.add_parser("mlff", help="learned force fields: train, test")
    msub = mlff.add_subparsers(dest="mlff_command", required=True)
    train = msub.add_parser("train", help="train a model and register the run")
    train.add_argument("--data", help="dataset file or DeePMD folder (energies and forces)")
    train.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture")
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--seed", type=int, default=None, help="split, weights, batch order")
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--cutoff", type=float, default=None, help="Å (architecture's default "
                       "if unset)")
    train.add_argument("--arch-set", dest="arch_options", type=key_value, action="append",
                       default=[], metavar="KEY=VALUE",
                       help="architecture hyperparameter, e.g. hidden=[32,32]")
    train.add_argument("--set", dest="options", type=key_value, action="append", default=[],
                       metavar="KEY=VALUE", help="training setting, e.g. learning_rate=3e-3")
    train.add_argument("--name", default="", help="run name")
    train.add_argument("--resume", default=None, metavar="RUN",
                       help="continue this run from its checkpoint")
    test = msub.add_parser("test", help="errors of a trained model on a dataset")
    test.add_argument("run", help="run id of a training")
    test.add_argument("--data", required=True, help="dataset file or DeePMD folder")
    test.add_argument("--split", default="all", choices=["all", "train", "validation", "test"],
                      help="frames of the run's split (the data must be the training data)")
    test.add_argument("--batch-size", type=int, default=8)
    test.add_argument("--json", action="store_true", help="print the metrics as JSON")


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``workbench mlff`` command; returns the exit status."""
    return _train(args) if args.mlff_command == "train" else _test(args)


def _settings(args: argparse.Namespace) -> dict:
    given = {"max_epochs": args.max_epochs, "seed": args.seed, "batch_size": args.batch_size}
    settings = {k: v for k, v in given.items() if v is not None}
    settings.update(dict(args.options))
    if args.name:
        settings["run_name"] = args.name
    return settings


def _train(args: argparse.Namespace) -> int:
    from workbench.architectures import architecture
    from workbench.data.loaders import load_dataset
    from workbench.mlff.training import Training

    try:
        if args.resume:
            data = load_dataset(args.data) if args.data else None
            job = Training.from_run(args.resume, dataset=data, **_settings(args))
        else:
            if not args.data or not args.arch:
                raise ValueError("--data and --arch are needed (or --resume RUN)")
            hyper = dict(args.arch_options)
            if args.cutoff is not None:
                hyper["cutoff"] = args.cutoff
            job = Training(architecture=architecture(args.arch, **hyper),
                           dataset=load_dataset(args.data), **_settings(args))
            job.prepare()
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        job.run(progress=True)
    except KeyboardInterrupt:
        print("interrupted; the best weights so far are kept", file=sys.stderr)
    run = job.run_record
    print(f"{job.status}: {job.message}")
    if job.test_metrics:
        m = job.test_metrics
        print(f"  test: energy MAE {m['energy_mae']:.4g} eV, force MAE {m['force_mae']:.4g} "
              f"eV/Å ({m['n_frames']} frames)")
    if run is not None:
        print(f"  saved run {run.id} in {run.path}")
    return 0 if job.status in ("completed", "stopped") else 1


def _test(args: argparse.Namespace) -> int:
    from workbench.data.loaders import load_dataset
    from workbench.learned import LearnedForceField
    from workbench.mlff.checkpoint import SPLIT_FILE
    from workbench.mlff.evaluate import evaluate
    from workbench.mlff.training import dataset_digest
    from workbench.registry import RunRegistry

    try:
        run = RunRegistry().get(args.run)
        model = LearnedForceField.load(run.path, run_id=run.id)
        data = load_dataset(args.data)
        if args.split != "all":
            if dataset_digest(data) != run.config.get("data", {}).get("sha256"):
                raise ValueError(f"--split {args.split} needs the data run {run.id} was "
                                 f"trained on; {args.data} is another dataset")
            data = data[run.load_arrays(SPLIT_FILE)[args.split]]
        result = evaluate(model, data, batch_size=args.batch_size)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = {"run": run.id, "split": args.split, "units": {"energy": "eV", "force": "eV/Å"},
         **result.metrics}
    if args.json:
        print(json.dumps(m, ensure_ascii=False))
        return 0
    print(f"{model.describe()} on {m['n_frames']} frames of {args.data}")
    print(f"  energy MAE {m['energy_mae']:.4g} eV, RMSE {m['energy_rmse']:.4g} eV")
    print(f"  force  MAE {m['force_mae']:.4g} eV/Å, RMSE {m['force_rmse']:.4g} eV/Å")
    for s, v in m["force_mae_per_species"].items():
        print(f"    {s:<3} force MAE {v:.4g} eV/Å")
    return 0
