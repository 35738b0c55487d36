"""Conformers from a molecular graph (issue 16, item 4): ConfVAE against RDKit's ETKDG, with and
without MMFF relaxation, scored by the same code (``workbench.backmap.conformer_metrics``:
heavy-atom RMSD after alignment over symmetry-equivalent orders, COV and MAT at 0.5 Å, twice as
many generated conformers as references) on the held-out molecules of a conformer set made with
GFN2-xTB (``workbench.backmap.conformer_data``; the shipped ``notebooks/conformers-30.npz``
unless ``--set`` names another), all in one run:

- ConfVAE training (``ConformerJob``, default architecture, float32): seconds per epoch after
  the first (compiling) one;
- COV-R, MAT-R, COV-P, MAT-P (mean and median over the test molecules) of ConfVAE, ConfVAE +
  MMFF, ETKDG and ETKDG + MMFF;
- generation throughput, conformers per second (after a warm-up per molecule), ConfVAE against
  ETKDG in the same run;
- the process's peak resident memory.

The ConfVAE authors' PyTorch code, the natural peer, is not on PyPI (it needs torch_scatter and
torchdiffeq of 2020), so the in-run peer is ETKDG, the method the paper compares against.

    python benchmarks/conformers.py              # ~3 minutes on 2 cores
    python benchmarks/conformers.py --epochs 100 --set my_set.npz
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.checks import checked, machine, seconds_per_chunk  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "notebooks" / "conformers-30.npz"


def _timed_generation(generate, molecules, ratio: int) -> tuple[dict, float]:
    """``({smiles: conformers}, conformers per second)``; each molecule generated once to warm
    up (compilation for its shape and number, RDKit's first call), then timed."""
    out, seconds, count = {}, 0.0, 0
    for m in molecules:
        n = ratio * len(m.conformers)
        generate(m.smiles, n)
        t = time.perf_counter()
        out[m.smiles] = generate(m.smiles, n)
        seconds += time.perf_counter() - t
        count += n
    return out, count / seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=SHIPPED, help="conformer set file (.npz)")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from workbench.backmap.conformer_data import ConformerSet, etkdg_conformers
    from workbench.backmap.conformer_metrics import GENERATED_PER_REFERENCE, cov_mat, summarize
    from workbench.backmap.conformers import ConformerJob, mmff_relax
    from workbench.registry import RunRegistry

    print(machine())
    cs = ConformerSet.load(args.set)
    train, test = cs.train(), cs.test()
    with tempfile.TemporaryDirectory() as tmp:
        job = ConformerJob(train, registry=RunRegistry(Path(tmp) / "runs"), epochs=args.epochs,
                           seed=args.seed)
        epoch_s = seconds_per_chunk(job)
        gen = job.generator
    seed = args.seed
    methods = {
        "ConfVAE": lambda s, n: gen.generate(s, n, seed=seed)[1],
        "ConfVAE + MMFF": lambda s, n: mmff_relax(s, gen.generate(s, n, seed=seed)[1]),
        "ETKDG": lambda s, n: etkdg_conformers(s, n, seed=seed),
        "ETKDG + MMFF": lambda s, n: etkdg_conformers(s, n, seed=seed, mmff=True),
    }
    rows, rates = {}, {}
    for name, fn in methods.items():
        made, rates[name] = _timed_generation(fn, test, GENERATED_PER_REFERENCE)
        rows[name] = summarize(cov_mat(made[m.smiles], m.conformers, m.smiles) for m in test)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n_conf = sum(len(m.conformers) for m in train)
    print(f"set {args.set.name}: {len(train)} training molecules ({n_conf} conformers), "
          f"{len(test)} test molecules ({sum(len(m.conformers) for m in test)} conformers)")
    print(f"ConfVAE training: {epoch_s:.2f} s per epoch after the first, {args.epochs} epochs")
    keys = ("cov_r_mean", "cov_r_median", "mat_r_mean", "mat_r_median", "cov_p_mean",
            "mat_p_mean")
    print(f"{'method':16s}" + "".join(f"{k:>14s}" for k in keys) + f"{'conformers/s':>14s}")
    for name, row in rows.items():
        print(f"{name:16s}" + "".join(f"{row[k]:14.3f}" for k in keys)
              + f"{checked(name, rates[name]):14.1f}")
    print(f"ConfVAE / ETKDG generation throughput: {rates['ConfVAE'] / rates['ETKDG']:.3g}x")
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")
    print(machine())


if __name__ == "__main__":
    main()
