"""MACE, NequIP and ViSNet from InstaDeep's ``mlip`` (PyPI ``mlip``, Apache-2.0) as modules of
the ``kernels.mlff`` interface.

``MLIPNetwork(network, n_species, cutoff, avg_num_neighbors, config)`` builds mlip's flax network
(``mlip.models.Mace``, ``Nequip`` or ``Visnet``) from its pydantic ``Config`` (``config``: the
hyperparameters as ``(name, value)`` pairs, mlip's defaults for the rest) and a ``DatasetInfo``
for our species and cutoff, and calls it on an ``mlip.graph.Graph`` made from our edges:

- species index ``k`` becomes atomic number ``k + 1`` for a ``DatasetInfo`` whose
  ``atomic_energies_map`` is ``{1: 0, ..., n_species: 0}``, so mlip's species index is ours;
  ``add_atomic_energies`` is False and mlip's energy scaling stays (mean 0, std 1): the per-species
  shifts and the scale are added by ``kernels.mlff.model.energy_model`` only;
- the graph has ``n_atoms + 1`` nodes in two graphs (``n_node = [n_atoms, 1]``): mlip's padding
  convention (``mlip.graph.mask_helpers``) marks the last node as padding, every masked edge is
  pointed at it (sender and receiver), and mlip masks messages and energies of padding nodes;
- edges are sorted by sender (mlip's ``EdgeOrdering.SENDER``, which its e3j convolutions assert
  and the fused GPU kernels rely on), so the edge list must hold each pair in both directions
  (``kernels.mlff.graph.edges`` does);
- a float32 call traces the network with JAX's 64-bit mode off in that scope only
  (``jax.enable_x64(False)``, thread-local), so it computes in float32 as asked; float64 calls
  run as they are;
- the precomputed vectors reach mlip through ``GraphEdges.displ_fun`` (mlip's own route for jax_md
  displacements, ``mlip.simulation.jax_md.graph_creation``), so the minimum image is ours.

Returns ``[n_atoms]`` per-atom energies (model units).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from kernels.mlff.graph import PADDING_LENGTH

Array = jnp.ndarray
NETWORKS = ("mace", "nequip", "visnet")


def _given_vectors(vectors: Array, senders_pos: Array, receivers_pos: Array, cell: Array
                   ) -> Array:
    """mlip ``displ_fun`` that hands back edge vectors computed beforehand."""
    return vectors


def _network_class(name: str) -> Any:
    if name == "mace":
        from mlip.models import Mace
        return Mace
    if name == "nequip":
        from mlip.models import Nequip
        return Nequip
    if name == "visnet":
        from mlip.models import Visnet
        return Visnet
    raise ValueError(f"unknown mlip network {name!r}; choose one of {NETWORKS}")


def mlip_network(name: str, n_species: int, cutoff: float, avg_num_neighbors: float = 1.0,
                 config: dict[str, Any] | None = None) -> nn.Module:
    """The bare mlip network ``name`` for species ``0 .. n_species - 1`` (atomic numbers
    ``1 .. n_species`` inside mlip), ``cutoff`` in Å; ``ValueError`` for an unknown name or a
    hyperparameter its ``Config`` rejects."""
    from mlip.data.dataset_info import DatasetInfo

    cls = _network_class(name)
    if not 1 <= n_species <= 118:
        raise ValueError(f"n_species must be 1 .. 118, got {n_species}")
    try:
        cfg = cls.Config(**{**(config or {}), "add_atomic_energies": False})
    except Exception as exc:  # pydantic.ValidationError, raised for any bad field
        raise ValueError(f"{name}: {exc}") from None
    info = DatasetInfo(atomic_energies_map={z: 0.0 for z in range(1, n_species + 1)},
                       graph_cutoff_angstrom=float(cutoff),
                       avg_num_neighbors=float(avg_num_neighbors))
    return cls(config=cfg, dataset_info=info, name="network")


def mlip_graph(vectors: Array, species: Array, senders: Array, receivers: Array,
               edge_mask: Array) -> Any:
    """The ``mlip.graph.Graph`` of one structure on the ``kernels.mlff`` edge interface
    (module docstring): ``n_atoms + 1`` nodes, masked edges on the padding node, sorted by
    sender."""
    from mlip.graph import EdgeOrdering, Graph, GraphEdges, GraphGlobals, GraphNodes

    n = species.shape[0]
    dtype = vectors.dtype
    far = jnp.zeros_like(vectors).at[:, 0].set(PADDING_LENGTH)
    vectors = jnp.where(edge_mask[:, None], vectors, far)
    senders = jnp.where(edge_mask, senders, n).astype(jnp.int32)
    receivers = jnp.where(edge_mask, receivers, n).astype(jnp.int32)
    order = jnp.argsort(senders, stable=True)
    senders, receivers, vectors = senders[order], receivers[order], vectors[order]
    numbers = jnp.concatenate([jnp.asarray(species, jnp.int32) + 1,
                               jnp.ones((1,), jnp.int32)])
    return Graph(
        nodes=GraphNodes(positions=jnp.zeros((n + 1, 3), dtype), atomic_numbers=numbers),
        edges=GraphEdges(shifts=None, displ_fun=jax.tree_util.Partial(_given_vectors, vectors)),
        globals=GraphGlobals(cell=jnp.zeros((2, 3, 3), dtype), weight=jnp.ones((2,), dtype),
                             energy=jnp.zeros((2,), dtype)),
        n_node=jnp.array([n, 1], jnp.int32),
        n_edge=jnp.array([senders.shape[0], 0], jnp.int32),
        senders=senders, receivers=receivers, ordering=EdgeOrdering.SENDER)


class MLIPNetwork(nn.Module):
    """An mlip network on the ``kernels.mlff`` interface (module docstring). network: "mace",
    "nequip" or "visnet"; cutoff: Å; avg_num_neighbors: mlip's message normalisation (MACE,
    NequIP); config: ``(name, value)`` pairs for the network's ``Config``."""

    network: str
    n_species: int
    cutoff: float = 5.0
    avg_num_neighbors: float = 1.0
    config: tuple[tuple[str, Any], ...] = ()

    @nn.compact
    def __call__(self, vectors, species, senders, receivers, edge_mask):
        net = mlip_network(self.network, self.n_species, self.cutoff, self.avg_num_neighbors,
                           dict(self.config))
        graph = mlip_graph(vectors, species, senders, receivers, edge_mask)
        if vectors.dtype == jnp.float32:
            # mlip's constants (scales, bases, Clebsch-Gordan tables) follow JAX's default
            # dtype, float64 in a workbench process, and would turn a float32 model into a
            # float64 computation: trace the network with 64-bit mode off in this scope only
            # (a thread-local context; the process-wide setting is untouched)
            with jax.enable_x64(False):
                out = net(graph)
        else:
            out = net(graph)
        return out.nodes.features["energy"][: species.shape[0]].astype(vectors.dtype)
