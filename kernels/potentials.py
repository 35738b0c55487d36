"""Analytic pair potentials with per-species-pair parameter matrices, lifted to whole systems by
jax_md's ``smap``.

Each family is a plain pair function ``u(dr, **params)``; ``pair_energy_neighbor_list`` wraps it
with a cutoff treatment and ``smap.pair_neighbor_list``. Parameters are *call-time* keyword
arguments of the returned energy function (``energy_fn(R, neighbor, sigma=..., epsilon=...)``),
so a dashboard slider or an optimiser changes them without rebuilding or recompiling anything.
A parameter is a scalar or a ``[n_species, n_species]`` matrix indexed by the species of the pair.

Cutoff treatments (``mode``):

- ``"truncated"``: ``u(r)`` for ``r < r_cutoff`` and 0 beyond (LAMMPS ``lj/cut``).
- ``"shifted"``: ``u(r) - u(r_cutoff)`` inside the cutoff (LAMMPS ``pair_modify shift yes``).
- ``"smoothed"``: ``S(r) u(r)`` with jax_md's C1 switch ``S`` between ``r_onset`` and
  ``r_cutoff`` (HOOMD-blue's XPLOR-style smoothing).

Every energy function accepts a ``strain`` keyword: all pair distances are scaled by
``(1 + strain)``, so that ``dU/dstrain`` at 0 gives the virial for the pressure.

Neighbour lists come from ``kernels.neighbors`` (jax_md's, or all pairs in a small box).

Morse is jax_md's. The others are a line each: the n-m (Mie) family, WCA and Yukawa are not in
jax_md, and its Lennard-Jones loses precision in float64 (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
from jax_md import energy, partition, smap, space

from kernels.neighbors import DEFAULT_SKIN, neighbor_list

Array = jnp.ndarray
WCA_CUTOFF = 2.0 ** (1.0 / 6.0)  # in units of sigma


def lennard_jones(dr: Array, sigma: Array = 1.0, epsilon: Array = 1.0, **_) -> Array:
    """12-6 Lennard-Jones, ``4 eps [(sigma/r)^12 - (sigma/r)^6]``.

    Written out rather than taken from jax_md, whose version multiplies by a float32 constant
    and so rounds a Python-float ``epsilon`` to single precision even in float64 runs."""
    x6 = (sigma / dr) ** 6
    return 4.0 * epsilon * (x6 * x6 - x6)


def mie(dr: Array, sigma: Array = 1.0, epsilon: Array = 1.0, n: Array = 12.0, m: Array = 6.0,
        **_) -> Array:
    """n-m (Mie) potential ``C eps [(sigma/r)^n - (sigma/r)^m]``, ``C = n/(n-m) (n/m)^(m/(n-m))``
    so that the well depth is ``eps`` for every n > m (n=12, m=6 is Lennard-Jones)."""
    c = n / (n - m) * (n / m) ** (m / (n - m))
    x = sigma / dr
    return c * epsilon * (x**n - x**m)


def wca(dr: Array, sigma: Array = 1.0, epsilon: Array = 1.0, **_) -> Array:
    """Weeks-Chandler-Andersen: LJ cut at its minimum ``2^(1/6) sigma`` and shifted up by ``eps``;
    purely repulsive and zero beyond the minimum (its own cutoff, per species pair)."""
    inside = dr < WCA_CUTOFF * sigma
    return jnp.where(inside, lennard_jones(dr, sigma, epsilon) + epsilon, 0.0)


def soft_sphere(dr: Array, sigma: Array = 1.0, epsilon: Array = 1.0, alpha: Array = 2.0,
                **_) -> Array:
    """Finite-range soft sphere ``eps/alpha (1 - r/sigma)^alpha`` for ``r < sigma`` (jax_md's
    form, written with ``|1 - r/sigma|`` so non-integer ``alpha`` never sees a negative base)."""
    x = dr / sigma
    return jnp.where(x < 1.0, epsilon / alpha * jnp.abs(1.0 - x) ** alpha, 0.0)


def morse(dr: Array, D0: Array = 1.0, alpha: Array = 5.0, r0: Array = 1.0, **_) -> Array:
    """Morse ``D0 (1 - exp(-alpha (r - r0)))^2 - D0``: minimum ``-D0`` at ``r0`` (jax_md)."""
    return energy.morse(dr, sigma=r0, epsilon=D0, alpha=alpha)


def yukawa(dr: Array, A: Array = 1.0, kappa: Array = 1.0, **_) -> Array:
    """Screened Coulomb (Yukawa) ``A exp(-kappa r) / r``."""
    return A * jnp.exp(-kappa * dr) / dr


@dataclass(frozen=True)
class PairFamily:
    """A named analytic pair potential: its function, parameter names and defaults, which
    parameters must be strictly positive (sizes, exponents) or non-negative (energy scales),
    and which are lengths (to detect overlapping atoms). ``dimension(name)`` is a parameter's
    (length power, energy power): lengths (1, 0), energy scales (0, 1), exponents (0, 0), and
    what ``dimensions`` says otherwise (Morse's alpha, 1/length)."""

    name: str
    fn: Callable[..., Array]
    defaults: dict[str, float]
    positive: tuple[str, ...] = ()
    description: str = ""
    length_params: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()
    dimensions: tuple[tuple[str, tuple[int, int]], ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    def dimension(self, name: str) -> tuple[int, int]:
        """(length power, energy power) of parameter ``name`` (class docstring)."""
        given = dict(self.dimensions)
        if name in given:
            return given[name]
        return (1, 0) if name in self.length_params else (0, 1) if name in self.nonnegative \
            else (0, 0)


FAMILIES: dict[str, PairFamily] = {
    f.name: f
    for f in (
        PairFamily("lj", lennard_jones, {"sigma": 1.0, "epsilon": 1.0}, ("sigma",),
                   "Lennard-Jones 12-6", ("sigma",), ("epsilon",)),
        PairFamily("mie", mie, {"sigma": 1.0, "epsilon": 1.0, "n": 12.0, "m": 6.0},
                   ("sigma", "n", "m"), "n-m (Mie) Lennard-Jones family", ("sigma",),
                   ("epsilon",)),
        PairFamily("wca", wca, {"sigma": 1.0, "epsilon": 1.0}, ("sigma",),
                   "Weeks-Chandler-Andersen (repulsive LJ)", ("sigma",), ("epsilon",)),
        PairFamily("soft_sphere", soft_sphere, {"sigma": 1.0, "epsilon": 1.0, "alpha": 2.0},
                   ("sigma", "alpha"), "Finite-range soft sphere", ("sigma",), ("epsilon",)),
        PairFamily("morse", morse, {"D0": 1.0, "alpha": 5.0, "r0": 1.0}, ("alpha", "r0"),
                   "Morse", ("r0",), ("D0",), (("alpha", (-1, 0)),)),
        PairFamily("yukawa", yukawa, {"A": 1.0, "kappa": 1.0}, ("kappa",),
                   "Screened Coulomb (Yukawa)", (), (),
                   (("A", (1, 1)), ("kappa", (-1, 0)))),
    )
}


def get_family(name: str) -> PairFamily:
    """The pair family called ``name``; a ``ValueError`` listing the known names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown pair potential {name!r}; known: {sorted(FAMILIES)}") from None


def with_cutoff(u: Callable[..., Array], r_cutoff: float, mode: str = "truncated",
                r_onset: float | None = None) -> Callable[..., Array]:
    """Apply a cutoff treatment (see module docstring) to a pair function ``u(dr, **params)``.

    Distances outside ``(0, r_cutoff)`` never reach ``u`` (double-where), so padded neighbour
    slots and self pairs give exact zeros and finite gradients.
    """
    if mode not in ("truncated", "shifted", "smoothed"):
        raise ValueError(f"unknown cutoff mode {mode!r}; use 'truncated', 'shifted' or 'smoothed'")
    switch = None
    if mode == "smoothed":
        r_onset = 0.8 * r_cutoff if r_onset is None else r_onset
        if not 0 < r_onset < r_cutoff:
            raise ValueError(f"smoothing needs 0 < r_onset < r_cutoff, got {r_onset}, {r_cutoff}")
        switch = energy.multiplicative_isotropic_cutoff(lambda dr: 1.0, r_onset, r_cutoff)

    def u_cut(dr: Array, **params) -> Array:
        inside = (dr > 0) & (dr < r_cutoff)
        dr_safe = jnp.where(inside, dr, r_cutoff)
        e = u(dr_safe, **params)
        if mode == "shifted":
            e = e - u(jnp.asarray(r_cutoff, dr.dtype), **params)
        elif switch is not None:
            e = e * switch(dr_safe)
        return jnp.where(inside, e, 0.0)

    return u_cut


def strained_metric(displacement_fn: space.DisplacementFn) -> space.MetricFn:
    """The distance metric of ``displacement_fn``, scaled by ``(1 + strain)`` (virial hook)."""

    def metric(Ra: Array, Rb: Array, strain: Array = 0.0, **kwargs) -> Array:
        return space.distance(displacement_fn(Ra, Rb, **kwargs)) * (1.0 + strain)

    return metric


def pair_energy_neighbor_list(
    displacement_fn: space.DisplacementFn,
    box: Array,
    pair_fn: Callable[..., Array],
    r_cutoff: float,
    *,
    species: Array | None = None,
    dr_threshold: float = DEFAULT_SKIN,
    mode: str = "truncated",
    r_onset: float | None = None,
    capacity_multiplier: float = 1.25,
    format: partition.NeighborListFormat = partition.OrderedSparse,
    list_cutoff: float | None = None,
    **default_params,
) -> tuple[partition.NeighborFn, Callable[..., Array]]:
    """Neighbour-listed total energy of a pair potential in a periodic box.

    Args:
      displacement_fn: from ``jax_md.space.periodic(box)``.
      box: box side lengths, ``[]`` or ``[3]``, same length unit as ``R``.
      pair_fn: ``u(dr, **params)``, for example ``FAMILIES["lj"].fn``.
      r_cutoff: interaction cutoff (length units); ``dr_threshold`` is the neighbour-list skin.
      species: ``[n_atoms]`` int, or None for a single species.
      mode, r_onset: cutoff treatment (module docstring).
      list_cutoff: the neighbour list's own cutoff, if longer than ``r_cutoff`` (so that the
        list also serves an observable that reaches further, e.g. g(r)).
      default_params: parameter values used when a call does not pass them.

    Returns:
      ``(neighbor_fn, energy_fn)`` with ``energy_fn(R, neighbor, strain=0., **params) -> []``.
    """
    metric = strained_metric(displacement_fn)
    neighbor_fn = neighbor_list(
        displacement_fn, box, max(r_cutoff, list_cutoff or 0.0), dr_threshold, format=format,
        capacity_multiplier=capacity_multiplier,
    )
    energy_fn = smap.pair_neighbor_list(
        with_cutoff(pair_fn, r_cutoff, mode, r_onset), metric, species=species,
        ignore_unused_parameters=False, **default_params,
    )
    return neighbor_fn, energy_fn


def pair_energy(
    displacement_fn: space.DisplacementFn,
    pair_fn: Callable[..., Array],
    r_cutoff: float,
    *,
    species: Array | None = None,
    mode: str = "truncated",
    r_onset: float | None = None,
    **default_params,
) -> Callable[..., Array]:
    """All-pairs total energy (no neighbour list), ``energy_fn(R, strain=0., **params) -> []``.

    For small systems and for reference checks; same conventions as
    ``pair_energy_neighbor_list``.
    """
    return smap.pair(
        with_cutoff(pair_fn, r_cutoff, mode, r_onset), strained_metric(displacement_fn),
        species=species, ignore_unused_parameters=False, **default_params,
    )
