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
        init, apply = simulate.nvt_nose_hoover(
            energy_fn, shift_fn, dt, kT, chain_length=chain_length,
            tau=100.0 * dt if tau is None else tau,
        )

        def init_fn(key, R, mass=1.0, **kwargs):
            # jax_md's chain targets kT over dim N degrees of freedom, but the total momentum
            # starts at zero and the chain only rescales momenta, so it stays zero and only
            # dim (N - 1) move: targeting dim N would run the system N / (N - 1) too hot
            state = init(key, R, mass=mass, **kwargs)
            dof = degrees_of_freedom(name, R.shape[0], R.shape[1])
            return state.set(chain=state.chain.set(degrees_of_freedom=dof))

        return init_fn, apply
    raise ValueError(f"unknown integrator {name!r}; known: {sorted(INTEGRATORS)}")


def degrees_of_freedom(name: str, n_atoms: int, dim: int = 3) -> int:
    """Kinetic degrees of freedom that move, for the reported temperature and the thermostat's
    target. Initial momenta have zero total (jax_md's ``initialize_momenta``); NVE and the
    Nose-Hoover chain conserve it, leaving ``dim (N - 1)`` (as LAMMPS's and OpenMM's
    temperatures count them); Langevin noise moves the centre of mass too, so all ``dim N``
    move. The kernel's molecular force fields have no constraints to subtract. A single atom
    keeps its ``dim``."""
    if name == "langevin" or n_atoms < 2:
        return dim * n_atoms
    return dim * (n_atoms - 1)
