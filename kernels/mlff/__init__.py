"""Machine-learned force fields in the kernel: one interface for every architecture.

An architecture is a flax module that maps a graph to per-atom energies::

    module(vectors, species, senders, receivers, edge_mask) -> [n_atoms] (model energy units)

- ``vectors``: ``[n_edges, 3]`` edge vectors ``r_receiver - r_sender`` (minimum image), in Å;
- ``species``: ``[n_atoms]`` int32 index into the model's species list (0 .. n_species - 1);
- ``senders``, ``receivers``: ``[n_edges]`` int32 atom indices; padding edges point at atom
  ``n_atoms`` (the jax_md convention) and have ``edge_mask`` False;
- the module applies a smooth cutoff itself, so edges listed beyond its cutoff (the neighbour
  list's skin) contribute nothing.

``kernels.mlff.model.energy_model(module, cutoff, shifts, scale)`` turns a module into an
``MLFFModel`` with ``init_fn(key, positions, neighbor, species, box) -> params`` and
``energy_fn(params, positions, neighbor, species, box) -> []`` in eV, forces by ``jax.grad``,
the same for every architecture (SchNet, PaiNN, the pair MLP here; MACE, NequIP and ViSNet from
InstaDeep's ``mlip``). ``neighbor`` is a jax_md ``NeighborList`` (any sparse format) or an
``Edges`` tuple of precomputed edges (training on fixed frames); ``box`` is ``[3]`` (orthorhombic,
Å) or None for free boundary conditions.
"""
