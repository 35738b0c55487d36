"""Precision per job: 64-bit mode is switched on once at start-up (``import workbench``), float32
and float64 jobs then share one process without changing each other, asking for float64 gives
float64 (or an error when 64-bit mode is off), and no product code flips the flag."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_md import space

import workbench as wb
from kernels import diffsim
from kernels import potentials as pot
from kernels.precision import PrecisionError, float_dtype
from workbench.builders import fcc_positions

ROOT = Path(__file__).resolve().parents[2]


def test_import_enables_64_bit_mode_and_float64_needs_it():
    # import workbench (above) turned 64-bit mode on; with it off (a thread-local override, as
    # in a script that uses kernels alone) float64 is refused instead of silently truncated
    assert jax.config.jax_enable_x64
    assert float_dtype("float64") == np.float64 and float_dtype(jnp.float32) == np.float32
    with jax.enable_x64(False):
        with pytest.raises(PrecisionError, match="jax_enable_x64"):
            float_dtype(jnp.float64)
        with pytest.raises(PrecisionError):
            wb.PairCalculator(wb.PairPotential(), dtype=jnp.float64)
        assert float_dtype("float32") == np.float32
    with pytest.raises(ValueError, match="precision"):
        float_dtype("float16")


def test_pair_calculator_float64_forces_match_finite_differences():
    # Expected: the forces are minus the gradient of the calculator's own energy, so central
    # differences of that energy (h = 1e-5 sigma, truncation error ~h^2 |U'''| ~ 1e-9 here)
    # must agree to 1e-6 relative. In float32 the energy of 108 atoms (~ -600 epsilon) is only
    # resolved to ~6e-5, so these differences would be wrong by O(1): the test needs float64.
    # LJ shifted at 2.5 sigma (continuous energy), a thermally perturbed fcc box at rho* 0.8442.
    s = wb.build_system("lj_fluid", n_atoms=108, density=0.8442, r_cutoff=2.5)
    atoms = s.to_ase()
    rng = np.random.default_rng(0)
    atoms.positions = atoms.positions + rng.normal(0.0, 0.05, atoms.positions.shape)
    potential = wb.PairPotential(family="lj", r_cutoff=2.5, mode="shifted")
    atoms.calc = wb.PairCalculator(potential, dtype=jnp.float64)
    forces = atoms.get_forces()
    assert forces.dtype == np.float64
    h = 1e-5
    biggest = np.argsort(-np.linalg.norm(forces, axis=1))[:4]
    for i in biggest:
        for k in range(3):
            displaced = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.calc = atoms.calc
                moved.positions[i, k] += sign * h
                displaced.append(moved.get_potential_energy())
            fd = -(displaced[0] - displaced[1]) / (2 * h)
            assert forces[i, k] == pytest.approx(fd, rel=1e-6, abs=1e-6 * np.abs(forces).max())


def _sim(precision: str) -> wb.Simulation:
    s = wb.build_system("lj_fluid", n_atoms=108, density=0.8442, r_cutoff=2.0, seed=3)
    return wb.Simulation(s, precision=precision, temperature=0.72, n_steps=240, stride=20,
                         frames_per_chunk=2, seed=7)


def _dtypes(sim: wb.Simulation) -> set[str]:
    """Floating dtypes of the simulation's kernel state and recorded frames and thermo."""
    traj = sim.trajectory
    leaves = [x for x in jax.tree_util.tree_leaves(sim._state)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    arrays = [*leaves, traj.positions, traj.velocities, traj.unwrapped, *traj.thermo.values()]
    return {np.dtype(a.dtype).name for a in arrays}


def test_float32_and_float64_simulations_share_a_process():
    # Two dashboard sessions in one server: a float32 and a float64 simulation of the same LJ
    # system run at the same time, each in its own thread. Expected: each computes in its own
    # dtype, and the float32 one gives exactly (bit for bit) what a float32 run made alone
    # gives with the same seed, i.e. the float64 job did not change it.
    assert jax.config.jax_enable_x64
    alone = _sim("float32")
    alone.run(progress=False)
    sims = {"float32": _sim("float32"), "float64": _sim("float64")}
    barrier = threading.Barrier(2)
    started = []

    def go(sim: wb.Simulation) -> None:
        barrier.wait()  # start together
        started.append(sim.precision)
        sim.run(progress=False)

    threads = [threading.Thread(target=go, args=(sim,)) for sim in sims.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(started) == ["float32", "float64"]
    for precision, sim in sims.items():
        assert sim.status == "completed", sim.message
        assert _dtypes(sim) == {precision}
    a, b = alone.trajectory, sims["float32"].trajectory
    np.testing.assert_array_equal(b.positions, a.positions)
    for key in a.thermo:
        np.testing.assert_array_equal(b.thermo[key], a.thermo[key])
    # the float64 run is a real float64 run of the same system: same start, a sound liquid
    c = sims["float64"].trajectory
    assert len(c) == len(a) and np.all(np.isfinite(c.positions))
    assert jax.config.jax_enable_x64  # nobody changed the flag


def test_float32_diffsim_loss_and_gradient_stay_float32():
    # the differentiable-simulation loss of a float32 state, with 64-bit mode on: every output
    # (loss, g(r), gradient, new state) is float32
    n, rho = 108, 0.7
    box = (n / rho) ** (1 / 3)
    disp, shift = space.periodic(box)
    nf, ef = pot.pair_energy_neighbor_list(disp, box, pot.lennard_jones, 2.5)
    init, loss = diffsim.diffsim_loss(ef, shift, disp, nf, box_volume=box**3, r_max=2.5,
                                      n_bins=40, n_steps=10, stride=5, rdf_sigma=0.05)
    R = jnp.asarray(fcc_positions(n, box), jnp.float32)
    params = {"sigma": jnp.float32(1.0), "epsilon": jnp.float32(1.0)}
    state = init(jax.random.PRNGKey(0), R, params, kT=1.2, extra_capacity=8)
    g_target = jnp.ones(40, jnp.float32)
    (value, (new, aux)), grad = jax.value_and_grad(
        lambda p, s: loss(p, s, kT=1.2, g_target=g_target), has_aux=True)(params, state)
    floats = [value, aux["g"], aux["rdf_loss"], aux["temperature"], *grad.values(),
              *[x for x in jax.tree_util.tree_leaves(new)
                if jnp.issubdtype(x.dtype, jnp.floating)]]
    assert {np.dtype(x.dtype).name for x in floats} == {"float32"}


# -- nothing in product code flips the process-wide flag --------------------------------------

#: the one place that sets 64-bit mode: start-up
STARTUP = "workbench/jax_setup.py"
def _flips(source: str) -> list[int]:
    """Lines of calls that set 64-bit mode for the process: ``<...>.config.update(
    "jax_enable_x64", ...)`` and ``enable_x64`` / ``disable_x64`` called other than as the
    context of a ``with`` statement. ``with jax.enable_x64(False):`` is allowed: it is
    thread-local and scoped (``test_the_scoped_context_is_thread_local``)."""
    tree = ast.parse(source)
    scoped = {id(item.context_expr) for node in ast.walk(tree) if isinstance(node, ast.With)
              for item in node.items}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in scoped:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        first = node.args[0] if node.args else None
        if (name == "update" and isinstance(first, ast.Constant)
                and first.value == "jax_enable_x64") or name in ("enable_x64", "disable_x64"):
            lines.append(node.lineno)
    return lines


def _product_files() -> list[str]:
    files = []
    for folder in ("kernels", "workbench", "apps", "benchmarks"):
        files += [p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")]
    return sorted(f for f in files if f != STARTUP)


@pytest.mark.parametrize("path", _product_files())
def test_no_product_code_flips_64_bit_mode(path):
    # Expected: only workbench/jax_setup.py (start-up) sets jax_enable_x64; a flip anywhere
    # else would change the precision of every other session in the process.
    lines = _flips((ROOT / path).read_text(encoding="utf-8"))
    assert not lines, f"{path} changes jax_enable_x64 at line(s) {lines}"


def test_the_flip_detector_finds_flips():
    source = ("import jax\njax.config.update('jax_enable_x64', True)\n"
              "with jax.enable_x64(False):\n    pass\nx = 'jax_enable_x64'\n"
              "ctx = jax.enable_x64(False)\n")
    assert _flips(source) == [2, 6]  # the scoped `with` (line 3) is thread-local
    assert _flips((ROOT / STARTUP).read_text(encoding="utf-8"))  # start-up does set it


def test_the_scoped_context_is_thread_local():
    # what lets a float32 mlip model trace with 64-bit mode off in its own scope
    # (kernels/mlff/mlip_models.py) without changing any other session's precision
    inside, entered, seen = [], threading.Event(), []

    def scoped():
        with jax.enable_x64(False):
            entered.set()
            time.sleep(0.5)
            inside.append(jnp.zeros(1).dtype)

    def other():
        entered.wait(10)
        seen.append((jnp.zeros(1).dtype, jax.config.jax_enable_x64))

    threads = [threading.Thread(target=scoped), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert inside == [jnp.float32] and seen == [(jnp.float64, True)]
