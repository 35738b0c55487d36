"""``CGPotential``: a fitted coarse-grained potential (the terms of ``kernels.cg.force_matching``
with their coefficients and bead-type names), its tabulated pair energy and force, its bonded
parameters, kernel energy functions for CG MD, and JSON storage that reloads to the same
numbers (floats written with Python's shortest round-trip repr).

A plain value like ``PairPotential``: ``workbench.coarse.ForceMatching`` makes one, and a
``System`` with ``cg=`` runs it through ``Simulation``. Units are those of the data it was
fitted to (``units`` records which: ``"reduced"`` LJ units or ``"ase"``, Å and eV).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.cg.force_matching import BondedTerm, CGModel, cg_energy, cg_energy_neighbor_list
from kernels.learned_pair import ForceSplinePair, SplinePair, pair_index_matrix
from kernels.potentials import with_cutoff
from workbench.io import atomic_write_text
from workbench.potential import PairPotential


@partial(jax.jit, static_argnums=0)
def _curves(spline: SplinePair, table: jnp.ndarray, r: jnp.ndarray, row: int):
    """``(u(r), -du/dr)`` of the spline's row ``row`` (truncated at its cutoff)."""
    u = with_cutoff(spline.pair_fn({spline.table_key: table}), spline.r_cutoff)
    one = lambda x: u(x, pair_id=row)
    return jax.vmap(one)(r), -jax.vmap(jax.grad(one))(r)


FORMAT = "md-workbench CGPotential"
VERSION = 1
_TERMS = ("bond", "angle", "dihedral", "improper")
_BASES = {ForceSplinePair: "force", SplinePair: "energy"}  # the pair table's knot values


def _integer(x) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer):
        raise TypeError(f"expected a whole number, got {x!r}")
    return int(x)


@dataclass(frozen=True, eq=False)
class CGPotential:
    """A CG potential: ``model`` (its terms), ``coefficients`` (``{term: array}`` as
    ``model.coefficient_shapes()``), ``type_names`` (bead types), ``term_names`` (``{term: names
    of its types}``), ``units`` and the fit's ``metrics``."""

    model: CGModel
    coefficients: dict[str, np.ndarray]
    type_names: tuple[str, ...]
    term_names: dict[str, list[str]] = field(default_factory=dict)
    units: str = "reduced"
    metrics: dict = field(default_factory=dict)

    def _pair_row(self, a: str | None, b: str | None) -> int:
        if self.model.pair is None:
            raise ValueError("this CG potential has no pair term")
        a, b = (self.type_names[0] if x is None else x for x in (a, b))
        unknown = [x for x in (a, b) if x not in self.type_names]
        if unknown:
            raise ValueError(f"unknown bead type {unknown[0]!r}; the types are "
                             f"{list(self.type_names)}")
        idx = [self.type_names.index(x) for x in (a, b)]
        return int(pair_index_matrix(len(self.type_names))[idx[0], idx[1]])

    def _pair_curves(self, r: np.ndarray, a: str | None, b: str | None):
        r = jnp.atleast_1d(jnp.asarray(r, jnp.float64))
        return _curves(self.model.pair, jnp.asarray(self.coefficients["pair"], jnp.float64),
                       r, self._pair_row(a, b))

    def pair_energy(self, r: np.ndarray, a: str | None = None, b: str | None = None
                    ) -> np.ndarray:
        """``u(r)`` (energy units) between bead types ``a`` and ``b`` (default the first type)
        at distances ``r [m]`` (length units); 0 at and beyond the cutoff."""
        return np.asarray(self._pair_curves(r, a, b)[0])

    def pair_force(self, r: np.ndarray, a: str | None = None, b: str | None = None
                   ) -> np.ndarray:
        """``-du/dr`` (energy / length, positive repulsive) at ``r [m]`` (length units)."""
        return np.asarray(self._pair_curves(r, a, b)[1])

    def _harmonic(self, term: str) -> dict[str, tuple[float, float]]:
        bonded: BondedTerm = getattr(self.model, term + "s")
        out = {}
        for k, name in enumerate(self.term_names.get(term, [])):
            a, b = self.coefficients[term][k]
            out[name] = (2.0 * a, bonded.reference[k] - b / (2.0 * a) if a else float("nan"))
        return out

    def bond_parameters(self) -> dict[str, tuple[float, float]]:
        """``{bond type: (k, r0)}`` of ``k/2 (r - r0)^2`` (energy / length^2, length)."""
        return self._harmonic("bond")

    def angle_parameters(self) -> dict[str, tuple[float, float]]:
        """``{angle type: (k, theta0)}`` of ``k/2 (theta - theta0)^2`` (energy / rad^2, rad)."""
        return self._harmonic("angle")

    def improper_parameters(self) -> dict[str, tuple[float, float]]:
        """``{improper type: (k, xi0)}`` of ``k/2 (xi - xi0)^2`` (energy / rad^2; rad in
        (-pi, pi], the mean of the fitted data: a fit holds the linear term at 0)."""
        return {name: (k, float(np.angle(np.exp(1j * xi0))))
                for name, (k, xi0) in self._harmonic("improper").items()}

    def params(self, dtype=jnp.float64, wall: float | None = None) -> dict:
        """``{"coeffs": pytree}`` in ``dtype``: the keyword parameters of the energy functions
        (the runner's ``params``); with ``wall`` (energy units, e.g. kT) also the height of
        the repulsive wall below the fitted range (``kernels.cg.force_matching.walled_pair``),
        which MD should have."""
        out = {"coeffs": {k: jnp.asarray(v, dtype) for k, v in self.coefficients.items()}}
        if wall is not None:
            out["wall"] = jnp.asarray(wall, dtype)
        return out

    def energy_fn(self, displacement_fn: space.DisplacementFn, wall: float | None = None
                  ) -> Callable:
        """``energy(R, pairs, strain=0.) -> []`` with these coefficients (``R: [n_beads, 3]``,
        ``pairs: [2, n_pairs]`` padded with ``n_beads``, e.g. ``kernels.cg.all_pairs``); in
        ``R``'s dtype. ``wall``: the repulsive wall below the fitted range (energy units;
        ``kernels.cg.force_matching.walled_pair``), or None for the bare spline."""
        energy = cg_energy(displacement_fn, self.model)
        coeffs = self.params()["coeffs"]
        return lambda R, pairs, strain=0.0: energy(R, coeffs, pairs, strain=strain, wall=wall)

    def neighbor_energy(self, box: np.ndarray | None, skin: float = 0.5,
                        dtype=jnp.float64):
        """``(displacement_fn, shift_fn, neighbor_fn, energy_fn)`` in a periodic ``box [3]``
        (length), or in free space for ``box=None`` (every bead pair listed), for
        ``kernels.runner.simulator`` with positions in ``dtype``; pass ``params(dtype,
        wall=kT)`` as its ``params`` (the wall keeps beads out of the range the fit never
        sampled)."""
        if box is None:
            displacement_fn, shift_fn = space.free()
        else:
            box = jnp.asarray(box, dtype)
            displacement_fn, shift_fn = space.periodic(box)
        neighbor_fn, energy_fn = cg_energy_neighbor_list(displacement_fn, box, self.model,
                                                         dr_threshold=skin)
        return displacement_fn, shift_fn, neighbor_fn, energy_fn

    def pair_potential(self) -> PairPotential:
        """The pair term as a workbench ``PairPotential`` (family ``"spline"``, species = bead
        types), for a model with nothing else (no bonded terms or exclusions), so it runs
        through ``Simulation`` like any pair potential."""
        m = self.model
        if m.pair is None or any(getattr(m, t + "s") is not None for t in _TERMS) \
                or len(m.excluded):
            raise ValueError("only a pure pair potential (no bonded terms or exclusions) is a "
                             "PairPotential")
        if type(m.pair) is not SplinePair:
            raise ValueError("the 'spline' PairPotential tabulates energies: fit with "
                             "ForceMatching(basis='energy') for one")
        return PairPotential(family="spline", params={"u": self.coefficients["pair"].tolist()},
                             model={"r_min": m.pair.r_min}, r_cutoff=m.pair.r_cutoff)

    def to_dict(self) -> dict:
        m = self.model
        out = {"format": FORMAT, "version": VERSION, "units": self.units,
               "n_beads": m.n_beads, "bead_types": m.bead_types.tolist(),
               "type_names": list(self.type_names), "n_harmonics": m.n_harmonics,
               "excluded": np.asarray(m.excluded).tolist(),
               "pair": None if m.pair is None else {
                   "r_min": m.pair.r_min, "r_cutoff": m.pair.r_cutoff,
                   "n_knots": m.pair.n_knots, "basis": _BASES[type(m.pair)]},
               "coefficients": {k: np.asarray(v).tolist() for k, v in self.coefficients.items()},
               "term_names": self.term_names, "metrics": self.metrics}
        for t in _TERMS:
            term = getattr(m, t + "s")
            out[t + "s"] = None if term is None else {
                "indices": term.indices.tolist(), "types": term.types.tolist(),
                "reference": np.asarray(term.reference, float).tolist(),
                "limits": None if term.limits is None else np.asarray(term.limits).tolist()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> CGPotential:
        """The potential ``to_dict`` wrote; ``ValueError`` for anything else (another format,
        missing or mistyped fields, indices out of range, non-finite coefficients)."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
            found = (d.get("format"), d.get("version")) if isinstance(d, dict) else type(d)
            raise ValueError(f"not a version-{VERSION} CG potential: {found}")
        try:
            out = cls._from_dict(d)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a valid CG potential: {type(exc).__name__}: {exc}") from None
        out._check()
        return out

    @classmethod
    def _from_dict(cls, d: dict) -> CGPotential:
        terms = {}
        for t, width in zip(_TERMS, (2, 3, 4, 4), strict=True):
            x = d.get(t + "s")
            terms[t + "s"] = None if x is None else BondedTerm(
                np.asarray(x["indices"], np.int64).reshape(-1, width),
                np.asarray(x["types"], np.int64), np.asarray(x["reference"], float),
                None if x.get("limits") is None else np.asarray(x["limits"], float))
        pair = None
        if d["pair"] is not None:
            basis = d["pair"].get("basis", "energy")  # files from before the force basis
            if basis not in _BASES.values():
                raise ValueError(f"unknown pair basis {basis!r}: 'force' or 'energy'")
            spline = {v: k for k, v in _BASES.items()}[basis]
            p = d["pair"]
            pair = spline(float(p["r_min"]), float(p["r_cutoff"]), _integer(p["n_knots"]))
        model = CGModel(n_beads=d["n_beads"], bead_types=np.asarray(d["bead_types"], np.int64),
                        pair=pair, n_harmonics=d["n_harmonics"],
                        excluded=np.asarray(d["excluded"], np.int64).reshape(-1, 2), **terms)
        coeffs = {k: np.asarray(v, float) for k, v in d["coefficients"].items()}
        shapes = model.coefficient_shapes()
        if {k: v.shape for k, v in coeffs.items()} != shapes:
            raise ValueError(f"coefficient shapes {[(k, v.shape) for k, v in coeffs.items()]} "
                             f"do not match the model's {shapes}")
        return cls(model, coeffs, tuple(d["type_names"]), d.get("term_names", {}),
                   d.get("units", "reduced"), d.get("metrics", {}))

    def _check(self) -> None:
        """``ValueError`` unless beads, types, indices and coefficients are consistent."""
        m = self.model
        problems = []
        if self.units not in ("reduced", "ase"):
            problems.append(f"units {self.units!r}")
        if len(m.bead_types) != m.n_beads or (m.n_beads and (
                m.bead_types.min() < 0 or m.bead_types.max() >= len(self.type_names))):
            problems.append("bead types do not match n_beads and type_names")
        for name in _TERMS + ("excluded",):
            term = getattr(m, name if name == "excluded" else name + "s")
            if term is None:
                continue
            idx = term if name == "excluded" else term.indices
            if idx.size and (idx.min() < 0 or idx.max() >= m.n_beads):
                problems.append(f"{name} bead indices outside [0, {m.n_beads - 1}]")
            if name != "excluded" and term.types.size and (
                    term.types.min() < 0 or term.types.max() >= term.n_types
                    or len(term.types) != len(term.indices)):
                problems.append(f"{name} types do not match its references")
        if m.pair is not None and not 0 < m.pair.r_min < m.pair.r_cutoff:
            problems.append(f"pair range {m.pair.r_min}..{m.pair.r_cutoff}")
        if not all(np.all(np.isfinite(v)) for v in self.coefficients.values()):
            problems.append("non-finite coefficients")
        if problems:
            raise ValueError("not a valid CG potential: " + "; ".join(problems))

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically (a temporary file, then ``os.replace``)."""
        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> CGPotential:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
