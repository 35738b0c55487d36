"""``TrainingSettings``: the hyperparameters of training a learned force field, as ``param``
parameters (typed, bounded, documented, serialisable to JSON, recorded with every run).

Defaults follow MDsim (Fu et al., "Forces are not enough", TMLR 2023; github.com/kyonofx/MDsim,
``configs/md17/schnet.yml`` and ``configs/water/base.yml``, trained with the OCP trainer):
learning rate 1e-3 (Adam), warm-up over 5000 steps from 0.2 of it, reduce-on-plateau by 0.8
after 5 epochs without improvement down to 1e-6 (where MDsim stops: ``early_stopping_lr``),
energy and force loss weights 0.05 and 0.95 (the MD17 configs; MDsim's water and LiPS configs
use 1 and 100), EMA decay 0.999 and gradient clipping at norm 10 (the water config). The batch
size (MDsim: 100 for MD17, 1 for water), the early-stopping patience on the validation force
MAE and the split are ours.
"""

from __future__ import annotations

from typing import Any

import param

__all__ = ["TrainingSettings"]


class TrainingSettings(param.Parameterized):
    """Hyperparameters of ``workbench.mlff.Training`` (module docstring)."""

    split = param.List(default=[0.8, 0.1, 0.1], item_type=float, bounds=(3, 3),
                       doc="Train, validation and test fractions of the frames.")
    seed = param.Integer(default=0, doc="Seed of the split, the weights and the batch order.")
    batch_size = param.Integer(default=8, bounds=(1, None), doc="Frames per batch.")
    max_epochs = param.Integer(default=100, bounds=(1, None), doc="Epochs at most.")
    learning_rate = param.Number(default=1e-3, bounds=(0, None), inclusive_bounds=(False, True),
                                 doc="Adam learning rate after the warm-up.")
    warmup_steps = param.Integer(default=5000, bounds=(0, None),
                                 doc="Steps of linear warm-up (MDsim: 5000).")
    warmup_factor = param.Number(default=0.2, bounds=(0, 1),
                                 doc="Learning rate at step 0 as a fraction of learning_rate.")
    plateau_patience = param.Integer(default=5, bounds=(1, None),
                                     doc="Epochs without a better validation force MAE before "
                                         "the learning rate is reduced.")
    plateau_factor = param.Number(default=0.8, bounds=(0, 1), inclusive_bounds=(False, False),
                                  doc="Factor of each learning-rate reduction.")
    min_learning_rate = param.Number(default=1e-6, bounds=(0, None),
                                     doc="Learning rate floor; training stops on reaching it.")
    ema_decay = param.Number(default=0.999, bounds=(0, 1), inclusive_bounds=(True, False),
                             doc="Decay of the exponential moving average of the weights "
                                 "(validated, kept and saved); 0 turns it off.")
    clip_norm = param.Number(default=10.0, bounds=(0, None),
                             doc="Gradient clipping by global norm (0: none).")
    energy_weight = param.Number(default=0.05, bounds=(0, None),
                                 doc="Weight of the energy MSE (eV^2) in the loss.")
    force_weight = param.Number(default=0.95, bounds=(0, None),
                                doc="Weight of the force MSE (eV^2/Å^2) in the loss.")
    early_stopping_patience = param.Integer(default=50, bounds=(1, None),
                                            doc="Epochs without a better validation force "
                                                "MAE before training stops.")
    precision = param.Selector(default="float32", objects=["float32", "float64"],
                               doc="Dtype of data and weights during training.")
    run_name = param.String(default="", doc="Name of the registered run.")

    def hyperparameters(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (recorded in the run's config)."""
        return {k: getattr(self, k) for k in TrainingSettings.param if k != "name"}

    def check_settings(self) -> None:
        """``ValueError`` for settings that cannot train (no training or validation frames
        asked for, a learning-rate floor above the learning rate, both loss weights 0)."""
        train, val, _ = self.split
        if train <= 0 or val <= 0 or min(self.split) < 0 or sum(self.split) > 1 + 1e-9:
            raise ValueError(f"split fractions must be train > 0, validation > 0, test >= 0, "
                             f"summing to at most 1; got {self.split}")
        if self.min_learning_rate >= self.learning_rate:
            raise ValueError(f"min_learning_rate ({self.min_learning_rate:g}) must be below "
                             f"learning_rate ({self.learning_rate:g})")
        if self.energy_weight == 0 and self.force_weight == 0:
            raise ValueError("energy_weight and force_weight cannot both be 0")
