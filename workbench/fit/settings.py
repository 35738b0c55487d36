"""``FitSettings``: everything a potential fit is configured by, as typed, bounded, documented
``param`` parameters: the targets, the potential family and its starting parameters, the boxes
and dynamics of the state points, the loss, and the optimiser. ``config()`` is the JSON a fit
run records; ``check()`` rejects set-ups the fit cannot build.

Units: reduced LJ units for the boxes the workbench builds: lengths in sigma, ``timestep`` in
tau, ``friction`` in 1/tau, temperatures as T*. Targets in ASE units (Å, K) are converted by
``PotentialFit`` with ``reduced_units`` (``workbench.units.ReducedUnits``; default: from the
first target, ``TargetRDF.default_reduced_units``), which the run records; the settings above
are then in those reduced units.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import param

from kernels import diffsim
from kernels import potentials as pot
from kernels.integrators import INTEGRATORS
from kernels.precision import float_dtype
from workbench.potential import LEARNED, PRIOR_KEYS
from workbench.targets import TargetRDF

#: Gauss-Newton solves a dense system in the parameters: a few analytic ones
MAX_GAUSS_NEWTON_PARAMS = 64


class FitSettings(param.Parameterized):
    """The configuration of a ``PotentialFit`` (module docstring)."""

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
    neural_table_knots = param.Integer(
        default=256, bounds=(0, None),
        doc="The network is evaluated at this many knots on [0, r_cutoff] and splined to the "
            "pair distances (kernels.learned_pair.NeuralPair.table_knots: some 30x faster MD "
            "and a gradient that fits in memory); 0: run it on every pair.")
    neural_prior = param.Dict(
        default={"prior_sigma": 0.9, "prior_epsilon": 1.0, "prior_power": 12.0},
        doc="The network's repulsive prior eps_p (sigma_p / r)^n (kernels.learned_pair."
            "NeuralPair): 'prior_sigma' (length units), 'prior_epsilon' (energy units), "
            "'prior_power' n; in Å and eV for targets in ASE units.")
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
    melt_factor = param.Number(default=2.0, bounds=(1.0, 10.0),
                               doc="Before equilibrating, a start runs ``equilibration`` steps "
                               "at this multiple of the temperature, so that the fcc lattice it "
                               "starts from melts even at dense liquid states (1: no melting).")
    steps_per_iteration = param.Integer(default=240, bounds=(1, None),
                                        doc="MD steps per iteration (skip_steps included).")
    skip_steps = param.Integer(default=0, bounds=(0, None),
                               doc="Unsampled steps at the start of each iteration.")
    stride = param.Integer(default=5, bounds=(1, None), doc="Steps between g(r) frames.")
    window = param.Integer(default=120, bounds=(1, None),
                           doc="Steps per truncation window ('truncated'). Much longer "
                           "windows make d g / d theta grow with the dynamics' chaos (~1e5 "
                           "after 570 steps of LJ at rho* 0.7), which stalls Gauss-Newton.")
    grad_steps = param.Integer(default=None, allow_None=True, bounds=(1, None),
                               doc="'truncated': sampled steps per iteration that carry "
                               "gradient (a multiple of window; the rest only add frames). "
                               "Default: as many whole windows as fit.")
    checkpoint_every = param.Integer(default=None, allow_None=True, bounds=(1, None),
                                     doc="Steps per checkpointed chunk ('checkpoint').")
    r_max = param.Number(default=None, allow_None=True, bounds=(0, None),
                         doc="Largest r of the compared g(r) (default: half the box, at most "
                         "the target's range).")
    n_bins = param.Integer(default=100, bounds=(2, None), doc="Bins of the compared g(r).")
    rdf_sigma = param.Number(default=None, allow_None=True, bounds=(0, None),
                             doc="g(r) smearing (length units; default the target's, else one "
                             "bin).")
    optimizer = param.Selector(
        default="auto", objects=["auto", "adam", "gauss_newton"],
        doc="DiffSim step: optax Adam, or Gauss-Newton (Levenberg-Marquardt) with the Jacobian "
            "of g through the simulation, which follows the valley of weakly determined "
            "parameter combinations (workbench.fit.optimizers). 'auto': Gauss-Newton for an "
            "analytic family of at most 64 fitted parameters, Adam for a spline or network.")
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
    plateau_patience = param.Integer(default=3, bounds=(0, None),
                                     doc="Checks (each of plateau_accumulation iterations) "
                                     "without improvement before Adam's learning rate drops.")
    plateau_factor = param.Number(default=0.5, bounds=(0, 1), doc="Learning-rate drop factor.")
    plateau_accumulation = param.Integer(
        default=5, bounds=(1, None),
        doc="Iterations whose mean loss one plateau check compares: one iteration's loss "
            "scatters with its sampling noise, and checked alone it halved the rate every "
            "few iterations (0.008 of it after 80 iterations of a water fit).")
    plateau_min_scale = param.Number(default=0.05, bounds=(0, 1),
                                     doc="The smallest factor the plateau schedule takes the "
                                     "learning rate to.")
    ibi_alpha = param.Number(default=1.0, bounds=(0, 1), doc="IBI damping.")
    ibi_smooth = param.Integer(default=1, bounds=(0, None), doc="IBI update smoothing passes.")
    ibi_g_floor = param.Number(default=1e-2, bounds=(0, None),
                               doc="g below this is 'no data' for IBI.")
    average_last = param.Integer(default=None, allow_None=True, bounds=(1, None),
                                 doc="fitted_params() averages the parameters of this many "
                                 "last iterations. None: of the converged iterations "
                                 "(workbench.fit.convergence) of an analytic DiffSim fit, "
                                 "else the current parameters.")
    tolerance = param.Number(default=0.005, bounds=(0, None),
                             doc="An analytic DiffSim fit stops once it has converged and the "
                             "standard error of every fitted parameter is below this "
                             "(relative for positive parameters); 0: it runs every iteration "
                             "asked for.")
    eval_iterations = param.Integer(default=4, bounds=(1, None),
                                    doc="Iterations' worth of steps sampled by evaluate().")
    max_temperature_factor = param.Number(default=5.0, bounds=(1, None),
                                          doc="Stop when a frame's temperature exceeds this "
                                          "times the target.")
    reduced_units = param.Dict(default=None, allow_None=True,
                               doc="For targets in ASE units: {'length': Å, 'energy': eV, "
                               "'mass': amu} that are 1 in the fit's reduced units (None: "
                               "from the first target); set by PotentialFit, recorded.")
    seed = param.Integer(default=0, doc="Seed for lattice, velocities and thermostat noise.")
    precision = param.Selector(default="float32", objects=["float32", "float64"])

    @property
    def dtype(self):
        """The fit's JAX float type (``PrecisionError`` for float64 while JAX's 64-bit mode is
        off: ``kernels.precision``)."""
        return jnp.dtype(float_dtype(self.precision))

    @property
    def n_species(self) -> int:
        return self.targets[0].n_species

    @property
    def gauss_newton(self) -> bool:
        """True when DiffSim takes Gauss-Newton steps (``optimizer``, 'auto' resolved)."""
        if self.method != "diffsim" or self.optimizer == "adam":
            return False
        names = self.fit_params or ([] if self.learned else
                                    pot.get_family(self.family).param_names)
        return self.optimizer == "gauss_newton" or (
            not self.learned and len(names) <= MAX_GAUSS_NEWTON_PARAMS)

    @property
    def learned(self) -> bool:
        """True for a spline table or a network, False for an analytic family."""
        return self.family in LEARNED

    def check(self) -> None:
        """``ValueError`` / ``NotImplementedError`` for a set-up the fit cannot build."""
        if not self.targets:
            raise ValueError("the fit needs at least one target RDF")
        if any(t.units != "lj" for t in self.targets):
            raise ValueError("fits build their boxes in reduced LJ units: convert the target "
                             "(TargetRDF.in_reduced_units), or give it to PotentialFit, which "
                             "converts targets in ASE units")
        if any(t.n_species != self.n_species for t in self.targets):
            raise ValueError("every target must have the same species")
        if self.n_species > 2:
            raise NotImplementedError("fits build one- and two-species boxes only")
        if self.n_species > 1 and any(not t.species_pairs for t in self.targets):
            raise ValueError("a mixture target needs partial RDFs (species_pairs)")
        unknown = set(self.neural_prior) - set(PRIOR_KEYS)
        if unknown:
            raise ValueError(f"neural_prior takes {list(PRIOR_KEYS)}, not {sorted(unknown)}")
        if self.method == "ibi" and self.family != "spline":
            raise ValueError("IBI updates a tabulated potential: use family='spline'")

    def settings(self) -> dict:
        """Every setting but the targets and the starting parameters (JSON-ready)."""
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    @property
    def first_knot(self) -> float:
        """The spline's first knot (length units): ``spline_r_min``, or 0.1 inside the first r
        where a row of the first target's g exceeds 0.01 (at least 0.05)."""
        if self.spline_r_min is not None:
            return self.spline_r_min
        target = self.targets[0]
        first = min(float(target.r[np.argmax(row > 0.01)]) for row in target.g_rows)
        return max(0.05, first - 0.1)

    def config(self) -> dict:
        """JSON-ready configuration: every setting (a spline's resolved first knot) plus the
        targets' state points (their arrays go to the run's ``fit.npz``)."""
        cfg = self.settings()
        if self.family == "spline" and self.targets:
            cfg["spline_r_min"] = self.first_knot
        cfg["initial_params"] = ({k: np.asarray(v).tolist() for k, v in
                                  self.initial_params.items()} if not self.learned else
                                 ("given" if self.initial_params else "default"))
        cfg["targets"] = [t.to_dict() for t in self.targets]
        cfg["units"] = "lj"
        return cfg


#: the settings a fit run records in its config (all but targets and starting parameters)
CONFIG_KEYS = tuple(k for k in FitSettings.param if k not in ("name", "targets",
                                                               "initial_params"))
