"""Force matching (multiscale coarse graining, MS-CG): fit a CG potential to mapped forces by
linear least squares (Izvekov & Voth, J. Phys. Chem. B 109, 2469 (2005); Noid et al., J. Chem.
Phys. 128, 244114 (2008)).

``ForceMatching`` holds the settings (pair cutoff, spline grid and basis, which bonded terms,
which bonded neighbours leave the pair term, ridge, validation split) and fits:

- ``fit(positions, forces, ...)`` on bead trajectories ``[n_frames, n_beads, 3]``;
- ``fit_mapped(mapping, positions, forces, ...)`` on atom trajectories, mapped first with a
  ``workbench.mapping.CGMapping`` (``kernels.cg.mapping``: the MS-CG force map).

The potential (``kernels.cg.force_matching``) is linear in its coefficients ``c``, so the
mapped force is ``F = G(R) c`` and the fit solves ``(G^T G + lambda I) c = G^T F`` over the
training frames, with ``G`` built pair by pair (``kernels.cg.force_matching.cg_force_design``;
4-6x faster than VOTCA's ``csg_fmatch`` on 400 LJ frames, ``benchmarks/fmatch_votca.py``),
``G^T G`` accumulated frame by frame (in batches of frames, one progress report each) in
float64 and solved with
``numpy.linalg.lstsq``; ``lambda = ridge * trace(G^T G) / n_coeff`` only steadies
coefficients the data barely see (spline knots below the closest sampled distance). The last
``validation_fraction`` of the frames (a contiguous block, as frames of one trajectory are
correlated) is held out; the result's ``metrics`` give the force RMSE (per Cartesian
component, force units) on both parts and the RMSE of predicting zero force for scale (a fit
no better than zero force on the held-out frames warns: it has fitted noise).

Non-bonded pairs per frame come from a k-d tree (scipy, periodic where there is a box) within
the pair cutoff, padded to one static shape so the design matrix compiles once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np
import param
from jax_md import space
from scipy.spatial import cKDTree

from kernels.cg.force_matching import (
    BondedTerm,
    CGModel,
    cg_force_design,
    normal_equations,
)
from kernels.cg.mapping import map_forces, map_positions
from kernels.learned_pair import ForceSplinePair, SplinePair
from kernels.observables import geometry
from workbench.cg_potential import CGPotential
from workbench.coarse.topology import bond_paths, branch_impropers, excluded_pairs, term_types
from workbench.mapping import CGMapping

BATCH_ENTRIES = 10_000_000  # design-matrix entries per batch of frames: its work


def frame_pairs(positions: np.ndarray, r_cutoff: float, box: np.ndarray | None = None
                ) -> np.ndarray:
    """``[n_frames, 2, n_pairs]`` int: bead pairs ``i < j`` closer than ``r_cutoff`` in each
    frame of ``positions [n_frames, n_beads, 3]`` (minimum image in ``box [3]``), padded with
    ``n_beads`` to the largest count."""
    n = positions.shape[1]
    found = []
    for R in np.asarray(positions, np.float64):
        if box is None:
            tree = cKDTree(R)
        else:
            box = np.broadcast_to(np.asarray(box, np.float64), (3,))
            wrapped = R - box * np.floor(R / box)
            tree = cKDTree(np.where(wrapped >= box, 0.0, wrapped), boxsize=box)
        found.append(np.sort(tree.query_pairs(r_cutoff, output_type="ndarray"), axis=1))
    width = max(1, max(len(p) for p in found))
    out = np.full((len(found), 2, width), n, dtype=np.int32)
    for k, p in enumerate(found):
        out[k, :, :len(p)] = p.T
    return out


class ForceMatching(param.Parameterized):
    """Settings of an MS-CG fit (module docstring); ``fit`` and ``fit_mapped`` run it."""

    r_cutoff = param.Number(default=2.5, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Pair cutoff (length units); the pair term is 0 beyond it.")
    r_min = param.Number(default=None, allow_None=True, bounds=(0, None),
                         doc="Start of the spline grid (length units); None: the closest "
                             "non-bonded distance in the training frames.")
    n_knots = param.Integer(default=40, bounds=(4, None), doc="Knots of the pair spline.")
    basis = param.Selector(default="force", objects=["force", "energy"],
                           doc="The pair spline's knot values: forces (a cubic spline of the "
                               "force, as VOTCA's csg_fmatch; an order more accurate per knot) "
                               "or energies (the workbench's 'spline' PairPotential).")
    pair = param.Boolean(default=True, doc="Fit a non-bonded pair term.")
    angles = param.Boolean(default=True, doc="Harmonic angles over paths of two CG bonds.")
    dihedrals = param.Boolean(default=False, doc="Fourier dihedrals over paths of three bonds.")
    impropers = param.Boolean(default=True, doc="Harmonic impropers at beads with three or more "
                                                "CG bonds; in MD a wall outside their sampled "
                                                "range keeps the branch's chirality.")
    n_harmonics = param.Integer(default=3, bounds=(1, None), doc="Fourier terms per dihedral.")
    exclude_bonds_apart = param.Integer(default=2, bounds=(0, None),
                                        doc="Bead pairs at most this many CG bonds apart are "
                                            "left out of the pair term (2: 1-2 and 1-3).")
    ridge = param.Number(default=1e-8, bounds=(0, None),
                         doc="Relative ridge term (times trace(G^T G) / n_coeff).")
    validation_fraction = param.Number(default=0.2, bounds=(0, 0.9),
                                       doc="Last fraction of the frames held out.")
    batch_frames = param.Integer(default=None, allow_None=True, bounds=(1, None),
                                 doc="Frames per batch (one progress report each); None: "
                                     f"about {BATCH_ENTRIES:.0e} design entries per batch.")

    def model(self, positions: np.ndarray, bead_names: Sequence[str],
              bonds: np.ndarray | None, box: np.ndarray | None,
              pairs: np.ndarray | None = None
              ) -> tuple[CGModel, tuple[str, ...], dict[str, list[str]]]:
        """The CG terms for beads named ``bead_names`` with CG ``bonds [n_bonds, 2]``:
        references of the bonded terms are their means over ``positions [n_frames, n_beads,
        3]``, the default ``r_min`` the closest non-excluded pair in them (``pairs``, from
        ``frame_pairs``, if already found)."""
        n = positions.shape[1]
        names = tuple(dict.fromkeys(bead_names))
        types = np.array([names.index(x) for x in bead_names], np.int64)
        bonds = np.zeros((0, 2), np.int64) if bonds is None else np.asarray(bonds, np.int64)
        disp = space.free()[0] if box is None else space.periodic(jnp.asarray(box))[0]
        terms, term_names = {}, {}
        wanted = (("bond", bond_paths(n, bonds, 1)),
                  ("angle", bond_paths(n, bonds, 2) if self.angles else None),
                  ("dihedral", bond_paths(n, bonds, 3) if self.dihedrals else None),
                  ("improper", branch_impropers(n, bonds) if self.impropers else None))
        for term, idx in wanted:
            if idx is None or not len(idx):
                continue
            t, t_names = term_types(idx, bead_names, reverse=term != "improper")
            ref, limits = np.zeros(len(t_names)), None
            if term != "dihedral":
                values = _internal(term, disp, positions, idx)
                ref = np.array([_mean(values[:, t == k], term == "improper")
                                for k in range(len(t_names))])
            if term == "improper":  # the sampled range about the reference, for MD's wall
                x = np.mod(values - ref[t] + np.pi, 2.0 * np.pi) - np.pi
                limits = np.array([[x[:, t == k].min(), x[:, t == k].max()]
                                   for k in range(len(t_names))])
            terms[term + "s"] = BondedTerm(idx, t, ref, limits)
            term_names[term] = t_names
        excluded = excluded_pairs(n, bonds, self.exclude_bonds_apart)
        pair = None
        if self.pair:
            if pairs is None and self.r_min is None:
                pairs = frame_pairs(positions, self.r_cutoff, box)
            r_min = self.r_min if self.r_min is not None else _closest(
                positions, pairs, excluded, self.r_cutoff, box)
            spline = ForceSplinePair if self.basis == "force" else SplinePair
            pair = spline(float(r_min), float(self.r_cutoff), int(self.n_knots))
        model = CGModel(n_beads=n, bead_types=types, pair=pair, n_harmonics=self.n_harmonics,
                        excluded=excluded, **terms)
        return model, names, term_names

    def checked(self, positions, forces, bead_names: Sequence[str], bonds, box, units: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """``(R, F, box, n_train)``: the inputs of ``fit`` as float64 arrays, the box as
        ``[3]`` (or None) and the number of training frames; ``ValueError`` naming what is
        wrong (``fit``'s Raises)."""
        R = np.asarray(positions, np.float64)
        F = np.asarray(forces, np.float64)
        if R.ndim != 3 or R.shape[-1] != 3 or F.shape != R.shape or not len(R):
            raise ValueError(f"positions and forces must both be [n_frames, n_beads, 3] with "
                             f"at least one frame, got {R.shape} and {F.shape}")
        bad = ~(np.isfinite(R).all(axis=(1, 2)) & np.isfinite(F).all(axis=(1, 2)))
        if bad.any():
            raise ValueError(f"{bad.sum()} frames have NaN or infinite positions or forces "
                             f"(the first: frame {int(np.argmax(bad))}); drop them first")
        if len(bead_names) != R.shape[1]:
            raise ValueError(f"{len(bead_names)} bead names for {R.shape[1]} beads")
        if units not in ("reduced", "ase"):
            raise ValueError(f"units must be 'reduced' or 'ase', not {units!r}")
        if bonds is not None and len(bonds) and (np.min(bonds) < 0
                                                 or np.max(bonds) >= R.shape[1]):
            raise ValueError(f"CG bonds must be bead indices in [0, {R.shape[1] - 1}] (for atom "
                             "bonds, use fit_mapped)")
        if self.pair and self.r_min is not None and self.r_min >= self.r_cutoff:
            raise ValueError(f"r_min {self.r_min} must be below r_cutoff {self.r_cutoff}")
        if box is not None:
            box = np.broadcast_to(np.asarray(box, np.float64), (3,))
            if not np.all(np.isfinite(box)) or np.any(box <= 0):
                raise ValueError(f"box must be three positive side lengths, got {box}")
            if self.pair and np.min(box) <= 2 * self.r_cutoff:
                raise ValueError(f"the box side {np.min(box):.4g} is not larger than twice the "
                                 f"pair cutoff {self.r_cutoff:g} (minimum image)")
        n_val = int(round(self.validation_fraction * len(R)))
        if self.validation_fraction > 0 and (n_val < 1 or n_val >= len(R)):
            raise ValueError(f"a validation fraction of {self.validation_fraction} of "
                             f"{len(R)} frames leaves no training or no validation frame")
        return R, F, box, len(R) - n_val

    def fit(self, positions: np.ndarray, forces: np.ndarray, bead_names: Sequence[str], *,
            bonds: np.ndarray | None = None, box: np.ndarray | None = None,
            units: str = "reduced", progress: Callable[[int, int], None] | None = None
            ) -> CGPotential:
        """Fit a CG potential to bead forces.

        Args:
          positions: ``[n_frames, n_beads, 3]`` bead positions (length).
          forces: ``[n_frames, n_beads, 3]`` mapped forces (energy / length).
          bead_names: ``n_beads`` bead type names.
          bonds: ``[n_bonds, 2]`` CG bonds (``CGMapping.cg_bonds``), or None.
          box: ``[3]`` periodic box (length), or None for free space.
          units: recorded on the result (``"reduced"`` or ``"ase"``).
          progress: ``progress(done, total)`` after each batch of frames.

        Returns:
          a ``CGPotential`` with ``metrics`` (``rmse_train``, ``rmse_validation``,
          ``rmse_zero_train``, ``rmse_zero_validation``, frame counts).

        Raises:
          ValueError: shapes that do not match, or fewer than two frames with a validation
            split.
        """
        R, F, box, n_train = self.checked(positions, forces, bead_names, bonds, box, units)
        n_val = len(R) - n_train
        pairs = frame_pairs(R, self.r_cutoff, box) if self.pair else \
            np.full((len(R), 2, 1), R.shape[1], np.int32)
        model, names, term_names = self.model(R[:n_train], bead_names, bonds, box,
                                              pairs[:n_train])
        disp = space.free()[0] if box is None else space.periodic(jnp.asarray(box))[0]
        coeffs0 = model.zero_coefficients(jnp.float64)
        if not coeffs0:
            raise ValueError("nothing to fit: no pair term and no CG bonds (pass bonds=, or "
                             "pair=True)")
        design_fn, unravel = cg_force_design(disp, model, jnp.float64)
        n_coeff = sum(v.size for v in coeffs0.values())
        accumulate = normal_equations(design_fn, n_coeff)
        parts = {"train": (0, n_train), "validation": (n_train, len(R))}
        batch = self.batch_frames or _auto_batch(min(n_train, n_val or n_train), R.shape[1],
                                                 pairs.shape[-1], n_coeff)
        sums = {part: _Sums() for part in parts}
        total = sum(-(-(hi - lo) // batch) for lo, hi in parts.values())
        done = 0
        for part, (lo, hi) in parts.items():
            for start in range(lo, hi, batch):
                idx = np.arange(start, start + batch)
                weight = idx < hi  # the last batch is padded with copies of its last frame
                idx = np.minimum(idx, hi - 1)
                sums[part].add(*accumulate(jnp.asarray(R[idx]), jnp.asarray(F[idx]),
                                           jnp.asarray(pairs[idx]), jnp.asarray(weight)),
                               int(weight.sum()) * R[0].size)
                done += 1
                if progress is not None:
                    progress(done, total)
        fixed = np.concatenate([model.fixed_coefficients()[k].ravel()
                                for k in sorted(coeffs0)])  # ravel_pytree's (sorted) order
        c = solve_normal(sums["train"].gtg, sums["train"].gtf, ~fixed, self.ridge)
        coefficients = {k: np.asarray(v, np.float64) for k, v in unravel(jnp.asarray(c)).items()}
        metrics = {"n_frames_train": n_train, "n_frames_validation": n_val}
        for part, s in sums.items():
            if s.rows:
                metrics[f"rmse_{part}"] = s.rmse(c)
                metrics[f"rmse_zero_{part}"] = float(np.sqrt(s.ftf / s.rows))
        warn_if_noise(metrics)
        return CGPotential(model, coefficients, names, term_names, units, metrics)

    def fit_mapped(self, mapping: CGMapping, positions: np.ndarray, forces: np.ndarray, *,
                   bonds: np.ndarray | None = None, box: np.ndarray | None = None,
                   units: str = "reduced", progress: Callable[[int, int], None] | None = None
                   ) -> CGPotential:
        """Map atom ``positions`` and ``forces`` ``[n_frames, n_atoms, 3]`` with ``mapping``
        and ``fit`` the beads; ``bonds [n_bonds, 2]`` are atom bonds (the CG bonds are the bead
        pairs they join). Other arguments as ``fit``."""
        R = map_positions(jnp.asarray(positions, jnp.float64), mapping.position_matrix(),
                          None if box is None else jnp.asarray(box, jnp.float64))
        F = map_forces(jnp.asarray(forces, jnp.float64), mapping.force_matrix())
        cg_bonds = None if bonds is None else mapping.cg_bonds(bonds)
        return self.fit(np.asarray(R), np.asarray(F), mapping.bead_names, bonds=cg_bonds,
                        box=box, units=units, progress=progress)


def warn_if_noise(metrics: dict) -> None:
    """Warn when a fit predicts held-out forces no better than zero force (``metrics`` with
    ``rmse_validation`` and ``rmse_zero_validation``; nothing without a validation split)."""
    if "rmse_validation" in metrics and \
            not metrics["rmse_validation"] < metrics["rmse_zero_validation"]:
        warnings.warn(f"the fitted potential predicts held-out forces no better than zero "
                      f"force (RMSE {metrics['rmse_validation']:.4g} against "
                      f"{metrics['rmse_zero_validation']:.4g}): it fits noise, or the fit "
                      "diverged. Use more frames, fewer terms or knots, a larger ridge (or a "
                      "smaller learning rate)", UserWarning, stacklevel=3)


def _auto_batch(n_frames: int, n_beads: int, n_pairs: int, n_coeff: int) -> int:
    """Frames per batch, for about ``BATCH_ENTRIES`` entries of the design matrix (twice over:
    ``kernels.cg.force_matching.cg_force_design`` builds knot-value and curvature columns) and
    of the per-pair intermediates at most (the work between progress reports), and as even as
    that allows over ``n_frames`` (the smaller part of the split), so that padding the last
    batch wastes little."""
    per_frame = (6 * n_beads + n_pairs) * n_coeff
    largest = max(1, min(n_frames, BATCH_ENTRIES // per_frame))
    return -(-n_frames // -(-n_frames // largest))


class _Sums:
    """Running ``G^T G``, ``G^T F``, ``F^T F`` and row count, in float64."""

    def __init__(self):
        self.gtg, self.gtf, self.ftf, self.rows = 0.0, 0.0, 0.0, 0

    def add(self, gtg, gtf, ftf, rows: int) -> None:
        self.gtg = self.gtg + np.asarray(gtg, np.float64)
        self.gtf = self.gtf + np.asarray(gtf, np.float64)
        self.ftf += float(ftf)
        self.rows += rows

    def rmse(self, c: np.ndarray) -> float:
        sq = c @ self.gtg @ c - 2.0 * c @ self.gtf + self.ftf
        return float(np.sqrt(max(sq, 0.0) / self.rows))


def solve_normal(gtg: np.ndarray, gtf: np.ndarray, free: np.ndarray, ridge: float
                 ) -> np.ndarray:
    """Coefficients minimising ``|G c - F|^2 + lambda |c|^2`` from ``G^T G [n, n]`` and
    ``G^T F [n]`` over the ``free [n]`` (bool) ones, the others 0; ``lambda = ridge *
    trace / n`` over the free block."""
    c = np.zeros(len(free))
    if not np.any(free):
        return c
    a = gtg[np.ix_(free, free)]
    lam = ridge * np.trace(a) / len(a)
    c[free] = np.linalg.lstsq(a + lam * np.eye(len(a)), gtf[free], rcond=None)[0]
    return c


def _internal(term: str, disp, positions: np.ndarray, idx: np.ndarray) -> np.ndarray:
    fn = {"bond": geometry.bond_lengths, "angle": geometry.angles,
          "improper": geometry.dihedrals}[term]
    return np.asarray(fn(disp, jnp.asarray(positions), idx))


def _mean(x: np.ndarray, circular: bool) -> float:
    return float(np.angle(np.mean(np.exp(1j * x)))) if circular else float(np.mean(x))


def _closest(positions: np.ndarray, pairs: np.ndarray, excluded: np.ndarray, r_cutoff: float,
             box: np.ndarray | None) -> float:
    """The closest distance of a non-excluded pair among ``pairs`` (``frame_pairs`` of
    ``positions``; ``r_cutoff / 2`` if there is none)."""
    n = positions.shape[1]
    skip = np.zeros((n + 1, n + 1), bool)
    skip[excluded[:, 0], excluded[:, 1]] = skip[excluded[:, 1], excluded[:, 0]] = True
    skip[n, :] = True
    keep = ~skip[pairs[:, 0], pairs[:, 1]]  # [n_frames, n_pairs]
    d = positions[np.arange(len(pairs))[:, None], pairs[:, 1].clip(max=n - 1)] - \
        positions[np.arange(len(pairs))[:, None], pairs[:, 0].clip(max=n - 1)]
    if box is not None:
        d = d - box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)[keep]
    return float(r.min()) if r.size else 0.5 * r_cutoff
