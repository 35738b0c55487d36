"""Ending a dashboard's work when its browser tab closes.

Bokeh destroys a session only after it has had no connection for ``--unused-session-lifetime``
(15 s by default, checked every 17 s), so a closed tab's simulation ran on for 20-40 s and the
server log filled with "Failed sending message as connection was closed" (issue 17).
:func:`close_with_session` also watches the session's connection count and calls ``close``
within :data:`CHECK_MS` of the last connection closing. Bokeh has no callback for that moment,
hence the watch.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn

__all__ = ["CHECK_MS", "close_with_session"]

CHECK_MS = 250
"""How often a served session's connection count is checked, in ms."""


def close_with_session(close: Callable[[], None]) -> None:
    """Call ``close()`` once when the current server session loses its last browser connection
    (within :data:`CHECK_MS`, once it has had one) or is destroyed, whichever comes first. No
    effect outside a server session (a notebook cell, a script)."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return
    context = doc.session_context
    state = {"connected": False, "closed": False, "watch": None}

    def finish() -> None:
        if state["watch"] is not None:
            state["watch"].stop()
            state["watch"] = None
        if not state["closed"]:
            state["closed"] = True
            close()

    def check() -> None:
        session = getattr(context, "_session", None)
        if session is not None and session.connection_count > 0:
            state["connected"] = True
        elif state["connected"]:
            finish()

    state["watch"] = pn.state.add_periodic_callback(check, period=CHECK_MS)
    pn.state.on_session_destroyed(lambda ctx: finish())
