"""Fixtures for browser tests: serve Panel apps on a free localhost port in a thread and drive a
headless Chromium (Debian's ``/usr/bin/chromium``, never a Playwright-downloaded build) through
Playwright. Every request the page makes and every console message is recorded, so a test can
assert that nothing left localhost and that the console stayed clean.

Screenshots go to ``test-artifacts/`` (gitignored) at the repository root.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

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


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium) or $MDWB_CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(LOCAL_PREFIXES)]

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.page_errors


@pytest.fixture
def page(browser):
    """A fresh page; ``page.log`` records requests, console messages and page errors."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = context.new_page()
    log = PageLog()
    pg.on("request", lambda r: log.requests.append(r.url))
    pg.on("console", lambda m: log.console.append((m.type, m.text)))
    pg.on("pageerror", lambda e: log.page_errors.append(str(e)))
    pg.log = log
    yield pg
    context.close()


@dataclass
class ServedApp:
    url: str
    port: int
    server: object
    sessions_destroyed: list = field(default_factory=list)


@pytest.fixture
def serve_app():
    """``serve_app(make)`` serves ``make()`` (called once per session) at ``/`` on a free port in a
    server thread and returns a ``ServedApp``; the server is stopped after the test. Sessions are
    reaped half a second after their page closes."""
    import panel as pn

    servers = []

    def serve(make: Callable) -> ServedApp:
        port = free_port()
        app = ServedApp(url=f"http://localhost:{port}/", port=port, server=None)

        def session():
            pn.state.on_session_destroyed(lambda ctx: app.sessions_destroyed.append(ctx.id))
            return make()

        app.server = pn.serve({"/": session}, port=port, address="localhost", threaded=True,
                              show=False, start=True, websocket_origin=[f"localhost:{port}"],
                              check_unused_sessions_milliseconds=200,
                              unused_session_lifetime_milliseconds=500)
        servers.append(app.server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"the Panel server did not start on port {port}")
        return app

    yield serve
    for server in servers:
        server.stop()
        server.join(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> None:
    """Poll a Python-side condition (for server state the page cannot see)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


@pytest.fixture
def threads_before():
    return set(threading.enumerate())
