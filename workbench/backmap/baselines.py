"""Deterministic backmapping baselines for CGVAE (Wang et al., ICML 2022): every atom a fixed
linear combination of the beads.

- ``LinearBackmapper.fit(positions, mapping)``: the "linear projection" baseline, the map
  fitted by least squares on training frames (``kernels.generative.linear``; frames centred on
  their beads' centroid);
- ``LinearBackmapper.from_autograin(run)``: the decoder an Autograin training learned
  (``workbench.coarse.autograin``) with its mapping; it was trained on frames centred on their
  centre of mass, which its centre-of-mass beads give (``sum_I M_I X_I / M``).

Both have ``backmap(cg_positions)`` and ``reconstruct(positions)`` (Å, numpy), as
``workbench.backmap.cgvae.Backmapper``, so that ``workbench.backmap.metrics`` scores them
alike.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from kernels.generative import linear
from workbench.backmap.cgvae import map_frames
from workbench.coarse.autograin import load_autograin
from workbench.mapping import CGMapping
from workbench.registry import Run, RunRegistry

__all__ = ["LinearBackmapper"]


class LinearBackmapper:
    """Atoms ``x = D (X - C) + C`` from beads ``X`` with ``D [n_atoms, n_beads]`` and the
    centre ``C = sum_I w_I X_I`` (``centre_weights [n_beads]``, summing to 1)."""

    def __init__(self, D, mapping: CGMapping, centre_weights):
        self.D = np.asarray(D, np.float64)
        self.mapping = mapping
        self.centre_weights = np.asarray(centre_weights, np.float64)

    @classmethod
    def fit(cls, positions, mapping: CGMapping) -> LinearBackmapper:
        """The least-squares map on frames ``positions [n_frames, n_atoms, 3]`` (Å)."""
        x = np.asarray(positions, np.float64)
        if x.ndim != 3 or x.shape[1:] != (mapping.n_atoms, 3):
            raise ValueError(f"positions must be [n_frames, {mapping.n_atoms}, 3], got "
                             f"{x.shape}")
        D = linear.fit(jnp.asarray(x), jnp.asarray(mapping.position_matrix()))
        return cls(D, mapping, np.full(mapping.n_beads, 1.0 / mapping.n_beads))

    @classmethod
    def from_autograin(cls, run: str | Run, registry: RunRegistry | None = None
                       ) -> LinearBackmapper:
        """The learned linear decoder of an Autograin run (an id or a ``Run``), restricted to
        the beads its mapping uses."""
        params, mapping = load_autograin(run, registry)
        labels = np.argmax(params["logits"], axis=1)
        _, first = np.unique(labels, return_index=True)
        used = labels[np.sort(first)]  # the mapping numbers beads by first appearance
        M = mapping.bead_masses()
        return cls(params["decoder"][:, used], mapping, M / M.sum())

    def backmap(self, cg_positions) -> np.ndarray:
        """Atoms ``[..., n_atoms, 3]`` (Å) of CG frames ``[..., n_beads, 3]`` (Å)."""
        X = np.asarray(cg_positions, np.float64)
        if X.shape[-2:] != (self.mapping.n_beads, 3):
            raise ValueError(f"cg_positions must be [..., {self.mapping.n_beads}, 3], got "
                             f"{X.shape}")
        centre = np.einsum("I,...Id->...d", self.centre_weights, X)[..., None, :]
        return np.einsum("iI,...Id->...id", self.D, X - centre) + centre

    def reconstruct(self, positions) -> np.ndarray:
        """Atoms ``positions [..., n_atoms, 3]`` (Å) mapped and backmapped."""
        return self.backmap(map_frames(self.mapping, positions))
