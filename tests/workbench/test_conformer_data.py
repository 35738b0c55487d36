"""The reference conformer set (``workbench.backmap.conformer_data``): a tiny set of two
molecules made with a few MD steps, checked for shape, minima (forces recomputed with tblite),
deduplication, resuming, the file format, and the ETKDG baseline's atom order."""

import json

import numpy as np
import pytest
from ase import Atoms
from tblite.ase import TBLite
from threadpoolctl import threadpool_limits

from workbench.backmap import conformer_data as cd
from workbench.backmap.conformer_metrics import conformer_rmsd_matrix, cov_mat

SMILES = ["CCCO", "OCCO"]
TINY = {"md_steps": 400, "n_snapshots": 5, "temperature_K": 1200.0, "max_opt_steps": 200,
        "split": ["train", "test"], "seed": 0}
# 0.2 ps at 1200 K: with this seed propanol crosses a torsion barrier, so it has two conformers


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("conformers") / "tiny.npz"
    messages = []
    result = cd.make_conformer_set(SMILES, out,
                                   progress=lambda *a: messages.append(a), **TINY)
    return result, out, messages


def test_shapes_splits_and_progress(tiny):
    cs, out, messages = tiny
    assert out.exists() and not (out.parent / "tiny.npz.parts").exists()
    assert [m.smiles for m in cs.molecules] == SMILES
    assert [m.smiles for m in cs.train()] == ["CCCO"] and [m.smiles for m in cs.test()] == ["OCCO"]
    propanol = cs.molecules[0]
    np.testing.assert_array_equal(propanol.atomic_numbers, [6, 6, 6, 8] + [1] * 8)
    assert propanol.bonds.shape == (11, 2) and propanol.bond_orders.tolist() == [1.0] * 11
    for m in cs.molecules:
        n = len(m.energies)
        assert 1 <= n <= 6  # the start structure and 5 snapshots, at most
        assert m.conformers.shape == (n, len(m.atomic_numbers), 3)
        assert np.all(np.diff(m.energies) >= 0)  # in order of energy
        assert m.energies[-1] - m.energies[0] <= cd.DEFAULTS["energy_window_eV"]
        assert cs.stats[m.smiles]["candidates"] == 6
    assert len(propanol.energies) == 2  # so deduplication had something to keep apart
    assert [(d, t) for d, t, _ in messages] == [(1, 2), (2, 2)]
    assert cs.settings["versions"]["tblite"] and cs.settings["md_steps"] == 400


def test_conformers_are_distinct_minima(tiny):
    cs, _, _ = tiny
    for m in cs.molecules:
        for x, energy in zip(m.conformers, m.energies, strict=True):
            atoms = Atoms(numbers=m.atomic_numbers, positions=x)
            atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
            with threadpool_limits(limits=1):  # tblite's OpenMP threads crawl on a busy machine
                forces = np.linalg.norm(atoms.get_forces(), axis=1)
            assert forces.max() < cd.DEFAULTS["fmax"] + 1e-4  # BFGS's convergence criterion
            assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-5)
        d = conformer_rmsd_matrix(m.conformers, m.conformers, m.smiles)
        assert np.all(d[~np.eye(len(d), dtype=bool)] > cd.DEFAULTS["rmsd_threshold"])
    np.testing.assert_allclose(cd.xtb_energies(m.atomic_numbers, m.conformers), m.energies,
                               atol=1e-5)


def test_resume_equals_an_uninterrupted_run(tiny, tmp_path):
    cs, _, _ = tiny
    out = tmp_path / "resumed.npz"

    class Stop(Exception):
        pass

    def stop_after_first(done, total, message):
        if done == 1:
            raise Stop

    with pytest.raises(Stop):
        cd.make_conformer_set(SMILES, out, progress=stop_after_first, **TINY)
    parts = tmp_path / "resumed.npz.parts"
    assert not out.exists() and (parts / "molecule-00000.npz").exists()
    assert not (parts / "molecule-00001.npz").exists()
    messages = []
    resumed = cd.make_conformer_set(SMILES, out,
                                    progress=lambda *a: messages.append(a[2]), **TINY)
    assert "saved before" in messages[0] and "saved before" not in messages[1]
    assert not parts.exists()
    for a, b in zip(cs.molecules, resumed.molecules, strict=True):
        np.testing.assert_array_equal(a.conformers, b.conformers)
        np.testing.assert_array_equal(a.energies, b.energies)


def test_save_load_round_trip_and_finished_output(tiny, tmp_path):
    cs, out, _ = tiny
    loaded = cd.ConformerSet.load(out)
    assert loaded.settings == cs.settings and loaded.stats == json.loads(json.dumps(cs.stats))
    for a, b in zip(cs.molecules, loaded.molecules, strict=True):
        assert (a.smiles, a.split) == (b.smiles, b.split)
        for key in ("atomic_numbers", "bonds", "bond_orders", "conformers", "energies"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    # a finished output with the same settings is returned; other settings are refused
    again = cd.make_conformer_set(SMILES, out, **TINY)
    np.testing.assert_array_equal(again.molecules[1].conformers, cs.molecules[1].conformers)
    with pytest.raises(ValueError, match="other settings"):
        cd.make_conformer_set(SMILES, out, **{**TINY, "seed": 4})
    # files that are not conformer sets
    np.savez(tmp_path / "other.npz", positions=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not a conformer set"):
        cd.ConformerSet.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="cannot load"):
        cd.ConformerSet.load(tmp_path / "text.npz")


def test_bad_smiles_fail_before_any_work(tmp_path):
    out = tmp_path / "bad.npz"
    with pytest.raises(ValueError, match="C1CC"):
        cd.make_conformer_set(["CCO", "C1CC"], out)
    with pytest.raises(ValueError, match="stereo"):
        cd.make_conformer_set(["CC(O)CC"], out)  # a stereocentre without @/@@
    with pytest.raises(ValueError, match="split"):
        cd.make_conformer_set(["CCO"], out, split="valid")
    assert not out.exists() and not (tmp_path / "bad.npz.parts").exists()


def test_builtin_molecules():
    assert len(cd.CONFORMER_SPLIT["train"]) == 24 and len(cd.CONFORMER_SPLIT["test"]) == 6
    assert not set(cd.CONFORMER_SPLIT["train"]) & set(cd.CONFORMER_SPLIT["test"])
    for smiles in cd.CONFORMER_MOLECULES:
        z = cd._graph(cd._rdkit_molecule(smiles))[0]  # parses, one fragment, stereo given
        heavy = z[z != 1]
        assert len(heavy) <= 9 and set(heavy.tolist()) <= {6, 7, 8, 9}


@pytest.mark.parametrize("mmff", [False, True])
def test_etkdg_atom_order_and_self_scores(tiny, mmff):
    cs, _, _ = tiny
    m = cs.molecules[0]
    x = cd.etkdg_conformers(m.smiles, 6, seed=1, mmff=mmff)
    assert x.shape == (6, len(m.atomic_numbers), 3)
    # same atom order: bonded distances of ETKDG match the xTB minima's within 0.06 Å
    # (C-C, C-O, C-H, O-H bond lengths differ by a few hundredths of an Å between the methods)
    i, j = m.bonds.T
    etkdg = np.linalg.norm(x[:, i] - x[:, j], axis=-1).mean(axis=0)
    xtb = np.linalg.norm(m.conformers[:, i] - m.conformers[:, j], axis=-1).mean(axis=0)
    np.testing.assert_allclose(etkdg, xtb, atol=0.06)
    np.testing.assert_array_equal(x, cd.etkdg_conformers(m.smiles, 6, seed=1, mmff=mmff))
    s = cov_mat(x, x, m.smiles, threshold=0.5)
    assert s["cov_r"] == s["cov_p"] == 1.0
    assert s["mat_r"] == pytest.approx(0, abs=1e-6) and s["mat_p"] == pytest.approx(0, abs=1e-6)
