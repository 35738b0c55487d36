"""The CGVAE report on alanine dipeptide (issue 16, item 3): reconstruction RMSD of CGVAE
against the linear and Autograin-decoder baselines for N = 3, 4, 6, 8 beads (Girvan-Newman
mappings on the bond graph), and the quality of samples from the prior, on an OpenMM
trajectory in vacuum (AMBER ff14SB, 300 K) made by ``workbench.data.generate``.

Tens of minutes of CPU time, so it runs only when asked: ``MDWB_BACKMAP_REPORT=1 pytest -s
tests/workbench/test_backmap_alanine.py`` prints the table (``MDWB_BACKMAP_FRAMES``, default
1000 frames 1 ps apart; ``MDWB_BACKMAP_EPOCHS``, default 60; ``MDWB_BACKMAP_BEADS``, default
"3,4,6,8").

RMSDs are given in both conventions: per atom (the usual one) and per Cartesian coordinate
(the CGVAE authors' code, atom RMSD / sqrt(3)), in which their draft results for alanine
dipeptide are quoted (heavy atoms, N = 3 / 6 / 12: linear projection 0.94 / 0.38 / 0.15 Å,
CGVAE 0.21 / 0.11 / 0.06 Å). The last 10 % of the frames are held out (a contiguous block).

The checks are the issue's targets: at N = 3 CGVAE's heavy-atom reconstruction is within 1.5x
of the authors' 0.21 Å and at least 3x better than the linear map; at N = 6 within 1.5x of their
0.11 Å; and at every N CGVAE reconstructs all atoms better than the linear map. (Heavy atoms
alone at N = 8 are not asked: eight beads nearly pin them, and the linear map is then as good,
measured 0.022 against CGVAE's 0.023 Å per atom.)
"""

import os

import numpy as np
import pytest

from workbench.backmap import BackmapJob, LinearBackmapper
from workbench.backmap import metrics as bm
from workbench.coarse.autograin import AutograinJob
from workbench.registry import RunRegistry

pytestmark = pytest.mark.skipif(not os.environ.get("MDWB_BACKMAP_REPORT"),
                                reason="the alanine report takes tens of minutes: "
                                       "MDWB_BACKMAP_REPORT=1 runs it")


@pytest.mark.timeout(7200)
def test_alanine_dipeptide_backmapping_report(tmp_path):
    from workbench.data import generate
    from workbench.mapping import girvan_newman_mapping
    from workbench.molecules import alanine_dipeptide

    n_frames = int(os.environ.get("MDWB_BACKMAP_FRAMES", 1000))
    epochs = int(os.environ.get("MDWB_BACKMAP_EPOCHS", 60))
    beads = [int(b) for b in os.environ.get("MDWB_BACKMAP_BEADS", "3,4,6,8").split(",")]
    ds = generate("alanine_dipeptide", n_frames, tmp_path / "ala.npz", seed=0, stride=2000,
                  equilibration_steps=10_000)
    R, Z, m = np.asarray(ds.positions), np.asarray(ds.species), np.asarray(ds.masses)
    n_val = int(round(0.1 * n_frames))
    train, test = R[:-n_val], R[-n_val:]
    heavy = bm.heavy_atom_mask(Z)
    registry = RunRegistry(tmp_path / "runs")
    mol = alanine_dipeptide()
    rows = []
    for n in beads:
        mapping = girvan_newman_mapping(ds.n_atoms, mol.bonds, n, m)
        job = BackmapJob(R, Z, mapping, registry=registry, epochs=epochs)
        job.run(progress=False)
        model = job.backmapper
        autograin = AutograinJob(R, np.asarray(ds.forces), m, registry=registry, n_beads=n,
                                 epochs=300, rho=0.0)
        autograin.run(progress=False)
        ag = LinearBackmapper.from_autograin(autograin.run_record.id, registry)
        ag_test = ag.reconstruct(test)
        recon = {"linear": LinearBackmapper.fit(train, mapping).reconstruct(test),
                 "cgvae": model.reconstruct(test)}
        samples = model.sample(model.map(test), n_samples=5, seed=0)
        score = bm.score(samples, test, Z)
        row = {"n": n, "epoch_s": job.curves["wall_time_s"][-1] / epochs,
               "autograin_beads": ag.mapping.n_beads, "sample": score}
        for name, x in (*recon.items(), ("autograin", ag_test)):
            for conv in bm.CONVENTIONS:
                row[name, conv] = float(np.mean(bm.rmsd(x, test, heavy, conv)))
                row[name, conv, "all"] = float(np.mean(bm.rmsd(x, test, None, conv)))
        rows.append(row)
    print(f"\nheavy-atom reconstruction RMSD (Å; per coordinate / per atom), {n_frames} frames, "
          f"{epochs} epochs, held-out last {n_val}")
    print(f"{'N':>3} {'linear':>13} {'autograin':>13} {'CGVAE':>13} {'lin/CGVAE':>9} "
          f"{'all atoms: linear':>17} {'CGVAE':>6} {'s/epoch':>7}")
    def cell(r, k):
        return f"{r[k, 'coordinate']:.3f}/{r[k, 'atom']:.3f}"

    for r in rows:
        print(f"{r['n']:>3} {cell(r, 'linear'):>13} {cell(r, 'autograin'):>13} "
              f"{cell(r, 'cgvae'):>13} "
              f"{r['linear', 'atom'] / r['cgvae', 'atom']:>9.2f} "
              f"{r['linear', 'atom', 'all']:>17.3f} {r['cgvae', 'atom', 'all']:>6.3f} "
              f"{r['epoch_s']:>7.1f}")
    print("samples from the prior (5 per held-out frame):")
    for r in rows:
        s = r["sample"]
        print(f"{r['n']:>3} RMSD {s['rmsd']:.3f} (heavy {s['rmsd_heavy']:.3f}) Å, valid "
              f"{s['valid_fraction']:.2f} (heavy {s['valid_fraction_heavy']:.2f}), graph edits "
              f"{s['graph_edit_ratio']:.3f} (heavy {s['graph_edit_ratio_heavy']:.3f}), "
              f"diversity {s['diversity']:.3f}")
    paper = {3: 0.21, 6: 0.11}  # CGVAE heavy-atom RMSD_recon, per coordinate (Å)
    for r in rows:
        assert r["cgvae", "atom", "all"] < r["linear", "atom", "all"], r
        if r["n"] in paper:
            assert r["cgvae", "coordinate"] <= 1.5 * paper[r["n"]], r
        if r["n"] == 3:
            assert r["linear", "atom"] >= 3 * r["cgvae", "atom"], r
