"""Unwrapping, MSD, VACF and diffusion coefficients against synthetic processes with known D."""

import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.observables import diffusion_coefficient, diffusion_from_vacf, msd, unwrap, vacf


def _numpy_msd(x: np.ndarray, lag: int) -> float:
    """Multiple-origin MSD at one lag by direct summation (independent of the FFT route)."""
    d = x[lag:] - x[: len(x) - lag]
    return float(np.mean(np.sum(d**2, axis=-1)))


def _numpy_vacf(v: np.ndarray, lag: int) -> float:
    return float(np.mean(np.sum(v[lag:] * v[: len(v) - lag], axis=-1)))


def test_random_walk_unwrap_msd_and_diffusion():
    # Expected: a Gaussian random walk with per-dimension step variance 2 D dt has
    # MSD(t) = 6 D t exactly in expectation (Einstein), so the fit must return D = 0.5 within 5%
    # (the estimate varies by ~1% between seeds).
    # Unwrapping must reproduce the unwrapped walk (steps 0.1 << L/2), and the FFT MSD must match
    # direct numpy summation at every checked lag.
    D, dt, L, n, T = 0.5, 0.01, 5.0, 400, 1000
    rng = np.random.default_rng(0)
    steps = rng.normal(0.0, np.sqrt(2 * D * dt), (T - 1, n, 3))
    start = rng.uniform(0.0, L, (1, n, 3))
    true = np.concatenate([start, start + np.cumsum(steps, axis=0)])
    wrapped = true % L
    disp, _ = space.periodic(L)
    unwrapped = unwrap(jnp.asarray(wrapped), disp)
    np.testing.assert_allclose(unwrapped, true, atol=1e-9)

    m = msd(unwrapped, max_lag=200)
    assert m.shape == (201,)
    for lag in [0, 1, 17, 100, 200]:
        np.testing.assert_allclose(m[lag], _numpy_msd(true, lag), rtol=1e-9, atol=1e-12)
    D_fit = float(diffusion_coefficient(m, dt))
    assert abs(D_fit - D) / D < 0.05


def test_diffusion_coefficient_of_exact_line():
    # Expected: MSD = 6 D t + c exactly (any c) gives D back to rounding, over any fit range;
    # and in 2D MSD = 4 D t.
    t = np.arange(101) * 0.2
    np.testing.assert_allclose(
        diffusion_coefficient(jnp.asarray(6 * 1.7 * t + 0.3), 0.2), 1.7, rtol=1e-12
    )
    np.testing.assert_allclose(
        diffusion_coefficient(jnp.asarray(4 * 0.9 * t), 0.2, fit_range=(0.0, 1.0), dim=2),
        0.9,
        rtol=1e-12,
    )


def _ornstein_uhlenbeck(
    seed: int, n: int, T: int, gamma: float, kT: float, m: float, dt: float
) -> np.ndarray:
    """Exact discretisation of dv = -gamma v dt + sqrt(2 gamma kT / m) dW, from equilibrium."""
    rng = np.random.default_rng(seed)
    a = np.exp(-gamma * dt)
    s = np.sqrt(kT / m * (1 - a**2))
    v = np.empty((T, n, 3))
    v[0] = rng.normal(0.0, np.sqrt(kT / m), (n, 3))
    for t in range(1, T):
        v[t] = a * v[t - 1] + s * rng.standard_normal((n, 3))
    return v


def test_vacf_of_ornstein_uhlenbeck_process():
    # Expected (analytic, OU process): VACF(t) = (3 kT / m) exp(-gamma t), so the normalised
    # VACF is exp(-gamma t) and Green-Kubo gives D = kT / (m gamma) = 0.75. Statistical
    # tolerances: 0.015 absolute on the normalised VACF, 4% on D (n*3 = 768 independent series).
    gamma, kT, m, dt = 1.0, 1.5, 2.0, 0.05
    v = _ornstein_uhlenbeck(1, n=256, T=4000, gamma=gamma, kT=kT, m=m, dt=dt)
    max_lag = 200  # t_max = 10 / gamma, exp(-10) ~ 5e-5
    c = vacf(jnp.asarray(v), max_lag=max_lag, normalize=False)
    for lag in [0, 5, 50]:
        np.testing.assert_allclose(c[lag], _numpy_vacf(v, lag), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c[0], 3 * kT / m, rtol=0.02)
    t = np.arange(max_lag + 1) * dt
    c_norm = vacf(jnp.asarray(v), max_lag=max_lag)
    sel = t <= 3.0 / gamma
    np.testing.assert_allclose(c_norm[sel], np.exp(-gamma * t[sel]), atol=0.015)
    D = float(diffusion_from_vacf(c, dt))
    assert abs(D - kT / (m * gamma)) / (kT / (m * gamma)) < 0.04


def test_diffusion_from_exact_exponential_vacf():
    # Expected: (1/3) * int_0^tmax 3 (kT/m) exp(-gamma t) dt = kT/(m gamma) (1 - exp(-gamma tmax));
    # the trapezoid rule is within (gamma dt)^2 / 12 = 2e-4 relative of it for gamma dt = 0.05.
    gamma, kT, m, dt = 2.0, 1.0, 3.0, 0.025
    t = np.arange(401) * dt
    c = 3 * kT / m * np.exp(-gamma * t)
    exact = kT / (m * gamma) * (1 - np.exp(-gamma * t[-1]))
    np.testing.assert_allclose(diffusion_from_vacf(jnp.asarray(c), dt), exact, rtol=3e-4)
