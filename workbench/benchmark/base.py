"""One shape for every benchmark metric, after MDAnalysis's ``AnalysisBase``: construct with
the reference and the options, ``run(trajectory)`` calls ``_prepare``, ``_single_frame`` for
each frame and ``_conclude``, and the numbers land in ``.results``.

``results`` is a ``Results`` (a dict whose keys also read as attributes, like MDAnalysis's
``Results``); each metric documents its keys and units. A metric that a run's collapse left
without enough frames to measure reports ``available = False``, ``inf`` for its errors and
``nan`` for its values, as MDsim (Fu et al., TMLR 2023) reports ``np.inf`` for them, never a
number from an exploded trajectory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["Metric", "Results", "mdsim_mae"]


class Results(dict):
    """A dict whose keys are also attributes (``results.stable_time_ps``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_json(self) -> dict[str, Any]:
        """The scalar results (arrays and curves dropped) as JSON-ready Python numbers;
        ``inf`` and ``nan`` become None."""
        out = {}
        for key, value in self.items():
            if isinstance(value, (bool, np.bool_)):
                out[key] = bool(value)
            elif isinstance(value, (int, np.integer)):
                out[key] = int(value)
            elif isinstance(value, (float, np.floating)):
                out[key] = float(value) if np.isfinite(value) else None
            elif isinstance(value, str):
                out[key] = value
        return out


BLOCK_FRAMES = 256
"""Frames a metric is handed at once (``Metric._block``)."""


def mdsim_mae(x: np.ndarray, y: np.ndarray, factor: float) -> float:
    """MDsim's ``mae(x, y, factor) = mean(|x - y|) * factor`` (``observable.ipynb``); with
    ``factor`` the length of the binned range it is the integral of ``|x - y|`` over it."""
    return float(np.mean(np.abs(np.asarray(x) - np.asarray(y))) * factor)


def uniform_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``[len(edges) - 1]`` counts of ``values`` (any shape) in the evenly spaced ``edges``
    (``np.linspace``): ``np.histogram``'s equal-bin path, which places values against the same
    ``np.linspace`` edges (so the counts equal ``np.histogram(values, edges)``'s) without its
    binary search."""
    return np.histogram(values, len(edges) - 1, (edges[0], edges[-1]))[0]


class Metric:
    """Base of the benchmark metrics (module docstring).

    Subclasses set ``self.results`` keys in ``_prepare`` / ``_single_frame`` / ``_conclude``.
    ``run`` accepts anything ``load_trajectory`` reads and frame slicing as MDAnalysis
    (``start``, ``stop``, ``step``); ``self.trajectory`` is the loaded trajectory and
    ``self.frames`` the indices visited. With ``stability`` (the ``results`` of a stability
    metric on the same trajectory) only the frames before ``n_stable_frames`` are visited, and
    ``self.collapsed_at_start`` says the run collapsed at its first frame (stable time 0).
    """

    def __init__(self) -> None:
        self.results = Results()

    def run(self, trajectory: Any, start: int | None = None, stop: int | None = None,
            step: int | None = None, frame_interval_ps: float | None = None,
            stability: dict | None = None) -> Metric:
        """Score ``trajectory`` (see ``load_trajectory``); returns ``self``.

        Raises:
            ValueError: unreadable trajectory, or atoms that do not match the reference.
        """
        self.trajectory = load_trajectory(trajectory, frame_interval_ps)
        self.collapsed_at_start = False
        if stability is not None:
            n_stable = int(stability["n_stable_frames"])
            stop = n_stable if stop is None else min(stop, n_stable)
            self.collapsed_at_start = bool(stability["collapsed"]) and (
                stability["stable_time_ps"] == 0)
        self.frames = np.arange(self.trajectory.n_frames)[start:stop:step]
        self.results = Results()
        self._prepare()
        for k in range(0, len(self.frames), BLOCK_FRAMES):
            self._block(k, self.trajectory.positions[self.frames[k:k + BLOCK_FRAMES]])
        self._conclude()
        return self

    def _prepare(self) -> None:
        pass

    def _block(self, k: int, positions: np.ndarray) -> None:
        """Frames ``k, k + 1, ...`` of ``self.frames`` at once (``positions [n, n_atoms, 3]``);
        by default one ``_single_frame`` each. Metrics whose per-frame work is small override
        this with one vectorised step."""
        for j, p in enumerate(positions):
            self._single_frame(k + j, p)

    def _single_frame(self, k: int, positions: np.ndarray) -> None:
        pass

    def _conclude(self) -> None:
        pass


def check_same_atoms(trajectory: Trajectory, reference: Trajectory) -> None:
    """``ValueError`` unless both hold the same atoms in the same order."""
    if trajectory.n_atoms != reference.n_atoms or np.any(
            trajectory.numbers != reference.numbers):
        raise ValueError(f"the trajectory's atoms ({trajectory.n_atoms}: "
                         f"{_formula(trajectory.numbers)}) do not match the reference's "
                         f"({reference.n_atoms}: {_formula(reference.numbers)}) in number, "
                         "element or order")


def _formula(numbers: np.ndarray) -> str:
    from ase.data import chemical_symbols
    from ase.formula import Formula

    return str(Formula("".join(chemical_symbols[z] for z in numbers)))
