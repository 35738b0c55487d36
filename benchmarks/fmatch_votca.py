"""Force matching against its reference implementation, VOTCA's ``csg_fmatch`` (issue 15, item 9),
on the same frames: an LJ liquid (``workbench.data`` recipe ``lj_liquid``, rho* = 0.8442,
T* = 0.722, cutoff 2.5; one atom per bead, so the exact answer is the LJ pair force
``24 (2 r^-13 - r^-7)``).

Both fit the pair force on ``[r_min, 2.5]`` with a cubic spline of the force, knots every
``--step`` (VOTCA's ``min``/``max``/``step``); ours (``workbench.coarse.ForceMatching``, its
default ``basis="force"``) runs with VOTCA's knot count and with twice as many. For each the
benchmark prints the
wall time (VOTCA: the ``csg_fmatch`` process, reading the trajectory included; ours: ``fit``,
in a process where JAX is loaded, first call, compilation included) and the largest error of
the fitted force against the exact LJ force on ``[1.0, 2.45]`` and on the steep wall
``[0.95, 1.0]``, and ours against VOTCA's table.

VOTCA is a Debian package (``apt install votca``; ``csg_fmatch`` on the PATH); it reads the
frames as a GROMACS ``.trr`` (written with MDAnalysis, reduced units taken as nm and kJ/mol)
with an XML topology. Missing, the benchmark stops: a comparison never runs without its peer.

    python benchmarks/fmatch_votca.py                     # 40 and 400 frames, 108 atoms
    python benchmarks/fmatch_votca.py --frames 100 --atoms 500
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.checks import BenchmarkError, checked, machine  # noqa: E402

R_CUT = 2.5

TOPOLOGY = """<topology>
  <molecules>
    <molecule name="LJ" nmols="{n}" nbeads="1">
      <bead name="A" type="A" mass="1.0" q="0.0"/>
    </molecule>
  </molecules>
</topology>
"""

OPTIONS = """<cg>
  <fmatch>
    <frames_per_block>{block}</frames_per_block>
    <constrainedLS>false</constrainedLS>
  </fmatch>
  <non-bonded>
    <name>A-A</name>
    <type1>A</type1>
    <type2>A</type2>
    <fmatch>
      <min>{r_min}</min>
      <max>{r_max}</max>
      <step>{step}</step>
      <out_step>{out_step}</out_step>
    </fmatch>
  </non-bonded>
</cg>
"""


def lj_force(r: np.ndarray) -> np.ndarray:
    return 24.0 * (2.0 / r**13 - 1.0 / r**7)


def write_trr(path: Path, positions: np.ndarray, forces: np.ndarray, box: np.ndarray) -> None:
    """GROMACS .trr with positions and forces, reduced units written as nm and kJ/mol/nm
    (MDAnalysis converts from Å and kJ/mol/Å, hence the factors of 10)."""
    import MDAnalysis as mda

    n = positions.shape[1]
    u = mda.Universe.empty(n, n_residues=n, atom_resindex=np.arange(n), trajectory=True)
    with mda.Writer(str(path), n) as w:
        for k, (R, F) in enumerate(zip(positions, forces, strict=True)):
            ts = u.trajectory.ts
            ts.positions, ts.dimensions = 10.0 * R, [*(10.0 * box), 90.0, 90.0, 90.0]
            ts.has_forces, ts.forces, ts.time = True, F / 10.0, float(k)
            w.write(u)


def votca(folder: Path, positions, forces, box, r_min: float, step: float
          ) -> tuple[float, np.ndarray, np.ndarray]:
    """``(seconds, r, F)`` of ``csg_fmatch`` on the frames."""
    n_frames, n = positions.shape[:2]
    write_trr(folder / "traj.trr", positions, forces, box)
    (folder / "topol.xml").write_text(TOPOLOGY.format(n=n))
    (folder / "fmatch.xml").write_text(OPTIONS.format(
        block=max(1, n_frames // 4), r_min=r_min, r_max=R_CUT, step=step, out_step=step / 2))
    t0 = time.perf_counter()
    out = subprocess.run(["csg_fmatch", "--top", "topol.xml", "--trj", "traj.trr",
                          "--options", "fmatch.xml", "--no-map"], cwd=folder,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise BenchmarkError(f"csg_fmatch failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    table = np.loadtxt(folder / "A-A.force", comments=["#", "@"], usecols=(0, 1))
    return seconds, table[:, 0], table[:, 1]


def ours(positions, forces, box, r_min: float, n_knots: int):
    """``(seconds, CGPotential)`` of ``ForceMatching.fit`` (compilation included)."""
    from workbench.coarse import ForceMatching

    fm = ForceMatching(r_cutoff=R_CUT, r_min=r_min, n_knots=n_knots, validation_fraction=0.0)
    t0 = time.perf_counter()
    cg = fm.fit(positions, forces, ["A"] * positions.shape[1], box=box)
    return time.perf_counter() - t0, cg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[40, 400])
    ap.add_argument("--atoms", type=int, default=108)
    ap.add_argument("--step", type=float, default=0.02, help="VOTCA's knot spacing (sigma)")
    args = ap.parse_args()
    if shutil.which("csg_fmatch") is None:
        raise BenchmarkError("csg_fmatch (VOTCA) is not on the PATH: apt install votca")
    print(machine())
    import workbench  # noqa: F401  (JAX and its 64-bit mode, loaded before any timing)
    from workbench.data import generate

    wall, inner = np.linspace(0.95, 1.0, 26), np.linspace(1.0, 2.45, 146)
    with tempfile.TemporaryDirectory() as tmp:
        ds = generate("lj_liquid", max(args.frames), Path(tmp) / "lj.npz", seed=0,
                      n_atoms=args.atoms, stride=25)
        box = np.asarray(ds.box, float)
        print(f"LJ liquid, {args.atoms} atoms, box {box[0]:.3f}, frames 25 steps apart")
        print(f"{'frames':>6} {'fit':>24} {'knots':>5} {'seconds':>8} {'max|F-F_LJ|':>12} "
              f"{'wall rel.':>9} {'max|F-F_VOTCA|':>14}")
        for n_frames in args.frames:
            R, F = ds.positions[:n_frames], ds.forces[:n_frames]
            d = R[:, :, None] - R[:, None]
            r = np.linalg.norm(d - box * np.round(d / box), axis=-1)
            r_min = float(np.floor(r[r > 0].min() * 100) / 100)  # below every sampled pair
            n_knots = int(round((R_CUT - r_min) / args.step)) + 1
            folder = Path(tmp) / f"votca-{n_frames}"
            folder.mkdir()
            t_v, r_v, f_v = votca(folder, R, F, box, r_min, args.step)
            f_vi = np.interp(inner, r_v, f_v)
            rows = [("VOTCA csg_fmatch", n_knots, t_v, np.abs(f_vi - lj_force(inner)).max(),
                     np.abs(np.interp(wall, r_v, f_v) / lj_force(wall) - 1).max(), 0.0)]
            for knots in (n_knots, 2 * n_knots - 1):
                t_o, cg = ours(R, F, box, r_min, knots)
                rows.append((f"ours ({knots} knots)", knots, t_o,
                             np.abs(cg.pair_force(inner) - lj_force(inner)).max(),
                             np.abs(cg.pair_force(wall) / lj_force(wall) - 1).max(),
                             np.abs(cg.pair_force(inner) - f_vi).max()))
            for name, knots, seconds, err, wall_err, vs in rows:
                checked(f"{name} time", seconds)
                print(f"{n_frames:>6} {name:>24} {knots:>5} {seconds:>8.2f} {err:>12.4g} "
                      f"{wall_err:>9.2%} {vs:>14.4g}")
            print(f"{'':>6} time ours / VOTCA at VOTCA's knots: {rows[1][2] / t_v:.2f}x")


if __name__ == "__main__":
    main()
