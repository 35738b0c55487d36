"""The jitted pieces of training: predictions for a batch, the weighted energy and force loss,
the optimiser, and one training step with an exponential moving average of the weights.

Loss (MDsim, Fu et al., "Forces are not enough", TMLR 2023, trained with the OCP trainer):
``energy_weight * MSE(E) + force_weight * MSE(F)``, the energy term over frames (eV^2) and the
force term over every force component (eV^2/Å^2), each a weighted mean over the batch's frames
(padding frames have weight 0 and change nothing). Optimiser: optax Adam after gradient
clipping by global norm, with a linear warm-up from ``warmup_factor * learning_rate`` over
``warmup_steps`` steps (the OCP / MDsim warm-up); a reduce-on-plateau scale
(``optax.contrib.reduce_on_plateau``, stepped once per epoch on the validation force MAE by
the training job) multiplies the updates, passed to the step as an argument so changing it
does not recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from kernels.mlff.graph import Edges
from workbench.mlff.batches import Batch

__all__ = ["TrainState", "batch_errors", "make_optimizer", "make_predict", "make_train_step",
           "zero_sums"]


def make_optimizer(learning_rate: float, warmup_steps: int, warmup_factor: float,
                   clip_norm: float) -> optax.GradientTransformation:
    """Adam with gradient clipping and a linear warm-up (module docstring); learning rate in
    the units of the loss's gradient (eV^2 per parameter unit)."""
    schedule = optax.linear_schedule(learning_rate * warmup_factor, learning_rate,
                                     max(int(warmup_steps), 1))
    parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
    return optax.chain(*parts, optax.adam(schedule))


def make_predict(model: Any, species: Any, periodic: bool) -> Callable:
    """``predict(params, batch) -> (energies [B] eV, forces [B, n_atoms, 3] eV/Å)`` for
    ``model`` (a ``kernels.mlff.model.MLFFModel``) and ``species`` (``[n_atoms]`` int32
    indices into the model's species)."""
    species = jnp.asarray(species, jnp.int32)

    def frame(params, R, senders, receivers, box):
        e, g = jax.value_and_grad(model.energy_fn, argnums=1)(
            params, R, Edges(senders, receivers), species, box)
        return e, -g

    def predict(params, batch: Batch):
        if periodic:
            return jax.vmap(frame, (None, 0, 0, 0, 0))(
                params, batch.positions, batch.senders, batch.receivers, batch.box)
        return jax.vmap(lambda p, R, s, r: frame(p, R, s, r, None), (None, 0, 0, 0))(
            params, batch.positions, batch.senders, batch.receivers)

    return predict


def batch_errors(energies, forces, batch: Batch) -> dict[str, Any]:
    """Weighted sums over a batch: ``n`` (frames), ``e_sq``, ``e_abs`` (eV^2, eV),
    ``f_sq``, ``f_abs`` (per-frame means over components, eV^2/Å^2, eV/Å)."""
    w = batch.weights
    de = energies - batch.energies
    df = forces - batch.forces
    return {"n": jnp.sum(w), "e_sq": jnp.sum(w * de ** 2), "e_abs": jnp.sum(w * jnp.abs(de)),
            "f_sq": jnp.sum(w * jnp.mean(df ** 2, axis=(1, 2))),
            "f_abs": jnp.sum(w * jnp.mean(jnp.abs(df), axis=(1, 2)))}


def make_loss(predict: Callable, energy_weight: float, force_weight: float) -> Callable:
    """``loss(params, batch) -> (loss, batch_errors)`` (module docstring)."""

    def loss(params, batch):
        sums = batch_errors(*predict(params, batch), batch)
        n = jnp.maximum(sums["n"], 1.0)
        return energy_weight * sums["e_sq"] / n + force_weight * sums["f_sq"] / n, sums

    return loss


class TrainState(NamedTuple):
    """What one training step carries: ``params``, ``opt_state``, ``ema`` (averaged weights),
    ``step`` (int32 count of steps taken) and ``sums`` (``batch_errors`` keys plus ``loss``,
    accumulated over the current epoch, float32)."""

    params: Any
    opt_state: Any
    ema: Any
    step: Any
    sums: Any


def zero_sums() -> dict[str, Any]:
    """Empty epoch accumulators for ``TrainState.sums``."""
    return {k: jnp.zeros((), jnp.float32) for k in ("n", "loss", "e_sq", "e_abs", "f_sq",
                                                    "f_abs")}


def make_train_step(predict: Callable, optimizer: optax.GradientTransformation,
                    energy_weight: float, force_weight: float, ema_decay: float) -> Callable:
    """Jitted ``step(state, batch, lr_scale) -> (state, loss)``: one optimiser step on
    ``batch`` (a ``TrainState`` in and out), updates times ``lr_scale`` (``[]`` float32), the
    batch's errors added to ``state.sums``, and ``ema <- d * ema + (1 - d) * params`` with
    ``d = min(ema_decay, (1 + step) / (10 + step))``, the warm-up of the average in torch_ema
    (``use_num_updates``), which MDsim's OCP trainer uses, so early averages do not cling to
    the initial weights. Everything stays on the device: no host round trip per step."""
    loss_fn = make_loss(predict, energy_weight, force_weight)

    @jax.jit
    def step(state: TrainState, batch: Batch, lr_scale):
        params = state.params
        (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        updates = jax.tree.map(lambda u: (u * lr_scale).astype(u.dtype), updates)
        params = optax.apply_updates(params, updates)
        t = state.step.astype(jnp.float32)
        d = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))
        ema = jax.tree.map(lambda a, p: (d * a + (1.0 - d) * p).astype(a.dtype), state.ema,
                           params)
        sums = {**sums, "loss": loss * sums["n"]}
        total = {k: state.sums[k] + sums[k].astype(jnp.float32) for k in state.sums}
        return TrainState(params, opt_state, ema, state.step + 1, total), loss

    return step
