"""Free-energy surface F(phi, psi) of alanine dipeptide, its 1-D profiles F(phi) and F(psi),
and their MAE against the reference: MDsim's alanine-dipeptide metric (Fu et al., TMLR 2023;
``get_pmf`` and the metric cell in ``observable.ipynb``).

MDsim's F comes from PLUMED metadynamics (``plumed sum_hills --mintozero --bin 60,60``, kJ/mol);
the 1-D profiles are ``-kT ln`` of the marginals of ``exp(-F/kT)``, shifted to a minimum of 0,
with ``kT = 2.49`` kJ/mol (300 K), and the score is ``mae(F_ref, F, 6.28)``: the mean absolute
difference over the 60 bins times 6.28. Without metadynamics (nothing here biases a run), F is
estimated from the frames themselves: ``-kT ln P`` of their (phi, psi) histogram on MDsim's
60 x 60 grid over [-180, 180) degrees (``workbench.analysis.phi_psi_degrees`` and
``free_energy_surface``), kT = k_B T in kJ/mol. Bins no frame visited have F = inf in a histogram
(finite in a metadynamics F); the MAEs are over the bins finite in both surfaces and
``coverage`` says which fraction that is. The 2-D MAE (kJ/mol, mean over common bins) is ours;
MDsim reports only the 1-D ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import units as ase_units

from workbench.analysis import free_energy_surface, phi_psi_degrees
from workbench.benchmark.base import Metric, check_same_atoms
from workbench.benchmark.trajectory import Trajectory, load_trajectory

__all__ = ["FES_BINS", "FreeEnergy", "profiles"]

FES_BINS = 60
"""Bins per angle of MDsim's F(phi, psi) (``--bin 60,60``)."""
KB_KJ_PER_MOL_K = ase_units.kB * ase_units.mol / ase_units.kJ
"""Boltzmann constant in kJ/(mol K) (ase.units); 300 K gives MDsim's kT = 2.49 kJ/mol."""


def profiles(F: np.ndarray, kT: float) -> tuple[np.ndarray, np.ndarray]:
    """MDsim's ``get_pmf``: 1-D profiles ``(F(phi), F(psi))`` ``[n_bins]`` of ``F[phi, psi]``
    (same unit as ``kT``; nan or inf bins count as probability 0), each shifted to minimum 0,
    inf where the marginal is 0."""
    p = np.exp(-np.nan_to_num(np.asarray(F, float), nan=np.inf) / kT)
    p = p / p.sum()
    with np.errstate(divide="ignore"):
        f_phi, f_psi = -kT * np.log(p.sum(axis=1)), -kT * np.log(p.sum(axis=0))
    return f_phi - f_phi.min(), f_psi - f_psi.min()


def _surface(traj: Trajectory, frames: np.ndarray, indices: np.ndarray, kT: float,
             n_bins: int) -> np.ndarray:
    angles = phi_psi_degrees(traj.positions[frames], indices, traj.box)  # [n, m, 2]
    return kT * free_energy_surface(angles[..., 0], angles[..., 1], n_bins)


def _mae(a: np.ndarray, b: np.ndarray, factor: float = 1.0) -> tuple[float, float]:
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return np.inf, 0.0
    return float(np.mean(np.abs(a[both] - b[both])) * factor), float(both.mean())


class FreeEnergy(Metric):
    """F(phi, psi), F(phi), F(psi) of the frames before collapse against the reference's
    (module docstring).

    Args:
        reference: reference trajectory (``load_trajectory``): every frame counts.
        phi_psi_indices: ``[m, 2, 4]`` atom quads (``ForceField.phi_psi_indices``), or
            ``[2, 4]`` for one residue.
        temperature_K: sets kT = k_B T (300 K: 2.49 kJ/mol, MDsim's).
        n_bins: per angle (MDsim: 60).

    Results:
        ``centres_deg`` ``[n_bins]``, ``F``, ``F_reference`` ``[n_bins, n_bins]`` kJ/mol (first
        index phi; nan where no frame fell), ``F_phi``, ``F_psi`` and their references
        ``[n_bins]`` kJ/mol (inf where unvisited), ``mae_phi``, ``mae_psi`` (MDsim's:
        kJ/mol times 6.28), ``mae_fes`` (kJ/mol), ``coverage_phi``, ``coverage_psi``,
        ``coverage_fes`` (fraction of bins compared), ``kT_kJ_per_mol``, ``n_frames``,
        ``available``. Not available (collapsed at the first frame, no frames): MAEs inf.

    Raises:
        ValueError: atoms unlike the reference's.
    """

    def __init__(self, reference: Any, phi_psi_indices: Any, temperature_K: float = 300.0,
                 n_bins: int = FES_BINS) -> None:
        super().__init__()
        self.reference = load_trajectory(reference)
        self.indices = np.asarray(phi_psi_indices, dtype=np.int64).reshape(-1, 2, 4)
        self.kT = KB_KJ_PER_MOL_K * float(temperature_K)
        self.n_bins = int(n_bins)
        self.F_reference = _surface(self.reference, np.arange(self.reference.n_frames),
                                    self.indices, self.kT, self.n_bins)

    def _prepare(self) -> None:
        check_same_atoms(self.trajectory, self.reference)

    def _conclude(self) -> None:
        edges = np.linspace(-180.0, 180.0, self.n_bins + 1)
        ref_phi, ref_psi = profiles(self.F_reference, self.kT)
        self.results.update(centres_deg=0.5 * (edges[1:] + edges[:-1]),
                            F_reference=self.F_reference, F_phi_reference=ref_phi,
                            F_psi_reference=ref_psi, kT_kJ_per_mol=self.kT,
                            n_frames=len(self.frames))
        if not len(self.frames) or self.collapsed_at_start:
            self.results.update(available=False, F=None, F_phi=None, F_psi=None,
                                mae_phi=np.inf, mae_psi=np.inf, mae_fes=np.inf,
                                coverage_phi=0.0, coverage_psi=0.0, coverage_fes=0.0)
            return
        F = _surface(self.trajectory, self.frames, self.indices, self.kT, self.n_bins)
        f_phi, f_psi = profiles(F, self.kT)
        mae_phi, cov_phi = _mae(f_phi, ref_phi, 6.28)
        mae_psi, cov_psi = _mae(f_psi, ref_psi, 6.28)
        mae_fes, cov_fes = _mae(F, self.F_reference)
        self.results.update(available=True, F=F, F_phi=f_phi, F_psi=f_psi, mae_phi=mae_phi,
                            mae_psi=mae_psi, mae_fes=mae_fes, coverage_phi=cov_phi,
                            coverage_psi=cov_psi, coverage_fes=cov_fes)
