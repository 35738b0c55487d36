"""Statistical mechanics of the kernel, float64, small systems, each against an analytic result
or another engine run in the same test."""

import numpy as np
import pytest
from jax_md import space

import workbench as wb
from kernels.observables import diffusion_coefficient, msd, rdf_histogram
from tests.reference import engines

pytestmark = pytest.mark.physics


def _lj(n_atoms=256, density=0.8442, mode="truncated", epsilon=1.0, r_cutoff=2.5):
    s = wb.build_system("lj_fluid", n_atoms=n_atoms, density=density)
    s.potential = wb.PairPotential(family="lj", params={"epsilon": epsilon}, r_cutoff=r_cutoff,
                                   mode=mode, r_onset=0.8 * r_cutoff)
    return s


def _block_sem(x, n_blocks=10):
    blocks = np.array_split(np.asarray(x), n_blocks)
    return np.std([b.mean() for b in blocks], ddof=1) / np.sqrt(n_blocks)


@pytest.mark.parametrize("mode,bound", [("shifted", 1e-3), ("smoothed", 3e-4)])
def test_nve_energy_drift(mode, bound):
    # bound (epsilon per atom over 10,000 steps of dt = 0.005 at rho* = 0.8442): measured
    # 1.6e-4 (shifted) and 3e-5 (smoothed); the bounds leave a factor ~6-10 of headroom
    sim = wb.Simulation(_lj(mode=mode), integrator="nve", temperature=0.72, timestep=0.005,
                        n_steps=10_000, stride=100, precision="float64", frames_per_chunk=50)
    traj = sim.run(progress=False)
    e = traj.thermo["total"] / 256
    assert sim.status == "completed"
    assert abs(e[-1] - e[0]) < bound
    assert np.max(np.abs(e - e[0])) < 2 * bound


@pytest.mark.slow
def test_lj_state_point_matches_lammps():
    """LJ at rho* = 0.8442, T* = 0.72 (LAMMPS bench/in.lj), cutoff 2.5 truncated, Langevin
    with damping 1 tau in both engines, 256 atoms, 5,000 + 10,000 steps: U/N and g(r) agree
    with LAMMPS within statistical error."""
    ok, why = engines.lammps_available()
    if not ok:
        pytest.skip(why)
    ref = engines.lammps_lj_state_point(n_cells=4, density=0.8442, temperature=0.72,
                                        n_equil=5000, n_prod=10_000, dt=0.005, seed=7,
                                        rdf_bins=100, rdf_rmax=2.5, sample_every=10, damp=1.0)
    sim = wb.Simulation(_lj(), integrator="langevin", temperature=0.72, timestep=0.005,
                        friction=1.0, n_steps=15_000, stride=10, precision="float64",
                        frames_per_chunk=500, seed=7)
    traj = sim.run(progress=False)
    prod = traj.steps > 5000
    u = traj.thermo["potential"][prod] / 256
    diff = u.mean() - ref["pe_per_atom_mean"]
    sigma = np.hypot(_block_sem(u), ref["pe_per_atom_sem"])
    assert abs(diff) < 4 * sigma + 2e-3, (u.mean(), ref["pe_per_atom_mean"], sigma)
    assert traj.thermo["temperature"][prod].mean() == pytest.approx(0.72, abs=0.02)

    box = sim.system.box[0]
    disp, _ = space.periodic(box)
    frames = traj.positions[prod][::10]
    r, g = rdf_histogram(disp, frames, box**3, 2.5, 100)
    np.testing.assert_allclose(r, ref["r"], atol=1e-9)
    # same bins; the integrated difference is at the statistical noise of two short runs
    assert np.trapezoid(np.abs(np.asarray(g) - ref["g"]), r) < 0.06
    assert float(np.max(g)) == pytest.approx(float(np.max(ref["g"])), abs=0.15)


def test_ideal_gas_rdf_is_one():
    # analytic: uncorrelated particles (here non-interacting, epsilon = 0) have g(r) = 1
    s = _lj(n_atoms=500, density=0.5, epsilon=0.0)
    sim = wb.Simulation(s, integrator="langevin", temperature=1.0, n_steps=4000, stride=200,
                        precision="float64", frames_per_chunk=20)
    traj = sim.run(progress=False)
    disp, _ = space.periodic(s.box[0])
    r, g = rdf_histogram(disp, traj.positions[5:], s.volume, 4.0, 40)
    assert np.mean(np.asarray(g)[r > 0.5]) == pytest.approx(1.0, abs=0.02)
    assert np.max(np.abs(np.asarray(g)[r > 0.5] - 1)) < 0.15


def test_langevin_free_particle_diffusion():
    # analytic: D = kT / (m gamma) for a free Langevin particle (Einstein); here kT = 1.5,
    # m = 1, gamma = 2, so D = 0.75
    s = _lj(n_atoms=500, density=0.5, epsilon=0.0)
    sim = wb.Simulation(s, integrator="langevin", temperature=1.5, friction=2.0,
                        timestep=0.01, n_steps=6000, stride=20, precision="float64",
                        frames_per_chunk=100, seed=3)
    traj = sim.run(progress=False)
    m = np.asarray(msd(traj.unwrapped, max_lag=150))
    d = diffusion_coefficient(m, 20 * 0.01, fit_range=(0.2, 1.0))
    assert float(d) == pytest.approx(0.75, rel=0.06)


@pytest.mark.parametrize("integrator", ["langevin", "nose_hoover"])
def test_thermostat_temperature_and_canonical_fluctuations(integrator):
    # canonical ensemble (analytic): <K> = (3N/2) kT and var(K) / <K>^2 = 2 / (3N)
    n = 64
    s = _lj(n_atoms=n, density=0.8442, mode="shifted", r_cutoff=2.0)
    sim = wb.Simulation(s, integrator=integrator, temperature=1.2, timestep=0.005,
                        n_steps=110_000, stride=50, precision="float64",
                        frames_per_chunk=200, seed=11)
    traj = sim.run(progress=False)
    k = traj.thermo["kinetic"][200:]  # drop the first 10,000 steps
    assert k.mean() / (1.5 * n) == pytest.approx(1.2, rel=0.02)
    assert np.var(k) / k.mean() ** 2 == pytest.approx(2 / (3 * n), rel=0.2)
