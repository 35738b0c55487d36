"""CG MD against the mapped all-atom trajectory: the distribution of every bonded CG variable
(bond lengths, angles, dihedrals, impropers; one per term type of the ``CGPotential``),
bead-type pair g(r) in a periodic box, and a free-energy surface over two CG dihedrals, each
with one number saying how well the CG model reproduces it.

The number for a distribution is the overlap coefficient ``sum_k min(p_k, q_k) dx`` of the two
normalised histograms on the same bins (1: identical, 0: disjoint), as used to compare CG and
mapped distributions in the coarse-graining literature; for g(r) it is the integrated absolute
difference ``int |g_CG - g_ref| dr`` (length units), the score the Tune dashboard reports;
for a free-energy surface the mean ``|F_CG - F_ref|`` over bins both visited, weighted by the
reference probability (kT), with the
fraction of the reference's probability in bins the CG run never visited. Angles are in
radians, dihedrals and impropers in (-pi, pi] (``kernels.observables.geometry``, the functions the
potential's own terms use).

Written here because the comparison is specific to a ``CGPotential``'s terms: MDAnalysis or
VOTCA's ``csg_stat`` would need the model rewritten in their topology formats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.observables import geometry
from workbench.analysis import dihedrals_degrees, free_energy_surface
from workbench.cg_potential import CGPotential

_COORDINATES = {"bond": geometry.bond_lengths, "angle": geometry.angles,
                "dihedral": geometry.dihedrals, "improper": geometry.dihedrals}


@dataclass
class Distribution:
    """One CG variable's histograms: ``edges [n_bins + 1]``, densities ``reference`` and
    ``simulated`` ``[n_bins]`` (per unit of the variable), their overlap, means and standard
    deviations (circular ones for dihedrals)."""

    kind: str
    name: str
    edges: np.ndarray
    reference: np.ndarray
    simulated: np.ndarray
    overlap: float
    mean_reference: float
    mean_simulated: float
    std_reference: float
    std_simulated: float

    def to_dict(self) -> dict:
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in asdict(self).items()}


def _check_frames(cg: CGPotential, *trajectories: np.ndarray) -> None:
    """``ValueError`` unless each is ``[n_frames >= 1, cg's n_beads, 3]``."""
    n = cg.model.n_beads
    for R in trajectories:
        shape = np.shape(R)
        if len(shape) != 3 or shape[1:] != (n, 3) or shape[0] < 1:
            raise ValueError(f"bead trajectories must be [n_frames, {n}, 3] (the potential's "
                             f"beads; map atom trajectories first), got {shape}")


def _stats(x: np.ndarray, periodic: bool) -> tuple[float, float]:
    if not periodic:
        return float(np.mean(x)), float(np.std(x))
    z = np.mean(np.exp(1j * x))
    return float(np.angle(z)), float(np.sqrt(-2.0 * np.log(max(abs(z), 1e-300))))


def _distribution(kind: str, name: str, ref: np.ndarray, sim: np.ndarray, n_bins: int
                  ) -> Distribution:
    periodic = kind in ("dihedral", "improper")
    if periodic:
        lo, hi = -np.pi, np.pi
    elif kind == "angle":
        lo, hi = 0.0, np.pi
    else:  # the reference's range, widened by half of it on each side
        a, b = np.percentile(ref, [0.05, 99.95])
        lo, hi = a - 0.5 * (b - a), b + 0.5 * (b - a)
    edges = np.linspace(lo, hi, n_bins + 1)
    p = np.histogram(ref, edges)[0] / (ref.size * np.diff(edges))
    q = np.histogram(sim, edges)[0] / (max(sim.size, 1) * np.diff(edges))
    (m_ref, s_ref), (m_sim, s_sim) = (_stats(x, periodic) for x in (ref, sim))
    return Distribution(kind, name, edges, p, q, float(np.sum(np.minimum(p, q) * np.diff(edges))),
                        m_ref, m_sim, s_ref, s_sim)


def bonded_distributions(cg: CGPotential, simulated: np.ndarray, reference: np.ndarray,
                         box: np.ndarray | None = None, n_bins: int = 60
                         ) -> list[Distribution]:
    """One ``Distribution`` per bond, angle, dihedral and improper type of ``cg`` (values of
    all terms of a type pooled), from bead trajectories ``simulated`` and ``reference`` ``[n_frames,
    n_beads, 3]`` (length units; the reference is the mapped all-atom trajectory)."""
    _check_frames(cg, simulated, reference)
    disp = space.free()[0] if box is None else space.periodic(jnp.asarray(box))[0]
    out = []
    for kind, fn in _COORDINATES.items():
        term = getattr(cg.model, kind + "s")
        if term is None:
            continue
        values = [np.asarray(fn(disp, jnp.asarray(R, jnp.float64), term.indices))
                  for R in (reference, simulated)]
        for k, name in enumerate(cg.term_names.get(kind, [])):
            sel = term.types == k
            out.append(_distribution(kind, name, values[0][:, sel].ravel(),
                                     values[1][:, sel].ravel(), n_bins))
    return out


def bead_rdfs(cg: CGPotential, simulated: np.ndarray, reference: np.ndarray, box: np.ndarray,
              r_max: float | None = None, n_bins: int = 100) -> dict[str, dict]:
    """Partial g(r) of every bead-type pair (pairs the potential excludes left out, the
    normalisation unchanged) in the periodic ``box [3]``: ``{"A-B": {"r", "reference",
    "simulated" [n_bins], "difference"}}`` with ``difference = int |g_sim - g_ref| dr``.
    ``r_max``: default half the shortest box side."""
    _check_frames(cg, simulated, reference)
    if box is None:
        raise ValueError("bead g(r) needs the periodic box")
    box = np.broadcast_to(np.asarray(box, float), (3,))
    r_max = 0.5 * float(box.min()) if r_max is None else float(r_max)
    if r_max <= 0 or n_bins < 1:
        raise ValueError(f"r_max must be > 0 and n_bins >= 1, got {r_max} and {n_bins}")
    if r_max > 0.5 * box.min():
        raise ValueError(f"r_max {r_max} exceeds half the shortest box side {box.min() / 2}")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    types, n = np.asarray(cg.model.bead_types), cg.model.n_beads
    keep = ~cg.model.excluded_matrix()[:n, :n] & np.triu(np.ones((n, n), bool), 1)
    out = {}
    for a in range(len(cg.type_names)):
        for b in range(a, len(cg.type_names)):
            same = (types[:, None] == a) & (types[None, :] == b)
            mask = keep & (same | same.T)
            n_pairs = (np.sum(types == a) * (np.sum(types == a) - 1) / 2 if a == b
                       else np.sum(types == a) * np.sum(types == b))
            if not mask.any():
                continue
            i, j = np.nonzero(mask)
            g = []
            for R in (reference, simulated):
                d = R[:, j] - R[:, i]
                r = np.linalg.norm(d - box * np.round(d / box), axis=-1)
                g.append(np.histogram(r, edges)[0] / (len(R) * n_pairs / box.prod() * shell))
            name = f"{cg.type_names[a]}-{cg.type_names[b]}"
            out[name] = {"r": 0.5 * (edges[1:] + edges[:-1]), "reference": g[0],
                         "simulated": g[1],
                         "difference": float(np.sum(np.abs(g[1] - g[0])) * (edges[1] - edges[0]))}
    return out


def dihedral_surface(simulated: np.ndarray, reference: np.ndarray, quads: np.ndarray,
                     box: np.ndarray | None = None, n_bins: int = 36) -> dict:
    """F / kT over two bead dihedrals ``quads [2, 4]`` (e.g. the CG phi and psi of a peptide):
    ``{"reference", "simulated" [n_bins, n_bins]`` (``workbench.analysis.free_energy_surface``:
    minimum 0, NaN where unvisited), ``"mae"`` (mean ``|F_sim - F_ref|`` over bins both
    visited, weighted by the reference probability, so that noise in rarely visited bins
    does not dominate; kT), ``"missed"`` (reference probability in bins the CG run never
    visited)}``."""
    if min(len(reference), len(simulated)) < 1:
        raise ValueError("both trajectories need at least one frame")
    surfaces = []
    for R in (reference, simulated):
        angles = dihedrals_degrees(R, np.asarray(quads).reshape(2, 4), box)
        surfaces.append(free_energy_surface(angles[:, 0], angles[:, 1], n_bins))
    probability = np.nan_to_num(np.exp(-surfaces[0]))  # the reference's, up to a factor
    probability /= probability.sum()
    both = np.isfinite(surfaces[0]) & np.isfinite(surfaces[1])
    return {"reference": surfaces[0], "simulated": surfaces[1],
            "mae": float(np.average(np.abs(surfaces[1][both] - surfaces[0][both]),
                                    weights=probability[both])) if both.any() else float("inf"),
            "missed": float(probability[~np.isfinite(surfaces[1])].sum())}
