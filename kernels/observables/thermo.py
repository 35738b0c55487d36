"""Instantaneous thermodynamic observables: kinetic energy, kinetic temperature, virial pressure.

Kinetic energy wraps `jax_md.quantity.kinetic_energy`; `instantaneous` gives all of them for
one MD state (what `kernels.runner` records every frame). The pressure is the virial route
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


def kinetic_energy(velocity: Array | None = None, mass: float | Array = 1.0, *,
                   momentum: Array | None = None) -> Array:
    """Total kinetic energy sum_i m_i |v_i|^2 / 2 = sum_i |p_i|^2 / (2 m_i).

    Args:
      velocity: `[n, dim]` velocities (length/time); or, instead, `momentum` `[n, dim]`
        (mass length/time), as jax_md's integrator states carry.
      mass: scalar, `[n]` or `[n, 1]` masses (mass units); computed in the dtype of the
        velocities.

    Returns:
      Scalar K in energy units, dtype of the velocities.
    """
    if (velocity is None) == (momentum is None):
        raise ValueError("give exactly one of `velocity` and `momentum`")
    v_or_p = velocity if momentum is None else momentum
    mass = jnp.asarray(mass, v_or_p.dtype)
    if mass.ndim == 1:
        mass = mass[:, None]
    if momentum is not None:
        return quantity.kinetic_energy(momentum=momentum, mass=mass)
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
    _, virial = energy_and_virial(energy_fn, R, **energy_kwargs)
    return (2.0 * kinetic_energy + virial) / (R.shape[-1] * volume)


def energy_and_virial(energy_fn: Callable[..., Array], R: Array,
                      **energy_kwargs: Any) -> tuple[Array, Array]:
    """The potential energy U and the virial W = -dU/d(eps) at eps = 0, from one evaluation
    of the energy and its strain derivative (see the module docstring).

    Args:
      energy_fn, R, **energy_kwargs: as in `virial_pressure`.

    Returns:
      `(U, W)`, scalars in energy units, dtype of `R`.
    """

    def strained_energy(eps: Array) -> Array:
        return energy_fn(R, strain=eps, **energy_kwargs)

    u, du_deps = jax.value_and_grad(strained_energy)(jnp.zeros((), R.dtype))
    return u, -du_deps


def instantaneous(energy_fn: Callable[..., Array], R: Array, momentum: Array,
                  mass: float | Array, volume: float | Array, dof: int,
                  **energy_kwargs: Any) -> dict[str, Array]:
    """The thermo of one MD state, as the runner records it every frame.

    Args:
      energy_fn: as in `virial_pressure` (takes `strain`).
      R: positions `[n, dim]`; momentum: `[n, dim]` (mass length/time); mass: scalar, `[n]` or
        `[n, 1]` (mass units).
      volume: box volume (length^dim); dof: kinetic degrees of freedom (see `temperature`).
      **energy_kwargs: passed on to `energy_fn` (e.g. `neighbor=...`, parameters).

    Returns:
      `{"kinetic", "potential", "total"}` energies, `"temperature"` (kT = 2 K / dof, energy
      units) and `"pressure"` (virial route, energy / length^dim): scalars of R's dtype.
    """
    potential, virial = energy_and_virial(energy_fn, R, **energy_kwargs)
    kinetic = kinetic_energy(momentum=momentum, mass=mass)
    return {"kinetic": kinetic, "potential": potential, "total": kinetic + potential,
            "temperature": 2.0 * kinetic / dof,
            "pressure": (2.0 * kinetic + virial) / (R.shape[-1] * volume)}
