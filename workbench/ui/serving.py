"""Serving the dashboards offline and privately, to one person or a class.

Offline in every session. Panel points a component's stylesheets at its CDN unless the
session's document carries the server's own ``dist_url``, which Panel sets only while it renders
the HTML page of that session (``panel.io.server.server_html_page_for_session``). A session Bokeh
creates without a page, because the page's session was reaped as unused while a slow browser
was still loading it (25-66 s for 8 pages on 2 cores; issue 17), or a document in a notebook
never gets it, and its components then ask Panel's CDN for 19-23 stylesheets, which fail
offline. :func:`offline_extension` (called first by every app script, so it covers ``panel serve
apps`` too) and the ``--setup`` script of ``workbench serve`` (:func:`configure_server`, for
every session before any app code runs) pin the local ``dist_url`` on each document as it is
created.

Private. A Bokeh server checks the ``Origin`` of a websocket only when the client sends one,
which browsers always do and scripts need not; :func:`configure_server` refuses websocket
upgrades without it, so only pages served to an allowed origin can drive a session. Binding to
loopback unless asked otherwise is ``workbench serve``'s (``workbench.cli``).

In a notebook. ``pn.extension()`` as most people type it loads BokehJS and Panel from their CDNs,
and offline the dashboards' cells then stay empty with no word in the notebook (issue 17).
Importing ``workbench.ui`` calls :func:`notebook_offline`: from then on Panel's resources are
inline; where the extension had already been loaded from the CDN, the importing cell says so and
what to do (loading it again inline in the same page does not recover BokehJS's failed load).
The dashboards (:class:`LocalViewer`) also point the stylesheets of components made after the
first render at the Jupyter server (Panel inlines only those of the first render), which used to
fetch four stylesheets from the CDN when Start was pressed.

Nothing here is in Panel or Bokeh as a setting (Panel 1.9: ``inline=True`` inlines the page's
scripts but not the stylesheets of components created later), hence this module.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings

import panel as pn
from panel.io.document import create_doc_if_none_exists
from panel.io.resources import LOCAL_DIST

__all__ = ["LocalViewer", "configure_server", "notebook_offline", "offline_extension",
           "pin_local_resources"]

log = logging.getLogger(__name__)


#: where Panel's Jupyter server extension serves Panel's files (``panel.io.notebook``'s own path)
NOTEBOOK_DIST = "/panel-preview/static/extensions/panel/"


def _in_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def pin_local_resources(doc=None) -> None:
    """Make the components of a Panel document (the current one by default) load their
    stylesheets from the server that shows it: the Panel server of a session (as Panel does for
    documents it rendered a page for), or, in a Jupyter kernel, the Jupyter server. No effect
    elsewhere (a document saved to HTML keeps Panel's choice)."""
    doc = doc if doc is not None else pn.state.curdoc
    if doc is None:
        return
    if doc.session_context is not None:
        rel = pn.state.rel_path
        doc.template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST)
    elif _in_kernel():
        doc.template_variables.setdefault("dist_url", NOTEBOOK_DIST)


class LocalViewer(pn.viewable.Viewer):
    """A ``pn.viewable.Viewer`` whose documents, served or in a notebook, load every stylesheet
    locally (:func:`pin_local_resources`), also for components made after the first render
    (Panel inlines only those of the first render in a notebook)."""

    def _create_view(self):
        view = super()._create_view()
        get_root = view.get_root

        def pinned_get_root(doc=None, comm=None, preprocess=True):
            doc = create_doc_if_none_exists(doc)
            pin_local_resources(doc)
            return get_root(doc, comm, preprocess)

        view.get_root = pinned_get_root
        return view


def offline_extension(*extensions: str, **kwargs) -> None:
    """``pn.extension(*extensions, inline=True, **kwargs)`` and :func:`pin_local_resources`:
    call it first in an app script, before any component is made."""
    pn.extension(*extensions, inline=True, **kwargs)
    pin_local_resources()
    _quiet_closed_sockets()


def _refuse_websockets_without_origin() -> None:
    from panel.io.server import WSHandler

    if getattr(WSHandler.prepare, "_workbench", False):
        return
    prepare = WSHandler.prepare

    async def checked_prepare(self):
        if not self.request.headers.get("Origin"):
            log.warning("Refusing a websocket connection from %s without an Origin header",
                        self.request.remote_ip)
            self.set_status(403)
            self.finish()
            return
        await prepare(self)

    checked_prepare._workbench = True
    WSHandler.prepare = checked_prepare


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a closed socket has nothing left to tell


def _dispatch_tornado(conn, events=None, msg=None) -> list:
    """``panel.io.document.dispatch_tornado`` (Panel 1.9) with every write's outcome retrieved,
    and no write started once the socket closes mid-message."""
    from tornado.websocket import WebSocketClosedError, WebSocketHandler

    socket = conn._socket
    ws = getattr(socket, "ws_connection", None)
    if not ws or ws.is_closing():
        return []
    if msg is None:
        if not events:
            return []
        msg = conn.protocol.create("PATCH-DOC", events)
    parts = [(msg.header_json, False), (msg.metadata_json, False), (msg.content_json, False)]
    for buffer in msg._buffers:
        parts += [(json.dumps(buffer.ref), False), (buffer.to_bytes(), True)]
    futures = []
    for payload, binary in parts:
        try:
            future = WebSocketHandler.write_message(socket, payload, binary=binary)
        except WebSocketClosedError:
            break
        future.add_done_callback(_retrieve)
        futures.append(future)
    return futures


def _quiet_closed_sockets() -> None:
    """Panel writes a session's updates straight to its websocket, one ``write_message`` per
    part of a message, and awaits them on a later tick; when the tab closes mid-message, the
    part that finds the socket closed raises at once and the parts already started are never
    awaited, which asyncio logged as "Task exception was never retrieved ...
    WebSocketClosedError" tracebacks (issue 17). Panel's writer is replaced by
    :func:`_dispatch_tornado`."""
    from panel.io import document

    document.dispatch_tornado = _dispatch_tornado


def configure_server() -> None:
    """Server-wide settings of ``workbench serve`` (run by its ``--setup`` script before the
    server starts): inline resources, the local ``dist_url`` pinned on every session's document
    before its app script runs, websocket upgrades refused without an ``Origin``, and writes to
    closed websockets retrieved (no traceback in the log)."""
    pn.config.inline = True
    pn.state.on_session_created(lambda ctx: pin_local_resources(ctx._document))
    _refuse_websockets_without_origin()
    _quiet_closed_sockets()


CDN_LOADED = (
    "Panel's notebook extension was loaded from its CDN (pn.extension() before importing "
    "workbench.ui), which needs the internet: offline, the dashboards below stay empty. Restart "
    "the kernel and import workbench.ui before calling pn.extension(), or call "
    "pn.extension(inline=True).")


def notebook_offline() -> None:
    """In a Jupyter kernel: make Panel load its resources inline from now on (module docstring);
    if its notebook extension was already loaded from the CDN, say so and what to do (a
    ``UserWarning``, shown in the cell as text, which needs no JavaScript). Elsewhere (a server,
    a script) nothing."""
    if not _in_kernel():
        return
    from_cdn = not pn.config.inline
    pn.config.inline = True
    from panel.config import panel_extension

    if from_cdn and panel_extension._loaded:
        warnings.warn(CDN_LOADED, stacklevel=3)
