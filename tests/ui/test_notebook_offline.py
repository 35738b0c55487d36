"""The Simulate dashboard in a notebook in JupyterLab 4, in headless Chromium, offline (issue 17).

With ``import workbench.ui`` before the ``pn.extension()`` most people type (no ``inline=True``),
the dashboard renders and runs with no request leaving 127.0.0.1 (Start used to fetch four
stylesheets from the Panel CDN) and no console error. With ``pn.extension()`` first, BokehJS has
already been asked of the CDN; the importing cell then says so and what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.browser import ARTIFACTS, free_port, wait_for_port
from tests.ui.conftest import logged_page
from workbench.ui.serving import CDN_LOADED

pytestmark = [pytest.mark.ui, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ("from workbench.simulation_setup import SimulationSetup\n"
             "from workbench.ui.simulate import SimulateDashboard\n"
             "SimulateDashboard(SimulationSetup(n_atoms=108, r_cutoff=2.0))")


def _notebook(path: Path, *cells: str) -> None:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                     "execution_count": None} for c in cells],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    root = tmp_path_factory.mktemp("lab")
    _notebook(root / "imported_first.ipynb", "import panel as pn\nimport workbench.ui\n"
              "pn.extension()", DASHBOARD)
    _notebook(root / "extension_first.ipynb", "import panel as pn\npn.extension()",
              "import workbench.ui")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), JUPYTER_CONFIG_DIR=str(root / ".config"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
         "--allow-root", f"--ServerApp.root_dir={root}", "--LabApp.extension_manager=readonly"],
        stdout=open(root / "lab.log", "w"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, timeout=120)
        yield f"http://127.0.0.1:{port}/lab/workspaces"  # one workspace per notebook
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _run_all(page, url: str) -> None:
    page.goto(url, timeout=120_000)
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.wait_for(timeout=120_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)  # kernel ready
    cells.first.click()
    for _ in range(cells.count()):
        page.keyboard.press("Shift+Enter")


def test_dashboard_in_jupyterlab_loads_and_runs_offline(browser, lab):
    page = logged_page(browser)
    try:
        _run_all(page, f"{lab}/first/tree/imported_first.ipynb")
        start = page.locator(".jp-OutputArea").get_by_role("button", name="Start")
        page.screenshot(path=str(ARTIFACTS / "notebook_running.png"))
        start.wait_for(timeout=180_000)
        start.click()
        page.get_by_text("M atom-steps/s").first.wait_for(timeout=180_000)
        page.wait_for_timeout(2000)
        assert page.log.external_requests() == []
        assert page.log.errors() == []
    finally:
        page.context.close()


def test_extension_loaded_from_the_cdn_is_named_with_what_to_do(browser, lab):
    page = logged_page(browser)
    try:
        _run_all(page, f"{lab}/second/tree/extension_first.ipynb")
        page.get_by_text("import workbench.ui before calling pn.extension()").wait_for(
            timeout=180_000)
        assert "pn.extension(inline=True)" in CDN_LOADED
    finally:
        page.context.close()
