"""Train CGVAE (``kernels.generative.cgvae``; Wang et al., ICML 2022) to backmap a CG
mapping of one molecule to its atoms, as a job, and use the trained model.

    job = BackmapJob(positions=R, atomic_numbers=Z, mapping=mapping, epochs=100)
    job.run()                                  # tqdm bar; or start() / stop() / wait()
    model = job.backmapper                     # or Backmapper.from_run(run_id)
    model.reconstruct(R_test)                  # [n_frames, n_atoms, 3] through the encoder
    model.sample(X_cg, n_samples=8, seed=0)    # [n_frames, 8, n_atoms, 3] from the prior
    job = BackmapJob.from_run(run_id, positions=R)   # resume a stopped run

Training, as the authors' code: Adam (optax) on ``reconstruction + beta kl + gamma distance`` over
shuffled batches of frames (seeded), gradients clipped by global norm; here the learning rate
follows a cosine decay to ``learning_rate / 100`` over the epochs instead of the authors'
reduce-on-plateau (deterministic, so that a resumed run repeats an unbroken one). The last
``validation_fraction`` of the frames (a contiguous block: frames of one trajectory are
correlated) are held out; each epoch reports the training loss terms and the validation
reconstruction RMSD (posterior mean, all atoms, Å). The distance term matches bonded pairs and
pairs two bonds apart (``kernels.generative.cgvae.distance_pairs``); bonds come from the first
frame by covalent radii (``workbench.backmap.metrics.bonds``) unless given.

Units: positions Å; reconstruction and distance terms Å^2; KL in nats per bead.

Run (kind ``"backmap"``, ``workbench.registry``): ``config.json`` (settings, the molecule's
atomic numbers and bonds, the data's shape and digest), ``mapping.json``, ``params.msgpack``
(``flax.serialization``), ``checkpoint.msgpack`` (to resume) and ``metrics.json`` (final
losses, validation RMSD, learning curves).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import param
from flax import serialization

from kernels.cg.mapping import map_positions
from kernels.generative import cgvae as cv
from workbench.backmap.metrics import bonds as covalent_bonds
from workbench.coarse.autograin import data_digest
from workbench.coarse.epochs import EpochJob, TrainingSettings, scan_epoch
from workbench.mapping import CGMapping
from workbench.registry import Run, RunRegistry

__all__ = ["RUN_KIND", "BackmapJob", "Backmapper", "CGVAESettings", "map_frames"]

RUN_KIND = "backmap"
PARAMS_FILE, MAPPING_FILE = "params.msgpack", "mapping.json"
CURVES = ("epoch", "learning_rate", "loss", "reconstruction", "kl", "distance", "val_rmsd",
          "wall_time_s")
_ARCHITECTURE = ("n_features", "n_latent", "n_encoder", "n_decoder", "n_prior", "atom_cutoff",
                 "cg_cutoff")
_FIXED_ON_RESUME = ("seed", "batch_size", "validation_fraction", "precision", *_ARCHITECTURE)


class CGVAESettings(TrainingSettings):
    """Architecture and training settings of CGVAE (module docstring)."""

    n_features = param.Integer(default=64, bounds=(4, None), doc="Width of the features.")
    n_latent = param.Integer(default=32, bounds=(1, None), doc="Latent dimensions per bead.")
    n_encoder = param.Integer(default=3, bounds=(1, None), doc="Encoder message rounds.")
    n_decoder = param.Integer(default=4, bounds=(2, None), doc="Decoder message rounds (two "
                              "at least: the cross product needs a vector to act on).")
    n_prior = param.Integer(default=2, bounds=(1, None), doc="Prior message rounds.")
    atom_cutoff = param.Number(default=5.0, bounds=(0, None), inclusive_bounds=(False, True),
                               doc="Cutoff of the atom graph (Å).")
    cg_cutoff = param.Number(default=12.0, bounds=(0, None), inclusive_bounds=(False, True),
                             doc="Cutoff of the CG graph (Å).")
    beta = param.Number(default=0.01, bounds=(0, None), doc="Weight of the KL term.")
    gamma = param.Number(default=1.0, bounds=(0, None),
                         doc="Weight of the distance term (bonds and bond angles).")
    batch_size = param.Integer(default=8, bounds=(1, None), doc="Frames per step.")
    validation_fraction = param.Number(default=0.1, bounds=(0, 0.9),
                                       doc="Last fraction of the frames held out.")


def _model(settings: dict[str, Any], mapping: CGMapping) -> cv.CGVAE:
    counts = np.bincount(mapping.assignment, minlength=mapping.n_beads)
    return cv.CGVAE(n_channels=int(counts.max()), n_atoms=mapping.n_atoms,
                    n_bead_types=len(mapping.bead_types()[1]),
                    n_rbf=16, **{k: settings[k] for k in _ARCHITECTURE})


def _graph(atomic_numbers, mapping: CGMapping, bonds) -> cv.BackmapGraph:
    g = cv.make_graph(atomic_numbers, mapping.assignment, mapping.position_matrix(),
                      mapping.bead_types()[0], cv.distance_pairs(bonds, mapping.n_atoms))
    return cv.BackmapGraph(*(jnp.asarray(a) for a in g))


def map_frames(mapping: CGMapping, positions) -> np.ndarray:
    """CG frames ``[..., n_beads, 3]`` of atoms ``positions [..., n_atoms, 3]`` (Å) through
    ``mapping`` (``kernels.cg.mapping.map_positions``, float64)."""
    c = jnp.asarray(mapping.position_matrix(), jnp.float64)
    return np.asarray(map_positions(jnp.asarray(positions, jnp.float64), c))


class Backmapper:
    """A trained CGVAE for one molecule and mapping: ``reconstruct`` and ``sample`` (numpy
    in and out, Å). ``from_run`` loads one from a run of kind ``"backmap"``."""

    def __init__(self, model: cv.CGVAE, params, graph: cv.BackmapGraph, mapping: CGMapping,
                 dtype="float32"):
        self.model, self.params, self.graph, self.mapping = model, params, graph, mapping
        self.dtype = jnp.dtype(dtype)
        self._reconstruct = jax.jit(lambda p, x: cv.reconstruct(model, p, graph, x))
        self._sample = jax.jit(lambda p, X, k, n: cv.sample(model, p, graph, X, k, n),
                               static_argnums=3)

    def map(self, positions) -> np.ndarray:
        """CG frames ``[..., n_beads, 3]`` of atoms ``[..., n_atoms, 3]`` (Å)."""
        return map_frames(self.mapping, positions)

    def reconstruct(self, positions) -> np.ndarray:
        """``[n_frames, n_atoms, 3]`` (Å): atoms ``positions [n_frames, n_atoms, 3]`` (Å)
        mapped, encoded (posterior mean) and decoded."""
        x = self._frames(positions, self.mapping.n_atoms, "positions")
        return np.asarray(self._reconstruct(self.params, x), np.float64)

    def sample(self, cg_positions, n_samples: int = 1, seed: int = 0) -> np.ndarray:
        """``[n_frames, n_samples, n_atoms, 3]`` atoms (Å) for CG frames ``cg_positions
        [n_frames, n_beads, 3]`` (Å), latents from the prior; the same seed gives the same
        samples."""
        X = self._frames(cg_positions, self.mapping.n_beads, "cg_positions")
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        out = self._sample(self.params, X, jax.random.PRNGKey(seed), int(n_samples))
        return np.asarray(out, np.float64)

    def _frames(self, a, n: int, name: str) -> jnp.ndarray:
        a = np.asarray(a, np.float64)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[1:] != (n, 3):
            raise ValueError(f"{name} must be [n_frames, {n}, 3], got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
        return jnp.asarray(a, self.dtype)

    @classmethod
    def from_run(cls, run: str | Run, registry: RunRegistry | None = None) -> Backmapper:
        """The model saved by a ``BackmapJob`` run (an id or a ``Run``).

        Raises:
          ValueError: not a backmap run, or one without saved parameters.
        """
        run = (registry or RunRegistry()).get(run) if isinstance(run, str) else run
        if run.kind != RUN_KIND or not run.file(PARAMS_FILE).is_file():
            raise ValueError(f"run {run.id} holds no trained backmapping model")
        cfg = run.config
        mapping = CGMapping.load(run.file(MAPPING_FILE))
        graph = _graph(cfg["molecule"]["atomic_numbers"], mapping, cfg["molecule"]["bonds"])
        model = _model(cfg["settings"], mapping)
        dtype = cfg["settings"]["precision"]
        template = cv.init_params(model, graph, jax.random.PRNGKey(0), jnp.dtype(dtype))
        params = serialization.from_bytes(template, run.file(PARAMS_FILE).read_bytes())
        return cls(model, params, graph, mapping, dtype)


class BackmapJob(CGVAESettings, EpochJob):
    """Train CGVAE on atom frames ``positions [n_frames, n_atoms, 3]`` (Å) of the molecule with
    ``atomic_numbers [n_atoms]`` through ``mapping`` (``CGMapping``), one epoch per chunk.
    ``bonds [n_bonds, 2]``: the molecule's bonds (default: from the first frame).
    ``registry``: where the run goes (the default registry if None).

    Raises (``check``, also on start):
      ValueError: shapes that do not match, non-finite positions, fewer than two beads, or a
        split that leaves no training or no validation frame.
    """

    loss = param.Number(default=None, allow_None=True, constant=True,
                        doc="Training loss of the last epoch.")
    val_rmsd = param.Number(default=None, allow_None=True, constant=True,
                            doc="Validation reconstruction RMSD, all atoms (Å).")

    def __init__(self, positions=None, atomic_numbers=None, mapping: CGMapping | None = None,
                 bonds=None, registry: RunRegistry | None = None, **params):
        params.setdefault("unit", "epoch")
        super().__init__(**params)
        self.positions = None if positions is None else np.asarray(positions, np.float64)
        self.atomic_numbers = None if atomic_numbers is None else \
            np.asarray(atomic_numbers, np.int64)
        self.mapping = mapping
        self.bonds = None if bonds is None else np.asarray(bonds, np.int64).reshape(-1, 2)
        self.registry = registry
        self.curves: dict[str, list[float]] = {c: [] for c in CURVES}
        self._run: Run | None = None
        self._prepared = False
        self._wall = 0.0

    # --- set-up -----------------------------------------------------------------------------
    def check(self) -> None:
        """Check the data and settings (class docstring)."""
        R, Z, mapping = self.positions, self.atomic_numbers, self.mapping
        if R is None or Z is None or mapping is None:
            raise ValueError("CGVAE needs positions, atomic_numbers and a mapping")
        if R.ndim != 3 or R.shape[-1] != 3 or Z.shape != (R.shape[1],):
            raise ValueError(f"positions must be [n_frames, n_atoms, 3] and atomic_numbers "
                             f"[n_atoms], got {R.shape} and {Z.shape}")
        if mapping.n_atoms != R.shape[1]:
            raise ValueError(f"the mapping is of {mapping.n_atoms} atoms, the frames of "
                             f"{R.shape[1]}")
        if mapping.n_beads < 2:
            raise ValueError("backmapping needs two beads or more (three or more to leave a "
                             "line: see kernels.generative.cgvae)")
        if not np.all(np.isfinite(R)):
            raise ValueError("positions must be finite")
        self.check_split()

    def prepare(self) -> None:
        """Check, split, build the model, initialise weights and optimiser, compile (once)."""
        if self._prepared:
            return
        self.check()
        if self.bonds is None:
            self.bonds = covalent_bonds(self.positions[0], self.atomic_numbers)
        dtype = jnp.dtype(self.precision)
        self._graph = _graph(self.atomic_numbers, self.mapping, self.bonds)
        self._model = _model(self.settings(), self.mapping)
        n_train = self.n_train
        self._data = {"R": jnp.asarray(self.positions[:n_train], dtype),
                      "R_val": jnp.asarray(self.positions[n_train:] if self.n_validation
                                           else self.positions[:n_train], dtype)}
        self._steps_per_epoch = len(self._batches(0))
        self._schedule = optax.cosine_decay_schedule(
            self.learning_rate, self.epochs * self._steps_per_epoch, alpha=0.01)
        self._optimizer = optax.chain(optax.clip_by_global_norm(self.clip_norm),
                                      optax.adam(self._schedule))
        params = cv.init_params(self._model, self._graph, jax.random.PRNGKey(self.seed), dtype)
        self._state = {"params": params, "opt_state": self._optimizer.init(params)}
        self._epoch_fn = jax.jit(self._make_epoch())
        self._backmapper = Backmapper(self._model, params, self._graph, self.mapping,
                                      self.precision)
        self._set(total=self.epochs)
        self._prepared = True

    def _make_epoch(self):
        model, graph, beta, gamma = self._model, self._graph, self.beta, self.gamma

        def loss_fn(params, x, key):
            terms = cv.loss_terms(model, params, graph, x, key)
            return terms.reconstruction + beta * terms.kl + gamma * terms.distance, terms

        grad = jax.value_and_grad(loss_fn, has_aux=True)
        return scan_epoch(lambda params, idx, k, R: grad(params, R[idx], k), self._optimizer)

    def _register(self) -> None:
        if self._run is None:
            registry = self.registry or RunRegistry()
            R = self.positions
            config = {"settings": self.settings(),
                      "molecule": {"atomic_numbers": self.atomic_numbers.tolist(),
                                   "bonds": self.bonds.tolist()},
                      "data": {"n_frames": R.shape[0], "n_atoms": R.shape[1],
                               "sha256": data_digest(R, self.atomic_numbers,
                                                     self.mapping.position_matrix())}}
            self._run = registry.create(RUN_KIND, config,
                                        name=f"CGVAE N={self.mapping.n_beads}")
            self.mapping.save(self._run.file(MAPPING_FILE))
        self.record = self._run
        self._run.set_status("running")

    # --- the work ---------------------------------------------------------------------------
    def _train_epoch(self, e: int) -> tuple[dict[str, float], dict[str, Any], str]:
        lr = float(self._schedule(e * self._steps_per_epoch))
        self._state, means = self._epoch_fn(self._state, jnp.asarray(self._batches(e)),
                                            self._epoch_key(e), self._data["R"])
        loss, rec, kl, dist = (float(x) for x in means)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss} at epoch {e + 1}; lower the learning "
                                     "rate")
        self._backmapper.params = self._state["params"]
        val = self._val_rmsd()
        row = {"learning_rate": lr, "loss": loss, "reconstruction": rec, "kl": kl,
               "distance": dist, "val_rmsd": val}
        return row, {"loss": loss, "val_rmsd": val}, (
            f"reconstruction {rec:.3g} Å², KL {kl:.3g}, distances {dist:.3g} Å², validation "
            f"RMSD {val:.3g} Å")

    def _val_rmsd(self) -> float:
        x = self._data["R_val"]
        out = self._backmapper._reconstruct(self._state["params"], x)
        return float(jnp.sqrt(jnp.mean(jnp.sum((out - x) ** 2, axis=-1))))

    # --- results ----------------------------------------------------------------------------
    @property
    def backmapper(self) -> Backmapper:
        """The model with the current weights."""
        if not self._prepared:
            raise RuntimeError("no weights yet: prepare() or train first")
        return self._backmapper

    def _finished(self) -> None:
        if self._run is not None and self._prepared:
            self._save_run(PARAMS_FILE, self._state["params"], n_beads=self.mapping.n_beads)
        super()._finished()

    @classmethod
    def from_run(cls, run: str | Run, positions, registry: RunRegistry | None = None,
                 **overrides: Any) -> BackmapJob:
        """A job that continues ``run`` (an id or a ``Run`` of kind ``"backmap"``) from its
        checkpoint on the same frames (checked by digest). ``overrides`` (e.g. ``epochs``)
        replace recorded settings, except those that fix the model, the split and the
        batches.

        Raises:
          ValueError: not a backmap run, no checkpoint, other data, or a fixed setting changed.
        """
        run, registry = cls._resumable(run, registry, RUN_KIND, "a backmap")
        cfg = run.config
        mapping = CGMapping.load(run.file(MAPPING_FILE))
        Z = np.asarray(cfg["molecule"]["atomic_numbers"], np.int64)
        cls._check_resume(run, data_digest(positions, Z, mapping.position_matrix()), overrides,
                          _FIXED_ON_RESUME)
        job = cls(positions, Z, mapping, bonds=cfg["molecule"]["bonds"], registry=registry,
                  **{**cfg["settings"], **overrides})
        job.prepare()
        job._restore(run)
        job._backmapper.params = job._state["params"]
        return job
