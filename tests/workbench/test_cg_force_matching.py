"""Force matching (workbench.coarse): the harmonic toy's effective spring, a Lennard-Jones pair
force recovered from an LJ liquid with the identity mapping, the fitted potential reloaded to
the same numbers, and CG MD with it (NVE energy conservation; its g(r) through Simulation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import potentials as pot
from kernels.runner import simulator
from tests.kernels.test_cg_mapping import ASSIGNMENT, K_EFF, harmonic_dimers
from workbench import Simulation
from workbench.builders import fcc_positions
from workbench.coarse import CGPotential, ForceMatching
from workbench.coarse.compare import bead_rdfs
from workbench.mapping import CGMapping, identity_mapping
from workbench.system import System

N, RHO, KT, RC = 108, 0.8442, 1.0, 2.5  # reduced LJ units
BOX = (N / RHO) ** (1 / 3)
LJ = {"sigma": 1.0, "epsilon": 1.0}


def lj_force(r):
    """-du/dr of 12-6 LJ (sigma = epsilon = 1): 24 (2 r^-13 - r^-7)."""
    return 24.0 * (2.0 / r**13 - 1.0 / r**7)


def lj_liquid(seed: int, n_frames: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, forces) [n_frames, N, 3]`` of the LJ liquid (shifted at RC) at kT = 1:
    melted from fcc at kT = 3 (400 steps), 600 steps at kT = 1, then a frame every 25 steps
    (Langevin, dt = 0.005)."""
    disp, shift = space.periodic(BOX)
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.lennard_jones, RC, mode="shifted")
    init, run = simulator(ef, shift, disp, nf, volume=BOX**3, integrator="langevin")
    s = init(jax.random.PRNGKey(seed), jnp.asarray(fcc_positions(N, BOX)), jnp.ones(N), LJ,
             dt=0.005, kT=3.0)
    s, _ = run(s, LJ, n_frames=1, stride=400, dt=0.005, kT=3.0)
    s, _ = run(s, LJ, n_frames=1, stride=600, dt=0.005, kT=KT)
    s, traj = run(s, LJ, n_frames=n_frames, stride=25, dt=0.005, kT=KT)
    energy = pot.pair_energy(disp, pot.lennard_jones, RC, mode="shifted", **LJ)
    forces = jax.jit(jax.vmap(jax.grad(lambda R: -energy(R))))(traj.positions)
    return np.asarray(traj.positions), np.asarray(forces)


def fit_lj(seed: int, basis: str = "force") -> tuple[CGPotential, np.ndarray]:
    """The fitted potential and the LJ frames ``[40, N, 3]`` it was fitted to."""
    R, F = lj_liquid(seed)
    mapping = identity_mapping(np.ones(N), ["LJ"] * N)  # bead = atom
    fm = ForceMatching(r_cutoff=RC, n_knots=80, basis=basis)
    return fm.fit_mapped(mapping, R, F, box=np.full(3, BOX)), R


@pytest.fixture(scope="module")
def fitted_lj() -> tuple[CGPotential, np.ndarray]:
    return fit_lj(0)


#: bounds of check_lj per basis: max |F_fit - F_LJ| on r in [1.0, 2.45] (eps/sigma), relative
#: force error on the steep wall [0.95, 1.0] (F up to 59), max |u_fit - u_LJ| (eps), force RMSE
#: (per component) over the RMS force on training and on validation frames.
#: Measured (40 frames, 80 knots, r_min the closest sampled distance, 0.88-0.91), seeds 0-5 for
#: the force basis: 0.0005-0.0028, at most 0.06 %, 3e-5-3.5e-4, 0.01-0.09 % and 0.03-0.75 %;
#: seeds 0-7 for the energy basis: 0.009-0.031, at most 1.2 %, 0.0005-0.0073, 0.3-1.7 % and
#: 0.2-2.8 %. The spline is the only error: with the identity mapping the mapped force is
#: exactly a sum of LJ pair forces. The bounds are about twice the worst seen.
LJ_BOUNDS = {"force": (0.006, 0.002, 0.001, 0.003, 0.015),
             "energy": (0.06, 0.03, 0.02, 0.05, 0.06)}


def check_lj(cg: CGPotential, basis: str = "force") -> None:
    force, wall_rtol, energy, rmse_train, rmse_validation = LJ_BOUNDS[basis]
    r = np.linspace(1.0, 2.45, 146)
    assert np.max(np.abs(cg.pair_force(r) - lj_force(r))) < force
    wall = np.linspace(0.95, 1.0, 11)
    np.testing.assert_allclose(cg.pair_force(wall), lj_force(wall), rtol=wall_rtol)
    # energies: the spline is 0 at the cutoff like the shifted LJ, so u itself compares
    u_true = pot.lennard_jones(r) - pot.lennard_jones(RC)
    assert np.max(np.abs(cg.pair_energy(r) - u_true)) < energy
    m = cg.metrics
    assert m["rmse_train"] < rmse_train * m["rmse_zero_train"]
    assert m["rmse_validation"] < rmse_validation * m["rmse_zero_validation"]


def test_force_matching_recovers_the_lj_pair_force(fitted_lj):
    check_lj(fitted_lj[0])


def test_energy_basis_recovers_the_lj_pair_force_and_is_a_pair_potential():
    cg, _ = fit_lj(0, basis="energy")
    check_lj(cg, "energy")
    # the energy table as a workbench PairPotential (family "spline") gives the same u(r)
    r = np.linspace(0.8, 2.6, 50)
    np.testing.assert_allclose(cg.pair_potential().curve(r), cg.pair_energy(r), atol=1e-12)


@pytest.mark.slow  # 5-10 s each: out of the fast tier, which keeps one seed
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_force_matching_recovers_the_lj_pair_force_other_seeds(seed):
    check_lj(fit_lj(seed)[0])


def test_force_matching_recovers_the_harmonic_toy_spring():
    # centre-of-geometry beads of the toy in tests/kernels/test_cg_mapping.py: the PMF is the
    # spring K_EFF/2 |R_A - R_B|^2 (derived there), a CG bond with k = K_EFF and r0 = 0;
    # 20,000 samples give k to about 0.2 % (standard error 0.0016)
    x, f = harmonic_dimers(20000, seed=1)
    mapping = CGMapping(ASSIGNMENT, np.ones(4), weights="geometric", bead_names=["A", "B"])
    cg = ForceMatching(pair=False, validation_fraction=0.2).fit_mapped(
        mapping, x, f, bonds=np.array([[1, 2]]))
    ((name, (k, r0)),) = cg.bond_parameters().items()
    assert name == "A-B"
    assert abs(k - K_EFF) < 0.01 and abs(r0) < 0.02, (k, r0)


def test_fitted_potential_reloads_to_the_same_numbers_and_runs_md(fitted_lj, tmp_path):
    cg, frames = fitted_lj
    cg.save(tmp_path / "cg.json")
    back = CGPotential.load(tmp_path / "cg.json")
    r = np.linspace(0.8, 2.6, 50)
    np.testing.assert_array_equal(back.pair_force(r), cg.pair_force(r))
    np.testing.assert_array_equal(back.pair_energy(r), cg.pair_energy(r))
    assert back.metrics == cg.metrics
    with pytest.raises(ValueError, match="tabulates energies"):
        back.pair_potential()  # a force table is not the 'spline' family's energy table
    # CG MD with the kernel energy: NVE from an LJ frame conserves energy (dt = 0.002)
    disp, shift, neighbor_fn, energy_fn = back.neighbor_energy(np.full(3, BOX))
    init, run = simulator(energy_fn, shift, disp, neighbor_fn, volume=BOX**3)
    state = init(jax.random.PRNGKey(1), jnp.asarray(frames[-1]), jnp.ones(N), back.params(),
                 dt=0.002, kT=KT)
    _, traj = run(state, back.params(), n_frames=10, stride=20, dt=0.002, kT=KT)
    total = np.asarray(traj.thermo["total"])
    assert np.ptp(total) < 1e-3 * N, np.ptp(total)


def test_cg_md_with_the_fitted_lj_potential_gives_the_lj_g_of_r(fitted_lj):
    # CG MD through Simulation (System.from_cg, periodic) with the fitted table, 200 frames
    # after 1,000 steps from an LJ frame, against 200 frames of true LJ (another seed).
    # Integrated |g_CG - g_LJ| (100 bins to half the box), seeds 0-2: 0.024-0.028; two true
    # LJ runs differ by 0.020-0.026 (the sampling noise): bound 1.6x the worst seen
    cg, frames = fitted_lj
    reference, _ = lj_liquid(50, n_frames=200)
    sim = Simulation(System.from_cg(cg, frames[-1], np.ones(N), np.full(3, BOX)),
                     temperature=KT, timestep=0.005, friction=1.0, n_steps=6000, stride=25,
                     frames_per_chunk=100, precision="float64")
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
    g = bead_rdfs(cg, sim.trajectory.positions[-200:], reference, np.full(3, BOX))["LJ-LJ"]
    assert g["difference"] < 0.045, g["difference"]
    # the default precision, float32, runs the same system (its box in the run's dtype)
    short = Simulation(System.from_cg(cg, frames[-1], np.ones(N), np.full(3, BOX)),
                       temperature=KT, timestep=0.005, n_steps=200, stride=50)
    short.run(progress=False)
    assert short.status == "completed" and short.trajectory.positions.dtype == np.float32
    # a new temperature moves the wall (kT) without compiling the chunk again
    run_fn = short._build()[1]
    compiled = run_fn.compilations()
    short.temperature, short.n_steps = 2.0 * KT, 400
    short.run(progress=False)
    assert short.status == "completed" and run_fn.compilations() == compiled
    assert short._build()[1] is run_fn  # the same compiled kernel, not a rebuilt one
    assert short._with_wall(short._build()[2])["wall"] == pytest.approx(2.0 * KT)
