"""Learn a CG mapping with Autograin (Wang & Gomez-Bombarelli, npj Comput. Mater. 5, 125
(2019)): ``Autograin`` holds the settings, ``AutograinJob`` trains the auto-encoder of
``kernels.cg.autograin`` on an atom trajectory with forces as a job, and the learned hard
mapping comes out as a ``workbench.mapping.CGMapping`` (for ``ForceMatching.fit_mapped``).

    job = AutograinJob(positions=R, forces=F, masses=m, n_beads=4, epochs=200)
    job.run()                     # tqdm bar; or start() / stop() / wait() in the background
    job.mapping                   # CGMapping, centre-of-mass beads
    job = AutograinJob.from_run(run_id, positions=R, forces=F)   # resume a stopped run

Training, as the reference code: Adam (optax) on ``reconstruction + rho * force`` over shuffled
batches of frames (seeded), one Gumbel draw per batch; the Gumbel-softmax temperature of epoch
``e`` of ``E`` is ``T(e) = (T_start - T_end) exp(-e / (decay E)) + T_end`` (the paper's
exponential decay to a floor, written so that epoch 0 is at ``T_start``); the force-matching
term is switched on from ``force_matching_start * E`` (the reference's ``fm_epoch``), after the
encoder has found a reconstruction. The last ``validation_fraction`` of the frames (a
contiguous block, as frames of one trajectory are correlated) are held out: each epoch reports
the training loss terms and the validation reconstruction RMSD of the hard mapping (argmax)
with the learned decoder, in Å. Stopping keeps the state; ``start()`` again, or ``from_run``
in a new process, continues with the same batches and noise as an unbroken run.

Units: positions Å, forces eV/Å, masses amu; reconstruction terms in Å^2 (RMSD in Å), the
force term in (eV/Å)^2, ``rho`` in Å^4/eV^2 (default 2.66: the reference's 0.005 with forces in
kcal/mol/Å, converted). The force term is smallest when beads hold many atoms whose forces
cancel, so it merges beads: on alanine dipeptide at 300 K the paper's ``rho`` leaves 3 to 5 of
4 to 12 beads asked for filled (empty beads are dropped from the mapping, ``n_beads_used`` in
the run's metrics); ``rho = 0`` keeps them all.

Run (kind ``"cg"``, ``workbench.registry``): ``config.json`` (settings, data shape and digest),
``metrics.json`` (final losses, validation RMSDs, the learning curves), ``params.msgpack`` (the
auto-encoder's parameters, ``flax.serialization``), ``mapping.json`` (``CGMapping.save``) and
``checkpoint.msgpack`` (to resume). ``load_autograin(run)`` reads params and mapping back.

``reconstruction_rmsd(mapping, positions)`` scores any mapping, hand-made or learned, by the
best linear decoder (least squares), and ``compare_rmsd`` tabulates it against the number of
beads for learned and hand-made mappings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import param
from flax import serialization

from kernels.cg import autograin as ag
from workbench.coarse.epochs import EpochJob, scan_epoch
from workbench.mapping import CGMapping, _renumber
from workbench.registry import Run, RunRegistry

__all__ = ["RUN_KIND", "Autograin", "AutograinJob", "compare_rmsd", "data_digest",
           "hard_mapping", "load_autograin", "reconstruction_rmsd"]

RUN_KIND = "cg"
PARAMS_FILE, MAPPING_FILE = "params.msgpack", "mapping.json"
CURVES = ("epoch", "temperature", "loss", "reconstruction", "force", "val_rmsd", "wall_time_s")
_FIXED_ON_RESUME = ("n_beads", "seed", "batch_size", "validation_fraction", "precision")


class Autograin(param.Parameterized):
    """Settings of an Autograin training (module docstring for the schedule and units)."""

    n_beads = param.Integer(default=4, bounds=(1, None), doc="Beads to learn.")
    temperature_start = param.Number(default=4.0, bounds=(0, None),
                                     inclusive_bounds=(False, True),
                                     doc="Gumbel-softmax temperature at epoch 0.")
    temperature_end = param.Number(default=0.2, bounds=(0, None), inclusive_bounds=(False, True),
                                   doc="Floor the temperature decays to.")
    temperature_decay = param.Number(default=0.4, bounds=(0, None),
                                     inclusive_bounds=(False, True),
                                     doc="Decay time of the temperature, a fraction of epochs.")
    straight_through = param.Boolean(default=False, doc="One-hot assignments forward, soft "
                                     "gradients backward (straight-through Gumbel-softmax).")
    learning_rate = param.Number(default=1e-2, bounds=(0, None), inclusive_bounds=(False, True),
                                 doc="Adam learning rate.")
    epochs = param.Integer(default=200, bounds=(1, None), doc="Passes over the training frames.")
    batch_size = param.Integer(default=32, bounds=(1, None), doc="Frames per step.")
    rho = param.Number(default=2.66, bounds=(0, None),
                       doc="Weight of the force-matching term (Å^4/eV^2).")
    force_matching_start = param.Number(default=0.5, bounds=(0, 1),
                                        doc="Fraction of the epochs before the force term "
                                            "is switched on.")
    seed = param.Integer(default=0, doc="Seed of the initial weights, batches and noise.")
    validation_fraction = param.Number(default=0.1, bounds=(0, 0.9),
                                       doc="Last fraction of the frames held out.")
    precision = param.Selector(default="float32", objects=["float32", "float64"],
                               doc="Floating-point precision of the training.")

    def temperature(self, epoch: float) -> float:
        """The Gumbel-softmax temperature of ``epoch`` (module docstring)."""
        span = self.temperature_start - self.temperature_end
        return float(span * np.exp(-epoch / (self.temperature_decay * self.epochs))
                     + self.temperature_end)

    def settings(self) -> dict[str, Any]:
        """The settings as JSON-able values."""
        return {k: getattr(self, k) for k in Autograin.param if k != "name"}


class AutograinJob(Autograin, EpochJob):
    """Train Autograin on ``positions`` and ``forces`` ``[n_frames, n_atoms, 3]`` (Å, eV/Å)
    with ``masses [n_atoms]`` (amu) as a job, one epoch per chunk (module docstring).
    ``registry``: where the run goes (the default registry if None).

    Raises (``check``, also on start):
      ValueError: shapes that do not match, non-finite data, ``n_beads`` above the atoms, or a
        split that leaves no training or no validation frame.
    """

    loss = param.Number(default=None, allow_None=True, constant=True,
                        doc="Training loss of the last epoch (Å^2).")
    force_term = param.Number(default=None, allow_None=True, constant=True,
                              doc="Mean squared mapped force of the last epoch ((eV/Å)^2).")
    val_rmsd = param.Number(default=None, allow_None=True, constant=True,
                            doc="Validation reconstruction RMSD of the hard mapping (Å).")
    temperature_now = param.Number(default=None, allow_None=True, constant=True,
                                   doc="Gumbel-softmax temperature of the last epoch.")

    def __init__(self, positions=None, forces=None, masses=None,
                 registry: RunRegistry | None = None, **params):
        params.setdefault("unit", "epoch")
        super().__init__(**params)
        self.positions = None if positions is None else np.asarray(positions, np.float64)
        self.forces = None if forces is None else np.asarray(forces, np.float64)
        self.masses = None if masses is None else np.asarray(masses, np.float64)
        self.registry = registry
        self.curves: dict[str, list[float]] = {c: [] for c in CURVES}
        self.params: dict[str, np.ndarray] | None = None
        self._run: Run | None = None
        self._prepared = False
        self._wall = 0.0

    # --- set-up -----------------------------------------------------------------------------
    def check(self) -> None:
        """Check the data and settings (class docstring)."""
        if self.positions is None or self.forces is None or self.masses is None:
            raise ValueError("Autograin needs positions, forces and masses")
        R, F, m = self.positions, self.forces, self.masses
        if R.ndim != 3 or R.shape[-1] != 3 or F.shape != R.shape:
            raise ValueError(f"positions and forces must both be [n_frames, n_atoms, 3], got "
                             f"{R.shape} and {F.shape}")
        if m.shape != (R.shape[1],) or np.any(m <= 0):
            raise ValueError(f"masses must be [{R.shape[1]}] and > 0, got shape {m.shape}")
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(F)) and np.all(np.isfinite(m))):
            raise ValueError("positions, forces and masses must be finite")
        if self.n_beads > R.shape[1]:
            raise ValueError(f"{self.n_beads} beads for {R.shape[1]} atoms")
        self.check_split()

    def prepare(self) -> None:
        """Check, split, initialise the weights and the optimiser, compile the epoch (once)."""
        if self._prepared:
            return
        self.check()
        dtype = jnp.dtype(self.precision)
        n_train = self.n_train
        as_array = lambda a: jnp.asarray(a, dtype)  # noqa: E731
        self._data = {"R": as_array(self.positions[:n_train]),
                      "F": as_array(self.forces[:n_train]),
                      "R_val": as_array(self.positions[n_train:] if self.n_validation
                                        else self.positions[:n_train]),
                      "m": as_array(self.masses)}
        params = ag.init_params(jax.random.PRNGKey(self.seed), self.masses.size, self.n_beads,
                                dtype)
        self._optimizer = optax.adam(self.learning_rate)
        self._state = {"params": params, "opt_state": self._optimizer.init(params)}
        self._epoch_fn = jax.jit(self._make_epoch())
        self._val_fn = jax.jit(_hard_msd)
        self.params = jax.device_get(params)
        self._set(total=self.epochs)
        self._prepared = True

    def _make_epoch(self):
        hard, grad = self.straight_through, jax.value_and_grad(ag.loss_fn, has_aux=True)

        def grad_fn(params, idx, k, R, F, m, temperature, rho):
            return grad(params, R[idx], F[idx], m, k, temperature, rho, hard)

        return scan_epoch(grad_fn, self._optimizer)

    def _register(self) -> None:
        if self._run is None:
            registry = self.registry or RunRegistry()
            R = self.positions
            config = {"settings": self.settings(),
                      "data": {"n_frames": R.shape[0], "n_atoms": R.shape[1],
                               "sha256": data_digest(R, self.forces, self.masses)}}
            self._run = registry.create(RUN_KIND, config, name=f"autograin N={self.n_beads}")
        self.record = self._run
        self._run.set_status("running")

    # --- the work ---------------------------------------------------------------------------
    def _train_epoch(self, e: int) -> tuple[dict[str, float], dict[str, Any], str]:
        d = self._data
        temperature = self.temperature(e)
        rho = self.rho if e >= self.force_matching_start * self.epochs else 0.0
        self._state, means = self._epoch_fn(
            self._state, jnp.asarray(self._batches(e)), self._epoch_key(e), d["R"], d["F"],
            d["m"], temperature, rho)
        loss, rec, force = (float(x) for x in means)
        val = float(np.sqrt(self._val_fn(self._state["params"], d["R_val"], d["m"])))
        self.params = jax.device_get(self._state["params"])
        row = {"temperature": temperature, "loss": loss, "reconstruction": rec, "force": force,
               "val_rmsd": val}
        return row, {"loss": loss, "force_term": force, "val_rmsd": val,
                     "temperature_now": temperature}, (
            f"loss {loss:.4g} Å², validation RMSD {val:.3g} Å, force term {force:.3g} "
            f"(eV/Å)², T {temperature:.3g}")

    # --- results ----------------------------------------------------------------------------
    @property
    def mapping(self) -> CGMapping:
        """The learned hard mapping (argmax of the encoder; beads numbered by first atom, empty
        beads dropped), centre-of-mass beads named ``"A0", "A1", ...``."""
        if self.params is None:
            raise RuntimeError("no weights yet: prepare() or train first")
        return hard_mapping(self.params, self.masses)

    def _finished(self) -> None:
        if self._run is not None and self._prepared:
            mapping = self.mapping
            mapping.save(self._run.file(MAPPING_FILE))
            extra = {"n_beads_used": mapping.n_beads, "assignment": mapping.assignment.tolist()}
            if self.curves["epoch"]:
                n_fit = len(self._data["R"])
                extra["val_rmsd_lsq"] = reconstruction_rmsd(
                    mapping, self.positions[n_fit:] if self.n_validation else self.positions,
                    fit_positions=self.positions[:n_fit])
            self._save_run(PARAMS_FILE, self.params, **extra)
        super()._finished()

    @classmethod
    def from_run(cls, run: str | Run, positions, forces, masses=None,
                 registry: RunRegistry | None = None, **overrides: Any) -> AutograinJob:
        """A job that continues ``run`` (an id or a ``Run`` of kind ``"cg"``) from its
        checkpoint on the same data (checked by digest; ``masses`` default to the recorded
        mapping's). ``overrides`` (e.g. ``epochs``) replace recorded settings, except those
        that fix the split and the batches (``n_beads``, ``seed``, ``batch_size``,
        ``validation_fraction``, ``precision``).

        Raises:
          ValueError: not a cg run, no checkpoint, other data, or a fixed setting changed.
        """
        run, registry = cls._resumable(run, registry, RUN_KIND, "an Autograin")
        if masses is None:
            masses = CGMapping.load(run.file(MAPPING_FILE)).masses
        cls._check_resume(run, data_digest(positions, forces, masses), overrides,
                          _FIXED_ON_RESUME)
        job = cls(positions, forces, masses, registry=registry,
                  **{**run.config["settings"], **overrides})
        job.prepare()
        job._restore(run)
        job.params = jax.device_get(job._state["params"])
        return job


def _hard_msd(params: ag.Params, R: jnp.ndarray, m: jnp.ndarray) -> jnp.ndarray:
    w = jax.nn.one_hot(ag.assignment(params), params["logits"].shape[1], dtype=R.dtype)
    return ag.reconstruction_msd(R, ag.position_map(w, m), params["decoder"], m)


def hard_mapping(params: Mapping[str, Any], masses) -> CGMapping:
    """The ``CGMapping`` of Autograin ``params`` (``AutograinJob.mapping``)."""
    beads = _renumber(np.asarray(ag.assignment({"logits": jnp.asarray(params["logits"])})))
    return CGMapping(beads, masses, weights="mass",
                     bead_names=[f"A{k}" for k in range(beads.max() + 1)])


def data_digest(positions, forces, masses) -> str:
    """SHA-256 (hex, 16 characters) of the float64 bytes of the training data."""
    h = hashlib.sha256()
    for a in (positions, forces, masses):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def load_autograin(run: str | Run, registry: RunRegistry | None = None
                   ) -> tuple[dict[str, np.ndarray], CGMapping]:
    """``(params, mapping)`` saved by an ``AutograinJob`` run (an id or a ``Run``):
    ``params`` as ``kernels.cg.autograin`` takes them, ``mapping`` the learned hard mapping.

    Raises:
      ValueError: not a cg run or without saved parameters.
    """
    run = (registry or RunRegistry()).get(run) if isinstance(run, str) else run
    if run.kind != RUN_KIND or not run.file(PARAMS_FILE).is_file():
        raise ValueError(f"run {run.id} holds no Autograin parameters")
    mapping = CGMapping.load(run.file(MAPPING_FILE))
    n = (mapping.n_atoms, int(run.config["settings"]["n_beads"]))
    template = {"logits": np.zeros(n), "decoder": np.zeros(n)}
    params = serialization.from_bytes(template, run.file(PARAMS_FILE).read_bytes())
    return {k: np.asarray(v) for k, v in params.items()}, mapping


def reconstruction_rmsd(mapping: CGMapping, positions, fit_positions=None) -> float:
    """Reconstruction RMSD (Å) of ``positions [n_frames, n_atoms, 3]`` (Å) through ``mapping``
    and its best linear decoder (``kernels.cg.autograin.least_squares_decoder``, fitted on
    ``fit_positions``, default ``positions``), frames centred on their centre of mass: how much
    of the atoms the beads remember, for hand-made and learned mappings alike."""
    R = jnp.asarray(positions, jnp.float64)
    fit = R if fit_positions is None else jnp.asarray(fit_positions, jnp.float64)
    c, m = jnp.asarray(mapping.position_matrix()), jnp.asarray(mapping.masses)
    decoder = ag.least_squares_decoder(fit, c, m)
    return float(np.sqrt(ag.reconstruction_msd(R, c, decoder, m)))


def compare_rmsd(positions, forces, masses, n_beads: Sequence[int],
                 hand_made: Mapping[str, Sequence[CGMapping]] | None = None,
                 registry: RunRegistry | None = None, **settings: Any) -> list[dict[str, Any]]:
    """Reconstruction RMSD against the number of beads, learned and hand-made.

    Args:
      positions, forces: ``[n_frames, n_atoms, 3]`` (Å, eV/Å). masses: ``[n_atoms]`` (amu).
      n_beads: bead counts to learn a mapping for (one ``AutograinJob`` each, ``settings``).
      hand_made: method name -> mappings of these atoms (any bead counts).

    Returns:
      rows ``{"method", "n_beads", "n_beads_used", "rmsd", "mapping", "run"}``: every
      mapping scored by ``reconstruction_rmsd`` (Å) with the decoder fitted on the training
      frames and the RMSD on the validation frames (the last ``validation_fraction``); for a
      learned mapping ``n_beads`` is the number asked for and ``n_beads_used`` the beads its
      argmax fills (the force term rewards merging beads, so fewer may be used), ``run`` the
      training's run id (None for a hand-made mapping).
    """
    R = np.asarray(positions, np.float64)
    n_val = int(round(settings.get("validation_fraction", Autograin.validation_fraction)
                      * len(R)))
    train, val = R[:len(R) - n_val], (R[len(R) - n_val:] if n_val else R)
    rows = []
    for n in n_beads:
        job = AutograinJob(R, forces, masses, registry=registry, n_beads=int(n), **settings)
        job.run(progress=False)
        rows.append({"method": "autograin", "n_beads": int(n),
                     "n_beads_used": job.mapping.n_beads,
                     "rmsd": reconstruction_rmsd(job.mapping, val, fit_positions=train),
                     "mapping": job.mapping, "run": job.run_record.id})
    for method, mappings in (hand_made or {}).items():
        for mapping in mappings:
            rows.append({"method": method, "n_beads": mapping.n_beads,
                         "n_beads_used": mapping.n_beads,
                         "rmsd": reconstruction_rmsd(mapping, val, fit_positions=train),
                         "mapping": mapping, "run": None})
    return rows
