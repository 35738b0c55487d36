"""Energies and forces under other names (``REF_energy`` / ``REF_forces`` of ACE, MACE and
janus-core training sets, ``DFT_``, ``dft_``, ``total_energy``, ``free_energy``), ambiguous
candidates, ``energy_key=`` / ``forces_key=``, and warnings naming the numeric fields not loaded.

Expected numbers are the ones written into each file here.
"""

import warnings

import ase.io
import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from workbench.cli import main
from workbench.data import load_dataset
from workbench.data.loaders import LoaderWarning

WATER = molecule("H2O").positions
FORCES = np.random.default_rng(7).standard_normal((2, 3, 3)).round(6)


def _extxyz(path, info, arrays=(), pbc="F F F"):
    """Two water frames; ``info(i)``: the comment-line entries of frame i; ``arrays``: names of
    per-atom [3] float columns, filled with ``FORCES[i]`` times 1, 2, ..."""
    props = "species:S:1:pos:R:3" + "".join(f":{a}:R:3" for a in arrays)
    with open(path, "w") as fh:
        for i in range(2):
            fh.write(f'3\nProperties={props} {info(i)} pbc="{pbc}"\n')
            for s, r, f in zip("OHH", WATER, FORCES[i], strict=True):
                cols = " ".join(f"{(k + 1) * x:.6f}" for k in range(len(arrays)) for x in f)
                fh.write(f"{s} {r[0]:.6f} {r[1]:.6f} {r[2]:.6f} {cols}\n")
    return path


def test_ref_prefixed_fields_are_loaded_and_named_in_the_provenance(tmp_path):
    # the ACE / MACE / janus-core convention: ASE leaves these in info / arrays
    path = _extxyz(tmp_path / "train.xyz", lambda i: f"REF_energy={-76.4 - i} config_type=bulk",
                   ["REF_forces"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoaderWarning)  # nothing numeric is left behind
        ds = load_dataset(path)
    np.testing.assert_array_equal(ds.energies, [-76.4, -77.4])
    np.testing.assert_allclose(ds.forces, FORCES, atol=1e-12)
    assert ds.provenance["keys"] == {"energies": "REF_energy", "forces": "REF_forces"}


@pytest.mark.parametrize("energy, forces", [
    ("DFT_energy", "DFT_forces"), ("dft_energy", "dft_forces"), ("ref_energy", "ref_forces"),
    ("total_energy", "forces"), ("free_energy", "force"), ("REF_total_energy", "REF_force"),
    ("energy", "forces"),  # ASE turns these into a SinglePointCalculator
    ("Energy", "force"),  # sGDML's extxyz export
])
def test_common_prefixes_are_recognised(tmp_path, energy, forces):
    path = _extxyz(tmp_path / "named.xyz", lambda i: f"{energy}={-3.25 - i}", [forces])
    ds = load_dataset(path)
    np.testing.assert_array_equal(ds.energies, [-3.25, -4.25])
    np.testing.assert_allclose(ds.forces, FORCES, atol=1e-12)
    assert ds.provenance["keys"] == {"energies": energy, "forces": forces}


def test_traj_with_ref_energy_in_info_and_forces_in_the_calculator(tmp_path):
    images = []
    for i in range(2):
        atoms = molecule("H2O")
        atoms.info["REF_energy"] = -10.0 - i
        atoms.calc = SinglePointCalculator(atoms, forces=FORCES[i])
        images.append(atoms)
    ase.io.write(tmp_path / "ref.traj", images)
    ds = load_dataset(tmp_path / "ref.traj")
    np.testing.assert_array_equal(ds.energies, [-10.0, -11.0])
    np.testing.assert_array_equal(ds.forces, FORCES)


def test_different_candidates_are_an_error_and_energy_key_chooses(tmp_path):
    path = _extxyz(tmp_path / "both.xyz", lambda i: f"energy={-1.0 - i} REF_energy={-2.0 - i}",
                   ["forces"])
    with pytest.raises(ValueError, match=r"both.xyz: several different fields could be the "
                                         r"energies: energy \(frame 0: -1.0\), REF_energy "
                                         r"\(frame 0: -2.0\); pass energy_key="):
        load_dataset(path)
    with pytest.warns(LoaderWarning, match=r"not loaded: per-frame energy\."):
        ref = load_dataset(path, energy_key="REF_energy")
    np.testing.assert_array_equal(ref.energies, [-2.0, -3.0])
    with pytest.warns(LoaderWarning, match=r"not loaded: per-frame REF_energy\."):
        calc = load_dataset(path, energy_key="energy")
    np.testing.assert_array_equal(calc.energies, [-1.0, -2.0])
    same = _extxyz(tmp_path / "same.xyz", lambda i: f"energy={-1.0 - i} free_energy={-1.0 - i}")
    np.testing.assert_array_equal(load_dataset(same).energies, [-1.0, -2.0])  # equal: no doubt
    forces = _extxyz(tmp_path / "forces.xyz", lambda i: "", ["REF_forces", "DFT_forces"])
    with pytest.raises(ValueError, match=r"several different fields could be the forces: "
                                         r"REF_forces, DFT_forces; pass forces_key="):
        load_dataset(forces)
    with pytest.warns(LoaderWarning, match=r"not loaded: per-atom REF_forces\."):
        chosen = load_dataset(forces, forces_key="DFT_forces")
    np.testing.assert_allclose(chosen.forces, 2 * FORCES, atol=1e-12)


def test_a_missing_key_is_an_error_listing_the_fields(tmp_path):
    path = _extxyz(tmp_path / "mace.xyz", lambda i: f"MACE_energy={i}", ["MACE_forces"])
    with pytest.raises(ValueError, match=r"no per-frame number named 'REF_energy' \(energy_key\)"
                                         r".*MACE_energy"):
        load_dataset(path, energy_key="REF_energy")
    with pytest.raises(ValueError, match=r"named 'REF_forces' \(forces_key\).*MACE_forces"):
        load_dataset(path, forces_key="REF_forces")


def test_unloaded_numeric_fields_are_named_but_not_ase_bookkeeping(tmp_path):
    # model predictions beside the reference (MACE eval output), a stress, a per-atom charge
    path = _extxyz(tmp_path / "eval.xyz",
                   lambda i: f'REF_energy={i} MACE_energy={i + 0.1} energy_std=0.02 '
                             f'stress="1 0 0 0 1 0 0 0 1" step={i} config_type=md',
                   ["REF_forces", "MACE_forces", "momenta"])
    with pytest.warns(LoaderWarning) as caught:
        ds = load_dataset(path)
    message = str(caught[0].message)
    assert "per-frame energy_std, MACE_energy, stress; per-atom MACE_forces" in message
    assert "energy_key=" in message
    listed = message.split("numeric fields not loaded: ")[1].split(". A dataset")[0]
    for quiet in ("momenta", "numbers", "positions", "step", "config_type"):
        assert quiet not in listed
    assert ds.provenance["not_loaded"] == {"per_frame": ["energy_std", "MACE_energy", "stress"],
                                           "per_atom": ["MACE_forces"]}
    with pytest.warns(LoaderWarning, match="per-frame energy_std, REF_energy, stress"):
        with_model = load_dataset(path, energy_key="MACE_energy", forces_key="MACE_forces")
    np.testing.assert_allclose(with_model.energies, [0.1, 1.1])
    np.testing.assert_allclose(with_model.forces, 2 * FORCES, atol=1e-12)


def test_npz_keys_and_unloaded_arrays(tmp_path):
    # rMD17 keeps the original MD17 labels as old_energies / old_forces
    rng = np.random.default_rng(0)
    R, F, old_F = rng.random((3, 3, 3)), rng.random((3, 3, 3)), rng.random((3, 3, 3))
    path = tmp_path / "rmd17.npz"
    np.savez(path, coords=R, forces=F, energies=[1.0, 2.0, 3.0], nuclear_charges=[8, 1, 1],
             old_energies=[4.0, 5.0, 6.0], old_forces=old_F, old_indices=np.arange(3),
             E_mean=np.array(2.0), e_unit=np.array("eV"), r_unit=np.array("Ang"))
    with pytest.warns(LoaderWarning, match=r"not loaded: per-frame old_energies, old_forces, "
                                           r"old_indices\."):
        ds = load_dataset(path)
    np.testing.assert_array_equal(ds.energies, [1.0, 2.0, 3.0])
    with pytest.warns(LoaderWarning, match=r"per-frame energies, forces, old_indices\."):
        old = load_dataset(path, energy_key="old_energies", forces_key="old_forces")
    np.testing.assert_array_equal(old.energies, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(old.forces, old_F)
    assert old.provenance["keys"]["energies"] == "old_energies"
    with pytest.raises(ValueError, match=r"no energies array \(looked for energy_key='E_ref'"):
        load_dataset(path, energy_key="E_ref")


def test_cli_info_shows_units_fields_and_warnings(tmp_path, capsys):
    path = _extxyz(tmp_path / "train.xyz", lambda i: f"REF_energy={-5.0 - i} MACE_energy={i}",
                   ["REF_forces"])
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "energies from 'REF_energy', forces from 'REF_forces'" in out
    assert "units read: energy eV (assumed: the ASE convention)" in out
    assert "not loaded (per-frame fields): MACE_energy" in out
    assert "warning: " in out and "MACE_energy" in out
    assert main(["data", "info", str(path), "--energy-key", "MACE_energy"]) == 0
    assert "energies: 0 .. 1 eV" in capsys.readouterr().out
    npz = tmp_path / "md17.npz"
    np.savez(npz, R=np.zeros((1, 1, 3)), E=[1.0], F=np.zeros((1, 1, 3)), z=[1])
    assert main(["data", "info", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "energy kcal/mol (assumed: the MD17 convention)" in out
    assert "warning: " in out and "energy_unit=" in out
    assert main(["data", "info", str(npz), "--energy-unit", "eV", "--length-unit", "Ang"]) == 0
    out = capsys.readouterr().out
    assert "energies: 1 .. 1 eV" in out and "warning" not in out
    both = _extxyz(tmp_path / "both.xyz", lambda i: f"energy={i} REF_energy={i + 1}")
    assert main(["data", "info", str(both)]) == 2
    assert "several different fields could be the energies" in capsys.readouterr().err
