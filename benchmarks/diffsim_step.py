"""Cost of a DiffSim gradient step, and the memory checkpointing saves, measured in one run.

1. Time: one gradient step (``jax.value_and_grad`` of ``kernels.diffsim`` loss) for 256 LJ
   atoms and a 120-step window (DiffSim's setting), against a plain forward run of the same
   120 steps (``md_steps_fn``, no g(r)) and against the loss's forward pass (steps + g(r)
   frames). Ratios printed.
2. Memory: peak temporary memory of the compiled gradient for 1,000 steps with full
   backpropagation against ``gradient="checkpoint"`` (XLA's ``memory_analysis()`` of the
   compiled executable: ``temp_size_in_bytes``, the scratch buffers of the whole program).
   The issue requires checkpointing to cut it at least 4-fold.
3. mdgrad's setting (issue 11, item 6): one DiffSim epoch of 256 particles, 120 steps,
   Nose-Hoover chain, a neural pair potential of mdgrad's size (``NeuralPair``: 50 Gaussians,
   four hidden layers of 128, 56,193 parameters, with its r^-12 prior, evaluated on 256 knots
   and splined: ``table_knots``, as the fits use it), g(r) loss, full backpropagation: time
   and peak temporaries of the gradient against plain forward MD of the same steps with the
   same potential. Target: the gradient within 4x the forward MD.

LJ fluid at rho* = 0.7, T* = 1.2, cutoff 2.5 sigma, Langevin (BAOAB) dt = 0.005 tau, g(r) on
100 bins to 2.5 sigma every ``stride`` steps, from the neighbour list's pairs (its cutoff
reaches the g(r) grid's Gaussian tails, as in ``workbench.fit.points``). Compilation is not timed.

    python benchmarks/diffsim_step.py
    python benchmarks/diffsim_step.py --atoms 256 --window 120 --memory-steps 1000 --float64
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
from jax_md import space

from benchmarks.checks import checked, load_average, machine
from benchmarks.peers import best_time
from kernels import diffsim
from kernels import potentials as pot
from kernels.learned_pair import NeuralPair, model_energy_neighbor_list
from kernels.precision import float_dtype
from workbench.builders import fcc_positions

RHO, KT, RC = 0.7, 1.2, 2.5
LIST_CUTOFF = RC + 6 * RC / 100  # as workbench.fit.points: the list also serves g(r)'s tails


def _system(n_atoms: int, dtype):
    box = (n_atoms / RHO) ** (1 / 3)
    disp, shift = space.periodic(box)
    nf, ef = pot.pair_energy_neighbor_list(disp, box, pot.lennard_jones, RC,
                                           list_cutoff=LIST_CUTOFF)
    R = jnp.asarray(fcc_positions(n_atoms, box), dtype)
    params = {"sigma": jnp.asarray(1.0, dtype), "epsilon": jnp.asarray(1.0, dtype)}
    return box, disp, shift, nf, ef, R, params


def _loss(n_atoms: int, n_steps: int, stride: int, gradient: str, dtype, **kw):
    box, disp, shift, nf, ef, R, params = _system(n_atoms, dtype)
    init, loss = diffsim.diffsim_loss(ef, shift, disp, nf, box_volume=box**3, r_max=RC,
                                      n_bins=100, n_steps=n_steps, stride=stride,
                                      gradient=gradient, neighbor_cutoff=LIST_CUTOFF, **kw)
    state = init(jax.random.PRNGKey(0), R, params, kT=KT, extra_capacity=16)
    run = jax.jit(diffsim.md_steps_fn(ef, shift), static_argnums=2)
    state = run(params, state, 1000, KT)  # melt the lattice
    g_target = jnp.ones(100, dtype)
    return loss, state, params, g_target, run


def timing(n_atoms: int, window: int, stride: int, dtype) -> None:
    loss, state, params, g_target, run = _loss(n_atoms, window, stride, "full", dtype)
    objective = lambda p, s: loss(p, s, kT=KT, g_target=g_target)
    grad_fn = jax.jit(jax.value_and_grad(objective, has_aux=True))
    fwd_fn = jax.jit(objective)
    jax.block_until_ready(grad_fn(params, state))
    jax.block_until_ready(fwd_fn(params, state))
    jax.block_until_ready(run(params, state, window, KT))
    t_grad = best_time(lambda: jax.block_until_ready(grad_fn(params, state)))
    t_loss = best_time(lambda: jax.block_until_ready(fwd_fn(params, state)))
    t_md = best_time(lambda: jax.block_until_ready(run(params, state, window, KT)))
    frames = window // stride
    print(f"\nGradient step: {n_atoms} atoms, {window} steps, g(r) every {stride} steps "
          f"({frames} frames)")
    print(f"  {'':<34}{'time (ms)':>12}{'vs plain MD':>13}")
    for name, t in (("plain forward MD (no g(r))", t_md), ("loss forward (MD + g(r))", t_loss),
                    ("gradient step (value_and_grad)", t_grad)):
        checked(f"{name}, per second", 1.0 / t)
        print(f"  {name:<34}{1e3 * t:>12.1f}{t / t_md:>13.1f}")
    print(f"  gradient / loss forward: {t_grad / t_loss:.1f}")


def memory(n_atoms: int, n_steps: int, stride: int, checkpoint_every: int | None,
           dtype) -> None:
    rows = {}
    for mode in ("full", "checkpoint"):
        loss, state, params, g_target, _ = _loss(n_atoms, n_steps, stride, mode, dtype,
                                                 checkpoint_every=checkpoint_every)
        objective = lambda p, s, loss=loss, g=g_target: loss(p, s, kT=KT, g_target=g)
        t0 = time.perf_counter()
        compiled = jax.jit(jax.value_and_grad(objective, has_aux=True)).lower(
            params, state).compile()
        stats = compiled.memory_analysis()
        compile_s = time.perf_counter() - t0
        t_run = best_time(lambda c=compiled, p=params, s=state: jax.block_until_ready(c(p, s)),
                      repeats=1)
        rows[mode] = (stats.temp_size_in_bytes, stats.argument_size_in_bytes, compile_s, t_run)
    print(f"\nPeak memory of the gradient: {n_atoms} atoms, {n_steps} steps, g(r) every "
          f"{stride} steps (XLA memory_analysis, temporaries)")
    print(f"  {'mode':<12}{'temp (MiB)':>12}{'args (MiB)':>12}{'compile (s)':>13}{'run (s)':>10}")
    for mode, (temp, args, c, t) in rows.items():
        print(f"  {mode:<12}{temp / 2**20:>12.1f}{args / 2**20:>12.2f}{c:>13.1f}{t:>10.2f}")
    ratio = rows["full"][0] / max(1, rows["checkpoint"][0])
    print(f"  full / checkpoint peak temporaries: {ratio:.1f}x "
          f"({'meets' if ratio >= 4 else 'MISSES'} the 4x target)")


def mdgrad_epoch(n_atoms: int, n_steps: int, stride: int, gradient: str, dtype) -> None:
    """Section 3 of the module docstring."""
    box = (n_atoms / RHO) ** (1 / 3)
    disp, shift = space.periodic(box)
    model = NeuralPair(r_cutoff=RC, n_basis=50, hidden=(128, 128, 128, 128), table_knots=256)
    nf, ef = model_energy_neighbor_list(disp, box, model, RC, list_cutoff=LIST_CUTOFF)
    params = {"params": model.init_params(jax.random.PRNGKey(0), dtype=dtype)}  # energy kwargs
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
    md = {"integrator": "nose_hoover", "dt": 0.005}
    init, loss = diffsim.diffsim_loss(ef, shift, disp, nf, box_volume=box**3, r_max=RC,
                                      n_bins=100, n_steps=n_steps, stride=stride,
                                      gradient=gradient, neighbor_cutoff=LIST_CUTOFF, **md)
    run = jax.jit(diffsim.md_steps_fn(ef, shift, **md), static_argnums=2)
    state = init(jax.random.PRNGKey(0), jnp.asarray(fcc_positions(n_atoms, box), dtype), params,
                 kT=KT, extra_capacity=16)
    state = run(params, state, 1000, KT)  # melt the lattice
    g_target = jnp.ones(100, dtype)
    objective = lambda p, st: loss(p, st, kT=KT, g_target=g_target)  # noqa: E731
    grad_c = jax.jit(jax.value_and_grad(objective, has_aux=True)).lower(params, state).compile()
    md_c = jax.jit(run, static_argnums=2).lower(params, state, n_steps, KT).compile()
    t_grad = best_time(lambda: jax.block_until_ready(grad_c(params, state)))
    t_md = best_time(lambda: jax.block_until_ready(md_c(params, state, KT)))
    print(f"\nmdgrad's epoch: {n_atoms} atoms, {n_steps} steps, Nose-Hoover chain, neural pair "
          f"potential of {n_params:,} parameters, g(r) every {stride} steps, full backprop")
    print(f"  {'':<34}{'time (ms)':>12}{'temp (MiB)':>12}")
    for name, t, c in (("plain forward MD", t_md, md_c), ("gradient step", t_grad, grad_c)):
        checked(f"{name}, per second", 1.0 / t)
        print(f"  {name:<34}{1e3 * t:>12.1f}"
              f"{c.memory_analysis().temp_size_in_bytes / 2**20:>12.1f}")
    ratio = t_grad / t_md
    print(f"  gradient / forward MD: {ratio:.1f}x ({'meets' if ratio <= 4 else 'MISSES'} the "
          "4x target)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--window", type=int, default=120, help="steps per gradient window")
    p.add_argument("--stride", type=int, default=5, help="steps between g(r) frames")
    p.add_argument("--memory-steps", type=int, default=1000)
    p.add_argument("--memory-stride", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps per checkpointed chunk (default ~sqrt(steps))")
    p.add_argument("--float64", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    # 64-bit mode is on from `import workbench` (start-up); each run's arrays carry its dtype
    dtype = float_dtype("float64" if args.float64 else "float32")
    print(f"{machine()}; {'float64' if args.float64 else 'float32'}")
    timing(args.atoms, args.window, args.stride, dtype)
    if not args.skip_memory:
        memory(args.atoms, args.memory_steps, args.memory_stride, args.checkpoint_every, dtype)
    mdgrad_epoch(args.atoms, args.window, args.stride, "full", dtype)
    print(f"\nafter the run: {load_average()}")


if __name__ == "__main__":
    main()
