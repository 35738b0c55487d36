"""Where the molecular viewer's JavaScript comes from.

The viewer draws with NGL (A. S. Rose et al., Bioinformatics 34, 3755 (2018)). NGL is not copied
into this repository and never fetched from a CDN: its code is read at run time from an installed
pip package and handed to the browser by the Panel server (or the Jupyter kernel) itself.

Sources, in order of preference:

1. ``$MDWB_NGL_JS``: a path to any NGL build (UMD ``ngl.js`` or an AMD bundle exporting ``NGL``),
   for people who build NGL themselves.
2. ``nglview`` (pip): its notebook-extension bundle ``nglview-js-widgets/index.js`` is an AMD
   module whose public exports include the ``NGL`` namespace (NGL 2.4 in nglview 4.0).
3. ``MDsrv`` (pip): ships a standalone UMD build at ``mdsrv/webapp/js/ngl.js`` (an older NGL).

The browser side (``viewer.js``) evaluates either kind with a small AMD ``define`` shim.
"""

from __future__ import annotations

import functools
import os
import sys
from importlib import metadata
from pathlib import Path

#: (distribution name, path suffixes of the NGL-bearing file inside that distribution)
PACKAGED_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nglview", ("nglview-js-widgets/index.js", "nglview/nbextension/index.js")),
    ("MDsrv", ("mdsrv/webapp/js/ngl.js",)),
)

INSTALL_HINT = (
    "The molecular viewer needs NGL's JavaScript from an installed package: "
    "`pip install nglview` (or set MDWB_NGL_JS to the path of an ngl.js build)."
)


class NGLNotFoundError(RuntimeError):
    """No installed package provides NGL's JavaScript."""


def _jupyter_data_dirs() -> list[Path]:
    dirs = [Path(sys.prefix) / "share" / "jupyter"]
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return dirs
    return dirs + [Path(p) for p in jupyter_path()]


def _from_distribution(dist_name: str, suffixes: tuple[str, ...]) -> Path | None:
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.as_posix().endswith(suffixes):
            path = Path(dist.locate_file(f)).resolve()
            if path.is_file():
                return path
    # installs without a usable RECORD (some conda or editable installs) put nglview's bundle
    # in a Jupyter data folder
    for data_dir in _jupyter_data_dirs():
        for suffix in suffixes:
            candidate = data_dir / "nbextensions" / suffix
            if candidate.is_file():
                return candidate.resolve()
    return None


@functools.cache
def ngl_bundle_path() -> Path:
    """Path of the NGL JavaScript file the viewer sends to the browser.

    Raises ``NGLNotFoundError`` (with the install command) when no source is installed.
    """
    override = os.environ.get("MDWB_NGL_JS")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise NGLNotFoundError(f"MDWB_NGL_JS={override!r} is not a file")
        return path.resolve()
    for dist_name, suffixes in PACKAGED_SOURCES:
        path = _from_distribution(dist_name, suffixes)
        if path is not None:
            return path
    raise NGLNotFoundError(INSTALL_HINT)


@functools.cache
def ngl_bundle_source() -> str:
    """Text of the NGL bundle (1-6 MB), read once per process."""
    return ngl_bundle_path().read_text(encoding="utf-8")
