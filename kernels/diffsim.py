"""Differentiable-simulation loss: run MD with the potential's parameters, compare the structure
it produces with a target, and differentiate through the trajectory.

Follows DiffSim (Wang, Fu, Du, Jaakkola, Gomez-Bombarelli, "Learning pair potentials using
differentiable simulations", J. Chem. Phys. 158, 044113, 2023) and mdgrad (Wang, Axelrod,
Gomez-Bombarelli, "Differentiable molecular simulations for control and learning", 2020): the
loss is the mean squared difference between the smooth (Gaussian-smeared) g(r) averaged over
the frames of a short trajectory and a target g(r), optionally plus a VACF term, and its gradient
with respect to the potential's parameters flows back through the integrator.

``diffsim_loss(...)`` returns ``(init_fn, loss_fn)`` in the jax_md style:

- ``state = init_fn(key, R, params, kT=...)`` allocates the neighbour list (generous capacity)
  and draws velocities;
- ``loss, (state, aux) = loss_fn(params, state, kT=..., g_target=...)`` runs ``n_steps`` steps:
  ``n_skip`` unsampled steps, then a frame every ``stride`` steps; made for
  ``jax.value_and_grad(loss_fn, has_aux=True)``. Carry ``state`` into the next call, as DiffSim
  does between optimiser steps.

Gradient modes (``gradient=``), all with the same loss value:

- ``"full"``: backpropagation through every step (memory grows with ``n_steps``).
- ``"truncated"`` (DiffSim): the sampled part is cut into windows of ``window`` steps; each
  window starts from the previous window's state with ``stop_gradient``, so each window's frames
  contribute their own gradient through that window only. A different, biased but much cheaper
  estimator; unsampled (``n_skip``) steps contribute nothing.
- ``"checkpoint"``: as "full", but a nested scan whose outer steps are ``jax.checkpoint``-ed
  chunks of ``checkpoint_every`` steps: the forward pass keeps one state per chunk and the
  backward pass recomputes one chunk at a time. Same gradient as "full" (to rounding), peak
  memory ~ ``n_steps / checkpoint_every + checkpoint_every`` states instead of ``n_steps``.

Parameters follow the runner's convention: ``params`` is the keyword dictionary of the energy
function, ``{"sigma": ..., "epsilon": ...}`` for an analytic family
(``kernels.potentials.pair_energy_neighbor_list``) and ``{"params": pytree}`` for a spline or
neural model (``kernels.learned_pair.model_energy_neighbor_list``). Several species: give
``species`` and ``species_pairs`` and the loss compares the partial g_ab (``[n_pairs, n_bins]``).
Several state points (temperature, density, target): one ``loss_fn`` per box, summed by
``sum_state_points``. Replicas: states with a leading replica axis run by ``runner.map_replicas``.

Also here: ``md_steps_fn`` (the same MD steps, forward only, for equilibration and timing),
``sum_state_points``, ``call_with_reallocation`` (overflow recovery) and the
Gauss-Newton helpers ``flat_jacobian`` / ``gauss_newton_direction`` (for a few parameters whose
loss valley is ill-conditioned; ``jax.jacfwd`` of ``aux["g"]`` gives the Jacobian through the
same truncated windows).

Neighbour-list overflow is reported, not silent: ``aux["overflow"]`` is True when any buffer
overflowed during the call. ``call_with_reallocation(call, state, neighbor_fn)`` then repeats
the call from the same state with larger lists (``kernels.neighbors.retry_on_overflow``, the
path ``kernels.runner`` takes too) and raises if the list keeps overflowing.

Precision follows the positions (float32 or float64); ``kT``, ``dt`` and the masses are cast to
it, and so are the g(r) grid and its normalisation (``kernels.precision``).

Shapes: ``R: [n_atoms, 3]`` (``[n_replicas, n_atoms, 3]`` with replicas); ``g_target:
[n_bins]`` or ``[n_pairs, n_bins]`` on the bin centres ``bin_centers(0, r_max, n_bins)``;
``vacf_target: [n_frames]``. Units: the system's (reduced LJ or ASE); ``kT`` in energy units,
``dt`` in time units, ``r_max`` and ``rdf_sigma`` in length units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax import lax
from jax_md import dataclasses, partition, quantity

from kernels import neighbors
from kernels.integrators import make_integrator
from kernels.observables.rdf import rdf_smooth, rdf_smooth_pairs
from kernels.runner import map_replicas

Array = jnp.ndarray
GRADIENT_MODES = ("full", "truncated", "checkpoint")
T = TypeVar("T")


@dataclasses.dataclass
class SimState:
    """What carries from one loss call to the next (a pytree).

    md: the jax_md integrator state (position, momentum, force, mass, thermostat).
    neighbor: the neighbour list.
    """

    md: Any
    neighbor: partition.NeighborList


def _detach(tree: Any) -> Any:
    """``stop_gradient`` on the floating-point leaves (integer leaves have no gradient)."""
    return jax.tree_util.tree_map(
        lambda x: lax.stop_gradient(x) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
        else x, tree)


def scan_chunked(block: Callable, carry: Any, n_blocks: int, chunk: int,
                 wrap: Callable | None = None, detach: bool = False) -> tuple[Any, Any]:
    """Apply ``block(carry) -> (carry, y)`` ``n_blocks`` times as a nested scan.

    The outer scan runs chunks of ``chunk`` blocks (the last one shorter if needed); each chunk
    function is passed through ``wrap`` (e.g. ``jax.checkpoint``), and with ``detach`` the carry
    entering every chunk is ``stop_gradient``-ed (truncated backpropagation). Returns the final
    carry and the ``y`` of every block stacked along a leading axis ``[n_blocks, ...]``.
    """
    chunk = max(1, min(chunk, n_blocks)) if n_blocks else 1

    def run(c: Any, n: int) -> tuple[Any, Any]:
        if detach:
            c = _detach(c)
        return lax.scan(lambda c, _: block(c), c, None, length=n)

    def piece(n: int) -> Callable:
        f = partial(run, n=n)
        return wrap(f) if wrap is not None else f

    n_outer, rest = divmod(n_blocks, chunk)
    ys = []
    if n_outer:
        full = piece(chunk)
        carry, y = lax.scan(lambda c, _: full(c), carry, None, length=n_outer)
        ys.append(jax.tree_util.tree_map(lambda a: a.reshape((n_outer * chunk,) + a.shape[2:]),
                                         y))
    if rest:
        carry, y = piece(rest)(carry)
        ys.append(y)
    if not ys:
        return carry, None
    return carry, jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *ys)


def rdf_frame_fn(displacement_fn: Callable, box_volume: float, r_max: float, n_bins: int,
                 rdf_sigma: float | None = None, species: Array | None = None,
                 species_pairs: Sequence[tuple[int, int]] | None = None,
                 neighbor_cutoff: float | None = None) -> Callable:
    """``g(R, nbrs) -> [n_bins]`` (or ``[n_pairs, n_bins]`` for ``species_pairs``): the smooth
    g(r) of one frame ``R: [n_atoms, 3]`` (``kernels.observables.rdf``). If the neighbour list
    is guaranteed to hold every pair within ``neighbor_cutoff`` >= ``r_max`` + 6 sigma (and is
    ``OrderedSparse``), g comes from its pairs (``rdf_smooth_pairs``, ~10x cheaper in a liquid);
    otherwise from all pairs (``rdf_smooth``)."""
    if (species is None) != (species_pairs is None):
        raise ValueError("give both `species` and `species_pairs`, or neither")
    sigma = r_max / n_bins if rdf_sigma is None else rdf_sigma
    use_pairs = neighbor_cutoff is not None and neighbor_cutoff >= r_max + 6.0 * sigma
    rows = [None] if species is None else [tuple(p) for p in species_pairs]

    def g_of(R: Array, nbrs: partition.NeighborList) -> Array:
        pairs = use_pairs and nbrs.format is partition.OrderedSparse
        gs = [(rdf_smooth_pairs(displacement_fn, R, nbrs.idx, box_volume, r_max, n_bins,
                                rdf_sigma, species, p) if pairs else
               rdf_smooth(displacement_fn, R, box_volume, r_max, n_bins, rdf_sigma, species,
                          p))[1] for p in rows]
        return gs[0] if species is None else jnp.stack(gs)

    return g_of


def _integrator_fns(energy_fn: Callable, shift_fn: Callable, integrator: str, dt: float,
                    integrator_kwargs: dict) -> tuple[Callable, Callable]:
    """``make(params, kT) -> (init, apply)`` and ``force(params, R, nbrs)``."""

    def make(params: dict, kT: Array) -> tuple[Callable, Callable]:
        # dt (and a Nose-Hoover tau) in the dtype of kT, so scan carries keep one dtype
        kw = dict(integrator_kwargs)
        if kw.get("tau") is not None:
            kw["tau"] = jnp.asarray(kw["tau"], kT.dtype)
        return make_integrator(integrator, partial(energy_fn, **params), shift_fn,
                               jnp.asarray(dt, kT.dtype), kT, **kw)

    def force(params: dict, R: Array, nbrs: partition.NeighborList) -> Array:
        return quantity.force(partial(energy_fn, **params))(R, neighbor=nbrs)

    return make, force


def _md_step(apply: Callable) -> Callable:
    """A ``lax.scan`` body: one integrator step, then the neighbour list brought up to date."""

    def step(carry, _):
        md, nbrs = carry
        md = apply(md, neighbor=nbrs)
        return (md, nbrs.update(md.position)), None

    return step


def md_steps_fn(energy_fn: Callable, shift_fn: Callable, *, integrator: str = "langevin",
                dt: float = 0.005, gamma: float = 1.0, chain_length: int = 5,
                tau: float | None = None, replicas: bool = False) -> Callable:
    """``run(params, state, n_steps, kT) -> state``: plain (forward) MD on a ``SimState``, the
    same steps the loss takes; for equilibration and for timing against the gradient.
    ``n_steps`` is static. Wrap in ``jax.jit(run, static_argnums=2)``."""
    kw = _integrator_kwargs(integrator, gamma, chain_length, tau)
    make, force = _integrator_fns(energy_fn, shift_fn, integrator, dt, kw)

    def run(params: dict, state: SimState, n_steps: int, kT: Array) -> SimState:
        kT = jnp.asarray(kT, state.md.position.dtype)
        _, apply = make(params, kT)
        md = state.md.set(force=force(params, state.md.position, state.neighbor))
        (md, nbrs), _ = lax.scan(_md_step(apply), (md, state.neighbor), None, length=n_steps)
        return SimState(md, nbrs)

    if replicas:
        return map_replicas(run, in_axes=(None, 0, None, None))
    return run


def _integrator_kwargs(integrator: str, gamma: float, chain_length: int,
                       tau: float | None) -> dict:
    if integrator == "langevin":
        return {"gamma": gamma}
    if integrator == "nose_hoover":
        return {"chain_length": chain_length, "tau": tau}
    return {}


def diffsim_loss(
    energy_fn: Callable[..., Array],
    shift_fn: Callable,
    displacement_fn: Callable,
    neighbor_fn: partition.NeighborFn,
    *,
    box_volume: float,
    r_max: float,
    n_bins: int,
    n_steps: int,
    stride: int = 5,
    n_skip: int = 0,
    gradient: str = "truncated",
    window: int | None = None,
    grad_steps: int | None = None,
    checkpoint_every: int | None = None,
    integrator: str = "langevin",
    dt: float = 0.005,
    gamma: float = 1.0,
    chain_length: int = 5,
    tau: float | None = None,
    rdf_sigma: float | None = None,
    species: Array | None = None,
    species_pairs: Sequence[tuple[int, int]] | None = None,
    vacf_weight: float = 0.0,
    replicas: bool = False,
    replica_average: str = "rdf",
    neighbor_cutoff: float | None = None,
) -> tuple[Callable, Callable]:
    """Build ``(init_fn, loss_fn)`` for one box and state point (module docstring).

    Args:
      energy_fn: ``U(R, neighbor=, **params) -> []`` (energy units).
      shift_fn, displacement_fn: from ``jax_md.space.periodic(box)``.
      neighbor_fn: from ``jax_md.partition.neighbor_list`` (cutoff + skin, length units).
      box_volume: box volume (length^3), for the g(r) normalisation.
      r_max, n_bins: the g(r) grid, bins on ``[0, r_max]`` (``r_max`` <= half the box side).
      n_steps: MD steps per call: ``n_skip`` unsampled ones, then frames every ``stride`` steps;
        ``n_steps - n_skip`` must be a positive multiple of ``stride``.
      gradient: ``"full"``, ``"truncated"`` or ``"checkpoint"``.
      window: steps per truncation window ("truncated"; a multiple of ``stride``; default all
        sampled steps, i.e. one window).
      grad_steps: "truncated" only: the first ``grad_steps`` sampled steps (a multiple of
        ``window``) carry gradient, the rest run forward only and just add frames to g (a
        cheaper gradient with the residual of the whole trajectory). Default: as many whole
        windows as the sampled steps hold (all of them when ``window`` divides them).
      checkpoint_every: steps per checkpointed chunk ("checkpoint"; rounded to a multiple of
        ``stride``; default about ``sqrt(n_steps)``).
      integrator: ``"langevin"`` (BAOAB), ``"nose_hoover"`` (chain) or ``"nve"``; ``dt`` (time
        units), ``gamma`` (Langevin friction, 1/time), ``chain_length`` and ``tau`` (Nose-Hoover).
      rdf_sigma: Gaussian smearing of g(r) (length units; default one bin width).
      species: ``[n_atoms]`` int; with ``species_pairs`` (e.g. ``[(0, 0), (0, 1), (1, 1)]``) the
        loss compares partial RDFs and ``g_target`` is ``[n_pairs, n_bins]``.
      vacf_weight: weight of the VACF term ``mean((vacf - vacf_target)^2)`` (dimensionless, the
        VACF is normalised to 1 at lag 0; origin at the first sampled frame).
      replicas: states have a leading replica axis (run by ``runner.map_replicas``).
      replica_average: ``"rdf"`` compares the replica-averaged g(r) with the target (less biased
        by sampling noise); ``"loss"`` averages the per-replica losses.
      neighbor_cutoff: the distance within which ``neighbor_fn``'s lists are guaranteed
        complete (its cutoff, not counting the skin); g(r) then comes from the list's pairs
        when that reaches ``r_max`` + 6 ``rdf_sigma`` (``rdf_frame_fn``).

    Returns:
      ``init_fn(key, R, params, *, kT, mass=1.0, extra_capacity=0) -> SimState`` and
      ``loss_fn(params, state, *, kT, g_target, vacf_target=None) -> (loss, (state, aux))``
      with ``aux``: ``g`` (the simulated g, as ``g_target``), ``rdf_loss``, ``vacf_loss``,
      ``vacf [n_frames]``, ``temperature [n_frames]`` (kinetic kT per frame, energy units),
      ``finite`` (bool: no NaN/inf in positions or g) and ``overflow`` (bool).
    """
    if gradient not in GRADIENT_MODES:
        raise ValueError(f"unknown gradient mode {gradient!r}; use one of {GRADIENT_MODES}")
    if replica_average not in ("rdf", "loss"):
        raise ValueError("replica_average must be 'rdf' or 'loss'")
    n_sampled = n_steps - n_skip
    if n_skip < 0 or n_sampled <= 0 or n_sampled % stride:
        raise ValueError(f"n_steps - n_skip = {n_sampled} must be a positive multiple of "
                         f"stride = {stride}")
    n_frames = n_grad_frames = n_sampled // stride
    if gradient == "truncated":
        window = n_sampled if window is None else window
        if window <= 0 or window % stride:
            raise ValueError(f"window = {window} must be a positive multiple of stride = {stride}")
        chunk_blocks = window // stride
        grad_steps = n_sampled // window * window if grad_steps is None else grad_steps
        if grad_steps <= 0 or grad_steps % window or grad_steps > n_sampled:
            raise ValueError(f"grad_steps = {grad_steps} must be a positive multiple of window "
                             f"= {window}, at most n_steps - n_skip = {n_sampled}")
        n_grad_frames = grad_steps // stride
    elif gradient == "checkpoint":
        every = checkpoint_every or max(stride, int(round(n_steps ** 0.5)))
        chunk_blocks = max(1, round(every / stride))
    else:
        chunk_blocks = n_frames
    kw = _integrator_kwargs(integrator, gamma, chain_length, tau)
    make, force = _integrator_fns(energy_fn, shift_fn, integrator, dt, kw)
    g_of = rdf_frame_fn(displacement_fn, box_volume, r_max, n_bins, rdf_sigma, species,
                        species_pairs, neighbor_cutoff)
    wrap = partial(jax.checkpoint, prevent_cse=False) if gradient == "checkpoint" else None

    def single_init(key: Array, R: Array, params: dict, kT: Array, mass: Array,
                    nbrs: partition.NeighborList) -> SimState:
        init, _ = make(params, kT)
        return SimState(init(key, R, mass=mass, neighbor=nbrs, kT=kT), nbrs)

    def simulate(params: dict, state: SimState, kT: Array) -> tuple[SimState, dict]:
        """One replica: ``n_steps`` steps, g and VACF per frame."""
        _, apply = make(params, kT)
        # the stored force was computed with the previous call's parameters: recompute it
        md = state.md.set(force=force(params, state.md.position, state.neighbor))
        step = _md_step(apply)
        # truncated: unsampled steps contribute no gradient, so run them with constant params
        skip_step = _md_step(make(_detach(params), kT)[1]) if gradient == "truncated" else step

        def skip_block(c):
            return lax.scan(skip_step, c, None, length=stride)[0], None

        def frame_block(c, step=step):
            md, nbrs, v0 = c
            md, nbrs = lax.scan(step, (md, nbrs), None, length=stride)[0]
            v = md.momentum / md.mass
            kT_inst = quantity.temperature(momentum=md.momentum, mass=md.mass)
            out = {"g": g_of(md.position, nbrs), "vv": jnp.mean(jnp.sum(v * v0, -1)),
                   "temperature": kT_inst,
                   "finite": jnp.all(jnp.isfinite(md.position))}
            return (md, nbrs, v0), out

        carry = (md, state.neighbor)
        overflow = jnp.zeros((), bool)
        if n_skip:
            skip_chunk = max(1, n_skip // stride) if gradient != "checkpoint" else chunk_blocks
            n_skip_blocks, rest = divmod(n_skip, stride)
            carry, _ = scan_chunked(skip_block, carry, n_skip_blocks, skip_chunk, wrap)
            if rest:
                carry = lax.scan(skip_step, carry, None, length=rest)[0]
            overflow = overflow | carry[1].did_buffer_overflow
        md, nbrs = carry
        v0 = md.momentum / md.mass
        if gradient != "truncated" or n_grad_frames == n_frames:
            (md, nbrs, _), out = scan_chunked(frame_block, (md, nbrs, v0), n_frames,
                                              chunk_blocks, wrap, detach=gradient == "truncated")
        else:  # gradient through the first grad_steps, forward only after them
            carry, out_a = scan_chunked(frame_block, (md, nbrs, v0), n_grad_frames,
                                        chunk_blocks, detach=True)
            (md, nbrs, _), out_b = scan_chunked(partial(frame_block, step=skip_step),
                                                _detach(carry), n_frames - n_grad_frames,
                                                n_frames - n_grad_frames)
            out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out_a, out_b)
        v00 = jnp.mean(jnp.sum(v0 * v0, -1))
        aux = {"g": jnp.mean(out["g"], axis=0), "vacf": out["vv"] / v00,
               "temperature": out["temperature"],
               "finite": jnp.all(out["finite"]) & jnp.all(jnp.isfinite(out["g"])),
               "overflow": overflow | nbrs.did_buffer_overflow}
        return SimState(md, nbrs), aux

    def losses(aux: dict, g_target: Array, vacf_target: Array | None) -> tuple[Array, Array]:
        rdf_loss = jnp.mean((aux["g"] - g_target) ** 2)
        if vacf_target is None or vacf_weight == 0:
            return rdf_loss, jnp.zeros_like(rdf_loss)
        return rdf_loss, jnp.mean((aux["vacf"] - vacf_target) ** 2)

    def loss_fn(params: dict, state: SimState, *, kT: Array, g_target: Array,
                vacf_target: Array | None = None) -> tuple[Array, tuple[SimState, dict]]:
        """Loss (dimensionless), the state after ``n_steps`` and diagnostics (``aux``)."""
        kT = jnp.asarray(kT, state.md.position.dtype)
        if not replicas:
            new_state, aux = simulate(params, state, kT)
            rdf_loss, vacf_loss = losses(aux, g_target, vacf_target)
        else:
            new_state, per = map_replicas(simulate, in_axes=(None, 0, None))(params, state, kT)
            if replica_average == "loss":
                rdf_l, vacf_l = jax.vmap(lambda a: losses(a, g_target, vacf_target))(per)
                rdf_loss, vacf_loss = jnp.mean(rdf_l), jnp.mean(vacf_l)
            aux = {"g": jnp.mean(per["g"], 0), "vacf": jnp.mean(per["vacf"], 0),
                   "temperature": jnp.mean(per["temperature"], 0),
                   "finite": jnp.all(per["finite"]), "overflow": jnp.any(per["overflow"]),
                   "g_replicas": per["g"]}
            if replica_average == "rdf":
                rdf_loss, vacf_loss = losses(aux, g_target, vacf_target)
        aux.update(rdf_loss=rdf_loss, vacf_loss=vacf_loss)
        return rdf_loss + vacf_weight * vacf_loss, (new_state, aux)

    def init_fn(key: Array, R: Array, params: dict, *, kT: float | Array,
                mass: float | Array = 1.0, extra_capacity: int = 0) -> SimState:
        """Allocate the neighbour list (``extra_capacity`` more slots per atom than jax_md
        would) and draw Maxwell-Boltzmann velocities at ``kT``. ``R: [n_atoms, 3]`` or
        ``[n_replicas, n_atoms, 3]``; ``mass`` scalar or ``[n_atoms]`` (mass units)."""
        R = jnp.asarray(R)
        kT = jnp.asarray(kT, R.dtype)
        mass = jnp.asarray(mass, R.dtype)
        nbrs = neighbors.allocate(neighbor_fn, R, extra_capacity, replicas)
        if not replicas:
            return jax.jit(single_init)(key, R, params, kT, mass, nbrs)
        keys = jax.random.split(key, R.shape[0])
        return jax.jit(jax.vmap(single_init, in_axes=(0, 0, None, None, None, 0)))(
            keys, R, params, kT, mass, nbrs)

    loss_fn.n_frames = n_frames
    return init_fn, loss_fn


def with_neighbor_list(state: SimState, neighbor: partition.NeighborList) -> SimState:
    """``state`` with a new (e.g. larger) neighbour list; the loss recomputes forces with it."""
    return state.set(neighbor=neighbor)


def overflow_flag(out: Any) -> Array:
    """Whether a neighbour list overflowed, read from the output of a loss call (its
    ``aux["overflow"]``), of ``value_and_grad`` / ``jacfwd`` of one, or of ``md_steps_fn``
    (the returned state's list): True if any flag found is set. ``ValueError`` if none is."""
    flags = []

    def visit(x: Any) -> None:
        if isinstance(x, SimState):
            flags.append(jnp.any(x.neighbor.did_buffer_overflow))
        elif isinstance(x, dict):
            if "overflow" in x:
                flags.append(jnp.any(x["overflow"]))
        elif isinstance(x, tuple | list):
            for y in x:
                visit(y)

    visit(out)
    if not flags:
        raise ValueError("the output holds no neighbour-list overflow flag")
    return jnp.any(jnp.stack(flags))


def call_with_reallocation(call: Callable[[SimState], T], state: SimState,
                           neighbor_fn: partition.NeighborFn, *, replicas: bool = False,
                           max_reallocations: int = neighbors.MAX_REALLOCATIONS
                           ) -> tuple[T, SimState]:
    """``call(state)``, repeated from the same state with a larger neighbour list while the
    list overflows during the call (``kernels.neighbors.retry_on_overflow``; the overflow is
    read by ``overflow_flag``).

    Args:
      call: a function of the state alone, e.g. ``lambda s: loss_fn(params, s, kT=...,
        g_target=...)``, ``jax.value_and_grad`` of that, or ``lambda s: run(params, s, n, kT)``
        of ``md_steps_fn``. It recomputes forces with the list it is given (all of these do).
      state: a ``SimState`` of one state point (replicas or not); the lists are re-allocated
        from its positions (``[n_atoms, 3]`` or ``[n_replicas, n_atoms, 3]``).
      neighbor_fn: the neighbour-list functions ``state``'s list came from.
      replicas: ``state`` has a leading replica axis.

    Returns:
      ``(output of the successful call, the state it started from)``; the latter holds the
      larger list, for the next call. Raises ``kernels.neighbors.NeighborListOverflowError``
      after ``max_reallocations``.
    """

    def attempt(nbrs: partition.NeighborList) -> tuple[tuple[T, SimState], Array]:
        start = with_neighbor_list(state, nbrs)
        out = call(start)
        return (out, start), overflow_flag(out)

    (out, start), _ = neighbors.retry_on_overflow(
        attempt, state.neighbor,
        lambda extra: neighbors.allocate(neighbor_fn, state.md.position, extra, replicas),
        max_reallocations=max_reallocations)
    return out, start


def sum_state_points(points: Sequence[tuple[Callable, dict]],
                     weights: Sequence[float] | None = None) -> Callable:
    """Several state points at once: ``points`` are ``(loss_fn, call_kwargs)`` pairs, one per
    (kT, box, target) with ``call_kwargs = {"kT": ..., "g_target": ..., "vacf_target": ...}``.

    Returns ``loss_fn(params, states) -> (loss, (states, auxes))`` with ``states`` a tuple in
    the order of ``points`` and ``loss = sum_k w_k loss_k`` (default weights 1).
    """
    weights = [1.0] * len(points) if weights is None else list(weights)
    if len(weights) != len(points):
        raise ValueError("one weight per state point")

    def loss_fn(params: dict, states: Sequence[SimState]) -> tuple[Array, tuple]:
        total, new_states, auxes = 0.0, [], []
        for (fn, kwargs), w, state in zip(points, weights, states, strict=True):
            loss, (new, aux) = fn(params, state, **kwargs)
            total = total + w * loss
            new_states.append(new)
            auxes.append(aux)
        return total, (tuple(new_states), tuple(auxes))

    return loss_fn


def flat_jacobian(jac: Any, params: Any) -> Array:
    """A ``jax.jacfwd`` result (a pytree like ``params`` whose leaves are
    ``[*observable_shape, *leaf_shape]``) as a matrix ``[n_observables, n_params]`` with columns
    in ``jax.flatten_util.ravel_pytree(params)`` order."""
    cols = []
    for j, p in zip(jax.tree_util.tree_leaves(jac), jax.tree_util.tree_leaves(params),
                    strict=True):
        p = jnp.asarray(p)
        n_obs = j.size // max(1, p.size)
        cols.append(j.reshape(n_obs, p.size))
    return jnp.concatenate(cols, axis=1)


def gauss_newton_direction(jtj: Array, jtr: Array, damping: float = 1e-3) -> Array:
    """Levenberg-Marquardt direction ``(A + damping diag(A))^-1 J^T r`` from the normal-equation
    pieces ``jtj = J^T J`` (``[n_params, n_params]``, possibly a running average, summed over
    state points) and ``jtr = J^T r`` (``[n_params]``), with ``J = d g / d params`` and
    ``r = g - g_target``. Subtracting it from the parameters is a Gauss-Newton step on
    ``|g - g_target|^2``: it follows curved, ill-conditioned valleys (such as the sigma-epsilon
    valley of an LJ fit to one g(r)) where first-order methods crawl."""
    a = jtj + damping * jnp.diag(jnp.diag(jtj)) + 1e-12 * jnp.eye(jtj.shape[0], dtype=jtj.dtype)
    return jnp.linalg.solve(a, jtr)
