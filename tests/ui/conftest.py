"""Fixtures for browser tests: serve Panel apps on a free localhost port in a thread and drive a
headless Chromium (Debian's ``/usr/bin/chromium``, never a Playwright-downloaded build) through
Playwright. Every request the page makes and every console message is recorded, so a test can
assert that nothing left localhost and that the console stayed clean.

Screenshots go to ``test-artifacts/`` (gitignored) at the repository root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ui.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    LOCAL_PREFIXES,
    chromium_path,
    free_port,
    wait_for_port,
)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker
def pytest_collection_modifyitems(items) -> None:
    """Every test that drives the browser is a ``ui`` test, marked or not: ``dev.py test`` runs
    those alone, after the others, since several measure how fast a page keeps up."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ui)


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


def logged_page(browser):
    """A page in a fresh context; ``page.log`` records requests, console messages and page
    errors. Close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = context.new_page()
    log = PageLog()
    pg.on("request", lambda r: log.requests.append(r.url))
    pg.on("console", lambda m: log.console.append(
        (m.type, f"{m.text} ({m.location.get('url', '')})" if m.type == "error" else m.text)))
    pg.on("pageerror", lambda e: log.page_errors.append(str(e)))
    pg.log = log
    return pg


@pytest.fixture
def page(browser):
    """A fresh page (:func:`logged_page`)."""
    pg = logged_page(browser)
    yield pg
    pg.context.close()


@dataclass
class ServedApp:
    url: str
    port: int
    server: object
    sessions_destroyed: list = field(default_factory=list)


@pytest.fixture
def serve_app():
    """``serve_app(make)`` serves ``make()`` (called once per session) at ``/`` on a free port in a
    server thread and returns a ``ServedApp``; the server is stopped after the test. A session is
    destroyed 3 s after its page closes (Bokeh's default is 15 s; much shorter would also reap a
    session whose page is still loading, and the page would then get a fresh session rendered
    without Panel's local-resource settings, which loads CSS from the CDN)."""
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
                              check_unused_sessions_milliseconds=250,
                              unused_session_lifetime_milliseconds=3000)
        servers.append(app.server)
        wait_for_port(port, timeout=30)
        return app

    yield serve
    for server in servers:
        server.stop()
        server.join(timeout=10)


@pytest.fixture
def serve_boards(serve_app):
    """``serve_boards(factory)`` serves a fresh ``factory()`` dashboard per browser session and
    returns ``(app, boards)``; ``boards`` lists the dashboards made, in order."""

    def serve(factory: Callable):
        boards = []

        def make():
            boards.append(factory())
            return boards[-1]

        return serve_app(make), boards

    return serve
