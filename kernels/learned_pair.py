"""Pair potentials with many parameters: a tabulated cubic spline and a neural pair potential
(an MLP on a Gaussian radial basis plus a repulsive prior, as in DiffSim and mdgrad).

Both are differentiable with respect to their parameters, which are pytrees passed at call time
(``energy_fn(R, neighbor, params=...)``) so that fitting never recompiles. Several species pairs
(11, 12, 22 of a binary mixture) get one row of the table or one output of the network each.

Why hand-written: jax_md's ``interpolate.spline`` fixes its knot values when it is built (it is
not a function of them), and its neural models are many-body GNNs, not pair potentials. The
spline is a natural cubic spline on a uniform grid, whose knot-to-curvature map is a constant
matrix computed once with numpy; the network is two dense layers, for which a framework would
add nothing but a dependency in the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition, smap, space

from kernels.neighbors import DEFAULT_SKIN, neighbor_list
from kernels.potentials import strained_metric, with_cutoff
from kernels.precision import float_dtype

Array = jnp.ndarray
Params = Any


def pair_index_matrix(n_species: int) -> np.ndarray:
    """``[n_species, n_species]`` symmetric matrix numbering the unordered species pairs
    (for two species: 11 -> 0, 12 -> 1, 22 -> 2)."""
    idx = np.zeros((n_species, n_species), dtype=np.int32)
    k = 0
    for a in range(n_species):
        for b in range(a, n_species):
            idx[a, b] = idx[b, a] = k
            k += 1
    return idx


def n_pairs(n_species: int) -> int:
    return n_species * (n_species + 1) // 2


@dataclass(frozen=True)
class SplinePair:
    """Natural cubic spline ``u(r)`` through knot values on a uniform grid ``[r_min, r_cutoff]``.

    Params: ``{"u": [n_pairs, n_knots]}`` (energy units). Below ``r_min`` the spline continues
    linearly with its end slope; at and beyond ``r_cutoff`` the cutoff treatment applies.
    """

    r_min: float
    r_cutoff: float
    n_knots: int = 64

    #: the params key of the knot table, and whether its last knot (the energy at the cutoff,
    #: which no force sees) is held at 0 by a fit
    table_key = "u"
    last_knot_fixed = True

    @property
    def knots(self) -> np.ndarray:
        return np.linspace(self.r_min, self.r_cutoff, self.n_knots)

    @property
    def h(self) -> float:
        return (self.r_cutoff - self.r_min) / (self.n_knots - 1)

    def curvature_matrix(self) -> np.ndarray:
        """``C [n_knots, n_knots]`` with second derivatives ``M = C @ y`` (natural ends)."""
        k, h = self.n_knots, self.h
        a = 4.0 * np.eye(k - 2) + np.eye(k - 2, k=1) + np.eye(k - 2, k=-1)
        d = np.zeros((k - 2, k))
        for i in range(k - 2):
            d[i, i:i + 3] = (1.0, -2.0, 1.0)
        c = np.zeros((k, k))
        c[1:-1] = np.linalg.solve(a, d) * 6.0 / h**2
        return c

    def init_params(self, u_of_r: Callable[[np.ndarray], np.ndarray], n_species: int = 1,
                    dtype: Any = jnp.float32) -> Params:
        """Knot values from a function (e.g. an analytic potential), same for every pair, as
        ``dtype`` (the run's precision; float64 needs ``jax_enable_x64``)."""
        row = np.asarray(u_of_r(self.knots), dtype=float)
        return {"u": jnp.asarray(np.tile(row, (n_pairs(n_species), 1)), float_dtype(dtype))}

    def segment(self, dr: Array) -> tuple[Array, Array, Array, Array]:
        """``(x, i, t, s)``: ``dr`` in knot spacings from ``r_min``, its interval ``i`` (clipped
        to the grid), and the fractions ``t`` past knot ``i`` and ``s = 1 - t`` before knot
        ``i + 1`` (outside the grid they run past 0 and 1)."""
        x = (dr - self.r_min) / self.h
        i = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, self.n_knots - 2)
        return x, i, x - i, 1.0 - (x - i)

    def pair_fn(self, params: Params) -> Callable[..., Array]:
        """``u(dr, pair_id)`` evaluating the spline row ``pair_id``."""
        y = params["u"]
        curv = jnp.asarray(self.curvature_matrix(), dtype=y.dtype)
        m = y @ curv.T  # [n_pairs, n_knots]
        r_min, h, k = self.r_min, self.h, self.n_knots

        def u(dr: Array, pair_id: Array = 0, **_) -> Array:
            base = jnp.broadcast_to(pair_id, dr.shape) * k  # row offset into the flat tables

            def at(a: Array, j: Array) -> Array:
                return a.reshape(-1)[base + j]

            x, i, t, s = self.segment(dr)
            inner = s * at(y, i) + t * at(y, i + 1) + h * h / 6.0 * (
                (s**3 - s) * at(m, i) + (t**3 - t) * at(m, i + 1))
            zero = jnp.zeros_like(i)
            slope0 = (at(y, zero + 1) - at(y, zero)) / h - h * at(m, zero + 1) / 6.0
            return jnp.where(x < 0, at(y, zero) + slope0 * (dr - r_min), inner)

        return u

    def force_weights(self, dr: Array) -> tuple[Array, Array, Array]:
        """``(i, wa, wb)``: the force ``F(dr) = -du/dr`` of one table row ``y`` (knot values,
        curvatures ``M = C y``) as ``wa[0] y_i + wa[1] y_i+1 + wb[0] M_i + wb[1] M_i+1``,
        for ``dr [m]`` below the cutoff; ``i [m]``, ``wa, wb [m, 2]``. A spline is global in
        its knot values but local in (values, curvatures): a design matrix built from these
        weights and ``curvature_matrix`` needs no per-knot derivative."""
        h = self.h
        x, i, t, s = self.segment(dr)
        # -d/dr of s y_i + t y_i+1 + h^2/6 ((s^3 - s) M_i + (t^3 - t) M_i+1), ds/dr = -1/h
        wa = jnp.stack([jnp.ones_like(t), -jnp.ones_like(t)], -1) / h
        wb = jnp.stack([3.0 * s**2 - 1.0, 1.0 - 3.0 * t**2], -1) * h / 6.0
        below = (x < 0)[..., None]  # u continues with slope (y_1 - y_0) / h - h M_1 / 6
        wb = jnp.where(below, jnp.stack([jnp.zeros_like(t), jnp.full_like(t, h / 6.0)], -1), wb)
        return jnp.where(x < 0, 0, i), wa, wb

@dataclass(frozen=True)
class ForceSplinePair(SplinePair):
    """A natural cubic spline of the pair *force* ``F(r) = -du/dr`` through knot values on a
    uniform grid ``[r_min, r_cutoff]``, and its energy ``u(r) = int_r^r_cutoff F`` (piecewise
    quartic, exactly integrated; 0 at the cutoff, so the energy is continuous there while the
    force keeps its last knot value, as a truncated force). Below ``r_min`` the force stays at
    its first knot value (the energy continues linearly).

    Params: ``{"f": [n_pairs, n_knots]}`` (energy / length); ``u`` is linear in them. The basis of
    force matching in VOTCA's ``csg_fmatch``: for the same knots a cubic spline of the force
    is an order more accurate than the derivative of a cubic spline of the energy (error
    ``~h^4`` against ``~h^3``).
    """

    table_key = "f"
    last_knot_fixed = False

    def pair_fn(self, params: Params) -> Callable[..., Array]:
        """``u(dr, pair_id)`` from the force table ``params["f"]`` (row ``pair_id``)."""
        f = params["f"]
        m = f @ jnp.asarray(self.curvature_matrix(), dtype=f.dtype).T  # F'' at the knots
        h, k = self.h, self.n_knots
        # integral of F over each interval, then the integral from each knot to the cutoff
        seg = h * (f[:, :-1] + f[:, 1:]) / 2.0 - h**3 * (m[:, :-1] + m[:, 1:]) / 24.0
        tail = jnp.concatenate([jnp.cumsum(seg[:, ::-1], axis=1)[:, ::-1],
                                jnp.zeros_like(seg[:, :1])], axis=1)  # [n_pairs, n_knots]

        def u(dr: Array, pair_id: Array = 0, **_) -> Array:
            base = jnp.broadcast_to(pair_id, dr.shape) * k

            def at(a: Array, j: Array) -> Array:
                return a.reshape(-1)[base + j]

            _, i, t, s = self.segment(dr)
            # int_r^{x_i+1} F: the spline s f_i + t f_i+1 + h^2/6 ((s^3 - s) M_i + (t^3 - t) M_i+1)
            part = h * (at(f, i) * s**2 / 2.0 + at(f, i + 1) * (1.0 - t**2) / 2.0
                        + h * h / 6.0 * (at(m, i) * (s**4 / 4.0 - s**2 / 2.0)
                                         + at(m, i + 1) * ((1.0 - t**4) / 4.0
                                                           - (1.0 - t**2) / 2.0)))
            inside = part + at(tail, i + 1)
            zero = jnp.zeros_like(i)
            return jnp.where(dr < self.r_min,
                             at(tail, zero) + at(f, zero) * (self.r_min - dr), inside)

        return u


    def force_weights(self, dr: Array) -> tuple[Array, Array, Array]:
        """As ``SplinePair.force_weights``, for this spline of the force itself."""
        x, i, t, s = self.segment(dr)
        wa = jnp.stack([s, t], -1)
        wb = jnp.stack([s**3 - s, t**3 - t], -1) * self.h**2 / 6.0
        below = (x < 0)[..., None]  # the first knot's force, continued
        wa = jnp.where(below, jnp.stack([jnp.ones_like(t), jnp.zeros_like(t)], -1), wa)
        return jnp.where(x < 0, 0, i), wa, jnp.where(below, 0.0, wb)

@dataclass(frozen=True)
class NeuralPair:
    """Neural pair potential ``u(r) = eps_p (sigma_p / r)^n + S(r) MLP(rbf(r))`` (``n =
    prior_power``, 12 by default as in mdgrad).

    ``rbf`` is ``n_basis`` Gaussians on ``[0, r_cutoff]``; ``S`` is a cosine switch to zero at the
    cutoff; the repulsive prior keeps atoms apart before and during training (DiffSim).
    Params: ``{"layers": [(W, b), ...]}`` with ``n_pairs`` outputs, one per species pair.

    ``table_knots > 0`` evaluates the network at that many knots on ``[0, r_cutoff]`` per call
    of ``pair_fn`` and interpolates it by a natural cubic spline (``SplinePair``) at the pair
    distances, instead of running it on every pair: for 256 LJ atoms the network then runs on
    a few hundred points per MD step instead of ~25,000 pairs, and backpropagation through the
    MD stores the spline's few numbers per pair instead of the network's activations (mdgrad's
    56k-parameter network: 44 GB for 120 steps, direct). The network itself stays the model;
    with knots well inside the width of its Gaussians (``r_cutoff / n_basis``) the spline's
    error is far below the network's own (``tests/kernels/test_learned_pair.py``).
    """

    r_cutoff: float
    n_basis: int = 32
    hidden: tuple[int, ...] = (32, 32)
    prior_sigma: float = 0.9
    prior_epsilon: float = 1.0
    table_knots: int = 0
    prior_power: float = 12.0

    def init_params(self, key: Array, n_species: int = 1, scale: float = 0.1,
                    dtype: Any = jnp.float32) -> Params:
        """Random weights (``scale / sqrt(fan_in)`` normal) and zero biases, as ``dtype`` (the
        run's precision; float64 needs ``jax_enable_x64``)."""
        dtype = float_dtype(dtype)
        sizes = (self.n_basis, *self.hidden, n_pairs(n_species))
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            key, sub = jax.random.split(key)
            w = jax.random.normal(sub, (n_in, n_out), dtype) * (scale / np.sqrt(n_in)).item()
            layers.append((w, jnp.zeros(n_out, dtype)))
        return {"layers": layers}

    def network(self, params: Params, dr: Array) -> Array:
        """MLP outputs ``[..., n_pairs]`` for distances ``dr [...]`` (in ``dr``'s dtype)."""
        centres = jnp.linspace(0.0, self.r_cutoff, self.n_basis, dtype=dr.dtype)
        width = self.r_cutoff / self.n_basis
        x = jnp.exp(-(((dr[..., None] - centres) / width) ** 2))
        *hidden, last = params["layers"]
        for w, b in hidden:
            x = jax.nn.silu(x @ w + b)
        return x @ last[0] + last[1]

    def pair_fn(self, params: Params) -> Callable[..., Array]:
        rc = self.r_cutoff
        if self.table_knots:
            table = SplinePair(r_min=0.0, r_cutoff=rc, n_knots=self.table_knots)
            knots = jnp.asarray(table.knots, params["layers"][0][0].dtype)
            net = table.pair_fn({"u": self.network(params, knots).T})
        else:
            def net(dr: Array, pair_id: Array = 0) -> Array:
                out = self.network(params, dr)
                return jnp.take_along_axis(
                    out, jnp.broadcast_to(pair_id, dr.shape)[..., None], -1)[..., 0]

        def u(dr: Array, pair_id: Array = 0, **_) -> Array:
            switch = 0.5 * (jnp.cos(jnp.pi * jnp.clip(dr / rc, 0.0, 1.0)) + 1.0)
            return self.prior_epsilon * (self.prior_sigma / dr) ** self.prior_power + \
                switch * net(dr, pair_id=pair_id)

        return u


def model_energy_neighbor_list(
    displacement_fn: space.DisplacementFn,
    box: Array,
    model: SplinePair | NeuralPair,
    r_cutoff: float,
    *,
    species: Array | None = None,
    n_species: int = 1,
    dr_threshold: float = DEFAULT_SKIN,
    mode: str = "truncated",
    capacity_multiplier: float = 1.25,
    format: partition.NeighborListFormat = partition.OrderedSparse,
    list_cutoff: float | None = None,
) -> tuple[partition.NeighborFn, Callable[..., Array]]:
    """Neighbour-listed energy of a spline or neural pair model (``list_cutoff`` as in
    ``kernels.potentials.pair_energy_neighbor_list``).

    Returns ``(neighbor_fn, energy_fn)`` with ``energy_fn(R, neighbor, params, strain=0.) -> []``;
    ``R: [n_atoms, 3]``, ``species: [n_atoms]`` int.
    """
    metric = strained_metric(displacement_fn)
    pair_id = jnp.asarray(pair_index_matrix(n_species)) if species is not None else 0
    neighbor_fn = neighbor_list(
        displacement_fn, box, max(r_cutoff, list_cutoff or 0.0), dr_threshold, format=format,
        capacity_multiplier=capacity_multiplier,
    )

    def energy_fn(R: Array, neighbor: partition.NeighborList, params: Params,
                  strain: Array = 0.0, **kwargs) -> Array:
        u = with_cutoff(model.pair_fn(params), r_cutoff, mode)
        fn = smap.pair_neighbor_list(u, metric, species=species, pair_id=pair_id)
        return fn(R, neighbor, strain=strain, **kwargs)

    return neighbor_fn, energy_fn
