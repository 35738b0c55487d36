"""Conformer metrics (``workbench.backmap.conformer_metrics``): heavy-atom RMSD after alignment,
COV and MAT, on hand-made structures with known values and against RDKit's ``GetBestRMS``
(the function the ConfVAE / ConfGF / GeoDiff evaluations call)."""

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

from workbench.backmap import conformer_metrics as cm


def embedded(smiles: str, n: int, seed: int = 1) -> np.ndarray:
    """n ETKDG conformers of ``smiles``: [n, n_atoms, 3] Å, AddHs atom order."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ids = AllChem.EmbedMultipleConfs(mol, n, randomSeed=seed)
    return np.array([mol.GetConformer(i).GetPositions() for i in ids])


def rotation(angle: float, axis) -> np.ndarray:
    """Proper rotation by ``angle`` rad about ``axis`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def best_rms(smiles: str, x: np.ndarray, y: np.ndarray) -> float:
    """GetBestRMS of RemoveHs molecules, as the papers' evaluation code does."""
    mols = []
    for pos in (x, y):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        conf = Chem.Conformer(mol.GetNumAtoms())
        for i, p in enumerate(pos):
            conf.SetAtomPosition(i, p.tolist())
        mol.AddConformer(conf)
        mols.append(Chem.RemoveHs(mol))
    return rdMolAlign.GetBestRMS(mols[0], mols[1])


@pytest.mark.parametrize("smiles", ["CC(C)CO", "OC(=O)CC", "CC(=O)[O-]", "C[N+](=O)[O-]",
                                    "OC1CCCCC1", "CC(C)(C)O", "OCCOCCO", "N[C@@H](CO)CCO"])
def test_matrix_equals_rdkit_get_best_rms(smiles):
    x = embedded(smiles, 8)
    d = cm.conformer_rmsd_matrix(x[:4], x[4:], smiles)
    expected = np.array([[best_rms(smiles, a, b) for b in x[4:]] for a in x[:4]])
    assert d.shape == (4, 4)
    np.testing.assert_allclose(d, expected, atol=1e-7)  # RDKit's own number, pair by pair


def test_mirror_image_is_not_aligned_away():
    # GetBestRMS uses proper rotations only: the mirror image of a chiral molecule keeps an RMSD
    x = embedded("C[C@H](F)C(N)=O", 1)[0]
    mirrored = x * np.array([-1.0, 1.0, 1.0])
    d = cm.conformer_rmsd_matrix(x[None], mirrored[None], "C[C@H](F)C(N)=O")[0, 0]
    assert d > 0.1
    assert d == pytest.approx(best_rms("C[C@H](F)C(N)=O", x, mirrored), abs=1e-7)


def test_identical_and_rigidly_moved_copies():
    x = embedded("CCOCCO", 3)
    moved = x @ rotation(1.1, [0.3, -1.0, 0.5]).T + np.array([4.0, -2.0, 7.5])
    d = cm.conformer_rmsd_matrix(moved, x, "CCOCCO")
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
    assert np.all(d[~np.eye(3, dtype=bool)] > 0.05)  # different ETKDG conformers differ
    scores = cm.cov_mat(x, x, "CCOCCO")
    assert scores["cov_r"] == scores["cov_p"] == 1.0
    assert scores["mat_r"] == pytest.approx(0, abs=1e-6)
    assert scores["mat_p"] == pytest.approx(0, abs=1e-6)


def test_one_heavy_atom_moved_along_a_line():
    # Butane's four carbons on the x axis, atom 1 moved 0.4 Å along it: no rotation helps, the
    # best translation is the mean shift, so RMSD = 0.4 sqrt(n - 1) / n with n = 4 heavy atoms
    x = embedded("CCCC", 1)[0]
    x[:4] = [[0, 0, 0], [1.5, 0, 0], [3.0, 0, 0], [4.5, 0, 0]]
    y = x.copy()
    y[1, 0] += 0.4
    y[4:] += np.random.default_rng(0).normal(0, 0.5, y[4:].shape)  # hydrogens do not count
    d = cm.conformer_rmsd_matrix(y[None], x[None], "CCCC")[0, 0]
    assert d == pytest.approx(0.4 * np.sqrt(3) / 4, abs=1e-9)


def test_hydrogens_are_ignored():
    x = embedded("CCCO", 1)
    y = x.copy()
    y[:, 4:] += np.random.default_rng(1).normal(0, 1.0, y[:, 4:].shape)
    assert cm.conformer_rmsd_matrix(y, x, "CCCO")[0, 0] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("smiles, a, b", [
    ("CC(C)O", 0, 2),  # isopropanol's two methyl carbons
    ("CC(=O)[O-]", 2, 3),  # a carboxylate's two O
    ("CC(=O)O", 2, 3),  # an acid's two O: equivalent once hydrogens are removed (RDKit)
])
def test_symmetry_equivalent_atoms_swapped(smiles, a, b):
    x = embedded(smiles, 1)
    y = x.copy()
    y[:, [a, b]] = y[:, [b, a]]
    assert np.abs(y - x).max() > 0.5
    assert cm.conformer_rmsd_matrix(y, x, smiles)[0, 0] == pytest.approx(0, abs=1e-6)
    assert len(cm.heavy_atom_matches(smiles)) >= 2


def test_heavy_atom_matches():
    m = cm.heavy_atom_matches("CC(C)(C)O")  # tert-butanol: 3! orders of the methyls
    assert m.shape == (6, 5)
    np.testing.assert_array_equal(m[0], np.arange(5))
    assert cm.heavy_atom_matches("OCC(N)=O").shape == (1, 5)  # no symmetry


def test_cov_mat_of_a_known_matrix():
    d = np.array([[0.1, 0.9], [0.6, 0.7], [0.5, 2.0]])  # [n_generated, n_reference] Å
    s = cm.cov_mat(None, None, None, threshold=0.5, rmsd=d)
    # references: best 0.1 and 0.7 -> COV-R 1/2, MAT-R 0.4; generated: best 0.1, 0.6, 0.5 ->
    # COV-P 2/3 (0.5 counts: <=, as GeoDiff), MAT-P 0.4
    assert s["cov_r"] == 0.5 and s["mat_r"] == pytest.approx(0.4)
    assert s["cov_p"] == pytest.approx(2 / 3) and s["mat_p"] == pytest.approx(0.4)
    assert (s["n_generated"], s["n_reference"], s["threshold"]) == (3, 2, 0.5)


def test_summarize_and_evaluate():
    scores = [{"cov_r": c, "mat_r": c, "cov_p": c, "mat_p": c} for c in (0.0, 0.5, 1.0, 1.0)]
    s = cm.summarize(scores)
    assert s["cov_r_mean"] == 0.625 and s["cov_r_median"] == 0.75 and s["n_molecules"] == 4

    class Ref:
        smiles, conformers = "CCCO", embedded("CCCO", 3)

    calls = []

    def perfect(smiles, n):  # the references, each twice
        calls.append(n)
        return np.concatenate([Ref.conformers, Ref.conformers])

    result = cm.evaluate([Ref()], perfect)
    assert calls == [2 * 3]  # GENERATED_PER_REFERENCE x n_reference
    assert result["summary"]["cov_r_mean"] == 1.0
    assert result["per_molecule"]["CCCO"]["mat_p"] == pytest.approx(0, abs=1e-6)


def test_errors():
    x = embedded("CCO", 2)
    with pytest.raises(ValueError, match="generated must be"):
        cm.conformer_rmsd_matrix(x[:, :5], x, "CCO")
    with pytest.raises(ValueError, match="threshold"):
        cm.cov_mat(x, x, "CCO", threshold=0)
    with pytest.raises(ValueError, match="at least one"):
        cm.cov_mat(x[:0], x, "CCO")
    with pytest.raises(ValueError, match="cannot parse"):
        cm.heavy_atom_matches("C1CC")
