"""``PairPotential``: which pair potential a system uses, with its parameters, cutoff and
treatment, validated and serialisable to JSON. ``build`` turns it into kernel functions.

Analytic families take scalars (every pair alike) or ``[n_species, n_species]`` symmetric
matrices. The learned families of ``kernels.learned_pair`` take their table or network:
``"spline"`` ``{"u": [n_pairs, n_knots]}`` with ``model = {"r_min": ...}``, ``"neural"``
``{"layers": [[W, b], ...]}`` with ``model = {"hidden": [...]}``; a fitted potential is read
from its fit run by ``workbench.fit.fitted_potential`` and runs like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import param
from jax_md import space

from kernels import potentials as pot
from kernels.learned_pair import (
    NeuralPair,
    SplinePair,
    model_energy_neighbor_list,
    n_pairs,
    pair_index_matrix,
)

LEARNED = ("spline", "neural")

#: a neural potential's repulsive prior, in ``model`` (``kernels.learned_pair.NeuralPair``)
PRIOR_KEYS = ("prior_sigma", "prior_epsilon", "prior_power")


class PairPotential(param.Parameterized):
    """An analytic pair potential from ``kernels.potentials.FAMILIES``."""

    family = param.Selector(default="lj", objects=[*pot.FAMILIES, *LEARNED],
                            doc="Pair potential family.")
    params = param.Dict(default={}, doc="Family parameters (scalars or species matrices); "
                        "missing ones take the family defaults. A learned family's table or "
                        "network.")
    model = param.Dict(default={}, doc="Learned families only: spline {'r_min'}, neural "
                       "{'hidden', 'table_knots' (default 0: the network on every pair), "
                       "'prior_sigma', 'prior_epsilon', 'prior_power' (default 0.9, 1, 12)} "
                       "(see kernels.learned_pair).")
    r_cutoff = param.Number(default=2.5, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Cutoff distance (length units).")
    mode = param.Selector(default="truncated", objects=["truncated", "shifted", "smoothed"],
                          doc="Cutoff treatment.")
    r_onset = param.Number(default=None, allow_None=True,
                           doc="Start of smoothing (length units; 'smoothed' mode only).")
    skin = param.Number(default=pot.DEFAULT_SKIN, bounds=(0, None),
                        doc="Neighbour-list skin (length units).")

    def full_params(self, n_species: int = 1) -> dict[str, Any]:
        """Every family parameter as a float or ``[n_species, n_species]`` array, checked
        (for a learned family: ``{"params": pytree of arrays}``)."""
        if self.family in LEARNED:
            return {"params": self._learned_params(n_species)}
        fam = pot.get_family(self.family)
        unknown = set(self.params) - set(fam.param_names)
        if unknown:
            raise ValueError(f"{fam.description} has no parameter(s) {sorted(unknown)}; "
                             f"its parameters are {list(fam.param_names)}")
        out = {}
        for name, default in fam.defaults.items():
            value = np.asarray(self.params.get(name, default), dtype=float)
            if value.ndim not in (0, 2) or (value.ndim == 2 and value.shape != (n_species,) * 2):
                raise ValueError(f"parameter {name!r} must be a number or a "
                                 f"{n_species}x{n_species} matrix, got shape {value.shape}")
            if value.ndim == 2 and not np.allclose(value, value.T):
                raise ValueError(f"parameter {name!r} matrix must be symmetric")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"parameter {name!r} must be finite, got {value.tolist()}")
            if name in fam.positive and np.any(value <= 0):
                raise ValueError(f"parameter {name!r} must be > 0, got {value.tolist()}")
            if name in fam.nonnegative and np.any(value < 0):
                raise ValueError(f"parameter {name!r} must be >= 0, got {value.tolist()}")
            out[name] = float(value) if value.ndim == 0 else value
        if self.family == "mie" and np.any(np.asarray(out["n"]) <= np.asarray(out["m"])):
            raise ValueError("the n-m potential needs n > m")
        return out

    def contact_distance(self, n_species: int = 1) -> float:
        """A length below which two atoms overlap (half the smallest size parameter; half the
        table's start for a spline; none for a network, whose prior repels)."""
        if self.family in LEARNED:
            return 0.5 * self._model().r_min if self.family == "spline" else 0.0
        p = self.full_params(n_species)
        sizes = [np.min(p[k]) for k in pot.get_family(self.family).length_params]
        return 0.5 * float(min(sizes)) if sizes else 0.0

    def build(self, box: np.ndarray, species: np.ndarray | None, n_species: int,
              dtype=np.float32) -> tuple[Callable, Callable, Callable, Callable, dict]:
        """Kernel functions for a periodic box ``[3]``: ``(displacement_fn, shift_fn,
        neighbor_fn, energy_fn, params)``, with ``params`` and the box as ``dtype`` arrays."""
        params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, dtype),
                                        self.full_params(n_species))
        box = jnp.asarray(box, dtype)
        displacement_fn, shift_fn = space.periodic(box)
        if self.family in LEARNED:
            neighbor_fn, energy_fn = model_energy_neighbor_list(
                displacement_fn, box, self._model(), self.r_cutoff,
                species=None if n_species == 1 else jnp.asarray(species), n_species=n_species,
                dr_threshold=self.skin, mode=self.mode)
            return displacement_fn, shift_fn, neighbor_fn, energy_fn, params
        neighbor_fn, energy_fn = pot.pair_energy_neighbor_list(
            displacement_fn, box, pot.get_family(self.family).fn, self.r_cutoff,
            species=None if n_species == 1 else jnp.asarray(species), dr_threshold=self.skin,
            mode=self.mode, r_onset=self.r_onset,
        )
        return displacement_fn, shift_fn, neighbor_fn, energy_fn, params

    def curve(self, r: np.ndarray, pair: tuple[int, int] = (0, 0),
              n_species: int = 1) -> np.ndarray:
        """``u(r)`` (energy units) between species ``pair``, with the cutoff treatment."""
        params = self.full_params(n_species)
        if self.family in LEARNED:
            pair_id = int(pair_index_matrix(n_species)[pair])
            u = pot.with_cutoff(self._model().pair_fn(params["params"]), self.r_cutoff,
                                self.mode, self.r_onset)
            return np.asarray(u(jnp.asarray(r, float), pair_id=pair_id))
        u = pot.with_cutoff(pot.get_family(self.family).fn, self.r_cutoff, self.mode,
                            self.r_onset)
        at_pair = {k: np.asarray(v)[pair] if np.ndim(v) == 2 else v for k, v in params.items()}
        return np.asarray(u(jnp.asarray(r, float), **at_pair))

    def _model(self) -> SplinePair | NeuralPair:
        if self.family == "spline":
            if "r_min" not in self.model:
                raise ValueError("a spline potential needs model={'r_min': ...}")
            u = np.asarray(self.params.get("u", np.zeros((1, 2))))
            return SplinePair(r_min=float(self.model["r_min"]), r_cutoff=self.r_cutoff,
                              n_knots=u.shape[-1])
        prior = {k: float(self.model[k]) for k in PRIOR_KEYS if k in self.model}
        return NeuralPair(r_cutoff=self.r_cutoff, hidden=tuple(self.model.get("hidden", (32, 32))),
                          table_knots=int(self.model.get("table_knots", 0)), **prior)

    def _learned_params(self, n_species: int) -> dict:
        """The table or network as float arrays, with its shapes checked."""
        if self.family == "spline":
            u = np.asarray(self.params.get("u"), dtype=float)
            if u.ndim != 2 or u.shape[0] != n_pairs(n_species) or u.shape[1] < 4:
                raise ValueError(f"spline table 'u' must be [{n_pairs(n_species)} species "
                                 f"pairs, >= 4 knots], got shape {u.shape}")
            arrays = {"u": u}
        else:
            layers = self.params.get("layers")
            if not layers:
                raise ValueError("a neural potential needs params={'layers': [[W, b], ...]}")
            arrays = {"layers": [(np.asarray(w, float), np.asarray(b, float))
                                 for w, b in layers]}
            if arrays["layers"][-1][1].shape != (n_pairs(n_species),):
                raise ValueError(f"the network must have {n_pairs(n_species)} outputs (one per "
                                 "species pair)")
        leaves = [np.asarray(x) for x in _leaves(arrays)]
        if not all(np.all(np.isfinite(x)) for x in leaves):
            raise ValueError(f"the {self.family} potential's parameters must be finite")
        return arrays

    def to_dict(self) -> dict:
        return {"family": self.family, "params": _jsonable(self.params),
                "model": _jsonable(self.model), "r_cutoff": self.r_cutoff, "mode": self.mode,
                "r_onset": self.r_onset, "skin": self.skin}

    @classmethod
    def from_dict(cls, d: dict) -> PairPotential:
        return cls(**d)


def _leaves(tree):
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def _jsonable(tree):
    """Arrays (also inside dicts, lists and tuples) as nested lists of floats."""
    if isinstance(tree, dict):
        return {k: _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_jsonable(v) for v in tree]
    return np.asarray(tree).tolist()
