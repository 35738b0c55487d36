"""``PotentialFit``: fit a pair potential to target g(r), by gradient steps through the
simulation (DiffSim, ``kernels.diffsim``) or by Iterative Boltzmann Inversion (``kernels.ibi``).

DiffSim (Wang, Fu, Du, Jaakkola, Gomez-Bombarelli, J. Chem. Phys. 158, 044113, 2023) as done
here: every iteration runs ``steps_per_iteration`` MD steps from where the previous iteration
stopped (the first ``skip_steps`` unsampled), compares the smooth g(r) of its frames with the
target, and takes one optimiser step on the loss gradient (full, truncated or checkpointed
backpropagation): optax Adam with a reduce-on-plateau learning-rate schedule, or Gauss-Newton
steps for a few analytic parameters (``workbench.fit.optimizers`` says why). Positive
parameters are optimised as logarithms (``workbench.fit.parameters``). IBI runs the same
simulation forward and updates the knots of a spline potential. Several targets (state points,
``workbench.fit.points``) are fitted at once: losses and gradients are summed (IBI averages its
updates).

The fit is a job (``workbench.jobs``): one iteration per chunk, progress counted in
iterations. ``fit = PotentialFit(target=..., family="lj", initial_params={...})``;
``fit.step()`` (one iteration) or ``fit.fit(n_iter, progress=callback)``; ``fit.stop()`` from
another thread (or ``start``/``wait`` for a background fit) ends it between iterations. The
history keeps loss, wall time, parameters and the integrated ``|g - g_target|`` of every
iteration. A NaN, a temperature above ``max_temperature_factor`` times the target, or a
non-finite gradient stops the fit with a message and restores the last parameters whose
simulation was sound (with their optimiser and simulation state). ``save()`` writes a run of
kind ``"fit"`` (``workbench.fit.persistence``); ``load_fitted_params(run)``,
``fitted_potential(run)`` and ``PotentialFit.from_run(run)`` read it back.

Units: reduced LJ units for the boxes the fit builds: ``timestep`` in tau, ``friction`` in
1/tau, temperatures as T*, lengths in sigma. Targets in ASE units (r in Å, density per Å^3, T
in K; ``TargetRDF.from_file(..., units="ase")``) are converted with ``reduced_units`` (given,
or ``TargetRDF.default_reduced_units`` of the first target), recorded in the run: then
``initial_params`` of an analytic family and a network's ``neural_prior`` are in Å and eV as
well, and ``physical_params`` gives the results back in them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import param

from kernels import diffsim, ibi
from kernels.potentials import get_family
from workbench.fit.convergence import Convergence, assess
from workbench.fit.optimizers import (
    GaussNewtonMeans,
    adam_step,
    gauss_newton_step,
    ibi_step,
    learning_rate_scale,
    make_optimizer,
)
from workbench.fit.parameters import ParameterMap, pair_model, to_pair_potential
from workbench.fit.persistence import fit_arguments, write_fit_run
from workbench.fit.points import StatePoint, build_point, call, fresh_state, lattice, rdf_grid
from workbench.fit.settings import FitSettings
from workbench.jobs import Job
from workbench.potential import LEARNED, PairPotential
from workbench.registry import RunRegistry
from workbench.targets import TargetRDF
from workbench.units import ReducedUnits


def _to_reduced_units(params: dict) -> None:
    """Convert targets in ASE units (and an analytic family's ``initial_params``) in
    ``params`` to reduced units, recording the conversion as ``params["reduced_units"]``."""
    targets = params.get("targets") or []
    if not any(t.units == "ase" for t in targets):
        return
    if not all(t.units == "ase" for t in targets):
        raise ValueError("the targets mix ASE and reduced units")
    given = params.get("reduced_units")
    units = ReducedUnits(**given) if given else targets[0].default_reduced_units()
    params["targets"] = [t.in_reduced_units(units) for t in targets]
    params["reduced_units"] = units.to_dict()
    family = params.get("family", FitSettings.family)
    if family not in LEARNED and params.get("initial_params"):
        params["initial_params"] = _physical(family, units, params["initial_params"],
                                             inverse=True)
    if "neural_prior" in params:  # given in Å and eV
        prior = dict(params["neural_prior"])
        for key, scale in (("prior_sigma", units.length), ("prior_epsilon", units.energy)):
            if key in prior:
                prior[key] = prior[key] / scale
        params["neural_prior"] = prior


def _physical(family: str, units: ReducedUnits | None, params: dict,
              inverse: bool = False) -> dict:
    """Analytic ``params`` from reduced units to Å and eV (``inverse``: back)."""
    if units is None:
        raise ValueError("the fit is in reduced units (its targets were)")
    if family in LEARNED:
        raise ValueError(f"a {family} potential has no parameters with units; tabulate it")
    spec = get_family(family)
    out = {}
    for k, v in params.items():
        scale = units.scale(spec.dimension(k))
        value = np.asarray(v, float) / scale if inverse else np.asarray(v, float) * scale
        out[k] = value.item() if value.ndim == 0 else value
    return out


def _rounded(value, digits: int) -> str:
    """A parameter (a number or a species matrix) to ``digits`` significant digits."""
    value = np.asarray(value, float)
    return f"{value:.{digits}g}" if value.ndim == 0 else str(
        [[float(f"{v:.{digits}g}") for v in row] for row in value])


class PotentialFit(FitSettings, Job):
    """Fit a pair potential to target RDFs (module docstring; settings: ``FitSettings``)."""

    iteration = param.Integer(default=0, constant=True, doc="Iterations taken so far.")

    def __init__(self, target: TargetRDF | list[TargetRDF] | None = None, **params):
        if target is not None:
            params["targets"] = [target] if isinstance(target, TargetRDF) else list(target)
        params.setdefault("unit", "iteration")
        _to_reduced_units(params)
        super().__init__(**params)
        self.history: dict[str, list] = {"loss": [], "wall_time": [], "params": [],
                                         "rdf_error": [], "learning_rate_scale": []}
        self.last_rdf: list[np.ndarray] = []  # g of the last iteration or preview, per point
        self._points: list[StatePoint] = []
        self._map: ParameterMap | None = None
        self._model = None
        self._r_grid: np.ndarray | None = None
        self._theta = self._theta0 = None
        self._optimizer = self._opt_state = None
        self._gn = GaussNewtonMeans()
        self._good = None  # (theta, optimiser state, Gauss-Newton means) of the last sound step
        self._prepared = False
        self._lock = threading.RLock()
        self._n_iter, self._progress = 0, None
        self._assessed: tuple[int, Convergence | None] = (0, None)  # (iterations, convergence)

    # --- set-up and read-only views --------------------------------------------------------
    def prepare(self) -> None:
        """Check the set-up, build the kernels and equilibrate every state point (once)."""
        with self._lock:
            if self._prepared:
                return
            self.check()
            mapping = ParameterMap(self)
            boxes = [lattice(self, t)[2] for t in self.targets]
            r_max, r_grid = rdf_grid(self, min(boxes))  # one g(r) grid for every state point
            model = pair_model(self)
            theta = mapping.initial_theta(model, r_grid,
                                          self.targets[0].on_grid(r_max, self.n_bins))
            keys = jax.random.split(jax.random.PRNGKey(self.seed), len(self.targets))
            points = []
            for target, key in zip(self.targets, keys, strict=True):
                pt = build_point(self, mapping, target, model, r_max)
                pt.state = fresh_state(self, mapping, pt, theta, key)
                points.append(pt)
            self._map, self._model, self._points, self._r_grid = mapping, model, points, r_grid
            self._theta = self._theta0 = theta
            self._optimizer = make_optimizer(self)
            self._opt_state = self._optimizer.init(theta)
            self._gn, self._good = GaussNewtonMeans(), None
            self._prepared = True

    @property
    def prepared(self) -> bool:
        """True once ``prepare`` has built and equilibrated every state point."""
        return self._prepared

    @property
    def r_grid(self) -> np.ndarray:
        """Bin centres ``[n_bins]`` (length units) of the compared g(r), for every point."""
        self.prepare()
        return self._r_grid.copy()

    @property
    def g_targets(self) -> list[np.ndarray]:
        """Each state point's target on ``r_grid``: ``[n_bins]`` or ``[n_pairs, n_bins]``."""
        self.prepare()
        return [np.asarray(pt.g_target) for pt in self._points]

    @property
    def params(self) -> dict:
        """Current parameters: family parameters, ``{"u": ...}`` or the network pytree."""
        self.prepare()
        return self._map.natural(self._theta)

    @property
    def units(self) -> ReducedUnits | None:
        """The conversion of targets given in ASE units (None for reduced-unit targets)."""
        return None if self.reduced_units is None else ReducedUnits(**self.reduced_units)

    def physical_params(self, params: dict | None = None) -> dict:
        """Analytic ``params`` (default ``fitted_params()``) in Å and eV (each parameter by
        its dimension, ``kernels.potentials.PairFamily.dimension``). ``ValueError`` for a fit
        in reduced units or of a spline or network."""
        return _physical(self.family, self.units, self.fitted_params() if params is None
                         else params)

    def fitted_params(self) -> dict:
        """The fit's result: the mean of the last ``average_last`` iterations' parameters, or
        (``average_last`` None) of the converged stretch of an analytic DiffSim fit
        (``convergence``; its latest stretch while not yet converged, which averages the noise
        even so); else the current parameters. Means are taken over the optimiser's variables
        (logarithms of positive parameters: geometric means)."""
        hist = self.history["params"]
        if self.average_last is not None:
            return self.params if self.average_last <= 1 or not hist else (
                self._map.average(hist[-self.average_last:]))
        conv = self.convergence()
        return self.params if conv is None else self._map.average(hist[conv.start:])

    def convergence(self) -> Convergence | None:
        """The converged stretch of an analytic DiffSim fit's iterations and what it says
        (``workbench.fit.convergence.Convergence``: mean, standard errors, the covariance of
        the mean and its well and weakly determined directions), over the optimiser variables
        (``ParameterMap.vector``: ln sigma, ln epsilon, ...). None for a spline, a network, IBI
        or fewer than 20 iterations."""
        hist = self.history["params"]
        if self.learned or self.method != "diffsim" or not hist:
            return None
        if self._assessed[0] != len(hist):  # once per iteration
            self.prepare()
            vectors = [self._map.vector(p) for p in hist]
            self._assessed = (len(hist), assess(np.stack([v for _, v in vectors]),
                                                vectors[0][0]))
        return self._assessed[1]

    def uncertainty(self) -> dict | None:
        """The standard error of each fitted parameter of ``fitted_params()`` from the sampling
        noise of the fit's simulations (``convergence``), in the parameters' units (a species
        matrix as one); None until the fit has converged. The target's own noise is not in
        it."""
        conv = self.convergence()
        if conv is None or not conv.converged or self.average_last is not None:
            return None
        fitted = self.fitted_params()
        errors = self._map.unvector(conv.standard_error, fitted)  # of the logarithms: relative
        return {k: np.abs(np.asarray(fitted[k], float)) * e if k in self._map.logs else e
                for k, e in errors.items()}

    def pair_potential(self, params: dict | None = None) -> PairPotential:
        """``params`` (default ``fitted_params()``) as a ``PairPotential`` a ``Simulation`` or
        ``PairCalculator`` runs. Fixed parameters of a partial fit keep their values."""
        return to_pair_potential(self, self.fitted_params() if params is None else params)

    def rdf_error(self, g: np.ndarray, point: int = 0) -> float:
        """``integral |g - g_target| dr`` (length units) at state point ``point``; ``g`` on
        ``r_grid``."""
        self.prepare()
        return float(ibi.rdf_distance(jnp.asarray(self._r_grid), jnp.asarray(g),
                                      self._points[point].g_target))

    # --- iterations --------------------------------------------------------------------------
    def _failure(self, loss, auxes, grads=None, temperature: bool = True) -> str | None:
        """Why an iteration's simulations are unsound, or None."""
        if not np.isfinite(float(loss)):
            return "the loss is NaN or infinite"
        for pt, aux in zip(self._points, auxes, strict=True):
            if not bool(aux["finite"]):
                return "NaN or infinity in the simulated positions or g(r)"
            t_max = float(jnp.max(aux["temperature"]))
            if temperature and t_max > self.max_temperature_factor * float(pt.kT):
                return f"temperature exploded to kT = {t_max:.4g} (target {float(pt.kT):.4g})"
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
            total, grads, auxes, new_states, jacobians = 0.0, None, [], [], []
            replicas = self.replicas > 1
            gauss_newton = self.gauss_newton
            for pt in self._points:
                if gauss_newton:
                    jac, (loss, (new, aux)) = call(pt, pt.jacobian, theta, replicas)
                    jacobians.append((diffsim.flat_jacobian(jac, theta),
                                      jnp.ravel(aux["g"] - pt.g_target)))
                elif self.method == "diffsim":
                    (loss, (new, aux)), g = call(pt, pt.value_and_grad, theta, replicas)
                    grads = g if grads is None else jax.tree_util.tree_map(jnp.add, grads, g)
                else:
                    loss, (new, aux) = call(pt, pt.forward, theta, replicas)
                total = total + loss
                auxes.append(aux)
                new_states.append(new)
            failure = self._failure(total, auxes, [j for j, _ in jacobians] or grads)
            if failure:
                for pt, s in zip(self._points, states, strict=True):
                    pt.state = s  # produced by the last sound iteration
                if self._good is not None:  # the parameters of the last sound iteration
                    self._theta, self._opt_state, self._gn = self._good
                self._set(status="failed", message=f"iteration {self.iteration + 1}: {failure}; "
                          "stopped and restored the last good parameters. Try a smaller "
                          "learning rate or timestep.")
                return None
            self._good = (theta, self._opt_state, self._gn)
            if gauss_newton:
                new_theta, opt_state, self._gn = gauss_newton_step(
                    self, self._optimizer, self._opt_state, theta, jacobians, total, self._gn)
            elif self.method == "diffsim":
                new_theta, opt_state = adam_step(self._optimizer, self._opt_state, theta, grads,
                                                 total)
            else:
                new_theta, opt_state = ibi_step(self, theta, self._model.knots, self._r_grid,
                                                self._points, auxes), self._opt_state
            for pt, s in zip(self._points, new_states, strict=True):
                pt.state = s
            self._theta, self._opt_state = new_theta, opt_state
            self.last_rdf = [np.asarray(a["g"]) for a in auxes]
            record = {"loss": float(total), "wall_time": time.perf_counter() - t0,
                      "params": self._map.natural(theta),
                      "rdf_error": sum(self.rdf_error(a["g"], k) for k, a in enumerate(auxes)),
                      "learning_rate_scale": learning_rate_scale(opt_state)}
            for k, v in record.items():
                self.history[k].append(v)
            self._set(iteration=self.iteration + 1)
            return record

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
            theta = self._map.theta_of({**self.params, **params})
            saved = [pt.state for pt in self._points]
            outs = [call(pt, pt.forward, theta, self.replicas > 1) for pt in self._points]
            total = sum(loss for loss, _ in outs)
            auxes = [aux for _, (_, aux) in outs]
            failure = self._failure(total, auxes, temperature=False)
            if failure:
                for pt, st in zip(self._points, saved, strict=True):
                    pt.state = st
                raise ValueError(f"these parameters: {failure}")
            for pt, (_, (new, _)) in zip(self._points, outs, strict=True):
                pt.state = new
            self._theta = theta
            self.last_rdf = [np.asarray(a["g"]) for a in auxes]
            return {"g": self.last_rdf, "loss": float(total),
                    "hot": self._failure(total, auxes) is not None,
                    "rdf_error": sum(self.rdf_error(g, k) for k, g in enumerate(self.last_rdf))}

    def evaluate(self, params: dict | None = None, *, seed: int | None = None,
                 point: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """g(r) of ``params`` (default ``fitted_params()``) at state point ``point``: a fresh
        lattice start with velocities from ``seed`` (default the fit's), ``equilibration``
        steps, then ``eval_iterations`` iterations' steps sampled. Deterministic: the same
        parameters and seed give the same trajectory. Returns ``(r [n_bins], g)``."""
        self.prepare()
        theta = self._map.theta_of(self.fitted_params() if params is None else params)
        pt = self._points[point]
        key = jax.random.split(jax.random.PRNGKey(self.seed if seed is None else seed),
                               len(self._points))[point]
        saved = pt.state
        try:
            pt.state = fresh_state(self, self._map, pt, theta, key)
            gs = []
            for _ in range(self.eval_iterations):
                _, (pt.state, aux) = call(pt, pt.forward, theta, self.replicas > 1)
                gs.append(np.asarray(aux["g"]))
        finally:
            pt.state = saved
        return self._r_grid.copy(), np.mean(gs, axis=0)

    # --- the job: one iteration per chunk ------------------------------------------------------
    def fit(self, n_iter: int, progress: Callable | bool | None = None) -> dict:
        """Run ``n_iter`` iterations in this thread (fewer if stopped or failed);
        ``progress(done, n_iter, fit)`` after each, or ``progress=True`` for a tqdm bar.
        Returns the history."""
        self._plan(n_iter, progress)
        self.run(progress=progress is True)
        return self.history

    def start(self, n_iter: int, progress: Callable | None = None) -> None:
        """``fit`` in a background thread; ``stop()`` ends it between iterations."""
        if self.running:
            raise RuntimeError("a fit is already running")
        self._plan(n_iter, progress)
        super().start()

    def _plan(self, n_iter: int, progress: Callable | bool | None) -> None:
        self._n_iter, self._progress = n_iter, progress if callable(progress) else None
        self._set(done=0, total=n_iter)

    def _work(self) -> Iterator[None]:
        self._set(message="compiling..." if self.iteration == 0 else "")
        for i in range(self._n_iter):
            record = self.step()
            if record is None:
                return  # failed: status and message say why
            self._advance(i + 1, self._n_iter,
                          message=f"iteration {self.iteration}: loss {record['loss']:.3g}")
            if self._progress is not None:
                self._progress(i + 1, self._n_iter, self)
            if self.converged_summary():
                return  # completed: _completed_message says so
            yield

    def converged_summary(self, tolerance: float | None = None) -> str:
        """"converged after N iterations: sigma 1.001 +- 0.0008, ..." once the fit has converged
        with every standard error below ``tolerance`` (default the fit's; 0 never), else ""."""
        tolerance = self.tolerance if tolerance is None else tolerance
        if not tolerance or self.average_last is not None:
            return ""
        conv = self.convergence()
        if conv is None or not conv.converged or conv.standard_error.max() > tolerance:
            return ""
        fitted, errors = self.fitted_params(), self.uncertainty()
        values = ", ".join(f"{k} {_rounded(fitted[k], 4)} +- {_rounded(e, 2)}"
                           for k, e in errors.items())
        return (f"converged after {self.iteration} iterations: {values} (mean of the last "
                f"{conv.n} iterations)")

    def _stopped_message(self) -> str:
        return f"stopped after iteration {self.iteration}"

    def _completed_message(self) -> str:
        return self.converged_summary() or f"completed {self.iteration} iterations"

    # --- runs ----------------------------------------------------------------------------------
    def save(self, registry: RunRegistry | None = None, name: str = ""):
        """Write a run of kind ``"fit"`` (``workbench.fit.persistence``): config, metrics
        (final loss, g error, fitted parameters, their ``uncertainty`` and converged
        iterations once converged, and in Å and eV for targets given in ASE units), the
        fitted potential, and ``fit.npz``
        (fitted and initial parameters, targets, the final g(r) from ``evaluate``, the
        history). Returns the ``Run``."""
        self.prepare()
        registry = registry or RunRegistry()
        fitted = self.fitted_params()
        points = []
        for k, pt in enumerate(self._points):
            r, g = self.evaluate(fitted, point=k)
            points.append({"target": pt.target, "r": r, "g_final": g, "g_target": pt.g_target,
                           "rdf_error": self.rdf_error(g, k)})
        run = registry.create("fit", self.config(), name=name or f"{self.family} fit")
        write_fit_run(run, fitted=fitted, initial=self._map.natural(self._theta0),
                      points=points, history=self.history,
                      potential=self.pair_potential(fitted),
                      outcome={"status": self.status, "message": self.message,
                               "iterations": self.iteration})
        errors = self.uncertainty()
        if errors is not None:
            conv = self.convergence()
            run.save_metrics({"uncertainty": {k: np.asarray(v).tolist() for k, v in
                                              errors.items()},
                              "converged_iterations": [conv.start + 1, conv.start + conv.n]})
        if self.units is not None and not self.learned:
            run.save_metrics({"fitted_params_physical": {
                k: np.asarray(v).tolist() for k, v in self.physical_params(fitted).items()},
                "reduced_units": self.reduced_units})
        return run

    @classmethod
    def from_run(cls, run) -> PotentialFit:
        """A fit with the run's settings and targets (not its history); ``evaluate`` with
        ``load_fitted_params(run)`` reproduces the saved final g(r)."""
        return cls(**fit_arguments(run))
