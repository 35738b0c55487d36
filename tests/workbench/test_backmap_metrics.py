"""Backmapping metrics (``workbench.backmap.metrics``) on hand-built structures with known values.

Bond rule of the CGVAE code: bonded when d < 1.3 (R_i + R_j), CSD radii H 0.23, C 0.68 Å, so a
C-H bond holds below 1.3 x 0.91 = 1.183 Å and an H-H bond below 1.3 x 0.46 = 0.598 Å.
"""

import json

import numpy as np
import pytest

from workbench.backmap import metrics as m

CH = 1.09  # Å, methane C-H
TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
Z_METHANE = np.array([6, 1, 1, 1, 1])


def methane() -> np.ndarray:
    """C at the origin, four H at 1.09 Å along tetrahedral directions: [5, 3] Å."""
    return np.vstack([np.zeros(3), CH * TETRAHEDRON])


def stretched(x: np.ndarray, atom: int = 1, length: float = 2.0) -> np.ndarray:
    """Methane with the C-H bond of ``atom`` stretched to ``length`` Å along its direction."""
    x = x.copy()
    x[atom] = length * TETRAHEDRON[atom - 1]
    return x


def clashed() -> np.ndarray:
    """Methane with H2 moved to 0.3 Å from H1, perpendicular to C-H1: C-H2 = sqrt(1.09^2 +
    0.3^2) = 1.1305 Å, still bonded (< 1.183); H1-H2 = 0.3 Å < 0.598 Å, a new H-H bond."""
    x = methane()
    perpendicular = np.array([1, -1, 0]) / np.sqrt(2)  # orthogonal to (1, 1, 1)
    x[2] = x[1] + 0.3 * perpendicular
    return x


# --- RMSD -------------------------------------------------------------------------------------


def test_rmsd_uniform_shift_both_conventions():
    ref = methane()
    x = ref + np.array([0.3, 0.4, 0.0])
    # every atom moves by |(0.3, 0.4, 0)| = 0.5 Å: atom RMSD 0.5 exactly
    assert m.rmsd(x, ref) == pytest.approx(0.5, abs=1e-12)
    # CGVAE code: sqrt(mean of the 3N squared components) = sqrt(0.25 / 3) = 0.5 / sqrt(3)
    assert m.rmsd(x, ref, convention="coordinate") == pytest.approx(0.5 / np.sqrt(3), abs=1e-12)
    assert isinstance(m.rmsd(x, ref), float)
    assert m.rmsd(ref, ref) == 0.0


def test_rmsd_mask_selects_atoms():
    ref = np.zeros((2, 3))
    x = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # one of two atoms moved by 1 Å: sqrt(1/2) over both atoms, 1 over atom 0 alone, 0 over atom 1
    assert m.rmsd(x, ref) == pytest.approx(np.sqrt(0.5), abs=1e-12)
    assert m.rmsd(x, ref, mask=[True, False]) == pytest.approx(1.0, abs=1e-12)
    assert m.rmsd(x, ref, mask=[False, True]) == 0.0
    # heavy atoms of a stretched methane: only C counts, and C did not move
    assert m.rmsd(stretched(methane()), methane(), mask=m.heavy_atom_mask(Z_METHANE)) == 0.0


def test_rmsd_broadcasts_frames():
    ref = methane()
    shifts = np.array([0.0, 0.5, 1.0])
    x = ref[None] + shifts[:, None, None] * np.array([0.0, 0.0, 1.0])
    # frame k shifts every atom by shifts[k] along z, so its RMSD is shifts[k]
    np.testing.assert_allclose(m.rmsd(x, ref), shifts, atol=1e-12)
    np.testing.assert_allclose(m.rmsd(x, x), np.zeros(3), atol=0)
    # [3, 1, n, 3] against [1, 2, n, 3] gives a [3, 2] table; column j adds j x 0.5 Å along x...
    refs = np.stack([ref, ref - np.array([0.5, 0.0, 0.0])])[None]
    table = m.rmsd(x[:, None], refs)
    assert table.shape == (3, 2)
    # ...at right angles to the z shift: RMSD = sqrt(shift^2 + 0.5^2)
    np.testing.assert_allclose(table[:, 1], np.sqrt(shifts**2 + 0.25), atol=1e-12)


def test_rmsd_errors():
    ref = methane()
    with pytest.raises(ValueError, match="n_atoms"):
        m.rmsd(ref[:4], ref)  # 4 atoms against 5
    with pytest.raises(ValueError, match="n_atoms"):
        m.rmsd(ref[:, :2], ref[:, :2])  # 2-D coordinates
    with pytest.raises(ValueError, match="broadcast"):
        m.rmsd(np.stack([ref] * 2), np.stack([ref] * 3))
    with pytest.raises(ValueError, match="convention"):
        m.rmsd(ref, ref, convention="residue")
    with pytest.raises(ValueError, match="no atoms"):
        m.rmsd(ref, ref, mask=np.zeros(5, bool))
    with pytest.raises(ValueError, match="mask"):
        m.rmsd(ref, ref, mask=np.ones(4, bool))


def test_heavy_atom_mask():
    np.testing.assert_array_equal(m.heavy_atom_mask([6, 1, 8, 1, 7]), [1, 0, 1, 0, 1])


# --- Bond graph -------------------------------------------------------------------------------


def test_methane_bond_graph():
    x = methane()
    graph = m.bond_matrix(x, Z_METHANE)
    assert graph.shape == (5, 5) and graph.dtype == bool
    np.testing.assert_array_equal(graph, graph.T)
    assert not graph.diagonal().any()
    # four C-H bonds of 1.09 Å (< 1.183 Å); no H-H bond
    np.testing.assert_array_equal(m.bonds(x, Z_METHANE), [[0, 1], [0, 2], [0, 3], [0, 4]])
    # tetrahedral H-H distance 1.09 x sqrt(8/3) = 1.78 Å, far above the H-H cutoff 0.598 Å
    assert np.linalg.norm(x[1] - x[2]) == pytest.approx(1.78, abs=0.005)
    assert m.BOND_SCALE * 2 * m.COVALENT_RADII["H"] == pytest.approx(0.598)
    assert not graph[1:, 1:].any()


def test_bond_cutoff_and_batch():
    # C-H cutoff 1.3 x (0.68 + 0.23) = 1.183 Å: bonded at 1.18 Å, not at 1.19 Å
    frames = np.stack([stretched(methane(), length=1.18), stretched(methane(), length=1.19)])
    graph = m.bond_matrix(frames, Z_METHANE)
    assert graph.shape == (2, 5, 5)
    assert graph[0, 0, 1] and not graph[1, 0, 1]
    assert len(m.bonds(frames[1], Z_METHANE)) == 3


def test_bond_errors():
    with pytest.raises(ValueError, match="26"):  # iron has no radius in the table
        m.bond_matrix(methane(), [26, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="one frame"):
        m.bonds(methane()[None], Z_METHANE)
    with pytest.raises(ValueError, match="atomic numbers"):
        m.bond_matrix(methane(), Z_METHANE[:4])


# --- Graph edit ratio and validity ------------------------------------------------------------


def test_graph_edit_ratio_known_values():
    ref = methane()
    assert m.graph_edit_ratio(ref, ref, Z_METHANE) == 0.0
    # C-H1 stretched to 2.0 Å (> 1.183): one of the 4 reference bonds lost, 1/4
    assert m.graph_edit_ratio(stretched(ref), ref, Z_METHANE) == pytest.approx(0.25)
    # H1-H2 at 0.3 Å: one bond gained, the four C-H kept, 1/4
    assert m.graph_edit_ratio(clashed(), ref, Z_METHANE) == pytest.approx(0.25)
    # H1 at 2.0 Å with H2 0.3 Å beside it (C-H2 = sqrt(4 + 0.09) = 2.02 Å): C-H1 and C-H2 lost,
    # H1-H2 gained; the symmetric difference counts all 3 edits, 3/4
    both = methane()
    both[1] = 2.0 * TETRAHEDRON[0]
    both[2] = both[1] + 0.3 * np.array([1, -1, 0]) / np.sqrt(2)
    assert m.graph_edit_ratio(both, ref, Z_METHANE) == pytest.approx(3 / 4)


def test_graph_edit_ratio_batch_and_mask():
    ref = methane()
    x = np.stack([ref, stretched(ref), clashed()])
    # one shared reference frame, or one reference per frame: same 0, 1/4, 1/4
    np.testing.assert_allclose(m.graph_edit_ratio(x, ref, Z_METHANE), [0, 0.25, 0.25])
    np.testing.assert_allclose(
        m.graph_edit_ratio(x, np.stack([ref] * 3), Z_METHANE), [0, 0.25, 0.25]
    )
    # without H4: the reference keeps 3 bonds (C-H1..C-H3), the stretched one loses 1, 1/3
    mask = np.array([True, True, True, True, False])
    assert m.graph_edit_ratio(stretched(ref), ref, Z_METHANE, mask) == pytest.approx(1 / 3)
    # stretching H4 is invisible when H4 is masked out
    assert m.graph_edit_ratio(stretched(ref, atom=4), ref, Z_METHANE, mask) == 0.0
    # methane's heavy atoms (C alone) have no bond to normalise by
    with pytest.raises(ValueError, match="no bonds"):
        m.graph_edit_ratio(ref, ref, Z_METHANE, m.heavy_atom_mask(Z_METHANE))


def test_is_valid():
    ref = methane()
    assert m.is_valid(ref, ref, Z_METHANE) is True
    assert m.is_valid(ref + 0.05, ref, Z_METHANE) is True  # a rigid shift keeps every distance
    assert m.is_valid(stretched(ref), ref, Z_METHANE) is False  # a C-H bond broken
    assert m.is_valid(clashed(), ref, Z_METHANE) is False  # an H-H clash is a new bond
    mask = np.array([True, False, True, True, True])
    assert m.is_valid(stretched(ref), ref, Z_METHANE, mask) is True  # the broken H1 masked out
    valid = m.is_valid(np.stack([ref, stretched(ref), clashed()]), ref, Z_METHANE)
    np.testing.assert_array_equal(valid, [True, False, False])


# --- Diversity and the summary ----------------------------------------------------------------


def test_diversity_plus_minus_d():
    ref, d = methane(), 0.2
    shift = np.array([d, 0.0, 0.0])
    samples = np.stack([ref + shift, ref - shift])
    result = m.diversity(samples, ref)
    # samples are 2d apart (every atom), each is d from ref: pairwise 2d, to ref d, ratio 2
    assert result["pairwise_rmsd"] == pytest.approx(2 * d)
    assert result["rmsd_to_ref"] == pytest.approx(d)
    assert result["ratio"] == pytest.approx(2.0)
    # the coordinate convention divides both RMSDs by sqrt(3) and leaves the ratio
    coordinate = m.diversity(samples, ref, convention="coordinate")
    assert coordinate["pairwise_rmsd"] == pytest.approx(2 * d / np.sqrt(3))
    assert coordinate["ratio"] == pytest.approx(2.0)
    # three samples 0, +d, -d along x: pairs d, d, 2d -> 4d/3; to ref (0 + d + d)/3; ratio 2
    three = m.diversity(np.stack([ref, ref + shift, ref - shift]), ref)
    assert three["pairwise_rmsd"] == pytest.approx(4 * d / 3)
    assert three["ratio"] == pytest.approx(2.0)


def test_diversity_equal_samples_and_errors():
    ref = methane()
    # identical samples: no spread, ratio 0 (also when they equal ref, 0/0)
    assert m.diversity(np.stack([ref + 0.1] * 3), ref)["ratio"] == 0.0
    assert m.diversity(np.stack([ref] * 2), ref)["ratio"] == 0.0
    with pytest.raises(ValueError, match="n_samples >= 2"):
        m.diversity(ref[None], ref)


def _ch2() -> tuple[np.ndarray, np.ndarray]:
    """C0 at the origin, C1 at 1.5 Å on x (C-C cutoff 1.768 Å), H on C0 at 1.09 Å on y; H-C1 is
    sqrt(1.5^2 + 1.09^2) = 1.85 Å, not bonded. Bonds: C0-C1, C0-H (2); heavy: C0-C1 (1)."""
    return np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, CH, 0.0]]), np.array([6, 6, 1])


def test_score_tiny_batch():
    x, z = _ch2()
    ref = np.stack([x, x + np.array([5.0, 0.0, 0.0])])  # two frames
    d = np.array([0.1, 0.0, 0.0])
    broken = ref[1].copy()
    broken[2, 1] = 2.0  # C-H stretched from 1.09 to 2.0 Å: H moved 0.91 Å, C-H bond lost
    samples = np.stack([np.stack([ref[0] + d, ref[0] - d]), np.stack([ref[1], broken])])
    result = m.score(samples, ref, z)
    expected = {
        # per sample: 0.1, 0.1, 0, and one atom of three moved 0.91 Å -> 0.91 / sqrt(3)
        "rmsd": (0.2 + 0.91 / np.sqrt(3)) / 4,
        "rmsd_heavy": 0.2 / 4,  # the carbons never move in the broken sample
        "valid_fraction": 3 / 4,
        "valid_fraction_heavy": 1.0,
        "graph_edit_ratio": (1 / 2) / 4,  # one of the 2 bonds lost in one of 4 samples
        "graph_edit_ratio_heavy": 0.0,
        # frame 0: +-d gives 2; frame 1: pairwise 0.91/sqrt3 over mean (0 + 0.91/sqrt3)/2 = 2
        "diversity": 2.0,
        # heavy: frame 0 still 2; frame 1 carbons identical in both samples -> 0
        "diversity_heavy": 1.0,
    }
    assert set(result) == set(expected) | {"convention"}
    assert result["convention"] == "atom"
    for key, value in expected.items():
        assert isinstance(result[key], float), key
        assert result[key] == pytest.approx(value, abs=1e-12), key
    json.dumps(result)  # plain Python values only
    coordinate = m.score(samples, ref, z, convention="coordinate")
    assert coordinate["rmsd"] == pytest.approx(expected["rmsd"] / np.sqrt(3))
    assert coordinate["diversity"] == pytest.approx(2.0)


def test_score_one_sample_per_frame():
    x, z = _ch2()
    ref = np.stack([x, x])
    result = m.score(ref + 0.1, ref, z)  # a rigid shift of (0.1, 0.1, 0.1): RMSD 0.1 sqrt(3)
    assert "diversity" not in result and "diversity_heavy" not in result
    assert result["rmsd"] == pytest.approx(0.1 * np.sqrt(3))
    assert result["valid_fraction"] == 1.0 and result["graph_edit_ratio"] == 0.0
    with pytest.raises(ValueError, match="n_frames"):
        m.score(ref[:1], ref, z)
