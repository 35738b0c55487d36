"""Radial functions of a trained model as cubic tables, for fast MD.

In SchNet-like models most of the work of a force evaluation is the filter network ``W(r)``,
an MLP of the interatomic distance alone, evaluated on every edge in every interaction block
(about 97 % of the floating-point work of SchNet on 64 waters). With the weights fixed, as in
MD, ``W`` is a smooth function of one variable: it is tabulated once on a uniform grid and
interpolated, as LAMMPS tabulates pair potentials and DeePMD-kit's model compression (Lu et al.,
"DP Compress", J. Chem. Theory Comput. 18, 5559 (2022)) tabulates its embedding net.

The interpolant is the cubic Hermite spline of the values and exact derivatives (``jax.jvp``)
at the grid points: continuous with a continuous first derivative, so forces (its gradient) are
continuous and the energy is conserved; its error is ``h^4 / 384 max|W''''|``, below float32
rounding for the default grid (measured in ``tests/kernels/test_mlff_tables.py``). Each
interval stores its four polynomial coefficients, so a lookup is one gather and three
multiply-adds per feature.

Written by hand: jax has linear interpolation only (``jnp.interp``, one feature at a time), and
``interpax`` / ``scipy`` splines are not C1-Hermite on precomputed derivatives in one gather.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jnp.ndarray
#: grid points on [0, cutoff]: 0.005 Å apart at a 5 Å cutoff
DEFAULT_POINTS = 1001


def cubic_table(fn: Callable[[Array], Array], cutoff: float, n_points: int = DEFAULT_POINTS
                ) -> Array:
    """Coefficients ``[4, n_points - 1, ...]`` of the Hermite spline of ``fn`` on ``n_points``
    equally spaced distances in ``[0, cutoff]`` (Å). ``fn`` maps ``r: [n]`` to ``[n, ...]``
    (computed in float64 when x64 is enabled); coefficient ``k`` multiplies ``t^k``, ``t`` the
    position within an interval in ``[0, 1)``. ``ValueError`` for fewer than 2 points."""
    if n_points < 2:
        raise ValueError(f"a table needs at least 2 points, got {n_points}")
    h = cutoff / (n_points - 1)
    r = jnp.linspace(0.0, cutoff, n_points)
    values, slopes = jax.jvp(fn, (r,), (jnp.ones_like(r),))
    p0, p1 = values[:-1], values[1:]
    m0, m1 = slopes[:-1] * h, slopes[1:] * h
    return jnp.stack([p0, m0, 3 * (p1 - p0) - 2 * m0 - m1, 2 * (p0 - p1) + m0 + m1])


def locate(r: Array, n_intervals: int, cutoff: float) -> tuple[Array, Array]:
    """``(i, t)``: the interval ``[n_edges]`` int32 of each distance ``r: [n_edges]`` (Å) on a
    table of ``n_intervals`` over ``[0, cutoff]``, and the position within it ``[n_edges]`` in
    ``[0, 1]``, as ``lookup`` takes them (shared by every table of one model)."""
    x = r * (n_intervals / cutoff)
    i = jnp.clip(jnp.floor(x), 0, n_intervals - 1).astype(jnp.int32)
    return i, jnp.clip(x - i, 0.0, 1.0)


def _polynomial(table: Array, i: Array, t: Array) -> Array:
    """``sum_k table[k, i] t^k`` by Horner's rule: ``table: [K, n_intervals, F]``, ``i: [n]``,
    ``t: [n, 1]`` -> ``[n, F]``. Each coefficient is gathered on its own, used once, so XLA
    fuses the gathers into the polynomial instead of writing ``[n, K, F]`` out (2x slower on
    CPU for 64 waters)."""
    out = table[-1][i]
    for k in range(table.shape[0] - 2, -1, -1):
        out = out * t + table[k][i]
    return out


@jax.custom_jvp
def _spline(table: Array, i: Array, t: Array) -> Array:
    return _polynomial(table, i, t)


@_spline.defjvp
def _spline_jvp(primals, tangents):
    # The slope as a polynomial of its own (coefficients k c_k): XLA's derivative of Horner's
    # rule runs 20x slower on CPU. Tables are constants: no derivative in the table.
    table, i, t = primals
    slope = table[1:] * jnp.arange(1, table.shape[0], dtype=table.dtype)[:, None, None]
    return _spline(table, i, t), _polynomial(slope, i, t) * tangents[2]


def lookup(table: Array, i: Array, t: Array) -> Array:
    """The tabulated function at ``locate``'s ``(i, t)``: ``table: [4, n_intervals, F]`` (one
    ``cubic_table``) -> ``[n_edges, F]`` in the table's dtype, differentiable in ``t`` (not in
    the table, a constant). Distances at or beyond the cutoff get the last interval's end,
    zero for the tabulated functions, which carry a cutoff that vanishes there with its slope:
    mask such edges out if they may lie further."""
    return _spline(jax.lax.stop_gradient(table), i, t.astype(table.dtype)[:, None])


def filter_tables(filters: Any, params: Any, cutoff: float, n_points: int = DEFAULT_POINTS
                  ) -> Array:
    """Cubic tables ``[n_blocks, 4, n_points - 1, F]`` of a flax module ``filters`` that maps
    ``r: [n]`` to a list of ``n_blocks`` arrays ``[n, F]`` (each interaction block's radial
    filter, cutoff included), with its ``params`` (computed in float64 when x64 is on)."""
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    bound = filters.bind({"params": jax.tree.map(lambda x: jnp.asarray(x, dtype), params)})
    table = cubic_table(lambda r: jnp.stack(bound(r), axis=1), cutoff, n_points)
    return jnp.moveaxis(table, 2, 0)  # [4, n - 1, n_blocks, F] -> [n_blocks, 4, n - 1, F]
