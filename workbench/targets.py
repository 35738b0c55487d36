"""``TargetRDF``: the structure a potential fit aims at: g(r) (or the partial g_ab of a mixture)
with the state point it was measured at (density, temperature, composition, units).

A plain value: targets come from a file (``from_file``) or from frames of positions
(``from_frames``). Files are text tables in the layouts people have (``workbench.rdf_files``
lists them: columns ``r, g[, g2, ...]`` with any of the usual separators, comments and
headers; GROMACS ``.xvg``; LAMMPS ``fix ave/time``; pandas and R CSVs with a row-index column;
VMD's ``r g(r) int`` with its running integral; transposed two-row files as mdgrad ships), or an
``.npz`` with arrays ``r`` and ``g`` (and optionally ``density``, ``temperature``). The target
says how its file was read (``layout``) and what reading it left out, assumed or repaired
(``notes``: a stray out-of-order point sorted in, repeated r averaged, noise-level negative g
set to 0, r converted from nm to Å), and logs the notes. Malformed files raise ``ValueError``
naming the file and the line (or column). Arrays are read with ``allow_pickle=False``. Targets
from the workbench's own simulations and stored runs are made by ``workbench.fit.targets``.

The fit compares the target with the *smooth* g(r) of its simulations (Gaussian width
``rdf_sigma``, ``kernels.observables.rdf.rdf_smooth``); a target made by the workbench records
the width it was made with, so the fit uses the same one. A histogram from elsewhere is best
compared with a small width (one bin).
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import param
from ase.data import atomic_masses, atomic_numbers
from jax_md import space
from scipy.special import ndtr

from kernels.observables.rdf import check_r_max, rdf_smooth
from workbench import io, rdf_files
from workbench.units import ReducedUnits, get_units, number_density

log = logging.getLogger(__name__)


class TargetRDF(param.Parameterized):
    """A target g(r) at one state point (module docstring)."""

    r = param.Array(doc="[n_bins] bin centres (length units), increasing")
    g = param.Array(doc="[n_bins], or [n_pairs, n_bins] partial RDFs in the order of "
                    "species_pairs (dimensionless)")
    species_pairs = param.List(default=[], doc="[(a, b), ...] species pairs of the rows of g "
                               "(empty for a one-component g)")
    density = param.Number(default=None, allow_None=True, bounds=(0, None),
                           inclusive_bounds=(False, True),
                           doc="Number density (atoms per length unit cubed).")
    temperature = param.Number(default=None, allow_None=True, bounds=(0, None),
                               inclusive_bounds=(False, True),
                               doc="Temperature, in the unit system's temperature unit.")
    composition = param.List(default=[1.0], doc="Mole fraction of each species (sums to 1).")
    species_names = param.List(default=["A"], item_type=str)
    units = param.Selector(default="lj", objects=["lj", "ase"])
    rdf_sigma = param.Number(default=None, allow_None=True, bounds=(0, None),
                             doc="Gaussian smearing of g (length units); None for a histogram.")
    source = param.String(default="", doc="Where the target came from (file, run id, ...).")
    layout = param.String(default="", doc="How a file target was read: the file's layout and "
                          "what each column (or row) was taken as.")
    notes = param.List(default=[], item_type=str, doc="What reading the file left out, "
                       "assumed or repaired (sorted, averaged, clipped, converted points), "
                       "naming the lines.")

    def __init__(self, **params):
        super().__init__(**params)
        self.validate()

    # --- checks and views ----------------------------------------------------------------
    def validate(self, name: str = "target") -> None:
        """``ValueError`` (mentioning ``name``) for inconsistent arrays or state point."""
        r, g = np.asarray(self.r, float), np.asarray(self.g, float)
        if r.ndim != 1 or len(r) < 3:
            raise ValueError(f"{name}: r must be 1-D with at least 3 points, got shape {r.shape}")
        if g.shape[-1:] != r.shape or g.ndim not in (1, 2):
            raise ValueError(f"{name}: g must be [n_bins] or [n_pairs, n_bins] with n_bins = "
                             f"{len(r)}, got shape {g.shape}")
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
            raise ValueError(f"{name}: r and g must be finite numbers")
        if np.any(np.diff(r) <= 0) or r[0] < 0:
            i = 0 if r[0] < 0 else int(np.flatnonzero(np.diff(r) <= 0)[0]) + 1
            raise ValueError(f"{name}: r must be non-negative and strictly increasing (point "
                             f"{i + 1}: r = {r[i]:.6g}{f' after {r[i - 1]:.6g}' if i else ''})")
        if np.any(g < 0):
            i = int(np.flatnonzero(np.any(np.atleast_2d(g) < 0, axis=0))[0])
            raise ValueError(f"{name}: g(r) must be >= 0 (point {i + 1}, r = {r[i]:.6g})")
        n_rows = 1 if g.ndim == 1 else g.shape[0]
        if (g.ndim == 2 or self.species_pairs) and len(self.species_pairs) != n_rows:
            raise ValueError(f"{name}: {n_rows} g rows but {len(self.species_pairs)} "
                             "species_pairs")
        if len(self.composition) != len(self.species_names) or not np.isclose(
                sum(self.composition), 1.0):
            raise ValueError(f"{name}: composition needs one mole fraction per species, "
                             "summing to 1")

    @property
    def n_species(self) -> int:
        return len(self.species_names)

    @property
    def kT(self) -> float:
        """Thermal energy (energy units) of the target's temperature."""
        return get_units(self.units).kT(self.temperature)

    @property
    def g_rows(self) -> np.ndarray:
        """g as ``[n_pairs, n_bins]`` (one row for a one-component g)."""
        return np.atleast_2d(np.asarray(self.g, float))

    @property
    def r_end(self) -> float:
        """Where the target's last bin ends: its last point plus half the last spacing (the
        grid may be non-uniform, as experimental ones often are)."""
        r = np.asarray(self.r, float)
        return float(r[-1] + 0.5 * (r[-1] - r[-2]))

    def on_grid(self, r_max: float, n_bins: int, sigma: float | None = None) -> np.ndarray:
        """g on ``n_bins`` bins on ``[0, r_max]``, shape of ``g`` with the last axis ``n_bins``:
        linearly interpolated to the bin centres (0 below the first point, the last value past
        the end).

        ``sigma`` (length units): the Gaussian width a fit smears its simulated g with before
        counting it in its bins (``kernels.observables.rdf.rdf_smooth``). A target is taken as
        a histogram on its own points (bins as wide as their spacing), smeared by
        ``rdf_sigma`` (None: a plain histogram, as other codes write). When it is sharper than
        the fit's g, it is smeared by the difference, so that the fit compares like with like
        (a sharper target is one that smeared simulations only reach with a wrong potential:
        a DiffSim fit of LJ to a plain histogram ended with epsilon 23 % high). Each bin's
        width counts as a Gaussian of the same variance (``width^2 / 12``).

        Raises ValueError when ``r_max`` is past the target's last bin."""
        r = np.asarray(self.r, float)
        width = r_max / n_bins
        if r_max > self.r_end + 1e-9 * (r[-1] - r[-2]):  # past the target's last bin
            raise ValueError(f"the target ({self.source or 'g(r)'}) ends at r = {r[-1]:.4g}, "
                             f"short of the fit's r_max = {r_max:.4g}")
        extra = 0.0 if sigma is None else (
            sigma**2 + width**2 / 12.0
            - (self.rdf_sigma or 0.0) ** 2 - float(np.median(np.diff(r))) ** 2 / 12.0)
        if extra > 1e-3 * (sigma or 0.0) ** 2:
            rows = [_smeared(r, row, r_max, n_bins, np.sqrt(extra)) for row in self.g_rows]
        else:
            centres = (np.arange(n_bins) + 0.5) * width
            rows = [np.interp(centres, r, row, left=0.0, right=row[-1]) for row in self.g_rows]
        return rows[0] if np.ndim(self.g) == 1 else np.stack(rows)

    # --- unit conversion ---------------------------------------------------------------
    def default_reduced_units(self, masses: list[float] | None = None) -> ReducedUnits:
        """Reduced units for an ASE-unit target (``ValueError`` for a reduced one): length
        where the first g row first reaches 1 (0.97 sigma for LJ liquids, so the fitted sigma
        starts near 1), energy kT of the target (T* = 1), mass the mole-fraction-weighted
        ``masses`` (amu; default: the elements' masses when the species names are element
        symbols, else 1 amu)."""
        if self.units != "ase":
            raise ValueError("the target is in reduced units already")
        g = self.g_rows[0]
        if not np.any(g >= 1.0):
            raise ValueError(f"the target ({self.source or 'g(r)'}) never reaches g = 1: give "
                             "reduced units (length, energy) explicitly")
        length = float(np.asarray(self.r, float)[np.argmax(g >= 1.0)])
        if masses is None:
            masses = [atomic_masses[atomic_numbers[n]] if n in atomic_numbers else 1.0
                      for n in self.species_names]
        mass = float(np.dot(self.composition, masses))
        return ReducedUnits(length=length, energy=self.kT, mass=mass)

    def in_reduced_units(self, units: ReducedUnits) -> TargetRDF:
        """This ASE-unit target (r in Å, density per Å^3, T in K) in the reduced units of
        ``units``, with a note that records the conversion (``ValueError`` for a target in
        reduced units already)."""
        if self.units != "ase":
            raise ValueError("the target is in reduced units already")
        note = (f"converted to reduced units: length {units.length:.6g} Å, energy "
                f"{units.energy:.6g} eV, mass {units.mass:.6g} amu (tau = {units.tau_fs:.4g} "
                f"fs); T* = {units.temperature(self.temperature):.6g}, rho* = "
                f"{units.density(self.density):.6g}")
        return TargetRDF(
            r=np.asarray(self.r, float) / units.length, g=np.asarray(self.g, float),
            species_pairs=list(self.species_pairs), density=units.density(self.density),
            temperature=units.temperature(self.temperature), composition=list(self.composition),
            species_names=list(self.species_names), units="lj",
            rdf_sigma=None if self.rdf_sigma is None else self.rdf_sigma / units.length,
            source=self.source, layout=self.layout, notes=[*self.notes, note])

    def to_dict(self) -> dict:
        """JSON-ready metadata (no arrays)."""
        return {"species_pairs": [list(p) for p in self.species_pairs], "density": self.density,
                "temperature": self.temperature, "composition": list(self.composition),
                "species_names": list(self.species_names), "units": self.units,
                "rdf_sigma": self.rdf_sigma, "source": self.source, "layout": self.layout,
                "notes": list(self.notes)}

    def save(self, path: str | Path) -> Path:
        """Write ``r``, ``g`` and the state point to an ``.npz`` (atomically)."""
        path = Path(path)
        io.atomic_save_npz(path, r=self.r, g=self.g, density=self.density,
                           temperature=self.temperature, composition=np.asarray(self.composition),
                           species_pairs=np.asarray(self.species_pairs, int).reshape(-1, 2))
        return path

    # --- constructors --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, *, density: float | None = None,
                  temperature: float | None = None, units: str = "lj",
                  composition: list[float] | None = None,
                  species_names: list[str] | None = None,
                  species_pairs: list[tuple[int, int]] | None = None,
                  rdf_sigma: float | None = None, mass_density: float | None = None,
                  masses: list[float] | None = None) -> TargetRDF:
        """Read a text table (module docstring; ``workbench.rdf_files``) or an ``.npz``
        (``r``, ``g``) target; the state point comes from the arguments or, for ``.npz``, from
        its ``density``/``temperature`` arrays. In ASE units a density may be given as
        ``mass_density`` in g/cm^3 instead, with the species' ``masses`` (amu; default: the
        elements' when the species names are element symbols). Several g columns map to
        species pairs by their names (``r gOO gOH gHH``) unless ``species_pairs`` is given.
        ``layout`` and ``notes`` of the target say how the file was read. ``ValueError``
        naming the file (and the line or column) for anything malformed."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"target file {path}: no such file")
        if mass_density is not None:
            density = _from_mass_density(mass_density, masses, units, density, species_names,
                                         composition)
        try:
            return cls._from_file(path, density=density, temperature=temperature, units=units,
                                  composition=composition, species_names=species_names,
                                  species_pairs=species_pairs, rdf_sigma=rdf_sigma)
        except ValueError as exc:
            if str(path) in str(exc):
                raise
            raise ValueError(f"target file {path}: {exc}") from exc

    @classmethod
    def _from_file(cls, path: Path, *, density, temperature, units, composition,
                   species_names, species_pairs, rdf_sigma) -> TargetRDF:
        length = get_units(units).length
        if path.suffix.lower() == ".npz":
            data = io.load_npz(path)  # ValueError naming the file for corrupt archives
            missing = [k for k in ("r", "g") if k not in data]
            if missing:
                raise ValueError(f"missing array(s) {missing}; it has {sorted(data)}")
            r, g = np.asarray(data["r"], float), np.asarray(data["g"], float)
            if r.ndim != 1 or g.ndim not in (1, 2) or g.shape[-1] != len(r):
                raise ValueError(f"arrays r {r.shape} and g {g.shape} must be [n] and [n] "
                                 "(or [n_pairs, n])")
            one_row = g.ndim == 1
            density = density if density is not None else _scalar(data, "density", path)
            temperature = (temperature if temperature is not None
                           else _scalar(data, "temperature", path))
            if composition is None and "composition" in data:
                composition = [float(x) for x in np.ravel(data["composition"])]
            if species_pairs is None and "species_pairs" in data and data["species_pairs"].size:
                species_pairs = [tuple(int(v) for v in p) for p in data["species_pairs"]]
            table = rdf_files.RDFTable(r=r, g=np.atleast_2d(g), g_names=[""] * len(
                np.atleast_2d(g)), where=[f"point {i + 1}" for i in range(len(r))],
                layout=f"npz arrays r {r.shape}, g {g.shape}")
        else:
            table = rdf_files.read_table(path)
            one_row = len(table.g) == 1
        notes = list(table.notes)
        r = _in_length_unit(table, length, notes)
        r, g, _, tidied = rdf_files.tidy(r, table.g, table.where, table.g_names)
        notes += tidied + rdf_files.plausibility_notes(r, length)
        n_g, names = len(g), list(table.g_names)
        if species_pairs is not None:
            if len(species_pairs) != n_g:
                raise ValueError(f"{n_g} g column(s) ({table.layout}) but "
                                 f"{len(species_pairs)} species_pairs")
            _check_pairs_against_names(species_pairs, names, species_names)
        elif n_g == 1:
            species_pairs = []
            pair = rdf_files.pair_of(names[0]) if names[0] else None
            if pair is not None and pair[0] != pair[1]:
                notes.append(f"one g column, named {names[0]} ({pair[0]}-{pair[1]}): read as "
                             "the g(r) of a one-component system")
        else:
            mapped = rdf_files.pairs_from_names(names, species_names)
            if mapped is None:
                named = f" named {', '.join(repr(n) for n in names)}" if any(names) else ""
                why = ("their names do not say which species pairs they are" if not all(
                    rdf_files.pair_of(n) for n in names) else
                    f"their names name species not among species_names {species_names}")
                raise ValueError(f"{n_g} g columns{named} ({table.layout}); {why}: give "
                                 "species_pairs")
            species_pairs, derived = mapped
            if not species_names:
                species_names = derived
            notes.append("g columns " + ", ".join(
                f"{n} -> {species_names[a]}-{species_names[b]}"
                for n, (a, b) in zip(names, species_pairs, strict=True)))
        n_species = 1 + max((max(p) for p in species_pairs), default=0)
        names = species_names or [chr(ord("A") + i) for i in range(n_species)]
        if composition is None and len(names) > 1:
            notes.append(f"no composition given: equal mole fractions of {', '.join(names)} "
                         "assumed")
        comp = composition if composition is not None else [1.0 / len(names)] * len(names)
        if density is None or temperature is None:
            raise ValueError("the state point needs a density and a temperature")
        target = cls(r=r, g=g[0] if n_g == 1 and (one_row or not species_pairs) else g,
                     species_pairs=[tuple(p) for p in species_pairs], density=float(density),
                     temperature=float(temperature), composition=list(comp),
                     species_names=list(names), units=units, rdf_sigma=rdf_sigma,
                     source=str(path), layout=table.layout, notes=notes)
        log.info("target file %s read as %s", path, table.layout)
        for note in notes:
            log.info("target file %s: %s", path, note)
        return target

    @classmethod
    def from_frames(cls, frames: np.ndarray, box: np.ndarray, species: np.ndarray,
                    species_names: list[str], *, temperature: float, units: str = "lj",
                    r_max: float | None = None, n_bins: int = 100,
                    rdf_sigma: float | None = None,
                    species_pairs: list[tuple[int, int]] | None = None,
                    source: str = "frames") -> TargetRDF:
        """The smooth g(r) (all partials for a mixture) of ``frames [n_frames, n_atoms, 3]`` in
        an orthorhombic ``box [3]``; ``r_max`` at most half the box, ``rdf_sigma`` one bin by
        default."""
        if len(frames) == 0:
            raise ValueError("no frames after the equilibration; run longer")
        box, species = np.asarray(box, float), np.asarray(species, int)
        n_species = len(species_names)
        if r_max is None:
            r_max = 0.5 * float(box.min())
        check_r_max(r_max, box=box)
        rdf_sigma = rdf_sigma if rdf_sigma is not None else r_max / n_bins
        disp, _ = space.periodic(jnp.asarray(box))
        R, volume = jnp.asarray(frames), float(np.prod(box))
        if n_species == 1:
            r, g = rdf_smooth(disp, R, volume, r_max, n_bins, rdf_sigma)
            pairs = []
        else:
            pairs = species_pairs or [(a, b) for a in range(n_species)
                                      for b in range(a, n_species)]
            rows = [rdf_smooth(disp, R, volume, r_max, n_bins, rdf_sigma,
                               jnp.asarray(species), tuple(p)) for p in pairs]
            r, g = rows[0][0], jnp.stack([row[1] for row in rows])
        counts = np.bincount(species, minlength=n_species)
        return cls(r=np.asarray(r, float), g=np.asarray(g, float), species_pairs=pairs,
                   density=len(species) / float(np.prod(box)), temperature=float(temperature),
                   composition=(counts / counts.sum()).tolist(),
                   species_names=list(species_names), units=units, rdf_sigma=float(rdf_sigma),
                   source=f"{source}, {len(frames)} frames")


def _smeared(r: np.ndarray, g: np.ndarray, r_max: float, n_bins: int, sigma: float
             ) -> np.ndarray:
    """``[n_bins]`` at the bin centres ``c`` of ``[0, r_max]``: the g of pairs distributed as
    ``r^2 g(r)``, each spread by a Gaussian of width ``sigma``, per shell volume: ``int r^2
    g(r) N(c - r; sigma) dr`` over the bin's mean ``r^2``, integrated exactly. g is constant
    across each target bin (edges halfway between its points; 0 before the first, its last
    value past the end), as a histogram is: interpolating linearly between bin averages would
    smear them by another ``spacing^2 / 6`` of variance, which took a DiffSim fit of LJ on a
    histogram of 0.025 sigma bins to epsilon 4.5 % low."""
    width = r_max / n_bins
    centres = (np.arange(n_bins) + 0.5) * width
    edges = np.concatenate([[max(0.0, r[0] - 0.5 * (r[1] - r[0]))], 0.5 * (r[1:] + r[:-1]),
                            [np.inf]])
    z = (edges[:, None] - centres[None, :]) / sigma  # [n_edges, n_bins]
    phi = np.exp(-0.5 * z**2) / np.sqrt(2.0 * np.pi)
    z_phi = np.zeros_like(z)
    finite = np.isfinite(z)
    z_phi[finite] = z[finite] * phi[finite]
    # int over a bin of (c + sigma z)^2 phi(z) dz, from the antiderivative at each edge
    antiderivative = ((centres**2 + sigma**2) * ndtr(z) - 2.0 * centres * sigma * phi
                      - sigma**2 * z_phi)
    return g @ np.diff(antiderivative, axis=0) / (centres**2 + width**2 / 12.0)


def _from_mass_density(mass_density: float, masses, units: str, density, species_names,
                       composition) -> float:
    """Atoms per Å^3 of ``mass_density`` (g/cm^3); ``ValueError`` when it cannot be had."""
    if units != "ase":
        raise ValueError("a mass density (g/cm^3) needs units='ase' (lengths in Å)")
    if density is not None:
        raise ValueError("give the density or the mass density, not both")
    if masses is None:
        names = species_names or []
        unknown = [n for n in names if n not in atomic_numbers]
        if not names or unknown:
            raise ValueError("a mass density needs the species' masses (amu), or species "
                             "names that are element symbols")
        masses = [atomic_masses[atomic_numbers[n]] for n in names]
    return number_density(mass_density, masses, composition)


def _scalar(data: dict, key: str, path: Path) -> float | None:
    if key not in data:
        return None
    value = np.asarray(data[key])
    if value.size != 1 or not np.issubdtype(value.dtype, np.number):
        raise ValueError(f"target file {path}: {key!r} must be a single number")
    return float(value.reshape(()))


def _in_length_unit(table: rdf_files.RDFTable, length: str, notes: list[str]) -> np.ndarray:
    """r in the target's length unit (``length``: ``sigma`` or ``Å``) when the file names
    its unit (``r (nm)``); ``ValueError`` for a unit that cannot be converted."""
    unit, r = table.r_unit, np.asarray(table.r, float)
    if unit is None or unit == length:
        return r
    if length == "Å" and unit in rdf_files.LENGTH_IN_ANGSTROM:
        factor = rdf_files.LENGTH_IN_ANGSTROM[unit]
        notes.append(f"r is in {unit} (named {table.r_name!r}): converted to Å "
                     f"(x {factor:g})")
        return r * factor
    raise ValueError(f"r is in {unit} (named {table.r_name!r}) but the target's units are "
                     f"{'reduced LJ (sigma)' if length == 'sigma' else 'ASE (Å)'}: give r in "
                     f"{length}, or load it with units={'ase' if length == 'sigma' else 'lj'!r}")


def _check_pairs_against_names(pairs, names: list[str], species_names) -> None:
    """``species_pairs`` given with g columns whose names say their pairs among
    ``species_names``: they must agree."""
    if not species_names or not all(names):
        return
    try:
        mapped = rdf_files.pairs_from_names(names, species_names)
    except ValueError:
        return
    if mapped is None:
        return
    for k, (given, named) in enumerate(zip(pairs, mapped[0], strict=True)):
        if set(given) != set(named):
            raise ValueError(f"g column {k + 1} is named {names[k]} "
                             f"({species_names[named[0]]}-{species_names[named[1]]}) but "
                             f"species_pairs[{k}] is {tuple(given)}")
