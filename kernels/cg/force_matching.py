"""A CG potential that is linear in its coefficients, and the force-matching (MS-CG) design
matrix that fits it by linear least squares (Izvekov & Voth, J. Phys. Chem. B 109, 2469 (2005);
Noid et al., J. Chem. Phys. 128, 244114 (2008)).

The potential of beads ``R: [n_beads, 3]`` is a sum of terms, each linear in its coefficients
(the pytree ``coeffs``, shapes from ``CGModel.coefficient_shapes``):

- non-bonded pairs: ``u_ab(r)`` tabulated on a uniform knot grid ``[r_min, r_cutoff]``
  (``coeffs["pair"]: [n_type_pairs, n_knots]``), 0 at and beyond ``r_cutoff``, for every bead
  pair not in ``excluded`` (bonded neighbours): knot forces of a natural cubic spline of the
  force (``kernels.learned_pair.ForceSplinePair``, VOTCA's basis and the default), or knot
  energies of a spline of the energy (``SplinePair``, the workbench's ``"spline"`` family);
- bonds: ``a x^2 + b x`` with ``x = r - r_ref`` (``coeffs["bond"]: [n_bond_types, 2]``): a
  harmonic bond ``k/2 (r - r0)^2`` with ``k = 2a`` and ``r0 = r_ref - b / (2a)`` (``r_ref``, a
  fixed reference length per type, only keeps the basis well conditioned);
- angles: the same in the bond angle ``theta`` (radians), ``x = theta - theta_ref``;
- dihedrals: a Fourier series ``sum_n a_n cos(n phi) + b_n sin(n phi)``, ``n = 1..n_harmonics``
  (``coeffs["dihedral"]: [n_dihedral_types, 2 n_harmonics]``);
- impropers: ``a x^2 + b x`` in ``x = xi - xi_ref`` wrapped to ``[-pi, pi)``, ``xi`` the
  dihedral of (centre, three of its bonded neighbours) (``coeffs["improper"]: [n_types, 2]``):
  a confining well that keeps a branched bead's chirality, which Fourier dihedrals fitted to one
  enantiomer's samples do not (alanine dipeptide's C-alpha inverts within ~20 ps without it).
  A fit holds ``b`` at 0 (``fixed_coefficients``): with a linear term the well's energy would
  jump by ``2 pi b`` where ``x`` wraps. The fitted well alone does not hold chirality (its
  force is shared with the angles and it can come out weak or negative), so MD's energy
  (``wall`` given) adds ``wall ((x - hi) / w)^2`` above and ``wall ((lo - x) / w)^2`` below the
  sampled range ``limits`` (``w = IMPROPER_WALL_WIDTH``): nothing inside the data's range;
  for alanine dipeptide's C-alpha, reaching the mirror image costs over 100 kT.

Because the energy is linear in ``coeffs``, so is the force, ``F(R) = G(R) c``: the design
matrix ``G`` (``[n_beads * 3, n_coeff]`` per frame) is the forward-mode Jacobian of the force
with respect to the flattened coefficients, exact at any linearisation point. Force matching
minimises ``sum |G c - F_mapped|^2``; ``normal_equations`` accumulates ``G^T G``, ``G^T F`` and
``F^T F`` over frames, so the trajectory never has to fit in memory as one matrix.

An energy table's last knot (``u(r_cutoff)``) does not change any force and is held at 0
(``CGModel.fixed_coefficients``), which makes the potential continuous at the cutoff; a force
table's energy is 0 at the cutoff by construction.

Bead pairs are given as ``pairs: [2, n_pairs]`` int, padded with ``n_beads``: a jax_md
``OrderedSparse`` neighbour list's ``idx`` for MD, or any pair list for fitting. Every energy
takes ``strain`` (all distances scaled by ``1 + strain``) for the runner's virial pressure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax_md import partition, space

from kernels.learned_pair import SplinePair, n_pairs, pair_index_matrix
from kernels.neighbors import DEFAULT_SKIN, free_all_pairs, neighbor_list
from kernels.observables import geometry
from kernels.potentials import with_cutoff

Array = jnp.ndarray
Coeffs = dict[str, Array]
IMPROPER_WALL_WIDTH = 0.1  # rad: the improper wall's energy is `wall` this far outside its range


class BondedTerm(NamedTuple):
    """Bonds (``k = 2``), angles (3), dihedrals or impropers (4) of one kind.

    indices: ``[m, k]`` bead indices. types: ``[m]`` int term type.
    reference: ``[n_types]`` reference length (bonds) or angle in radians (angles, impropers);
    unused for dihedrals.
    limits: impropers only, ``[n_types, 2]`` the lowest and highest ``xi - xi_ref`` (rad) the
    fit sampled; MD's wall acts outside them.
    """

    indices: np.ndarray
    types: np.ndarray
    reference: np.ndarray
    limits: np.ndarray | None = None

    @property
    def n_types(self) -> int:
        return len(self.reference)


@dataclass(frozen=True, eq=False)
class CGModel:
    """The static form of a CG potential (module docstring); the coefficients are separate.

    n_beads: beads per configuration. bead_types: ``[n_beads]`` int, ``0..n_bead_types-1``.
    pair: the non-bonded spline (its ``r_cutoff`` is the pair cutoff), or None.
    bonds, angles, dihedrals, impropers: ``BondedTerm`` or None. n_harmonics: Fourier terms of a
    dihedral.
    excluded: ``[n_excluded, 2]`` bead pairs left out of the non-bonded term.
    """

    n_beads: int
    bead_types: np.ndarray
    pair: SplinePair | None = None
    bonds: BondedTerm | None = None
    angles: BondedTerm | None = None
    dihedrals: BondedTerm | None = None
    n_harmonics: int = 3
    excluded: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    impropers: BondedTerm | None = None

    @property
    def n_bead_types(self) -> int:
        return int(np.max(self.bead_types, initial=-1)) + 1

    def coefficient_shapes(self) -> dict[str, tuple[int, int]]:
        """``{term: shape}`` of the coefficient pytree (module docstring)."""
        shapes = {}
        if self.pair is not None:
            shapes["pair"] = (n_pairs(self.n_bead_types), self.pair.n_knots)
        for name, term, width in (("bond", self.bonds, 2), ("angle", self.angles, 2),
                                  ("dihedral", self.dihedrals, 2 * self.n_harmonics),
                                  ("improper", self.impropers, 2)):
            if term is not None:
                shapes[name] = (term.n_types, width)
        return shapes

    def zero_coefficients(self, dtype: Any = jnp.float64) -> Coeffs:
        """``{term: zeros}`` in the shapes of ``coefficient_shapes`` (NumPy arrays: they give
        shapes and dtype, and need no compiled program)."""
        return {k: np.zeros(s, dtype) for k, s in self.coefficient_shapes().items()}

    def fixed_coefficients(self) -> Coeffs:
        """``{term: bool array}``: coefficients held at 0 by a fit (an energy table's last knot,
        the impropers' linear terms)."""
        fixed = {k: np.zeros(s, bool) for k, s in self.coefficient_shapes().items()}
        if "pair" in fixed and self.pair.last_knot_fixed:
            fixed["pair"][:, -1] = True
        if "improper" in fixed:  # a well centred on the reference, no ramp (see below)
            fixed["improper"][:, 1] = True
        return fixed

    def excluded_matrix(self) -> np.ndarray:
        """``[n_beads + 1, n_beads + 1]`` bool: pairs left out, padding index ``n_beads``
        included (always out)."""
        out = np.zeros((self.n_beads + 1, self.n_beads + 1), bool)
        ex = np.asarray(self.excluded, np.int64).reshape(-1, 2)
        out[ex[:, 0], ex[:, 1]] = out[ex[:, 1], ex[:, 0]] = True
        out[self.n_beads, :] = out[:, self.n_beads] = True
        np.fill_diagonal(out, True)
        return out


def all_pairs(n_beads: int) -> np.ndarray:
    """``[2, n_beads (n_beads - 1) / 2]`` int: every bead pair ``i < j`` once (free space)."""
    i, j = np.triu_indices(n_beads, k=1)
    return np.stack([i, j]).astype(np.int32)


def _polynomial(x: Array, ab: Array) -> Array:
    return ab[..., 0] * x * x + ab[..., 1] * x


def walled_pair(pair: SplinePair, table: Array, wall: Array | float) -> Callable[..., Array]:
    """``u(dr, pair_id)``: the spline (energy or force) ``table [n_type_pairs, n_knots]`` above
    ``pair.r_min``; below it, where force matching had no sample,
    ``u(r_min) + max(F(r_min), 0) (r_min - r)`` (the spline's force kept only if repulsive,
    never its attractive extrapolation) plus a repulsive wall
    ``wall ((r_min/r)^12 - 2 (r_min/r)^6 + 1)`` (energy units; the WCA form, 0 with zero force
    at ``r_min``). Energy continuous at ``r_min``; the force too unless the
    spline's force there is attractive. Not linear in ``table``: for MD, not for fitting."""
    u = pair.pair_fn({pair.table_key: table})
    rows = jnp.arange(table.shape[0])
    r0 = jnp.full(table.shape[0], pair.r_min, table.dtype)
    u0 = u(r0, pair_id=rows)
    f0 = jnp.maximum(-jax.vmap(jax.grad(lambda r, k: u(r, pair_id=k)))(r0, rows), 0.0)

    def walled(dr: Array, pair_id: Array = 0, **_) -> Array:
        x = pair.r_min / dr
        wca = wall * (x**12 - 2.0 * x**6 + 1.0)
        below = u0[pair_id] + f0[pair_id] * (pair.r_min - dr) + wca
        return jnp.where(dr < pair.r_min, below, u(dr, pair_id=pair_id))

    return walled


def cg_energy(displacement_fn: space.DisplacementFn, model: CGModel) -> Callable[..., Array]:
    """``energy(R, coeffs, pairs, strain=0., wall=None) -> []`` (energy units) of the CG
    potential.

    Args:
      displacement_fn: ``jax_md.space.free()`` or ``space.periodic(box)``.
      model: the terms (``CGModel``).

    The returned function takes ``R: [n_beads, 3]`` (length), ``coeffs`` (pytree of
    ``model.coefficient_shapes()``), ``pairs: [2, n_pairs]`` int padded with ``n_beads``, and
    ``wall``: None (fitting: the spline continues linearly below ``r_min``, so the energy is
    linear in ``coeffs``) or the height (energy units, e.g. kT; may be traced) of the
    repulsive wall below ``r_min`` for MD (``walled_pair``). It computes in ``R``'s dtype.
    """
    excluded = jnp.asarray(model.excluded_matrix())
    types = jnp.asarray(np.append(model.bead_types, 0).astype(np.int32))
    pair_id = jnp.asarray(pair_index_matrix(max(model.n_bead_types, 1)))
    n = model.n_beads

    def energy(R: Array, coeffs: Coeffs, pairs: Array, strain: Array = 0.0,
               wall: Array | None = None, **_) -> Array:
        scale = 1.0 + strain

        def disp(Ra, Rb, **kw):
            return displacement_fn(Ra, Rb, **kw) * scale

        total = jnp.zeros((), R.dtype)
        if model.pair is not None:
            i, j = pairs[0], pairs[1]
            keep = ~excluded[i, j]
            d = jax.vmap(disp)(R[jnp.minimum(i, n - 1)], R[jnp.minimum(j, n - 1)])
            r = jnp.where(keep, space.distance(d), 0.0)  # 0: outside (0, r_cutoff), energy 0
            table = coeffs["pair"].astype(R.dtype)
            pair_u = (model.pair.pair_fn({model.pair.table_key: table}) if wall is None
                      else walled_pair(model.pair, table, wall))
            u = with_cutoff(pair_u, model.pair.r_cutoff)
            total = total + jnp.sum(u(r, pair_id=pair_id[types[i], types[j]]))
        for name, term, coord in (("bond", model.bonds, geometry.bond_lengths),
                                  ("angle", model.angles, geometry.angles),
                                  ("improper", model.impropers, geometry.dihedrals)):
            if term is not None:
                x = coord(disp, R, term.indices) - jnp.asarray(term.reference, R.dtype)[
                    term.types]
                if name == "improper":  # an angle difference: wrapped to [-pi, pi)
                    x = jnp.mod(x + jnp.pi, 2.0 * jnp.pi) - jnp.pi
                    if wall is not None and term.limits is not None:
                        lo, hi = jnp.asarray(term.limits, R.dtype)[term.types].T
                        out = jnp.maximum(x - hi, 0.0) + jnp.maximum(lo - x, 0.0)
                        total = total + wall * jnp.sum((out / IMPROPER_WALL_WIDTH) ** 2)
                total = total + jnp.sum(_polynomial(x, coeffs[name].astype(R.dtype)[
                    term.types]))
        if model.dihedrals is not None:
            phi = geometry.dihedrals(disp, R, model.dihedrals.indices)
            k = jnp.arange(1, model.n_harmonics + 1, dtype=R.dtype)
            c = coeffs["dihedral"].astype(R.dtype)[model.dihedrals.types]
            h = model.n_harmonics
            total = total + jnp.sum(c[:, :h] * jnp.cos(k * phi[:, None])
                                    + c[:, h:] * jnp.sin(k * phi[:, None]))
        return total

    return energy


def cg_energy_neighbor_list(
    displacement_fn: space.DisplacementFn,
    box: Array | None,
    model: CGModel,
    *,
    dr_threshold: float = DEFAULT_SKIN,
    capacity_multiplier: float = 1.25,
) -> tuple[partition.NeighborFn, Callable[..., Array]]:
    """Neighbour-listed CG energy in a periodic ``box`` (``[]`` or ``[3]``, length), or in free
    space (``box=None``, ``displacement_fn`` from ``space.free()``: a list of every bead pair,
    ``kernels.neighbors.free_all_pairs``), for the runner (``kernels.runner.simulator``) and
    jax_md's integrators.

    Returns ``(neighbor_fn, energy_fn)`` with ``energy_fn(R, neighbor, coeffs, strain=0.,
    wall=None) -> []`` (pass ``{"coeffs": coeffs, "wall": kT}`` as the runner's ``params``);
    the periodic list's cutoff is the pair cutoff (a model without a pair term gets a list of
    cutoff 0 that it never reads).
    """
    if box is None:
        neighbor_fn = free_all_pairs(model.n_beads)
    else:
        cutoff = model.pair.r_cutoff if model.pair is not None else 1e-6
        neighbor_fn = neighbor_list(displacement_fn, box, cutoff, dr_threshold,
                                    capacity_multiplier=capacity_multiplier)
    energy = cg_energy(displacement_fn, model)

    def energy_fn(R: Array, neighbor: partition.NeighborList, coeffs: Coeffs,
                  strain: Array = 0.0, wall: Array | None = None, **kwargs) -> Array:
        return energy(R, coeffs, neighbor.idx, strain=strain, wall=wall)

    return neighbor_fn, energy_fn


def force_design(energy: Callable[..., Array], coeffs: Coeffs
                 ) -> tuple[Callable[[Array, Array], Array], Callable[[Array], Coeffs]]:
    """``(design_fn, unravel)``: ``design_fn(R, pairs) -> G: [n_beads * 3, n_coeff]`` with
    ``F(R) = G(R) c`` for the flattened coefficients ``c`` (``jax.flatten_util.ravel_pytree``
    order of ``coeffs``; ``unravel(c)`` gives the pytree back).

    ``energy`` is ``cg_energy(...)``; ``coeffs`` only fixes shapes and dtype.
    """
    flat, unravel = ravel_pytree(coeffs)

    def forces(c: Array, R: Array, pairs: Array) -> Array:
        return -jax.grad(energy)(R, unravel(c), pairs)

    def design_fn(R: Array, pairs: Array) -> Array:
        G = jax.jacfwd(forces)(jnp.zeros_like(flat, R.dtype), R, pairs)
        return G.reshape(-1, flat.size)

    return design_fn, unravel


def cg_force_design(displacement_fn: space.DisplacementFn, model: CGModel, dtype: Any
                    ) -> tuple[Callable[[Array, Array], Array], Callable[[Array], Coeffs]]:
    """``force_design`` of ``cg_energy(displacement_fn, model)`` with coefficients in
    ``dtype``, the same matrix built faster. The bonded columns come from ``force_design``.
    The pair columns are built pair by pair: a spline's force is local in its knot values and
    curvatures (``SplinePair.force_weights``: two of each per pair), so each pair adds 2 x 2
    weights along its unit vector to its two beads' rows, and the curvature columns are
    turned into knot columns by the spline's constant ``curvature_matrix``. Differentiating
    the whole force instead repeats its scatter-add over the pairs once per coefficient."""
    coeffs = model.zero_coefficients(dtype)
    unravel = ravel_pytree(coeffs)[1]
    if model.pair is None:
        return force_design(cg_energy(displacement_fn, model), coeffs)[0], unravel
    bonded = replace(model, pair=None)
    bonded_coeffs = bonded.zero_coefficients(dtype)
    bonded_fn = (force_design(cg_energy(displacement_fn, bonded), bonded_coeffs)[0]
                 if bonded_coeffs else None)
    assert sorted(coeffs)[-1] == "pair"  # ravel_pytree's order: the pair columns come last
    pair, n = model.pair, model.n_beads
    n_rows, k = coeffs["pair"].shape
    # constants as NumPy arrays, made JAX arrays inside the traced function: building them
    # here eagerly would compile one small XLA program each, which a small fit notices
    curvature_np = pair.curvature_matrix().astype(dtype)  # M = C y
    excluded_np = model.excluded_matrix()
    types_np = np.append(model.bead_types, 0).astype(np.int32)
    pair_id_np = pair_index_matrix(max(model.n_bead_types, 1))

    def design_fn(R: Array, pairs: Array) -> Array:
        curvature, excluded, types, pair_id, xyz = (
            jnp.asarray(a) for a in (curvature_np, excluded_np, types_np, pair_id_np,
                                     np.arange(3)))
        i, j = pairs[0], pairs[1]
        d = jax.vmap(displacement_fn)(R[jnp.minimum(i, n - 1)], R[jnp.minimum(j, n - 1)])
        r = jnp.where(~excluded[i, j], space.distance(d), 0.0)
        inside = (r > 0) & (r < pair.r_cutoff)
        along = d / jnp.where(r > 0, r, 1.0)[:, None]  # the force on i points along R_i - R_j
        knot, wa, wb = pair.force_weights(jnp.where(inside, r, pair.r_cutoff))
        col = (pair_id[types[i], types[j]] * k + knot)[:, None, None] + jnp.arange(2)
        # one scatter: [bead i or j, values or curvatures, pair, xyz, the segment's 2 knots]
        rows = (jnp.stack([i, j])[:, None, :, None, None] * 3 + xyz[:, None])
        v = (jnp.asarray([1.0, -1.0], R.dtype)[:, None, None, None, None]
             * jnp.where(inside, 1.0, 0.0)[:, None, None] * along[:, :, None]
             * jnp.stack([wa, wb])[:, :, None, :])
        G = jnp.zeros((2, 3 * (n + 1), n_rows * k), R.dtype).at[
            jnp.arange(2)[None, :, None, None, None], rows, col[None, None]].add(v)
        values, curv = G[0, :3 * n], G[1, :3 * n].reshape(3 * n, n_rows, k)
        G = values + jnp.einsum("atk,kl->atl", curv, curvature).reshape(3 * n, -1)
        return G if bonded_fn is None else jnp.concatenate([bonded_fn(R, pairs), G], axis=1)

    return design_fn, unravel


def normal_equations(design_fn: Callable[[Array, Array], Array], n_coeff: int | None = None
                     ) -> Callable[..., tuple[Array, Array, Array]]:
    """A jitted ``fn(R, F, pairs, weight) -> (GtG [n_coeff, n_coeff], GtF [n_coeff], FtF [])``
    summed over a batch of frames ``R, F: [n_frames, n_beads, 3]``, ``pairs: [n_frames, 2,
    n_pairs]``, each frame counted ``weight [n_frames]`` times (0 for padding frames, so that
    every batch has one shape and compiles once). Units: force squared (energy^2 / length^2)
    for ``GtG`` per coefficient squared. Frame by frame (``lax.scan``): one frame's design
    matrix in memory, and 2.5x faster than the batched products on CPU (measured on a
    108-bead LJ liquid). ``n_coeff``, the design matrix's column count, if known, saves
    tracing ``design_fn`` once more to find it."""

    def fn(R: Array, F: Array, pairs: Array, weight: Array):
        def add(sums, frame):
            r, f, p, w = frame
            G, f = design_fn(r, p), f.reshape(-1)
            w = w.astype(G.dtype)
            return (sums[0] + w * (G.T @ G), sums[1] + w * (G.T @ f), sums[2] + w * (f @ f)), None

        n = n_coeff or jax.eval_shape(design_fn, R[0], pairs[0]).shape[1]
        zero = (jnp.zeros((n, n), R.dtype), jnp.zeros(n, R.dtype), jnp.zeros((), R.dtype))
        return jax.lax.scan(add, zero, (R, F, pairs, weight))[0]

    return jax.jit(fn)
