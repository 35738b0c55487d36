"""Radial pieces shared by the hand-written architectures: smooth cutoffs and radial bases.

- ``cosine_cutoff``: ``0.5 (cos(pi r / r_c) + 1)`` inside ``r_c``, 0 beyond (SchNet, PaiNN);
- ``polynomial_cutoff``: the p = 6 envelope of DimeNet / NequIP, smooth to second order;
- ``gaussian_basis``: ``exp(-gamma (r - mu_k)^2)`` on ``n`` centres in ``[0, r_c]`` (SchNet);
- ``bessel_basis``: ``sqrt(2 / r_c) sin(k pi r / r_c) / r`` (DimeNet, PaiNN, NequIP).

All take ``r: [...]`` in Å and return ``[..., n]`` (bases) or ``[...]`` (cutoffs) in r's dtype.
"""

from __future__ import annotations

import jax.numpy as jnp

Array = jnp.ndarray


def cosine_cutoff(r: Array, cutoff: float) -> Array:
    return jnp.where(r < cutoff, 0.5 * (jnp.cos(jnp.pi * r / cutoff) + 1.0), 0.0)


def polynomial_cutoff(r: Array, cutoff: float, p: int = 6) -> Array:
    x = r / cutoff
    f = (1.0 - 0.5 * (p + 1) * (p + 2) * x**p + p * (p + 2) * x ** (p + 1)
         - 0.5 * p * (p + 1) * x ** (p + 2))
    return jnp.where(x < 1.0, f, 0.0)


def gaussian_basis(r: Array, cutoff: float, n: int, start: float = 0.0) -> Array:
    mu = jnp.linspace(start, cutoff, n, dtype=r.dtype)
    width = (cutoff - start) / (n - 1)
    return jnp.exp(-0.5 * ((r[..., None] - mu) / width) ** 2)


def bessel_basis(r: Array, cutoff: float, n: int) -> Array:
    k = jnp.arange(1, n + 1, dtype=r.dtype)
    r = jnp.maximum(r, 1e-6)[..., None]
    return jnp.sqrt(2.0 / cutoff) * jnp.sin(k * jnp.pi * r / cutoff) / r
