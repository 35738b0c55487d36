"""SchNet: continuous-filter convolutions on a Gaussian radial basis.

Schütt, Sauceda, Kindermans, Tkatchenko, Müller, "SchNet - a deep learning architecture for
molecules and materials", J. Chem. Phys. 148, 241722 (2018); layer layout and defaults as in
schnetpack 2 (``schnetpack.representation.SchNet``, ``schnetpack.atomistic.Atomwise``):

- atom embedding ``h_i = Embed(species_i)`` (``n_features``);
- ``n_interactions`` interaction blocks, each ``h_i += Dense-ssp-Dense(sum_j x_j * W(r_ij))``
  with ``x = Dense(h)`` (``n_filters``, no bias) and the filter network
  ``W(r) = Dense(ssp(Dense(g(r)))) * f_cut(r)`` on ``n_gaussians`` Gaussians ``g`` spaced on
  ``[0, cutoff]`` (width = spacing) times the cosine cutoff;
- an atom-wise output MLP ``n_features -> n_features / 2 (ssp) -> 1``: the per-atom energy.

``ssp(x) = softplus(x) - log 2`` (shifted softplus). Module interface as ``kernels.mlff``.

Written by hand because no maintained JAX package on PyPI offers SchNet (schnetpack is PyTorch;
InstaDeep's ``mlip`` has MACE, NequIP and ViSNet only).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from kernels.mlff.radial import cosine_cutoff, gaussian_basis
from kernels.mlff.tables import DEFAULT_POINTS, filter_tables, locate, lookup

Array = jnp.ndarray


def shifted_softplus(x: Array) -> Array:
    """``softplus(x) - log 2``: zero at zero, SchNet's activation."""
    return jax.nn.softplus(x) - jnp.log(jnp.asarray(2.0, x.dtype))


class SchNetFilters(nn.Module):
    """Every block's filter network times the cosine cutoff, ``W_k(r) = Dense(ssp(Dense(g(r))))
    f_cut(r)``: ``r: [n_edges]`` Å -> a list of ``n_interactions`` ``[n_edges, n_filters]``."""

    cutoff: float
    n_filters: int
    n_interactions: int
    n_gaussians: int

    @nn.compact
    def __call__(self, r):
        rbf = gaussian_basis(r, self.cutoff, self.n_gaussians)
        fcut = cosine_cutoff(r, self.cutoff)[:, None]
        F = self.n_filters
        return [nn.Dense(F)(shifted_softplus(nn.Dense(F)(rbf))) * fcut
                for _ in range(self.n_interactions)]


class SchNetInteraction(nn.Module):
    """One interaction block: continuous-filter convolution and the atom-wise update.
    ``h: [n_atoms + 1, n_features]`` (last row: the padding atom), ``w: [n_edges, n_filters]``
    (the filter times the cutoff, zero on padding edges); returns the update of ``h``."""

    n_features: int
    n_filters: int

    @nn.compact
    def __call__(self, h, w, senders, receivers):
        x = nn.Dense(self.n_filters, use_bias=False)(h)
        x = jax.ops.segment_sum(x[senders] * w, receivers, num_segments=h.shape[0])
        x = shifted_softplus(nn.Dense(self.n_features)(x))
        return nn.Dense(self.n_features)(x)


class SchNet(nn.Module):
    """SchNet (module docstring). n_species: species count; cutoff: Å; n_features: atom
    feature width; n_filters: filter width; n_interactions: interaction blocks; n_gaussians:
    Gaussians on [0, cutoff]. Returns ``[n_atoms]`` per-atom energies (model units).

    With a ``tables`` collection in the variables (``md_tables``), the filters are looked up in
    cubic tables instead of evaluated (``kernels.mlff.tables``): the same model within float32
    rounding, several times faster, for MD with fixed weights."""

    n_species: int
    cutoff: float = 5.0
    n_features: int = 128
    n_filters: int = 128
    n_interactions: int = 6
    n_gaussians: int = 50

    def _filter_module(self, **kwargs) -> SchNetFilters:
        return SchNetFilters(self.cutoff, self.n_filters, self.n_interactions, self.n_gaussians,
                             **kwargs)

    @nn.compact
    def __call__(self, vectors, species, senders, receivers, edge_mask):
        n_atoms = species.shape[0]
        dtype = vectors.dtype
        r = jnp.linalg.norm(vectors, axis=-1)
        keep = (edge_mask & (r < self.cutoff))[:, None]
        if self.has_variable("tables", "filter_table"):
            tables = self.get_variable("tables", "filter_table")
            i, t = locate(r, tables.shape[2], self.cutoff)
            w = [lookup(table, i, t) for table in tables]
        else:
            w = self._filter_module(name="filters")(r)
        w = [jnp.where(keep, wk, 0.0).astype(dtype) for wk in w]
        # padding edges point at row n_atoms, a dummy atom whose features never reach a real one
        s = jnp.concatenate([species, jnp.zeros((1,), species.dtype)])
        h = nn.Embed(self.n_species, self.n_features)(s).astype(dtype)
        for k in range(self.n_interactions):
            h = h + SchNetInteraction(self.n_features, self.n_filters)(
                h, w[k], senders, receivers)
        h = shifted_softplus(nn.Dense(max(self.n_features // 2, 1))(h[:n_atoms]))
        return nn.Dense(1)(h)[:, 0]

    def md_tables(self, variables: dict, n_points: int = DEFAULT_POINTS) -> dict:
        """``variables`` with a ``tables`` collection: the filters of every block (cutoff
        included) as cubic tables of ``n_points`` on ``[0, cutoff]`` (``[n_interactions, 4,
        n_points - 1, n_filters]``, computed in float64 when x64 is on)."""
        tables = filter_tables(self._filter_module(parent=None),
                               variables["params"]["filters"], self.cutoff, n_points)
        return {**variables, "tables": {"filter_table": tables}}
