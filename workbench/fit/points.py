"""State points of a fit: for each target, a periodic box of ``n_atoms`` at the target's
density and composition (the workbench's LJ builders), its kernel functions (the DiffSim loss of
``kernels.diffsim``, its gradient, forward pass and Jacobian of g, all jitted), the target on
the fit's g(r) grid, and the MD state carried from one iteration to the next.

All state points share one g(r) grid (``rdf_grid``: up to half the smallest box). Units: the
targets' (reduced LJ units): lengths in sigma, kT in epsilon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels import diffsim
from kernels import potentials as pot
from kernels.learned_pair import model_energy_neighbor_list
from kernels.observables.rdf import check_r_max
from workbench.builders import binary_lj_mixture, lj_fluid
from workbench.fit.parameters import ParameterMap
from workbench.fit.settings import FitSettings
from workbench.targets import TargetRDF


@dataclass
class StatePoint:
    """One state point: its box, kernel functions, target on the fit's grid and MD state."""

    target: TargetRDF
    positions: np.ndarray  # [n_atoms, 3] lattice start
    species: np.ndarray  # [n_atoms]
    box: float  # side of the cubic box (length units)
    neighbor_fn: Any
    init_fn: Callable
    run_fn: Callable  # jitted md_steps_fn(kwargs, state, n_steps, kT)
    objective: Callable  # objective(theta, state, kT, g_target) -> (loss, (state, aux))
    value_and_grad: Callable  # -> ((loss, (state, aux)), grads)
    forward: Callable  # -> (loss, (state, aux))
    jacobian: Callable  # -> (d g / d theta, (loss, (state, aux)))
    kT: Any  # thermal energy (energy units)
    g_target: Any  # [n_bins] or [n_pairs, n_bins] on the fit's grid
    state: Any = None


def lattice(settings: FitSettings, target: TargetRDF) -> tuple[np.ndarray, np.ndarray, float]:
    """Lattice start for ``target``: positions ``[n_atoms, 3]``, species ``[n_atoms]`` and the
    cubic box side; ``ValueError`` when the box is not larger than twice the cutoff."""
    if settings.n_species == 1:
        s = lj_fluid(n_atoms=settings.n_atoms, density=target.density,
                     r_cutoff=settings.r_cutoff, seed=settings.seed)
    else:
        s = binary_lj_mixture(n_atoms=settings.n_atoms, density=target.density,
                              fraction_b=target.composition[1], r_cutoff=settings.r_cutoff,
                              seed=settings.seed)
    box = float(s.box[0])
    if box <= 2 * settings.r_cutoff:
        raise ValueError(f"box side {box:.4g} is not larger than twice the cutoff "
                         f"({2 * settings.r_cutoff:.4g}); use more atoms or a shorter cutoff")
    return s.positions, s.species, box


def rdf_grid(settings: FitSettings, box: float) -> tuple[float, np.ndarray]:
    """``(r_max, r [n_bins])``: the compared g(r)'s range (``r_max``, else half of ``box``
    and at most the targets' range) and bin centres."""
    r_max = settings.r_max
    if r_max is None:
        t_end = min(t.r_end for t in settings.targets)
        r_max = min(0.5 * box, t_end)
    try:
        check_r_max(r_max, box=np.full(3, box))
    except ValueError as exc:
        raise ValueError(f"{exc} (n_atoms = {settings.n_atoms} at the densest state "
                         "point)") from None
    return r_max, (np.arange(settings.n_bins) + 0.5) * r_max / settings.n_bins


def _energy(settings: FitSettings, mapping: ParameterMap, displacement, box, species, model,
            list_cutoff: float):
    species = None if settings.n_species == 1 else jnp.asarray(species)
    if model is not None:
        return model_energy_neighbor_list(
            displacement, box, model, settings.r_cutoff, species=species,
            n_species=settings.n_species, dr_threshold=settings.skin,
            mode=settings.cutoff_mode, capacity_multiplier=1.5, list_cutoff=list_cutoff)
    return pot.pair_energy_neighbor_list(
        displacement, box, mapping.spec.fn, settings.r_cutoff, species=species,
        dr_threshold=settings.skin, mode=settings.cutoff_mode, capacity_multiplier=1.5,
        list_cutoff=list_cutoff, **mapping.fixed())


def build_point(settings: FitSettings, mapping: ParameterMap, target: TargetRDF, model,
                r_max: float) -> StatePoint:
    """The box and jitted kernels of ``target`` (no MD state yet: ``fresh_state``)."""
    dtype = mapping.dtype
    positions, species, box = lattice(settings, target)
    box_j = jnp.asarray(box, dtype)
    disp, shift = space.periodic(box_j)
    rdf_sigma = settings.rdf_sigma or target.rdf_sigma or r_max / settings.n_bins
    # one neighbour list for forces and g(r): long enough for g's Gaussian tails
    list_cutoff = max(settings.r_cutoff, r_max + 6 * rdf_sigma)
    neighbor_fn, energy_fn = _energy(settings, mapping, disp, box_j, species, model,
                                     list_cutoff)
    pairs = target.species_pairs or None
    # IBI runs forward only
    gradient = settings.gradient if settings.method == "diffsim" else "full"
    truncated = gradient == "truncated"
    init_fn, loss_fn = diffsim.diffsim_loss(
        energy_fn, shift, disp, neighbor_fn, box_volume=box**3, r_max=r_max,
        n_bins=settings.n_bins, n_steps=settings.steps_per_iteration, stride=settings.stride,
        n_skip=settings.skip_steps, gradient=gradient,
        window=settings.window if truncated else None,
        grad_steps=settings.grad_steps if truncated else None,
        checkpoint_every=settings.checkpoint_every, integrator=settings.integrator,
        dt=settings.timestep, gamma=settings.friction, rdf_sigma=rdf_sigma,
        species=None if pairs is None else jnp.asarray(species), species_pairs=pairs,
        replicas=settings.replicas > 1, neighbor_cutoff=list_cutoff)
    run_fn = diffsim.md_steps_fn(energy_fn, shift, integrator=settings.integrator,
                                 dt=settings.timestep, gamma=settings.friction,
                                 replicas=settings.replicas > 1)
    kwargs = mapping.kwargs

    def objective(theta, state, kT, g_target):
        return loss_fn(kwargs(theta), state, kT=kT, g_target=g_target)

    def g_of(theta, state, kT, g_target):
        loss, (new, aux) = objective(theta, state, kT, g_target)
        return aux["g"], (loss, (new, aux))

    g_target = jnp.asarray(target.on_grid(r_max, settings.n_bins, rdf_sigma), dtype)
    return StatePoint(target, positions, species, box, neighbor_fn, init_fn,
                      jax.jit(run_fn, static_argnums=2), objective,
                      jax.jit(jax.value_and_grad(objective, has_aux=True)),
                      jax.jit(objective), jax.jit(jax.jacfwd(g_of, has_aux=True)),
                      jnp.asarray(target.kT, dtype), g_target)


def fresh_state(settings: FitSettings, mapping: ParameterMap, pt: StatePoint, theta: dict,
                key: jax.Array):
    """A melted state of ``pt``: its lattice, velocities from ``key``, ``equilibration``
    steps at ``melt_factor`` times the temperature (a dense liquid's fcc start can otherwise
    survive as a superheated crystal), then ``equilibration`` steps at the temperature, all
    with ``theta``. ``RuntimeError`` if that blows up."""
    R = jnp.asarray(pt.positions, mapping.dtype)
    if settings.replicas > 1:
        R = jnp.stack([R] * settings.replicas)
    kwargs = mapping.kwargs(theta)
    state = pt.init_fn(key, R, kwargs, kT=pt.kT)
    phases = [pt.kT] if settings.melt_factor == 1.0 else [settings.melt_factor * pt.kT, pt.kT]
    for kT in phases if settings.equilibration else []:
        state, _ = diffsim.call_with_reallocation(
            lambda s, kT=kT: pt.run_fn(kwargs, s, settings.equilibration, kT), state,
            pt.neighbor_fn, replicas=settings.replicas > 1)
        if not bool(jnp.all(jnp.isfinite(state.md.position))):
            raise RuntimeError("the equilibration with the initial parameters blew up; check "
                               "them or use a smaller timestep")
    return state


def call(pt: StatePoint, fn: Callable, theta: dict, replicas: bool):
    """``fn(theta, pt.state, kT, g_target)`` for one of ``pt``'s kernels (``forward``,
    ``value_and_grad`` or ``jacobian``), with a larger neighbour list while it overflows (the
    list is replaced in ``pt.state``; the new MD state is returned, not stored). Overflow is
    handled by ``kernels.diffsim.call_with_reallocation``, the kernel's one overflow path."""
    out, pt.state = diffsim.call_with_reallocation(
        lambda s: fn(theta, s, pt.kT, pt.g_target), pt.state, pt.neighbor_fn,
        replicas=replicas)
    return out
