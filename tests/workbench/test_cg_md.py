"""CG MD (issue 15, item 5): a ``System`` with a ``CGPotential`` runs through ``Simulation``, and
``workbench.coarse.compare`` scores its bonded distributions against the reference trajectory.

The end-to-end check has an exact answer: a 6-bead chain with harmonic bonds and angles and a
Fourier dihedral (reduced units, kT = 1) is simulated with its true potential; force matching on
those frames (identity mapping, noise-free forces) recovers the coefficients, and CG MD with
the fitted potential reproduces the chain's distributions to within sampling noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels.cg.force_matching import BondedTerm, CGModel, all_pairs
from workbench import Simulation
from workbench.cg_potential import CGPotential
from workbench.coarse import ForceMatching
from workbench.coarse.compare import bonded_distributions, dihedral_surface
from workbench.system import System

N = 6
CHAIN = np.array([[i, i + 1] for i in range(N - 1)])
TRUE = {"bond": np.array([[100.0, 0.0]]),  # k = 200, r0 = 1
        "angle": np.array([[10.0, 0.0]]),  # k = 20, theta0 = 1.9 rad
        "dihedral": np.array([[1.0, 0.0, 0.8, 0.0, 0.0, 0.0]])}  # cos(phi) + 0.8 cos(3 phi)


def chain_potential() -> CGPotential:
    angles = np.array([[i, i + 1, i + 2] for i in range(N - 2)])
    dihedrals = np.array([[i, i + 1, i + 2, i + 3] for i in range(N - 3)])
    model = CGModel(n_beads=N, bead_types=np.zeros(N, np.int64), n_harmonics=3,
                    bonds=BondedTerm(CHAIN, np.zeros(N - 1, np.int64), np.array([1.0])),
                    angles=BondedTerm(angles, np.zeros(N - 2, np.int64), np.array([1.9])),
                    dihedrals=BondedTerm(dihedrals, np.zeros(N - 3, np.int64), np.zeros(1)))
    return CGPotential(model, TRUE, ("B",), {"bond": ["B-B"], "angle": ["B-B-B"],
                                             "dihedral": ["B-B-B-B"]})


def run(cg: CGPotential, start: np.ndarray, seed: int) -> np.ndarray:
    """5,000 frames ``[5000, N, 3]``: Langevin at kT = 1, dt = 0.005, a frame every 20 steps."""
    sim = Simulation(System.from_cg(cg, start, np.ones(N)), temperature=1.0, timestep=0.005,
                     friction=1.0, n_steps=100_000, stride=20, frames_per_chunk=500, seed=seed,
                     precision="float64")
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
    assert np.isnan(sim.trajectory.thermo["pressure"]).all()  # free space: no pressure
    return sim.trajectory.positions


def test_force_matched_chain_reproduces_its_distributions_in_cg_md():
    true = chain_potential()
    start = np.array([[0.7 * i, 0.5 * (i % 2), 0.3 * ((i // 2) % 2)] for i in range(N)])
    reference = run(true, start, seed=1)
    energy = true.energy_fn(space.free()[0])
    pairs = jnp.asarray(all_pairs(N))
    forces = jax.jit(jax.vmap(jax.grad(lambda R: -energy(R, pairs))))(jnp.asarray(reference))
    fitted = ForceMatching(pair=False, dihedrals=True, n_harmonics=3).fit(
        reference, np.asarray(forces), ["B"] * N, bonds=CHAIN)
    # noise-free forces in the model's own basis: the coefficients come back (measured to
    # 2e-7 relative; the bonded reference values differ, so compare k and r0, theta0)
    (k, r0), = fitted.bond_parameters().values()
    (ka, theta0), = fitted.angle_parameters().values()
    assert (k, r0, ka, theta0) == pytest.approx((200.0, 1.0, 20.0, 1.9), rel=1e-5)
    np.testing.assert_allclose(fitted.coefficients["dihedral"], TRUE["dihedral"], atol=1e-6)
    simulated = run(fitted, reference[-1], seed=2)
    overlaps = {d.kind: d.overlap for d in bonded_distributions(fitted, simulated, reference)}
    # overlap of the CG and reference histograms (60 bins), measured over 6 seed pairs:
    # bonds 0.969-0.982, angles 0.978-0.984, dihedrals 0.936-0.966 (sampling noise alone,
    # the potentials being equal); bounds: the lowest minus twice the spread
    assert overlaps["bond"] > 0.94, overlaps
    assert overlaps["angle"] > 0.96, overlaps
    assert overlaps["dihedral"] > 0.88, overlaps
    # F over the two outer dihedrals, 12 x 12 bins: two runs of the true potential gave a
    # weighted MAE of 0.27-0.37 kT and 0.2-1.3 % of the probability in bins one run missed
    # (3 seeds); bounds: the worst plus twice the spread
    surface = dihedral_surface(simulated, reference, np.array([[0, 1, 2, 3], [2, 3, 4, 5]]),
                               n_bins=12)
    assert surface["mae"] < 0.6 and surface["missed"] < 0.04, surface


def test_cg_system_refuses_what_does_not_fit_its_potential():
    cg = chain_potential()
    start = np.arange(3 * N, dtype=float).reshape(N, 3)
    System.from_cg(cg, start, np.ones(N)).validate()
    with pytest.raises(ValueError, match="6 beads, the system 5 particles"):
        s = System.from_cg(cg, start, np.ones(N))
        s.positions, s.species, s.masses = start[:5], s.species[:5], s.masses[:5]
        s.validate()
    with pytest.raises(ValueError, match="reduced units, so the system's units must be 'lj'"):
        s = System.from_cg(cg, start, np.ones(N))
        s.units = "ase"
        s.validate()
    with pytest.raises(ValueError, match="must be the CG potential's bead types"):
        s = System.from_cg(cg, start, np.ones(N))
        s.species_names = ["A"]
        s.validate()


def test_impropers_sit_at_branch_points():
    from workbench.coarse.topology import branch_impropers

    # a star (bead 0 bonded to 1, 2, 3) with a tail 3-4, and a bead with four bonds (5)
    bonds = np.array([[0, 1], [0, 2], [0, 3], [3, 4], [5, 6], [5, 7], [5, 8], [5, 9]])
    np.testing.assert_array_equal(branch_impropers(10, bonds), [[0, 1, 2, 3], [5, 6, 7, 8]])
    assert branch_impropers(4, CHAIN[:3]).shape == (0, 4)


def test_bad_input_is_refused_with_a_clear_error():
    rng = np.random.default_rng(0)
    R = np.cumsum(rng.normal(size=(20, N, 3)), axis=1)
    F = rng.normal(size=(20, N, 3))
    fm = ForceMatching(pair=False)
    F_nan = F.copy()
    F_nan[7, 2, 0] = np.nan  # one bad frame would make every coefficient NaN
    with pytest.raises(ValueError, match="1 frames have NaN or infinite .* frame 7"):
        fm.fit(R, F_nan, ["B"] * N, bonds=CHAIN)
    with pytest.raises(ValueError, match="nothing to fit"):
        fm.fit(R, F, ["B"] * N)
    with pytest.raises(ValueError, match="units must be 'reduced' or 'ase', not 'kcal'"):
        fm.fit(R, F, ["B"] * N, bonds=CHAIN, units="kcal")
    with pytest.raises(ValueError, match="CG bonds must be bead indices in"):
        fm.fit(R, F, ["B"] * N, bonds=np.array([[0, 22]]))
    with pytest.raises(ValueError, match="r_min 3.0 must be below r_cutoff 2.5"):
        ForceMatching(r_min=3.0).fit(R, F, ["B"] * N, box=np.full(3, 50.0))
    with pytest.raises(ValueError, match="not larger than twice the pair cutoff"):
        ForceMatching().fit(R, F, ["B"] * N, box=np.full(3, 4.0))
    cg = chain_potential()
    with pytest.raises(ValueError, match=r"must be \[n_frames, 6, 3\] .* got \(20, 5, 3\)"):
        bonded_distributions(cg, R[:, :5], R)
    with pytest.raises(ValueError, match=r"positions must be \[6, 3\]"):
        System.from_cg(cg, R[0, :5], np.ones(N))
    # a stored potential edited by hand: refused on load, not run with wrong numbers
    good = cg.to_dict()
    for edit, message in ((lambda d: d["bonds"]["indices"][0].__setitem__(1, 99),
                           "bond bead indices outside"),
                          (lambda d: d["coefficients"]["bond"][0].__setitem__(0, None),
                           "non-finite coefficients"),
                          (lambda d: d.pop("n_beads"), "KeyError: 'n_beads'"),
                          (lambda d: d.__setitem__("type_names", []), "bead types do not match")):
        d = CGPotential.from_dict(good).to_dict()
        edit(d)
        with pytest.raises(ValueError, match=message):
            CGPotential.from_dict(d)
    with pytest.raises(ValueError, match="not a version-1 CG potential"):
        CGPotential.from_dict([1, 2])


def test_a_fit_of_noise_warns():
    # forces with no relation to the positions: every term fits noise, and the held-out
    # frames say so (their RMSE is at or above that of predicting zero force)
    # (5 frames, 4 for training: 72 force components for 50 coefficients)
    rng = np.random.default_rng(1)
    R = np.cumsum(rng.normal(size=(5, N, 3)), axis=1)
    with pytest.warns(UserWarning, match="no better than zero force"):
        ForceMatching(r_cutoff=20.0, dihedrals=True).fit(R, rng.normal(size=R.shape),
                                                         ["B"] * N, bonds=CHAIN)
