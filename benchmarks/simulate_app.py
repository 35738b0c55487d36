"""The Simulate dashboard's targets, measured in a real headless Chromium (software WebGL):

1. time from pressing Start to the first new frame drawn, 1,000-atom LJ fluid, warm compilation
   cache (target: under 5 s);
2. viewer updates the browser receives per second while it runs (target: at least 20);
3. the kernel's throughput while watched against the same ``Simulation`` run headless in the same
   process (target: at least 80%).

    python benchmarks/simulate_app.py [--atoms 1000] [--seconds 10] [--pin]

On a 2-core machine Chromium's software WebGL (SwiftShader) competes with the simulation for the
same cores, which a user's browser on their own machine does not. ``--pin`` models that: this
process (server and simulation) runs on core 0 and Chromium on core 1, and the headless
comparison also runs on core 0 alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PIN = "--pin" in sys.argv
if PIN:  # before JAX starts its thread pool
    os.sched_setaffinity(0, {0})

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import panel as pn  # noqa: E402

from benchmarks.checks import checked, load_average, machine  # noqa: E402
from tests.ui.browser import CHROMIUM_ARGS, READY_JS, chromium_path, free_port  # noqa: E402
from workbench.simulation_setup import SimulationSetup  # noqa: E402
from workbench.ui.simulate import SimulateDashboard  # noqa: E402


def headless_throughput(setup: SimulationSetup, seconds: float) -> float:
    sim = setup.build()
    sim.n_steps = 10**9
    sim.start()
    time.sleep(seconds)
    sim.stop()
    return sim.throughput


def _pin_children(cpus: set[int]) -> None:
    """Move every thread of every child process (Playwright's driver and Chromium) to ``cpus``.
    Each thread has its own affinity: pinning a process's main thread leaves the threads it has
    already started (SwiftShader's workers) where they were, which is this process's core."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            for thread in child.threads():
                os.sched_setaffinity(thread.id, cpus)
        except (psutil.Error, OSError):
            pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--atoms", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--pin", action="store_true", help="server on core 0, Chromium on core 1")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    setup = SimulationSetup(n_atoms=args.atoms, n_steps=10**9)
    warm = setup.build()  # fills the persistent compilation cache, as a second visit would
    warm.n_steps = 2 * warm.stride * warm.frames_per_chunk
    warm.run(progress=False)

    boards = []

    def make():
        boards.append(SimulateDashboard(SimulationSetup(n_atoms=args.atoms, n_steps=10**9)))
        return boards[-1]

    port = free_port()
    server = pn.serve({"/": make}, port=port, address="localhost", threaded=True, show=False,
                      websocket_origin=[f"localhost:{port}"])
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            if args.pin:
                _pin_children({1})
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"http://localhost:{port}/")
            page.wait_for_function(READY_JS, timeout=60_000)
            if args.pin:  # the renderer and GPU processes the page started
                _pin_children({1})
            board = boards[0]
            applied = "() => globalThis.__mdwb_molecule_viewer__.viewers[0].applied"
            drawn0 = page.evaluate(applied)
            t0 = time.perf_counter()
            page.get_by_role("button", name="Start").click()
            page.wait_for_function(f"n => ({applied})() > n", arg=drawn0, timeout=60_000,
                                   polling=20)
            first_frame = time.perf_counter() - t0
            time.sleep(1.0)
            n0, t1 = board.player.viewer.frames_received, time.perf_counter()
            time.sleep(args.seconds)
            rate = (board.player.viewer.frames_received - n0) / (time.perf_counter() - t1)
            watched = board.sim.throughput
            board.close()
            browser.close()
    finally:
        server.stop()
    headless = checked("headless throughput", headless_throughput(setup, args.seconds))
    watched, rate = checked("watched throughput", watched), checked("viewer updates/s", rate)
    print(machine())
    print(f"{args.atoms} atoms, stride {setup.stride}, {setup.frames_per_chunk} frames/chunk"
          + (", server on core 0, Chromium on core 1" if args.pin else ", all on all cores"))
    print(f"  Start -> first new frame drawn: {first_frame:.2f} s   (target < 5 s)")
    print(f"  viewer updates received:        {rate:.1f} /s   (target >= 20)")
    print(f"  throughput watched / headless:  {watched / 1e6:.3f} / {headless / 1e6:.3f} "
          f"M atom-steps/s = {watched / headless:.2f}   (target >= 0.80)")
    print(f"after the run: {load_average()}")


if __name__ == "__main__":
    main()
