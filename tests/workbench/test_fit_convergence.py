"""Convergence of a fit's iterates (``workbench.fit.convergence``) on series with known
answers: AR(1) noise, whose statistical inefficiency is ``(1 + phi) / (1 - phi)``; a transient
that decays into it; a drift that never settles; a correlated pair with a known weak
direction."""

import numpy as np
import pytest

from workbench.fit.convergence import assess, converged_start, statistical_inefficiency


def _ar1(n: int, phi: float, rng, scale: float = 1.0) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal(scale=scale / np.sqrt(1 - phi**2))
    for k in range(1, n):
        x[k] = phi * x[k - 1] + rng.normal(scale=scale)
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_statistical_inefficiency_of_ar1_noise(phi):
    # g = (1 + phi) / (1 - phi): 1, 3 and 9. The estimate from 4,000 points scatters by ~10 %
    # at phi 0.8 (measured over seeds 0-19: 8.6 +- 0.8); the bound is 25 %.
    rng = np.random.default_rng(0)
    g = np.mean([statistical_inefficiency(_ar1(4000, phi, rng)) for _ in range(5)])
    assert g == pytest.approx((1 + phi) / (1 - phi), rel=0.25)
    assert statistical_inefficiency(np.ones(50)) == 1.0


def test_the_converged_stretch_starts_after_the_transient():
    # a fit's approach: 60 iterations of exponential decay (from 20 noise widths off, time
    # constant 8), then AR(1) noise; the stretch starts once the decay is below the noise
    rng = np.random.default_rng(1)
    k = np.arange(300)
    x = 20.0 * np.exp(-k / 8.0) + _ar1(300, 0.6, rng, 0.5)
    start = converged_start(x)
    assert 15 <= start <= 60  # 20 e^(-k/8) falls to the noise width (0.6) by k ~ 28
    conv = assess(x[:, None], ["x"])
    assert conv.converged and conv.start == start
    assert abs(conv.mean[0]) < 4 * conv.standard_error[0]


def test_a_drift_is_not_converged():
    # a steady drift of 0.05 per iteration under noise of width 0.5: halves never agree
    rng = np.random.default_rng(2)
    x = 0.05 * np.arange(200) + rng.normal(scale=0.5, size=200)
    assert not assess(x[:, None]).converged
    assert assess(x[:19, None]) is None  # too few iterations to say


def test_standard_error_is_honest_over_seeds():
    # the spread of the mean of 400 AR(1) iterates (phi 0.7) over 200 seeds against the
    # standard error each run reports: their ratio is 1 within the scatter of 200 runs
    # (measured 0.9-1.1 over seeds; the bound is 0.75-1.33)
    rng = np.random.default_rng(3)
    means, errors = [], []
    for _ in range(200):
        conv = assess(_ar1(400, 0.7, rng)[:, None])
        means.append(conv.mean[0])
        errors.append(conv.standard_error[0])
    assert np.std(means) / np.sqrt(np.mean(np.square(errors))) == pytest.approx(1.0, abs=0.33)


def test_the_weak_direction_is_found():
    # iterates of (ln sigma, ln epsilon) with a weak direction (1, -3)/sqrt(10) 30 times wider
    # than the strong one, as a dense LJ liquid gives: the directions come back, best first
    rng = np.random.default_rng(4)
    weak, strong = np.array([1.0, -3.0]) / np.sqrt(10), np.array([3.0, 1.0]) / np.sqrt(10)
    x = (rng.normal(size=(2000, 1)) * 0.03 * weak + rng.normal(size=(2000, 1)) * 0.001 * strong)
    conv = assess(x, ["ln sigma", "ln epsilon"])
    (best, best_se), (worst, worst_se) = conv.directions()
    assert abs(np.dot(list(best.values()), strong)) == pytest.approx(1.0, abs=1e-3)
    assert abs(np.dot(list(worst.values()), weak)) == pytest.approx(1.0, abs=1e-3)
    assert worst_se / best_se == pytest.approx(30.0, rel=0.1)
    assert max(best.values(), key=abs) > 0
