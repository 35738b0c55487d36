"""Force-matched CG alanine dipeptide (issue 15, item 5): the heavy-atom mapping (10 beads, each
its own type), bonds, angles, Fourier dihedrals and impropers fitted to 400 ps of OpenMM
(AMBER ff14SB, vacuum, 300 K), then 400 ps of CG MD through ``Simulation``.

What it reproduces and what it does not (measured, CG MD seeds 0-2 from one reference; the
overlap of 60-bin histograms, 1 for identical distributions):
- bond distributions: worst overlap 0.93-0.94 (asserted);
- the C-alpha's chirality: kept in 99.8 % of the frames, the rest brief excursions just past
  planar that the improper's wall turns back (asserted: 99 %). Without impropers the CG molecule
  inverted into its mirror image within ~20 ps, and for good; a fitted improper alone (no wall)
  still let it invert;
- angles: most come back, but the fitted terms flatten the C-alpha branch (C-CA-CB overlap
  0.02-0.07, mean 120 instead of 110 degrees);
- the backbone dihedrals phi and psi: not reproduced (92-100 % of the reference's F(phi, psi)
  probability in bins the CG run never visits). The CG run leaves the reference's basins (C7eq
  and C5, phi < 0) for phi > 0, a region 400 ps (or 2 ns) of 300 K vacuum MD never visits,
  where nothing constrains the fitted dihedral series. Reported, not asserted: the fix is
  reference data that covers those regions, or a refinement on the distributions (issue 15,
  item 4), not a looser test.
"""

import numpy as np
import pytest

from workbench import Simulation
from workbench.coarse import ForceMatching
from workbench.coarse.compare import bonded_distributions, dihedral_surface
from workbench.system import System

pytestmark = pytest.mark.slow  # ~40 s: OpenMM reference data, a fit and 200,000 CG steps


@pytest.fixture(scope="module")
def alanine_cg(tmp_path_factory):
    from kernels.cg.mapping import map_positions
    from workbench.data import generate
    from workbench.mapping import heavy_atom_mapping, topology_labels
    from workbench.molecules import alanine_dipeptide

    ds = generate("alanine_dipeptide", 4000, tmp_path_factory.mktemp("ala") / "ala.npz",
                  seed=0, equilibration_steps=10_000)
    mol = alanine_dipeptide()
    names = [f"{n}{k}" for k, n in enumerate(topology_labels(mol.topology).atom_names)]
    mapping = heavy_atom_mapping(mol.atomic_numbers, mol.bonds, ds.masses, atom_names=names)
    # no pair term (the 1-4+ pairs of one small molecule are seen over a narrow range each);
    # a ridge of 1e-4 steadies the dihedrals that share a central bond (their Fourier terms
    # are nearly collinear: with 1e-8 the fit cancels +12 and -11 eV terms and CG MD explodes)
    cg = ForceMatching(pair=False, dihedrals=True, ridge=1e-4).fit_mapped(
        mapping, ds.positions, ds.forces, bonds=mol.bonds, units="ase")
    reference = np.asarray(map_positions(ds.positions, mapping.position_matrix(), None))
    return cg, reference, mapping.bead_masses()


def chirality(R: np.ndarray) -> np.ndarray:
    """Sign of (N - CA) x (C - CA) . (CB - CA) per frame (beads N 3, CA 4, CB 5, C 6)."""
    a, b, c = R[:, 3] - R[:, 4], R[:, 6] - R[:, 4], R[:, 5] - R[:, 4]
    return np.sign(np.einsum("ij,ij->i", np.cross(a, b), c))


@pytest.mark.parametrize("seed", [0])
def test_cg_alanine_keeps_bonds_angles_and_chirality(alanine_cg, seed):
    cg, reference, masses = alanine_cg
    sim = Simulation(System.from_cg(cg, reference[0], masses), temperature=300.0,
                     timestep=2.0, friction=0.01, n_steps=200_000, stride=50,
                     frames_per_chunk=500, seed=seed, precision="float64")
    sim.run(progress=False)
    assert sim.status == "completed", sim.message
    P = sim.trajectory.positions
    kept = np.mean(chirality(P) == chirality(reference[:1]))
    assert np.all(chirality(reference) == chirality(reference[:1]))
    dists = bonded_distributions(cg, P, reference)
    worst = {kind: min(d.overlap for d in dists if d.kind == kind) for kind in ("bond", "angle")}
    surface = dihedral_surface(P, reference, np.array([[1, 3, 4, 6], [3, 4, 6, 8]]))
    print(f"\nseed {seed}: chirality kept in {kept:.3f}; worst overlap {worst}; phi/psi: "
          f"{surface['missed']:.2f} of the "
          f"reference missed, MAE {surface['mae']:.2f} kT where both visited; dihedral "
          "overlaps " + " ".join(f"{d.overlap:.2f}" for d in dists if d.kind == "dihedral"))
    # bonds: worst overlap 0.930-0.941 over seeds 0-2; bound well below, as a collapse or an
    # explosion takes it far below (angles and dihedrals: see the module docstring)
    assert worst["bond"] > 0.85, worst
    assert kept > 0.99, kept
