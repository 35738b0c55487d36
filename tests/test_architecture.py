"""The layer contract of DESIGN.md: imports run downward only (kernels <- workbench values <-
workflows <- workbench.ui <- apps). Checked with import-linter (contracts in pyproject.toml) and,
for the dashboard scripts in apps/ (not a package), by reading their imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_apps_compose_ui_components_only():
    allowed = ("workbench.ui", "panel")
    for app in sorted((ROOT / "apps").glob("*.py")):
        tree = ast.parse(app.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name == "__future__":
                    continue
                assert name.startswith(allowed), f"{app.name} imports {name}: apps compose " \
                    "workbench.ui components (DESIGN.md), they hold no science"
