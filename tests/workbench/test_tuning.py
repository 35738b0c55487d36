"""Potential fitting workflow: targets from files and from the workbench's own simulations,
DiffSim and IBI fits (the issue's validation targets), history, cancellation, failure
recovery, saving and reloading."""

import jax
import numpy as np
import pytest

from workbench.fit import (
    PotentialFit,
    load_fitted_params,
    target_from_reference_system,
    target_from_run,
    target_from_simulation,
)
from workbench.registry import RunRegistry
from workbench.targets import TargetRDF

STATE = {"n_atoms": 108, "density": 0.7}  # the state point: rho* = 0.7, T* = 1.2
T_STAR = 1.2
RDF = {"r_max": 2.5, "n_bins": 100, "rdf_sigma": 0.025}


def _reference_target(n_steps: int, seed: int = 0) -> TargetRDF:
    """g(r) of the workbench's own LJ simulation (sigma = epsilon = 1, cutoff 2.5)."""
    return target_from_reference_system(
        "lj_fluid", temperature=T_STAR, n_steps=n_steps, equilibration=2000, stride=50,
        seed=seed, system_kwargs=STATE, **RDF)


@pytest.fixture(scope="module")
def quick_target():
    return _reference_target(4000)


@pytest.fixture(scope="module")
def precise_target():
    # 60,000 steps: IBI's validation ends at integral |dg| 0.009-0.013 from it (seeds 0-3,
    # 0.011 +- 0.002), where its bound is 0.02
    return _reference_target(60_000)


def _quick_fit(target, **kw):
    settings = {"n_atoms": 108, "equilibration": 500, "steps_per_iteration": 120,
                "window": 60, "stride": 20, "precision": "float64"}
    return PotentialFit(target, family="lj", initial_params={"sigma": 0.95, "epsilon": 1.05},
                        **{**settings, **kw})


# --- targets -------------------------------------------------------------------------------

def test_a_histogram_target_is_compared_with_the_fit_smeared_as_its_g(tmp_path):
    """A target without smearing (a histogram, as other codes write) goes on the fit's grid
    smeared by the fit's width, so it is what the fit's smooth g measures on the same frames:
    within 0.02 of ``rdf_smooth`` from a fine histogram (measured 0.003-0.008 over seeds 0-3),
    within 0.05 from one on the fit's own bins (0.022-0.030 over seeds 0-2: a bin is counted
    as a Gaussian of its variance), where plain interpolation is off by 0.18-1.07 at the
    first peak (g = 2.9). The histograms run past r_max + 6 sigma, as a target should: the
    Gaussian tails reach there."""
    import jax.numpy as jnp
    from jax_md import space

    from kernels.observables.rdf import rdf_histogram, rdf_smooth
    from workbench.data import generate

    ds = generate("lj_liquid", 10, tmp_path / "lj.npz", seed=0, n_atoms=108, stride=25)
    box = jnp.asarray(ds.box)
    disp, _ = space.periodic(box)
    R, volume = jnp.asarray(ds.positions), float(jnp.prod(box))
    _, g_smooth = rdf_smooth(disp, R, volume, 2.0, 80, 0.025)
    for n_bins, tolerance in ((480, 0.02), (96, 0.05)):  # bins of 0.005 and of 0.025
        r, g = rdf_histogram(disp, R, volume, 2.4, n_bins)
        histogram = TargetRDF(r=np.asarray(r), g=np.asarray(g), density=0.8442,
                              temperature=0.722)
        assert np.abs(histogram.on_grid(2.0, 80, 0.025) - g_smooth).max() < tolerance
        assert np.abs(histogram.on_grid(2.0, 80) - g_smooth).max() > 0.15
    made_smooth = TargetRDF(r=histogram.r, g=histogram.g, density=0.8442, temperature=0.722,
                            rdf_sigma=0.025)  # as smooth as the fit, on its bins: unchanged
    assert np.array_equal(made_smooth.on_grid(2.0, 80, 0.025), made_smooth.on_grid(2.0, 80))


def test_target_files_round_trip(tmp_path, quick_target):
    path = quick_target.save(tmp_path / "target.npz")
    again = TargetRDF.from_file(path)
    np.testing.assert_array_equal(again.g, quick_target.g)
    assert again.density == pytest.approx(0.7) and again.temperature == pytest.approx(1.2)
    csv = tmp_path / "g.csv"
    csv.write_text("# from a paper\nr,g\n" + "\n".join(
        f"{r},{g}" for r, g in zip(quick_target.r, quick_target.g, strict=True)))
    from_csv = TargetRDF.from_file(csv, density=0.7, temperature=1.2)
    np.testing.assert_allclose(from_csv.g, quick_target.g, rtol=1e-12)
    assert from_csv.source == str(csv)


def test_target_from_a_stored_run_equals_the_simulations_own():
    from workbench.builders import build_system
    from workbench.simulation import Simulation

    sim = Simulation(build_system("lj_fluid", **STATE), temperature=T_STAR, n_steps=400,
                     stride=50, seed=3)
    direct = target_from_simulation(sim, equilibration=100, **RDF)
    run = sim.save(RunRegistry())
    stored = target_from_run(RunRegistry().get(run.id), equilibration=100, **RDF)
    np.testing.assert_allclose(stored.g, direct.g, rtol=1e-5, atol=1e-6)  # float32 frames
    assert stored.density == pytest.approx(0.7) and stored.temperature == T_STAR
    assert run.id in stored.source
    with pytest.raises(ValueError, match="needs a simulation"):
        target_from_run(RunRegistry().create("fit", {}))


@pytest.mark.parametrize("name, content, match", [
    ("letters.csv", "r,g\n0.1,0.0\n0.2,abc\n", "line 3"),
    ("ragged.csv", "0.1,0.0\n0.2,0.1,0.3\n", "same number"),
    ("one_column.csv", "0.1\n0.2\n0.3\n", "columns"),
    ("empty.csv", "# nothing\n", "no rows"),
    ("decreasing.csv", "0.3,1.0\n0.2,1.0\n0.1,1.0\n", "increasing"),
    ("negative.csv", "0.1,-1.0\n0.2,1.0\n0.3,1.0\n", ">= 0"),
    ("not_zip.npz", "this is not an npz archive", "npz"),
])
def test_malformed_target_file_raises_value_error_naming_it(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        TargetRDF.from_file(path, density=0.7, temperature=1.2)
    assert str(path) in str(info.value)


def test_npz_target_missing_arrays_and_missing_file(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, radius=np.arange(3.0))
    with pytest.raises(ValueError, match=r"missing array.*'g'") as info:
        TargetRDF.from_file(path, density=0.7, temperature=1.2)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="no such file"):
        TargetRDF.from_file(tmp_path / "absent.csv", density=0.7, temperature=1.2)


# --- the workflow --------------------------------------------------------------------------

def test_fit_history_cancel_save_and_reload(quick_target, tmp_path):
    fit = _quick_fit(quick_target, learning_rate=0.02)
    seen = []

    def progress(done, total, f):
        seen.append(done)
        if done == 3:
            f.stop(wait=False)  # cancel from the callback: takes effect between iterations

    fit.fit(10, progress=progress)
    assert fit.status == "stopped" and fit.iteration == 3 and seen == [1, 2, 3]
    assert (fit.done, fit.total, fit.unit) == (3, 10, "iteration")  # the job contract
    assert len(fit.history["loss"]) == len(fit.history["params"]) == 3
    assert all(t > 0 for t in fit.history["wall_time"])
    # Adam moves each parameter by about the learning rate (in log units) per iteration
    first, last = fit.history["params"][0], fit.params
    assert 0.0 < abs(np.log(last["sigma"] / first["sigma"])) < 0.1
    assert np.isfinite(fit.history["loss"]).all()

    registry = RunRegistry(tmp_path / "runs")
    saved = fit.save(registry)
    assert saved.kind == "fit" and saved.status == "stopped"
    params = load_fitted_params(registry.get(saved.id))
    for k in ("sigma", "epsilon"):
        assert params[k] == pytest.approx(float(fit.params[k]), rel=1e-12)
    # the fitted potential, reloaded from its run, gives the same g(r): the evaluation starts
    # from the same lattice and seed, so the trajectory is the same (float64, same program)
    again = PotentialFit.from_run(registry.get(saved.id))
    r, g = again.evaluate(params)
    arrays = saved.load_arrays("fit")
    np.testing.assert_allclose(r, arrays["r_0"])
    np.testing.assert_allclose(g, arrays["g_final_0"], rtol=1e-10, atol=1e-12)

    fit.start(2)  # a background fit continues from iteration 3
    assert fit.wait(120) and fit.status == "completed" and fit.iteration == 5
    assert fit.message == "completed 5 iterations" and len(fit.history["loss"]) == 5


def test_a_converged_fit_stops_by_itself_and_saves_its_uncertainty(quick_target, tmp_path):
    # Gauss-Newton by default; with a 5 % tolerance the fit stops once converged (measured:
    # after 34 iterations here), averages the converged stretch and saves its standard errors
    fit = _quick_fit(quick_target, tolerance=0.05)
    assert fit.gauss_newton and fit.optimizer == "auto"
    fit.fit(80)
    assert fit.status == "completed" and fit.message.startswith("converged after")
    assert 20 <= fit.iteration < 80
    conv, errors = fit.convergence(), fit.uncertainty()
    assert conv.converged and sorted(conv.labels) == ["ln epsilon", "ln sigma"]
    assert errors["sigma"] < errors["epsilon"] < 0.05 * 1.2  # relative to epsilon's value
    assert fit.fitted_params()["sigma"] == pytest.approx(
        np.exp(conv.mean[conv.labels.index("ln sigma")]), rel=1e-6)
    run = fit.save(RunRegistry(tmp_path / "runs"))
    assert run.metrics["uncertainty"]["sigma"] == pytest.approx(float(errors["sigma"]))
    assert run.metrics["converged_iterations"] == [conv.start + 1, conv.start + conv.n]


def test_exploding_simulation_stops_and_restores_last_good_parameters(quick_target):
    # a learning rate of 4 in log units: Adam's first step multiplies sigma by e^(+-4); the
    # next simulation blows up (or the NaN check fires) and the fit must stop cleanly
    fit = _quick_fit(quick_target, optimizer="adam", learning_rate=4.0)
    fit.fit(5)
    assert fit.status == "failed"
    assert "restored the last good parameters" in fit.message
    assert fit.iteration == 1
    good = fit.history["params"][-1]
    assert fit.params["sigma"] == pytest.approx(float(good["sigma"]))
    assert fit.params["epsilon"] == pytest.approx(float(good["epsilon"]))


@pytest.mark.parametrize("family, kw", [("spline", {"n_knots": 24}),
                                        ("neural", {"neural_hidden": [8]})])
def test_learned_families_take_a_step(quick_target, family, kw):
    # spline (knots initialised from the potential of mean force) and neural pair potentials
    # go through the same loss; one Adam step changes their parameters and keeps them finite
    fit = PotentialFit(quick_target, family=family, n_atoms=108, equilibration=0,
                       steps_per_iteration=40, window=40, stride=20, **kw)
    before = fit.params
    record = fit.step()
    assert record is not None and np.isfinite(record["loss"])
    moved = [float(np.max(np.abs(a - b))) for a, b in zip(
        jax.tree_util.tree_leaves(fit.params), jax.tree_util.tree_leaves(before), strict=True)]
    assert 0 < max(moved) < 0.1  # Adam's first step is about the learning rate (0.01)


def test_binary_mixture_two_state_points_and_replicas_take_a_step():
    # partial g_11, g_12, g_22 of a Kob-Andersen-like mixture; the same g is given at two
    # temperatures (a mechanics check: two boxes, summed losses) with two replicas each
    target = target_from_reference_system(
        "binary_lj", temperature=1.0, n_steps=1000, equilibration=500, stride=50,
        system_kwargs={"n_atoms": 108, "density": 1.0, "r_cutoff": 2.0}, r_max=2.0, n_bins=40)
    assert target.g.shape == (3, 40) and target.species_pairs == [(0, 0), (0, 1), (1, 1)]
    hot = TargetRDF(**{**target.param.values(), "temperature": 1.5, "name": "hot"})
    start = {"sigma": [[1.0, 0.8], [0.8, 0.88]], "epsilon": [[1.0, 1.5], [1.5, 0.5]]}
    fit = PotentialFit([target, hot], family="lj", initial_params=start, n_atoms=108,
                       r_cutoff=2.0, replicas=2, equilibration=100, steps_per_iteration=40,
                       window=40, stride=20, n_bins=40)
    record = fit.step()
    assert record is not None and np.isfinite(record["loss"])
    sigma = fit.params["sigma"]
    assert sigma.shape == (2, 2) and sigma[0, 1] == sigma[1, 0]  # species matrices stay symmetric
    assert not np.allclose(sigma, start["sigma"])
    assert len(fit.last_rdf) == 2 and fit.last_rdf[0].shape == (3, 40)
    labels, values = fit._map.vector(fit.params)  # what convergence is judged on
    assert labels[:3] == ["ln sigma[A-A]", "ln sigma[A-B]", "ln sigma[B-B]"]
    assert len(labels) == 6 and np.exp(values[1]) == pytest.approx(fit.params["sigma"][0, 1])


def test_a_neural_fit_at_its_defaults_fits_in_memory(quick_target):
    # issue 11: the network on every pair with full backpropagation asked for 30-37 GB (the
    # machine has 24 GB). At the defaults (256 atoms, 240 steps an iteration, truncated
    # backpropagation over windows of 120, the network tabulated at 256 knots), XLA's memory
    # analysis of one gradient step gives 1.68 GB of temporaries (jax 0.10, CPU); bound 2 GiB.
    fit = PotentialFit(quick_target, family="neural", equilibration=100)
    fit.prepare()
    pt = fit._points[0]
    compiled = pt.value_and_grad.lower(fit._theta, pt.state, pt.kT, pt.g_target).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 2 * 2**30


@pytest.mark.slow
def test_a_neural_fit_lowers_the_loss(quick_target):
    # from random weights (and the r^-12 prior) at the default learning rate, 20 iterations
    # of a small box take the loss down: the mean of the last four over the first four was
    # 0.09, 0.41, 0.15, 0.15 over seeds 0-3 (one iteration's loss scatters by ~10 %); bound 0.6
    fit = PotentialFit(quick_target, family="neural", n_atoms=108, equilibration=200,
                       steps_per_iteration=120, window=120, stride=10, seed=0)
    fit.fit(20)
    loss = fit.history["loss"]
    assert fit.status == "completed"
    assert np.mean(loss[-4:]) < 0.6 * np.mean(loss[:4])


# --- the validation targets (slow; DiffSim's: test_diffsim_state_points.py) ------

@pytest.mark.slow
def test_ibi_reaches_integrated_rdf_error_below_0_02(precise_target):
    # Issue 4: IBI on the same target reaches integral |g - g_target| dr < 0.02 (sigma units)
    fit = PotentialFit(precise_target, family="spline", method="ibi", n_atoms=108,
                       equilibration=1000, steps_per_iteration=2000, stride=40,
                       average_last=5, eval_iterations=10, seed=1)
    fit.fit(15)
    assert fit.status == "completed"
    _, g = fit.evaluate()
    assert fit.rdf_error(g) < 0.02


def test_default_r_max_follows_a_non_uniform_target_grid(quick_target):
    # an experimental-style grid: fine near the first peak, coarse at the end. Without an r_max
    # the fit compares g(r) up to where the target's last bin ends (its last point plus half
    # the LAST spacing), never past it (issue 11: the first spacing was used and prepare failed)
    r = np.concatenate([np.linspace(0.8, 1.6, 81), np.linspace(1.7, 2.3, 4)])
    g = np.interp(r, quick_target.r, quick_target.g)
    target = TargetRDF(r=r, g=g, density=0.7, temperature=1.2)
    assert target.r_end == pytest.approx(2.3 + 0.5 * 0.2)
    fit = _quick_fit(target)
    fit.prepare()
    assert fit.r_grid[-1] < target.r_end
    assert fit.r_grid[-1] + 0.5 * (fit.r_grid[1] - fit.r_grid[0]) == pytest.approx(target.r_end)


@pytest.mark.parametrize("melt_factor, liquid", [(1.0, False), (2.0, True)])
def test_a_start_melts_the_lattice_at_a_dense_liquid_state(melt_factor, liquid):
    # rho* 0.9, T* 1.0 is liquid for LJ (freezing density ~0.94 at T* 1, Agrawal and Kofke
    # 1995), but an fcc start survives 500 steps there as a superheated crystal (measured: 2 %
    # of atoms more than 0.5 sigma from their site, against 89 % after the hot phase; issue 11
    # saw evaluations stay crystal-like). A liquid is where most atoms have left their sites.
    r = np.linspace(0.01, 2.5, 100)
    flat = TargetRDF(r=r, g=np.ones_like(r), density=0.9, temperature=1.0)
    fit = PotentialFit(flat, family="lj", initial_params={"sigma": 1.0, "epsilon": 1.0},
                       n_atoms=256, equilibration=500, melt_factor=melt_factor)
    fit.prepare()
    pt = fit._points[0]
    d = np.asarray(pt.state.md.position, float) - np.asarray(pt.positions, float)
    side = (256 / 0.9) ** (1 / 3)
    d -= side * np.round(d / side)
    moved = np.mean(np.linalg.norm(d, axis=1) > 0.5)
    assert (moved > 0.5) if liquid else (moved < 0.2)
