"""The UI layer's imports (DESIGN.md, Layers): ``workbench/ui`` renders workbench values and
workflows with Panel and Bokeh; it imports nothing from ``kernels`` and no private name of
another module."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "workbench" / "ui"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_ui_modules_import_no_kernels_and_no_private_names():
    files = sorted(UI.glob("*.py"))
    assert {"simulate.py", "tune.py", "plots.py", "jobs.py", "backmap.py"} <= {
        f.name for f in files}
    for path in files:
        for module, names in _imports(path):
            assert not module.startswith("kernels"), f"{path.name} imports {module}"
            private = [n for n in names if n.startswith("_") and n != "__future__"]
            assert module == "__future__" or not private, f"{path.name}: {module} {private}"
