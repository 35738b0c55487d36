"""What the epoch-by-epoch trainings on one molecule's frames share (Autograin here, CGVAE in
``workbench.backmap``): a contiguous validation block at the end of the frames (frames of one
trajectory are correlated), seeded batches of one shape, the optimiser epoch as one compiled
``lax.scan``, a checkpoint in the run, and resuming from it so that a stopped and continued
training repeats an unbroken one.

A subclass has ``positions``, ``seed``, ``batch_size``, ``validation_fraction`` and ``epochs``,
keeps its optimiser state in ``self._state`` (a pytree), its learning curves in
``self.curves`` (keys ``epoch``, its own, ``wall_time_s``) and its run in ``self._run``, and
implements ``prepare``, ``_register`` and ``_train_epoch``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import param
from flax import serialization

from workbench import io
from workbench.jobs import Job
from workbench.mlff.checkpoint import read_checkpoint, write_checkpoint
from workbench.registry import Run, RunRegistry

__all__ = ["EpochJob", "TrainingSettings", "scan_epoch"]


def scan_epoch(grad_fn, optimizer: optax.GradientTransformation):
    """``epoch(state, batches, key, *args) -> (state, mean of the per-step values)``:
    ``batches [n_batches, batch]`` frame indices, one key per step split from ``key``;
    ``grad_fn(params, idx, key, *args) -> ((loss, terms), grads)`` with ``terms`` a sequence of
    scalars; ``state = {"params", "opt_state"}``; the values are ``[loss, *terms]``."""

    def epoch(state, batches, key, *args):
        def step(carry, xs):
            idx, k = xs
            (loss, terms), g = grad_fn(carry["params"], idx, k, *args)
            updates, opt_state = optimizer.update(g, carry["opt_state"], carry["params"])
            return ({"params": optax.apply_updates(carry["params"], updates),
                     "opt_state": opt_state}, jnp.stack([loss, *terms]))

        keys = jax.random.split(key, len(batches))
        state, per_step = jax.lax.scan(step, state, (batches, keys))
        return state, jnp.mean(per_step, axis=0)

    return epoch


class TrainingSettings(param.Parameterized):
    """The optimiser and split settings of a training with Adam on a cosine schedule and
    clipped gradients (CGVAE, ConfVAE); subclasses add theirs and may change a default."""

    learning_rate = param.Number(default=1e-3, bounds=(0, None),
                                 inclusive_bounds=(False, True), doc="Adam's initial rate.")
    clip_norm = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True),
                             doc="Global gradient norm clip.")
    epochs = param.Integer(default=100, bounds=(1, None), doc="Passes over the training data.")
    batch_size = param.Integer(default=8, bounds=(1, None), doc="Examples per step.")
    seed = param.Integer(default=0, doc="Seed of the weights, batches and noise.")
    validation_fraction = param.Number(default=0.1, bounds=(0, 0.9),
                                       doc="Last fraction of the data held out.")
    precision = param.Selector(default="float32", objects=["float32", "float64"],
                               doc="Floating-point precision of the training.")

    def settings(self) -> dict[str, Any]:
        """The settings (the parameters of the settings classes, not of a job) as JSON-able
        values."""
        owners = {k: type(self).param[k].owner for k in type(self).param if k != "name"}
        return {k: getattr(self, k) for k, owner in owners.items()
                if issubclass(owner, TrainingSettings) and not issubclass(owner, Job)}


class EpochJob(Job):
    """Base of a training with epochs (module docstring)."""

    epoch = param.Integer(default=0, constant=True, doc="Epochs completed.")

    CHECKPOINT_FILE = "checkpoint.msgpack"

    @property
    def n_validation(self) -> int:
        """Frames held out: the last ``validation_fraction`` of them."""
        return int(round(self.validation_fraction * len(self.positions)))

    @property
    def n_train(self) -> int:
        return len(self.positions) - self.n_validation

    def check_split(self) -> None:
        """ValueError when the split leaves no training or no validation frame."""
        n_val = self.n_validation
        if n_val >= len(self.positions) or (self.validation_fraction > 0 and n_val < 1):
            raise ValueError(f"a validation fraction of {self.validation_fraction} of "
                             f"{len(self.positions)} frames leaves no training or no "
                             "validation frame")

    def _batches(self, epoch: int) -> np.ndarray:
        """``[n_batches, batch]`` training frame indices of ``epoch`` (seeded shuffle; the last
        batch filled up from the start of the order, so every batch has one shape)."""
        n = self.n_train
        size = min(self.batch_size, n)
        order = np.random.default_rng([self.seed, epoch]).permutation(n)
        n_b = -(-n // size)
        return np.resize(order, n_b * size).reshape(n_b, size)

    def _epoch_key(self, epoch: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), epoch)

    @property
    def run_record(self) -> Run | None:
        """The registered run (None before the job first starts)."""
        return self._run

    def _check_startable(self) -> None:
        if self.status == "completed":
            raise RuntimeError(f"this training has completed; use {type(self).__name__}"
                               ".from_run(run_id, ..., epochs=...) to train longer")
        self.check()

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], dict[str, Any], str]:
        """Train ``epoch``; returns its curve values (by name), parameter values to report,
        and a message."""
        raise NotImplementedError

    def _work(self) -> Iterator[None]:
        self.prepare()
        self._register()
        self._set(total=self.epochs)
        started = time.perf_counter()
        try:
            while self.epoch < self.epochs:
                e = self.epoch
                row, values, message = self._train_epoch(e)
                row.update(epoch=e + 1, wall_time_s=self._wall + time.perf_counter() - started)
                for name, curve in self.curves.items():
                    curve.append(float(row[name]))
                self._advance(e + 1, epoch=e + 1, message=f"epoch {e + 1}: {message}", **values)
                yield
        finally:
            self._wall += time.perf_counter() - started

    def _checkpoint_state(self) -> dict[str, Any]:
        return {"state": self._state, "epoch": np.int64(self.epoch),
                "wall_time_s": np.float64(self._wall),
                "curves": {k: np.asarray(v, np.float64) for k, v in self.curves.items()}}

    def _save_run(self, params_file: str, params, **extra: Any) -> None:
        """Write the checkpoint, ``params`` to ``params_file`` (flax serialization) and the
        metrics: epochs, wall time, stop reason, ``extra``, the curves and their last values."""
        run = self._run
        self._save_checkpoint()
        with io.atomic_open(run.file(params_file), "wb", encoding=None) as fh:
            fh.write(serialization.to_bytes(jax.device_get(params)))
        metrics = {"epochs": self.epoch, "wall_time_s": self._wall, "stop_reason": self.message,
                   **extra, "curves": {k: list(v) for k, v in self.curves.items()}}
        if self.curves["epoch"]:
            metrics.update({k: v[-1] for k, v in self.curves.items() if k != "epoch"})
        run.save_metrics(metrics)

    def _save_checkpoint(self) -> None:
        write_checkpoint(self._run.file(self.CHECKPOINT_FILE), self._checkpoint_state())

    def _restore(self, run: Run) -> None:
        """Continue from ``run``'s checkpoint (after ``prepare``)."""
        saved = read_checkpoint(run.file(self.CHECKPOINT_FILE), self._checkpoint_state())
        self._state, self._wall = saved["state"], float(saved["wall_time_s"])
        self.curves = {k: np.atleast_1d(v).astype(float).tolist()
                       for k, v in saved["curves"].items()}
        self._run = run
        self._set(epoch=int(saved["epoch"]), done=int(saved["epoch"]), total=self.epochs)

    @classmethod
    def _resumable(cls, run: str | Run, registry: RunRegistry | None, kind: str,
                   what: str) -> tuple[Run, RunRegistry]:
        """``(run, registry)`` of a run of ``kind`` with a checkpoint; ValueError otherwise."""
        registry = registry or RunRegistry()
        run = registry.get(run) if isinstance(run, str) else run
        if run.kind != kind or not run.file(cls.CHECKPOINT_FILE).is_file():
            raise ValueError(f"run {run.id} is not {what} run with a checkpoint")
        return run, registry

    @staticmethod
    def _check_resume(run: Run, digest: str, overrides: dict[str, Any],
                      fixed: tuple[str, ...]) -> None:
        """ValueError when the data's ``digest`` is not the run's or ``overrides`` change a
        ``fixed`` setting."""
        cfg = run.config
        if digest != cfg["data"]["sha256"]:
            shape = ", ".join(f"{v} {k.removeprefix('n_')}" for k, v in cfg["data"].items()
                              if k.startswith("n_"))
            raise ValueError(f"these data are not the ones run {run.id} was trained on "
                             f"({shape}; checked by digest)")
        changed = sorted(k for k, v in overrides.items()
                         if k in fixed and v != cfg["settings"][k])
        if changed:
            raise ValueError(f"{changed} cannot change when resuming run {run.id}")
