"""Integrators by name: jax_md's velocity Verlet (NVE), BAOAB Langevin and Nose-Hoover chain.

``make_integrator`` only chooses and configures; the dynamics are jax_md's. The runner builds the
integrator inside its jitted chunk with ``dt`` and ``kT`` as traced arguments, so changing them
at run time does not recompile.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax_md import simulate

INTEGRATORS = {
    "nve": "NVE velocity Verlet",
    "langevin": "NVT Langevin (BAOAB)",
    "nose_hoover": "NVT Nose-Hoover chain",
}


def make_integrator(
    name: str,
    energy_fn: Callable,
    shift_fn: Callable,
    dt: float | jnp.ndarray,
    kT: float | jnp.ndarray,
    *,
    gamma: float = 1.0,
    chain_length: int = 5,
    tau: float | None = None,
) -> tuple[Callable, Callable]:
    """``(init_fn, apply_fn)`` for the integrator called ``name``.

    Args:
      energy_fn: ``U(R, **kwargs) -> []`` (energy units).
      dt: time step (time units of the system); kT: thermal energy (energy units).
      gamma: Langevin friction (1 / time units).
      chain_length, tau: Nose-Hoover chain length and thermostat time (default ``100 dt``).
    """
    if name == "nve":
        return simulate.nve(energy_fn, shift_fn, dt)
    if name == "langevin":
        return simulate.nvt_langevin(energy_fn, shift_fn, dt, kT, gamma=gamma)
    if name == "nose_hoover":
        return simulate.nvt_nose_hoover(
            energy_fn, shift_fn, dt, kT, chain_length=chain_length,
            tau=100.0 * dt if tau is None else tau,
        )
    raise ValueError(f"unknown integrator {name!r}; known: {sorted(INTEGRATORS)}")


def degrees_of_freedom(name: str, n_atoms: int, dim: int = 3) -> int:
    """Kinetic degrees of freedom for the temperature: jax_md's thermostats target ``dim N``;
    NVE conserves total momentum, leaving ``dim (N - 1)`` (as LAMMPS reports)."""
    return dim * (n_atoms - 1) if name == "nve" else dim * n_atoms
