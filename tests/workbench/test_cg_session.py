"""``CoarseGrainSession`` headless (the Coarse-grain dashboard's state): it refuses data it
cannot coarse-grain with the reason, learns a mapping with Autograin and takes it when the job
ends, fits the CG potential to the mapped forces, runs CG MD and compares the bonded
distributions; one job at a time."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.coarse.session import CoarseGrainSession
from workbench.data import Dataset

K_CH, R_CH = 30.0, 1.09  # eV/Å^2 and Å: the toy's harmonic C-H bonds


def ethane(n_frames: int = 60, seed: int = 0) -> Dataset:
    """Ethane (C-C 1.54 Å, C-H 1.09 Å) displaced at random by 0.05 Å, with the forces of
    harmonic bonds (C-H 30 eV/Å^2, C-C 20 eV/Å^2): two CH3 groups to find and a bond between
    them to fit."""
    rng = np.random.default_rng(seed)
    h = R_CH * np.array([[0.94, 0.0, 0.33], [-0.47, 0.82, 0.33], [-0.47, -0.82, 0.33]])
    c2 = np.array([0.0, 0.0, -1.54])
    base = np.concatenate([[np.zeros(3)], h, [c2], c2 + h * np.array([1, 1, -1])])
    bonds = [(0, 1, K_CH, R_CH), (0, 2, K_CH, R_CH), (0, 3, K_CH, R_CH), (0, 4, 20.0, 1.54),
             (4, 5, K_CH, R_CH), (4, 6, K_CH, R_CH), (4, 7, K_CH, R_CH)]
    R = base + rng.normal(0, 0.05, (n_frames, 8, 3))
    F = np.zeros_like(R)
    for i, j, k, r0 in bonds:
        d = R[:, j] - R[:, i]
        r = np.linalg.norm(d, axis=-1, keepdims=True)
        f = -k * (r - r0) * d / r  # on j
        F[:, j] += f
        F[:, i] -= f
    return Dataset(positions=R, species=np.array([6, 1, 1, 1, 6, 1, 1, 1]), forces=F)


def test_data_it_cannot_coarse_grain_is_refused_with_the_reason():
    s = CoarseGrainSession()
    lj = Dataset(positions=np.random.default_rng(0).uniform(0, 5, (12, 4, 3)),
                 species=np.zeros(4, int), forces=np.zeros((12, 4, 3)), units="lj",
                 species_names=["A"])
    neon = Dataset(positions=np.array([[0.0, 0, 0], [5.0, 0, 0]]) + np.zeros((12, 2, 3)),
                   species=np.array([10, 10]), forces=np.zeros((12, 2, 3)))
    solution = solvated()[0]
    water = Dataset(positions=solution.positions[:, 8:], species=solution.species[8:],
                    forces=solution.forces[:, 8:], box=solution.box)
    cases = [(lj, "reduced LJ units"), (neon, "not a molecule"), (ethane(5), "at least 10"),
             (water, "periodic, and no molecule stands out as the solute")]
    for ds, reason in cases:
        with pytest.raises(ValueError, match=reason):
            s.use(ds, "data")
        assert s.dataset is None
    with pytest.raises(ValueError, match="choose or generate a dataset first"):
        s.learn(2)
    with pytest.raises(ValueError, match="choose or learn a mapping first"):
        s.fit()


def test_learn_fit_simulate_compare():
    s = CoarseGrainSession()
    s.use(ethane(), "ethane")
    assert set(s.methods()) == {"autograin", "heavy_atoms", "girvan_newman"}  # no residues
    assert "water" not in s.recipes() and "alanine_dipeptide" in s.recipes()  # molecules
    assert len(s.bonds) == 7
    job = s.learn(2, epochs=5, batch_size=16)
    with pytest.raises(ValueError, match="wait for the current"):
        s.choose_mapping("heavy_atoms")
    job.wait(timeout=120)
    assert job.status == "completed" and s.assignment() is not None
    s.update()
    assert s.mapping is not None and s.mapping_label == "Learned (Autograin)"
    assert np.array_equal(s.assignment(), s.mapping.assignment)

    # the two CH3 groups: the hand-made mappings of this molecule
    assert s.choose_mapping("girvan_newman", 2).assignment.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    heavy = s.choose_mapping("heavy_atoms")
    assert heavy.assignment.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # the linear decoder places atoms along the C-C axis only (two beads span one direction):
    # the six H's miss their 1.025 Å off the axis, sqrt(6 / 8) * 1.025 = 0.888 Å, and the
    # noise off the axis adds 0.05 * sqrt(2) in quadrature: 0.890 Å (measured 0.899)
    assert abs(s.reconstruction_rmsd() - 0.890) < 0.02
    s.fit(angles=False, dihedrals=False).wait(timeout=120)
    assert s.cg is not None and s.cg.term_names["bond"] == ["C-C"]
    # the C-C bond between the CH3 centres of mass: its reference length is their mean
    # distance, 1.54 Å plus twice the 0.072 Å by which each group's H's (0.36 Å out along the
    # axis, 3 x 1.008 of 15.035 amu) pull its centre away from the other: 1.685 Å (measured
    # 1.684)
    k, r0 = s.cg.bond_parameters()["C-C"]
    assert abs(r0 - 1.685) < 0.01 and k > 0
    sim = s.run_md(n_steps=400, timestep=0.5)
    sim.wait(timeout=120)
    s.update()
    assert [d.name for d in s.distributions] == ["C-C"]
    # a run that explodes is not compared: no distributions from its few frames
    sim = s.run_md(n_steps=400, timestep=500.0)
    sim.wait(timeout=120)
    s.update()
    assert sim.status == "failed" and s.distributions == []
    s.choose_mapping("heavy_atoms")  # a new mapping drops the potential and the run
    assert s.cg is None and s.simulation is None and s.distributions == []
    with pytest.raises(ValueError, match="fit the CG potential first"):
        s.run_md()
    s.choose_mapping("heavy_atoms")
    s.close()


def test_a_mapping_with_one_bead_or_no_cg_bond_has_nothing_to_fit():
    s = CoarseGrainSession()
    s.use(ethane(), "ethane")
    s.choose_mapping("girvan_newman", 1)
    with pytest.raises(ValueError, match="one bead has nothing to fit"):
        s.fit()
    with pytest.raises(ValueError, match="choose one of"):
        s.choose_mapping("residue")


def test_a_molecule_from_smiles_is_generated_and_taken():
    s = CoarseGrainSession()
    with pytest.raises(ValueError, match="cannot parse SMILES"):
        s.generate("smiles", 10, smiles="C1CC")
    job = s.generate("smiles", 10, smiles="CC(C)O", stride=2, equilibration_steps=4)
    assert "smiles-" in job.out.name  # named by a digest of the options, not clobbering
    job.wait(timeout=120)
    assert s.update() and s.dataset.n_atoms == 12 and len(s.bonds) == 11
    assert s.dataset_name == job.out.name


def solvated() -> tuple[Dataset, Dataset]:
    """``(ethane in 12 waters, the ethane)``: ethane across the face x = 0 of a 10 Å box,
    positions wrapped into the box, random forces on the waters."""
    eth = ethane(12)
    rng = np.random.default_rng(3)
    water = np.array([[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    grid = np.stack(np.meshgrid([2.0, 5.0, 8.0], [2.5, 7.5], [2.5, 7.5], indexing="ij"),
                    -1).reshape(-1, 3)[:12]
    waters = (grid[:, None] + water).reshape(-1, 3)
    box = np.full(3, 10.0)
    R = np.concatenate([eth.positions + [0.3, 5.0, 5.0],
                        np.broadcast_to(waters, (12, 36, 3))], axis=1) % box
    species = np.concatenate([eth.species, np.tile([8, 1, 1], 12)])
    F = np.concatenate([eth.forces, rng.normal(0, 1, (12, 36, 3))], axis=1)
    return Dataset(positions=R, species=species, forces=F, box=box), eth


def test_the_solute_of_a_periodic_dataset_is_taken_whole():
    data, eth = solvated()
    s = CoarseGrainSession()
    s.use(data, "solvated")
    assert s.dataset.n_atoms == 8 and s.dataset.box is None
    assert s.dataset_name == "solvated (solute: 8 of 44 atoms)"
    np.testing.assert_allclose(s.dataset.forces, eth.forces)
    # whole again: every bond as in the unwrapped molecule (the C-C bond crosses x = 0)
    d = s.dataset.positions[:, 4] - s.dataset.positions[:, 0]
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1),
                               np.linalg.norm(eth.positions[:, 4] - eth.positions[:, 0], axis=-1))
    assert len(s.bonds) == 7
