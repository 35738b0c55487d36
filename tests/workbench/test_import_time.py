"""``import workbench`` loads none of the heavy libraries (issue 14: it took 6.7 s, 5.9 of them in
jax-md), and leaves ``jax_md.rigid_body`` unloaded until it is used (issue 14: its
module body took 3.6 of the 6.7 s of ``import workbench``), and it still works in full when a
user does use it. In a fresh interpreter, since the test process has imported everything."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys, time
import workbench
import jax_md
assert type(sys.modules["jax_md.rigid_body"]).__name__ == "_Deferred", "loaded at import"
from jax_md import rigid_body
body = rigid_body.RigidBody(center=1.0, orientation=2.0)   # loads it
assert sys.modules["jax_md.rigid_body"] is jax_md.rigid_body
assert type(jax_md.rigid_body).__name__ == "module" and body.center == 1.0
from jax_md.rigid_body import monomer
assert monomer.masses.shape == (1,)
print("ok")
"""


def _passes_in_a_fresh_interpreter(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_import_defers_jax_md_rigid_body_and_it_loads_on_use():
    _passes_in_a_fresh_interpreter(CHECK)


LIGHT = """
import sys
import workbench
import workbench.registry
heavy = [m for m in ("jax_md", "openmm", "rdkit", "tblite", "MDAnalysis", "mlip", "flax",
                     "ase", "panel") if m in sys.modules]
assert not heavy, heavy
from workbench import Simulation, SYSTEMS   # the package's names still load on use
assert "jax_md" in sys.modules and Simulation.__name__ == "Simulation" and "lj_fluid" in SYSTEMS
print("ok")
"""


def test_import_workbench_loads_no_heavy_library_until_used():
    _passes_in_a_fresh_interpreter(LIGHT)
