"""A learned force field in the MD runner (``kernels.mlff.md``): the adapter's energy against a
brute-force numpy evaluation of the same weights (periodic and free space), its strain hook
against the virial, new weights without recompiling, replicas against single runs, overflow
recovery, and the box check.

The model is a small pair MLP fitted to argon's Lennard-Jones (``tests.lj_pair_mlp``), so the
dynamics are physical; the numbers compared are the model's own (no fit error involved), so the
tolerances are float64 round-off.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.cluster import Icosahedron
from ase.lattice.cubic import FaceCenteredCubic

from kernels.mlff.md import check_box, md_functions, md_params
from kernels.runner import simulator
from tests.lj_pair_mlp import AR, KR, lj_model, numpy_energy

F64 = jnp.float64
AR_MASS = 39.948  # amu
FS = 0.09822694788464063  # 1 fs in ASE time units (ase.units.fs)
KB = 8.617333262e-5  # eV / K


@pytest.fixture(scope="module")
def model():
    # cutoff 5 Å: a 32-atom periodic cell (11.8 Å) suffices, which keeps compilation short
    return lj_model((AR, KR), cutoff=5.0, hidden=(16, 16), sigmas={(1, 1): 3.6, (0, 1): 3.5})


def _crystal():
    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.9)  # 32 atoms, 11.8 Å
    rng = np.random.default_rng(0)
    R = atoms.get_positions() + rng.normal(0.0, 0.15, (len(atoms), 3))
    species = (rng.random(len(atoms)) < 0.3).astype(np.int32)  # ~30 % Kr
    return np.mod(R, 11.8), species, np.full(3, 11.8)


def _cluster():
    atoms = Icosahedron("Ar", 2, latticeconstant=5.26)  # 13 atoms
    rng = np.random.default_rng(1)
    R = atoms.get_positions() + rng.normal(0.0, 0.1, (len(atoms), 3))
    return R, (np.arange(len(atoms)) % 3 == 0).astype(np.int32), None


@pytest.mark.parametrize("make", [_crystal, _cluster], ids=["periodic", "free"])
def test_energy_and_forces_match_brute_force(model, make):
    # the adapter (neighbour list, edges, minimum image, traced params) gives the energy of a
    # numpy sum over every pair with the same weights; forces are -grad of it (central
    # differences of the numpy energy, h = 1e-5 Å: error ~ h^2 U''' ~ 1e-10 eV/Å)
    R, species, box = make()
    fns = md_functions(model.build_model(), box, dtype=F64)
    params = md_params(model.params, species, F64)
    Rj = jnp.asarray(R, F64)
    nbrs = fns.neighbor_fn.allocate(Rj)
    u, g = jax.jit(jax.value_and_grad(fns.energy_fn))(Rj, nbrs, **params)
    ref = numpy_energy(model, R, species, box)
    assert abs(float(u) - ref) < 1e-10 * max(1.0, abs(ref))
    h = 1e-5
    for atom, axis in [(0, 0), (7, 1), (12, 2)]:
        Rp, Rm = R.copy(), R.copy()
        Rp[atom, axis] += h
        Rm[atom, axis] -= h
        fd = (numpy_energy(model, Rp, species, box) - numpy_energy(model, Rm, species, box)) / (
            2 * h)
        assert abs(float(g[atom, axis]) - fd) < 1e-8


def test_strain_is_the_homogeneous_dilation(model):
    # the runner's virial hook: U(strain) equals the energy of positions and box scaled by
    # 1 + strain (numpy reference), so the pressure it gives is the virial pressure
    R, species, box = _crystal()
    fns = md_functions(model.build_model(), box, dtype=F64)
    params = md_params(model.params, species, F64)
    nbrs = fns.neighbor_fn.allocate(jnp.asarray(R, F64))
    energy = jax.jit(fns.energy_fn)
    for eps in (-0.01, 0.02):
        u = energy(jnp.asarray(R, F64), nbrs, strain=jnp.asarray(eps, F64), **params)
        ref = numpy_energy(model, R * (1 + eps), species, box * (1 + eps))
        assert abs(float(u) - ref) < 1e-10


def test_new_weights_do_not_recompile_and_change_the_energy(model):
    R, species, box = _crystal()
    fns = md_functions(model.build_model(), box, dtype=jnp.float32)
    init, run = simulator(fns.energy_fn, fns.shift_fn, fns.displacement_fn, fns.neighbor_fn,
                          volume=float(np.prod(box)), integrator="langevin", gamma=0.01 / FS)
    p1 = md_params(model.params, species, jnp.float32)
    p2 = md_params(jax.tree.map(lambda x: 1.1 * x, model.params), species, jnp.float32)
    dt, kT = 5.0 * FS, KB * 80.0
    state = init(jax.random.PRNGKey(0), jnp.asarray(R, jnp.float32),
                 jnp.full(len(R), AR_MASS, jnp.float32), p1, dt=dt, kT=kT)
    state, t1 = run(state, p1, n_frames=2, stride=5, dt=dt, kT=kT)
    state, t2 = run(state, p2, n_frames=2, stride=5, dt=dt, kT=kT)
    assert run.compilations() == 1
    assert t1.positions.dtype == jnp.float32 and t2.thermo["potential"].dtype == jnp.float32


@pytest.mark.slow  # two runners compiled: ~20-40 s on 2 shared CPU cores
def test_replicas_match_single_runs(model):
    # replicas (one neighbour list each, run one after another) give what separate runs with
    # the split keys give: the same arithmetic, so agreement to float64 round-off
    R, species, box = _cluster()
    fns = md_functions(model.build_model(), box, dtype=F64)
    params = md_params(model.params, species, F64)
    mass = jnp.full(len(R), AR_MASS, F64)
    dt, kT = 5.0 * FS, KB * 40.0
    kw = dict(volume=1.0, integrator="langevin", gamma=0.01 / FS)
    init_r, run_r = simulator(fns.energy_fn, fns.shift_fn, fns.displacement_fn,
                              fns.neighbor_fn, replicas=True, **kw)
    Rs = jnp.asarray(np.stack([R, R + 0.02]), F64)
    key = jax.random.PRNGKey(7)
    states = init_r(key, Rs, mass, params, dt=dt, kT=kT)
    _, traj = run_r(states, params, n_frames=2, stride=5, dt=dt, kT=kT)
    init, run = simulator(fns.energy_fn, fns.shift_fn, fns.displacement_fn, fns.neighbor_fn,
                          **kw)
    for k, sub in enumerate(jax.random.split(key, 2)):
        s = init(sub, Rs[k], mass, params, dt=dt, kT=kT)
        _, t = run(s, params, n_frames=2, stride=5, dt=dt, kT=kT)
        np.testing.assert_allclose(traj.positions[k], t.positions, atol=1e-10)
        np.testing.assert_allclose(traj.thermo["total"][k], t.thermo["total"], rtol=1e-10)


@pytest.mark.slow  # three compilations of the chunk: ~30 s on 2 CPU cores
def test_overflow_is_recovered(model):
    # a list with half the slots it needs overflows, is re-allocated and the chunk re-run:
    # the same trajectory as with an ample list (deterministic NVE)
    R, species, box = _crystal()
    params = md_params(model.params, species, F64)
    mass = jnp.full(len(R), AR_MASS, F64)
    out = []
    for mult in (1.25, 0.5):
        fns = md_functions(model.build_model(), box, dtype=F64, capacity_multiplier=mult)
        init, run = simulator(fns.energy_fn, fns.shift_fn, fns.displacement_fn,
                              fns.neighbor_fn, volume=float(np.prod(box)), integrator="nve")
        state = init(jax.random.PRNGKey(0), jnp.asarray(R, F64), mass, params, dt=5 * FS,
                     kT=KB * 80)
        out.append(run(state, params, n_frames=1, stride=5, dt=5 * FS, kT=KB * 80)[1])
    np.testing.assert_allclose(out[1].positions, out[0].positions, atol=1e-10)


def test_box_check():
    assert check_box(5.0, None) is None
    np.testing.assert_array_equal(check_box(5.0, 12.0), [12.0, 12.0, 12.0])
    with pytest.raises(ValueError, match="exceeds half the box"):
        check_box(5.0, [12.0, 12.0, 9.9])
    with pytest.raises(ValueError, match="three positive"):
        check_box(5.0, [12.0, -1.0, 12.0])
    with pytest.raises(ValueError, match="skin"):
        md_functions(lj_model().build_model(), None, skin=-1.0)
