"""Train ConfVAE (``kernels.generative.confvae``; Xu et al., ICML 2021) on a set of molecules'
conformers, as a job, and generate conformers of any molecule from its SMILES.

    job = ConformerJob(molecules=conformer_set.train(), epochs=50)
    job.run()                                   # tqdm bar; or start() / stop() / wait()
    gen = job.generator                         # or ConformerGenerator.from_run(run_id)
    Z, R = gen.generate("CCOCCO", n_conformers=10, seed=0)   # [n_atoms], [10, n_atoms, 3]
    job = ConformerJob.from_run(run_id, molecules=..., epochs=100)   # resume

``molecules``: a sequence of molecules, each with ``smiles`` and ``conformers [n_conf,
n_atoms, 3]`` (Å) in the atom order of RDKit's ``AddHs(MolFromSmiles(smiles))`` (attributes,
as ``workbench.backmap.conformer_data.ConformerSet`` holds them, or ``(smiles, conformers)``
pairs). The graph, bond orders and the 2D depiction that starts distance geometry come from
RDKit (``molecule_graph``).

Training: Adam (optax) with a cosine decay to 1 % over the epochs, gradients clipped, on
``nll + beta kl + gamma rmsd`` over shuffled batches of (molecule, conformer) pairs. The last
``validation_fraction`` of the molecules (whole molecules: conformers of one molecule are not
independent) are held out; each epoch reports the training terms and the validation RMSD of the
distance-geometry reconstruction (all atoms, aligned, Å). Molecules are padded to one shape per
training; generation pads a molecule to multiples of 8 atoms and 32 edges so that molecules of
similar size share one compiled function.

Run (kind ``"conformer"``): ``config.json`` (settings, the training SMILES, the data's digest),
``params.msgpack``, ``checkpoint.msgpack`` and ``metrics.json`` (losses and learning curves).
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import param
from flax import serialization

from kernels.generative import confvae as cv
from workbench.backmap.metrics import bond_matrix
from workbench.coarse.epochs import EpochJob, TrainingSettings, scan_epoch
from workbench.registry import Run, RunRegistry

__all__ = ["RUN_KIND", "ConfVAESettings", "ConformerGenerator", "ConformerJob",
           "mmff_relax", "molecule_graph"]

RUN_KIND = "conformer"
PARAMS_FILE = "params.msgpack"
CURVES = ("epoch", "learning_rate", "loss", "nll", "kl", "rmsd", "val_rmsd", "wall_time_s")
_ARCHITECTURE = ("n_features", "n_latent", "n_rounds")
_FIXED_ON_RESUME = ("seed", "batch_size", "validation_fraction", "precision", "inner_steps",
                    *_ARCHITECTURE)


def molecule_graph(smiles: str) -> dict[str, Any]:
    """The graph of ``smiles`` with hydrogens (RDKit ``AddHs``): ``atomic_numbers [n_atoms]``,
    extended edges ``pairs [e, 2]``, ``types [e]``, ``orders [e]``
    (``kernels.generative.confvae.extended_edges``), ``init [n_atoms, 3]`` a 2D depiction
    (Å, RDKit ``Compute2DCoords``), ``charge`` the total formal charge and ``stereo`` the
    number of stereo elements (RDKit ``FindPotentialStereo``: stereocentres, stereo double
    bonds).

    Raises:
      ValueError: a SMILES RDKit cannot read, of more than one molecule, or of one atom.
    """
    from rdkit import Chem
    from rdkit.Chem import rdDepictor

    mol = Chem.MolFromSmiles(str(smiles)) if smiles else None
    if mol is None:
        raise ValueError(f"RDKit cannot read the SMILES {smiles!r}")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise ValueError(f"SMILES {smiles!r} holds more than one molecule (a '.')")
    mol = Chem.AddHs(mol)
    if mol.GetNumAtoms() < 2:
        raise ValueError(f"SMILES {smiles!r} is a single atom: it has no conformers")
    rdDepictor.Compute2DCoords(mol)
    bonds = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in mol.GetBonds()],
                     np.int64).reshape(-1, 2)
    orders = [b.GetBondTypeAsDouble() for b in mol.GetBonds()]
    n = mol.GetNumAtoms()
    pairs, types, edge_orders = cv.extended_edges(bonds, orders, n)
    return {"smiles": str(smiles),
            "atomic_numbers": np.array([a.GetAtomicNum() for a in mol.GetAtoms()], np.int64),
            "pairs": pairs, "types": types, "orders": edge_orders,
            "init": mol.GetConformer().GetPositions(),
            "charge": Chem.GetFormalCharge(mol),
            "stereo": len(Chem.FindPotentialStereo(mol))}


def mmff_relax(smiles: str, positions, max_iters: int = 2000) -> np.ndarray:
    """``[n, n_atoms, 3]`` (Å): each of ``positions [n, n_atoms, 3]`` (Å, RDKit ``AddHs``
    order) minimised with MMFF94 (RDKit), as the papers' "+FF" variants (ConfGF + FF).

    Raises:
      ValueError: a SMILES RDKit cannot read, or positions of another shape.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.Geometry import Point3D

    n_atoms = len(molecule_graph(smiles)["atomic_numbers"])
    x = np.asarray(positions, np.float64)
    if x.ndim != 3 or x.shape[1:] != (n_atoms, 3):
        raise ValueError(f"positions must be [n, {n_atoms}, 3], got {x.shape}")
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    for xi in x:
        conf = Chem.Conformer(n_atoms)
        for i, p in enumerate(xi):
            conf.SetAtomPosition(i, Point3D(*p))
        mol.AddConformer(conf, assignId=True)
    AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iters)
    return np.array([c.GetPositions() for c in mol.GetConformers()]).reshape(x.shape)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


class ConfVAESettings(TrainingSettings):
    """Architecture and training settings of ConfVAE (module docstring)."""

    n_features = param.Integer(default=64, bounds=(4, None), doc="Width of the features.")
    n_latent = param.Integer(default=16, bounds=(1, None), doc="Latent dimensions per atom.")
    n_rounds = param.Integer(default=3, bounds=(1, None), doc="Message-passing rounds.")
    beta = param.Number(default=1.0, bounds=(0, None), doc="Weight of the KL term.")
    gamma = param.Number(default=1.0, bounds=(0, None),
                         doc="Weight of the RMSD of the embedded conformer (the outer loss).")
    inner_steps = param.Integer(default=200, bounds=(2, None),
                                doc="Distance-geometry steps in training.")
    epochs = param.Integer(default=50, bounds=(1, None), doc="Passes over the conformers.")
    batch_size = param.Integer(default=16, bounds=(1, None), doc="Conformers per step.")
    validation_fraction = param.Number(default=0.1, bounds=(0, 0.9),
                                       doc="Last fraction of the molecules held out.")


def _model(settings: dict[str, Any]) -> cv.ConfVAE:
    return cv.ConfVAE(**{k: settings[k] for k in _ARCHITECTURE})


class ConformerGenerator:
    """A trained ConfVAE: ``generate(smiles, n_conformers, seed)``. ``from_run`` loads one from
    a run of kind ``"conformer"``."""

    def __init__(self, model: cv.ConfVAE, params, dtype="float32"):
        self.model, self.params, self.dtype = model, params, jnp.dtype(dtype)
        self._sample = jax.jit(lambda p, g, k, n, s, noise: cv.sample(model, p, g, k, n, s,
                                                                      noise),
                               static_argnums=(3, 4))

    def generate(self, smiles: str, n_conformers: int = 10, seed: int = 0,
                 n_steps: int = 1000, length_noise: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``(atomic_numbers [n_atoms], positions [n_conformers, n_atoms, 3])`` (Å) of
        ``smiles`` with hydrogens, in RDKit's ``AddHs`` order; ``n_steps`` of distance
        geometry; ``length_noise``: the scale of the decoder's standard deviation with which
        edge lengths are drawn (1: its Gaussian; 0: its mean, which on the shipped set's
        held-out molecules covers 0.72-0.76 of the reference conformers against 0.92 drawn,
        two 100-epoch models). The same seed gives the same conformers.

        Raises:
          ValueError: a SMILES RDKit cannot read, one with a stereocentre or a stereo double
            bond (assigned or not: the model does not control handedness), or
            ``n_conformers`` not a whole number >= 1.
        """
        if int(n_conformers) != n_conformers or n_conformers < 1:
            raise ValueError(f"n_conformers must be a whole number >= 1, got {n_conformers}")
        m = molecule_graph(smiles)
        if m["stereo"]:
            raise ValueError(f"{smiles} has stereo elements ({m['stereo']}): ConfVAE's distances "
                             "(pairs up to three bonds apart) do not fix a handedness, so it "
                             "would make both mirror images; use ETKDG for it")
        n = len(m["atomic_numbers"])
        g = cv.pad_graphs([m], _round_up(n, 8), _round_up(len(m["pairs"]), 32))
        g = cv.take(cv.cast(g, self.dtype), 0)
        out = self._sample(self.params, g, jax.random.PRNGKey(seed), int(n_conformers),
                           int(n_steps), float(length_noise))
        return m["atomic_numbers"], np.asarray(out, np.float64)[:, :n]

    @classmethod
    def from_run(cls, run: str | Run, registry: RunRegistry | None = None
                 ) -> ConformerGenerator:
        """The model saved by a ``ConformerJob`` run (an id or a ``Run``).

        Raises:
          ValueError: not a conformer run, or one without saved parameters.
        """
        run = (registry or RunRegistry()).get(run) if isinstance(run, str) else run
        if run.kind != RUN_KIND or not run.file(PARAMS_FILE).is_file():
            raise ValueError(f"run {run.id} holds no trained conformer model")
        settings = run.config["settings"]
        model, dtype = _model(settings), jnp.dtype(settings["precision"])
        g = cv.pad_graphs([molecule_graph("CO")])
        template = cv.init_params(model, g, jax.random.PRNGKey(0), dtype)
        params = serialization.from_bytes(template, run.file(PARAMS_FILE).read_bytes())
        return cls(model, params, dtype)


def _molecules(molecules) -> list[tuple[str, np.ndarray]]:
    out = []
    for m in molecules or ():
        smiles, conformers = (m.smiles, m.conformers) if hasattr(m, "smiles") else m
        out.append((str(smiles), np.asarray(conformers, np.float64)))
    return out


def conformers_digest(molecules: list[tuple[str, np.ndarray]]) -> str:
    """SHA-256 of the SMILES and conformers, in order."""
    h = hashlib.sha256()
    for smiles, x in molecules:
        h.update(smiles.encode())
        h.update(np.ascontiguousarray(x, np.float64).tobytes())
    return h.hexdigest()


class ConformerJob(ConfVAESettings, EpochJob):
    """Train ConfVAE on ``molecules`` (module docstring), one epoch per chunk. ``registry``:
    where the run goes (the default registry if None).

    Raises (``check``, also on start):
      ValueError: no molecules, a SMILES RDKit cannot read, conformers whose shape does not
        match their molecule or whose first one lacks a bond of the graph (another atom order,
        other units), non-finite positions, or a split that leaves no training or no
        validation molecule.
    """

    loss = param.Number(default=None, allow_None=True, constant=True,
                        doc="Training loss of the last epoch.")
    val_rmsd = param.Number(default=None, allow_None=True, constant=True,
                            doc="Validation RMSD of the embedded reconstructions (Å).")

    def __init__(self, molecules=None, registry: RunRegistry | None = None, **params):
        params.setdefault("unit", "epoch")
        super().__init__(**params)
        self.molecules = _molecules(molecules)
        self.registry = registry
        self.curves: dict[str, list[float]] = {c: [] for c in CURVES}
        self._run: Run | None = None
        self._prepared = False
        self._wall = 0.0
        self._graphs: list[dict[str, Any]] | None = None

    # --- the split: whole molecules -----------------------------------------------------------
    @property
    def n_validation_molecules(self) -> int:
        n = len(self.molecules)
        return max(1, int(round(self.validation_fraction * n))) if self.validation_fraction \
            else 0

    @property
    def n_validation(self) -> int:
        """Conformers of the held-out molecules (the last ones)."""
        k = self.n_validation_molecules
        return sum(len(x) for _, x in self.molecules[len(self.molecules) - k:]) if k else 0

    @property
    def positions(self) -> list:
        """One entry per (molecule, conformer) pair (what ``EpochJob`` counts)."""
        return [None] * sum(len(x) for _, x in self.molecules)

    def check(self) -> None:
        """Check the data and settings (class docstring)."""
        if not self.molecules:
            raise ValueError("ConfVAE needs molecules with conformers")
        if self._graphs is None:
            self._graphs = [molecule_graph(s) for s, _ in self.molecules]
        for (smiles, x), g in zip(self.molecules, self._graphs, strict=True):
            n = len(g["atomic_numbers"])
            if x.ndim != 3 or x.shape[1:] != (n, 3) or len(x) == 0:
                raise ValueError(f"the conformers of {smiles} must be [n_conformers, {n}, 3] "
                                 f"(atoms with hydrogens), got {x.shape}")
            if not np.all(np.isfinite(x)):
                raise ValueError(f"the conformers of {smiles} must be finite")
            bonded = g["pairs"][g["types"] <= 4]
            if not bond_matrix(x[0], g["atomic_numbers"])[bonded[:, 0], bonded[:, 1]].all():
                raise ValueError(f"the first conformer of {smiles} does not have its bonds "
                                 "(covalent radii): are the atoms in the order of RDKit's "
                                 "AddHs(MolFromSmiles(smiles)), in Å?")
        if self.n_validation_molecules >= len(self.molecules):
            raise ValueError(f"a validation fraction of {self.validation_fraction} of "
                             f"{len(self.molecules)} molecules leaves no training molecule")

    def prepare(self) -> None:
        """Check, pad, build the model, initialise weights and optimiser, compile (once)."""
        if self._prepared:
            return
        self.check()
        dtype = jnp.dtype(self.precision)
        graphs = cv.pad_graphs(self._graphs)
        self._all = cv.cast(graphs, dtype)
        n = self._all.species.shape[1]
        mol_of, frames = [], []
        for k, (_, x) in enumerate(self.molecules):
            mol_of += [k] * len(x)
            frames.append(np.pad(x, ((0, 0), (0, n - x.shape[1]), (0, 0))))
        self._mol_of = jnp.asarray(mol_of, jnp.int32)
        self._R = jnp.asarray(np.concatenate(frames), dtype)
        self._model = _model(self.settings())
        self._steps_per_epoch = len(self._batches(0))
        self._schedule = optax.cosine_decay_schedule(
            self.learning_rate, self.epochs * self._steps_per_epoch, alpha=0.01)
        self._optimizer = optax.chain(optax.clip_by_global_norm(self.clip_norm),
                                      optax.adam(self._schedule))
        params = cv.init_params(self._model, self._all, jax.random.PRNGKey(self.seed), dtype)
        self._state = {"params": params, "opt_state": self._optimizer.init(params)}
        self._epoch_fn = jax.jit(self._make_epoch())
        self._terms = jax.jit(self._terms_fn())
        self._generator = ConformerGenerator(self._model, params, self.precision)
        self._set(total=self.epochs)
        self._prepared = True

    def _terms_fn(self):
        model, steps, all_, mol_of, R = (self._model, self.inner_steps, self._all,
                                         self._mol_of, self._R)
        return lambda params, idx, key: cv.loss_terms(model, params, cv.take(all_, mol_of[idx]),
                                                      R[idx], key, steps)

    def _make_epoch(self):
        terms_fn, beta, gamma = self._terms_fn(), self.beta, self.gamma

        def loss_fn(params, idx, key):
            t = terms_fn(params, idx, key)
            return t.nll + beta * t.kl + gamma * t.rmsd, t

        return scan_epoch(jax.value_and_grad(loss_fn, has_aux=True), self._optimizer)

    def _register(self) -> None:
        if self._run is None:
            registry = self.registry or RunRegistry()
            config = {"settings": self.settings(),
                      "molecules": [s for s, _ in self.molecules],
                      "data": {"n_molecules": len(self.molecules),
                               "n_conformers": len(self.positions),
                               "sha256": conformers_digest(self.molecules)}}
            self._run = registry.create(RUN_KIND, config,
                                        name=f"ConfVAE {len(self.molecules)} molecules")
        self.record = self._run
        self._run.set_status("running")

    # --- the work -------------------------------------------------------------------------------
    def _train_epoch(self, e: int) -> tuple[dict[str, float], dict[str, Any], str]:
        lr = float(self._schedule(e * self._steps_per_epoch))
        self._state, means = self._epoch_fn(self._state, jnp.asarray(self._batches(e)),
                                            self._epoch_key(e))
        loss, nll, kl, rmsd = (float(x) for x in means)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss} at epoch {e + 1}; lower the learning "
                                     "rate")
        self._generator.params = self._state["params"]
        val = self._val_rmsd()
        row = {"learning_rate": lr, "loss": loss, "nll": nll, "kl": kl, "rmsd": rmsd,
               "val_rmsd": val}
        return row, {"loss": loss, "val_rmsd": val}, (
            f"distance NLL {nll:.3g}, KL {kl:.3g}, RMSD {rmsd:.3g} Å, validation RMSD "
            f"{val:.3g} Å")

    def _val_rmsd(self) -> float:
        n_val = self.n_validation
        if not n_val:
            return float("nan")
        idx = jnp.arange(self.n_train, self.n_train + n_val)
        return float(self._terms(self._state["params"], idx, jax.random.PRNGKey(self.seed)).rmsd)

    # --- results --------------------------------------------------------------------------------
    @property
    def generator(self) -> ConformerGenerator:
        """The model with the current weights."""
        if not self._prepared:
            raise RuntimeError("no weights yet: prepare() or train first")
        return self._generator

    def _finished(self) -> None:
        if self._run is not None and self._prepared:
            self._save_run(PARAMS_FILE, self._state["params"])
        super()._finished()

    @classmethod
    def from_run(cls, run: str | Run, molecules, registry: RunRegistry | None = None,
                 **overrides: Any) -> ConformerJob:
        """A job that continues ``run`` (an id or a ``Run`` of kind ``"conformer"``) from its
        checkpoint on the same molecules (checked by digest). ``overrides`` (e.g. ``epochs``)
        replace recorded settings, except those that fix the model, the split and the batches.

        Raises:
          ValueError: not a conformer run, no checkpoint, other data, or a fixed setting
            changed.
        """
        run, registry = cls._resumable(run, registry, RUN_KIND, "a conformer")
        molecules = _molecules(molecules)
        cls._check_resume(run, conformers_digest(molecules), overrides, _FIXED_ON_RESUME)
        job = cls(molecules, registry=registry, **{**run.config["settings"], **overrides})
        job.prepare()
        job._restore(run)
        job._generator.params = job._state["params"]
        return job
