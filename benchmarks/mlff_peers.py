"""PyTorch peers of the learned-force-field benchmarks (``mlff_md.py``, ``mlff_train.py``):
mace-torch's ``MACE`` and schnetpack's ``SchNet`` with random weights, as ASE calculators in
ASE's velocity-Verlet loop, and in a plain torch training loop (energy + force MSE, Adam).

This file imports no JAX and nothing of the workbench, so it runs in an environment that has only
the peers (``pip install -e '.[peers]'``, or a separate virtual environment: see
``mlff_md.py``). The benchmarks start it as a worker process:

    python benchmarks/mlff_peers.py md SPEC.json       # or: train SPEC.json

``SPEC.json`` names the architecture and its hyperparameters (canonical keys below), the
structure file (``.npz``: ``numbers [n]``, ``positions [n, 3]`` Å, ``box [3]`` Å or empty) or
the data file (``numbers``, ``positions [F, n, 3]``, ``energy [F]`` eV, ``forces [F, n, 3]``
eV/Å, ``box``). The worker builds everything, warms up, prints ``READY {json}`` and then obeys
one command per line on stdin (``run SECONDS``: time whole steps for at least SECONDS, print
``RESULT {json}``; ``quit``: print ``DONE {"maxrss_MiB": ...}`` and exit), so that the
benchmark can interleave timed blocks of every engine under the same machine load.

Canonical hyperparameters (the benchmarks map the workbench architecture's onto these):

- ``schnet``: cutoff (Å), n_atom_basis, n_filters, n_interactions, n_rbf (Gaussians on
  [0, cutoff]); cosine cutoff, shifted softplus (schnetpack's defaults and Schütt et al. 2018).
- ``mace``: cutoff (Å), num_channels, max_L (the highest degree of the hidden node features),
  l_max (spherical harmonics), correlation, num_layers, num_bessel, num_polynomial_cutoff,
  radial_mlp ([64, 64, 64]), readout_hidden (16), avg_num_neighbors.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np


def maxrss_mib() -> float:
    """Peak resident memory of this process (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def say(tag: str, payload: dict) -> None:
    print(f"{tag} {json.dumps(payload)}", flush=True)


# --- models ---------------------------------------------------------------------------------


def build_mace(h: dict, zs: list[int]):
    """mace-torch ``MACE`` (RealAgnosticResidualInteractionBlock, as its default training
    script), float32, random weights, atomic energies zero."""
    import torch

    # e3nn 0.4.4 (mace-torch's pin) reads its own constants file (a library file), which torch
    # >= 2.6 refuses unless ``slice`` is an allowed global (mace's calculator module allows it)
    torch.serialization.add_safe_globals([slice])
    from e3nn import o3
    from mace import modules

    torch.set_default_dtype(torch.float32)
    c, max_L = int(h["num_channels"]), int(h["max_L"])
    hidden = " + ".join(f"{c}x{deg}{'e' if deg % 2 == 0 else 'o'}" for deg in range(max_L + 1))
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.MACE(
        r_max=float(h["cutoff"]), num_bessel=int(h["num_bessel"]),
        num_polynomial_cutoff=int(h["num_polynomial_cutoff"]), max_ell=int(h["l_max"]),
        interaction_cls=block, interaction_cls_first=block,
        num_interactions=int(h["num_layers"]), num_elements=len(zs),
        hidden_irreps=o3.Irreps(hidden), MLP_irreps=o3.Irreps(f"{int(h['readout_hidden'])}x0e"),
        atomic_energies=np.zeros(len(zs)), avg_num_neighbors=float(h["avg_num_neighbors"]),
        atomic_numbers=list(zs), correlation=int(h["correlation"]),
        gate=torch.nn.functional.silu, radial_MLP=list(h["radial_mlp"]), radial_type="bessel")
    return model.float()


def import_schnetpack():
    """``schnetpack``, importable with torch >= 2.6: schnetpack 2.0.4 (the latest release)
    imports the type variable ``T_co`` from ``torch.utils.data.dataloader``, which newer torch
    no longer defines there; it is put back (only a typing name) before the import."""
    import typing

    import torch.utils.data.dataloader as dl

    if not hasattr(dl, "T_co"):
        dl.T_co = typing.TypeVar("T_co", covariant=True)
    import schnetpack

    return schnetpack


def build_schnet(h: dict):
    """schnetpack ``NeuralNetworkPotential``: pairwise distances, ``SchNet``, ``Atomwise``
    energy and ``Forces`` (autograd), float32, random weights."""
    import torch

    spk = import_schnetpack()

    torch.set_default_dtype(torch.float32)
    rc = float(h["cutoff"])
    rep = spk.representation.SchNet(
        n_atom_basis=int(h["n_atom_basis"]), n_interactions=int(h["n_interactions"]),
        radial_basis=spk.nn.GaussianRBF(n_rbf=int(h["n_rbf"]), cutoff=rc),
        cutoff_fn=spk.nn.CosineCutoff(rc), n_filters=int(h["n_filters"]))
    model = spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=int(h["n_atom_basis"]),
                                               output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")])
    return model.float()


def n_parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def atoms_of(numbers, positions, box):
    from ase import Atoms

    box = np.asarray(box, dtype=float)
    if box.size:
        return Atoms(numbers=numbers, positions=positions, cell=np.diag(box), pbc=True)
    return Atoms(numbers=numbers, positions=positions, pbc=False)


def calculator(arch: str, h: dict, zs: list[int], workdir: str):
    """(ASE calculator, torch model): mace-torch's ``MACECalculator`` or schnetpack's
    ``SpkCalculator`` (given the model in memory instead of loading a file) with schnetpack's
    ``MatScipyNeighborList`` at the cutoff."""
    import torch

    if arch == "mace":
        from mace.calculators import MACECalculator

        model = build_mace(h, zs)
        return MACECalculator(models=model, device="cpu", default_dtype="float32"), model
    if arch == "schnet":
        spk = import_schnetpack()
        from schnetpack.interfaces.ase_interface import SpkCalculator

        model = build_schnet(h)
        try:
            nl = spk.transform.MatScipyNeighborList(cutoff=float(h["cutoff"]))
        except Exception:  # matscipy missing: ASE's neighbour list
            nl = spk.transform.ASENeighborList(cutoff=float(h["cutoff"]))
        class Calculator(SpkCalculator):
            # the model in memory: no file written and read back (no pickle anywhere)
            def _load_model(self, model_file):
                return model.eval()

        calc = Calculator(model_file="<in memory>", neighbor_list=nl, energy_key="energy",
                             force_key="forces", energy_unit="eV", position_unit="Ang",
                             device="cpu", dtype=torch.float32)
        return calc, calc.model
    raise ValueError(f"no PyTorch peer for {arch!r}")


# --- workers --------------------------------------------------------------------------------


def md_worker(spec: dict) -> None:
    """ASE ``VelocityVerlet`` (NVE, ``timestep_fs``) with the peer as calculator."""
    import torch
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    s = np.load(spec["structure"])
    atoms = atoms_of(s["numbers"], s["positions"], s["box"])
    zs = sorted(set(int(z) for z in s["numbers"]))
    calc, model = calculator(spec["arch"], spec["hyper"], zs, spec["workdir"])
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=spec["temperature_K"],
                                 rng=np.random.default_rng(0))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=spec["timestep_fs"] * units.fs)
    t0 = time.perf_counter()
    dyn.run(spec.get("warmup_steps", 5))
    per_step = (time.perf_counter() - t0) / spec.get("warmup_steps", 5)
    say("READY", {"engine": f"{spec['arch']} torch {torch.__version__}",
                  "n_params": n_parameters(model), "threads": torch.get_num_threads(),
                  "warmup_s_per_step": per_step})
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "run":
            seconds, steps = float(cmd[1]), 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                dyn.run(1)
                steps += 1
            dt = time.perf_counter() - t0
            epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
            if not np.isfinite(epot + ekin):
                raise FloatingPointError(f"peer MD blew up: Epot {epot}, Ekin {ekin}")
            say("RESULT", {"steps": steps, "seconds": dt,
                           "temperature_K": float(atoms.get_temperature())})
        elif cmd and cmd[0] == "quit":
            break
    say("DONE", {"maxrss_MiB": maxrss_mib()})


def _mace_batches(spec: dict, data, zs: list[int], batch_size: int) -> list:
    """mace-torch ``AtomicData`` graphs, collated into batches by its (torch_geometric)
    loader, built once before timing."""
    from mace import data as mdata
    from mace.tools import torch_geometric, utils

    table = utils.AtomicNumberTable(zs)
    box = np.asarray(data["box"], dtype=float)
    configs = []
    for R, E, F in zip(data["positions"], data["energy"], data["forces"], strict=True):
        at = atoms_of(data["numbers"], R, box)
        at.info["REF_energy"] = float(E)
        at.arrays["REF_forces"] = np.asarray(F)
        configs.append(at)
    keyspec = mdata.KeySpecification(info_keys={"energy": "REF_energy"},
                                     arrays_keys={"forces": "REF_forces"})
    graphs = [mdata.AtomicData.from_config(mdata.config_from_atoms(a, key_specification=keyspec),
                                           z_table=table, cutoff=float(spec["hyper"]["cutoff"]))
              for a in configs]
    loader = torch_geometric.dataloader.DataLoader(graphs, batch_size=batch_size, shuffle=True,
                                                   drop_last=True)
    return [b.to_dict() for b in loader]


def _schnet_batches(spec: dict, data, batch_size: int) -> list:
    """schnetpack input dicts (``AtomsConverter`` with its neighbour list), built once."""
    import torch

    spk = import_schnetpack()
    from schnetpack.interfaces import AtomsConverter

    conv = AtomsConverter(neighbor_list=spk.transform.ASENeighborList(
        cutoff=float(spec["hyper"]["cutoff"])), dtype=torch.float32)
    box = np.asarray(data["box"], dtype=float)
    frames = len(data["energy"])
    out = []
    for start in range(0, frames - batch_size + 1, batch_size):
        sel = range(start, start + batch_size)
        inputs = conv([atoms_of(data["numbers"], data["positions"][i], box) for i in sel])
        inputs["energy_ref"] = torch.tensor(data["energy"][list(sel)], dtype=torch.float32)
        inputs["forces_ref"] = torch.tensor(np.concatenate([data["forces"][i] for i in sel]),
                                            dtype=torch.float32)
        out.append(inputs)
    return out


def train_worker(spec: dict) -> None:
    """A plain torch training loop: energy + force MSE (weights ``energy_weight``,
    ``force_weight``), Adam (``learning_rate``), ``batch_size`` frames a step, over batches
    prepared by each library's own data pipeline before timing."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    torch.manual_seed(0)
    d = np.load(spec["data"])
    zs = sorted(set(int(z) for z in d["numbers"]))
    bs = int(spec["batch_size"])
    we, wf = float(spec["energy_weight"]), float(spec["force_weight"])
    n_atoms = len(d["numbers"])
    if spec["arch"] == "mace":
        model = build_mace(spec["hyper"], zs)
        batches = _mace_batches(spec, d, zs, bs)

        def predict(b):
            out = model(b, training=True, compute_force=True)
            return out["energy"], out["forces"], b["energy"], b["forces"]
    elif spec["arch"] == "schnet":
        model = build_schnet(spec["hyper"])
        batches = _schnet_batches(spec, d, bs)

        def predict(b):
            inp = {k: (v.clone() if k == "_positions" else v) for k, v in b.items()}
            out = model(inp)
            return out["energy"], out["forces"], b["energy_ref"], b["forces_ref"]
    else:
        raise ValueError(f"no PyTorch peer for {spec['arch']!r}")
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=float(spec["learning_rate"]))
    state = {"i": 0}

    def step() -> float:
        b = batches[state["i"] % len(batches)]
        state["i"] += 1
        opt.zero_grad()
        e, f, e_ref, f_ref = predict(b)
        loss = (we * torch.mean(((e - e_ref) / n_atoms) ** 2)
                + wf * torch.mean((f - f_ref) ** 2))
        loss.backward()
        opt.step()
        return float(loss)

    t0 = time.perf_counter()
    for _ in range(int(spec.get("warmup_steps", 2))):
        step()
    per_step = (time.perf_counter() - t0) / int(spec.get("warmup_steps", 2))
    say("READY", {"engine": f"{spec['arch']} torch {torch.__version__}",
                  "n_params": n_parameters(model), "threads": torch.get_num_threads(),
                  "warmup_s_per_step": per_step, "n_batches": len(batches)})
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "run":
            seconds, steps = float(cmd[1]), 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                loss = step()
                steps += 1
            dt = time.perf_counter() - t0
            if not np.isfinite(loss):
                raise FloatingPointError(f"peer training loss is {loss}")
            say("RESULT", {"steps": steps, "seconds": dt, "frames": steps * bs, "loss": loss})
        elif cmd and cmd[0] == "quit":
            break
    say("DONE", {"maxrss_MiB": maxrss_mib()})


if __name__ == "__main__":
    mode, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as fh:
        spec = json.load(fh)
    {"md": md_worker, "train": train_worker}[mode](spec)
