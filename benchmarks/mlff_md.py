"""MD speed with a learned force field: the workbench's JAX models against the same architecture
and size in PyTorch driven by ASE's MD loop, measured in the same run.

Systems (``mlff_common``): aspirin (21 atoms, free boundaries; RDKit) and 64 SPC/Fw waters
(192 atoms, periodic 12.4 Å box; the workbench's builder). NVE velocity Verlet, dt = 1 fs,
float32, velocities drawn at 300 K; the models have random weights (speed does not depend on
them).

- ours (what users run, ``our_md_engine``): a ``workbench.learned.LearnedForceField`` of
  ``architecture(name)`` with random weights in
  ``workbench.simulation_setup.learned_simulation(model, atoms, integrator="nve", ...)``,
  ``--stride`` steps a frame and one frame a chunk; timed blocks are whole chunks run on by
  raising the simulation's ``n_steps`` (the kernel compiled once, before timing). That
  includes the workbench's neighbour list (the architecture's ``md_skin`` and
  ``md_capacity``: 0.5 Å and 1.1 times the pairs at allocation for message-passing models;
  every slot, padding included, costs a model evaluation of an edge), the weights as MD runs
  them (``LearnedForceField.md_weights``: SchNet's filters as cubic tables,
  ``kernels.mlff.tables``; the same forces within 1e-5 relative), the per-frame energy and
  pressure, and the chunk's transfer to numpy and stability check.
- ours, hand loop (extra row, ``hand_md_engine``; ``--no-hand-loop`` drops it): the same
  model in a hand-made ``jax_md.simulate.nve`` ``lax.fori_loop``, a list at cutoff +
  ``--skin`` (0.5 Å) with ``--capacity`` (1.05) times the pairs, no thermodynamics: what the
  ``Simulation`` costs over the bare kernel.
- peers (``mlff_peers.py``): mace-torch's ``MACE`` in its ``MACECalculator`` and schnetpack's
  ``SchNet`` in its ``SpkCalculator``, each in ``ase.md.verlet.VelocityVerlet`` (the neighbour
  list is rebuilt by the calculator at every step, as in any ASE run).

Every engine runs in its own process (so that its peak memory, ``getrusage`` maxrss, is its
own), compiles and warms up untimed, then the engines take turns: ``--rounds`` blocks of at least
``--seconds`` each, the order reversed every round, so that load from other processes falls on
both. Prints steps/s (median over rounds, and the best), ours / peer (``x peer``), the final
temperature and the peak memory of each process, and the load average. The targets of issue 12
are at least 10x the peer's steps/s for aspirin and 3x for water.

Install and run (the peers are heavy and optional; without them our side is still measured):

    pip install -e '.[peers]'                # torch, mace-torch, schnetpack
    python benchmarks/mlff_md.py             # schnet and mace, aspirin and water
    python benchmarks/mlff_md.py --arch schnet --systems aspirin --rounds 5
    python benchmarks/mlff_md.py --peers-python /path/peers-venv/bin/python   # peers elsewhere

Model size: each architecture's defaults (``workbench.architectures``), overridable as JSON,
e.g. ``--hyper '{"mace": {"num_channels": 64}}'``; the peer gets the same hyperparameters
(``mlff_common.peer_hyperparameters``) and both parameter counts are printed.
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
    STRUCTURES,
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

TIMESTEP_FS = 1.0
TEMPERATURE_K = 300.0
PEER_ARCHS = ("schnet", "mace")


# --- our side (a worker process) ------------------------------------------------------------


def hand_md_engine(model, params, structure: dict, skin: float, capacity: float = 1.05):
    """The hand-made MD loop (the extra row "ours, hand loop"): ``advance(n) -> info``
    running ``n`` NVE steps of ``jax_md.simulate.nve`` in one jitted ``lax.fori_loop`` and
    blocking until they are done; a neighbour list at cutoff + ``skin`` with ``capacity``
    times the pairs at allocation, no per-frame thermodynamics. Kept to show what the
    workbench ``Simulation`` costs over the bare kernel."""
    import jax
    import jax.numpy as jnp
    from ase import units
    from ase.data import atomic_masses
    from jax_md import partition, simulate, space

    from kernels.neighbors import neighbor_list, retry_on_overflow

    f32 = jnp.float32
    R = jnp.asarray(structure["positions"], f32)
    numbers = np.asarray(structure["numbers"])
    species = jnp.asarray(species_of(numbers)[0])
    masses = jnp.asarray(atomic_masses[numbers], f32)
    box_np = np.asarray(structure["box"], dtype=np.float64)
    if box_np.size:
        box = jnp.asarray(box_np, f32)
        disp, shift = space.periodic(box)
        neighbor_fn = neighbor_list(disp, box, model.cutoff, skin,
                                    format=partition.OrderedSparse, capacity_multiplier=capacity)
    else:
        box = None
        disp, shift = space.free()
        extent = float(np.ptp(structure["positions"], axis=0).max()) + 10 * (model.cutoff + skin)
        neighbor_fn = partition.neighbor_list(disp, extent, model.cutoff, skin,
                                              format=partition.OrderedSparse,
                                              capacity_multiplier=capacity,
                                              disable_cell_list=True)

    def energy(R, neighbor):
        return model.energy_fn(params, R, neighbor, species, box)

    init, apply = simulate.nve(energy, shift, TIMESTEP_FS * units.fs)
    nbrs = neighbor_fn.allocate(R)
    state = init(jax.random.PRNGKey(0), R, mass=masses, kT=f32(units.kB * TEMPERATURE_K),
                 neighbor=nbrs)

    @jax.jit
    def block(state, nbrs, n):
        def body(_, carry):
            s, nb = carry
            s = apply(s, neighbor=nb)
            return s, nb.update(s.position)

        return jax.lax.fori_loop(0, n, body, (state, nbrs))

    cur = {"state": state, "nbrs": nbrs}

    def advance(n: int) -> dict:
        start = cur["state"]

        def attempt(nb):
            out = jax.block_until_ready(block(start, nb, n))
            return out, out[1]

        (s, nb), _ = retry_on_overflow(attempt, cur["nbrs"], lambda extra: neighbor_fn.allocate(
            start.position, extra_capacity=extra))
        if s.position.dtype != f32:
            raise RuntimeError(f"the float32 run was promoted to {s.position.dtype}")
        cur["state"], cur["nbrs"] = s, nb
        kinetic = float(0.5 * jnp.sum(s.momentum**2 / s.mass))
        temperature = 2 * kinetic / (3 * (R.shape[0] - 1)) / units.kB
        if not np.isfinite(temperature):
            raise FloatingPointError(f"our MD blew up: T = {temperature}")
        return {"temperature_K": temperature}

    return advance


def our_learned_force_field(spec: dict, s: dict):
    """``(LearnedForceField with random weights, its MLFFModel, params)`` of ``spec``'s
    architecture for structure ``s``: species in order of atomic number, zero shifts, scale 1,
    weights from ``build_model().init_fn`` (seed 0) on all pairs of the structure."""
    import jax
    import jax.numpy as jnp

    from kernels.mlff.graph import Edges
    from workbench.learned import LearnedForceField

    arch = our_architecture(spec["arch"], spec["hyper"], spec["avg_num_neighbors"])
    zs = sorted(set(int(z) for z in s["numbers"]))
    ff = LearnedForceField(architecture=arch, species=zs, shifts=[0.0] * len(zs), scale=1.0)
    model = ff.build_model()
    n = len(s["numbers"])
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    box = jnp.asarray(s["box"], jnp.float32) if s["box"].size else None
    ff.params = jax.jit(model.init_fn)(
        jax.random.PRNGKey(0), jnp.asarray(s["positions"], jnp.float32),
        Edges(jnp.asarray(i, jnp.int32), jnp.asarray(j, jnp.int32)),
        jnp.asarray(ff.species_index(s["numbers"])), box)
    return ff, model, ff.params


def our_md_engine(ff, structure: dict, stride: int):
    """Our MD as users run it: ``workbench.simulation_setup.learned_simulation`` (NVE, 300 K,
    1 fs, float32) with one frame of ``stride`` steps a chunk; ``(advance(n) -> info,
    chunk)``, ``advance`` running ``n`` steps (a multiple of ``chunk``) by raising the
    simulation's ``n_steps`` and ``run``-ning it on, so that every call reuses the kernel
    compiled by the first. The workbench's neighbour list (``Architecture.md_skin``,
    ``md_capacity``) and its per-frame thermodynamics (energy, pressure) are included, as in
    any run."""
    from ase import Atoms

    from workbench.simulation_setup import learned_simulation

    box = np.asarray(structure["box"], dtype=np.float64)
    atoms = Atoms(numbers=structure["numbers"], positions=structure["positions"],
                  cell=box if box.size else None, pbc=bool(box.size))
    sim = learned_simulation(ff, atoms, integrator="nve", temperature=TEMPERATURE_K,
                             timestep=TIMESTEP_FS, n_steps=stride, stride=stride,
                             frames_per_chunk=1, precision="float32")

    def advance(n: int) -> dict:
        if n % stride:
            raise ValueError(f"{n} steps are not whole chunks of {stride}")
        sim.run(n_steps=sim.step + n, progress=False)
        if sim.status != "completed":
            raise RuntimeError(f"our learned simulation ended {sim.status}: {sim.message}")
        temperature = float(sim.trajectory.thermo["temperature"][-1])
        if not np.isfinite(temperature):
            raise FloatingPointError(f"our MD blew up: T = {temperature}")
        return {"temperature_K": temperature}

    return advance, stride


def our_worker(spec: dict) -> None:
    """Worker process for our side (protocol in ``mlff_peers.py``): ``spec["engine"]`` is
    ``"api"`` (``our_md_engine``, the workbench ``Simulation``) or ``"hand"``
    (``hand_md_engine``, the hand-made jax_md loop)."""
    import jax
    from mlff_peers import maxrss_mib, say

    s = {k: v for k, v in np.load(spec["structure"]).items()}
    ff, model, params = our_learned_force_field(spec, s)
    if spec["engine"] == "api":
        advance, chunk = our_md_engine(ff, s, int(spec["stride"]))
    else:
        # the weights as the workbench's MD runs them (cubic tables where the model has them)
        advance, chunk = hand_md_engine(model, ff.md_weights(), s, spec["skin"],
                                        spec["capacity"]), 1
    t0 = time.perf_counter()
    advance(chunk)  # compiles (no recompilation later: n is traced, or whole chunks)
    compile_s = time.perf_counter() - t0
    warm = chunk if chunk > 1 else 10
    t0 = time.perf_counter()
    advance(warm)
    per_step = (time.perf_counter() - t0) / warm
    say("READY", {"engine": f"{spec['arch']} jax {jax.__version__} ({spec['engine']})",
                  "n_params": count_parameters(params), "compile_s": compile_s,
                  "warmup_s_per_step": per_step, "hyper": ff.architecture.hyperparameters()})
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "run":
            steps = chunk * max(1, round(float(cmd[1]) / per_step / chunk))
            t0 = time.perf_counter()
            info = advance(steps)
            dt = time.perf_counter() - t0
            per_step = dt / steps
            say("RESULT", {"steps": steps, "seconds": dt, **info})
        elif cmd and cmd[0] == "quit":
            break
    say("DONE", {"maxrss_MiB": maxrss_mib()})


# --- the benchmark --------------------------------------------------------------------------


def measure(arch: str, system: str, args, tmp: str, peers_python: str | None) -> dict:
    structure = STRUCTURES[system]()
    path = os.path.join(tmp, f"{system}.npz")
    np.savez(path, **structure)
    from workbench.architectures import ARCHITECTURES, architecture

    if arch not in ARCHITECTURES:
        raise LookupError(f"architecture {arch!r} is not in this checkout "
                          f"(has {sorted(ARCHITECTURES)})")
    overrides = hyper_overrides(arch, args.hyper.get(arch, {}))
    cutoff = float(architecture(arch, **overrides).cutoff)
    avg = mean_neighbours(structure["positions"], structure["box"], cutoff)
    ours_hyper = our_architecture(arch, overrides, avg).hyperparameters()
    spec = {"arch": arch, "hyper": overrides, "avg_num_neighbors": avg, "structure": path,
            "skin": args.skin, "capacity": args.capacity, "stride": args.stride}
    env = worker_env(args.threads or None)
    workers = []
    for engine, name in (("api", "ours"), ("hand", "hand")):
        if engine == "hand" and not args.hand_loop:
            continue
        tag = f"{name}-{arch}-{system}"
        workers.append(Worker(name, [sys.executable, os.path.abspath(__file__), "--worker",
                                     write_json(os.path.join(tmp, f"{tag}.json"),
                                                {**spec, "engine": engine})],
                              os.path.join(tmp, f"{tag}.log"), env))
    peer_note = ""
    if peers_python and arch in PEER_ARCHS:
        pspec = {"arch": arch, "hyper": peer_hyperparameters(arch, ours_hyper, avg),
                 "structure": path, "workdir": tmp, "temperature_K": TEMPERATURE_K,
                 "timestep_fs": TIMESTEP_FS, "threads": args.threads or None}
        workers.append(Worker("peer", [peers_python, os.path.join(HERE, "mlff_peers.py"), "md",
                                       write_json(os.path.join(tmp, f"peer-{arch}-{system}.json"),
                                                  pspec)],
                              os.path.join(tmp, f"peer-{arch}-{system}.log"), env))
    elif arch not in PEER_ARCHS:
        peer_note = "no PyTorch peer for this architecture"
    try:
        for w in workers:
            w.start()
        infos = {w.name: w.ready() for w in workers}
        results = interleave(workers, args.rounds, args.seconds)
        done = {w.name: w.quit() for w in workers}
    finally:
        for w in workers:
            w.kill()
    row = {"arch": arch, "system": system, "n_atoms": len(structure["numbers"]),
           "avg_neighbours": avg, "peer_note": peer_note}
    for name in infos:
        rates = [r["steps"] / r["seconds"] for r in results[name]]
        if not all(np.isfinite(rates)) or min(rates) <= 0:
            raise RuntimeError(f"{name} {arch} {system}: bad rates {rates}")
        row[name] = {"median": float(np.median(rates)), "best": float(max(rates)),
                     "rates": rates, "T_end": results[name][-1]["temperature_K"],
                     "n_params": infos[name]["n_params"], "maxrss_MiB": done[name]["maxrss_MiB"],
                     "engine": infos[name]["engine"],
                     "compile_s": infos[name].get("compile_s")}
    return row


#: engine rows of the table: ours = the workbench Simulation (what users run), hand = the
#: hand-made jax_md loop, peer = the PyTorch library in ASE's MD loop
ENGINE_LABELS = {"ours": "ours", "hand": "ours, hand loop", "peer": "peer"}


def print_table(rows: list[dict]) -> None:
    print(f"\n{'arch':<7}{'system':<9}{'atoms':>6}  {'engine':<16}{'params':>9}{'steps/s':>10}"
          f"{'best':>9}{'x peer':>8}{'target':>8}{'T_end K':>9}{'peak MiB':>10}")
    for row in rows:
        target = {"aspirin": 10.0, "water": 3.0}.get(row["system"], np.nan)
        for name, label in ENGINE_LABELS.items():
            if name not in row:
                continue
            r = row[name]
            ours = name != "peer" and "peer" in row
            ratio = (f"{r['median'] / row['peer']['median']:>8.1f}" if ours else f"{'':>8}")
            tgt = f"{target:>7.0f}x" if ours and name == "ours" else f"{'':>8}"
            print(f"{row['arch']:<7}{row['system']:<9}{row['n_atoms']:>6}  {label:<16}"
                  f"{r['n_params']:>9,}{r['median']:>10.1f}{r['best']:>9.1f}{ratio}{tgt}"
                  f"{r['T_end']:>9.0f}{r['maxrss_MiB']:>10.0f}")
        if row.get("peer_note"):
            print(f"{'':<24}({row['peer_note']})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", nargs="*", default=list(PEER_ARCHS))
    p.add_argument("--systems", nargs="*", default=list(STRUCTURES), choices=list(STRUCTURES))
    p.add_argument("--rounds", type=int, default=2,
                   help="timed blocks per engine (2: the defaults take under 10 min on two\n"
                        "loaded cores; MACE on water compiles ~3 min and runs 0.2 steps/s)")
    p.add_argument("--seconds", type=float, default=3.0, help="least length of a timed block")
    p.add_argument("--stride", type=int, default=10,
                   help="ours: steps a recorded frame (and a chunk: one frame a chunk); every\n"
                        "frame also evaluates energy and pressure, as in any workbench run")
    p.add_argument("--hand-loop", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the hand-made jax_md loop (row 'ours, hand loop')")
    p.add_argument("--skin", type=float, default=0.5,
                   help="hand loop: neighbour-list skin (Å): every edge costs a model evaluation,\n"
                        "and a 1 Å skin (the workbench's) carries 1.7x the edges at a 5 Å cutoff\n"
                        "(0.5 Å: 1.3x)")
    p.add_argument("--capacity", type=float, default=1.05,
                   help="hand loop: neighbour-list capacity / pairs at allocation (the\n"
                        "workbench's: 1.25; padding slots cost as much as edges)")
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
            return our_worker(json.load(fh))
    peers_python = find_peers_python(args.peers_python)
    if peers_python is None:
        print(PEERS_INSTALL)
    print(f"learned-force-field MD speed: NVE, dt {TIMESTEP_FS} fs, float32, {TEMPERATURE_K:.0f} K "
          f"start; {args.rounds} interleaved rounds of >= {args.seconds} s per engine; "
          f"peers python: {peers_python}")
    print(f"before: {load_average()}")
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlff_md_") as tmp:
        for arch in args.arch:
            for system in args.systems:
                try:
                    rows.append(measure(arch, system, args, tmp, peers_python))
                except LookupError as exc:
                    print(f"  {arch} on {system}: skipped ({exc})")
                    continue
                r = rows[-1]
                print(f"  {arch} on {system}: ours {r['ours']['median']:.1f} steps/s (compiled in "
                      f"{r['ours']['compile_s']:.0f} s)"
                      + (f", hand loop {r['hand']['median']:.1f}" if "hand" in r else "")
                      + (f", peer {r['peer']['median']:.1f} steps/s" if "peer" in r else "")
                      + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    if not rows:
        raise SystemExit("nothing was measured")
    print_table(rows)
    print(f"\nafter: {load_average()}; wall {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
