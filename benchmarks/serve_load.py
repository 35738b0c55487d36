"""A class on one server (issue 17): N browser sessions of the Simulate dashboard at once.

For each N (default 1, 4, 8) a fresh ``workbench serve`` is started, N headless Chromium pages
open it at once, and each presses Start on the default 1,000-atom LJ fluid. Reported: page-ready
time (the request to a usable page: the Start button shown), each session's kernel throughput (the
dashboard's own readout, M atom-steps/s), their total against one session's (target: the total
with 8 sessions at least 0.8 of one session's: the cores shared, not lost to overhead), and the
server's memory and threads idle, loaded, running and after the pages closed.

``--soak-minutes M`` instead repeats open, Start, run a few seconds, close for M minutes (the
issue's soak: 10) and prints the server's threads and memory after each cycle; it fails (exit
status 1) unless the threads are back at their idle count after every cycle and memory grew by
less than ``--soak-bound-mb`` over the second half of the soak.

    python benchmarks/serve_load.py [--sessions 1 4 8] [--seconds 20] [--pin]
    python benchmarks/serve_load.py --soak-minutes 10

On this 2-core machine the N Chromium pages (software WebGL) share the server's cores, which a
class's browsers, each on its own computer, do not. ``--pin`` models that: the server runs on
core 0, this script and Chromium on core 1.

No peer serves these dashboards, so the comparison is against one session on the same server,
measured in the same run. The load average is printed with the results.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.checks import load_average  # noqa: E402
from tests.ui.browser import CHROMIUM_ARGS, ServeProcess, chromium_path  # noqa: E402

THROUGHPUT = re.compile(r"([0-9.]+) M atom-steps/s")


class Server(ServeProcess):
    """``workbench serve`` in a subprocess (the same process once ``exec``'d into Panel)."""

    def __init__(self, log: Path, cpus: set[int] | None = None) -> None:
        super().__init__(log, cpus=cpus)
        self.url = f"http://localhost:{self.port}/simulate"

    def log_problems(self) -> list[str]:
        text = self.log.read_text()
        return [p for p in ("Traceback", "Failed sending message", "WebSocketClosedError")
                if p in text]

    def close(self) -> None:
        keep = os.environ.get("SERVE_LOAD_LOGS")  # a folder to keep the server logs in
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / self.log.name).write_text(self.log.read_text())
        super().close()


def open_pages(browser, url: str, n: int) -> tuple[list, list[float]]:
    """N pages requested at once; returns them and each one's seconds to a usable page."""
    pages, ready = [], []
    start = time.monotonic()
    for _ in range(n):
        page = browser.new_context(viewport={"width": 1000, "height": 700}).new_page()
        page.goto(url, wait_until="commit", timeout=300_000)
        pages.append(page)
    for page in pages:
        page.get_by_role("button", name="Start").wait_for(timeout=300_000)
        ready.append(time.monotonic() - start)
    return pages, ready


def throughput(page) -> float:
    """The session's readout (Panel renders in shadow roots: a locator, not ``inner_text``)."""
    readout = page.get_by_text(THROUGHPUT)
    found = THROUGHPUT.findall(readout.first.inner_text()) if readout.count() else []
    return float(found[-1]) if found else float("nan")


def wait_for_threads(server: Server, idle: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        threads = server.status()[1]
        if threads <= idle:
            return threads
        time.sleep(0.25)
    return server.status()[1]


def run_load(browser, n: int, seconds: float, tmp: Path, cpus: set[int] | None) -> dict:
    server = Server(tmp / f"serve_{n}.log", cpus)
    try:
        idle_mb, idle_threads = server.status()
        pages, ready = open_pages(browser, server.url, n)
        loaded_mb, _ = server.status()
        for page in pages:
            page.get_by_role("button", name="Start").click()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and any(math.isnan(throughput(p)) for p in pages):
            time.sleep(0.5)  # until every session reports (compiled and running)
        time.sleep(seconds)
        rates = [throughput(p) for p in pages]
        running_mb, running_threads = server.status()
        for page in pages:
            page.context.close()
        closed_threads = wait_for_threads(server, idle_threads)
        time.sleep(1.0)
        closed_mb, _ = server.status()
        return {"n": n, "ready": ready, "rates": rates, "idle_mb": idle_mb,
                "loaded_mb": loaded_mb, "running_mb": running_mb, "closed_mb": closed_mb,
                "idle_threads": idle_threads, "running_threads": running_threads,
                "closed_threads": closed_threads, "log": server.log_problems()}
    finally:
        server.close()


def soak_cycle(browser, server: Server, idle: int | None) -> int:
    """Open, Start, run 5 s, close; the server's threads once back to ``idle`` (or after 15 s)."""
    pages, _ = open_pages(browser, server.url, 1)
    pages[0].get_by_role("button", name="Start").click()
    time.sleep(5)
    pages[0].context.close()
    if idle is None:  # the first cycle starts JAX's and XLA's thread pools, which stay
        time.sleep(5)
        return server.status()[1]
    return wait_for_threads(server, idle)


def soak(browser, minutes: float, bound_mb: float, tmp: Path) -> int:
    server = Server(tmp / "soak.log")
    try:
        idle = soak_cycle(browser, server, None)
        rows, end, ok = [], time.monotonic() + 60 * minutes, True
        print(f"cycle  seconds  RSS (MB)  threads (idle after the first cycle: {idle})")
        while time.monotonic() < end:
            threads = soak_cycle(browser, server, idle)
            mb = server.status()[0]
            rows.append((mb, threads))
            ok &= threads <= idle
            print(f"{len(rows):5d}  {60 * minutes - (end - time.monotonic()):7.0f}  {mb:8.0f}"
                  f"  {threads:7d}", flush=True)
        half = rows[len(rows) // 2:]
        growth = half[-1][0] - half[0][0] if len(half) > 1 else 0.0
        print(f"memory growth over the second half: {growth:+.0f} MB (bound {bound_mb:.0f} MB);"
              f" threads back to idle after every cycle: {ok}; log: {server.log_problems()}")
        return 0 if ok and growth < bound_mb and "Traceback" not in server.log_problems() else 1
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds every session runs before its throughput is read")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--soak-bound-mb", type=float, default=50.0)
    parser.add_argument("--pin", action="store_true",
                        help="server on core 0, Chromium on core 1 (module docstring)")
    args = parser.parse_args()
    server_cpus = {0} if args.pin else None
    if args.pin:
        os.sched_setaffinity(0, {1})  # this script, and Chromium which it starts
    path = chromium_path()
    if path is None:
        sys.exit("needs Chromium (/usr/bin/chromium)")
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        if args.soak_minutes:
            status = soak(browser, args.soak_minutes, args.soak_bound_mb, Path(tmp))
            print(load_average())
            return status
        results = [run_load(browser, n, args.seconds, Path(tmp), server_cpus)
                   for n in args.sessions]
        browser.close()
    one = next((sum(r["rates"]) for r in results if r["n"] == 1), None)
    where = "server on core 0, Chromium on core 1" if args.pin else "all on every core"
    print(f"Simulate dashboard, 1,000 LJ atoms ({where}); {load_average()}")
    print(" N  ready max/mean (s)  per session (M atom-steps/s)  total  total/one  "
          "RSS idle/loaded/running/closed (MB)  threads idle/running/closed  log")
    status = 0
    for r in results:
        total = sum(r["rates"])
        if total != total or total <= 0:
            print(f"session throughput not read for N = {r['n']}: {r['rates']}")
            status = 1
        ratio = f"{total / one:.2f}" if one else "-"
        print(f"{r['n']:2d}  {max(r['ready']):6.1f} / {sum(r['ready']) / r['n']:5.1f}     "
              f"{' '.join(f'{x:.3f}' for x in r['rates']):28s}  {total:.3f}  {ratio:>9s}  "
              f"{r['idle_mb']:.0f}/{r['loaded_mb']:.0f}/{r['running_mb']:.0f}/"
              f"{r['closed_mb']:.0f}  {r['idle_threads']}/{r['running_threads']}/"
              f"{r['closed_threads']}  {r['log'] or 'clean'}")
    print("target: total with 8 sessions >= 0.80 of one session's")
    return status


if __name__ == "__main__":
    sys.exit(main())
