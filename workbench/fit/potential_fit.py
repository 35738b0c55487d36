"""``PotentialFit``: fit a pair potential to a target g(r), by gradient steps through the
simulation (DiffSim, ``kernels.diffsim``) or by Iterative Boltzmann Inversion (``kernels.ibi``).

DiffSim (Wang, Fu, Du, Jaakkola, Gomez-Bombarelli, J. Chem. Phys. 158, 044113, 2023) as done
here: every iteration runs ``steps_per_iteration`` MD steps from where the previous iteration
stopped (the first ``skip_steps`` unsampled), compares the smooth g(r) of its frames with the
target, and takes one optax Adam step on the loss gradient (full, truncated or checkpointed
backpropagation) with a reduce-on-plateau learning-rate schedule. Positive parameters (sizes,
energy scales, exponents) are optimised as logarithms. IBI runs the same simulation forward and
updates the knots of a spline potential. Several targets (state points) are fitted at once:
losses and gradients are summed (IBI averages its updates).

``optimizer="gauss_newton"`` replaces Adam, for a few analytic parameters, by Levenberg-Marquardt
steps with the Jacobian d g / d theta taken through the simulation (forward mode over the
``grad_steps`` truncated windows). Why: one g(r) determines some combinations of parameters far
better than others. For LJ at rho* = 0.7, T* = 1.2 the loss Hessian in (ln sigma, ln epsilon)
has eigenvalues ~3,000 apart (the soft direction is epsilon with a little sigma: a softer well
looks like a smaller core); Adam's per-parameter normalisation then moves epsilon as far as
sigma on every step and, after sigma has converged, crawls along the valley (measured: epsilon
drifts ~0.05 % per iteration from 12 % off). Gauss-Newton follows the valley in ~10-20
iterations; the rest of the fit averages out sampling noise (``average_last``), which sets the
accuracy: g(r) of a 10,000-step run of 108 atoms pins ln epsilon only to ~2 % (measured). Large
steps add a small bias (the noise-driven swings of the iterates meet the curvature of g(theta),
amplified by the weak direction), hence the moderate default ``gn_step``.

Workflow: ``fit = PotentialFit(target=..., family="lj", initial_params={...})``;
``fit.step()`` (one iteration) or ``fit.fit(n_iter, progress=callback)``; ``fit.stop()`` from
another thread (or ``start``/``wait`` for a background fit) ends it between iterations. The
history keeps loss, wall time, parameters and the integrated ``|g - g_target|`` of every
iteration. A NaN, a temperature above ``max_temperature_factor`` times the target, or a
non-finite gradient stops the fit with a message and restores the last parameters whose
simulation was sound (with their optimiser and simulation state). ``save()`` writes a run of
kind ``"fit"``; ``load_fitted_params(run)`` and ``PotentialFit.from_run(run)`` read it back.

Units: the target's (reduced LJ units for systems the workbench builds): ``timestep`` in tau,
``friction`` in 1/tau, temperatures as T*, lengths in sigma.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import param

from kernels import diffsim, ibi
from kernels import potentials as pot
from kernels.integrators import INTEGRATORS
from kernels.learned_pair import (
    NeuralPair,
    SplinePair,
    model_energy_neighbor_list,
    pair_index_matrix,
)
from workbench.potential import PairPotential
from workbench.targets import TargetRDF

LEARNED = ("spline", "neural")
STATUSES = ["idle", "running", "completed", "stopped", "failed"]


@dataclass
class _Point:
    """One state point: its box, kernel functions, target on the fit's grid and MD state."""

    target: TargetRDF
    positions: np.ndarray  # [n_atoms, 3] lattice start
    species: np.ndarray  # [n_atoms]
    box: float
    neighbor_fn: Any
    init_fn: Callable
    run_fn: Callable  # jitted md_steps_fn
    objective: Callable  # objective(theta, state, kT, g_target) -> (loss, (state, aux))
    value_and_grad: Callable  # -> ((loss, (state, aux)), grads)
    forward: Callable  # -> (loss, (state, aux))
    jacobian: Callable  # -> (d g / d theta, (loss, (state, aux)))
    kT: Any
    g_target: Any
    state: Any = None


class PotentialFit(param.Parameterized):
    """Fit a pair potential to target RDFs (module docstring)."""

    targets = param.List(default=[], item_type=TargetRDF,
                         doc="Target RDFs, one per state point.")
    family = param.Selector(default="lj", objects=[*pot.FAMILIES, *LEARNED],
                            doc="Analytic family, 'spline' or 'neural'.")
    initial_params = param.Dict(default={}, doc="Starting parameters: family parameters for an "
                                "analytic family (missing ones take the defaults), {'u': "
                                "[n_pairs, n_knots]} for a spline (default: the potential of "
                                "mean force of the first target), a params pytree for 'neural' "
                                "(default: random from the seed).")
    fit_params = param.List(default=None, allow_None=True, item_type=str,
                            doc="Analytic parameters to fit (default all); the rest stay fixed.")
    method = param.Selector(default="diffsim", objects=["diffsim", "ibi"])
    gradient = param.Selector(default="truncated", objects=list(diffsim.GRADIENT_MODES),
                              doc="Backpropagation: full, truncated (DiffSim) or checkpoint.")
    r_cutoff = param.Number(default=2.5, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Potential cutoff (length units).")
    cutoff_mode = param.Selector(default="truncated", objects=["truncated", "shifted",
                                                               "smoothed"])
    skin = param.Number(default=pot.DEFAULT_SKIN, bounds=(0, None),
                        doc="Neighbour-list skin (length units).")
    n_knots = param.Integer(default=60, bounds=(4, None), doc="Spline knots.")
    spline_r_min = param.Number(default=None, allow_None=True, bounds=(0, None),
                                doc="First spline knot (length units; default 0.1 inside the "
                                "first target r with g > 0.01).")
    neural_hidden = param.List(default=[32, 32], item_type=int, doc="Neural hidden widths.")
    n_atoms = param.Integer(default=256, bounds=(2, None), doc="Atoms per simulation box.")
    replicas = param.Integer(default=1, bounds=(1, None), doc="Replicas per state point.")
    integrator = param.Selector(default="langevin", objects=[k for k in INTEGRATORS
                                                             if k != "nve"])
    timestep = param.Number(default=0.005, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Time step (time units).")
    friction = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True),
                            doc="Langevin friction (1 / time units).")
    equilibration = param.Integer(default=2000, bounds=(0, None),
                                  doc="Steps run with the initial parameters before the first "
                                  "iteration (and before an evaluation).")
    steps_per_iteration = param.Integer(default=240, bounds=(1, None),
                                        doc="MD steps per iteration (skip_steps included).")
    skip_steps = param.Integer(default=0, bounds=(0, None),
                               doc="Unsampled steps at the start of each iteration.")
    stride = param.Integer(default=5, bounds=(1, None), doc="Steps between g(r) frames.")
    window = param.Integer(default=120, bounds=(1, None),
                           doc="Steps per truncation window ('truncated').")
    grad_steps = param.Integer(default=None, allow_None=True, bounds=(1, None),
                               doc="'truncated': sampled steps per iteration that carry "
                               "gradient (a multiple of window; the rest only add frames). "
                               "Default: all.")
    checkpoint_every = param.Integer(default=None, allow_None=True, bounds=(1, None),
                                     doc="Steps per checkpointed chunk ('checkpoint').")
    r_max = param.Number(default=None, allow_None=True, bounds=(0, None),
                         doc="Largest r of the compared g(r) (default: half the box, at most "
                         "the target's range).")
    n_bins = param.Integer(default=100, bounds=(2, None), doc="Bins of the compared g(r).")
    rdf_sigma = param.Number(default=None, allow_None=True, bounds=(0, None),
                             doc="g(r) smearing (length units; default the target's, else one "
                             "bin).")
    optimizer = param.Selector(default="adam", objects=["adam", "gauss_newton"],
                               doc="DiffSim step: optax Adam, or Gauss-Newton (Levenberg-"
                               "Marquardt) with the Jacobian of g through the simulation (for a "
                               "few analytic parameters; see the module docstring).")
    learning_rate = param.Number(default=0.01, bounds=(0, None), doc="Adam learning rate.")
    gn_step = param.Number(default=0.3, bounds=(0, None),
                           doc="Gauss-Newton step fraction (smaller: less noise-driven bias, "
                           "slower start).")
    gn_damping = param.Number(default=1e-3, bounds=(0, None),
                              doc="Levenberg-Marquardt damping (relative to diag J^T J).")
    gn_memory = param.Number(default=0.8, bounds=(0, 1), inclusive_bounds=(True, False),
                             doc="Running-average weight of earlier J^T J (noise filter).")
    max_step = param.Number(default=0.2, bounds=(0, None),
                            doc="Largest Gauss-Newton change of one parameter per iteration "
                            "(log units for positive parameters).")
    plateau_patience = param.Integer(default=5, bounds=(0, None),
                                     doc="Iterations without improvement before the learning "
                                     "rate drops.")
    plateau_factor = param.Number(default=0.5, bounds=(0, 1), doc="Learning-rate drop factor.")
    plateau_accumulation = param.Integer(default=1, bounds=(1, None),
                                         doc="Iterations averaged per plateau check.")
    ibi_alpha = param.Number(default=1.0, bounds=(0, 1), doc="IBI damping.")
    ibi_smooth = param.Integer(default=1, bounds=(0, None), doc="IBI update smoothing passes.")
    ibi_g_floor = param.Number(default=1e-2, bounds=(0, None),
                               doc="g below this is 'no data' for IBI.")
    average_last = param.Integer(default=1, bounds=(1, None),
                                 doc="fitted_params() averages the parameters of this many "
                                 "last iterations (1: the current parameters).")
    eval_iterations = param.Integer(default=4, bounds=(1, None),
                                    doc="Iterations' worth of steps sampled by evaluate().")
    max_temperature_factor = param.Number(default=5.0, bounds=(1, None),
                                          doc="Stop when a frame's temperature exceeds this "
                                          "times the target.")
    seed = param.Integer(default=0, doc="Seed for lattice, velocities and thermostat noise.")
    precision = param.Selector(default="float32", objects=["float32", "float64"])

    status = param.Selector(default="idle", objects=STATUSES, constant=True)
    message = param.String(default="", constant=True)
    iteration = param.Integer(default=0, constant=True)

    def __init__(self, target: TargetRDF | list[TargetRDF] | None = None, **params):
        if target is not None:
            params["targets"] = [target] if isinstance(target, TargetRDF) else list(target)
        super().__init__(**params)
        self.history: dict[str, list] = {"loss": [], "wall_time": [], "params": [],
                                         "rdf_error": [], "learning_rate_scale": []}
        self.last_rdf: list[np.ndarray] = []
        self._points: list[_Point] = []
        self._theta = None
        self._opt = self._opt_state = None
        self._prepared = False
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------
    @property
    def dtype(self):
        if self.precision == "float64":
            jax.config.update("jax_enable_x64", True)
            return jnp.float64
        return jnp.float32

    @property
    def n_species(self) -> int:
        return self.targets[0].n_species

    def _check(self) -> None:
        if not self.targets:
            raise ValueError("the fit needs at least one target RDF")
        if any(t.units != "lj" for t in self.targets):
            raise NotImplementedError("fits build their boxes in reduced LJ units; convert the "
                                      "target to 'lj' units")
        if any(t.n_species != self.n_species for t in self.targets):
            raise ValueError("every target must have the same species")
        if self.n_species > 2:
            raise NotImplementedError("fits build one- and two-species boxes only")
        if self.n_species > 1 and any(not t.species_pairs for t in self.targets):
            raise ValueError("a mixture target needs partial RDFs (species_pairs)")
        if self.method == "ibi" and self.family != "spline":
            raise ValueError("IBI updates a tabulated potential: use family='spline'")

    def _lattice(self, target: TargetRDF) -> tuple[np.ndarray, np.ndarray, float]:
        from workbench.builders import binary_lj_mixture, lj_fluid

        if self.n_species == 1:
            s = lj_fluid(n_atoms=self.n_atoms, density=target.density, r_cutoff=self.r_cutoff,
                         seed=self.seed)
        else:
            s = binary_lj_mixture(n_atoms=self.n_atoms, density=target.density,
                                  fraction_b=target.composition[1], r_cutoff=self.r_cutoff,
                                  seed=self.seed)
        box = float(s.box[0])
        if box <= 2 * self.r_cutoff:
            raise ValueError(f"box side {box:.4g} is not larger than twice the cutoff "
                             f"({2 * self.r_cutoff:.4g}); use more atoms or a shorter cutoff")
        return s.positions, s.species, box

    def _grid(self, box: float) -> tuple[float, np.ndarray]:
        r_max = self.r_max
        if r_max is None:
            t_end = min(float(t.r[-1]) + 0.5 * float(t.r[1] - t.r[0]) for t in self.targets)
            r_max = min(0.5 * box, t_end)
        return r_max, (np.arange(self.n_bins) + 0.5) * r_max / self.n_bins

    # parameters: theta (what Adam sees) <-> energy keyword arguments
    def _family(self):
        return None if self.family in LEARNED else pot.get_family(self.family)

    def _fit_names(self) -> list[str]:
        fam = self._family()
        names = list(self.fit_params or fam.param_names)
        unknown = set(names) - set(fam.param_names)
        if unknown:
            raise ValueError(f"{fam.description} has no parameter(s) {sorted(unknown)}")
        return names

    def _log_params(self) -> set[str]:
        fam = self._family()
        return set(fam.positive) | set(fam.nonnegative)

    def _kwargs(self, theta: dict) -> dict:
        """Energy keyword arguments for optimiser variables ``theta`` (pure JAX)."""
        if self.family in LEARNED:
            return {"params": theta}
        logs, out = self._log_params(), {}
        for name, v in theta.items():
            v = jnp.exp(v) if name in logs else v
            out[name] = 0.5 * (v + v.T) if v.ndim == 2 else v
        return out

    def _model(self, r_grid: np.ndarray):
        if self.family == "spline":
            r_min = self.spline_r_min
            if r_min is None:
                g = self.targets[0].g_rows
                first = min(float(self.targets[0].r[np.argmax(row > 0.01)]) for row in g)
                r_min = max(0.05, first - 0.1)
            return SplinePair(r_min=r_min, r_cutoff=self.r_cutoff, n_knots=self.n_knots)
        if self.family == "neural":
            return NeuralPair(r_cutoff=self.r_cutoff, hidden=tuple(self.neural_hidden))
        return None

    def _initial_theta(self, model, r_grid: np.ndarray, g_target: np.ndarray) -> dict:
        dtype = self.dtype
        if self.family == "spline":
            if "u" in self.initial_params:
                return {"u": jnp.asarray(self.initial_params["u"], dtype)}
            t = self.targets[0]
            rows = np.atleast_2d(np.asarray(g_target))
            pmf = np.asarray(ibi.potential_of_mean_force(
                jnp.asarray(model.knots), jnp.asarray(r_grid), jnp.asarray(rows), t.kT,
                g_floor=self.ibi_g_floor))
            u = np.zeros((_n_pairs(self.n_species), self.n_knots))
            for row, k in zip(pmf, self._pair_rows(t), strict=True):
                u[k] = row
            return {"u": jnp.asarray(u, dtype)}
        if self.family == "neural":
            if self.initial_params:
                return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype),
                                              self.initial_params)
            p = model.init_params(jax.random.PRNGKey(self.seed), self.n_species)
            return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), p)
        fam = self._family()
        values = {**fam.defaults, **self.initial_params}
        logs = self._log_params()
        theta = {}
        for name in self._fit_names():
            v = np.asarray(values[name], float)
            if name in logs and np.any(v <= 0):
                raise ValueError(f"initial {name} must be > 0, got {v.tolist()}")
            theta[name] = jnp.asarray(np.log(v) if name in logs else v, dtype)
        return theta

    def _pair_rows(self, target: TargetRDF) -> list[int]:
        """Row of the spline table for each row of the target's g."""
        if not target.species_pairs:
            return [0]
        idx = pair_index_matrix(self.n_species)
        return [int(idx[a, b]) for a, b in target.species_pairs]

    def _energy(self, displacement, box, species, model, list_cutoff: float):
        species = None if self.n_species == 1 else jnp.asarray(species)
        if model is not None:
            return model_energy_neighbor_list(
                displacement, box, model, self.r_cutoff, species=species,
                n_species=self.n_species, dr_threshold=self.skin, mode=self.cutoff_mode,
                capacity_multiplier=1.5, list_cutoff=list_cutoff)
        fam = self._family()
        fixed = {k: v for k, v in {**fam.defaults, **self.initial_params}.items()
                 if k not in self._fit_names()}
        fixed = {k: jnp.asarray(v, self.dtype) for k, v in fixed.items()}
        return pot.pair_energy_neighbor_list(
            displacement, box, fam.fn, self.r_cutoff, species=species, dr_threshold=self.skin,
            mode=self.cutoff_mode, capacity_multiplier=1.5, list_cutoff=list_cutoff, **fixed)

    def _build_point(self, target: TargetRDF, model, r_max: float) -> _Point:
        from jax_md import space

        dtype = self.dtype
        positions, species, box = self._lattice(target)
        box_j = jnp.asarray(box, dtype)
        disp, shift = space.periodic(box_j)
        rdf_sigma = self.rdf_sigma or target.rdf_sigma or r_max / self.n_bins
        # one neighbour list for forces and g(r): long enough for g's Gaussian tails
        list_cutoff = max(self.r_cutoff, r_max + 6 * rdf_sigma)
        neighbor_fn, energy_fn = self._energy(disp, box_j, species, model, list_cutoff)
        pairs = target.species_pairs or None
        gradient = self.gradient if self.method == "diffsim" else "full"  # IBI: forward only
        init_fn, loss_fn = diffsim.diffsim_loss(
            energy_fn, shift, disp, neighbor_fn, box_volume=box**3, r_max=r_max,
            n_bins=self.n_bins, n_steps=self.steps_per_iteration, stride=self.stride,
            n_skip=self.skip_steps, gradient=gradient,
            window=self.window if gradient == "truncated" else None,
            grad_steps=self.grad_steps if gradient == "truncated" else None,
            checkpoint_every=self.checkpoint_every, integrator=self.integrator,
            dt=self.timestep, gamma=self.friction,
            rdf_sigma=rdf_sigma, species=None if pairs is None else jnp.asarray(species),
            species_pairs=pairs, replicas=self.replicas > 1, neighbor_cutoff=list_cutoff)
        run_fn = diffsim.md_steps_fn(energy_fn, shift, integrator=self.integrator,
                                     dt=self.timestep, gamma=self.friction,
                                     replicas=self.replicas > 1)
        kwargs = self._kwargs

        def objective(theta, state, kT, g_target):
            return loss_fn(kwargs(theta), state, kT=kT, g_target=g_target)

        def g_of(theta, state, kT, g_target):
            loss, (new, aux) = objective(theta, state, kT, g_target)
            return aux["g"], (loss, (new, aux))

        g_target = jnp.asarray(target.on_grid(r_max, self.n_bins), dtype)
        return _Point(target, positions, species, box, neighbor_fn, init_fn,
                      jax.jit(run_fn, static_argnums=2), objective,
                      jax.jit(jax.value_and_grad(objective, has_aux=True)),
                      jax.jit(objective), jax.jit(jax.jacfwd(g_of, has_aux=True)),
                      jnp.asarray(target.kT, dtype), g_target)

    def _fresh_state(self, pt: _Point, theta: dict, key: jax.Array):
        """A melted state: lattice, velocities from ``key``, ``equilibration`` steps."""
        R = jnp.asarray(pt.positions, self.dtype)
        if self.replicas > 1:
            R = jnp.stack([R] * self.replicas)
        kwargs = self._kwargs(theta)
        extra = 0
        for _ in range(6):
            state = pt.init_fn(key, R, kwargs, kT=pt.kT, extra_capacity=extra)
            if self.equilibration == 0:
                return state
            out = pt.run_fn(kwargs, state, self.equilibration, pt.kT)
            if not bool(jnp.any(out.neighbor.did_buffer_overflow)):
                if not bool(jnp.all(jnp.isfinite(out.md.position))):
                    raise RuntimeError("the equilibration with the initial parameters blew up; "
                                       "check them or use a smaller timestep")
                return out
            extra = self._more_capacity(state, extra)
        raise RuntimeError("neighbour list keeps overflowing during equilibration")

    def _more_capacity(self, state, extra: int) -> int:
        per_atom = state.neighbor.idx.shape[-1] / self.n_atoms  # sparse lists: N * per atom
        return extra + max(1, int(0.25 * per_atom))

    def prepare(self) -> None:
        """Check the set-up, build the kernels and equilibrate every state point (once)."""
        with self._lock:
            if self._prepared:
                return
            self._check()
            self._points = []
            boxes = [self._lattice(t)[2] for t in self.targets]
            r_max, r_grid = self._grid(min(boxes))  # one g(r) grid for every state point
            model = self._model(r_grid)
            self._model_obj = model
            g0 = self.targets[0].on_grid(r_max, self.n_bins)
            theta = self._initial_theta(model, r_grid, g0)
            keys = jax.random.split(jax.random.PRNGKey(self.seed), len(self.targets))
            for target, key in zip(self.targets, keys, strict=True):
                pt = self._build_point(target, model, r_max)
                pt.state = self._fresh_state(pt, theta, key)
                self._points.append(pt)
            self._r_grid = r_grid
            self._theta = theta
            first = (optax.adam(self.learning_rate) if self.optimizer == "adam"
                     else optax.scale(-self.gn_step))
            # Gauss-Newton running means of J^T J and J (unnormalised) and their weight
            self._jtj, self._jbar, self._jtj_weight = None, None, 0.0
            self._good = None  # (theta, optimiser state, J^T J) of the last sound iteration
            self._opt = optax.chain(
                first,
                optax.contrib.reduce_on_plateau(
                    factor=self.plateau_factor, patience=self.plateau_patience,
                    accumulation_size=self.plateau_accumulation))
            self._opt_state = self._opt.init(theta)
            self._prepared = True

    # --- iterations --------------------------------------------------------------------------
    def _call(self, pt: _Point, fn: Callable, theta: dict):
        """``fn(theta, state, kT, g_target)``, re-allocating the neighbour list and repeating the
        call while it overflows."""
        extra = 0
        for _ in range(6):
            out = fn(theta, pt.state, pt.kT, pt.g_target)
            aux = out[1][1] if fn is pt.forward else (out[0] if fn is pt.value_and_grad
                                                      else out[1])[1][1]
            if not bool(aux["overflow"]):
                return out
            extra = self._more_capacity(pt.state, extra)
            positions = pt.state.md.position
            pt.state = diffsim.with_neighbor_list(pt.state, diffsim.reallocate(
                pt.neighbor_fn, positions, extra, self.replicas > 1))
        raise RuntimeError("neighbour list still overflowing after 6 re-allocations; the "
                           "simulation is probably collapsing")

    def _failure(self, loss, auxes, grads=None, temperature: bool = True) -> str | None:
        if not np.isfinite(float(loss)):
            return "the loss is NaN or infinite"
        for pt, aux in zip(self._points, auxes, strict=True):
            if not bool(aux["finite"]):
                return "NaN or infinity in the simulated positions or g(r)"
            t_max = float(jnp.max(aux["temperature"]))
            if temperature and t_max > self.max_temperature_factor * float(pt.kT):
                return (f"temperature exploded to kT = {t_max:.4g} (target {float(pt.kT):.4g})")
        if grads is not None and not all(bool(jnp.all(jnp.isfinite(g)))
                                         for g in jax.tree_util.tree_leaves(grads)):
            return "the gradient is NaN or infinite"
        return None

    def step(self) -> dict | None:
        """One iteration; returns its history record, or None if it failed (``status`` and
        ``message`` say why; the last sound parameters and state are restored)."""
        with self._lock:
            self.prepare()
            t0 = time.perf_counter()
            theta, states = self._theta, [pt.state for pt in self._points]
            total, grads, auxes, new_states = 0.0, None, [], []
            gauss_newton = self.method == "diffsim" and self.optimizer == "gauss_newton"
            jacobians = []
            for pt in self._points:
                if gauss_newton:
                    jac, (loss, (new, aux)) = self._call(pt, pt.jacobian, theta)
                    grads = diffsim.flat_jacobian(jac, theta)
                    jacobians.append((grads, jnp.ravel(aux["g"] - pt.g_target)))
                elif self.method == "diffsim":
                    (loss, (new, aux)), g = self._call(pt, pt.value_and_grad, theta)
                    grads = g if grads is None else jax.tree_util.tree_map(jnp.add, grads, g)
                else:
                    loss, (new, aux) = self._call(pt, pt.forward, theta)
                total = total + loss
                auxes.append(aux)
                new_states.append(new)
            failure = self._failure(total, auxes, grads)
            if failure:
                for pt, s in zip(self._points, states, strict=True):
                    pt.state = s  # produced by the last sound iteration
                if self._good is not None:  # the parameters of the last sound iteration
                    (self._theta, self._opt_state, self._jtj, self._jbar,
                     self._jtj_weight) = self._good
                self._set(status="failed", message=f"iteration {self.iteration + 1}: {failure}; "
                          "stopped and restored the last good parameters. Try a smaller "
                          "learning rate or timestep.")
                return None
            self._good = (theta, self._opt_state, self._jtj, self._jbar, self._jtj_weight)
            if gauss_newton:
                new_theta, opt_state = self._gauss_newton(theta, jacobians, total)
            elif self.method == "diffsim":
                updates, opt_state = self._opt.update(grads, self._opt_state, theta,
                                                      value=total)
                new_theta = optax.apply_updates(theta, updates)
            else:
                opt_state, new_theta = self._opt_state, self._ibi_theta(theta, auxes)
            for pt, s in zip(self._points, new_states, strict=True):
                pt.state = s
            self._theta, self._opt_state = new_theta, opt_state
            self.last_rdf = [np.asarray(a["g"]) for a in auxes]
            error = sum(float(ibi.rdf_distance(jnp.asarray(self._r_grid), a["g"], pt.g_target))
                        for pt, a in zip(self._points, auxes, strict=True))
            record = {"loss": float(total), "wall_time": time.perf_counter() - t0,
                      "params": self._natural(theta), "rdf_error": error,
                      "learning_rate_scale": float(opt_state[1].scale)}
            for k, v in record.items():
                self.history[k].append(v)
            self._set(iteration=self.iteration + 1)
            return record

    def _gauss_newton(self, theta: dict, jacobians: list, loss) -> tuple[dict, Any]:
        """Levenberg-Marquardt step, scaled by ``gn_step`` and the plateau schedule, each
        parameter's change clipped to ``max_step``. ``jacobians``: ``(J, r)`` per state point.

        J comes from a short truncated window and is noisy. Both ``J^T J`` and J are running
        averages (weight ``gn_memory`` on the past, bias-corrected as in Adam) and the step uses
        ``mean(J)^T r``: a fixed linear map of this iteration's residual r, so sampling noise
        averages out over iterations instead of being multiplied by J's own noise; the noise
        left in ``mean(J^T J)`` (which exceeds ``mean(J)^T mean(J)``) damps the weakly
        determined directions, which keeps the iteration stable.
        """
        from jax.flatten_util import ravel_pytree

        flat, unravel = ravel_pytree(theta)
        if flat.size > 64:
            raise ValueError(f"Gauss-Newton is for a few parameters, this fit has {flat.size}; "
                             "use optimizer='adam'")
        m = self.gn_memory
        jtj_now = sum(jm.T @ jm for jm, _ in jacobians)
        if self._jtj is None:
            self._jtj, self._jbar = 0.0 * jtj_now, [0.0 * jm for jm, _ in jacobians]
        self._jtj = m * self._jtj + (1 - m) * jtj_now
        self._jbar = [m * jb + (1 - m) * jm
                      for jb, (jm, _) in zip(self._jbar, jacobians, strict=True)]
        self._jtj_weight = m * self._jtj_weight + (1 - m)
        jtj = self._jtj / self._jtj_weight
        jtr = sum(jb.T @ r for jb, (_, r) in zip(self._jbar, jacobians, strict=True))
        jtr = jtr / self._jtj_weight
        direction = diffsim.gauss_newton_direction(jtj, jtr, self.gn_damping)
        updates, opt_state = self._opt.update(unravel(direction), self._opt_state, theta,
                                              value=loss)
        updates = jax.tree_util.tree_map(lambda u: jnp.clip(u, -self.max_step, self.max_step),
                                         updates)
        return optax.apply_updates(theta, updates), opt_state

    def _ibi_theta(self, theta: dict, auxes: list) -> dict:
        knots = jnp.asarray(self._model_obj.knots, self.dtype)
        u, deltas = theta["u"], []
        for pt, aux in zip(self._points, auxes, strict=True):
            rows = self._pair_rows(pt.target)
            g_sim = jnp.atleast_2d(aux["g"])
            g_t = jnp.atleast_2d(pt.g_target)
            new_rows = ibi.ibi_update(u[jnp.asarray(rows)], knots, jnp.asarray(self._r_grid),
                                      g_sim, g_t, pt.kT, alpha=self.ibi_alpha,
                                      g_floor=self.ibi_g_floor, smooth=self.ibi_smooth)
            deltas.append(u.at[jnp.asarray(rows)].set(new_rows) - u)
        return {"u": u + sum(deltas) / len(deltas)}

    def fit(self, n_iter: int, progress: Callable | bool | None = None) -> dict:
        """Run ``n_iter`` iterations (fewer if stopped or failed); ``progress(done, n_iter,
        fit)`` after each, or ``progress=True`` for a tqdm bar. Returns the history."""
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_iter, unit="iter")
            progress = lambda done, total, fit: (bar.update(1), bar.set_postfix(
                loss=f"{fit.history['loss'][-1]:.3g}"))
        self._stop.clear()
        self._set(status="running", message="compiling..." if self.iteration == 0 else "")
        try:
            for i in range(n_iter):
                if self._stop.is_set():
                    self._set(status="stopped", message=f"stopped after iteration "
                              f"{self.iteration}")
                    break
                if self.step() is None:
                    break
                self._set(message="")
                if progress:
                    progress(i + 1, n_iter, self)
            else:
                self._set(status="completed", message=f"completed {self.iteration} iterations")
        except Exception as exc:
            self._set(status="failed", message=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def start(self, n_iter: int, progress: Callable | None = None) -> None:
        """``fit`` in a background thread; ``stop()`` ends it between iterations."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("a fit is already running")

        def target():
            try:
                self.fit(n_iter, progress)
            except Exception:  # recorded in status/message
                pass

        self._stop.clear()
        self._thread = threading.Thread(target=target, name="potential-fit", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop after the current iteration (parameters and state stay consistent)."""
        self._stop.set()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _set(self, **values) -> None:
        with param.edit_constant(self):
            self.param.update(**values)

    # --- results -----------------------------------------------------------------------------
    def _natural(self, theta: dict) -> dict:
        """Energy keyword arguments as numpy (``{"params": ...}`` unwrapped for learned)."""
        kw = self._kwargs(theta)
        kw = kw["params"] if self.family in LEARNED else kw
        return jax.tree_util.tree_map(np.asarray, kw)

    @property
    def params(self) -> dict:
        """Current parameters: family parameters, ``{"u": ...}`` or the network pytree."""
        self.prepare()
        return self._natural(self._theta)

    def fitted_params(self) -> dict:
        """The fit's result: the mean of the last ``average_last`` iterations' parameters (the
        current ones when ``average_last`` is 1 or nothing has run). The mean is taken over
        the optimiser's variables (logarithms of positive parameters: a geometric mean)."""
        hist = self.history["params"]
        if self.average_last <= 1 or not hist:
            return self.params
        thetas = [self._theta_of(p) for p in hist[-self.average_last:]]
        mean = jax.tree_util.tree_map(lambda *a: jnp.mean(jnp.stack(a), axis=0), *thetas)
        return self._natural(mean)

    def pair_potential(self, params: dict | None = None) -> PairPotential:
        """``params`` (default ``fitted_params()``) as a ``PairPotential`` a ``Simulation`` or
        ``PairCalculator`` runs. Fixed parameters of a partial fit keep their values."""
        params = self.fitted_params() if params is None else params
        model = self._model(None)
        if self.family == "spline":
            settings = {"r_min": model.r_min}
        elif self.family == "neural":
            settings = {"hidden": list(model.hidden)}
        else:
            settings = {}
            params = {**self._family().defaults, **self.initial_params, **params}
        return PairPotential(family=self.family, params=dict(params), model=settings,
                             r_cutoff=self.r_cutoff, mode=self.cutoff_mode, skin=self.skin)

    def preview(self, params: dict) -> dict:
        """Set the parameters (a slider move: natural values of some or all fitted parameters)
        and run one forward iteration from the current, warm states (``skip_steps`` of it
        relax to the new parameters); the next ``step`` continues from here. No compilation
        after the first call. Returns ``{"g": [per state point], "loss": MSE summed over
        state points, "rdf_error": integral |g - g_target| dr summed, "hot": whether the
        temperature still exceeded ``max_temperature_factor`` kT (a large jump is still
        relaxing)}``. ``ValueError`` (and nothing changed) if the simulation blows up (NaN)."""
        with self._lock:
            self.prepare()
            theta = self._theta_of({**self.params, **params})
            auxes, total, states = [], 0.0, []
            saved = [pt.state for pt in self._points]
            for pt in self._points:
                loss, (new, aux) = self._call(pt, pt.forward, theta)
                auxes.append(aux)
                states.append(new)
                total = total + loss
            failure = self._failure(total, auxes, temperature=False)
            if failure:
                for pt, st in zip(self._points, saved, strict=True):
                    pt.state = st
                raise ValueError(f"these parameters: {failure}")
            hot = self._failure(total, auxes) is not None
            for pt, st in zip(self._points, states, strict=True):
                pt.state = st
            self._theta = theta
            self.last_rdf = [np.asarray(a["g"]) for a in auxes]
            return {"g": self.last_rdf, "loss": float(total), "hot": hot,
                    "rdf_error": sum(self.rdf_error(g, k) for k, g in enumerate(self.last_rdf))}

    def _theta_of(self, params: dict) -> dict:
        """Optimiser variables for natural parameters (inverse of ``_natural``)."""
        dtype = self.dtype
        if self.family in LEARNED:
            return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
        logs = self._log_params()
        return {k: jnp.asarray(np.log(params[k]) if k in logs else params[k], dtype)
                for k in self._fit_names()}

    def evaluate(self, params: dict | None = None, *, seed: int | None = None,
                 point: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """g(r) of ``params`` (default ``fitted_params()``) at state point ``point``: a fresh
        lattice start with velocities from ``seed`` (default the fit's), ``equilibration``
        steps, then ``eval_iterations`` iterations' steps sampled. Deterministic: the same
        parameters and seed give the same trajectory. Returns ``(r [n_bins], g)``."""
        self.prepare()
        theta = self._theta_of(self.fitted_params() if params is None else params)
        pt = self._points[point]
        key = jax.random.split(jax.random.PRNGKey(self.seed if seed is None else seed),
                               len(self._points))[point]
        saved = pt.state
        try:
            pt.state = self._fresh_state(pt, theta, key)
            gs = []
            for _ in range(self.eval_iterations):
                _, (pt.state, aux) = self._call(pt, pt.forward, theta)
                gs.append(np.asarray(aux["g"]))
        finally:
            pt.state = saved
        return self._r_grid.copy(), np.mean(gs, axis=0)

    def rdf_error(self, g: np.ndarray, point: int = 0) -> float:
        """``integral |g - g_target| dr`` (length units) at state point ``point``."""
        self.prepare()
        return float(ibi.rdf_distance(jnp.asarray(self._r_grid), jnp.asarray(g),
                                      self._points[point].g_target))

    # --- saving ------------------------------------------------------------------------------
    _CONFIG_KEYS = ("family", "fit_params", "method", "optimizer", "gradient", "grad_steps",
                    "gn_step", "gn_damping", "gn_memory", "max_step", "r_cutoff", "cutoff_mode",
                    "skin", "n_knots", "spline_r_min", "neural_hidden", "n_atoms", "replicas",
                    "integrator", "timestep", "friction", "equilibration",
                    "steps_per_iteration", "skip_steps", "stride", "window", "checkpoint_every",
                    "r_max", "n_bins", "rdf_sigma", "learning_rate", "plateau_patience",
                    "plateau_factor", "plateau_accumulation", "ibi_alpha", "ibi_smooth",
                    "ibi_g_floor", "average_last", "eval_iterations", "max_temperature_factor",
                    "seed", "precision")

    def config(self) -> dict:
        """JSON-ready configuration: every setting plus the targets' state points."""
        cfg = {k: getattr(self, k) for k in self._CONFIG_KEYS}
        analytic = self.family not in LEARNED
        cfg["initial_params"] = ({k: np.asarray(v).tolist() for k, v in
                                  self.initial_params.items()} if analytic else
                                 ("given" if self.initial_params else "default"))
        if self._prepared and self.family == "spline":
            cfg["spline_r_min"] = self._model_obj.r_min
        cfg["targets"] = [t.to_dict() for t in self.targets]
        cfg["units"] = "lj"
        return cfg

    def save(self, registry=None, name: str = ""):
        """Write a run of kind ``"fit"``: config, metrics (final loss, g error, fitted
        parameters), ``fit.npz`` (fitted and initial parameters, targets, the final g(r) from
        ``evaluate``, the history). Returns the ``Run``."""
        from workbench.registry import RunRegistry

        self.prepare()
        registry = registry or RunRegistry()
        fitted = self.fitted_params()
        arrays, errors = {}, []
        for k, pt in enumerate(self._points):
            r, g = self.evaluate(fitted, point=k)
            arrays.update({f"r_{k}": r, f"g_final_{k}": g,
                           f"g_target_{k}": np.asarray(pt.g_target),
                           f"target_r_{k}": pt.target.r, f"target_g_{k}": pt.target.g})
            errors.append(self.rdf_error(g, k))
        arrays.update(_flat("param", fitted))
        arrays.update(_flat("initial", self._natural(self._initial_theta(
            self._model_obj, self._r_grid, np.asarray(self._points[0].g_target)))))
        for key in ("loss", "wall_time", "rdf_error", "learning_rate_scale"):
            arrays[f"history_{key}"] = np.asarray(self.history[key], float)
        if self.history["params"]:
            stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *self.history["params"])
            arrays.update(_flat("history_param", stacked))
        run = registry.create("fit", self.config(), name=name or f"{self.family} fit")
        run.save_arrays("fit", **arrays)
        analytic = self.family not in LEARNED
        run.save_metrics({
            "status": self.status, "message": self.message, "iterations": self.iteration,
            "final_loss": self.history["loss"][-1] if self.history["loss"] else None,
            "rdf_error": errors, "wall_time_s": float(np.sum(self.history["wall_time"])),
            "fitted_params": ({k: np.asarray(v).tolist() for k, v in fitted.items()}
                              if analytic else None)})
        run.set_status({"completed": "completed", "failed": "failed"}.get(self.status,
                                                                          "stopped"))
        return run

    @classmethod
    def from_run(cls, run) -> PotentialFit:
        """A fit with the run's settings and targets (not its history); ``evaluate`` with
        ``load_fitted_params(run)`` reproduces the saved final g(r)."""
        cfg = dict(run.config)
        arrays = run.load_arrays("fit")
        targets = []
        for k, meta in enumerate(cfg.pop("targets")):
            meta = dict(meta)
            meta["species_pairs"] = [tuple(p) for p in meta["species_pairs"]]
            targets.append(TargetRDF(r=arrays[f"target_r_{k}"], g=arrays[f"target_g_{k}"],
                                     **meta))
        cfg.pop("units", None)
        initial = cfg.pop("initial_params")
        settings = {k: v for k, v in cfg.items() if k in cls._CONFIG_KEYS}
        fit = cls(target=targets, **settings)
        if isinstance(initial, dict):
            fit.initial_params = initial
        else:
            fit.initial_params = _unflat(arrays, "initial", fit._param_structure())
        return fit

    def _param_structure(self):
        """The pytree structure of this fit's natural parameters (for reading them back)."""
        if self.family == "spline":
            return jax.tree_util.tree_structure({"u": 0})
        if self.family == "neural":
            model = NeuralPair(r_cutoff=self.r_cutoff, hidden=tuple(self.neural_hidden))
            return jax.tree_util.tree_structure(model.init_params(jax.random.PRNGKey(0),
                                                                  self.n_species))
        return None


def _n_pairs(n_species: int) -> int:
    return n_species * (n_species + 1) // 2


def _flat(prefix: str, tree: Any) -> dict[str, np.ndarray]:
    """``{prefix.name: array}`` for a dict of arrays, ``{prefix.leaf_000: ...}`` otherwise."""
    if isinstance(tree, dict) and all(not isinstance(v, dict | list | tuple)
                                      for v in tree.values()):
        return {f"{prefix}.{k}": np.asarray(v) for k, v in tree.items()}
    leaves = jax.tree_util.tree_leaves(tree)
    return {f"{prefix}.leaf_{i:03d}": np.asarray(v) for i, v in enumerate(leaves)}


def _unflat(arrays: dict, prefix: str, structure=None) -> dict:
    keys = sorted(k for k in arrays if k.startswith(prefix + "."))
    names = [k[len(prefix) + 1:] for k in keys]
    if names and all(n.startswith("leaf_") for n in names):
        if structure is None:
            raise ValueError(f"{prefix}: flattened leaves need the parameter structure")
        return jax.tree_util.tree_unflatten(structure, [arrays[k] for k in keys])
    return {n: (arrays[k] if arrays[k].ndim else float(arrays[k])) for n, k in zip(names, keys,
                                                                                    strict=True)}


def load_fitted_params(run) -> dict:
    """The fitted parameters saved in a ``"fit"`` run: family parameters (floats or species
    matrices), ``{"u": [n_pairs, n_knots]}`` for a spline, or the network pytree."""
    if run.kind != "fit":
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not a fit")
    arrays = run.load_arrays("fit")
    structure = None
    if run.config.get("family") == "neural":
        structure = PotentialFit.from_run(run)._param_structure()
    return _unflat(arrays, "param", structure)
