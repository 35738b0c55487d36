"""Test helpers: a small pair-MLP whose weights make it a Lennard-Jones pair potential (argon-like,
ASE units), and a brute-force numpy evaluation of any pair-MLP's energy.

The hidden layers keep their random initial weights; the last layer is solved by linear least
squares so that the network output times ``scale`` matches ``4 eps ((s/r)^12 - (s/r)^6)`` and
its derivative on ``[R_FIT_MIN, cutoff]`` for every species pair (the module multiplies it by
its cosine cutoff, so the model's pair energy is ``LJ(r) fc(r)``, smooth at the cutoff). A few
milliseconds; no training loop, so the tests do not depend on the training job.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from workbench.architectures import architecture
from workbench.learned import LearnedForceField

SIGMA = 3.405  # Å, argon (Rowley et al. 1975 LJ parameters, as in workbench.calculator)
EPSILON = 0.0103  # eV
CUTOFF = 7.0  # Å (2.06 sigma)
R_FIT_MIN = 2.9  # Å (0.85 sigma: LJ = +8.4 eps); not fitted below: for seed 0 the pair
#                   energy there still rises to a barrier of ~120 eps at 2.25 Å, which argon at
#                   30-100 K (kT < 1 eps) never reaches
AR, KR = 18, 36


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def features(params: dict, r: np.ndarray, cutoff: float, n_basis: int) -> np.ndarray:
    """Last hidden layer of a ``PairMLP`` (numpy float64), ``[len(r), width]``."""
    mu = np.linspace(0.0, cutoff, n_basis)
    width = cutoff / (n_basis - 1)
    h = np.exp(-0.5 * ((r[:, None] - mu) / width) ** 2)
    p = params["params"]
    layers = sorted(k for k in p if k.startswith("Dense_"))
    for name in layers[:-1]:
        h = _silu(h @ np.asarray(p[name]["kernel"], np.float64)
                  + np.asarray(p[name]["bias"], np.float64))
    return h


def pair_table(params: dict, r: np.ndarray, cutoff: float, n_basis: int, n_species: int
               ) -> np.ndarray:
    """``[len(r), n_species, n_species]`` symmetric pair energies (network units) times the
    cosine cutoff, as ``kernels.mlff.pair_mlp.PairMLP`` computes them (numpy float64)."""
    p = params["params"]
    last = sorted(k for k in p if k.startswith("Dense_"))[-1]
    u = (features(params, r, cutoff, n_basis) @ np.asarray(p[last]["kernel"], np.float64)
         + np.asarray(p[last]["bias"], np.float64)).reshape(-1, n_species, n_species)
    u = 0.5 * (u + u.transpose(0, 2, 1))
    fc = np.where(r < cutoff, 0.5 * (np.cos(np.pi * r / cutoff) + 1.0), 0.0)
    return u * fc[:, None, None]


def lj(r: np.ndarray, sigma: float = SIGMA, epsilon: float = EPSILON) -> np.ndarray:
    return 4.0 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6)


def lj_derivative(r: np.ndarray, sigma: float = SIGMA, epsilon: float = EPSILON) -> np.ndarray:
    """dLJ/dr (eV/Å)."""
    return 4.0 * epsilon * (-12.0 * sigma**12 / r**13 + 6.0 * sigma**6 / r**7)


def lj_model(species: tuple[int, ...] = (AR,), *, cutoff: float = CUTOFF, hidden=(64, 64),
             n_basis: int = 32, seed: int = 0, sigmas: dict | None = None) -> LearnedForceField:
    """A ``LearnedForceField`` (pair MLP) reproducing LJ between every species pair (module
    docstring); ``sigmas``: ``{(a, b): sigma}`` by species index pair (default ``SIGMA``)."""
    n = len(species)
    arch = architecture("pair_mlp", cutoff=cutoff, n_basis=n_basis, hidden=list(hidden))
    module = arch.module(n)
    graph = (jnp.ones((1, 3), jnp.float32), jnp.zeros(2, jnp.int32), jnp.zeros(1, jnp.int32),
             jnp.ones(1, jnp.int32), jnp.ones(1, bool))  # one edge between two atoms
    params = jax.tree.map(np.asarray, jax.jit(module.init)(jax.random.PRNGKey(seed), *graph))
    r = np.linspace(R_FIT_MIN, cutoff, 400)
    h = 1e-5  # Å: central differences of the features for the force rows
    dA = (features(params, r + h, cutoff, n_basis) - features(params, r - h, cutoff, n_basis)
          ) / (2 * h)
    # energy rows and force rows (times sigma, so both are in units of eps): the forces of the
    # model are what MD and the force comparisons see
    A = np.concatenate([np.concatenate([features(params, r, cutoff, n_basis),
                                        np.ones((len(r), 1))], axis=1),
                        np.concatenate([SIGMA * dA, np.zeros((len(r), 1))], axis=1)])
    p = params["params"]
    last = sorted(k for k in p if k.startswith("Dense_"))[-1]
    kernel = np.zeros_like(np.asarray(p[last]["kernel"]))
    bias = np.zeros_like(np.asarray(p[last]["bias"]))
    for a in range(n):
        for b in range(n):
            s = (sigmas or {}).get((min(a, b), max(a, b)), SIGMA)
            target = np.concatenate([lj(r, s), SIGMA * lj_derivative(r, s)]) / EPSILON
            coef, *_ = np.linalg.lstsq(A, target, rcond=None)
            kernel[:, a * n + b], bias[a * n + b] = coef[:-1], coef[-1]
    p[last] = {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
    params = jax.tree.map(lambda x: np.asarray(x, np.float32), params)
    return LearnedForceField(architecture=arch, species=list(species), shifts=[0.0] * n,
                             scale=EPSILON, params=params)


def numpy_energy(model: LearnedForceField, positions: np.ndarray, species_index: np.ndarray,
                 box: np.ndarray | None) -> float:
    """Brute-force energy (eV, float64) of a pair-MLP model: every pair, minimum image."""
    arch = model.architecture
    R = np.asarray(positions, np.float64)
    i, j = np.triu_indices(len(R), 1)
    d = R[j] - R[i]
    if box is not None:
        d = d - box * np.round(d / box)
    r = np.linalg.norm(d, axis=1)
    table = pair_table(model.params, r, arch.cutoff, arch.n_basis, len(model.species))
    u = table[np.arange(len(r)), species_index[i], species_index[j]]
    return float(model.scale * np.sum(u) + np.sum(np.asarray(model.shifts)[species_index]))


def silent_model(species: tuple[int, ...], cutoff: float = 5.0) -> LearnedForceField:
    """A pair MLP whose last layer is zero: no forces at all (an ideal gas), for tests of the
    plumbing (dashboards, species checks) with species such as water's, where a pair
    potential fitted to LJ would tear the molecules apart."""
    model = lj_model(species, cutoff=cutoff, hidden=(8,), n_basis=8)
    p = model.params["params"]
    last = sorted(k for k in p if k.startswith("Dense_"))[-1]
    p[last] = {k: np.zeros_like(v) for k, v in p[last].items()}
    return model
