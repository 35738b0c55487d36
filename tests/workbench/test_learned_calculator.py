"""``LearnedCalculator``: a learned force field in ASE. Forces against central differences of its
own energy, the stress against the energy of scaled cells (diagonal) and of sheared pair
vectors (off-diagonal, brute-force numpy), free space, species and cell errors, and one
compilation per cell.

Model: a two-species pair MLP fitted to Lennard-Jones (``tests.lj_pair_mlp``), float64.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.cluster import Icosahedron
from ase.lattice.cubic import FaceCenteredCubic

from tests.lj_pair_mlp import AR, KR, lj_model, pair_table
from workbench.calculator import LearnedCalculator


@pytest.fixture(scope="module")
def model():
    return lj_model((AR, KR), cutoff=5.0, hidden=(16, 16), sigmas={(1, 1): 3.6, (0, 1): 3.5})


def _crystal(seed=0):
    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.9)  # 32 atoms, 11.8 Å
    rng = np.random.default_rng(seed)
    atoms.numbers[rng.random(len(atoms)) < 0.3] = KR
    atoms.positions += rng.normal(0.0, 0.15, atoms.positions.shape)
    return atoms


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
def test_forces_are_minus_the_energy_gradient(model, periodic):
    # central differences, h = 1e-4 Å: truncation ~h^2 |U'''| / 6 < 1e-8 eV/Å for LJ-scale
    # curvature (eps / sigma^3 ~ 3e-4 eV/Å^3 times O(100)), round-off 1e-16 / 1e-4: tolerance
    # 1e-7 eV/Å against forces of ~1e-2 eV/Å
    atoms = _crystal() if periodic else Icosahedron("Ar", 2, latticeconstant=5.26)
    atoms.calc = LearnedCalculator(model)
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3
    for atom, axis in [(0, 0), (5, 1), (12, 2)]:
        def energy(x, atom=atom, axis=axis):
            a = atoms.copy()
            a.calc = atoms.calc
            a.positions[atom, axis] = x
            return a.get_potential_energy()

        fd = -_central(energy, atoms.positions[atom, axis], 1e-4)
        assert abs(forces[atom, axis] - fd) < 1e-7
    assert atoms.get_potential_energies().sum() == pytest.approx(
        atoms.get_potential_energy(), abs=1e-10)
    if not periodic:
        with pytest.raises(PropertyNotImplementedError):
            atoms.get_stress()


def test_pressure_is_the_derivative_under_cell_scaling(model):
    # dE/d(eps) = V (sigma_xx + sigma_yy + sigma_zz), with cell and atoms scaled by 1 + eps
    # (central differences, step 1e-5; tolerance 1e-9 eV/Å^3 against a trace of ~1e-4)
    atoms = _crystal()
    atoms.calc = LearnedCalculator(model)
    stress = atoms.get_stress()

    def energy(e):
        a = atoms.copy()
        a.calc = atoms.calc
        a.set_cell(atoms.cell * (1 + e), scale_atoms=True)
        return a.get_potential_energy()

    fd = _central(energy, 0.0, 1e-5) / atoms.get_volume()
    assert abs(stress[:3].sum() - fd) < 1e-9, (stress[:3].sum(), fd)
    assert abs(fd) > 1e-6


def test_stress_tensor_against_deformed_pair_vectors(model):
    # every component: the orthorhombic calculator cannot shear its cell, so the reference is
    # the model's brute-force energy with every minimum-image pair vector deformed by
    # (1 + eps) (numpy; the same as deforming cell and atoms), by central differences
    atoms = _crystal(1)
    atoms.calc = LearnedCalculator(model)
    stress = atoms.get_stress()
    box = np.diag(atoms.cell).copy()
    R = atoms.positions
    species = model.species_index(atoms.numbers)
    i, j = np.triu_indices(len(R), 1)
    d = R[j] - R[i]
    d -= box * np.round(d / box)
    arch = model.architecture

    def energy(F):
        r = np.linalg.norm(d @ F, axis=1)
        table = pair_table(model.params, r, arch.cutoff, arch.n_basis, 2)
        return model.scale * table[np.arange(len(r)), species[i], species[j]].sum()

    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))  # Voigt order
    for voigt, (a, b) in enumerate(pairs):
        def sheared(e, a=a, b=b):
            F = np.eye(3)
            F[a, b] += e if a == b else 0.5 * e  # symmetric strain; engineering shear e
            F[b, a] = F[a, b]
            return energy(F)

        fd = _central(sheared, 0.0, 1e-5) / atoms.get_volume()
        assert abs(stress[voigt] - fd) < 1e-9, (voigt, stress[voigt], fd)
    assert np.abs(stress[3:]).max() > 1e-7  # the displaced crystal does shear


def test_errors_and_one_compilation_per_cell(model):
    calc = LearnedCalculator(model)
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    water.calc = calc
    with pytest.raises(ValueError, match="trained on Ar, Kr only.*H, O"):
        water.get_potential_energy()
    small = FaceCenteredCubic("Ar", size=(1, 1, 1), latticeconstant=5.9)
    small.calc = calc
    with pytest.raises(ValueError, match="exceeds half the box"):
        small.get_potential_energy()
    atoms = _crystal()
    atoms.calc = calc
    for k in range(3):
        atoms.positions[0, 0] += 0.01 * k
        atoms.get_forces()
    assert len(calc._built) == 1


def test_a_model_fitted_to_lj_gives_lj_forces():
    # a pair MLP fitted to argon's LJ (energies and derivatives, tests.lj_pair_mlp) against
    # the analytic LJ times the model's cosine cutoff, summed in numpy over every minimum-image
    # pair of a displaced 108-atom fcc crystal. Measured: max force error 4.8e-7 eV/Å (the fit
    # and the float32 weights), force RMS 8.8e-4 eV/Å. Bound: 1e-5 eV/Å (~1 % of the RMS).
    # Energy: measured -3.3e-6 eV off the reference's -1.98 eV; bound 1e-4 eV.
    from tests.lj_pair_mlp import CUTOFF, lj, lj_derivative

    atoms = FaceCenteredCubic("Ar", size=(3, 3, 3), latticeconstant=5.9)  # 17.7 Å > 2 x 7 Å
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.1, atoms.positions.shape)
    atoms.calc = LearnedCalculator(lj_model())
    R, box = atoms.positions, np.diag(atoms.cell)
    i, j = np.triu_indices(len(R), 1)
    d = R[j] - R[i]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=1)
    inside = r < CUTOFF
    fc = np.where(inside, 0.5 * (np.cos(np.pi * r / CUTOFF) + 1), 0.0)
    dfc = np.where(inside, -0.5 * np.pi / CUTOFF * np.sin(np.pi * r / CUTOFF), 0.0)
    pair_force = ((lj_derivative(r) * fc + lj(r) * dfc) / r)[:, None] * d  # dE/dR_j per pair
    reference = np.zeros_like(R)
    np.add.at(reference, j, -pair_force)
    np.add.at(reference, i, pair_force)
    assert np.abs(atoms.get_forces() - reference).max() < 1e-5
    assert atoms.get_potential_energy() == pytest.approx(np.sum(lj(r) * fc), abs=1e-4)
