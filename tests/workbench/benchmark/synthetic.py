"""Synthetic trajectories with known answers for the benchmark-metric tests."""

from __future__ import annotations

import ase.io
import numpy as np
from ase.build import molecule

from workbench.benchmark import Trajectory


def vibrating_molecule(name: str, n_frames: int, seed: int, noise_A: float = 0.02
                       ) -> Trajectory:
    """ASE's ``molecule(name)`` with Gaussian noise (Å) on every atom in every frame, no box,
    0.05 ps between frames (MDsim's MD17 spacing)."""
    atoms = molecule(name)
    rng = np.random.default_rng(seed)
    x = atoms.positions[None] + rng.normal(0.0, noise_A, (n_frames, len(atoms), 3))
    return Trajectory(x, atoms.numbers, None, 0.05)


def water_box(n_side: int, box_A: float, n_frames: int, seed: int, noise_A: float = 0.05,
              dt_ps: float = 0.1, noise_seed: int | None = None) -> Trajectory:
    """``n_side**3`` waters of ASE's geometry (O-H 0.97 Å, H-O-H 104 degrees) on a cubic grid in
    a cubic box, randomly oriented (``seed``), with Gaussian noise per frame (``noise_seed``,
    default ``seed``); atoms ordered O H H."""
    rng = np.random.default_rng(seed if noise_seed is None else noise_seed)
    water = molecule("H2O")  # O first
    local = water.positions - water.positions[0]
    grid = (np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
            + 0.5) * (box_A / n_side)
    frames = []
    from scipy.spatial.transform import Rotation

    rot = Rotation.random(len(grid), random_state=seed).as_matrix()
    base = (grid[:, None, :] + np.einsum("mij,aj->mai", rot, local)).reshape(-1, 3)
    for _ in range(n_frames):
        frames.append(base + rng.normal(0.0, noise_A, base.shape))
    numbers = np.tile(water.numbers, len(grid))
    return Trajectory(np.stack(frames), numbers, np.full(3, box_A), dt_ps)


def ideal_gas(n_o: int, n_h: int, box_A: float, n_frames: int, seed: int) -> Trajectory:
    """Uniform random positions (no interactions) of ``n_o`` O and ``n_h`` H atoms."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, box_A, (n_frames, n_o + n_h, 3))
    return Trajectory(x, np.array([8] * n_o + [1] * n_h), np.full(3, box_A), 0.1)


def brownian(n_atoms: int, n_frames: int, dt_ps: float, D_A2_per_ps: float, seed: int,
             box_A: float | None = None) -> Trajectory:
    """Free Brownian oxygens: independent Gaussian steps of variance 2 D dt per axis; wrapped
    into the box when there is one."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2 * D_A2_per_ps * dt_ps), (n_frames, n_atoms, 3))
    steps[0] = rng.uniform(0.0, box_A or 10.0, (n_atoms, 3))
    x = np.cumsum(steps, axis=0)
    if box_A is not None:
        x = x % box_A
    return Trajectory(x, np.full(n_atoms, 8), None if box_A is None else np.full(3, box_A),
                      dt_ps)


def write_traj(traj: Trajectory, path) -> str:
    """Write ``traj`` as an ASE ``.traj`` file (as MDsim's simulator stores runs)."""
    ase.io.write(path, traj.to_atoms(), format="traj")
    return str(path)
