"""The reciprocal-space sum of particle-mesh Ewald, computed in the positions' dtype.

Same formulas as jax_md's ``mm_forcefields.nonbonded.electrostatics.PMECoulomb`` (smooth PME,
Essmann et al., J. Chem. Phys. 103, 8577, 1995: cardinal B-spline charge assignment of order 4
or 5, the B-spline moduli with OpenMM's fix for tiny moduli, and the Gaussian influence
function), which ``kernels.forcefields`` otherwise uses unchanged. Why a copy: jax_md creates
the charge grid, the B-spline weights and the wave vectors in JAX's default float type, which is
float64 whenever 64-bit mode is on, so a float32 simulation in a process that also runs float64
jobs would do its PME in float64 (slower, and with a float64 energy). Here every array follows
the positions (float32 positions give a float32 grid and complex64 FFTs); the B-spline moduli
depend only on the grid and are computed once, in float64 numpy, then cast.

``typed_pme(pme)`` returns a ``PMECoulomb`` whose ``coulomb_recip_pme`` is this one, to hand to
jax_md's AMBER energy in place of the original.

Units: positions and box in Å, ``alpha`` in 1/Å, charges in e; the energy is jax_md's
(multiply by ``COULOMB_CONSTANT`` for kcal/mol). Shapes: ``R: [n_atoms, 3]``, box ``[]``, ``[3]``
or ``[3, 3]`` (a strained box, from jax_md's ``perturbation``), grid ``(nx, ny, nz)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax_md import space
from jax_md.mm_forcefields.nonbonded.electrostatics import PMECoulomb

Array = jnp.ndarray


def bspline_weights(w: Any, order: int) -> list:
    """Cardinal B-spline charge-assignment weights of ``order`` at fractional offsets ``w`` in
    [0, 1): a list of ``order`` arrays shaped like ``w`` (jax or numpy, dtype of ``w``), by the
    recursion of Essmann et al. eq. 4.1 in the order jax_md evaluates it."""
    if order not in (4, 5):
        raise ValueError(f"unsupported PME spline order {order}")
    c = [1.0 - w, w] + [0.0 * w] * (order - 2)
    for k in range(2, order):  # elevate order k -> k + 1
        div = 1.0 / k
        new = list(c)
        new[k] = div * w * c[k - 1]
        for j in range(k - 1, 0, -1):
            new[j] = div * ((w + float(k - j)) * c[j - 1] + (float(j + 1) - w) * c[j])
        new[0] = div * (1.0 - w) * c[0]
        c = new
    return c


def bspline_moduli(grid: tuple[int, int, int], order: int) -> np.ndarray:
    """``[nx, ny, nz]`` float64 product of the inverse B-spline moduli ``|b(m)|^2`` of the three
    axes (Essmann et al. eq. 4.7), with OpenMM's fix: a modulus below 1e-7 is replaced by the
    mean of its neighbours. Depends only on the grid and the order."""
    M = np.asarray(bspline_weights(1.0, order)[1:][::-1], dtype=np.float64)
    k = np.arange(order - 1)

    def inverse_modulus(n: int) -> np.ndarray:
        m = np.fft.fftfreq(n)
        prefix = np.exp(2 * np.pi * 1j * (order - 1) * m)
        denom = np.sum(M[None, :] * np.exp(2 * np.pi * 1j * m[:, None] * k[None, :]), axis=-1)
        mod = 1.0 / np.abs(prefix / denom) ** 2
        mod = np.where(mod < 1.0e-7, 0.5 * (np.roll(mod, 1) + np.roll(mod, -1)), mod)
        return 1.0 / mod

    bx, by, bz = (inverse_modulus(int(n)) for n in grid)
    return bx[:, None, None] * by[None, :, None] * bz[None, None, :]


def reciprocal_energy_fn(charge: Array, box: Array, grid: Any, alpha: float,
                         order: int = 5) -> Callable[..., Array]:
    """``energy(R, charge=, box=, perturbation=) -> []``: the PME reciprocal-space energy
    (before ``COULOMB_CONSTANT``) in the dtype of ``R``, with jax_md's keyword overrides
    (charges ``[n_atoms]``, a box, or a ``[3, 3]`` strain ``perturbation`` that scales the
    box)."""
    grid = tuple(int(g) for g in np.asarray(grid).reshape(-1))
    moduli = bspline_moduli(grid, order)
    freqs = [np.fft.fftfreq(g) for g in grid]
    default_ibox = space.inverse(box)

    def energy(R: Array, **kwargs) -> Array:
        dtype = R.dtype
        q = jnp.asarray(kwargs.pop("charge", charge), dtype)
        overridden = "box" in kwargs
        _box = kwargs.pop("box", box)
        perturbation = kwargs.pop("perturbation", None)
        if perturbation is not None:
            _box = _box * perturbation
            overridden = True
        _box = jnp.asarray(_box, dtype)
        ibox = space.inverse(_box) if overridden else jnp.asarray(default_ibox, dtype)
        dims = jnp.asarray(grid, dtype)
        K = jnp.asarray(grid, jnp.int32)

        # charges onto the grid: order^3 points per atom
        u = space.raw_transform(ibox, R) * dims  # [n, 3] grid coordinates
        base = jnp.floor(u)
        c = jnp.stack(bspline_weights(u - base, order), axis=-1)  # [n, 3, order]
        points = jnp.mod(base.astype(jnp.int32)[..., None] + jnp.arange(order, dtype=jnp.int32),
                         K[:, None])  # [n, 3, order]
        weight = q[:, None, None, None] * (c[:, 0, :, None, None] * c[:, 1, None, :, None]
                                           * c[:, 2, None, None, :])
        shape = weight.shape
        ix = jnp.broadcast_to(points[:, 0, :, None, None], shape).reshape(-1)
        iy = jnp.broadcast_to(points[:, 1, None, :, None], shape).reshape(-1)
        iz = jnp.broadcast_to(points[:, 2, None, None, :], shape).reshape(-1)
        Q = jnp.zeros(grid, dtype).at[ix, iy, iz].add(weight.reshape(-1))
        F = jnp.fft.fftn(Q)

        mx, my, mz = jnp.meshgrid(*[jnp.asarray(f, dtype) for f in freqs], indexing="ij")
        if _box.ndim == 0:
            m_2 = (mx**2 + my**2 + mz**2) * (dims[0] * ibox) ** 2
            volume = _box ** R.shape[-1]
        elif _box.ndim == 1:
            m_2 = ((mx * (dims[0] * ibox[0])) ** 2 + (my * (dims[1] * ibox[1])) ** 2
                   + (mz * (dims[2] * ibox[2])) ** 2)
            volume = jnp.prod(_box)
        else:  # triclinic (or a strained orthorhombic box)
            m = (ibox[None, None, None, 0] * mx[..., None] * dims[0]
                 + ibox[None, None, None, 1] * my[..., None] * dims[1]
                 + ibox[None, None, None, 2] * mz[..., None] * dims[2])
            m_2 = jnp.sum(m**2, axis=-1)
            volume = jnp.linalg.det(_box)
        mask = m_2 != 0
        m_2 = jnp.where(mask, m_2, 1.0)  # the m = 0 mode is excluded
        influence = 1 / (2 * jnp.pi * volume) * jnp.exp(-(jnp.pi**2) * m_2 / alpha**2) / m_2
        return jnp.sum(mask * influence * jnp.asarray(moduli, dtype) * jnp.abs(F) ** 2)

    return energy


class TypedPMECoulomb(PMECoulomb):
    """jax_md's ``PMECoulomb`` with the reciprocal sum of this module (positions' dtype)."""

    def coulomb_recip_pme(self, charge: Array, box: Array, grid_points: Any,
                          fractional_coordinates: bool = False, alpha: float = 0.34,
                          order: int = 5) -> Callable[..., Array]:
        if fractional_coordinates:
            raise NotImplementedError("fractional coordinates are not wired here")
        return reciprocal_energy_fn(charge, box, grid_points, alpha, order)


def typed_pme(pme: PMECoulomb) -> TypedPMECoulomb:
    """The same PME settings (grid, alpha, cutoff) with the dtype-following reciprocal sum."""
    return TypedPMECoulomb(grid_size=pme.grid_size, alpha=pme.alpha, r_cut=pme.r_cut)
