"""A fit's parameters: the potential's parameters as a ``PairPotential`` holds them ("natural":
family parameters, a spline table, a network) and the optimiser's variables ``theta``.

Positive and non-negative parameters of an analytic family (sizes, energy scales, exponents)
are optimised as logarithms, so no step makes them negative and steps are relative; species
matrices are kept symmetric. Parameters left out of ``fit_params`` stay at their starting
values. A spline table ``{"u": [n_pairs, n_knots]}`` and a network's parameters are optimised
as they are: the table starts from the potential of mean force -kT ln g(r) of the first target
(``kernels.ibi``), the network from random weights drawn from the seed
(``kernels.learned_pair``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kernels import ibi
from kernels import potentials as pot
from kernels.learned_pair import NeuralPair, SplinePair, n_pairs, pair_index_matrix
from workbench.fit.settings import FitSettings
from workbench.potential import PairPotential
from workbench.targets import TargetRDF


class ParameterMap:
    """Natural parameters <-> optimiser variables ``theta`` for one fit's settings."""

    def __init__(self, settings: FitSettings):
        self.settings = settings
        self.learned = settings.learned
        self.spec = None if self.learned else pot.get_family(settings.family)
        self.fit_names: list[str] = []
        self.logs: set[str] = set()
        if self.spec is not None:
            self.fit_names = list(settings.fit_params or self.spec.param_names)
            unknown = set(self.fit_names) - set(self.spec.param_names)
            if unknown:
                raise ValueError(f"{self.spec.description} has no parameter(s) "
                                 f"{sorted(unknown)}")
            self.logs = set(self.spec.positive) | set(self.spec.nonnegative)

    @property
    def dtype(self):
        """The fit's float type (``FitSettings.dtype``)."""
        return self.settings.dtype

    def kwargs(self, theta: dict) -> dict:
        """Energy keyword arguments for ``theta`` (pure JAX: traced inside the loss)."""
        if self.learned:
            return {"params": theta}
        out = {}
        for name, v in theta.items():
            v = jnp.exp(v) if name in self.logs else v
            out[name] = 0.5 * (v + v.T) if v.ndim == 2 else v
        return out

    def natural(self, theta: dict) -> dict:
        """The parameters ``theta`` stands for, as numpy: fitted family parameters (floats or
        ``[n_species, n_species]``), ``{"u": ...}`` or the network pytree."""
        kw = self.kwargs(theta)
        return jax.tree_util.tree_map(np.asarray, kw["params"] if self.learned else kw)

    def theta_of(self, params: dict) -> dict:
        """Optimiser variables for natural parameters (inverse of ``natural``)."""
        if self.learned:
            return jax.tree_util.tree_map(lambda a: jnp.asarray(a, self.dtype), params)
        return {k: jnp.asarray(np.log(params[k]) if k in self.logs else params[k], self.dtype)
                for k in self.fit_names}

    def average(self, history: list[dict]) -> dict:
        """The mean of natural parameters, taken over the optimiser variables (logarithms of
        positive parameters: a geometric mean)."""
        thetas = [self.theta_of(p) for p in history]
        mean = jax.tree_util.tree_map(lambda *a: jnp.mean(jnp.stack(a), axis=0), *thetas)
        return self.natural(mean)

    def vector(self, params: dict) -> tuple[list[str], np.ndarray]:
        """Fitted analytic ``params`` as labelled optimiser variables: ``(labels, values
        [p])``, each species matrix by its upper triangle; labels ``"ln sigma"`` for a
        logarithm, ``"ln sigma[A-B]"`` for a species pair."""
        names = self.settings.targets[0].species_names if self.settings.targets else []
        labels, values = [], []
        for k, v in self.theta_of(params).items():
            v = np.asarray(v, float)
            prefix = f"ln {k}" if k in self.logs else k
            if v.ndim == 0:
                labels.append(prefix)
                values.append(float(v))
                continue
            for i, j in zip(*np.triu_indices(len(v)), strict=True):
                pair = "-".join(names[a] if a < len(names) else str(a) for a in (i, j))
                labels.append(f"{prefix}[{pair}]")
                values.append(float(v[i, j]))
        return labels, np.asarray(values)

    def unvector(self, values: np.ndarray, like: dict) -> dict:
        """Per-entry ``values [p]`` in ``vector``'s order (standard errors, say) as
        ``{name: value}`` shaped like the parameters ``like``: species matrices filled from
        their upper triangle."""
        out, k = {}, 0
        for name in self.fit_names:
            shape = np.shape(like[name])
            if not shape:
                out[name], k = float(values[k]), k + 1
                continue
            rows, cols = np.triu_indices(shape[0])
            matrix = np.zeros(shape)
            matrix[rows, cols] = matrix[cols, rows] = values[k:k + len(rows)]
            out[name], k = matrix, k + len(rows)
        return out

    def complete(self, params: dict) -> dict:
        """Every family parameter: ``params``, else the starting value, else the default."""
        if self.learned:
            return dict(params)
        return {**self.spec.defaults, **self.settings.initial_params, **params}

    def fixed(self) -> dict:
        """The analytic parameters that are not fitted, as arrays of the fit's dtype."""
        if self.learned:
            return {}
        return {k: jnp.asarray(v, self.dtype) for k, v in self.complete({}).items()
                if k not in self.fit_names}

    def initial_theta(self, model, r_grid: np.ndarray, g_target: np.ndarray) -> dict:
        """Starting ``theta``: the starting parameters, else the family defaults; a spline's
        potential of mean force of ``g_target`` (the first target on ``r_grid [n_bins]``), a
        network's random weights."""
        s = self.settings
        if s.family == "spline":
            if "u" in s.initial_params:
                return {"u": jnp.asarray(s.initial_params["u"], self.dtype)}
            target = s.targets[0]
            rows = np.atleast_2d(np.asarray(g_target))
            pmf = np.asarray(ibi.potential_of_mean_force(
                jnp.asarray(model.knots), jnp.asarray(r_grid), jnp.asarray(rows), target.kT,
                g_floor=s.ibi_g_floor))
            u = np.zeros((n_pairs(s.n_species), s.n_knots))
            for row, k in zip(pmf, pair_rows(target, s.n_species), strict=True):
                u[k] = row
            return {"u": jnp.asarray(u, self.dtype)}
        if s.family == "neural":
            p = s.initial_params or model.init_params(jax.random.PRNGKey(s.seed), s.n_species,
                                                      dtype=self.dtype)
            return self.theta_of(p)
        values = {k: np.asarray(v, float) for k, v in self.complete({}).items()}
        for name in self.fit_names:
            if name in self.logs and np.any(values[name] <= 0):
                raise ValueError(f"initial {name} must be > 0, got {values[name].tolist()}")
        return self.theta_of(values)


def pair_model(settings: FitSettings) -> SplinePair | NeuralPair | None:
    """The learned pair function of a spline or neural fit (None for an analytic family)."""
    if settings.family == "spline":
        return SplinePair(r_min=settings.first_knot, r_cutoff=settings.r_cutoff,
                          n_knots=settings.n_knots)
    if settings.family == "neural":
        return NeuralPair(r_cutoff=settings.r_cutoff, hidden=tuple(settings.neural_hidden),
                          table_knots=settings.neural_table_knots, **settings.neural_prior)
    return None


def pair_rows(target: TargetRDF, n_species: int) -> list[int]:
    """Row of the spline table (species pair) for each row of the target's g."""
    if not target.species_pairs:
        return [0]
    idx = pair_index_matrix(n_species)
    return [int(idx[a, b]) for a, b in target.species_pairs]


def param_structure(settings: FitSettings) -> Any:
    """The pytree structure of the natural parameters (for reading flattened leaves back):
    ``{"u"}`` for a spline, the network's for 'neural', None for an analytic family."""
    if settings.family == "spline":
        return jax.tree_util.tree_structure({"u": 0})
    if settings.family == "neural":
        return jax.tree_util.tree_structure(pair_model(settings).init_params(
            jax.random.PRNGKey(0), settings.n_species))
    return None


def to_pair_potential(settings: FitSettings, params: dict) -> PairPotential:
    """Natural ``params`` as the ``PairPotential`` a ``Simulation`` or ``PairCalculator`` runs;
    fixed parameters of a partial analytic fit keep their starting values."""
    model = {}
    if settings.family == "spline":
        model = {"r_min": settings.first_knot}
    elif settings.family == "neural":
        model = {"hidden": list(settings.neural_hidden),
                 "table_knots": settings.neural_table_knots, **settings.neural_prior}
    return PairPotential(family=settings.family, params=ParameterMap(settings).complete(params),
                         model=model,
                         r_cutoff=settings.r_cutoff, mode=settings.cutoff_mode,
                         skin=settings.skin)
