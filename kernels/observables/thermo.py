"""Instantaneous thermodynamic observables: kinetic energy, kinetic temperature, virial pressure.

Kinetic energy wraps `jax_md.quantity.kinetic_energy`. The pressure is the virial route
(Allen & Tildesley, ch. 2.4), P = (2 K + W) / (dim V), with the virial W = sum_{i<j} r_ij . F_ij
obtained as a strain derivative, W = -dU/d(eps) at eps = 0, where U(eps) is the energy with every
pair distance scaled by (1 + eps). That is exact for any pair or many-body potential written in
terms of displacements, handles periodic images for free, and avoids per-pair forces.

Energy functions in this project take a `strain` keyword that their displacement function
applies as `dR * (1 + strain)` (`jax_md.smap` passes extra keywords to the displacement function).

Units: `velocity` length/time, `mass` mass, energies mass length^2/time^2 (e.g. eV with ASE
units, epsilon in LJ units); temperatures are kT in energy units; pressure energy/length^dim.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax_md import quantity


def kinetic_energy(velocity: Array, mass: float | Array = 1.0) -> Array:
    """Total kinetic energy sum_i m_i |v_i|^2 / 2.

    Args:
      velocity: `[n, dim]` velocities (length/time).
      mass: scalar or `[n]` masses (mass units).

    Returns:
      Scalar K in energy units.
    """
    mass = jnp.asarray(mass)
    if mass.ndim == 1:
        mass = mass[:, None]
    return quantity.kinetic_energy(velocity=velocity, mass=mass)


def temperature(
    velocity: Array, mass: float | Array = 1.0, dof: int | Array | None = None
) -> Array:
    """Kinetic temperature kT = 2 K / dof, in energy units.

    Args:
      velocity: `[n, dim]` velocities (length/time).
      mass: scalar or `[n]` masses.
      dof: number of degrees of freedom. Default `n * dim`, right for thermostatted runs
        (Langevin, Nose-Hoover) where total momentum is not conserved; use `n * dim - dim` for
        NVE runs in which the total momentum is conserved (and zero), and subtract constraints.

    Returns:
      Scalar kT in energy units (divide by k_B for kelvin).
    """
    dof = velocity.size if dof is None else dof
    return 2.0 * kinetic_energy(velocity, mass) / dof


def virial_pressure(
    energy_fn: Callable[..., Array],
    R: Array,
    kinetic_energy: float | Array,
    volume: float | Array,
    **energy_kwargs: Any,
) -> Array:
    """Virial pressure P = (2 K - dU/d(eps)) / (dim V).

    Args:
      energy_fn: `energy_fn(R, strain=eps, **energy_kwargs) -> U`, where `strain` scales every
        displacement by (1 + eps) (see the module docstring).
      R: positions `[n, dim]`.
      kinetic_energy: total kinetic energy K (energy units); 0 gives the configurational part.
      volume: box volume (length^dim).
      **energy_kwargs: passed on to `energy_fn` (e.g. `neighbor=...`, parameters).

    Returns:
      Scalar pressure in energy / length^dim.
    """
    dim = R.shape[-1]

    def strained_energy(eps: Array) -> Array:
        return energy_fn(R, strain=eps, **energy_kwargs)

    du_deps = jax.grad(strained_energy)(jnp.zeros((), R.dtype))
    return (2.0 * kinetic_energy - du_deps) / (dim * volume)
