"""How one iteration's simulations become the next parameters ``theta`` (optimiser variables,
``workbench.fit.parameters``). Losses and gradients are summed over state points.

- DiffSim with ``optimizer="adam"`` (the default for a spline or network): one optax Adam
  step on the loss gradient, under a reduce-on-plateau learning-rate schedule
  (``optax.contrib.reduce_on_plateau``).
- DiffSim with ``optimizer="gauss_newton"`` (the default for analytic families): for a few
  analytic parameters, Levenberg-Marquardt steps with the Jacobian d g / d theta taken
  through the simulation (forward mode over the ``grad_steps`` truncated windows), at a
  fixed step. Why: one g(r) determines some
  combinations of parameters far better than others. For LJ at rho* = 0.7, T* = 1.2 the loss
  Hessian in (ln sigma, ln epsilon) has eigenvalues ~3,000 apart (the soft direction is
  epsilon with a little sigma: a softer well looks like a smaller core); Adam's per-parameter
  normalisation then moves epsilon as far as sigma on every step and, after sigma has
  converged, crawls along the valley (measured: epsilon drifts ~0.05 % per iteration from
  12 % off). Gauss-Newton follows the valley in ~10-20 iterations; the rest of the fit
  averages out sampling noise (``workbench.fit.convergence``), which sets the accuracy: g(r) of a
  10,000-step run of 108 atoms pins ln epsilon only to ~2 % (measured). Large steps add a small
  bias (the noise-driven swings of the iterates meet the curvature of g(theta), amplified by
  the weak direction), hence the moderate default ``gn_step``.
- IBI: the knots of a spline table move by ``kernels.ibi.ibi_update``, averaged over state
  points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
from jax.flatten_util import ravel_pytree

from kernels import diffsim, ibi
from workbench.fit.parameters import pair_rows
from workbench.fit.points import StatePoint
from workbench.fit.settings import MAX_GAUSS_NEWTON_PARAMS, FitSettings


def make_optimizer(settings: FitSettings) -> optax.GradientTransformation:
    """Adam chained with the reduce-on-plateau schedule, or for Gauss-Newton a fixed
    ``-gn_step`` scale of the direction with no schedule: its late iterates fluctuate with the
    sampling noise, which the converged mean averages out (``workbench.fit.convergence``);
    shrinking the step on every noisy plateau would freeze them at one noisy value instead
    (measured: epsilon 4.5 % off with a standard error of 0.06 %)."""
    if settings.gauss_newton:
        return optax.chain(optax.scale(-settings.gn_step), optax.identity())
    return optax.chain(optax.adam(settings.learning_rate), optax.contrib.reduce_on_plateau(
        factor=settings.plateau_factor, patience=settings.plateau_patience,
        accumulation_size=settings.plateau_accumulation, min_scale=settings.plateau_min_scale))


def learning_rate_scale(opt_state) -> float:
    """The plateau schedule's current factor on the learning rate (1 until the first drop;
    always 1 for Gauss-Newton)."""
    return float(getattr(opt_state[1], "scale", 1.0))


def adam_step(optimizer: optax.GradientTransformation, opt_state, theta: dict, grads: dict,
              loss) -> tuple[dict, Any]:
    """``(theta, opt_state)`` after one step on the summed gradient ``grads``."""
    updates, opt_state = optimizer.update(grads, opt_state, theta, value=loss)
    return optax.apply_updates(theta, updates), opt_state


@dataclass(frozen=True)
class GaussNewtonMeans:
    """Running means of ``J^T J`` (summed over state points) and of each point's J, with the
    weight that bias-corrects them (as Adam's moments)."""

    jtj: Any = None  # [n_params, n_params]
    jbar: Any = None  # per state point: [n_g, n_params]
    weight: float = 0.0


def gauss_newton_step(settings: FitSettings, optimizer: optax.GradientTransformation,
                      opt_state, theta: dict, jacobians: list, loss,
                      means: GaussNewtonMeans) -> tuple[dict, Any, GaussNewtonMeans]:
    """One Levenberg-Marquardt step, scaled by ``gn_step``, each
    parameter's change clipped to ``max_step``. ``jacobians``: ``(J [n_g, n_params], r [n_g])``
    per state point (r = g - g_target, raveled). Returns ``(theta, opt_state, means)``.

    J comes from a short truncated window and is noisy. Both ``J^T J`` and J are running
    averages (weight ``gn_memory`` on the past, bias-corrected as in Adam) and the step uses
    ``mean(J)^T r``: a fixed linear map of this iteration's residual r, so sampling noise
    averages out over iterations instead of being multiplied by J's own noise; the noise
    left in ``mean(J^T J)`` (which exceeds ``mean(J)^T mean(J)``) damps the weakly
    determined directions, which keeps the iteration stable.
    """
    flat, unravel = ravel_pytree(theta)
    if flat.size > MAX_GAUSS_NEWTON_PARAMS:
        raise ValueError(f"Gauss-Newton is for a few parameters, this fit has {flat.size}; "
                         "use optimizer='adam'")
    # the normal equations in float64 whatever the run's precision: J^T J squares the
    # valley's condition number (~3,000 for LJ) and its running mean sums ~1 / (1 - gn_memory)
    # iterations, both beyond float32's 7 digits; they are a few numbers, so it costs nothing
    jacobians = [(jnp.asarray(jm, jnp.float64), jnp.asarray(r, jnp.float64))
                 for jm, r in jacobians]
    m = settings.gn_memory
    jtj_now = sum(jm.T @ jm for jm, _ in jacobians)
    jtj, jbar = means.jtj, means.jbar
    if jtj is None:
        jtj, jbar = 0.0 * jtj_now, [0.0 * jm for jm, _ in jacobians]
    means = GaussNewtonMeans(
        jtj=m * jtj + (1 - m) * jtj_now,
        jbar=[m * jb + (1 - m) * jm for jb, (jm, _) in zip(jbar, jacobians, strict=True)],
        weight=m * means.weight + (1 - m))
    jtr = sum(jb.T @ r for jb, (_, r) in zip(means.jbar, jacobians, strict=True))
    direction = diffsim.gauss_newton_direction(means.jtj / means.weight, jtr / means.weight,
                                               settings.gn_damping)
    updates, opt_state = optimizer.update(unravel(direction.astype(flat.dtype)), opt_state,
                                          theta, value=loss)
    updates = jax.tree_util.tree_map(
        lambda u: jnp.clip(u, -settings.max_step, settings.max_step), updates)
    return optax.apply_updates(theta, updates), opt_state, means


def ibi_step(settings: FitSettings, theta: dict, knots: np.ndarray, r_grid: np.ndarray,
             points: list[StatePoint], auxes: list[dict]) -> dict:
    """``{"u": [n_pairs, n_knots]}`` after one IBI update per state point (``knots
    [n_knots]``, ``r_grid [n_bins]`` in length units), the updates averaged."""
    knots = jnp.asarray(knots, settings.dtype)
    u, deltas = theta["u"], []
    for pt, aux in zip(points, auxes, strict=True):
        rows = jnp.asarray(pair_rows(pt.target, settings.n_species))
        new_rows = ibi.ibi_update(u[rows], knots, jnp.asarray(r_grid, settings.dtype),
                                  jnp.atleast_2d(aux["g"]), jnp.atleast_2d(pt.g_target),
                                  pt.kT, alpha=settings.ibi_alpha,
                                  g_floor=settings.ibi_g_floor, smooth=settings.ibi_smooth)
        deltas.append(u.at[rows].set(new_rows) - u)
    return {"u": u + sum(deltas) / len(deltas)}
