"""Training throughput (frames/s) of learned force fields: the workbench's JAX models against the
same architecture and size in PyTorch, on the same data, measured in the same run.

Data (made here, no downloads): ``--frames`` structures of 64 SPC/Fw waters (192 atoms, periodic
12.4 Å box, the workbench's builder) displaced from the minimised box by Gaussian noise of
``--sigma`` Å per coordinate, with energies and forces of the workbench's classical kernel force
field (``ForceField(...).build()``: SPC/Fw with PME, float64). Energies are taken relative to
their mean, so random-weight models start with an O(1) loss.

Loss weights on every side: energy 1, forces 100 (mace-torch's defaults), forces by
differentiating the energy, Adam (lr 1e-3), ``--batch-size`` frames a step; the models start
from random weights. The peers' and the hand step's loss is ``energy_weight * mean(((E -
E_ref) / n_atoms)^2) + force_weight * mean((F - F_ref)^2)``; the workbench's is its own
(``workbench.mlff.step``), which changes ``loss_end`` but not the work of a step.

- ours (what users run, ``our_training``): a ``workbench.mlff.Training`` job on the frames as a
  ``workbench.data.Dataset`` (its split 0.8 / 0.1 / 0.1: 80% of the frames are trained on),
  advanced one optimiser step at a time through its own loop (``irun``, ``chunk_seconds=0``);
  a block's frames/s is the job's own count behind ``train_frames_per_s`` (compiling step,
  validations and checkpoints excluded). That includes the job's per-step host batching
  (``workbench.mlff.batches``) and its warm-up, gradient clipping and EMA.
- ours, hand step (extra row, ``hand_train_step``; ``--no-hand-step`` drops it): the same model
  in a hand-made jitted optax Adam step over ``vmap``-ed frames, edges padded to one count
  and all batches on the device before timing.
- peers (``mlff_peers.py``): mace-torch's ``MACE`` on batches from its own ``AtomicData`` +
  torch_geometric loader, schnetpack's ``SchNet`` on batches from its ``AtomsConverter`` (ASE
  neighbour list); batches built once before timing, then a plain torch loop (forward with
  forces, the same loss, ``backward``, ``torch.optim.Adam``): what both libraries' trainers do
  per step, without their logging, validation and checkpointing.

Each engine runs in its own process (its peak memory, ``getrusage`` maxrss, is its own), warms
up untimed, then the engines take turns: ``--rounds`` blocks of at least ``--seconds`` of whole
steps each, the order reversed every round. Prints frames/s (median, best), ours / peer, the
peak memory of each process and the load average. Issue 12's target: at least parity.

Install and run (the peers are heavy and optional; without them our side is still measured):

    pip install -e '.[peers]'                # torch, mace-torch, schnetpack
    python benchmarks/mlff_train.py          # schnet and mace
    python benchmarks/mlff_train.py --arch schnet --batch-size 8 --rounds 5
    python benchmarks/mlff_train.py --peers-python /path/peers-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # after PYTHONPATH

import numpy as np
from checks import load_average
from mlff_common import (
    HERE,
    PEERS_INSTALL,
    Worker,
    count_parameters,
    find_peers_python,
    hyper_overrides,
    interleave,
    mean_neighbours,
    our_architecture,
    peer_hyperparameters,
    species_of,
    worker_env,
    write_json,
)

PEER_ARCHS = ("schnet", "mace")
#: engine rows of the table: ours = the workbench Training job (what users run), hand = the
#: hand-made optax step, peer = the PyTorch library in a plain torch loop
ENGINE_LABELS = {"ours": "ours", "hand": "ours, hand step", "peer": "peer"}
ENERGY_WEIGHT, FORCE_WEIGHT, LEARNING_RATE = 1.0, 100.0, 1e-3


def water_dataset(n_frames: int, sigma: float, seed: int = 0) -> dict[str, np.ndarray]:
    """``{numbers [n], positions [F, n, 3] Å, energy [F] eV (minus their mean), forces
    [F, n, 3] eV/Å, box [3] Å}``: 64 SPC/Fw waters displaced by ``sigma`` Å Gaussian noise,
    labelled by the workbench's classical kernel force field (float64)."""
    import jax
    import jax.numpy as jnp

    from workbench.forcefield import ForceField

    ff = ForceField(builder="water_spcfw", kwargs={"n_molecules": 64})
    mol = ff.molecule()
    ks = ff.build(dtype=jnp.float64)
    box = 10.0 * np.asarray(mol.box, dtype=np.float64)
    R0 = ff.positions()
    rng = np.random.default_rng(seed)
    Rs = np.mod(R0[None] + sigma * rng.standard_normal((n_frames, *R0.shape)), box)
    nbrs = ks.neighbor_fn.allocate(jnp.asarray(R0))
    value_and_grad = jax.jit(jax.value_and_grad(lambda R, nb: ks.energy_fn(R, neighbor=nb)))
    E, F = np.zeros(n_frames), np.zeros_like(Rs)
    for k, R in enumerate(Rs):
        nb = nbrs.update(jnp.asarray(R))
        if bool(nb.did_buffer_overflow):
            nbrs = ks.neighbor_fn.allocate(jnp.asarray(R), extra_capacity=8)
            nb = nbrs.update(jnp.asarray(R))
        e, g = value_and_grad(jnp.asarray(R), nb)
        E[k], F[k] = float(e), -np.asarray(g)
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(F))):
        raise FloatingPointError("the classical force field gave non-finite labels")
    numbers = np.array([a.element.atomic_number for a in mol.topology.atoms()], np.int64)
    return {"numbers": numbers, "positions": Rs, "energy": E - E.mean(), "forces": F,
            "box": box}


def padded_edges(positions: np.ndarray, box: np.ndarray, cutoff: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges within ``cutoff`` of every frame (minimum image), padded with ``n_atoms``
    to the largest count: ``(senders [F, E], receivers [F, E])`` int32."""
    n = positions.shape[1]
    pairs = []
    for R in positions:
        d = R[:, None, :] - R[None, :, :]
        d -= box * np.round(d / box)
        r = np.linalg.norm(d, axis=-1)
        i, j = np.nonzero((r < cutoff) & ~np.eye(n, dtype=bool))
        pairs.append((i, j))
    width = max(len(i) for i, _ in pairs)
    S = np.full((len(pairs), width), n, np.int32)
    Rc = np.full((len(pairs), width), n, np.int32)
    for k, (i, j) in enumerate(pairs):
        S[k, :len(i)], Rc[k, :len(j)] = i, j
    return S, Rc


# --- our side (a worker process) ------------------------------------------------------------


def hand_train_step(model, species, box, n_atoms: int, learning_rate: float):
    """The hand-made training step (the extra row "ours, hand step"): ``(init(params) ->
    opt_state, step(params, opt_state, batch) -> (params, opt_state, loss))``: energy + force
    MSE, optax Adam, jitted, over a batch of ``vmap``-ed frames (``batch``: positions
    [B, n, 3], senders / receivers [B, E], energy [B], forces [B, n, 3]), the batches on the
    device before timing. Kept to show what the workbench ``Training`` costs over it."""
    import jax
    import jax.numpy as jnp
    import optax

    from kernels.mlff.graph import Edges

    opt = optax.adam(learning_rate)

    def frame_loss(params, R, senders, receivers, E_ref, F_ref):
        E, g = jax.value_and_grad(model.energy_fn, argnums=1)(
            params, R, Edges(senders, receivers), species, box)
        return (ENERGY_WEIGHT * ((E - E_ref) / n_atoms) ** 2
                + FORCE_WEIGHT * jnp.mean((-g - F_ref) ** 2))

    def batch_loss(params, b):
        return jnp.mean(jax.vmap(frame_loss, (None, 0, 0, 0, 0, 0))(
            params, b["positions"], b["senders"], b["receivers"], b["energy"], b["forces"]))

    @jax.jit
    def step(params, opt_state, b):
        loss, grads = jax.value_and_grad(batch_loss)(params, b)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return opt.init, step


def our_training(spec: dict, registry_root: str):
    """Our training as users run it: a ``workbench.mlff.Training`` job on the frames of
    ``spec["data"]`` (a ``workbench.data.Dataset``), batch ``spec["batch_size"]``, Adam at
    ``spec["learning_rate"]``, the same loss weights as the peer, its run in a registry at
    ``registry_root``; everything else the job's defaults (split 0.8 / 0.1 / 0.1, warm-up,
    gradient clipping, EMA weights, a validation and a checkpoint after every epoch).
    Returns ``(job, next_step)``: ``next_step()`` runs the job's work up to its next chunk (one
    optimiser step: ``chunk_seconds=0``; an epoch's last also validates)."""
    from workbench.data import Dataset
    from workbench.mlff import Training
    from workbench.registry import RunRegistry

    d = {k: v for k, v in np.load(spec["data"]).items()}
    arch = our_architecture(spec["arch"], spec["hyper"], spec["avg_num_neighbors"])
    ds = Dataset(positions=d["positions"], species=d["numbers"], energies=d["energy"],
                 forces=d["forces"], box=d["box"], provenance={"source": "mlff_train.py"})
    job = Training(architecture=arch, dataset=ds, batch_size=int(spec["batch_size"]),
                   max_epochs=10_000, learning_rate=float(spec["learning_rate"]),
                   energy_weight=float(spec["energy_weight"]),
                   force_weight=float(spec["force_weight"]), chunk_seconds=0.0,
                   registry=RunRegistry(registry_root), run_name="mlff_train benchmark")
    steps = job.irun()  # the job's own loop, in this thread, advanced one chunk at a time
    return job, lambda: next(steps)


def our_worker(spec: dict) -> None:
    """Worker process for our side, the workbench ``Training`` (protocol in
    ``mlff_peers.py``). Each block reports the frames and seconds the job itself counted for
    its ``train_frames_per_s`` (optimiser steps only: the compiling first step, validations
    and checkpoints excluded), as differences over the block."""
    import jax
    from mlff_peers import maxrss_mib, say

    job, next_step = our_training(spec, os.path.join(os.path.dirname(spec["data"]),
                                                     f"runs-{spec['arch']}"))

    def counted() -> tuple[float, int]:
        t, n = job._step_time  # the seconds and frames behind job.train_frames_per_s
        return float(t), int(n)

    t0 = time.perf_counter()
    next_step()  # prepares (edges, shifts, weights) and compiles
    compile_s = time.perf_counter() - t0
    next_step()
    say("READY", {"engine": f"{spec['arch']} jax {jax.__version__} (Training)",
                  "n_params": count_parameters(job._train.params), "compile_s": compile_s,
                  "edges_per_frame": int(job._data.capacity),
                  "hyper": job.architecture.hyperparameters()})
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "run":
            t_before, n_before = counted()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < float(cmd[1]) or counted()[1] == n_before:
                next_step()
                if job.status == "failed":
                    raise RuntimeError(f"our training failed: {job.message}")
            t_after, n_after = counted()
            sums = jax.device_get(job._train.sums)  # the epoch's running loss sums
            loss = (float(sums["loss"]) / float(sums["n"]) if float(sums["n"]) > 0
                    else job.curves["train_loss"][-1])
            if not np.isfinite(loss):
                raise FloatingPointError(f"our training loss is {loss}")
            say("RESULT", {"steps": (n_after - n_before) // int(spec["batch_size"]),
                           "seconds": t_after - t_before, "frames": n_after - n_before,
                           "wall_s": time.perf_counter() - t0, "epoch": job.epoch,
                           "loss": loss, "train_frames_per_s": job.train_frames_per_s})
        elif cmd and cmd[0] == "quit":
            break
    say("DONE", {"maxrss_MiB": maxrss_mib(), "train_frames_per_s": job.train_frames_per_s})
    sys.stdout.flush()
    os._exit(0)  # leave the job suspended: closing it would save a run and evaluate the test set


def hand_worker(spec: dict) -> None:
    """Worker process for the hand-made step (protocol in ``mlff_peers.py``)."""
    import jax
    import jax.numpy as jnp
    from mlff_peers import maxrss_mib, say

    from kernels.mlff.graph import Edges
    from kernels.mlff.model import energy_model

    f32 = jnp.float32
    d = {k: v for k, v in np.load(spec["data"]).items()}
    arch = our_architecture(spec["arch"], spec["hyper"], spec["avg_num_neighbors"])
    species, n_species = species_of(d["numbers"])
    n = len(species)
    model = energy_model(arch.module(n_species), arch.cutoff)
    box = jnp.asarray(d["box"], f32)
    S, Rc = padded_edges(d["positions"], d["box"], arch.cutoff)
    bs = int(spec["batch_size"])
    n_batches = len(S) // bs
    take = n_batches * bs
    rng = np.random.default_rng(0)
    order = rng.permutation(len(S))[:take]

    def stack(x, dtype):
        x = np.asarray(x)[order]
        return jnp.asarray(x.reshape(n_batches, bs, *x.shape[1:]), dtype)

    data = {"positions": stack(d["positions"], f32), "senders": stack(S, jnp.int32),
            "receivers": stack(Rc, jnp.int32), "energy": stack(d["energy"], f32),
            "forces": stack(d["forces"], f32)}
    params = model.init_fn(jax.random.PRNGKey(0), data["positions"][0, 0],
                           Edges(data["senders"][0, 0], data["receivers"][0, 0]),
                           jnp.asarray(species), box)
    init, step = hand_train_step(model, jnp.asarray(species), box, n, float(spec["learning_rate"]))
    state = {"params": params, "opt": init(params), "i": 0}

    def one() -> float:
        k = state["i"] % n_batches
        state["i"] += 1
        b = jax.tree.map(lambda x: x[k], data)
        state["params"], state["opt"], loss = step(state["params"], state["opt"], b)
        return float(loss)  # blocks

    t0 = time.perf_counter()
    one()  # compiles: every batch has the same shapes
    compile_s = time.perf_counter() - t0
    say("READY", {"engine": f"{spec['arch']} jax {jax.__version__} (hand step)",
                  "n_params": count_parameters(params), "compile_s": compile_s,
                  "n_batches": n_batches,
                  "edges_per_frame": int(S.shape[1]), "hyper": arch.hyperparameters()})
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "run":
            seconds, steps = float(cmd[1]), 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                loss = one()
                steps += 1
            dt = time.perf_counter() - t0
            if not np.isfinite(loss):
                raise FloatingPointError(f"our training loss is {loss}")
            say("RESULT", {"steps": steps, "seconds": dt, "frames": steps * bs, "loss": loss})
        elif cmd and cmd[0] == "quit":
            break
    say("DONE", {"maxrss_MiB": maxrss_mib()})


# --- the benchmark --------------------------------------------------------------------------


def measure(arch: str, data_path: str, data: dict, args, tmp: str,
            peers_python: str | None) -> dict:
    from workbench.architectures import ARCHITECTURES, architecture

    if arch not in ARCHITECTURES:
        raise LookupError(f"architecture {arch!r} is not in this checkout "
                          f"(has {sorted(ARCHITECTURES)})")
    overrides = hyper_overrides(arch, args.hyper.get(arch, {}))
    cutoff = float(architecture(arch, **overrides).cutoff)
    avg = mean_neighbours(data["positions"][0], data["box"], cutoff)
    ours_hyper = our_architecture(arch, overrides, avg).hyperparameters()
    common = {"arch": arch, "data": data_path, "batch_size": args.batch_size,
              "energy_weight": ENERGY_WEIGHT, "force_weight": FORCE_WEIGHT,
              "learning_rate": LEARNING_RATE, "threads": args.threads or None,
              "warmup_steps": 1}
    env = worker_env(args.threads or None)
    spec = {**common, "hyper": overrides, "avg_num_neighbors": avg}
    workers = []
    for engine, name in (("api", "ours"), ("hand", "hand")):
        if engine == "hand" and not args.hand_step:
            continue
        workers.append(Worker(name, [sys.executable, os.path.abspath(__file__), "--worker",
                                     write_json(os.path.join(tmp, f"{name}-{arch}.json"),
                                                {**spec, "engine": engine})],
                              os.path.join(tmp, f"{name}-{arch}.log"), env))
    note = ""
    if peers_python and arch in PEER_ARCHS:
        pspec = {**common, "hyper": peer_hyperparameters(arch, ours_hyper, avg)}
        workers.append(Worker("peer", [peers_python, os.path.join(HERE, "mlff_peers.py"),
                                       "train", write_json(os.path.join(tmp, f"peer-{arch}.json"),
                                                           pspec)],
                              os.path.join(tmp, f"peer-{arch}.log"), env))
    elif arch not in PEER_ARCHS:
        note = "no PyTorch peer for this architecture"
    try:
        for w in workers:
            w.start()
        infos = {w.name: w.ready() for w in workers}
        results = interleave(workers, args.rounds, args.seconds)
        done = {w.name: w.quit() for w in workers}
    finally:
        for w in workers:
            w.kill()
    row = {"arch": arch, "n_atoms": len(data["numbers"]), "avg_neighbours": avg, "note": note}
    for name in infos:
        rates = [r["frames"] / r["seconds"] for r in results[name]]
        if not all(np.isfinite(rates)) or min(rates) <= 0:
            raise RuntimeError(f"{name} {arch}: bad rates {rates}")
        row[name] = {"median": float(np.median(rates)), "best": float(max(rates)),
                     "rates": rates, "loss_end": results[name][-1]["loss"],
                     "n_params": infos[name]["n_params"], "maxrss_MiB": done[name]["maxrss_MiB"],
                     "engine": infos[name]["engine"],
                     "compile_s": infos[name].get("compile_s")}
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", nargs="*", default=list(PEER_ARCHS))
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--sigma", type=float, default=0.05, help="displacement noise (Å)")
    p.add_argument("--batch-size", type=int, default=2,
                   help="frames a step (2: a MACE step on 192 atoms takes ~1 min here)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0, help="least length of a timed block")
    p.add_argument("--hand-step", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the hand-made optax step (row 'ours, hand step')")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of torch and XLA (default 1, both: on a loaded machine "
                        "torch's OpenMP threads\nspin against other processes, 40x slower "
                        "here; 0: each library's own default)")
    p.add_argument("--hyper", type=json.loads, default={},
                   help='JSON {arch: {hyperparameter: value}}, for ours and the peer')
    p.add_argument("--peers-python", default=None,
                   help="python with torch, mace-torch, schnetpack (default: "
                        "$MDWB_PEERS_PYTHON, else this one if it has them)")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        with open(args.worker) as fh:
            spec = json.load(fh)
        return (our_worker if spec["engine"] == "api" else hand_worker)(spec)
    peers_python = find_peers_python(args.peers_python)
    if peers_python is None:
        print(PEERS_INSTALL)
    t0 = time.perf_counter()
    data = water_dataset(args.frames, args.sigma)
    print(f"learned-force-field training throughput: {args.frames} frames of 64 SPC/Fw waters "
          f"(192 atoms; labels from the classical kernel force field, made in "
          f"{time.perf_counter() - t0:.0f} s), batch {args.batch_size}, float32, Adam; "
          f"{args.rounds} interleaved rounds of >= {args.seconds} s; peers python: "
          f"{peers_python}")
    print(f"before: {load_average()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlff_train_") as tmp:
        path = os.path.join(tmp, "water.npz")
        np.savez(path, **data)
        for arch in args.arch:
            try:
                rows.append(measure(arch, path, data, args, tmp, peers_python))
            except LookupError as exc:
                print(f"  {arch}: skipped ({exc})")
                continue
            r = rows[-1]
            print(f"  {arch}: ours {r['ours']['median']:.2f} frames/s (compiled in "
                  f"{r['ours']['compile_s']:.0f} s)"
                  + (f", hand step {r['hand']['median']:.2f}" if "hand" in r else "")
                  + (f", peer {r['peer']['median']:.2f} frames/s" if "peer" in r else "")
                  + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    if not rows:
        raise SystemExit("nothing was measured")
    print(f"\n{'arch':<8}{'engine':<16}{'params':>10}{'frames/s':>10}{'best':>9}{'x peer':>8}"
          f"{'loss_end':>10}{'peak MiB':>10}")
    for row in rows:
        for name, label in ENGINE_LABELS.items():
            if name in row:
                r = row[name]
                ratio = (f"{r['median'] / row['peer']['median']:>8.2f}"
                         if name != "peer" and "peer" in row else f"{'':>8}")
                print(f"{row['arch']:<8}{label:<16}{r['n_params']:>10,}{r['median']:>10.2f}"
                      f"{r['best']:>9.2f}{ratio}{r['loss_end']:>10.3g}{r['maxrss_MiB']:>10.0f}")
        if row.get("note"):
            print(f"{'':<24}({row['note']})")
    print(f"\nafter: {load_average()}; wall {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
