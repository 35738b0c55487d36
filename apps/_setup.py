"""Server-wide setup that ``workbench serve`` passes to ``panel serve --setup``: every session's
resources local, websocket upgrades without an Origin refused (workbench.ui.serving)."""

from workbench.ui.serving import configure_server

configure_server()
