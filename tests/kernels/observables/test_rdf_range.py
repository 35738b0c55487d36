"""g(r) past half the box: every estimator and consumer refuses r_max > L/2 (issue: an ideal
gas in a box of side 5 gave g = 0.72, 0.30, 0.055 beyond r = 2.5 with r_max = 4, where the
answer is 1)."""

import jax
import numpy as np
import pytest
from jax_md import space

from kernels.observables.rdf import rdf_histogram, rdf_smooth
from workbench import analysis
from workbench.targets import TargetRDF

L = 5.0


def _gas(n=400, seed=0):
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, 3), minval=0.0, maxval=L)


@pytest.mark.parametrize("estimator", [rdf_histogram, rdf_smooth])
def test_kernel_estimators_refuse_r_max_past_half_the_box(estimator):
    disp, _ = space.periodic(L)
    with pytest.raises(ValueError, match=r"r_max = 4 exceeds half"):
        estimator(disp, _gas(), L**3, 4.0, 40)
    _, g = estimator(disp, _gas(), L**3, 2.5, 10)  # up to L/2 an ideal gas gives 1
    assert np.mean(np.asarray(g)[2:]) == pytest.approx(1.0, abs=0.05)


def test_non_cubic_box_is_checked_against_its_shortest_side():
    box = np.array([4.0, 6.0, 8.0])
    with pytest.raises(ValueError, match="half the shortest box side"):
        analysis.pair_rdf(np.asarray(_gas()), box, 2.5, 20)
    with pytest.raises(ValueError, match="exceeds"):
        TargetRDF.from_frames(np.asarray(_gas())[None], box, np.zeros(400, int), ["A"],
                              temperature=1.0, r_max=2.5)


def test_a_fit_refuses_an_r_max_past_half_its_box():
    from workbench.fit import PotentialFit, target_from_reference_system

    target = target_from_reference_system(
        "lj_fluid", temperature=1.2, n_steps=200, equilibration=0, stride=50,
        system_kwargs={"n_atoms": 108, "density": 0.7}, r_max=2.5, n_bins=50)
    fit = PotentialFit(target, family="lj", n_atoms=108, r_max=3.0, n_bins=50)  # box 5.36
    with pytest.raises(ValueError, match="r_max = 3 exceeds half the shortest box side"):
        fit.prepare()
