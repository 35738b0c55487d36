"""The Conformers tab's session, headless (issue 16, item 6): conformers of a typed SMILES from
a trained ConfVAE run and from ETKDG with and without MMFF, side by side with GFN2-xTB
energies; bad input refused before anything runs."""

import numpy as np
import pytest

from workbench.backmap.conformer_data import etkdg_conformers, xtb_energies
from workbench.backmap.conformer_session import ConformerSession
from workbench.backmap.conformers import ConformerJob
from workbench.registry import RunRegistry

SMALL = {"n_features": 16, "n_latent": 4, "n_rounds": 2, "inner_steps": 20, "batch_size": 4,
         "validation_fraction": 0.0}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    registry = RunRegistry(tmp_path_factory.mktemp("runs"))
    molecules = [(s, etkdg_conformers(s, 3, seed=0)) for s in ("CCO", "CCN")]
    ConformerJob(molecules, registry=registry, epochs=1, **SMALL).run(progress=False)
    return ConformerSession(registry)


def test_three_methods_side_by_side_with_energies(session):
    """ConfVAE and ETKDG, each with and without MMFF, give three conformers of ethylene
    glycol in the AddHs order (10 atoms) with finite GFN2-xTB energies; MMFF minima lie lower
    in GFN2-xTB than the structures MMFF started from (neither ETKDG nor ConfVAE minimises an
    energy)."""
    (model,) = session.models().values()
    job = session.generate("OCCO", 3, model=model)
    assert job.wait(120) and job.status == "completed", job.message
    assert list(session.ensembles) == ["ConfVAE", "ConfVAE + MMFF", "ETKDG", "ETKDG + MMFF"]
    for ens in session.ensembles.values():
        assert ens.positions.shape == (3, 10, 3)
        assert np.isfinite(ens.energies_eV).all()
        np.testing.assert_array_equal(ens.atomic_numbers, [8, 6, 6, 8, 1, 1, 1, 1, 1, 1])
    e = session.ensembles
    assert e["ETKDG + MMFF"].energies_eV.mean() < e["ETKDG"].energies_eV.mean()
    assert e["ConfVAE + MMFF"].energies_eV.mean() < e["ConfVAE"].energies_eV.mean()
    assert len(session.bonds) == 9


def test_a_charged_molecule_gets_its_charge(session):
    """Acetate (total charge -1, an even number of electrons): the energies are GFN2-xTB's for
    the anion (1e-8 eV), not for a neutral radical."""
    job = session.generate("CC(=O)[O-]", 2, methods=["ETKDG"])
    assert job.wait(60) and job.status == "completed", job.message
    ens = session.ensembles["ETKDG"]
    np.testing.assert_allclose(ens.energies_eV,
                               xtb_energies(ens.atomic_numbers, ens.positions, charge=-1),
                               atol=1e-8)


def test_generating_leaves_a_training_running_and_stopped_runs_are_not_offered(session):
    """A generation started during a training leaves it running; a training stopped early is
    not offered as a model, the completed one is, labelled with its epochs."""
    models = dict(session.models())
    molecules = [(s, etkdg_conformers(s, 3, seed=1)) for s in ("CCO", "CCN")]
    session.train_molecules(molecules, epochs=500, **SMALL)
    training = session.training
    job = session.generate("CCO", 2, methods=["ETKDG"], energies=False)
    assert job.wait(60) and job.status == "completed"
    assert training.status == "running"
    session.stop()
    training.wait(60)
    assert training.status == "stopped"
    assert session.models() == models
    assert all(", 1 epochs," in label for label in models)


def test_bad_input_is_refused(session, tmp_path):
    cases = [(lambda: session.generate("C1CC", 3), "cannot read"),
             (lambda: session.generate("CCO", 0), "1 to 50"),
             (lambda: session.generate("[Na+]", 3), "single atom"),
             (lambda: session.generate("CCO", 3, methods=[]), "choose a method"),
             (lambda: session.generate("CCO", 3, methods=["ConfVAE"]), "needs a trained"),
             (lambda: session.train(str(tmp_path / "missing.npz")), "no conformer set")]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    not_a_set = tmp_path / "x.npz"
    np.savez(not_a_set, a=np.zeros(2))
    with pytest.raises(ValueError):
        session.train(str(not_a_set))
