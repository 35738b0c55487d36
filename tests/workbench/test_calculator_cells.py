"""``PairCalculator`` on cells smaller than twice the cutoff, mixed elements, and the checks a
``System`` makes (issue: a 4-atom fcc argon cell with an 8.5 Å cutoff gave -0.0150 eV/atom
where the 256-atom supercell gives -0.0834)."""

import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

import workbench as wb

SIGMA, EPSILON, CUTOFF = 3.405, 0.0103, 8.5  # argon, Å and eV


def _argon(a: float = 5.26):
    return bulk("Ar", "fcc", a=a, cubic=True)  # 4 atoms, cell 5.26 Å < 2 x 8.5 Å


def _calculator(mode: str = "truncated", **kw):
    potential = wb.PairPotential(family="lj", r_cutoff=CUTOFF / SIGMA, mode=mode)
    return wb.PairCalculator(potential, length=SIGMA, energy=EPSILON, **kw)


def _ase_reference(atoms):
    """ASE's own LJ (its neighbour list sums every periodic image; energies shifted to zero at
    the cutoff, forces not, as our ``mode="shifted"``)."""
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=CUTOFF, smooth=False)
    return ref.get_potential_energy(), ref.get_forces()


def test_small_cell_energy_equals_its_supercell_and_ase():
    small = _argon()
    small.rattle(0.05, seed=1)
    small.calc = _calculator()
    big = small.repeat(4)  # 256 atoms, side 21 Å > 2 x 8.5 Å: the minimum image is enough
    big.calc = _calculator()
    e_small = small.get_potential_energy() / len(small)
    assert e_small == pytest.approx(big.get_potential_energy() / len(big), rel=1e-9)
    shifted = small.copy()
    shifted.calc = _calculator("shifted")
    e_ase, f_ase = _ase_reference(small)
    assert shifted.get_potential_energy() == pytest.approx(e_ase, rel=1e-9)
    np.testing.assert_allclose(shifted.get_forces(), f_ase, atol=1e-9)
    # the numbers: -0.0834 eV/atom for the unrattled crystal (-0.0150 before the fix)
    perfect = _argon()
    perfect.calc = _calculator()
    assert perfect.get_potential_energy() / 4 == pytest.approx(-0.0834, abs=5e-4)
    np.testing.assert_allclose(small.get_forces(), big.get_forces()[:4], atol=1e-9)


def test_mixed_elements_need_symbols():
    atoms = _argon()
    atoms.symbols[0] = "Kr"
    atoms.calc = _calculator()
    with pytest.raises(ValueError, match=r"several elements \['Ar', 'Kr'\]; pass symbols="):
        atoms.get_potential_energy()


def test_the_system_checks_apply():
    atoms = _argon()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]  # 0.3 Å apart: overlapping
    atoms.calc = _calculator()
    with pytest.raises(ValueError, match="overlap"):
        atoms.get_potential_energy()
    bad = wb.PairCalculator(wb.PairPotential(family="lj", params={"sigma": -1.0}),
                            dtype=jnp.float64)
    cell = _argon()
    cell.calc = bad
    with pytest.raises(ValueError, match="'sigma' must be > 0"):
        cell.get_potential_energy()
