"""Shared parts of the learned-force-field benchmarks (``mlff_md.py``, ``mlff_train.py``):
the test structures, our model built through the workbench interface, the mapping of its
hyperparameters onto the PyTorch peers' (``mlff_peers.py``), and the worker processes that let
every engine be timed in interleaved blocks under the same machine load, each in its own process
so that its peak memory is its own.

Structures (no downloads): aspirin from SMILES with RDKit (ETKDGv3, seed 0, MMFF94 relaxation;
21 atoms, free boundaries) and 64 SPC/Fw waters from the workbench's own builder
(``ForceField(builder="water_spcfw", kwargs={"n_molecules": 64})``, minimised; 192 atoms in a
periodic 12.4 Å box).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
PEERS_INSTALL = (
    "The PyTorch peers are not installed. Either install them into this environment:\n"
    "    pip install -e '.[peers]'\n"
    "or into an environment of their own (they pull large packages) and point the benchmark to "
    "it:\n"
    "    python3 -m venv /path/peers-venv\n"
    "    /path/peers-venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu"
    "   # CPU-only torch; or any torch\n"
    "    /path/peers-venv/bin/pip install mace-torch schnetpack ase rdkit\n"
    "    python benchmarks/<this script> --peers-python /path/peers-venv/bin/python\n"
    "(or set MDWB_PEERS_PYTHON). Our side runs and is reported without them.")


# --- structures -----------------------------------------------------------------------------


def aspirin() -> dict[str, np.ndarray]:
    """``{numbers [21], positions [21, 3] Å, box [0]}``: RDKit ETKDGv3 (seed 0) + MMFF94."""
    from workbench.data.generate import molecule_from_smiles

    atoms = molecule_from_smiles(ASPIRIN_SMILES, seed=0)
    return {"numbers": atoms.numbers.astype(np.int64), "positions": atoms.positions,
            "box": np.zeros(0)}


def water64() -> dict[str, np.ndarray]:
    """``{numbers [192], positions [192, 3] Å, box [3] Å}``: the workbench's SPC/Fw box."""
    from workbench.forcefield import ForceField

    ff = ForceField(builder="water_spcfw", kwargs={"n_molecules": 64})
    mol = ff.molecule()
    numbers = np.array([a.element.atomic_number for a in mol.topology.atoms()], np.int64)
    return {"numbers": numbers, "positions": ff.positions(),
            "box": 10.0 * np.asarray(mol.box, dtype=np.float64)}


STRUCTURES = {"aspirin": aspirin, "water": water64}


def mean_neighbours(positions: np.ndarray, box: np.ndarray, cutoff: float) -> float:
    """Mean number of neighbours within ``cutoff`` (Å), minimum image in ``box`` if given."""
    d = positions[:, None, :] - positions[None, :, :]
    if box.size:
        d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    n = len(positions)
    return float(((r < cutoff).sum() - n) / n)


# --- our model and the peers' hyperparameters -----------------------------------------------


def _pick(values: dict[str, Any], names: tuple[str, ...], default: Any = None) -> Any:
    for n in names:
        if n in values and values[n] is not None:
            return values[n]
    if default is None:
        raise KeyError(f"none of {names} among the hyperparameters {sorted(values)}")
    return default


def peer_hyperparameters(arch: str, ours: dict[str, Any], avg_num_neighbors: float
                         ) -> dict[str, Any]:
    """The canonical hyperparameters of ``mlff_peers.py`` for the workbench architecture's
    ``ours`` (``Architecture.hyperparameters()``), so the peer has the same size."""
    rc = float(ours["cutoff"])
    if arch == "schnet":
        width = int(_pick(ours, ("n_features", "n_atom_basis", "features", "hidden_channels")))
        return {"cutoff": rc, "n_atom_basis": width,
                "n_filters": int(_pick(ours, ("n_filters", "num_filters"), width)),
                "n_interactions": int(_pick(ours, ("n_interactions", "num_interactions",
                                                   "n_layers", "num_layers"))),
                "n_rbf": int(_pick(ours, ("n_gaussians", "n_rbf", "n_basis", "num_gaussians")))}
    if arch == "mace":
        l_max = int(_pick(ours, ("l_max", "max_ell")))
        readout = _pick(ours, ("readout_irreps",), ["16x0e", "0e"])
        readout = readout[0] if isinstance(readout, (list, tuple)) else readout
        return {"cutoff": rc,
                "num_channels": int(_pick(ours, ("num_channels", "channels", "n_channels"))),
                "l_max": l_max,
                "max_L": int(_pick(ours, ("node_symmetry", "max_L", "hidden_l_max"), l_max)),
                "correlation": int(_pick(ours, ("correlation",))),
                "num_layers": int(_pick(ours, ("num_layers", "n_layers", "num_interactions"))),
                "num_bessel": int(_pick(ours, ("num_rbf", "num_bessel", "n_rbf"), 8)),
                "num_polynomial_cutoff": int(_pick(ours, ("num_polynomial_cutoff",
                                                          "envelope_exponent"), 5)),
                "radial_mlp": list(_pick(ours, ("radial_mlp_hidden", "radial_mlp"),
                                         [64, 64, 64])),
                "readout_hidden": int(str(readout).split("x")[0]),
                "avg_num_neighbors": float(_pick(ours, ("avg_num_neighbors",),
                                                 avg_num_neighbors))}
    raise ValueError(f"no PyTorch peer for {arch!r}")


#: Benchmark sizes that differ from an architecture's defaults: MACE with mace-torch's default
#: hidden features (``128x0e + 128x1o``, i.e. node features up to L = 1) rather than mlip's
#: (up to L = l_max = 3), which on two CPU cores takes minutes a step in either library. Applied
#: only where the architecture has that hyperparameter; ``--hyper`` overrides them.
BENCHMARK_HYPER: dict[str, dict[str, Any]] = {"mace": {"node_symmetry": 1}}


def hyper_overrides(arch: str, given: dict[str, Any]) -> dict[str, Any]:
    """``BENCHMARK_HYPER[arch]`` (those the architecture has) updated with ``given``."""
    from workbench.architectures import ARCHITECTURES

    cls = ARCHITECTURES[arch]
    return {**{k: v for k, v in BENCHMARK_HYPER.get(arch, {}).items() if k in cls.param},
            **given}


def our_architecture(arch: str, overrides: dict[str, Any], avg_num_neighbors: float):
    """``workbench.architectures.architecture(arch, **overrides)``; ``avg_num_neighbors`` is
    given where the architecture has that hyperparameter (mlip's MACE normalises messages by
    it; the peer gets the same number)."""
    from workbench.architectures import architecture

    a = architecture(arch, **overrides)
    if "avg_num_neighbors" in a.param and "avg_num_neighbors" not in overrides:
        a.avg_num_neighbors = avg_num_neighbors
    return a


def count_parameters(params: Any) -> int:
    import jax

    return int(sum(np.size(x) for x in jax.tree.leaves(params)))


def species_of(numbers: np.ndarray) -> tuple[np.ndarray, int]:
    """(species indices [n] in order of atomic number, n_species)."""
    zs = sorted(set(int(z) for z in numbers))
    return np.array([zs.index(int(z)) for z in numbers], np.int32), len(zs)


# --- peers' python --------------------------------------------------------------------------


def find_peers_python(given: str | None) -> str | None:
    """The interpreter that has torch, mace-torch and schnetpack: ``given``, else
    ``$MDWB_PEERS_PYTHON``, else this one if it has them; None if none has."""
    exe = given or os.environ.get("MDWB_PEERS_PYTHON")
    if exe:
        return exe
    if all(importlib.util.find_spec(m) for m in ("torch", "mace", "schnetpack")):
        return sys.executable
    return None


# --- worker processes -----------------------------------------------------------------------


@dataclass
class Worker:
    """A benchmark worker: a process that prints ``READY {json}``, then answers ``run S`` with
    ``RESULT {json}`` and ``quit`` with ``DONE {json}`` (``mlff_peers.py`` module docstring).
    Its stderr goes to ``log``; a worker that dies raises with the end of that log."""

    name: str
    argv: list[str]
    log: str
    env: dict[str, str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Worker:
        self._err = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, env=self.env, cwd=ROOT)
        return self

    def _expect(self, tag: str) -> dict[str, Any]:
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1:])
        self.proc.wait()
        self._err.flush()
        with open(self.log) as fh:
            tail = fh.read()[-3000:]
        raise RuntimeError(f"{self.name} worker ({shlex.join(self.argv)}) exited with "
                           f"{self.proc.returncode} before {tag}:\n{tail}")

    def ready(self) -> dict[str, Any]:
        self.info = self._expect("READY")
        return self.info

    def run(self, seconds: float) -> dict[str, Any]:
        self.proc.stdin.write(f"run {seconds}\n")
        self.proc.stdin.flush()
        return self._expect("RESULT")

    def quit(self) -> dict[str, Any]:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        done = self._expect("DONE")
        self.proc.wait(timeout=60)
        self._err.close()
        return done

    def kill(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def interleave(workers: list[Worker], rounds: int, seconds: float) -> dict[str, list[dict]]:
    """``rounds`` timed blocks of at least ``seconds`` from every worker, one worker at a time,
    the order reversed every round; returns each worker's results."""
    out: dict[str, list[dict]] = {w.name: [] for w in workers}
    for r in range(rounds):
        for w in (workers if r % 2 == 0 else workers[::-1]):
            out[w.name].append(w.run(seconds))
    return out


def worker_env(threads: int | None) -> dict[str, str]:
    """The environment of a worker: this checkout on ``PYTHONPATH`` (after what is there, so
    ``PYTHONPATH=/another/checkout`` measures that one's models); with ``threads``, OpenMP
    (torch) told to use that many, and with one thread XLA's CPU backend told not to split its
    matrix products over threads (``--xla_cpu_multi_thread_eigen=false``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), ROOT) if p)
    env.setdefault("PYTHONWARNINGS", "ignore")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        if threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                                + " --xla_cpu_multi_thread_eigen=false").strip()
    return env


def write_json(path: str, obj: dict[str, Any]) -> str:
    with open(path, "w") as fh:
        json.dump(obj, fh)
    return path
