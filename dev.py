#!/usr/bin/env python3
"""The README's two quick-start commands, with nothing but Python 3.11+ and pip needed.

    python3 dev.py serve   # create/reuse .venv, install, serve the dashboards (panel serve apps)
    python3 dev.py test    # create/reuse .venv, install with test extras, run every test tier
    python3 dev.py test tests/ui -x   # or pytest with the arguments given

Standard library only, so it runs before anything is installed. The virtual environment is
reused; dependencies are reinstalled only when ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def ensure_venv(extras: str) -> None:
    """Create ``.venv`` if needed and install the project with ``extras`` when out of date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - the script itself may run on an old Python
        sys.exit(f"MD Workbench needs Python 3.11 or newer (this is {sys.version.split()[0]}).")
    if not PY.exists():
        _run([sys.executable, "-m", "venv", VENV])
        _run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    _run([PY, "-m", "pip", "install", "-q", "-e", target], cwd=ROOT)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """Browser tests drive Debian's chromium; install it when missing and we are allowed to."""
    if CHROMIUM.exists() or not shutil.which("apt-get"):
        return
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        print("chromium is not installed and cannot be installed here; ui tests will skip.")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run(sudo + ["apt-get", "update", "-qq"], env=env)
        _run(sudo + ["apt-get", "install", "-y", "-qq", "chromium"], env=env)
    except subprocess.CalledProcessError:
        print("could not install chromium; ui tests will skip.")


def serve(args: list[str]) -> int:
    ensure_venv("")
    os.chdir(ROOT)
    os.execv(BIN / "workbench", [str(BIN / "workbench"), "serve", *args])


def test(args: list[str]) -> int:
    """With ``args``, pytest with them. Without, every tier in two parts: the tests that need no
    browser on one pytest-xdist worker per core (up to 4; whole files per worker, since their
    fixtures are per module), then the browser tests on their own, since several of them measure
    how fast a page keeps up and must not share the cores."""
    ensure_venv("test,reference")
    ensure_chromium()
    os.chdir(ROOT)
    pytest = [str(PY), "-m", "pytest"]
    if args:
        os.execv(PY, [*pytest, *args])
    workers = min(4, os.cpu_count() or 1)
    parallel = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    codes = [subprocess.run([*pytest, *parallel, "-m", "not ui"]).returncode,
             subprocess.run([*pytest, "-m", "ui"]).returncode]
    print(f"tests without a browser: exit {codes[0]}; browser tests: exit {codes[1]}")
    last_failed = ROOT / ".pytest_cache" / "v" / "cache" / "lastfailed"
    if any(codes) and last_failed.exists():  # both parts' failures, where the log ends
        print("failed:", *json.loads(last_failed.read_text()), sep="\n  ")
    return next((c for c in codes if c), 0)


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
