"""The deterministic backmapping baselines (issue 16, item 2) on the shipped ethanol frames."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from kernels.cg import autograin as ag
from workbench.backmap.baselines import LinearBackmapper
from workbench.backmap.metrics import rmsd
from workbench.coarse.autograin import AutograinJob
from workbench.data import Dataset
from workbench.mapping import identity_mapping
from workbench.registry import RunRegistry

ETHANOL = Path(__file__).resolve().parents[2] / "notebooks" / "ethanol-160.npz"


def test_linear_fit_is_exact_with_one_bead_per_atom():
    ds = Dataset.load(ETHANOL)
    R = np.asarray(ds.positions)
    model = LinearBackmapper.fit(R[:100], identity_mapping(ds.masses))
    assert float(np.max(np.abs(model.reconstruct(R[100:]) - R[100:]))) < 1e-8


def test_autograin_decoder_backmaps_as_it_reconstructs(tmp_path):
    """The Autograin baseline backmaps CG frames of its own mapping to the atoms its training
    reconstructed: the same RMSD as ``kernels.cg.autograin.reconstruction_msd`` with its
    decoder and hard mapping (which centres frames on the atoms' centre of mass)."""
    ds = Dataset.load(ETHANOL)
    R, F, m = np.asarray(ds.positions), np.asarray(ds.forces), np.asarray(ds.masses)
    job = AutograinJob(R, F, m, registry=RunRegistry(tmp_path), n_beads=3, epochs=30, rho=0.0)
    job.run(progress=False)
    model = LinearBackmapper.from_autograin(job.run_record.id, RunRegistry(tmp_path))
    assert model.mapping.n_beads == job.mapping.n_beads
    c = jnp.asarray(job.mapping.position_matrix())
    used = model.D
    expected = float(np.sqrt(ag.reconstruction_msd(jnp.asarray(R), c, jnp.asarray(used),
                                                   jnp.asarray(m))))
    ours = float(np.mean(rmsd(model.reconstruct(R), R) ** 2) ** 0.5)
    assert abs(ours - expected) < 1e-6, (ours, expected)
    # and the least-squares map of the same mapping is at least as good on its training frames
    fitted = LinearBackmapper.fit(R, job.mapping)
    assert float(np.mean(rmsd(fitted.reconstruct(R), R) ** 2)) <= ours ** 2 + 1e-9
