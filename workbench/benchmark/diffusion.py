"""Self-diffusivity of one species from its MSD with the centre-of-mass motion removed, and its
error against the reference: MDsim's water (oxygen) and LiPS (lithium) metric (Fu et al., TMLR
2023; ``get_diffusivity_traj``, ``get_smoothed_diff`` and ``load_run`` in ``observable.ipynb``).

MDsim takes the positions of the species' atoms every 1 ps (the run's frames ``[:collapse_pt:10]``
at 0.1 ps, the reference's ``[::100]`` at 0.01 ps), subtracts their mean position in each frame
(the centre of mass of one species), and computes D(t) = MSD(t) / (6 t) averaged over every time
origin, in Å^2/ps; it reads D at t = 100 ps (the last of ``[:100]``) and scores
``|D - D_ref|`` (Å^2/ps; times 10 gives MDsim's printed 10^-9 m^2/s). Runs whose stable part is
shorter than that (MDsim: ``collapse_pt < 1000``) are not available (``inf``).

Here the multiple-origin MSD is the kernel's ``kernels.observables.dynamics.msd`` (FFT, every
origin, averaged over their number), after ``analysis.unwrap`` when there is a box. One
difference from MDsim's code: ``get_smoothed_diff`` divides the sum over the ``n - k`` origins of
lag ``k`` by ``n - k - 1`` (``torch.flip(torch.arange(seq_len))``), which biases D up by
``(n - k) / (n - k - 1)`` (0.25% for lag 100 ps of a 500 ps run; infinite at the longest lag);
we average over the true number of origins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.analysis import unwrap
from workbench.benchmark.base import Metric, check_same_atoms
from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["Diffusivity", "diffusivity_curve"]


def diffusivity_curve(traj: Trajectory, species: int, sample_interval_ps: float,
                      n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """D(t) = MSD(t) / (6 t) of the atoms with atomic number ``species``.

    Args:
        traj: positions Å (unwrapped, or wrapped with a box: unwrapped here), interval ps.
        species: atomic number. sample_interval_ps: spacing of the frames used (ps), a whole
            number of frame intervals. n_frames: use only the first ``n_frames`` frames.

    Returns:
        ``(t [n_lags] ps, D [n_lags] Å^2/ps)`` for lags 1 .. n_samples - 1.

    Raises:
        ValueError: no atom of ``species``, unknown frame interval.
    """
    import jax.numpy as jnp

    from kernels.observables.dynamics import msd

    dt = traj.interval_ps()
    stride = max(1, round(sample_interval_ps / dt))
    atoms = np.flatnonzero(traj.numbers == species)
    if not atoms.size:
        raise ValueError(f"no atom with atomic number {species}")
    x = traj.positions[:n_frames, atoms]
    if traj.box is not None:
        x = unwrap(np.asarray(x, dtype=np.float64), traj.box)
    x = x[::stride]
    x = x - x.mean(axis=1, keepdims=True)  # MDsim: subtract the species' centre of mass
    m = np.asarray(msd(jnp.asarray(x)), dtype=np.float64)[1:]
    t = np.arange(1, len(x)) * stride * dt
    return t, m / (6.0 * t)


class Diffusivity(Metric):
    """Self-diffusivity of one species at lag ``lag_ps`` and its error against the reference
    (module docstring).

    Args:
        reference: reference trajectory with a known frame interval (unwrapped positions, or
            a box to unwrap them).
        species: atomic number (default 8, oxygen).
        lag_ps: t at which D(t) is read (MDsim: 100 ps).
        sample_interval_ps: spacing of the frames the MSD uses (MDsim: 1 ps).

    ``run(trajectory, stability=...)`` uses only the frames before the collapse.

    Results:
        ``D`` and ``D_reference`` (Å^2/ps), ``error`` ``|D - D_reference|`` (Å^2/ps),
        ``t_ps`` and ``D_t`` (the curve up to the lag), ``lag_ps``, ``available``; not
        available (stable part shorter than ``lag_ps``): ``D`` nan, ``error`` inf.

    Raises:
        ValueError: reference too short for ``lag_ps``, no atom of ``species``, unknown frame
            interval, atoms unlike the reference's.
    """

    def __init__(self, reference: Any, species: int = 8, lag_ps: float = 100.0,
                 sample_interval_ps: float = 1.0) -> None:
        super().__init__()
        self.reference = load_trajectory(reference)
        self.species, self.lag_ps = int(species), float(lag_ps)
        self.sample_interval_ps = float(sample_interval_ps)
        t, d = diffusivity_curve(self.reference, self.species, self.sample_interval_ps)
        k = self._lag_index(t)
        if k is None:
            raise ValueError(f"the reference spans {t[-1] if len(t) else 0:.4g} ps, shorter "
                             f"than the lag {self.lag_ps:.4g} ps")
        self.D_reference = float(d[k])

    def _lag_index(self, t: np.ndarray) -> int | None:
        k = int(np.searchsorted(t, self.lag_ps * (1 - 1e-9)))
        return k if k < len(t) else None

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)

    def _conclude(self) -> None:
        n = len(self.frames)
        step = int(self.frames[1] - self.frames[0]) if n > 1 else 1
        sub = Trajectory(self.trajectory.positions[self.frames], self.trajectory.numbers,
                         self.trajectory.box, self.trajectory.interval_ps() * step)
        t, d = diffusivity_curve(sub, self.species, self.sample_interval_ps) if n > 1 else (
            np.zeros(0), np.zeros(0))
        k = None if self.collapsed_at_start else self._lag_index(t)
        self.results.update(D_reference=self.D_reference, lag_ps=self.lag_ps,
                            species=self.species, available=k is not None,
                            t_ps=t[: (k or 0) + 1], D_t=d[: (k or 0) + 1])
        if k is None:
            self.results.update(D=np.nan, error=np.inf)
        else:
            self.results.update(D=float(d[k]), error=abs(float(d[k]) - self.D_reference))
