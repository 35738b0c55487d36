"""``LiquidWatch``: MDsim's liquid stability criterion checked while a simulation runs (Fu et
al., TMLR 2023): after every chunk, each complete window of ``window_ps`` (1 ps) whose O-O,
H-H or H-O g(r) has MDsim's MAE above ``threshold`` (3.0) against the reference's is a
collapse. The same windows, normalisation and threshold as ``RDFStability`` (both use
``stability.scan_windows``), so scoring the saved run afterwards finds the same collapse frame.

    sim = Simulation(system, watch=LiquidWatch("water_reference.npz"), ...)

The run stops after the chunk in which the bad window is complete; every frame up to there is
kept (the window needs them), and the collapse is recorded at the window's first frame, as
MDsim's ``collapse_pt``. With ``on_failure="smaller_timestep"`` the run goes back to the chunk
boundary before that frame instead and goes on with half the time step (``Simulation``). The
window is counted in frames at the starting time step and stride.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.benchmark.rdf import N_BINS, R_MAX, RDFCounter, reference_rdfs
from workbench.benchmark.stability import scan_windows
from workbench.benchmark.systems import BenchmarkSystem
from workbench.benchmark.trajectory import load_trajectory

__all__ = ["LiquidWatch"]


class LiquidWatch:
    """A ``Simulation.watch`` for liquids (module docstring).

    Args:
        reference: a trajectory or dataset with a box (``load_trajectory``), the same atoms in
            the same order as the simulated system; or a ``BenchmarkSystem``, whose reference
            is loaded (made, the first time) when the simulation starts, in its thread.
        threshold, window_ps, pairs, r_max, n_bins: as ``RDFStability`` (MDsim: 3.0, 1 ps,
            every species pair, 6 Å, 500 bins).

    ``window_mae``: the largest pair MAE of every window checked so far (Å).

    Raises (from ``Simulation.start``/``prepare``): ValueError for a system that is not
    periodic in ASE units, or whose atoms or box differ from the reference's.
    """

    def __init__(self, reference: Any, threshold: float = 3.0, window_ps: float = 1.0,
                 pairs: list[tuple[int, int]] | None = None, r_max: float = R_MAX,
                 n_bins: int = N_BINS) -> None:
        self._source, self._pairs, self._n_bins = reference, pairs, n_bins
        self.threshold, self.window_ps, self.r_max = float(threshold), window_ps, float(r_max)
        self.reference = None
        if not isinstance(reference, BenchmarkSystem):
            self._load(reference)
        self.window_frames = 1
        self.window_mae: list[float] = []
        self._counts: list[np.ndarray] = []
        self._next = 1

    def _load(self, reference: Any) -> None:
        self.reference = load_trajectory(reference)
        self.counter = RDFCounter(self.reference.numbers, self.reference.box, self._pairs,
                                  self.r_max, self._n_bins)
        self.g_reference = reference_rdfs(self.counter, self.reference)

    def start(self, simulation: Any) -> None:
        if self.reference is None:
            self._load(self._source.reference_path())
        s = simulation.system
        if s.units != "ase" or not s.periodic:
            raise ValueError("the liquid watch needs a periodic system in ASE units (Å, fs)")
        if not np.array_equal(s.atomic_numbers(), self.reference.numbers):
            raise ValueError("the liquid watch's reference has other atoms than the system "
                             f"({len(self.reference.numbers)} against {s.n_atoms}, or another "
                             "order)")
        if not np.allclose(np.asarray(s.box, float), self.reference.box, rtol=1e-3):
            raise ValueError(f"the system's box {np.round(np.asarray(s.box, float), 3)} Å "
                             f"differs from the reference's {np.round(self.reference.box, 3)}")
        frame_ps = simulation.timestep * simulation.stride / 1000.0
        self.window_frames = max(1, round(self.window_ps / frame_ps))
        self.truncate(0)

    def check(self, simulation: Any, chunk: Any, n_before: int
              ) -> tuple[int, int, str] | None:
        del self._counts[n_before:]
        self._counts.extend(self.counter.counts(p.astype(float)) for p in chunk.positions)
        w, first = self.window_frames, self._next
        n = len(self._counts)
        if n - w <= first:
            return None
        bad, worst = scan_windows(self.counter, self.g_reference,
                                  np.asarray(self._counts[first:]), w, 0, self.threshold,
                                  self.r_max)
        self.window_mae.extend(worst)
        if bad is None:
            self._next = n - w
            return None
        frame = first + bad
        self._next = frame + 1
        pair = self.counter.names[int(np.argmax([
            np.mean(np.abs(g - gr)) for g, gr in zip(
                self.counter.rdfs(np.sum(self._counts[frame:frame + w], axis=0), w),
                self.g_reference, strict=True)]))]
        return len(chunk), frame, (
            f"liquid collapsed: the {pair} g(r) of the {w}-frame window from frame {frame} is "
            f"off the reference by {worst[-1]:.2f} Å (MDsim's MAE; threshold "
            f"{self.threshold:g}). Every frame up to the end of the window was kept.")

    def truncate(self, n_frames: int) -> None:
        del self._counts[n_frames:]
        self._next = max(1, min(self._next, n_frames - self.window_frames))
        del self.window_mae[max(0, self._next - 1):]
