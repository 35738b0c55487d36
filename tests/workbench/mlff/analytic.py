"""A known analytic potential to train on: a Morse pair potential with species-dependent well
depths, times a cosine cutoff at 5 Å (so a pair model with that cutoff can represent it
exactly), on perturbed 8-atom clusters (free boundaries) or 54-atom crystals (periodic).
Energies (eV) and forces (eV/Å) are computed here with NumPy, analytically."""

import numpy as np

from workbench.data import Dataset

CUTOFF = 5.0  # Å
R0, A = 2.6, 1.4  # Å, 1/Å
DEPTH = {(10, 10): 0.05, (10, 18): 0.10, (18, 18): 0.20}  # eV, Ne-Ne, Ne-Ar, Ar-Ar
ATOM_ENERGY = {10: -3.0, 18: -7.0}  # eV, per-species constants added to every frame


def _pair(r, depth):
    """Energy and dE/dr of the cut Morse pair at distance r (Å)."""
    x = np.exp(-A * (r - R0))
    u = depth * (x * x - 2 * x)
    du = depth * (-2 * A * x * x + 2 * A * x)
    inside = r < CUTOFF
    fc = np.where(inside, 0.5 * (np.cos(np.pi * r / CUTOFF) + 1), 0.0)
    dfc = np.where(inside, -0.5 * np.pi / CUTOFF * np.sin(np.pi * r / CUTOFF), 0.0)
    return u * fc, du * fc + u * dfc


def energy_forces(positions, species, box=None):
    """Energy (eV) and forces ([n, 3] eV/Å) of one frame."""
    n = len(species)
    i, j = np.triu_indices(n, 1)
    d = positions[j] - positions[i]
    if box is not None:
        d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=1)
    depth = np.array([DEPTH[tuple(sorted((species[a], species[b])))]
                      for a, b in zip(i, j, strict=True)])
    u, du = _pair(r, depth)
    f = (du / r)[:, None] * d  # force on i: +dU/dr * d/r ; on j: opposite
    forces = np.zeros((n, 3))
    np.add.at(forces, i, f)
    np.add.at(forces, j, -f)
    return u.sum() + sum(ATOM_ENERGY[z] for z in species), forces


def morse_dataset(n_frames, seed=0, periodic=False, noise=0.2):
    """Frames of the cluster (8 atoms on a cube of side R0) or of a periodic bcc crystal
    (54 atoms, 3 x 3 x 3 cells of 3.4 Å: nearest neighbours at 2.94 Å, box side 10.2 Å, so a
    5 Å cutoff fits the minimum image), positions perturbed by ``noise`` Å."""
    rng = np.random.default_rng(seed)
    if periodic:
        g = np.arange(3) * 3.4
        base = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        base = np.concatenate([base, base + 1.7])
        box = np.full(3, 10.2)
        species = np.array([10] * 27 + [18] * 27)
    else:
        g = np.arange(2) * R0
        base = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        box = None
        species = np.array([18 if k % 2 else 10 for k in range(len(base))])
    pos = base[None] + rng.normal(0, noise, (n_frames, *base.shape))
    ef = [energy_forces(p, species, box) for p in pos]
    return Dataset(positions=pos, species=species, energies=np.array([e for e, _ in ef]),
                   forces=np.stack([f for _, f in ef]), box=box,
                   provenance={"source": "tests/workbench/mlff/analytic.py"})
