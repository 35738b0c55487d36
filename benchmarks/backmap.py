"""What backmapping costs (issue 16, item 9), on alanine dipeptide in vacuum (AMBER ff14SB,
300 K, OpenMM frames made here), Girvan-Newman mapping of ``--beads`` beads, all in one run:

- CGVAE training (``workbench.backmap.BackmapJob``, default architecture, float32): seconds per
  epoch after the first (compiling) one, and training frames per second;
- backmapping throughput, frames per second: CGVAE reconstruction (encoder and decoder) and
  sampling (prior and decoder, one sample per frame), against the linear baseline
  (``LinearBackmapper``) in the same run;
- the process's peak resident memory.

The CGVAE authors' PyTorch code, the natural peer, is not on PyPI (it needs torch_scatter
built against a matching PyTorch), so the in-run comparison is the linear map.

    python benchmarks/backmap.py                 # ~2 minutes on 2 cores
    python benchmarks/backmap.py --frames 3000 --epochs 4 --beads 3
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.checks import checked, machine, seconds_per_chunk  # noqa: E402


def _rate(fn, n_frames: int, repeats: int = 3) -> float:
    """Frames per second of ``fn()`` (best of ``repeats``, after one warm-up call)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n_frames / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000, help="frames made (0.1 ps apart)")
    ap.add_argument("--beads", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed (the first compiles)")
    args = ap.parse_args(argv)

    from workbench.backmap import BackmapJob, LinearBackmapper
    from workbench.data import generate
    from workbench.mapping import girvan_newman_mapping
    from workbench.molecules import alanine_dipeptide
    from workbench.registry import RunRegistry

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        ds = generate("alanine_dipeptide", args.frames, Path(tmp) / "ala.npz", seed=0)
        R, Z = np.asarray(ds.positions), np.asarray(ds.species)
        mapping = girvan_newman_mapping(ds.n_atoms, alanine_dipeptide().bonds, args.beads,
                                        ds.masses)
        job = BackmapJob(R, Z, mapping, registry=RunRegistry(Path(tmp) / "runs"),
                         epochs=args.epochs)
        epoch_s = seconds_per_chunk(job)
        n_train = job.n_train
        model = job.backmapper
        linear = LinearBackmapper.fit(R[:n_train], mapping)
        X = model.map(R)
        rates = {
            "CGVAE reconstruct": _rate(lambda: model.reconstruct(R), len(R)),
            "CGVAE sample (1 per frame)": _rate(lambda: model.sample(X, 1, seed=0), len(R)),
            "linear backmap": _rate(lambda: linear.backmap(X), len(R)),
        }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"alanine dipeptide, {ds.n_atoms} atoms, {args.beads} beads, {len(R)} frames "
          f"({n_train} for training)")
    print(f"CGVAE training: {epoch_s:.2f} s per epoch after the first, "
          f"{checked('training frames/s', n_train / epoch_s):.0f} training frames/s")
    for name, rate in rates.items():
        print(f"{name:28s} {checked(name, rate):12.0f} frames/s")
    ratio = rates["CGVAE reconstruct"] / rates["linear backmap"]
    print(f"CGVAE reconstruction / linear backmap throughput: {ratio:.3g}x")
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")
    print(machine())


if __name__ == "__main__":
    main()
