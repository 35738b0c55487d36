"""g(r): ideal-gas and mixture normalisation, numpy agreement, smooth-RDF limit and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from kernels.observables import partial_rdfs, rdf_histogram, rdf_smooth

L = 10.0
V = L**3


def _uniform(seed: int, n: int, frames: int, box: float = L) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, box, (frames, n, 3))


def _shells(r_max: float, n_bins: int) -> np.ndarray:
    e = np.linspace(0.0, r_max, n_bins + 1)
    return 4.0 / 3.0 * np.pi * (e[1:] ** 3 - e[:-1] ** 3)


def _numpy_pair_distances(R: np.ndarray, box: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-image distances of all pairs i < j, by explicit numpy broadcasting."""
    i, j = np.triu_indices(len(R), k=1)
    d = R[i] - R[j]
    d -= box * np.round(d / box)
    return np.linalg.norm(d, axis=-1), i, j


def _perturbed_lattice(seed: int, frames: int, m: int = 6, noise: float = 0.08) -> np.ndarray:
    """Simple-cubic lattice (spacing 1, box m) with Gaussian thermal noise: a structured g(r)."""
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5
    rng = np.random.default_rng(seed)
    return (grid + noise * rng.standard_normal((frames, *grid.shape))) % m


def test_ideal_gas_rdf_is_one():
    # Expected: g(r) = 1 for independent uniform positions (ideal gas). Per-bin tolerance is
    # 5 standard deviations of a Poisson count with the ideal-gas mean n_pairs * V_shell / V.
    n, frames, r_max, n_bins = 1000, 4, L / 2, 50
    disp, _ = space.periodic(L)
    r, g = rdf_histogram(disp, jnp.asarray(_uniform(0, n, frames)), V, r_max, n_bins)
    r, g = np.asarray(r), np.asarray(g)
    expected = frames * n * (n - 1) / 2 / V * _shells(r_max, n_bins)
    sel = r >= 0.5
    assert np.all(np.abs(g[sel] - 1.0) < 5.0 / np.sqrt(expected[sel]))
    assert abs(np.average(g[sel], weights=expected[sel]) - 1.0) < 0.005


def test_rdf_histogram_matches_numpy():
    # Expected: numpy histogram of explicitly computed minimum-image distances, divided by the
    # ideal-gas counts n_pairs * V_shell / V (the definition), frame by frame, then averaged.
    n, frames, box, r_max, n_bins = 60, 3, 4.0, 2.0, 20
    R = _uniform(1, n, frames, box)
    species = np.random.default_rng(2).integers(0, 2, n)
    disp, _ = space.periodic(box)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    for pair in [None, (0, 0), (0, 1), (1, 1)]:
        g_np = []
        for Rf in R:
            d, i, j = _numpy_pair_distances(Rf, box)
            if pair is None:
                keep, n_pairs = np.ones_like(d, bool), n * (n - 1) / 2
            else:
                a, b = pair
                si, sj = species[i], species[j]
                keep = ((si == a) & (sj == b)) | ((si == b) & (sj == a))
                na, nb = np.sum(species == a), np.sum(species == b)
                n_pairs = na * (na - 1) / 2 if a == b else na * nb
            counts, _ = np.histogram(d[keep], edges)
            g_np.append(counts / (n_pairs / box**3 * _shells(r_max, n_bins)))
        kw = {} if pair is None else {"species": jnp.asarray(species), "species_pair": pair}
        _, g = rdf_histogram(disp, jnp.asarray(R), box**3, r_max, n_bins, **kw)
        np.testing.assert_allclose(g, np.mean(g_np, axis=0), rtol=1e-12, atol=1e-12)


def test_partial_rdfs_of_random_mixture_are_one():
    # Expected: every partial g_ab = 1 for a random mixture of ideal-gas particles (5 Poisson
    # standard deviations per bin); and exactly, by pair bookkeeping,
    # N(N-1)/2 g = sum_{a<=b} n_pairs_ab g_ab.
    n, frames, r_max, n_bins = 1000, 3, L / 2, 25
    species = (np.random.default_rng(3).random(n) < 0.4).astype(np.int32)
    disp, _ = space.periodic(L)
    R = jnp.asarray(_uniform(4, n, frames))
    parts = partial_rdfs(disp, R, V, jnp.asarray(species), r_max, n_bins)
    assert set(parts) == {(0, 0), (0, 1), (1, 1)}
    counts = {0: np.sum(species == 0), 1: np.sum(species == 1)}
    n_pairs = {
        (a, b): counts[a] * (counts[a] - 1) / 2 if a == b else counts[a] * counts[b]
        for (a, b) in parts
    }
    r = (np.arange(n_bins) + 0.5) * r_max / n_bins
    sel = r >= 0.5
    total = np.zeros(n_bins)
    for key, g in parts.items():
        g = np.asarray(g)
        expected = frames * n_pairs[key] / V * _shells(r_max, n_bins)
        assert np.all(np.abs(g[sel] - 1.0) < 5.0 / np.sqrt(expected[sel])), key
        total += n_pairs[key] * g
    _, g_all = rdf_histogram(disp, R, V, r_max, n_bins)
    np.testing.assert_allclose(total, n * (n - 1) / 2 * np.asarray(g_all), rtol=1e-12)


def test_rdf_smooth_tends_to_histogram_as_sigma_shrinks():
    # Expected: the smeared histogram converges to the hard one as sigma -> 0 (a pair only
    # differs when it lies within a few sigma of a bin edge), so the L1 gap shrinks with sigma.
    box, r_max, n_bins = 6.0, 3.0, 60
    R = jnp.asarray(_perturbed_lattice(5, frames=2))
    disp, _ = space.periodic(box)
    _, g_hist = rdf_histogram(disp, R, box**3, r_max, n_bins)
    dr = r_max / n_bins
    gaps = []
    for s in [0.3 * dr, 0.03 * dr, 0.003 * dr]:
        _, g_s = rdf_smooth(disp, R, box**3, r_max, n_bins, sigma=s)
        gaps.append(float(jnp.sum(jnp.abs(g_s - g_hist)) / jnp.sum(g_hist)))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 2e-3


def test_rdf_smooth_ideal_gas_matches_histogram():
    # Expected: with the default sigma (one bin width) an ideal gas still gives g = 1 (smearing a
    # flat profile keeps it flat); compared against the histogram from the same positions.
    n, frames, r_max, n_bins = 500, 2, L / 2, 20
    disp, _ = space.periodic(L)
    R = jnp.asarray(_uniform(6, n, frames))
    r, g_s = rdf_smooth(disp, R, V, r_max, n_bins)
    _, g_h = rdf_histogram(disp, R, V, r_max, n_bins)
    sel = (r > 1.0) & (r < r_max - 0.5)  # away from r = 0 and from the r_max edge (spill-over)
    expected = frames * n * (n - 1) / 2 / V * _shells(r_max, n_bins)
    assert np.all(np.abs(np.asarray(g_s)[sel] - 1.0) < 5.0 / np.sqrt(expected[sel]))
    assert abs(float(jnp.mean(g_s[sel] - g_h[sel]))) < 0.02


def test_rdf_smooth_gradient_matches_finite_differences():
    # Expected: jax.grad of a scalar loss of g(r) equals the central finite difference along a
    # random direction (float64; O(h^2) truncation with h = 1e-5).
    box, r_max, n_bins = 3.0, 1.5, 15
    disp, _ = space.periodic(box)
    rng = np.random.default_rng(7)
    R = jnp.asarray(rng.uniform(0.0, box, (16, 3)))
    target = jnp.linspace(0.5, 1.5, n_bins)

    @jax.jit
    def loss(R):
        _, g = rdf_smooth(disp, R, box**3, r_max, n_bins, sigma=0.1)
        return jnp.sum((g - target) ** 2)

    grad = jax.jit(jax.grad(loss))(R)
    assert np.all(np.isfinite(grad))
    v = jnp.asarray(rng.standard_normal(R.shape))
    h = 1e-5
    fd = (loss(R + h * v) - loss(R - h * v)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(grad * v), fd, rtol=1e-6)


def test_rdf_smooth_under_jit_and_vmap():
    # Expected: jit(vmap(per-frame g)) averaged over frames equals the trajectory call, which
    # averages the per-frame pair counts (same normalisation per frame).
    box, r_max, n_bins = 4.0, 2.0, 16
    disp, _ = space.periodic(box)
    R = jnp.asarray(_uniform(8, 40, 3, box))

    @jax.jit
    def per_frame(Rf):
        return rdf_smooth(disp, Rf, box**3, r_max, n_bins)[1]

    g_frames = jax.vmap(per_frame)(R)
    _, g_traj = rdf_smooth(disp, R, box**3, r_max, n_bins)
    assert g_frames.shape == (3, n_bins)
    np.testing.assert_allclose(jnp.mean(g_frames, axis=0), g_traj, rtol=1e-10, atol=1e-12)


def test_rdf_smooth_pairs_equals_all_pairs_and_its_gradient():
    # a neighbour list with cutoff r_max + 6 sigma holds every pair that reaches the grid, so
    # the neighbour-pair g and its gradient equal the all-pairs ones (up to the 6-sigma tail)
    from jax_md import partition

    from kernels.observables.rdf import rdf_smooth_pairs

    n, box, r_max, n_bins, sigma = 300, 8.0, 3.0, 60, 0.08
    R = jnp.asarray(np.random.default_rng(4).uniform(0, box, (n, 3)))
    species = jnp.asarray(np.arange(n) % 2)
    disp, _ = space.periodic(box)
    nbrs = partition.neighbor_list(disp, box, r_max + 6 * sigma, 0.2,
                                   format=partition.OrderedSparse).allocate(R)
    for sp, pair in ((None, None), (species, (0, 1))):
        _, full = rdf_smooth(disp, R, box**3, r_max, n_bins, sigma, sp, pair)
        _, near = rdf_smooth_pairs(disp, R, nbrs.idx, box**3, r_max, n_bins, sigma, sp, pair)
        np.testing.assert_allclose(near, full, rtol=1e-7, atol=1e-9)
    weights = jnp.linspace(0.5, 1.5, n_bins)
    g_full = jax.grad(lambda R: weights @ rdf_smooth(disp, R, box**3, r_max, n_bins, sigma)[1])
    g_near = jax.grad(lambda R: weights @ rdf_smooth_pairs(disp, R, nbrs.idx, box**3, r_max,
                                                           n_bins, sigma)[1])
    full = g_full(R)  # the Gaussian tails past 6 sigma differ: ~1e-8 of the largest component
    np.testing.assert_allclose(g_near(R), full, rtol=1e-6, atol=1e-6 * float(jnp.abs(full).max()))
