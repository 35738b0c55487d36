"""``TuneSession``: the state behind the Tune dashboard, usable headless. One target g(r), one
DiffSim fit of an analytic family (whose parameters the sliders also move; Gauss-Newton steps,
and once converged the mean of its iterations with their uncertainty and the combinations of
parameters the target determines well and weakly) and, beside it, an
IBI fit of a spline table on the same engine and target, so the two methods compare side by
side (loss against iteration and against wall time, and the final potentials).

Everything slow (the reference simulation that makes a target, compiling, slider previews,
iterations, saving) is a task: a ``workbench.jobs.FunctionJob`` run on one worker thread, one
after another, so a dashboard stays responsive and tasks never race. The session follows the
job contract: ``status`` (``workbench.jobs.STATUSES``; idle before the first task),
``message``, and progress as ``done`` of ``total`` ``unit`` of the current (or last) task;
``stop()`` ends the running task between its chunks (a fit between iterations, the reference
simulation between its chunks) and drops queued fits. Slider moves coalesce: while a preview
runs, only the newest parameters wait. ``version`` increases whenever there is something new
to draw, and ``snapshot`` then holds it (``curves()``, taken on the worker).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np
import param

from kernels.potentials import FAMILIES
from workbench.builders import build_system
from workbench.fit.potential_fit import PotentialFit
from workbench.fit.targets import target_from_reference_system
from workbench.jobs import STATUSES, FunctionJob, Worker
from workbench.potential import PairPotential
from workbench.targets import TargetRDF
from workbench.units import ReducedUnits

METHODS = ("diffsim", "ibi")


class TuneSession(param.Parameterized):
    family = param.Selector(default="lj", objects=list(FAMILIES),
                            doc="Analytic family fitted by DiffSim and moved by the sliders.")
    initial_params = param.Dict(default={"sigma": 0.8, "epsilon": 1.2},
                                doc="Starting parameters (the DiffSim validation starts 20 % "
                                "off the target's sigma = epsilon = 1).")
    n_atoms = param.Integer(default=500, bounds=(32, 20_000), doc="Atoms per simulation box.")
    replicas = param.Integer(default=2, bounds=(1, 16), doc="Replicas averaged per g(r).")
    steps_per_iteration = param.Integer(default=100, bounds=(20, 10_000),
                                        doc="MD steps per preview or iteration.")
    relax_steps = param.Integer(default=30, bounds=(0, 10_000),
                                doc="Of those, steps run before sampling g(r) (relaxation "
                                "to new parameters).")
    stride = param.Integer(default=10, bounds=(1, 1000), doc="Steps between g(r) frames.")
    gradient = param.Selector(default="truncated", objects=["truncated", "full", "checkpoint"],
                              doc="How DiffSim differentiates through the MD.")
    learning_rate = param.Number(default=0.02, bounds=(1e-5, 1.0), doc="Adam learning rate.")
    methods = param.ListSelector(default=list(METHODS), objects=list(METHODS),
                                 doc="Methods that Step and Fit advance.")
    seed = param.Integer(default=0)

    status = param.Selector(default="idle", objects=list(STATUSES), constant=True,
                            doc="The current (or last) task's status.")
    message = param.String(default="", constant=True, doc="What the task is doing, its "
                           "result, or why it failed.")
    version = param.Integer(default=0, constant=True)

    def __init__(self, **params):
        super().__init__(**params)
        self.target: TargetRDF | None = None  # in reduced units
        self.units: ReducedUnits | None = None  # the conversion of a target given in Å and K
        self.reference: PairPotential | None = None  # the target's potential, when known
        self.fits: dict[str, PotentialFit] = {}
        self.preview_result: dict | None = None
        self.snapshot: dict = {}  # ``curves()`` as of ``version``
        self.job: FunctionJob | None = None  # the running (or last) task
        self._worker = Worker("tune")
        self._queued_fits: set[FunctionJob] = set()  # fits waiting for the worker
        self._dropped: set[FunctionJob] = set()  # queued fits that stop() dropped
        self._pending: dict | None = None
        self._previewed: dict | None = None  # parameters of the last preview, if still current
        self._pending_lock = threading.Lock()

    # --- progress of the current task --------------------------------------------------------
    @property
    def done(self) -> float:
        """Units of the current (or last) task done."""
        return self.job.done if self.job is not None else 0

    @property
    def total(self) -> float | None:
        """Units of the current (or last) task in all (None when not known)."""
        return self.job.total if self.job is not None else None

    @property
    def unit(self) -> str:
        """Name of one unit of the current task (iteration, step, task)."""
        return self.job.unit if self.job is not None else ""

    @property
    def busy(self) -> bool:
        """True while a task runs."""
        return self.status in ("running", "paused")

    # --- tasks on the worker thread ----------------------------------------------------------
    def _set(self, **values) -> None:
        with param.edit_constant(self):
            self.param.update(**values)

    def _changed(self) -> None:
        """New results: take the plot data now, on the worker (the fits are not busy), so a
        view never waits for a fit's lock; then bump ``version``."""
        try:
            self.snapshot = self.curves()
        except Exception as exc:  # a failed task's half-made fits: keep the last snapshot
            self._set(message=f"{self.message} (plots not updated: {exc})")
        self._set(version=self.version + 1)

    def run_task(self, job: FunctionJob, label: str) -> Future:
        """Queue ``job`` on the worker. While it runs ``message`` is ``label``; then its
        result (a string), ``"<label> failed: <error>"`` or the job's stop message."""

        def run():
            with self._pending_lock:
                self._queued_fits.discard(job)
                dropped = job in self._dropped
                self._dropped.discard(job)
            chunks = job.irun()
            if dropped:  # ends "stopped" before its first chunk; the session still shows
                job.cancel()  # the task that stop() ended
                for _ in chunks:
                    pass
                return
            self.job = job
            self._set(status="running", message=label)
            try:
                for _ in chunks:
                    pass
            except Exception:  # recorded in the job; the session stays usable
                pass
            message = {"completed": job.result or "",
                       "failed": f"{label} failed: {job.error}"}.get(job.status, job.message)
            self._set(status=job.status, message=message)
            self._changed()

        return self._worker.submit(run)

    def submit(self, fn: Callable[[], str | None], label: str) -> Future:
        """Run ``fn`` as a task of one chunk; its return value becomes the message."""

        def one_chunk(job: FunctionJob) -> Iterator[None]:
            yield from ()  # a generator that finishes in its first chunk
            result = fn()
            job.report(1, 1)
            return result

        return self.run_task(FunctionJob(one_chunk, unit="task", total=1), label)

    def stop(self) -> None:
        """End the running task after its current chunk and drop queued fits."""
        with self._pending_lock:
            self._dropped |= self._queued_fits
            self._queued_fits.clear()
        if self.job is not None:
            self.job.cancel()

    def close(self) -> None:
        """Stop what runs and let the worker thread end (session closed)."""
        self.stop()
        self._worker.shutdown(cancel_futures=True)

    # --- targets ----------------------------------------------------------------------------
    def make_target(self, system: str = "lj_fluid", *, temperature: float = 1.2,
                    density: float = 0.7, n_steps: int = 4000, equilibration: int | None = None,
                    potential: PairPotential | None = None) -> Future:
        """Reference simulation of a registered system (its default potential unless
        ``potential``), then ``set_target`` with it; progress in steps, ``stop()`` ends it.
        Frames after ``equilibration`` steps (default a quarter of the run) make g(r)."""
        equilibration = n_steps // 4 if equilibration is None else equilibration

        def make(job: FunctionJob) -> Iterator[None]:
            try:
                target = _reference_target(system, temperature, density, self.n_atoms,
                                           n_steps, equilibration, potential, job)
            except RuntimeError:
                if not job.stop_requested:
                    raise
                yield  # stopped between chunks: the job ends "stopped"
                return None
            ref = potential or build_system(system, n_atoms=4, density=0.1).potential
            self._set_target(target, ref)
            return f"target: {target.source}"

        return self.run_task(FunctionJob(make, unit="step", total=n_steps),
                             f"reference simulation of {system} ({n_steps:,} steps)")

    def set_target(self, target: TargetRDF, reference: PairPotential | None = None) -> Future:
        return self.submit(lambda: self._set_target(target, reference) or
                           self._target_message(), "preparing the fits")

    def _target_message(self) -> str:
        u = self.units
        return f"target: {self.target.source}" + (
            "" if u is None else f" (fitted in reduced units: length {u.length:.4g} Å, energy "
            f"{u.energy:.4g} eV = kT, so T* = 1)")

    def _set_target(self, target: TargetRDF, reference: PairPotential | None) -> None:
        # a target in Å and K: the fits and sliders work in reduced units of its own (length
        # where g first reaches 1, energy kT), recorded in the saved runs and shown
        self.units = target.default_reduced_units() if target.units == "ase" else None
        if self.units is not None:
            target = target.in_reduced_units(self.units)
        self.target, self.reference = target, reference
        n_species = target.n_species
        common = {"n_atoms": self.n_atoms, "replicas": self.replicas,
                  "steps_per_iteration": self.steps_per_iteration,
                  "skip_steps": self.relax_steps, "stride": self.stride,
                  "window": _window(self.steps_per_iteration - self.relax_steps, self.stride),
                  "equilibration": 500, "seed": self.seed,
                  "r_cutoff": reference.r_cutoff if reference else 2.5,
                  "reduced_units": None if self.units is None else self.units.to_dict()}
        start = self._matrices(self.initial_params, n_species)
        self.fits = {
            "diffsim": PotentialFit(target, family=self.family, initial_params=start,
                                    gradient=self.gradient, learning_rate=self.learning_rate,
                                    **common),
            "ibi": PotentialFit(target, family="spline", method="ibi", **common),
        }
        self._set(message="compiling and equilibrating (the first time takes a while)")
        for fit in self.fits.values():
            fit.prepare()
        self.preview_result = self._previewed = None
        self._pending = {}
        self._run_preview()  # g(r) of the starting parameters (and every kernel compiled)
        self._changed()

    def _matrices(self, params: dict, n_species: int) -> dict:
        """Scalars stay scalars for one species; a mixture gets species matrices."""
        if n_species == 1:
            return dict(params)
        return {k: np.full((n_species, n_species), v) if np.ndim(v) == 0 else np.asarray(v)
                for k, v in params.items()}

    # --- sliders, steps, fits ------------------------------------------------------------------
    def preview(self, params: dict) -> None:
        """A slider move: DiffSim's parameters become ``params`` and a short warm-started,
        replica-averaged run redraws g(r). Coalesced: only the newest waiting move runs."""
        if "diffsim" not in self.fits or _same(params, self._previewed):
            return  # no target yet, or a repeated event for the parameters just simulated
        self._previewed = dict(params)
        with self._pending_lock:
            queued = self._pending is not None
            self._pending = dict(params)
        if not queued:
            self.submit(self._run_preview, "simulating the new parameters")

    def _run_preview(self) -> str:
        with self._pending_lock:
            params, self._pending = self._pending, None
        fit = self.fits["diffsim"]
        t0 = time.perf_counter()
        try:
            out = fit.preview(params)
        except Exception:
            self._previewed = None  # refused parameters may be asked for again
            raise
        out["seconds"] = time.perf_counter() - t0
        self.preview_result = out
        note = (" The system was still relaxing from the jump: move again, or Step."
                if out["hot"] else "")
        return (f"preview: integral |g - g_target| dr = {out['rdf_error']:.4f}, MSE = "
                f"{out['loss']:.3g} ({out['seconds']:.2f} s).{note}")

    def step(self) -> Future:
        return self.fit(1)

    def fit(self, n_iter: int) -> Future:
        """``n_iter`` iterations of each selected method, alternating, on the worker; progress
        in iterations, ``stop()`` ends it between iterations."""

        def work(job: FunctionJob) -> Iterator[None]:
            methods = [m for m in METHODS if m in self.methods]
            if not methods:
                return "select DiffSim and/or IBI first"
            for i in range(n_iter):
                for m in methods:
                    fit = self.fits[m]
                    if fit.step() is None:
                        raise RuntimeError(f"{m}: {fit.message}")
                    if m == "diffsim" and fit.converged_summary():
                        methods.remove(m)  # converged to its tolerance: IBI goes on alone
                self.preview_result = self._previewed = None
                job.report(i + 1, n_iter)
                self._changed()
                if not methods:
                    break
                yield
            return self.summary()

        job = FunctionJob(work, unit="iteration", total=n_iter)
        with self._pending_lock:
            self._queued_fits.add(job)
        return self.run_task(job, f"fitting ({n_iter} iterations)")

    def summary(self) -> str:
        parts = []
        for m, fit in self.fits.items():
            h = fit.history
            if h["loss"]:
                parts.append(f"{m}: iteration {fit.iteration}, integral |g - g_target| dr = "
                             f"{h['rdf_error'][-1]:.4f}, {np.sum(h['wall_time']):.1f} s")
        diffsim = self.fits.get("diffsim")
        converged = diffsim.converged_summary(tolerance=np.inf) if diffsim else ""
        if converged:
            parts.append("DiffSim " + converged)
        if self.units is not None and diffsim is not None and diffsim.history["loss"]:
            physical = diffsim.physical_params()
            parts.append("DiffSim in Å and eV: " + ", ".join(
                f"{k} = {np.round(np.asarray(v), 5).tolist()}" for k, v in physical.items()))
        return "; ".join(parts)

    def save(self) -> Future:
        """Both fits as runs (kind "fit"), usable in Simulate and as an ASE calculator."""

        def save():
            ids = [f"{m}: {fit.save(name=f'{m} fit of {self.target.source}').id}"
                   for m, fit in self.fits.items() if fit.history["loss"]]
            return "saved " + ", ".join(ids) if ids else "nothing to save yet"

        return self.submit(save, "saving")

    # --- what to draw ------------------------------------------------------------------------
    def curves(self) -> dict:
        """Arrays for the plots: ``r`` and target/DiffSim/IBI g rows, ``r_u`` with
        reference/DiffSim/IBI u(r) of the first species pair, per-method histories, and
        DiffSim's current parameters (``params_diffsim``)."""
        out: dict = {}
        fit = self.fits.get("diffsim")
        if fit is None or not fit.prepared:
            return out
        r = fit.r_grid
        out["r"] = r
        out["g_target"] = np.atleast_2d(fit.g_targets[0])
        if self.preview_result is not None:
            out["g_diffsim"] = np.atleast_2d(self.preview_result["g"][0])
        for m, f in self.fits.items():
            if f.last_rdf and f"g_{m}" not in out:
                out[f"g_{m}"] = np.atleast_2d(f.last_rdf[0])
        r_u = np.linspace(0.8 * r[-1] / 2.5, fit.r_cutoff, 200)
        out["r_u"] = r_u
        n_species = fit.n_species
        if self.reference is not None:
            out["u_reference"] = self.reference.curve(r_u, n_species=n_species)
        # where the sliders go: the fit's answer (the mean once converged), or a slider's
        out["params_diffsim"] = fit.params if self.preview_result else fit.fitted_params()
        out["convergence"] = fit.convergence()
        for m, f in self.fits.items():
            out[f"u_{m}"] = f.pair_potential(f.params).curve(r_u, n_species=n_species)
            out[f"history_{m}"] = {"iteration": np.arange(1, len(f.history["loss"]) + 1),
                                   "error": np.asarray(f.history["rdf_error"]),
                                   "time": np.cumsum(f.history["wall_time"])}
        return out


def _window(sampled: int, stride: int) -> int:
    """The truncation window for ``sampled`` steps: all of them up to 120 (a multiple of
    ``stride``; the fit differentiates through as many whole windows as fit). The tangents of
    a longer window grow with the dynamics' chaos (a 570-step window gave d g / d theta ~ 1e5
    at rho* 0.7), which stalls Gauss-Newton."""
    return max(stride, min(sampled, 120) // stride * stride)


def _same(a: dict, b: dict | None) -> bool:
    return b is not None and a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k]) for k in a)


_TARGETS: dict[tuple, TargetRDF] = {}  # reference targets made in this process


def _reference_target(system: str, temperature: float, density: float, n_atoms: int,
                      n_steps: int, equilibration: int, potential: PairPotential | None,
                      job: FunctionJob) -> TargetRDF:
    """A reference target, made once per process and settings (sessions share it); ``job``
    gets the progress in steps and may stop the simulation (``RuntimeError``)."""
    key = (system, temperature, density, n_atoms, n_steps, equilibration,
           str(potential.to_dict()) if potential else None)
    if key not in _TARGETS:
        kwargs = {"n_atoms": n_atoms, "density": density}
        if potential is not None:
            kwargs["potential"] = potential
        _TARGETS[key] = target_from_reference_system(
            system, temperature=temperature, n_steps=n_steps, equilibration=equilibration,
            stride=50, system_kwargs=kwargs, r_max=2.5, n_bins=100, progress=job.report,
            stop_requested=lambda: job.stop_requested)
    return _TARGETS[key]
