"""The kernel's energies and forces equal OpenMM's and LAMMPS's on the same configuration
(float64, to 1e-6 relative): LJ and Morse, two species with their own parameter matrices,
truncated and shifted cutoffs. The references are computed in the same test by the engines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

from kernels import potentials as pot
from tests.reference import engines

pytestmark = pytest.mark.physics

BOX, RC, N = 6.0, 2.5, 96
PARAMS = {
    "lj": {"sigma": np.array([[1.0, 0.8], [0.8, 0.88]]),
           "epsilon": np.array([[1.0, 1.5], [1.5, 0.5]])},
    "morse": {"D0": np.array([[1.0, 0.6], [0.6, 2.0]]), "alpha": np.array([[4.0, 3.0], [3.0, 5.0]]),
              "r0": np.array([[1.1, 1.0], [1.0, 0.95]])},
}


def _configuration(seed=0):
    # a liquid-like configuration: a jittered simple cubic lattice, no close contacts
    k = int(round(N ** (1 / 3))) + 1
    grid = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)[:N]
    rng = np.random.default_rng(seed)
    return (grid + 0.5) * BOX / k + rng.normal(0, 0.08, (N, 3)), np.arange(N) % 2


def _kernel_energy_forces(R, species, family, mode):
    disp, _ = space.periodic(BOX)
    nf, ef = pot.pair_energy_neighbor_list(disp, BOX, pot.get_family(family).fn, RC,
                                           species=jnp.asarray(species), mode=mode)
    R = jnp.asarray(R)
    nbrs = nf.allocate(R)
    params = {k: jnp.asarray(v) for k, v in PARAMS[family].items()}
    e, g = jax.value_and_grad(lambda x: ef(x, nbrs, **params))(R)
    return float(e), -np.asarray(g)


@pytest.mark.parametrize("engine", ["openmm", "lammps"])
@pytest.mark.parametrize("mode", ["truncated", "shifted"])
@pytest.mark.parametrize("family", ["lj", "morse"])
def test_energy_and_forces_match_engine(engine, family, mode):
    ok, why = getattr(engines, f"{engine}_available")()
    if not ok:
        pytest.skip(why)
    R, species = _configuration()
    e, f = _kernel_energy_forces(R, species, family, mode)
    e_ref, f_ref = getattr(engines, f"{engine}_pair_energy_forces")(
        R, np.full(3, BOX), species, family, PARAMS[family], RC, mode)
    assert e == pytest.approx(e_ref, rel=1e-6)
    np.testing.assert_allclose(f, f_ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(f_ref)))
