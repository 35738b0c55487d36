"""``PairPotential``: which pair potential a system uses, with its parameters, cutoff and
treatment, validated and serialisable to JSON. ``build`` turns it into kernel functions.

Parameters are scalars (every pair alike) or ``[n_species, n_species]`` symmetric matrices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import param
from jax_md import space

from kernels import potentials as pot


class PairPotential(param.Parameterized):
    """An analytic pair potential from ``kernels.potentials.FAMILIES``."""

    family = param.Selector(default="lj", objects=list(pot.FAMILIES),
                            doc="Pair potential family.")
    params = param.Dict(default={}, doc="Family parameters (scalars or species matrices); "
                        "missing ones take the family defaults.")
    r_cutoff = param.Number(default=2.5, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Cutoff distance (length units).")
    mode = param.Selector(default="truncated", objects=["truncated", "shifted", "smoothed"],
                          doc="Cutoff treatment.")
    r_onset = param.Number(default=None, allow_None=True,
                           doc="Start of smoothing (length units; 'smoothed' mode only).")
    skin = param.Number(default=0.3, bounds=(0, None), doc="Neighbour-list skin (length units).")

    def full_params(self, n_species: int = 1) -> dict[str, Any]:
        """Every family parameter as a float or ``[n_species, n_species]`` array, checked."""
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
        """A length below which two atoms overlap (half the smallest size parameter)."""
        p = self.full_params(n_species)
        sizes = [np.min(p[k]) for k in pot.get_family(self.family).length_params]
        return 0.5 * float(min(sizes)) if sizes else 0.0

    def build(self, box: np.ndarray, species: np.ndarray | None, n_species: int,
              dtype=np.float32) -> tuple[Callable, Callable, Callable, Callable, dict]:
        """Kernel functions for a periodic box ``[3]``: ``(displacement_fn, shift_fn,
        neighbor_fn, energy_fn, params)``, with ``params`` and the box as ``dtype`` arrays."""
        import jax.numpy as jnp

        params = {k: jnp.asarray(v, dtype) for k, v in self.full_params(n_species).items()}
        box = jnp.asarray(box, dtype)
        displacement_fn, shift_fn = space.periodic(box)
        neighbor_fn, energy_fn = pot.pair_energy_neighbor_list(
            displacement_fn, box, pot.get_family(self.family).fn, self.r_cutoff,
            species=None if n_species == 1 else jnp.asarray(species), dr_threshold=self.skin,
            mode=self.mode, r_onset=self.r_onset,
        )
        return displacement_fn, shift_fn, neighbor_fn, energy_fn, params

    def to_dict(self) -> dict:
        return {"family": self.family, "params": _jsonable(self.params),
                "r_cutoff": self.r_cutoff, "mode": self.mode, "r_onset": self.r_onset,
                "skin": self.skin}

    @classmethod
    def from_dict(cls, d: dict) -> PairPotential:
        return cls(**d)


def _jsonable(params: dict) -> dict:
    return {k: np.asarray(v).tolist() for k, v in params.items()}
