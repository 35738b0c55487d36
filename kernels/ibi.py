"""Iterative Boltzmann Inversion (IBI) on the knot grid of a ``SplinePair``: the classical
structure-matching baseline beside DiffSim's gradient fit.

Reyes-Soper's scheme, ``u_{k+1}(r) = u_k(r) + alpha kT ln(g_k(r) / g_target(r))``, started from
the potential of mean force ``u_0(r) = -kT ln g_target(r)`` (Reith, Puetz, Mueller-Plathe, J.
Comput. Chem. 24, 1624, 2003; used as the baseline in DiffSim, Wang et al., J. Chem. Phys. 158,
044113, 2023). Practical details handled here:

- g = 0 regions: where ``g_target`` or ``g_k`` is below ``g_floor`` (the excluded core) the
  logarithm is undefined and the sampling says nothing; there the update is zero and, with
  ``wall="extrapolate"``, the potential is continued inwards from the first reliable knot
  ``r_on`` by a repulsive wall ``u(r_on) + s r_on / 12 (1 - (r_on / r)^12)`` that matches value
  and slope ``s < 0`` there (slope at least ``kT / r_on`` in magnitude).
- The update is smoothed with a few passes of a [1, 2, 1] / 4 filter over the reliable knots
  (sampling noise in g would otherwise grow into wiggles of u).
- ``u(r_cut) = 0``: the update is shifted so that it vanishes at the last knot, keeping the
  potential continuous at the cutoff.

All functions are pure JAX (jit-able). Shapes: knots ``r_knots: [n_knots]`` (length units),
knot values ``u: [n_knots]`` or ``[n_pairs, n_knots]`` (energy units); g on its own grid
``r: [n_bins]`` with ``g: [n_bins]`` or ``[n_pairs, n_bins]`` (interpolated to the knots).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jnp.ndarray


_TINY = 1e-30


def _on_knots(r_knots: Array, r: Array, g: Array) -> Array:
    """``g`` (``[..., n_bins]`` on ``r``) at the knots, ``[..., n_knots]``: ``ln g`` is
    interpolated linearly (exact for Boltzmann-like exponential pieces; next to g = 0 bins it
    gives ~0); zero below the first bin centre, ``g[-1]`` beyond the last."""

    def interp(row: Array) -> Array:
        log_g = jnp.log(jnp.maximum(row, _TINY))
        out = jnp.exp(jnp.interp(r_knots, r, log_g, right=log_g[-1]))
        return jnp.where((r_knots < r[0]) | (out <= 1e3 * _TINY), 0.0, out)

    return interp(g) if g.ndim == 1 else jax.vmap(interp)(g)


def _first_true(mask: Array) -> Array:
    """Index of the first True of ``mask [n]`` (n - 1 if none)."""
    return jnp.where(jnp.any(mask), jnp.argmax(mask), mask.shape[0] - 1)


def repulsive_wall(u: Array, r_knots: Array, reliable: Array, kT: float | Array) -> Array:
    """``u [n_knots]`` with the knots inside the first reliable one replaced by the r^-12 wall
    of the module docstring; the reliable part is unchanged."""
    i_on = _first_true(reliable)
    h = r_knots[1] - r_knots[0]
    r_on, u_on = r_knots[i_on], u[i_on]
    u_next = u[jnp.minimum(i_on + 1, u.shape[0] - 1)]
    slope = jnp.minimum((u_next - u_on) / h, -kT / r_on)
    wall = u_on + slope * r_on / 12.0 * (1.0 - (r_on / r_knots) ** 12)
    return jnp.where(jnp.arange(u.shape[0]) < i_on, wall, u)


def _smooth(x: Array, mask: Array, passes: int) -> Array:
    """``passes`` of a [1, 2, 1] / 4 filter over the masked entries of ``x [n]`` (unmasked
    entries neither change nor contribute; the filter renormalises at the edges)."""
    m = mask.astype(x.dtype)
    for _ in range(passes):
        xm = x * m
        num = xm + 0.5 * (jnp.roll(xm, 1) + jnp.roll(xm, -1))
        den = m + 0.5 * (jnp.roll(m, 1) + jnp.roll(m, -1))
        # no wrap-around at the ends of the grid
        num = num.at[0].add(-0.5 * xm[-1]).at[-1].add(-0.5 * xm[0])
        den = den.at[0].add(-0.5 * m[-1]).at[-1].add(-0.5 * m[0])
        x = jnp.where(mask, num / jnp.where(den > 0, den, 1.0), x)
    return x


def potential_of_mean_force(r_knots: Array, r: Array, g_target: Array, kT: float | Array, *,
                            g_floor: float = 1e-3, wall: bool = True) -> Array:
    """IBI's starting potential ``u_0 = -kT ln g_target`` on the knots (energy units), shifted to
    zero at the last knot, with the repulsive wall inside the core (``g_target < g_floor``).

    Args:
      r_knots: ``[n_knots]`` spline knots (length units, uniform).
      r, g_target: the target g on its grid, ``[n_bins]`` and ``[n_bins]`` or
        ``[n_pairs, n_bins]``.
      kT: thermal energy of the target state point (energy units).

    Returns:
      ``[n_knots]`` or ``[n_pairs, n_knots]`` knot values.
    """
    gt = _on_knots(r_knots, r, g_target)

    def one(g: Array) -> Array:
        reliable = g > g_floor
        u = -kT * jnp.log(jnp.where(reliable, g, 1.0))
        u = u - u[-1]
        return repulsive_wall(u, r_knots, reliable, kT) if wall else u

    return one(gt) if gt.ndim == 1 else jax.vmap(one)(gt)


def ibi_update(u: Array, r_knots: Array, r: Array, g_sim: Array, g_target: Array,
               kT: float | Array, *, alpha: float | Array = 1.0, g_floor: float = 1e-3,
               smooth: int = 1, wall: bool = True, max_change: float | None = None) -> Array:
    """One IBI step ``u + alpha kT ln(g_sim / g_target)`` on the knots (module docstring).

    Args:
      u: ``[n_knots]`` or ``[n_pairs, n_knots]`` current knot values (energy units).
      r_knots: ``[n_knots]`` knots (length units).
      r: ``[n_bins]`` grid of ``g_sim`` and ``g_target`` (``[n_bins]`` or ``[n_pairs, n_bins]``).
      kT: thermal energy (energy units); alpha: damping (dimensionless, 0 < alpha <= 1).
      g_floor: g below this counts as "no data" (core region).
      smooth: passes of the [1, 2, 1] / 4 filter over the update.
      wall: re-extrapolate the repulsive wall inside the core after the update.
      max_change: clip the update to ``[-max_change, max_change]`` (energy units) if given.

    Returns:
      The new knot values, shape and dtype of ``u`` (the fit's precision, whatever the grids'),
      zero at the last knot.
    """
    gs = _on_knots(r_knots, r, g_sim)
    gt = _on_knots(r_knots, r, g_target)

    def one(u: Array, gs: Array, gt: Array) -> Array:
        reliable = (gs > g_floor) & (gt > g_floor)
        du = alpha * kT * jnp.log(jnp.where(reliable, gs, 1.0) / jnp.where(reliable, gt, 1.0))
        du = _smooth(jnp.where(reliable, du, 0.0), reliable, smooth)
        if max_change is not None:
            du = jnp.clip(du, -max_change, max_change)
        new = u + du
        new = new - new[-1]
        return repulsive_wall(new, r_knots, reliable, kT) if wall else new

    new = one(u, gs, gt) if u.ndim == 1 else jax.vmap(one)(u, gs, gt)
    return new.astype(u.dtype)


def rdf_distance(r: Array, g: Array, g_target: Array) -> Array:
    """``integral |g - g_target| dr`` by the trapezoid rule over ``r [n_bins]`` (length units;
    summed over pairs for ``[n_pairs, n_bins]``); IBI's and DiffSim's convergence measure."""
    return jnp.sum(jnp.trapezoid(jnp.abs(g - g_target), r, axis=-1))
