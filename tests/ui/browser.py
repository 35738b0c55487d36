"""Helpers for browser tests: Chromium flags, localhost checks, ports, polling."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new",
    # software WebGL (SwiftShader): no GPU on CI machines
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    # nothing of Chromium's own may call home
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-extensions",
    "--metrics-recording-only", "--no-pings", "--disable-domain-reliability",
]

LOCAL_PREFIXES = ("http://localhost", "http://127.0.0.1", "ws://localhost", "ws://127.0.0.1",
                  "data:", "blob:", "about:")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("MDWB_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Block until something listens on localhost ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class ServeProcess:
    """``workbench serve`` in a subprocess on a free localhost port, its output in ``log``,
    extra ``options`` passed on, optionally pinned to ``cpus``; ready (listening) once made.
    A context manager that terminates it."""

    def __init__(self, log: Path, *options: str, cpus: set[int] | None = None) -> None:
        self.port, self.log = free_port(), log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", str(self.port),
             "--allow-websocket-origin", f"localhost:{self.port}", *options],
            cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        try:
            wait_for_port(self.port)
        except BaseException:
            self.close()
            raise

    def status(self) -> tuple[float, int]:
        """(resident memory in MB, threads) of the server process."""
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> None:
    """Poll a Python-side condition (for server state the page cannot see)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def session_threads(baseline: set[threading.Thread]) -> set[threading.Thread]:
    """Threads alive now that were not in ``baseline``, leaving out the server event loop's
    worker pools (``asyncio_N``, ``ThreadPoolExecutor-N``), which are shared by all sessions and
    idle between tasks."""
    return {t for t in set(threading.enumerate()) - baseline
            if t.is_alive() and not t.name.startswith(("asyncio_", "ThreadPoolExecutor-"))}


# -- viewer state in the page, and canvas pixels ------------------------------------------

STATS_JS = "() => (globalThis.__mdwb_molecule_viewer__?.viewers ?? []).filter(v => !v.disposed)"
READY_JS = f"""() => {{
    const v = ({STATS_JS})()[0];
    return v && (v.error || (v.ready && v.nAtoms > 0));
}}"""


def wait_js(page, expression: str, what: str, arg=None, timeout_ms: int = 10_000) -> None:
    """``page.wait_for_function`` that, on timeout, says what it waited for and shows the
    viewer's counters and the console."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        stats = page.evaluate(f"() => ({STATS_JS})().map(v => ({{...v, stage: !!v.stage}}))")
        raise AssertionError(f"timed out waiting for {what}; viewers: {stats}; "
                             f"console: {page.log.console[-20:]}") from None


def png_pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def colour_fraction(px: np.ndarray, hex_colour: str, tol: int = 60) -> float:
    """Fraction of pixels whose hue matches ``hex_colour`` (shading scales brightness, so the
    colour is compared after normalising each pixel by its brightest channel)."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    peak = px.max(axis=-1, keepdims=True).clip(min=1)
    norm = px / peak * 255
    close = np.abs(norm - target / target.max() * 255).max(axis=-1) < tol
    return float((close & (peak[..., 0] > 60)).mean())


@contextlib.contextmanager
def server_log_errors():
    """Collect the ERROR records (and any with a traceback) that Panel, Bokeh, Tornado and
    asyncio log in this process while the block runs (the ``panel`` and ``bokeh`` loggers do not
    propagate to the root logger, so pytest's ``caplog`` misses them)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR or record.exc_info:
                records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("panel", "bokeh", "tornado", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
