"""Backmapped samples of a set of CG frames, and their scores (``workbench.backmap.metrics``)
frame by frame and over all frames, for CGVAE beside the linear baseline: what the Backmap
dashboard shows.

    s = Samples(source="held_out", cg=X, atoms=A, linear=L, reference=R)
    frame_scores(s, frame=0, sample=2, atomic_numbers=Z, graph=R0)
    summary(s, atomic_numbers=Z, graph=R0)

Shapes (Å): ``cg [n_frames, n_beads, 3]``, ``atoms [n_frames, K, n_atoms, 3]`` (K CGVAE samples
per frame), ``linear [n_frames, n_atoms, 3]`` (the deterministic baseline),
``reference [n_frames, n_atoms, 3]`` (the all-atom frames the CG frames were mapped from; None
for CG MD frames, which have none). Validity and graph edits compare bond graphs with the
reference frame where there is one, else with ``graph [n_atoms, 3]`` (a frame of the molecule
whose bond graph is the right one, e.g. the dataset's first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.backmap import metrics as bm

__all__ = ["Samples", "frame_scores", "summary"]


@dataclass(frozen=True)
class Samples:
    """K CGVAE samples and the linear baseline for each of a set of CG frames (module
    docstring). ``source``: ``"held_out"``, ``"cg_md"`` or ``"loop"``; ``frames [n_frames]``:
    the frames' indices in their source; ``seed``: the sampling seed."""

    source: str
    cg: np.ndarray
    atoms: np.ndarray
    linear: np.ndarray
    reference: np.ndarray | None = None
    frames: np.ndarray | None = None
    seed: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.atoms.shape[1])


def _graph_ref(s: Samples, graph) -> np.ndarray:
    """``[n_frames, n_atoms, 3]`` or ``[n_atoms, 3]``: what bond graphs are compared with."""
    return s.reference if s.reference is not None else np.asarray(graph, np.float64)


def _one(x, ref, graph_ref, z, heavy) -> dict[str, Any]:
    """Scores of structures ``x [..., n_atoms, 3]`` (means over the leading axes)."""
    out: dict[str, Any] = {"rmsd": None, "rmsd_heavy": None}
    if ref is not None:
        out["rmsd"] = float(np.mean(bm.rmsd(x, ref)))
        out["rmsd_heavy"] = float(np.mean(bm.rmsd(x, ref, heavy)))
    out["valid"] = float(np.mean(bm.is_valid(x, graph_ref, z)))
    out["valid_heavy"] = float(np.mean(bm.is_valid(x, graph_ref, z, heavy)))
    out["graph_edit_ratio"] = float(np.mean(bm.graph_edit_ratio(x, graph_ref, z)))
    return out


def _spread(samples, ref) -> dict[str, Any]:
    """Pairwise RMSD (Å) among ``samples [K, n_atoms, 3]`` and, with a reference, its ratio to
    their RMSD to it (``metrics.diversity``); None for one sample."""
    if len(samples) < 2:
        return {"pairwise_rmsd": None, "diversity": None}
    d = bm.diversity(samples, samples[0] if ref is None else ref)
    return {"pairwise_rmsd": d["pairwise_rmsd"], "diversity": None if ref is None
            else d["ratio"]}


def frame_scores(s: Samples, frame: int, sample: int, atomic_numbers, graph
                 ) -> dict[str, dict[str, Any]]:
    """Scores of one CG frame: ``{"sample": ..., "samples": ..., "linear": ...}`` for CGVAE's
    sample ``sample``, all K of its samples (means, with their spread) and the linear map.
    Each: ``rmsd``, ``rmsd_heavy`` (Å, None without a reference), ``valid``, ``valid_heavy``
    (1 or 0 for one structure, the fraction for several), ``graph_edit_ratio``; ``samples``
    adds ``pairwise_rmsd`` (Å) and ``diversity`` (``metrics.diversity``'s ratio)."""
    z = np.asarray(atomic_numbers)
    heavy = bm.heavy_atom_mask(z)
    ref = None if s.reference is None else s.reference[frame]
    g = _graph_ref(s, graph)
    g = g[frame] if g.ndim == 3 else g
    return {"sample": _one(s.atoms[frame, sample], ref, g, z, heavy),
            "samples": {**_one(s.atoms[frame], ref, g, z, heavy), **_spread(s.atoms[frame], ref)},
            "linear": _one(s.linear[frame], ref, g, z, heavy)}


def summary(s: Samples, atomic_numbers, graph) -> dict[str, dict[str, Any]]:
    """Scores over all frames: ``{"cgvae": ..., "linear": ...}`` as ``frame_scores``' (means
    over frames and samples; ``pairwise_rmsd`` and ``diversity`` means over frames)."""
    z = np.asarray(atomic_numbers)
    heavy = bm.heavy_atom_mask(z)
    g = _graph_ref(s, graph)
    g = g[:, None] if g.ndim == 3 else g
    ref = None if s.reference is None else s.reference[:, None]
    spreads = [_spread(s.atoms[f], None if s.reference is None else s.reference[f])
               for f in range(s.n_frames)]
    cgvae = _one(s.atoms, ref, g, z, heavy)
    for key in ("pairwise_rmsd", "diversity"):
        values = [d[key] for d in spreads if d[key] is not None]
        cgvae[key] = float(np.mean(values)) if values else None
    linear = _one(s.linear, s.reference, _graph_ref(s, graph), z, heavy)
    return {"cgvae": cgvae, "linear": linear}
