"""The chunked MD runner: ``lax.scan`` over frames, ``fori_loop`` over the ``stride`` steps
between frames, neighbour lists kept up to date every step, replicas by ``map_replicas``.

``simulator(...)`` returns ``(init_fn, run_fn)`` in the jax_md style:

- ``state = init_fn(key, R, mass, params, dt=..., kT=...)`` allocates the neighbour list and
  draws velocities at ``kT``;
- ``state, traj = run_fn(state, params, n_frames=, stride=, dt=, kT=)`` advances
  ``n_frames * stride`` steps and returns a ``Trajectory`` (positions, unwrapped positions,
  velocities and thermo every ``stride`` steps).

``params`` is the keyword dictionary of the energy function (``{"sigma": ..., "epsilon": ...}``
for an analytic family, ``{"params": pytree}`` for a learned one). It, ``dt`` and ``kT`` are traced
arguments: changing them never recompiles.

Neighbour-list overflow is never silent: ``run_fn`` checks the list after the chunk and, if any
replica's buffer overflowed, re-allocates a larger list from the chunk's starting positions and
re-runs the chunk (``kernels.neighbors.retry_on_overflow``, the project's one overflow path).
Only the re-allocation recompiles (the list's capacity is a static shape).

Thermo comes from ``kernels.observables.thermo.instantaneous``. Precision follows the positions
given to ``init_fn`` (float32 or float64; float64 needs ``jax_enable_x64``, see
``kernels.precision``): ``dt``, ``kT`` and the masses are cast to it, so a float32 run stays
float32 in a process with 64-bit mode on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax_md import dataclasses, partition, quantity

from kernels.integrators import degrees_of_freedom, make_integrator
from kernels.neighbors import MAX_REALLOCATIONS, allocate, retry_on_overflow
from kernels.observables.thermo import instantaneous

Array = jnp.ndarray
THERMO_KEYS = ("kinetic", "potential", "total", "temperature", "pressure")


def map_replicas(fn: Callable, in_axes: tuple) -> Callable:
    """``jax.vmap(fn, in_axes)`` for ``in_axes`` of 0 (replica axis) or None, except that the
    replicas run one after another (``lax.map``). Under ``vmap`` the neighbour list's
    ``lax.cond`` (rebuild only when an atom has moved half the skin) becomes a ``select`` that
    rebuilds every step: measured 15x slower for 2 replicas of 500 LJ atoms on CPU."""

    def mapped(*args):
        batched = tuple(a for a, ax in zip(args, in_axes, strict=True) if ax == 0)

        def one(xs):
            it = iter(xs)
            return fn(*[next(it) if ax == 0 else a
                        for a, ax in zip(args, in_axes, strict=True)])

        return jax.lax.map(one, batched)

    return mapped


@dataclasses.dataclass
class MDState:
    """Everything that carries from one chunk to the next (a pytree).

    md: the jax_md integrator state (position, momentum, force, mass, ...).
    neighbor: the neighbour list. unwrapped: ``[n_atoms, 3]`` positions without periodic wrapping.
    step: steps taken so far (int).
    """

    md: Any
    neighbor: partition.NeighborList
    unwrapped: Array
    step: Array


@dataclasses.dataclass
class Trajectory:
    """Recorded every ``stride`` steps; leading axis ``n_frames`` (after a replica axis if any).

    positions, unwrapped, velocities: ``[n_frames, n_atoms, 3]``; thermo: dict of ``[n_frames]``
    arrays (kinetic, potential, total energy; temperature as kT; pressure); step: ``[n_frames]``.
    """

    positions: Array
    unwrapped: Array
    velocities: Array
    thermo: dict
    step: Array


def simulator(
    energy_fn: Callable[..., Array],
    shift_fn: Callable,
    displacement_fn: Callable,
    neighbor_fn: partition.NeighborFn,
    *,
    volume: float,
    integrator: str = "nve",
    replicas: bool = False,
    max_reallocations: int = MAX_REALLOCATIONS,
    jit_init: bool = False,
    **integrator_kwargs,
) -> tuple[Callable, Callable]:
    """Build ``(init_fn, run_fn)`` for one system (module docstring).

    Args:
      energy_fn: ``U(R, neighbor=, strain=0., **params) -> []``; ``strain`` scales every pair
        distance by ``1 + strain`` (used for the virial pressure).
      shift_fn, displacement_fn: from ``jax_md.space``.
      neighbor_fn: from ``jax_md.partition.neighbor_list`` (its cutoff and skin).
      volume: box volume (length units cubed), for the pressure.
      integrator: ``"nve"``, ``"langevin"`` or ``"nose_hoover"``; options (gamma, chain_length,
        tau) in ``integrator_kwargs``.
      replicas: states carry a leading replica axis (run by ``map_replicas``).
      jit_init: compile the state initialisation (first forces) instead of running it op by
        op: worth it for expensive energies (PME: ~5 s op by op for 192 atoms) whose
        ``init_fn`` is called more than once.
    """
    make = partial(make_integrator, integrator, shift_fn=shift_fn, **integrator_kwargs)
    vdisp = jax.vmap(displacement_fn)

    def _md_init(key, R, mass, params, dt, kT, nbrs):
        init, _ = make(partial(energy_fn, **params), dt=dt, kT=kT)
        md = init(key, R, mass=mass, neighbor=nbrs, kT=kT)
        return MDState(md, nbrs, R, jnp.zeros((), jnp.int32))

    def _thermo(md, nbrs, params, dof):
        return instantaneous(energy_fn, md.position, md.momentum, md.mass, volume, dof,
                             neighbor=nbrs, **params)

    def _chunk(state: MDState, params, dt, kT, n_frames: int, stride: int):
        _, apply = make(partial(energy_fn, **params), dt=dt, kT=kT)
        n_atoms, dim = state.md.position.shape
        dof = degrees_of_freedom(integrator, n_atoms, dim)

        def one_step(_, carry):
            md, nbrs = carry
            md = apply(md, neighbor=nbrs)
            return md, nbrs.update(md.position)

        def one_frame(carry, _):
            md, nbrs, unwrapped, step = carry
            previous = md.position
            md, nbrs = jax.lax.fori_loop(0, stride, one_step, (md, nbrs))
            unwrapped = unwrapped + vdisp(md.position, previous)
            step = step + stride
            out = (md.position, unwrapped, md.momentum / md.mass,
                   _thermo(md, nbrs, params, dof), step)
            return (md, nbrs, unwrapped, step), out

        carry = (state.md, state.neighbor, state.unwrapped, state.step)
        (md, nbrs, unwrapped, step), out = jax.lax.scan(one_frame, carry, None, length=n_frames)
        return MDState(md, nbrs, unwrapped, step), Trajectory(*out)

    def _refresh_force(state: MDState, params) -> MDState:
        """Forces recomputed with the state's (new) neighbour list."""
        force = quantity.force(partial(energy_fn, **params))(state.md.position,
                                                             neighbor=state.neighbor)
        return state.set(md=state.md.set(force=force))

    chunk, md_init, refresh_force = _chunk, _md_init, _refresh_force
    if replicas:
        chunk = map_replicas(_chunk, in_axes=(0, None, None, None, None, None))
        md_init = jax.vmap(_md_init, in_axes=(0, 0, None, None, None, None, 0))
        refresh_force = jax.vmap(_refresh_force, in_axes=(0, None))
    chunk = jax.jit(chunk, static_argnums=(4, 5))
    if jit_init:
        md_init = jax.jit(md_init)

    def init_fn(key: Array, R: Array, mass: Array, params: dict, *, dt, kT) -> MDState:
        """``R: [n_atoms, 3]`` (or ``[n_replicas, n_atoms, 3]``), ``mass: [n_atoms]`` (mass
        units); velocities drawn from Maxwell-Boltzmann at ``kT`` (energy units). The run
        computes in ``R``'s dtype."""
        R = jnp.asarray(R)
        keys = jax.random.split(key, R.shape[0]) if replicas else key
        dt, kT = jnp.asarray(dt, R.dtype), jnp.asarray(kT, R.dtype)
        mass = jnp.asarray(mass, R.dtype)
        return md_init(keys, R, mass, params, dt, kT, allocate(neighbor_fn, R, 0, replicas))

    def run_fn(state: MDState, params: dict, *, n_frames: int, stride: int, dt,
               kT) -> tuple[MDState, Trajectory]:
        """Advance ``n_frames * stride`` steps; see the module docstring. Raises
        ``kernels.neighbors.NeighborListOverflowError`` if the list keeps overflowing."""
        dtype = state.md.position.dtype
        dt, kT = jnp.asarray(dt, dtype), jnp.asarray(kT, dtype)

        def attempt(nbrs: partition.NeighborList):
            # after an overflow the chunk's forces, from its first step on, may have missed
            # pairs: it starts again from its first positions, with forces from the new list
            start = state if nbrs is state.neighbor else refresh_force(
                state.set(neighbor=nbrs), params)
            new_state, traj = chunk(start, params, dt, kT, n_frames, stride)
            return (new_state, traj), new_state.neighbor

        (new_state, traj), _ = retry_on_overflow(
            attempt, state.neighbor,
            lambda extra: allocate(neighbor_fn, state.md.position, extra, replicas),
            max_reallocations=max_reallocations)
        return new_state, traj

    run_fn.compilations = chunk._cache_size  # number of compiled chunk variants (for tests)
    return init_fn, run_fn
