"""When a fit has converged, what its answer is, and how well the data determine it.

Once DiffSim's optimiser has reached the solution, its iterates keep moving: every iteration's
g(r) carries sampling noise, and each step answers it. The fit's answer is the mean of the
iterates since convergence and its uncertainty the standard error of that mean, with the
iterates' autocorrelation counted by the statistical inefficiency ``g`` (an average of
``n`` correlated iterates is worth ``n / g`` independent ones). The start of the converged
stretch is the one after which the most independent iterates remain, the automated
equilibration detection of Chodera (J. Chem. Theory Comput. 12, 1799, 2016), applied per
parameter (the latest start wins). A stretch is converged when its first and second halves
agree within their errors and it holds enough independent iterates; then the covariance of
the mean says which combinations of parameters one g(r) determines well and which it hardly
determines at all (its eigenvectors: for LJ in a dense liquid, ln epsilon with a little
ln sigma is weakly determined, ~1,000x the variance of the other combination).

The uncertainty is the sampling noise of the fit's own simulations, propagated through the
optimiser; the noise of the target itself is not in it (a target file does not say it).

Written here rather than taken from pymbar (which has ``timeseries.detect_equilibration``):
importing pymbar logs warnings, and its MBAR solvers switch JAX to 64-bit mode for the whole
process, which would change every float32 simulation the workbench runs beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: the fewest iterates of a converged stretch, and the fewest independent ones in it
MIN_ITERATIONS, MIN_INDEPENDENT = 20, 8


def statistical_inefficiency(x: np.ndarray, min_lag: int = 3) -> float:
    """``g >= 1`` of the series ``x [n]``: ``1 + 2 sum_t (1 - t/n) C(t)`` over lags until the
    normalised autocorrelation ``C`` first drops to zero or below (after ``min_lag``), as
    pymbar's ``statistical_inefficiency``. A constant series gives 1."""
    x = np.asarray(x, float)
    n = len(x)
    dx = x - x.mean()
    var = float(np.dot(dx, dx)) / n
    if n < 2 or var <= 0.0:
        return 1.0
    g = 1.0
    for t in range(1, n - 1):
        c = float(np.dot(dx[:-t], dx[t:])) / (n - t) / var
        if c <= 0.0 and t > min_lag:
            break
        g += 2.0 * c * (1.0 - t / n)
    return max(1.0, g)


def converged_start(x: np.ndarray, min_iterations: int = MIN_ITERATIONS) -> int:
    """The first iterate of the converged stretch of ``x [n]`` or ``[n, n_params]``: for each
    parameter the earliest start that leaves nearly the most independent iterates (``(n - t0)
    / g`` within 80 % of its maximum) and follows its first crossing of the mean of its last
    half, then the latest of them. Starts are tried on a grid of at most ~50 points, leaving
    at least ``min_iterations`` iterates."""
    x = np.asarray(x, float).reshape(len(x), -1)
    n = len(x)
    last = max(0, n - min_iterations)
    starts = np.unique(np.linspace(0, last, min(last + 1, 50)).astype(int))
    best = 0
    for column in x.T:
        n_independent = np.array([(n - t0) / statistical_inefficiency(column[t0:])
                                  for t0 in starts])
        # the earliest start within 80 % of the most: n / g is flat near its maximum, and
        # its noise would otherwise move the start late on a chance fluctuation
        start = int(starts[np.argmax(n_independent >= 0.8 * n_independent.max())])
        # and not before the series first crosses the mean of its last half (Fishman's
        # crossing rule): with noisy, correlated iterates n / g can keep the approach in
        crossed = np.flatnonzero(np.sign(column - column[n // 2:].mean())
                                 != np.sign(column[0] - column[n // 2:].mean()))
        start = max(start, min(int(crossed[0]) if len(crossed) else 0, last))
        best = max(best, start)
    return best


@dataclass(frozen=True)
class Convergence:
    """The converged stretch of a fit's iterates (optimiser variables: logarithms of positive
    parameters, so errors of those are relative) and what it says.

    - ``start``, ``n``: its first iterate (0-based) and how many iterates it holds;
    - ``mean [p]``: their mean, the fit's answer; ``standard_error [p]`` of it;
    - ``covariance [p, p]``: of the mean (autocorrelation counted);
    - ``n_independent``: ``n / g`` for the most correlated parameter;
    - ``converged``: enough independent iterates, its two halves agree within 3 combined
      standard errors in every parameter, and it holds at least a third of all iterates (a
      steady drift makes the shortest stretch look best, and a short one cannot show it);
    - ``labels``: the parameters' names.
    """

    start: int
    n: int
    mean: np.ndarray
    standard_error: np.ndarray
    covariance: np.ndarray
    n_independent: float
    converged: bool
    labels: list[str] = field(default_factory=list)

    def directions(self) -> list[tuple[dict[str, float], float]]:
        """The eigen-directions of ``covariance``, best determined first: ``(combination,
        standard error)`` with the combination as ``{label: coefficient}`` (a unit vector, its
        largest coefficient positive)."""
        values, vectors = np.linalg.eigh(self.covariance)
        out = []
        for k in np.argsort(values):
            v = vectors[:, k] * np.sign(vectors[np.argmax(np.abs(vectors[:, k])), k])
            out.append(({label: float(c) for label, c in zip(self.labels, v, strict=True)},
                        float(np.sqrt(max(values[k], 0.0)))))
        return out


def assess(iterates: np.ndarray, labels: list[str] | None = None,
           min_iterations: int = MIN_ITERATIONS,
           min_independent: float = MIN_INDEPENDENT) -> Convergence | None:
    """The converged stretch of ``iterates [n, p]`` (module docstring), or None while there are
    fewer than ``min_iterations``."""
    x = np.asarray(iterates, float).reshape(len(iterates), -1)
    if len(x) < min_iterations:
        return None
    start = converged_start(x, min_iterations)
    tail = x[start:]
    n = len(tail)
    g = max(statistical_inefficiency(c) for c in tail.T)
    covariance = np.atleast_2d(np.cov(tail.T, ddof=1)) * g / n
    se = np.sqrt(np.diag(covariance))
    halves = tail[: n // 2], tail[n // 2:]
    half_se = [np.sqrt(np.var(h, axis=0, ddof=1) * g / len(h)) for h in halves]
    agree = np.all(np.abs(halves[0].mean(0) - halves[1].mean(0))
                   <= 3.0 * np.hypot(*half_se) + 1e-12)
    return Convergence(start=start, n=n, mean=tail.mean(0), standard_error=se,
                       covariance=covariance, n_independent=n / g,
                       converged=bool(agree and n / g >= min_independent
                                      and 3 * n >= len(x)),
                       labels=list(labels or [f"p{k}" for k in range(x.shape[1])]))
