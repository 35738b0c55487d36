"""Serving the dashboards offline and privately, to one person or a class.

Offline in every session. Panel points a component's stylesheets at its CDN unless the
session's document carries the server's own ``dist_url``, which Panel sets only while it renders
the HTML page of that session (``panel.io.server.server_html_page_for_session``). A session Bokeh
creates without a page, because the page's session was reaped as unused while a slow browser
was still loading it (25-66 s for 8 pages on 2 cores; issue 17), or a document in a notebook
never gets it, and its components then ask ``cdn.holoviz.org`` for 19-23 stylesheets, which fail
offline. :func:`offline_extension` (called first by every app script, so it covers ``panel serve
apps`` too) and the ``--setup`` script of ``workbench serve`` (:func:`configure_server`, for
every session before any app code runs) pin the local ``dist_url`` on each document as it is
created.

Private. A Bokeh server checks the ``Origin`` of a websocket only when the client sends one,
which browsers always do and scripts need not; :func:`configure_server` refuses websocket
upgrades without it, so only pages served to an allowed origin can drive a session. Binding to
loopback unless asked otherwise is ``workbench serve``'s (``workbench.cli``).

Nothing here is in Panel or Bokeh as a setting (Panel 1.9: ``inline=True`` inlines the page's
scripts but not the stylesheets of components created later), hence this module.
"""

from __future__ import annotations

import logging

import panel as pn
from panel.io.resources import LOCAL_DIST

__all__ = ["configure_server", "offline_extension", "pin_local_resources"]

log = logging.getLogger(__name__)


def pin_local_resources(doc=None) -> None:
    """Make the components of a served Panel document (the current one by default) load their
    stylesheets from the server, as Panel does for documents it rendered a page for. No effect
    outside a server session."""
    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        return
    rel = pn.state.rel_path
    doc.template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST)


def offline_extension(*extensions: str, **kwargs) -> None:
    """``pn.extension(*extensions, inline=True, **kwargs)`` and :func:`pin_local_resources`:
    call it first in an app script, before any component is made."""
    pn.extension(*extensions, inline=True, **kwargs)
    pin_local_resources()


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


def configure_server() -> None:
    """Server-wide settings of ``workbench serve`` (run by its ``--setup`` script before the
    server starts): inline resources, the local ``dist_url`` pinned on every session's document
    before its app script runs, and websocket upgrades refused without an ``Origin``."""
    pn.config.inline = True
    pn.state.on_session_created(lambda ctx: pin_local_resources(ctx._document))
    _refuse_websockets_without_origin()
