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

from benchmarks.peers import lammps_lj_throughput  # noqa: E402
from tests.ui.browser import CHROMIUM_ARGS, chromium_path, free_port  # noqa: E402
from workbench.tune_session import TuneSession  # noqa: E402
from workbench.ui.tune import TuneDashboard  # noqa: E402

G_JS = "() => { const m = Bokeh.documents[0].get_model_by_name('g_diffsim'); " \
       "return m ? Array.from(m.data.g).slice(20, 60).join(',') : ''; }"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--moves", type=int, default=6)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    boards = []

    def make():
        boards.append(TuneDashboard(TuneSession()))
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
            while not boards or boards[0].session.preview_result is None:
                time.sleep(0.2)
            ready = time.perf_counter() - t0
            session = boards[0].session
            handle = page.locator(".noUi-handle").first
            handle.focus()
            for i in range(args.moves + 1):
                page.wait_for_function(f"() => ({G_JS})() !== ''", timeout=30_000)
                before = page.evaluate(G_JS)
                t0 = time.perf_counter()
                handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                page.wait_for_function(f"b => ({G_JS})() !== b", arg=before, timeout=60_000,
                                       polling=10)
                if i:  # the first move compiles nothing but warms the page
                    latencies.append(time.perf_counter() - t0)
                    engine.append(session.preview_result["seconds"])
                while session.busy:
                    time.sleep(0.05)
            boards[0].close()
            browser.close()
    finally:
        server.stop()
    s = TuneSession()
    atom_steps = s.replicas * s.n_atoms * s.steps_per_iteration
    lammps, _ = lammps_lj_throughput(n_atoms_target=s.n_atoms, n_steps=2000)
    peer = atom_steps / lammps
    median = statistics.median(latencies)
    print(f"{s.n_atoms} particles, {s.replicas} replicas x {s.steps_per_iteration} steps per "
          f"slider move; page ready (target made, kernels compiled) after {ready:.1f} s")
    print(f"  slider release -> redrawn g(r) in the browser: median {median:.2f} s, "
          f"max {max(latencies):.2f} s over {len(latencies)} moves   (target < 1 s)")
    print(f"  of which the simulation and g(r) on the server:  median "
          f"{statistics.median(engine):.2f} s")
    print(f"  LAMMPS, the same MD steps: {peer:.3f} s; slider latency / LAMMPS MD = "
          f"{median / peer:.1f}")


if __name__ == "__main__":
    main()
