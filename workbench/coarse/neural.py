"""Force matching with a neural pair term (issue 15, item 4): ``NeuralForceMatching`` fits a
``kernels.learned_pair.NeuralPair`` (a repulsive prior ``eps_p (sigma_p / r)^12`` plus an MLP
switched off at the cutoff, the DiffSim family) together with the bonded terms to mapped forces
by Adam (optax), on the same inputs, split and bonded terms as ``ForceMatching``
(``kernels.cg.neural_fm``). The bonded coefficients start from their linear least-squares fit
without a pair term; the weights of the epoch with the lowest validation force error are kept.

The result is a ``CGPotential`` like any other: the network is tabulated onto a cubic spline of
its force (``ForceSplinePair``, ``n_table`` knots from 0.85 of the closest sampled distance,
where the repulsive prior holds the network, to the cutoff), so CG MD, comparisons, saving and
reloading work unchanged and run at spline speed; ``metrics`` give the network's force RMSE and
the table's (they agree to the spline's error).

    nfm = NeuralForceMatching(r_cutoff=6.0, epochs=100)
    cg = nfm.fit_mapped(mapping, positions, forces, box=box, units="ase", progress=print)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import param
from jax_md import space

from kernels.cg.force_matching import cg_force_design
from kernels.cg.neural_fm import force_loss
from kernels.learned_pair import ForceSplinePair, NeuralPair, n_pairs
from workbench.cg_potential import CGPotential
from workbench.coarse.force_matching import (
    ForceMatching,
    frame_pairs,
    solve_normal,
    warn_if_noise,
)

__all__ = ["NeuralForceMatching"]

TABLE_START = 0.85  # the table starts at this fraction of the closest sampled distance


class NeuralForceMatching(ForceMatching):
    """Settings of a force-matching fit with a neural pair term (module docstring); ``fit``
    and ``fit_mapped`` as ``ForceMatching``, plus ``progress(epoch, epochs)``."""

    hidden = param.List(default=[32, 32], item_type=int, doc="Hidden layer widths of the MLP.")
    n_basis = param.Integer(default=32, bounds=(2, None), doc="Gaussians on [0, r_cutoff].")
    prior_sigma = param.Number(default=None, allow_None=True, bounds=(0, None),
                               inclusive_bounds=(False, True),
                               doc="sigma_p of the repulsive prior (length); None: 0.8 of the "
                                   "closest sampled non-bonded distance.")
    prior_epsilon = param.Number(default=1.0, bounds=(0, None),
                                 doc="eps_p of the repulsive prior (energy units).")
    learning_rate = param.Number(default=1e-2, bounds=(0, None), inclusive_bounds=(False, True),
                                 doc="Adam learning rate.")
    epochs = param.Integer(default=100, bounds=(1, None), doc="Passes over the training "
                                                              "frames.")
    batch_size = param.Integer(default=4, bounds=(1, None), doc="Frames per Adam step.")
    seed = param.Integer(default=0, doc="Seed of the weights and the batches.")
    n_table = param.Integer(default=200, bounds=(4, None),
                            doc="Knots of the force table the network is tabulated onto.")

    def fit(self, positions: np.ndarray, forces: np.ndarray, bead_names: Sequence[str], *,
            bonds: np.ndarray | None = None, box: np.ndarray | None = None,
            units: str = "reduced", progress: Callable[[int, int], None] | None = None
            ) -> CGPotential:
        """As ``ForceMatching.fit`` (same arguments, checks and metrics), the pair term a
        tabulated neural pair potential; ``progress(epoch, epochs)`` after every epoch.

        Raises:
          ValueError: as ``ForceMatching.fit``, or ``pair=False`` (nothing neural to fit).
        """
        if not self.pair:
            raise ValueError("a neural pair term needs pair=True (use ForceMatching for "
                             "bonded terms alone)")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden layer widths must be at least 1, got {self.hidden}")
        R, F, box, n_train = self.checked(positions, forces, bead_names, bonds, box, units)
        pairs = frame_pairs(R, self.r_cutoff, box)
        model, names, term_names = self.model(R[:n_train], bead_names, bonds, box,
                                              pairs[:n_train])
        disp = space.free()[0] if box is None else space.periodic(jnp.asarray(box))[0]
        G, free, unravel = _bonded_design(disp, model, R, pairs)
        r_min = model.pair.r_min
        net = NeuralPair(float(self.r_cutoff), int(self.n_basis), tuple(self.hidden),
                         float(self.prior_sigma or 0.8 * r_min), float(self.prior_epsilon))
        params = {"c": _least_squares(G[:n_train], F[:n_train], free, self.ridge),
                  "nn": net.init_params(jax.random.PRNGKey(self.seed), len(names),
                                        dtype=jnp.float64)}
        data = [jnp.asarray(x) for x in (R, F, pairs, G)]
        loss = force_loss(disp, model, net)
        params, history = _train(loss, params, data, jnp.asarray(free), n_train, self,
                                 progress)
        r_table = TABLE_START * r_min  # the prior holds the network a little inside the data
        table = _tabulate(net, params["nn"], r_table, float(self.r_cutoff), int(self.n_table),
                          len(names))
        coefficients = {k: np.asarray(v, np.float64) for k, v in
                        unravel(params["c"] * free).items()}
        coefficients["pair"] = table
        cg = CGPotential(replace(model, pair=ForceSplinePair(r_table, float(self.r_cutoff),
                                                             int(self.n_table))),
                         coefficients, names, term_names, units)
        metrics = {"n_frames_train": n_train, "n_frames_validation": len(R) - n_train,
                   "epochs": len(history), "best_epoch": int(np.argmin(
                       [h["validation" if len(R) > n_train else "train"] for h in history])) + 1,
                   "curves": history}
        for part, sl in (("train", slice(0, n_train)), ("validation", slice(n_train, None))):
            if len(R[sl]):
                args = [x[sl] for x in data]
                metrics[f"rmse_{part}"] = float(np.sqrt(loss(params, *args, jnp.asarray(free))))
                metrics[f"rmse_{part}_table"] = _table_rmse(cg, disp, *args)
                metrics[f"rmse_zero_{part}"] = float(np.sqrt(np.mean(F[sl] ** 2)))
        warn_if_noise(metrics)
        return replace(cg, metrics=metrics)


def _bonded_design(disp, model, R: np.ndarray, pairs: np.ndarray):
    """``(G [n_frames, 3 n_beads, n_bonded], free [n_bonded], unravel)`` of the bonded terms
    (one zero column when there are none)."""
    bonded = replace(model, pair=None)
    coeffs = bonded.zero_coefficients(jnp.float64)
    if not coeffs:
        return (np.zeros((len(R), R[0].size, 1)), np.zeros(1),
                lambda c: {})
    design_fn, unravel = cg_force_design(disp, bonded, jnp.float64)
    design = jax.jit(jax.vmap(design_fn))
    G = np.concatenate([np.asarray(design(jnp.asarray(R[i:i + 256]),
                                          jnp.asarray(pairs[i:i + 256])))
                        for i in range(0, len(R), 256)])
    fixed = np.concatenate([bonded.fixed_coefficients()[k].ravel() for k in sorted(coeffs)])
    return G, (~fixed).astype(np.float64), unravel


def _least_squares(G: np.ndarray, F: np.ndarray, free: np.ndarray, ridge: float) -> np.ndarray:
    """The bonded coefficients that best fit ``F`` alone (the neural term's starting point)."""
    return solve_normal(np.einsum("frk,frl->kl", G, G),
                        np.einsum("frk,fr->k", G, F.reshape(len(F), -1)), free > 0, ridge)


def _train(loss, params, data, free, n_train: int, settings: NeuralForceMatching,
           progress) -> tuple[dict, list[dict]]:
    """Adam over shuffled training batches (seeded); the parameters of the epoch with the
    lowest validation loss (training loss without a validation split) and the per-epoch RMSEs."""
    optimizer = optax.adam(settings.learning_rate)
    grad = jax.value_and_grad(loss)

    @jax.jit
    def step(params, opt_state, *batch):
        value, g = grad(params, *batch, free)
        updates, opt_state = optimizer.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    evaluate = jax.jit(lambda p, *xs: loss(p, *xs, free))
    train = [x[:n_train] for x in data]
    val = [x[n_train:] for x in data]
    size = min(settings.batch_size, n_train)
    opt_state, best, best_value, history = optimizer.init(params), params, np.inf, []
    for epoch in range(settings.epochs):
        order = np.random.default_rng([settings.seed, epoch]).permutation(n_train)
        for k in range(0, n_train - size + 1, size):
            idx = jnp.asarray(order[k:k + size])
            params, opt_state, _ = step(params, opt_state, *[x[idx] for x in train])
        row = {"epoch": epoch + 1, "train": float(np.sqrt(evaluate(params, *train)))}
        if len(val[0]):
            row["validation"] = float(np.sqrt(evaluate(params, *val)))
        history.append(row)
        value = row.get("validation", row["train"])
        if value < best_value:
            best, best_value = params, value
        if progress is not None:
            progress(epoch + 1, settings.epochs)
    return best, history


def _tabulate(net: NeuralPair, nn: dict, r_min: float, r_cutoff: float, n_table: int,
              n_types: int) -> np.ndarray:
    """``[n_pairs, n_table]`` knot forces ``-du/dr`` of the network on the table's knots."""
    knots = jnp.linspace(r_min, r_cutoff, n_table)
    rows = []
    for p in range(n_pairs(n_types)):
        du = jax.vmap(jax.grad(lambda r, p=p: net.pair_fn(nn)(r, p)))(knots)
        rows.append(-np.asarray(du))
    return np.stack(rows)


def _table_rmse(cg: CGPotential, disp, R, F, pairs, G) -> float:
    """Force RMSE (per component) of the tabulated potential on frames ``R, F``."""
    energy = cg.energy_fn(disp)
    forces = jax.jit(jax.vmap(jax.grad(lambda x, p: -energy(x, p))))(R, pairs)
    return float(np.sqrt(np.mean((np.asarray(forces) - np.asarray(F)) ** 2)))

