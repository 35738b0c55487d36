"""Energy and force MAE of a learned force field on a test split: the force-error column of
MDsim's tables (Fu et al., TMLR 2023), which the paper sets against the simulation metrics.

A thin ``Metric`` face over ``workbench.mlff.evaluate.evaluate`` (which holds the formulas), so
a leaderboard reads it like the other metrics.
"""

from __future__ import annotations

from typing import Any

from workbench.benchmark.base import Metric

__all__ = ["ForceError"]


class ForceError(Metric):
    """Energy and force errors of a model on a test split.

    Args:
        test_data: a ``workbench.data.Dataset`` with energies and forces (ASE units), e.g. the
            ``test`` part of ``Dataset.split``.
        batch_size: frames per evaluation batch.

    ``run(model)`` takes a ``workbench.learned.LearnedForceField`` (or a folder it loads from).

    Results:
        the keys of ``evaluate``: ``energy_mae``, ``energy_rmse`` (eV), ``energy_mae_per_atom``
        (eV/atom), ``force_mae``, ``force_rmse`` (eV/Å), per-species force errors, ``n_frames``;
        and ``parity`` (the parity-plot arrays).

    Raises:
        ValueError: as ``evaluate`` (no energies or forces, unknown species, small box).
    """

    def __init__(self, test_data: Any, batch_size: int = 8) -> None:
        super().__init__()
        self.test_data, self.batch_size = test_data, int(batch_size)

    def run(self, model: Any, **_: Any) -> ForceError:  # type: ignore[override]
        from workbench.learned import LearnedForceField
        from workbench.mlff.evaluate import evaluate

        if not isinstance(model, LearnedForceField):
            model = LearnedForceField.load(model)
        evaluation = evaluate(model, self.test_data, batch_size=self.batch_size)
        self.results.clear()
        self.results.update(evaluation.metrics, parity=evaluation.parity)
        return self
