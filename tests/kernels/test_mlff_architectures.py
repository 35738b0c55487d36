"""Every learned force-field architecture behind the ``kernels.mlff`` interface, at small sizes, in
float64: forces are ``-grad E`` and equal finite differences; the energy is invariant under
rotation, translation and permutation of like atoms and forces rotate with the structure; padding
edges, periodic images and the cutoff change nothing they should not; models save and reload bit
for bit.

Expected numbers come from exact identities (a symmetry, a padding edge that is masked, a periodic
image that is the same pair), so tolerances are float64 round-off (1e-9 relative) or the
truncation error of a central difference (relative 1e-6 at h = 1e-5 Å).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels.mlff.graph import Edges
from kernels.mlff.mlip_models import mlip_network
from workbench.architectures import ARCHITECTURES, architecture, architecture_from_dict
from workbench.learned import LearnedForceField

CUTOFF = 5.0  # Å
#: small sizes, so that each architecture compiles in seconds
SMALL = {
    "pair_mlp": dict(hidden=[16, 16], n_basis=8),
    "schnet": dict(n_features=16, n_filters=16, n_interactions=2, n_gaussians=10),
    "painn": dict(n_features=16, n_interactions=2, n_bessel=8),
    "mace": dict(num_channels=8, num_layers=2, l_max=2, correlation=2, radial_mlp_hidden=[16],
                 avg_num_neighbors=4.0),
    "nequip": dict(target_irreps="8x0e + 8x0o + 4x1o + 4x1e", num_layers=2, l_max=2,
                   radial_mlp_hidden=[16], avg_num_neighbors=4.0),
    "visnet": dict(num_channels=16, num_layers=2, num_heads=2, num_rbf=8),
}
SPECIES = jnp.asarray([0, 1, 0, 1, 0, 0], jnp.int32)
N = 6
N_PAD = 6  # padding edges appended to the 30 directed pairs
# a compact cluster (x <= 0) and atom 5 on the +x side, 4.2 Å from atom 0: inside the cutoff
CLUSTER = np.array([[0.0, 0.0, 0.0], [-1.1, 0.9, 0.2], [-1.3, -0.8, 0.5], [-2.0, 0.2, -0.9],
                    [-0.9, 0.1, 1.3], [4.2, 0.3, -0.2]])


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(N, 1)
    return np.r_[i, j], np.r_[j, i]


def _edges(padding: list[tuple[int, int]] | None = None) -> Edges:
    s, r = _pairs()
    if padding is not None:
        s = np.r_[s, [p[0] for p in padding]]
        r = np.r_[r, [p[1] for p in padding]]
    return Edges(jnp.asarray(s, jnp.int32), jnp.asarray(r, jnp.int32))


PADDED = _edges([(N, N)] * N_PAD)


class Case:
    """One architecture at a small size: the model, float64 parameters and jitted functions
    compiled once per architecture."""

    def __init__(self, name: str):
        self.name = name
        # "<arch>_tabulated": the weights with the architecture's MD tables (MLFFModel.tabulate_fn)
        arch_name = name.removesuffix(TABULATED)
        self.tabulated = arch_name != name
        self.arch = architecture(arch_name, cutoff=CUTOFF, **SMALL[arch_name])
        self.lff = LearnedForceField(architecture=self.arch, species=[1, 8], shifts=[-0.3, 0.7],
                                     scale=0.5)
        self.model = self.lff.build_model()
        R = self.positions()
        self.lff.params = jax.jit(self.model.init_fn)(jax.random.PRNGKey(0), R, PADDED, SPECIES)
        self.params = self.md_params(self.lff.params)
        self.value_and_force = jax.jit(
            lambda p, R, e: _negate_grad(jax.value_and_grad(self.model.energy_fn, argnums=1)(
                p, R, e, SPECIES)))
        self.energy = jax.jit(lambda p, R, e: self.model.energy_fn(p, R, e, SPECIES))
        self.energy_box = jax.jit(lambda p, R, e, box: self.model.energy_fn(p, R, e, SPECIES,
                                                                            box))

    def md_params(self, params):
        return self.model.tabulate_fn(params) if self.tabulated else params

    @staticmethod
    def positions(R: np.ndarray = CLUSTER) -> jnp.ndarray:
        return jnp.asarray(R, jnp.float64)

    def ef(self, R, edges: Edges = PADDED) -> tuple[float, np.ndarray]:
        E, F = self.value_and_force(self.params, jnp.asarray(R, jnp.float64), edges)
        return float(E), np.asarray(F)


def _negate_grad(vg):
    return vg[0], -vg[1]


_CASES: dict[str, Case] = {}


#: e3nn tensor products take 20-40 s to compile on two CPU cores even at these sizes; ViSNet (in
#: the default tier) exercises the same mlip wrapper
SLOW = {"mace", "nequip"}
#: the architectures whose radial functions MD looks up in cubic tables (kernels.mlff.tables)
TABULATED = "_tabulated"
WITH_TABLES = ["schnet"]


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                        for n in sorted(ARCHITECTURES) + [a + TABULATED for a in WITH_TABLES]])
def case(request) -> Case:
    name = request.param
    if name not in _CASES:
        _CASES[name] = Case(name)
    return _CASES[name]


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_forces_equal_finite_differences(case):
    R = CLUSTER
    E, F = case.ef(R)
    assert np.isfinite(E) and np.all(np.isfinite(F))
    assert np.abs(F).max() > 1e-6  # a model with forces to check
    h = 1e-5
    for a, k in [(0, 0), (1, 1), (2, 2), (5, 0), (5, 1), (3, 2)]:
        d = np.zeros_like(R)
        d[a, k] = h
        fd = -(case.ef(R + d)[0] - case.ef(R - d)[0]) / (2 * h)
        assert F[a, k] == pytest.approx(fd, abs=1e-6 * np.abs(F).max()), (a, k)


def test_energy_invariant_and_forces_rotate(case):
    E, F = case.ef(CLUSTER)
    Q = _rotation(3)
    t = np.array([0.7, -1.9, 2.3])
    E2, F2 = case.ef(CLUSTER @ Q.T + t)
    assert E2 == pytest.approx(E, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(F2, F @ Q.T, atol=1e-9 * np.abs(F).max())
    # like atoms swapped (0 <-> 2, species 0; 1 <-> 3, species 1): same structure
    perm = np.array([2, 3, 0, 1, 4, 5])
    E3, F3 = case.ef(CLUSTER[perm])
    assert E3 == pytest.approx(E, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(F3, F[perm], atol=1e-9 * np.abs(F).max())
    # unlike atoms swapped: a different structure (the test above is not vacuous)
    assert case.ef(CLUSTER[[1, 0, 2, 3, 4, 5]])[0] != pytest.approx(E, rel=1e-6)


def test_padding_edges_change_nothing(case):
    E, F = case.ef(CLUSTER)
    # the same number of edges, padding of other shapes: self edges, one end on atom N
    E2, F2 = case.ef(CLUSTER, _edges([(0, 0), (N, 2), (3, N), (N, N), (5, 5), (N, 0)]))
    assert E2 == pytest.approx(E, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(F2, F, rtol=0, atol=1e-12 * np.abs(F).max())
    # no padding at all (another shape)
    E3 = float(case.energy(case.params, case.positions(), _edges()))
    assert E3 == pytest.approx(E, rel=1e-12, abs=1e-12)


def test_periodic_images_are_the_same_pairs(case):
    E = case.ef(CLUSTER)[0]
    # every pair (<= 6.6 Å) is shorter than half the box and its next image beyond the cutoff
    box = np.array([14.0, 14.5, 15.0])
    wrapped = np.mod(CLUSTER + np.array([1.0, 0.5, -0.3]), box)  # straddles x = 0 and z = 0
    assert np.ptp(wrapped[:, 0]) > box[0] / 2
    Eb = float(case.energy_box(case.params, case.positions(wrapped), PADDED, jnp.asarray(box)))
    assert Eb == pytest.approx(E, rel=1e-9, abs=1e-12)
    moved = wrapped.copy()
    moved[2] += box * np.array([1, -1, 2])
    Em = float(case.energy_box(case.params, case.positions(moved), PADDED, jnp.asarray(box)))
    assert Em == pytest.approx(E, rel=1e-9, abs=1e-12)


def test_smooth_across_the_cutoff(case):
    # atom 5 alone crosses r = cutoff from atom 0; every other pair of atom 5 is > cutoff + 1
    def at(r):
        R = CLUSTER.copy()
        R[5] = [r, 0.0, 0.0]
        return case.ef(R)

    (Ein, Fin), (Eout, Fout) = at(CUTOFF - 1e-6), at(CUTOFF + 1e-6)
    assert np.isfinite(Ein) and np.isfinite(Eout)
    assert abs(Ein - Eout) < 1e-6
    assert np.all(np.isfinite(Fin)) and np.all(np.isfinite(Fout))
    np.testing.assert_allclose(Fin, Fout, atol=1e-4)
    assert np.abs(Fout[5]).max() == 0.0  # beyond the cutoff atom 5 feels nothing
    # and it did interact inside (the crossing is not vacuous)
    assert abs(at(CUTOFF - 1.0)[0] - Eout) > 1e-9


def test_save_and_load_reproduce_energies_bit_for_bit(case, tmp_path):
    case.lff.save(tmp_path / "model")
    loaded = LearnedForceField.load(tmp_path / "model")
    assert loaded.to_dict() == case.lff.to_dict()
    assert loaded.architecture.module(2) == case.arch.module(2)
    a, b = jax.tree.leaves(case.lff.params), jax.tree.leaves(loaded.params)
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) and np.asarray(x).dtype == np.asarray(y).dtype
               for x, y in zip(a, b, strict=True))
    E, F = case.ef(CLUSTER)
    E2, F2 = case.value_and_force(case.md_params(loaded.params), case.positions(), PADDED)
    assert float(E2) == E
    assert np.array_equal(np.asarray(F2), F)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_architecture_round_trips_and_builds(name):
    arch = architecture(name)
    d = arch.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert architecture_from_dict(d).to_dict() == d
    assert arch.module(3) == architecture_from_dict(d).module(3)
    assert arch.label and arch.reference
    small = architecture(name, **SMALL[name])
    assert architecture_from_dict(small.to_dict()).to_dict() == small.to_dict()


def test_defaults_are_the_papers():
    # SchNet: 128 features and filters, 6 interactions, Gaussians on [0, 5 Å] (schnetpack 2)
    s = architecture("schnet")
    assert (s.n_features, s.n_filters, s.n_interactions, s.n_gaussians, s.cutoff) == (
        128, 128, 6, 50, 5.0)
    # PaiNN: 128 features, 3 interactions, 20 Bessel functions, 5 Å (Schütt et al. 2021)
    p = architecture("painn")
    assert (p.n_features, p.n_interactions, p.n_bessel, p.cutoff) == (128, 3, 20, 5.0)
    # the mlip models: mlip's own Config defaults, but for MACE's node features up to L = 1
    # (mace-torch's default, 128x0e + 128x1o) instead of L = l_max = 3, documented as a CPU choice
    from mlip.models import Mace, Nequip, Visnet

    assert architecture("mace").node_symmetry == 1
    for name, cls in [("mace", Mace), ("nequip", Nequip), ("visnet", Visnet)]:
        default = cls.Config()
        ours = architecture(name).mlip_config()
        ours.pop("node_symmetry", None)
        for key, value in ours.items():
            assert value == (tuple(getattr(default, key)) if isinstance(value, tuple)
                             else getattr(default, key)), (name, key)


def test_bad_hyperparameters_raise_value_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        architecture("visnet", num_channels=10, num_heads=4)
    with pytest.raises(ValueError, match="no hyperparameter"):
        architecture("schnet", l_max=2)
    with pytest.raises(ValueError, match="nequip"):
        mlip_network("nequip", 2, CUTOFF, config={"target_irreps": "4x1o + 8x0e"})
