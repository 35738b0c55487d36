"""``Training``: train a learned force field on a dataset's energies and forces, as a job.

    from workbench.architectures import architecture
    from workbench.data import load_dataset
    from workbench.mlff import Training

    job = Training(architecture=architecture("pair_mlp", cutoff=4.0),
                   dataset=load_dataset("water.npz"), max_epochs=200, batch_size=8)
    job.run()                        # tqdm bar; or job.start() / stop() / wait() in background
    job.force_field                  # LearnedForceField with the best (EMA) weights
    job.run_record.id, job.test_metrics
    job = Training.from_run(run_id)  # resume from the run's last checkpoint; then .run()

What it does (MDsim's training recipe, Fu et al., TMLR 2023, on the OCP trainer; hyperparameters
in ``workbench.mlff.settings``): the frames are split train / validation / test with a seed
(``Dataset.split_indices``); per-species energy shifts are fitted on the training energies by
least squares and the network's energy scale is the RMS training force times 1 Å
(``kernels.mlff.model``); edges are precomputed and padded (``workbench.mlff.batches``) so the
jitted step (``workbench.mlff.step``) compiles once. Each epoch goes over the training frames in
a seeded random order; after it the EMA weights are validated, the plateau scale is stepped on
the validation force MAE, the best EMA weights are kept and a checkpoint is written. Training
ends after ``max_epochs``, when the validation force MAE has not improved for
``early_stopping_patience`` epochs, or when the learning rate has decayed to
``min_learning_rate`` (MDsim's ``early_stopping_lr``).

The job: progress in epochs (fractional inside an epoch; a chunk is about
``chunk_seconds`` of steps or the end of an epoch); ``stop()`` ends it between chunks. When it
ends (completed, stopped or failed) the run holds the state reached: a checkpoint (resumable
mid-epoch), the model with the best weights (``LearnedForceField.save``), test metrics
(``workbench.mlff.evaluate``) and the learning curves.

Run layout (kind ``"mlff"``, ``workbench.registry``): ``config.json`` (``architecture``,
``hyperparameters``, ``data``: source, frames, atoms, species, boundary; ``split``: fractions,
seed, sizes; ``model``: species, shifts, scale, cutoff, edge capacity), ``metrics.json``
(``test``: ``evaluate`` metrics; ``validation``: the best epoch's; ``best_epoch``, ``epochs``,
``steps``, ``wall_time_s``, ``train_frames_per_s``, ``stop_reason``), ``model.json`` and
``params.msgpack`` (the best model), ``checkpoint.msgpack``, ``curves.csv``, ``split.npz``,
``parity.npz`` (test parity data, ``Evaluation.parity``).
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

from kernels.mlff.model import cast_params
from workbench.architectures import Architecture, architecture_from_dict
from workbench.data.dataset import Dataset
from workbench.jobs import Job
from workbench.learned import LearnedForceField
from workbench.mlff import checkpoint as ckpt
from workbench.mlff.batches import GraphData, check_cutoff, n_batches
from workbench.mlff.evaluate import Evaluation, error_metrics, parity_data, predictions
from workbench.mlff.settings import TrainingSettings
from workbench.mlff.shifts import fit_shifts, species_counts
from workbench.mlff.step import (
    TrainState,
    make_optimizer,
    make_predict,
    make_train_step,
    zero_sums,
)
from workbench.registry import Run, RunRegistry

__all__ = ["RUN_KIND", "Training"]

RUN_KIND = "mlff"
#: settings a resumed training must keep (they fix the split, the shifts and the batches)
_FIXED_ON_RESUME = ("split", "seed", "batch_size", "precision")


class Training(TrainingSettings, Job):
    """Train a learned force field (module docstring). ``architecture``: an ``Architecture``
    (its cutoff is the model's); ``dataset``: a ``Dataset`` in ASE units with energies and
    forces, periodic or isolated; ``registry``: where the run goes (default registry if None).
    """

    architecture = param.ClassSelector(class_=Architecture, doc="Architecture to train.")
    dataset = param.ClassSelector(class_=Dataset, doc="Frames with energies and forces.")
    chunk_seconds = param.Number(default=0.5, bounds=(0, None),
                                 doc="Seconds of steps between progress reports.")
    epoch = param.Integer(default=0, constant=True, doc="Epochs completed.")
    best_val_force_mae = param.Number(default=None, allow_None=True, constant=True,
                                      doc="Best validation force MAE so far (eV/Å).")

    def __init__(self, registry: RunRegistry | None = None, **params):
        params.setdefault("unit", "epoch")
        super().__init__(**params)
        self.registry = registry
        self.curves: dict[str, list] = {c: [] for c in ckpt.CURVE_COLUMNS}
        self.test_metrics: dict[str, Any] | None = None
        self.force_field: LearnedForceField | None = None  # built by prepare()
        self.stop_reason = ""
        self._prepared = False
        self._run: Run | None = None
        self._batch = 0  # next batch within the current epoch
        self._step = 0
        self._wall = 0.0  # seconds of training before the current start
        self._started: float | None = None
        self._stale = 0
        self._best_epoch = -1
        self._best_params = None
        self._best_validation: dict[str, Any] = {}
        self._step_time = [0.0, 0]  # seconds and frames of steps after each start's first

    # --- set-up -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check the inputs, split, fit shifts, precompute edges, build ``force_field`` (the
        model, without weights until the end), initialise the weights and the optimiser (once;
        the run is registered when the work starts). ``ValueError`` for bad input."""
        if self._prepared:
            return
        self.check()
        ds = self.dataset
        dtype = np.dtype(self.precision)
        self._data = GraphData(ds, self.architecture.cutoff, dtype=dtype)
        self._split = ds.split_indices(tuple(self.split), seed=self.seed)
        train = self._split[0]
        if "avg_num_neighbors" in self.architecture.param and \
                self.architecture.avg_num_neighbors is None:
            # MACE / NequIP normalise their messages by it (mlip, as mace-torch): the mean
            # number of neighbours within the cutoff over the training frames, as theirs do
            counts = np.asarray(self._data.edge_counts, dtype=np.float64)[train]
            self.architecture.avg_num_neighbors = float(counts.mean() / ds.n_atoms)
        species = sorted(int(z) for z in np.unique(ds.species))
        shifts = fit_shifts(species_counts(ds.species, species), ds.energies[train])
        scale = float(np.sqrt(np.mean(ds.forces[train] ** 2))) or 1.0
        self.force_field = LearnedForceField(architecture=self.architecture, species=species,
                                             shifts=[float(s) for s in shifts], scale=scale)
        self._species = self.force_field.species_index(ds.species)
        model = self.force_field.build_model()
        periodic = self._data.box is not None
        self._predict = jax.jit(make_predict(model, self._species, periodic))
        first = self._data.batch(train[:1], 1)
        params = jax.jit(model.init_fn)(  # one compile instead of many op-by-op ones
            jax.random.PRNGKey(self.seed), jnp.asarray(first.positions[0]), _edges(first),
            jnp.asarray(self._species), None if first.box is None else jnp.asarray(first.box[0]))
        params = cast_params(params, dtype)
        self._optimizer = make_optimizer(self.learning_rate, self.warmup_steps,
                                         self.warmup_factor, self.clip_norm)
        self._train = TrainState(params, self._optimizer.init(params), params,
                                 jnp.zeros((), jnp.int32), zero_sums())
        self._plateau = optax.contrib.reduce_on_plateau(
            factor=self.plateau_factor, patience=self.plateau_patience,
            min_scale=self.min_learning_rate / self.learning_rate)
        self._plateau_state = self._plateau.init(jnp.zeros((), jnp.float32))
        self._train_step = make_train_step(self._predict, self._optimizer, self.energy_weight,
                                           self.force_weight, self.ema_decay)
        self._set(total=self.max_epochs)
        self._prepared = True

    def check(self) -> None:
        """Cheap checks of the choices, for a message next to a widget before starting:
        ``ValueError`` for a missing architecture or dataset, a dataset not in ASE units,
        without energies or forces, partly periodic, with too few frames for the split, a
        cutoff above half the smallest box side, or settings that cannot train."""
        if self.architecture is None or self.dataset is None:
            raise ValueError("Training needs an architecture and a dataset")
        ds = self.dataset
        if ds.units != "ase":
            raise ValueError("training needs a dataset in ASE units (Å, eV), not reduced LJ "
                             "units")
        missing = [name for name in ("energies", "forces") if getattr(ds, name) is None]
        if missing:
            raise ValueError(f"training needs energies and forces; this dataset has no "
                             f"{' and no '.join(missing)}")
        check_cutoff(self.architecture.cutoff, ds.periodic_box("training"))
        self.check_settings()
        sizes = [int(np.floor(f * ds.n_frames)) for f in self.split[:2]]
        if min(sizes) < 1:
            raise ValueError(f"{ds.n_frames} frames split {self.split} leave {sizes[0]} for "
                             f"training and {sizes[1]} for validation; each needs at least one")

    def _register(self) -> None:
        if self._run is not None:
            return
        registry = self.registry or RunRegistry()
        self._run = registry.create(RUN_KIND, self._config(), name=self.run_name)
        ckpt_split = dict(zip(("train", "validation", "test"), self._split, strict=True))
        self._run.save_arrays(ckpt.SPLIT_FILE, **ckpt_split)

    def _config(self) -> dict[str, Any]:
        ds = self.dataset
        prov = ds.provenance
        ff = self.force_field
        return {
            "architecture": self.architecture.to_dict(),
            "hyperparameters": self.hyperparameters(),
            "data": {"source": str(prov.get("source", "")), "format": prov.get("format"),
                     "sha256": dataset_digest(ds), "n_frames": ds.n_frames, "n_atoms": ds.n_atoms,
                     "species": [int(z) for z in ds.species], "boundary": ds.boundary},
            "split": {"fractions": list(self.split), "seed": self.seed,
                      "sizes": [int(s.size) for s in self._split], "file": ckpt.SPLIT_FILE},
            "model": {"species": ff.species, "shifts": ff.shifts, "scale": ff.scale,
                      "cutoff": ff.cutoff, "edge_capacity": self._data.capacity},
        }

    def curves_snapshot(self) -> dict[str, list]:
        """A copy of the learning curves (``CURVE_COLUMNS`` -> lists of equal length), safe
        to read from another thread while training runs."""
        curves = {k: list(v) for k, v in self.curves.items()}
        n = min(len(v) for v in curves.values())
        return {k: v[:n] for k, v in curves.items()}

    @property
    def run_record(self) -> Run | None:
        """The registered run (None before the job first starts)."""
        return self._run

    @property
    def learning_rate_now(self) -> float:
        """Current learning rate (warm-up and plateau scale applied)."""
        warm = min(1.0, self._step / max(self.warmup_steps, 1))
        base = self.learning_rate * (self.warmup_factor + (1 - self.warmup_factor) * warm)
        return base * float(self._plateau_state.scale)

    # --- the work -------------------------------------------------------------------------
    def _check_startable(self) -> None:
        if self.status == "completed":
            raise RuntimeError("this training has completed; raise max_epochs and use "
                               "Training.from_run(run_id, max_epochs=...) to continue")

    def _work(self) -> Iterator[None]:
        self.prepare()
        self._register()
        self.record = self._run
        self._run.set_status("running")
        self._set(total=self.max_epochs)
        self._started = time.perf_counter()
        train = self._split[0]
        n_b = n_batches(train.size, self.batch_size)
        segment = None  # (start time, frames) of the steps since the last sync, after compiling
        try:
            while self.epoch < self.max_epochs and not self.stop_reason:
                order = np.random.default_rng([self.seed, self.epoch]).permutation(train)
                last_yield = time.perf_counter()
                for batch in self._data.batches(order, self.batch_size, start=self._batch):
                    self._train, loss = self._train_step(self._train, jax.device_put(batch),
                                                         self._plateau_state.scale)
                    self._step += 1
                    self._batch += 1
                    if segment is None:  # the first step compiles: not in the throughput
                        jax.block_until_ready(loss)
                        segment = [time.perf_counter(), 0]
                    else:
                        segment[1] += int(batch.weights.sum())
                    if (self._batch < n_b
                            and time.perf_counter() - last_yield >= self.chunk_seconds):
                        self._count_steps(segment, loss)
                        self._advance(round(self.epoch + self._batch / n_b, 3))
                        yield
                        last_yield = time.perf_counter()
                        segment = [last_yield, 0]
                if segment is not None:
                    self._count_steps(segment, self._train.params)
                self._end_epoch(self.wall_time_s)
                self._advance(self.epoch)
                yield
                segment = None if segment is None else [time.perf_counter(), 0]
        finally:
            self._wall, self._started = self.wall_time_s, None

    @property
    def wall_time_s(self) -> float:
        """Seconds spent training, over every start."""
        started = self._started
        return self._wall + (0.0 if started is None else time.perf_counter() - started)

    @property
    def train_frames_per_s(self) -> float | None:
        """Training throughput: frames per second of the optimiser steps (compilation and
        validation excluded); None before two steps have run."""
        t, n = self._step_time
        return n / t if t > 0 and n > 0 else None

    def _count_steps(self, segment: list, wait_for: Any) -> None:
        jax.block_until_ready(wait_for)
        self._step_time[0] += time.perf_counter() - segment[0]
        self._step_time[1] += segment[1]

    def _end_epoch(self, wall: float) -> None:
        sums = {k: float(v) for k, v in jax.device_get(self._train.sums).items()}
        n = max(sums["n"], 1.0)
        val = self.validate(self._train.ema)
        epoch = self.epoch + 1
        row = {"epoch": epoch, "step": self._step, "wall_time_s": wall,
               "learning_rate": self.learning_rate_now, "train_loss": sums["loss"] / n,
               "train_energy_mae": sums["e_abs"] / n, "train_force_mae": sums["f_abs"] / n,
               "val_energy_mae": val["energy_mae"], "val_force_mae": val["force_mae"],
               "val_energy_rmse": val["energy_rmse"], "val_force_rmse": val["force_rmse"]}
        for k, v in row.items():
            self.curves[k].append(v)
        _, self._plateau_state = self._plateau.update(
            jnp.zeros((), jnp.float32), self._plateau_state,
            value=jnp.asarray(val["force_mae"], jnp.float32))
        best = self.best_val_force_mae
        if best is None or val["force_mae"] < best:
            self._best_params, self._best_epoch, self._stale = self._train.ema, epoch, 0
            self._best_validation = val
            best = val["force_mae"]
        else:
            self._stale += 1
        self._batch, self._train = 0, self._train._replace(sums=zero_sums())
        self._set(epoch=epoch, best_val_force_mae=best,
                  message=f"epoch {epoch}: validation force MAE {val['force_mae']:.4g} eV/Å "
                          f"(best {best:.4g} at epoch {self._best_epoch})")
        if self._stale >= self.early_stopping_patience:
            self.stop_reason = (f"early stop: validation force MAE not better for "
                                f"{self._stale} epochs")
        elif self.learning_rate * float(self._plateau_state.scale) <= (
                self.min_learning_rate * (1 + 1e-6)):
            self.stop_reason = f"learning rate reached {self.min_learning_rate:g}"
        self._save_checkpoint()
        ckpt.write_curves(self._run.file(ckpt.CURVES_FILE), self.curves)

    def validate(self, params: Any = None) -> dict[str, Any]:
        """Metrics (``workbench.mlff.evaluate``) of ``params`` (default: the EMA weights) on
        the validation frames."""
        self.prepare()
        idx = self._split[1]
        e, f = predictions(self._predict, self._train.ema if params is None else params, self._data,
                           idx, self.batch_size)
        ds = self.dataset
        return error_metrics(ds.energies[idx], e, ds.forces[idx], f, ds.species)

    def validation_parity(self) -> Evaluation:
        """Metrics and parity data of the best weights so far (else the EMA weights) on the
        validation frames, for a live parity plot."""
        return self._evaluate(1, self._best_params if self._best_params is not None
                              else self._train.ema)

    def _evaluate(self, which: int, params: Any) -> Evaluation:
        idx = self._split[which]
        ds = self.dataset
        e, f = predictions(self._predict, params, self._data, idx, self.batch_size)
        return Evaluation(error_metrics(ds.energies[idx], e, ds.forces[idx], f, ds.species),
                          parity_data(ds.energies[idx], e, ds.forces[idx], f, ds.species))

    # --- the end, checkpoints, resume --------------------------------------------------------
    def _completed_message(self) -> str:
        return self.stop_reason or f"completed {self.epoch} epochs"

    def _finished(self) -> None:
        if self._run is not None and self._prepared:
            self._save_checkpoint()
            if self.curves["epoch"]:
                ckpt.write_curves(self._run.file(ckpt.CURVES_FILE), self.curves)
            self._save_results()
        super()._finished()

    def _best(self) -> Any:
        return self._best_params if self._best_params is not None else self._train.ema

    def _save_results(self) -> None:
        run = self._run
        self.force_field.params = jax.device_get(self._best())
        self.force_field.run_id = run.id
        self.force_field.save(run.path)
        metrics: dict[str, Any] = {
            "best_epoch": self._best_epoch, "epochs": self.epoch, "steps": self._step,
            "wall_time_s": self.wall_time_s, "train_frames_per_s": self.train_frames_per_s,
            "stop_reason": self.stop_reason or self.message,
            "validation": self._best_validation}
        if self._split[2].size:
            test = self._evaluate(2, self._best())
            self.test_metrics = test.metrics
            metrics["test"] = test.metrics
            run.save_arrays("parity", **test.parity)
        run.save_metrics(metrics)

    def _state(self) -> dict[str, Any]:
        return {"train": self._train, "plateau": self._plateau_state,
                "best_params": self._best(),
                "counters": np.array([self.epoch, self._batch, self._step, self._stale,
                                      self._best_epoch], dtype=np.int64),
                "best_val_force_mae": np.float64(np.inf if self.best_val_force_mae is None
                                                 else self.best_val_force_mae),
                "wall_time_s": np.float64(self.wall_time_s),
                "curves": {k: np.asarray(v, dtype=np.float64) for k, v in self.curves.items()}}

    def _save_checkpoint(self) -> None:
        ckpt.write_checkpoint(self._run.file(ckpt.CHECKPOINT_FILE), self._state())

    def _restore(self, run: Run) -> None:
        state = ckpt.read_checkpoint(run.file(ckpt.CHECKPOINT_FILE), self._state())
        self._train, self._plateau_state = state["train"], state["plateau"]
        epoch, self._batch, self._step, self._stale, self._best_epoch = (
            int(v) for v in state["counters"])
        self._best_params = state["best_params"] if self._best_epoch > 0 else None
        best = float(state["best_val_force_mae"])
        self._wall = float(state["wall_time_s"])
        self.curves = {k: [float(x) for x in np.atleast_1d(v)] if np.size(v) else []
                       for k, v in state["curves"].items()}
        self.stop_reason = ""  # a new max_epochs or patience may let it go on
        n_b = n_batches(self._split[0].size, self.batch_size)
        self._set(epoch=epoch, best_val_force_mae=None if np.isinf(best) else best,
                  done=round(epoch + self._batch / n_b, 3), total=self.max_epochs)
        metrics = run.metrics.get("validation")
        self._best_validation = metrics or {}
        self._run = run
        self.record = run

    @classmethod
    def from_run(cls, run: str | Run, dataset: Dataset | None = None,
                 registry: RunRegistry | None = None, **overrides: Any) -> Training:
        """A training that resumes ``run`` (an id or ``Run`` of kind ``"mlff"``) from its last
        checkpoint, with the recorded settings (``overrides``, e.g. ``max_epochs``, replace
        them, except ``split``, ``seed``, ``batch_size`` and ``precision``). ``dataset``: the
        same frames (checked by digest); loaded from the recorded
        source with ``load_dataset``'s defaults when None (pass it when the file needed
        options such as ``energy_unit``).

        Raises:
            ValueError: not an mlff run, no checkpoint, or a dataset that does not match.
        """
        registry = registry or RunRegistry()
        run = registry.get(run) if isinstance(run, str) else run
        if run.kind != RUN_KIND:
            raise ValueError(f"run {run.id} is a {run.kind!r} run, not a training")
        if not run.file(ckpt.CHECKPOINT_FILE).is_file():
            raise ValueError(f"run {run.id} has no checkpoint to resume from")
        cfg = run.config
        if dataset is None:
            from workbench.data.loaders import load_dataset

            dataset = load_dataset(cfg["data"]["source"])
        if dataset_digest(dataset) != cfg["data"].get("sha256"):
            raise ValueError(f"the dataset ({dataset.n_frames} frames of {dataset.n_atoms} "
                             f"atoms) is not the one run {run.id} was trained on "
                             f"({cfg['data']['n_frames']} frames of {cfg['data']['n_atoms']}; "
                             "checked by digest of species, positions, energies and forces)")
        fixed = {k: v for k, v in overrides.items()
                 if k in _FIXED_ON_RESUME and v != cfg["hyperparameters"].get(k)}
        if fixed:
            raise ValueError(f"{sorted(fixed)} cannot change when resuming run {run.id} (they "
                             "fix the split, the shifts and the batches); start a new training")
        settings = {**cfg["hyperparameters"], **overrides}
        job = cls(architecture=architecture_from_dict(cfg["architecture"]), dataset=dataset,
                  registry=registry, **settings)
        job.prepare()
        job._restore(run)
        return job


def dataset_digest(ds: Dataset) -> str:
    """SHA-256 (hex, 16 characters) of a dataset's species, positions, box, energies and
    forces (float64 bytes): recorded with a run, checked on resume."""
    import hashlib

    h = hashlib.sha256()
    for a in (ds.species, ds.positions, ds.box, ds.energies, ds.forces):
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _edges(batch):
    from kernels.mlff.graph import Edges

    return Edges(jnp.asarray(batch.senders[0]), jnp.asarray(batch.receivers[0]))
