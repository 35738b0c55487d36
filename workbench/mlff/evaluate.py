"""``evaluate``: energy and force errors of a learned force field on a dataset, and the
parity data (reference against predicted) a parity plot draws.

Metrics, the ones MDsim tables report (Fu et al., TMLR 2023): energy MAE and RMSE over frames
(eV, total energy of a frame), the energy MAE per atom (eV/atom), force MAE and RMSE over
every Cartesian component (eV/Å), and the force MAE and RMSE per species (keyed by chemical
symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from workbench.mlff.batches import GraphData

__all__ = ["Evaluation", "error_metrics", "evaluate", "predictions"]


@dataclass
class Evaluation:
    """``metrics``: JSON-able dict (module docstring); ``parity``: arrays ``energy_ref``,
    ``energy_pred`` ``[n_frames]`` eV, ``force_ref``, ``force_pred`` ``[n_frames * n_atoms * 3]``
    eV/Å and ``force_species`` (atomic number of each component)."""

    metrics: dict[str, Any]
    parity: dict[str, np.ndarray]


def predictions(predict: Any, params: Any, data: GraphData, indices: Any, batch_size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted ``(energies [n] eV, forces [n, n_atoms, 3] eV/Å)`` of frames ``indices`` of
    ``data``, with a jitted ``predict(params, batch)`` (``workbench.mlff.step``)."""
    idx = np.asarray(indices, dtype=np.int64)
    energies, forces = [], []
    for k, batch in enumerate(data.batches(idx, batch_size)):
        e, f = jax.device_get(predict(params, batch))
        n = min(batch_size, idx.size - k * batch_size)
        energies.append(np.asarray(e[:n], dtype=np.float64))
        forces.append(np.asarray(f[:n], dtype=np.float64))
    return np.concatenate(energies), np.concatenate(forces)


def error_metrics(e_ref: Any, e_pred: Any, f_ref: Any, f_pred: Any, species: Any
                  ) -> dict[str, Any]:
    """Metrics (module docstring) of predictions against references. e: ``[n]`` eV; f:
    ``[n, n_atoms, 3]`` eV/Å; species: ``[n_atoms]`` atomic numbers."""
    from ase.data import chemical_symbols

    de = np.asarray(e_pred, dtype=np.float64) - np.asarray(e_ref, dtype=np.float64)
    df = np.asarray(f_pred, dtype=np.float64) - np.asarray(f_ref, dtype=np.float64)
    z = np.asarray(species, dtype=np.int64)
    per_mae, per_rmse = {}, {}
    for s in np.unique(z):
        d = df[:, z == s]
        per_mae[chemical_symbols[s]] = float(np.mean(np.abs(d)))
        per_rmse[chemical_symbols[s]] = float(np.sqrt(np.mean(d ** 2)))
    return {"n_frames": int(de.size),
            "energy_mae": float(np.mean(np.abs(de))),
            "energy_rmse": float(np.sqrt(np.mean(de ** 2))),
            "energy_mae_per_atom": float(np.mean(np.abs(de)) / z.size),
            "force_mae": float(np.mean(np.abs(df))),
            "force_rmse": float(np.sqrt(np.mean(df ** 2))),
            "force_mae_per_species": per_mae, "force_rmse_per_species": per_rmse}


def parity_data(e_ref, e_pred, f_ref, f_pred, species) -> dict[str, np.ndarray]:
    """The ``Evaluation.parity`` arrays (float32 forces, to keep files small)."""
    n = np.asarray(f_ref).shape[0]
    z = np.broadcast_to(np.asarray(species, dtype=np.int32)[None, :, None],
                        (n, len(species), 3))
    return {"energy_ref": np.asarray(e_ref, dtype=np.float64),
            "energy_pred": np.asarray(e_pred, dtype=np.float64),
            "force_ref": np.asarray(f_ref, dtype=np.float32).reshape(-1),
            "force_pred": np.asarray(f_pred, dtype=np.float32).reshape(-1),
            "force_species": z.reshape(-1).copy()}


def evaluate(model: Any, dataset: Any, batch_size: int = 8, dtype: Any = np.float32
             ) -> Evaluation:
    """Errors of ``model`` (a ``workbench.learned.LearnedForceField``) on every frame of
    ``dataset`` (a ``workbench.data.Dataset`` with energies and forces, ASE units).

    Raises:
        ValueError: the dataset lacks energies or forces, has species the model does not know,
            or a box smaller than twice the model's cutoff.
    """
    from workbench.mlff.step import make_predict

    species = model.species_index(dataset.species)
    data = GraphData(dataset, model.cutoff, dtype=dtype)
    predict = jax.jit(make_predict(model.build_model(), species, data.box is not None))
    e, f = predictions(predict, model.params, data, np.arange(dataset.n_frames), batch_size)
    metrics = error_metrics(dataset.energies, e, dataset.forces, f, dataset.species)
    return Evaluation(metrics, parity_data(dataset.energies, e, dataset.forces, f,
                                           dataset.species))
