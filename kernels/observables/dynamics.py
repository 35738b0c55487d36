"""Transport observables from trajectories: unwrapping, MSD, VACF and diffusion coefficients.

Follows the standard estimators (Allen & Tildesley, "Computer Simulation of Liquids", ch. 8) and
the diffusivity metric of MDsim ("Forces are not enough", Fu et al. 2022):

- MSD(t) = < |r_i(t0 + t) - r_i(t0)|^2 >, averaged over atoms and over every time origin t0
  (the multiple-origin, FFT-based algorithm of Calandrini et al. 2011, nMoldyn), and
  D = slope / (2 dim) of a straight-line fit of MSD against t (Einstein relation).
- VACF(t) = < v_i(t0) . v_i(t0 + t) >, same averaging, and the Green-Kubo relation
  D = (1 / dim) * integral_0^inf VACF(t) dt (trapezoid rule).

Shapes: trajectories are `[n_frames, n, dim]`; results are `[n_lags]` with lag `k` at time
`k * dt_frame`. Units: MSD in length^2, VACF in (length/time)^2, D in length^2/time, in whatever
units the inputs use (`dt_frame` is the time between stored frames, not the MD step).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array


def unwrap(frames: Array, displacement_fn: Callable[..., Array]) -> Array:
    """Unwrap a periodic trajectory by accumulating minimum-image steps between frames.

    Valid only if no particle moves more than half a box side between consecutive frames (the
    minimum image of a longer step is a different, shorter vector); store frames often enough.

    Args:
      frames: wrapped positions `[n_frames, n, dim]`.
      displacement_fn: `jax_md.space` displacement function of the box.

    Returns:
      `[n_frames, n, dim]` continuous positions, equal to `frames[0]` at frame 0.
    """
    step_fn = jax.vmap(jax.vmap(displacement_fn))  # over frames, then atoms
    steps = step_fn(frames[1:], frames[:-1])  # [n_frames - 1, n, dim]
    return jnp.concatenate([frames[:1], frames[:1] + jnp.cumsum(steps, axis=0)], axis=0)


def _n_lags(n_frames: int, max_lag: int | None) -> int:
    max_lag = n_frames - 1 if max_lag is None else max_lag
    if not 0 <= max_lag < n_frames:
        raise ValueError(f"max_lag must be in [0, {n_frames - 1}], got {max_lag}")
    return max_lag + 1


def _correlation_sum(x: Array) -> Array:
    """sum_t x_t . x_{t+m} (dot over the last axis) for m = 0..T-1, via zero-padded FFT: [T, n]."""
    T = x.shape[0]
    f = jnp.fft.rfft(x, n=2 * T, axis=0)
    return jnp.sum(jnp.fft.irfft(f * jnp.conj(f), n=2 * T, axis=0)[:T], axis=-1)


def msd(unwrapped: Array, max_lag: int | None = None) -> Array:
    """Mean squared displacement with every frame as a time origin.

    Args:
      unwrapped: continuous positions `[n_frames, n, dim]` (see `unwrap`).
      max_lag: largest lag in frames (static); default `n_frames - 1`. Long lags have few
        origins and are noisy; fit D on the well-sampled part (see `diffusion_coefficient`).

    Returns:
      `[max_lag + 1]` MSD in length^2; entry k is the lag `k * dt_frame`, entry 0 is 0.
    """
    T = unwrapped.shape[0]
    n_lags = _n_lags(T, max_lag)
    x = unwrapped - jnp.mean(unwrapped, axis=0)  # MSD is shift-invariant; this keeps FFT precise
    sq = jnp.sum(x**2, axis=-1)  # [T, n]
    zero = jnp.zeros_like(sq[:1])
    head = jnp.concatenate([zero, jnp.cumsum(sq, axis=0)[:-1]])  # sum_{t < m} |x_t|^2
    tail = jnp.concatenate([zero, jnp.cumsum(sq[::-1], axis=0)[:-1]])  # sum_{t >= T-m} |x_t|^2
    n_origins = (T - jnp.arange(T))[:, None]
    s1 = (2.0 * jnp.sum(sq, axis=0) - head - tail) / n_origins
    s2 = _correlation_sum(x) / n_origins
    return jnp.mean(s1 - 2.0 * s2, axis=-1)[:n_lags]


def diffusion_coefficient(
    msd_values: Array,
    dt_frame: float | Array,
    fit_range: tuple[float, float] = (0.1, 0.5),
    dim: int = 3,
) -> Array:
    """Self-diffusion coefficient from a least-squares line MSD = 2 dim D t + c.

    Args:
      msd_values: `[n_lags]` MSD (length^2) from `msd`, lag k at time `k * dt_frame`.
      dt_frame: time between frames (time units).
      fit_range: `(start_frac, end_frac)` of the lag range `[0, n_lags - 1]` to fit over (static);
        the default skips the ballistic start and the noisy long lags.
      dim: spatial dimension (3: MSD = 6 D t).

    Returns:
      D, scalar, length^2 / time.
    """
    n_lags = msd_values.shape[-1]
    start = round(fit_range[0] * (n_lags - 1))
    stop = round(fit_range[1] * (n_lags - 1))
    if stop - start < 1:
        raise ValueError(f"fit_range {fit_range} selects fewer than 2 of {n_lags} lags")
    t = jnp.arange(start, stop + 1) * dt_frame
    y = msd_values[..., start : stop + 1]
    tc = t - jnp.mean(t)
    slope = jnp.sum(tc * (y - jnp.mean(y, axis=-1, keepdims=True)), axis=-1) / jnp.sum(tc**2)
    return slope / (2.0 * dim)


def vacf(velocities: Array, max_lag: int | None = None, normalize: bool = True) -> Array:
    """Velocity autocorrelation function with every frame as a time origin.

    Args:
      velocities: `[n_frames, n, dim]` velocities (length/time).
      max_lag: largest lag in frames (static); default `n_frames - 1`.
      normalize: divide by the lag-0 value, so VACF(0) = 1.

    Returns:
      `[max_lag + 1]`: < v(t0) . v(t0 + k dt_frame) > in (length/time)^2 (dot product over the
      dim components, mean over atoms and origins), or that divided by its value at lag 0.
    """
    T = velocities.shape[0]
    n_lags = _n_lags(T, max_lag)
    n_origins = (T - jnp.arange(T))[:, None]
    c = jnp.mean(_correlation_sum(velocities) / n_origins, axis=-1)[:n_lags]
    return c / c[0] if normalize else c


def diffusion_from_vacf(vacf_values: Array, dt_frame: float | Array, dim: int = 3) -> Array:
    """Green-Kubo diffusion coefficient D = (1/dim) * integral of the VACF (trapezoid rule).

    Args:
      vacf_values: `[n_lags]` unnormalised VACF from `vacf(..., normalize=False)`,
        (length/time)^2; it should have decayed to ~0 by the last lag.
      dt_frame: time between frames (time units).
      dim: spatial dimension.

    Returns:
      D, scalar, length^2 / time.
    """
    return jnp.trapezoid(vacf_values, dx=dt_frame, axis=-1) / dim
