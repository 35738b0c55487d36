"""Where MD Workbench keeps its files on disk.

Data (the run registry) lives in ``$MDWB_HOME``, else ``$XDG_DATA_HOME/md-workbench``, else
``~/.local/share/md-workbench``. The JAX persistent compilation cache lives in ``$MDWB_CACHE``,
else ``$XDG_CACHE_HOME/md-workbench``, else ``~/.cache/md-workbench``. Follows the XDG Base
Directory specification. Folders are created on demand, each time a function is called, so that
changing an environment variable (as the tests do) takes effect at once.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "datasets_dir", "home", "runs_dir"]

APP_NAME = "md-workbench"


def _env_dir(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def home() -> Path:
    """The workbench data folder (created if missing)."""
    path = _env_dir("MDWB_HOME")
    if path is None:
        base = _env_dir("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = base / APP_NAME
    return _ensure(path)


def runs_dir() -> Path:
    """The root of the run registry, ``home() / "runs"`` (created if missing)."""
    return _ensure(home() / "runs")


def datasets_dir() -> Path:
    """Where dashboards keep the datasets they generate or receive, ``home() / "datasets"``
    (created if missing)."""
    return _ensure(home() / "datasets")


def cache_dir() -> Path:
    """The cache folder, used for JAX's persistent compilation cache (created if missing)."""
    path = _env_dir("MDWB_CACHE")
    if path is None:
        base = _env_dir("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = base / APP_NAME
    return _ensure(path)
