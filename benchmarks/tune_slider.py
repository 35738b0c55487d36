"""The Tune dashboard's slider target, measured in a real headless Chromium: with a warm
compilation cache, the time from releasing a slider (a key press on its handle) to the
redrawn g(r) overlay in the browser, 500 LJ particles, the dashboard's default short run
(2 replicas x 140 steps, warm-started). Target: under 1 s on this CPU.

    python benchmarks/tune_slider.py [--moves 6]

The peer is LAMMPS doing the same MD work (2 x 500 atoms x 140 steps of in.lj) in this run: it
says how much of the slider latency is the engine and how much the rest (the g(r), the
transfer, the redraw).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import panel as pn  # noqa: E402

from benchmarks.checks import checked, load_average, machine  # noqa: E402
from benchmarks.peers import lammps_lj_throughput  # noqa: E402
from tests.ui.browser import CHROMIUM_ARGS, chromium_path, free_port  # noqa: E402
from workbench.fit import TuneSession  # noqa: E402
from workbench.ui.tune import TuneDashboard  # noqa: E402

# In the page: note when the simulated g(r)'s data source changes (no polling while it works)
LISTEN_JS = """() => { const m = Bokeh.documents[0].get_model_by_name('g_diffsim');
  if (!m) return false;
  if (!window.__mdwb_g) { window.__mdwb_g = [];
    m.properties.data.change.connect(() => {
      window.__mdwb_g.push([performance.now(), m.data.g.length > 40 ? m.data.g[40] : null]); }); }
  return true; }"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--moves", type=int, default=6)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    boards = []

    def make():
        boards.append(TuneDashboard(TuneSession(), auto_target=True))
        return boards[-1]

    port = free_port()
    server = pn.serve({"/": make}, port=port, address="localhost", threaded=True, show=False,
                      websocket_origin=[f"localhost:{port}"])
    latencies, engine = [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            t0 = time.perf_counter()
            page.goto(f"http://localhost:{port}/")
            while not boards or boards[0].session.preview_result is None or \
                    boards[0].session.busy:
                time.sleep(0.2)
            ready = time.perf_counter() - t0
            session = boards[0].session
            page.wait_for_function(LISTEN_JS, timeout=30_000)
            handle = page.locator(".noUi-handle").first
            handle.focus()
            for i in range(args.moves + 1):
                version = session.version
                t0 = page.evaluate("performance.now()")
                handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                while session.version == version or session.busy:  # this move's preview
                    time.sleep(0.02)
                expected = float(session.snapshot["g_diffsim"][0][40])  # this move's g(r)
                find = ("([t, g]) => (window.__mdwb_g.find(e => e[0] > t && "
                        "Math.abs(e[1] - g) < 1e-4) || [null])[0]")
                deadline = time.perf_counter() + 10
                while (at := page.evaluate(find, [t0, expected])) is None:
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"move {i}: the browser never got g(r) = {expected}")
                    time.sleep(0.1)
                if i:  # the first move warms the page
                    latencies.append((at - t0) / 1e3)
                    engine.append(session.preview_result["seconds"])
            boards[0].close()
            browser.close()
    finally:
        server.stop()
    s = TuneSession()
    atom_steps = s.replicas * s.n_atoms * s.steps_per_iteration
    lammps, _ = lammps_lj_throughput(n_atoms_target=s.n_atoms, n_steps=2000)
    peer = atom_steps / checked("LAMMPS atom-steps/s", lammps)
    median = checked("median slider latency", statistics.median(latencies))
    print(machine())
    print(f"{s.n_atoms} particles, {s.replicas} replicas x {s.steps_per_iteration} steps per "
          f"slider move; page ready (target made, kernels compiled) after {ready:.1f} s")
    print(f"  slider release -> new g(r) data in the browser: median {median:.2f} s, "
          f"max {max(latencies):.2f} s over {len(latencies)} moves   (target < 1 s)")
    print(f"  of which the simulation and g(r) on the server:  median "
          f"{statistics.median(engine):.2f} s")
    print(f"  LAMMPS, the same MD steps: {peer:.3f} s; slider latency / LAMMPS MD = "
          f"{median / peer:.1f}")
    print(f"after the run: {load_average()}")


if __name__ == "__main__":
    main()
